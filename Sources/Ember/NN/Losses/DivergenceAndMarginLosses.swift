// The KL divergence and the margin-based losses used for metric learning and ranking.

/// Kullback–Leibler divergence `target · (log target - input)` per element, where `input`
/// holds log-probabilities and `target` probabilities (or log-probabilities when `logTarget`).
/// Zero targets contribute zero (0·log 0 = 0). Use `reduction: .batchMean` for the
/// mathematical KL divergence per sample; `.mean` averages over every element, as PyTorch.
///
///     let loss = klDiv(student.logSoftmax(dim: 1), teacher.softmax(dim: 1), reduction: .batchMean)
public func klDiv(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean, logTarget: Bool = false) -> Tensor {
    let op = "klDiv"
    checkRegressionOperands(input, target, op: op)
    let pointwise: Tensor
    if logTarget {
        pointwise = target.exp() * (target - input)
    } else {
        // xlogy(t, t): log of 1 where t <= 0 keeps the unused branch (and its gradient) finite.
        let positive = target .> 0
        let safeTarget = Tensor.where(positive, target, Tensor.ones([], dtype: target.dtype))
        let entropyTerm = Tensor.where(positive, target * safeTarget.log(), Tensor.zeros([], dtype: target.dtype))
        pointwise = entropyTerm - target * input
    }
    if reduction == .batchMean {
        return input.rank == 0 ? pointwise.sum() : pointwise.sum() / Double(input.shape[0])
    }
    return pointwise.reducedLoss(reduction, op: op)
}

/// Cosine embedding loss: `1 - cos(x1, x2)` where `target` is 1, `max(0, cos(x1, x2) - margin)`
/// where it is -1. Inputs are [N, D] with target [N], or [D] with a 0-d target.
///
///     let loss = cosineEmbeddingLoss(a, b, same, margin: 0.2)
public func cosineEmbeddingLoss(_ input1: Tensor, _ input2: Tensor, _ target: Tensor, margin: Double = 0,
                                reduction: Reduction = .mean) -> Tensor {
    let op = "cosineEmbeddingLoss"
    checkFloatingLossInput(input1, "input1", op: op)
    checkFloatingLossInput(input2, "input2", op: op)
    checkSameLossShape(input1, input2, op: op, names: ("input1", "input2"))
    emberPrecondition(input1.rank == 1 || input1.rank == 2,
                      "\(op): expected 1-D ([D]) or 2-D ([N, D]) inputs, but got shape \(input1.shape)")
    let expectedTarget = input1.rank == 2 ? [input1.shape[0]] : []
    emberPrecondition(target.shape == expectedTarget,
                      "\(op): expected target of shape \(expectedTarget) for inputs of shape \(input1.shape), but got \(target.shape)")
    let featureDim = input1.rank - 1
    // The 1e-12 inside the square root matches PyTorch, keeping zero vectors finite.
    let epsilon = 1e-12
    let dotProduct = (input1 * input2).sum(dim: featureDim)
    let squaredNorm1 = input1.square().sum(dim: featureDim) + epsilon
    let squaredNorm2 = input2.square().sum(dim: featureDim) + epsilon
    let cosine = dotProduct / (squaredNorm1 * squaredNorm2).sqrt()
    let zero = Tensor.zeros([], dtype: cosine.dtype)
    let similar = Tensor.where(target .== 1, 1 - cosine, zero)
    let dissimilar = Tensor.where(target .== -1, (cosine - margin).clamp(min: 0), zero)
    return (similar + dissimilar).reducedLoss(reduction, op: op)
}

/// Margin ranking loss `max(0, -target · (input1 - input2) + margin)`: target 1 asks for
/// input1 to rank higher than input2, -1 for the opposite.
///
///     let loss = marginRankingLoss(scoresA, scoresB, preferA, margin: 0.5)
public func marginRankingLoss(_ input1: Tensor, _ input2: Tensor, _ target: Tensor, margin: Double = 0,
                              reduction: Reduction = .mean) -> Tensor {
    let op = "marginRankingLoss"
    checkFloatingLossInput(input1, "input1", op: op)
    checkFloatingLossInput(input2, "input2", op: op)
    checkSameLossShape(input1, input2, op: op, names: ("input1", "input2"))
    checkSameLossShape(input1, target, op: op, names: ("input1", "target"))
    return (-target * (input1 - input2) + margin).clamp(min: 0).reducedLoss(reduction, op: op)
}
