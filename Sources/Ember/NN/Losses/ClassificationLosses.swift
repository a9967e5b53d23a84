// Classification losses: negative log-likelihood over class indices or class probabilities,
// and the binary cross entropies. The class dimension is 1 (inputs [N, C] or [N, C, d1, ...])
// or 0 for an unbatched [C] input, as in PyTorch.

/// Negative log-likelihood of class indices under log-probabilities `input`.
///
/// `input` is [N, C], [N, C, d1, ...] or [C] (log-probabilities, e.g. from `logSoftmax`);
/// `target` holds integer class indices shaped like `input` without the class dimension.
/// Elements whose target is `ignoreIndex` contribute nothing. With `.mean`, the sum of
/// `-weight[y] * input[y]` is divided by the sum of `weight[y]` over the counted elements
/// (PyTorch's weighted mean), so all-ignored batches give NaN.
///
///     let loss = nllLoss(logits.logSoftmax(dim: 1), labels)
public func nllLoss(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                    reduction: Reduction = .mean) -> Tensor {
    let terms = ClassIndexTerms(logProbabilities: input, target: target, weight: weight,
                                ignoreIndex: ignoreIndex, op: "nllLoss")
    return terms.negativeLogLikelihood(reduction, op: "nllLoss")
}

/// Cross entropy between `logits` and class targets: `logSoftmax` over the class dimension
/// followed by the negative log-likelihood.
///
/// - `target` with an integer dtype holds class indices shaped like `logits` without the
///   class dimension ([N] for [N, C] logits, [N, d1, ...] for [N, C, d1, ...]); `ignoreIndex`
///   and `weight` behave as in `nllLoss`.
/// - `target` with a floating dtype holds class probabilities shaped like `logits`;
///   `.mean` divides by the number of samples (N·d1·…), not by the weights, as PyTorch.
/// - `labelSmoothing` ε in [0, 1] mixes each target with the uniform distribution:
///   `(1 - ε) · target + ε / C`.
///
///     let loss = crossEntropy(logits, labels)                          // [N, C] and [N]
///     let smoothed = crossEntropy(logits, labels, labelSmoothing: 0.1)
public func crossEntropy(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                         reduction: Reduction = .mean, labelSmoothing: Double = 0) -> Tensor {
    let op = "crossEntropy"
    checkFloatingLossInput(logits, "input (logits)", op: op)
    emberPrecondition(logits.rank >= 1, "\(op): expected input of rank 1 ([C]) or more ([N, C, ...]), but got a 0-d tensor")
    emberPrecondition(labelSmoothing >= 0 && labelSmoothing <= 1,
                      "\(op): labelSmoothing must be between 0.0 and 1.0, but got \(labelSmoothing)")
    let classDim = logits.rank == 1 ? 0 : 1
    let classCount = logits.shape[classDim]
    let logProbabilities = logits.logSoftmax(dim: classDim)

    if target.dtype.isFloatingPoint {
        emberPrecondition(target.shape == logits.shape,
                          "\(op): probability targets (a floating-point target) must have the input's shape \(logits.shape), but got \(target.shape); class-index targets must have an integer dtype")
        var probabilities = target
        if labelSmoothing > 0 { probabilities = target * (1 - labelSmoothing) + labelSmoothing / Double(classCount) }
        var product = logProbabilities * probabilities
        if let weight {
            checkClassWeight(weight, classCount: classCount, dtype: logits.dtype, op: op)
            product = product * weight.reshaped(classBroadcastShape(rank: logits.rank, classDim: classDim, classCount: classCount))
        }
        switch reduction {
        case .none: return -product.sum(dim: classDim)
        case .sum: return -product.sum()
        case .mean: return -product.sum() / Double(logits.count / Swift.max(classCount, 1))
        case .batchMean: emberFailure("\(op): reduction .batchMean is only supported by klDiv; use .mean, .sum or .none")
        }
    }

    let terms = ClassIndexTerms(logProbabilities: logProbabilities, target: target, weight: weight,
                                ignoreIndex: ignoreIndex, op: op)
    let likelihoodLoss = terms.negativeLogLikelihood(reduction, op: op)
    if labelSmoothing == 0 { return likelihoodLoss }

    // The smoothing term: -Σ_c weight[c]·logp[c] per element, zero where the target is ignored.
    var weighted = logProbabilities
    if let weight {
        weighted = weighted * weight.reshaped(classBroadcastShape(rank: logits.rank, classDim: classDim, classCount: classCount))
    }
    let smoothing = Tensor.where(terms.counted, -weighted.sum(dim: classDim), Tensor.zeros([], dtype: logits.dtype))
    let reducedSmoothing: Tensor
    switch reduction {
    case .none: reducedSmoothing = smoothing
    case .sum: reducedSmoothing = smoothing.sum()
    case .mean: reducedSmoothing = smoothing.sum() / terms.elementWeight.sum()
    case .batchMean: emberFailure("\(op): reduction .batchMean is only supported by klDiv; use .mean, .sum or .none")
    }
    return likelihoodLoss * (1 - labelSmoothing) + reducedSmoothing * (labelSmoothing / Double(classCount))
}

/// Binary cross entropy of probabilities `input` (in [0, 1]) against `target` of the same
/// shape: `-weight · (t·log x + (1 - t)·log(1 - x))`, each log clamped to ≥ -100 as PyTorch
/// does, so that x = 0 or 1 gives a finite loss.
///
///     let loss = binaryCrossEntropy(probabilities, labels)
public func binaryCrossEntropy(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                               reduction: Reduction = .mean) -> Tensor {
    let op = "binaryCrossEntropy"
    checkRegressionOperands(input, target, op: op)
    let outOfRange = withNoGrad { ((input .< 0) | (input .> 1)).any().item(as: Bool.self) }
    emberPrecondition(!outOfRange, "\(op): all elements of input should be between 0 and 1 (use binaryCrossEntropyWithLogits for logits)")
    let logInput = input.log().clamp(min: -100)
    let logComplement = (-input).log1p().clamp(min: -100)
    var loss = -(target * logInput + (1 - target) * logComplement)
    if let weight { loss = loss * weight }
    return loss.reducedLoss(reduction, op: op)
}

/// Binary cross entropy on logits, `sigmoid` folded into the loss in the stable form
/// `(1 - t)·x + (1 + (posWeight - 1)·t)·softplus(-x)`, times `weight`.
///
/// `posWeight` weighs positive examples per class (it broadcasts against the last
/// dimension); `weight` weighs elements (it broadcasts against `input`).
///
///     let loss = binaryCrossEntropyWithLogits(logits, labels, posWeight: Tensor([3.0] as [Float]))
public func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                         posWeight: Tensor? = nil, reduction: Reduction = .mean) -> Tensor {
    let op = "binaryCrossEntropyWithLogits"
    checkRegressionOperands(input, target, op: op)
    // softplus(-x) = log(1 + e^-x) rather than log1p(exp(-|x|)) + relu(-x): the same value, but
    // the latter's gradient is wrong at x = 0 (abs and relu have zero slope there), and zero
    // logits are common (zero-initialised heads). softplus switches to the identity past 20,
    // where the two differ by less than e^-20.
    let softplusOfNegative = (-input).softplus()
    var loss: Tensor
    if let posWeight {
        let logWeight = (posWeight - 1) * target + 1
        loss = (1 - target) * input + logWeight * softplusOfNegative
    } else {
        loss = (1 - target) * input + softplusOfNegative
    }
    if let weight { loss = loss * weight }
    return loss.reducedLoss(reduction, op: op)
}

// MARK: - Class-index targets

/// The pieces shared by `nllLoss` and `crossEntropy` with class-index targets: the picked
/// log-probability of each element, its weight (zero where ignored) and the counted mask.
struct ClassIndexTerms {
    /// logp[target] per element (arbitrary where ignored).
    let picked: Tensor
    /// weight[target] where counted, 0 where ignored (1 instead of weight[target] without weights).
    let elementWeight: Tensor
    /// True where the target is not `ignoreIndex`.
    let counted: Tensor

    init(logProbabilities input: Tensor, target: Tensor, weight: Tensor?, ignoreIndex: Int, op: String) {
        checkFloatingLossInput(input, "input", op: op)
        emberPrecondition(input.rank >= 1, "\(op): expected input of rank 1 ([C]) or more ([N, C, ...]), but got a 0-d tensor")
        emberPrecondition(target.dtype.isIntegral && target.dtype != .bool,
                          "\(op): expected class-index target with an integer dtype (int64), but got \(target.dtype)")
        let classDim = input.rank == 1 ? 0 : 1
        let classCount = input.shape[classDim]
        var expectedShape = input.shape
        expectedShape.remove(at: classDim)
        emberPrecondition(target.shape == expectedShape,
                          "\(op): expected target of shape \(expectedShape) for input of shape \(input.shape) (the input without its class dimension \(classDim)), but got \(target.shape)")
        let indices = target.to(.int64)
        let counted = indices .!= Int64(ignoreIndex)
        self.counted = counted
        let safeIndices = Tensor.where(counted, indices, Tensor(Int64(0)))
        // A check that stops the program, not a branch of the computation: a trace may read it.
        let outOfRange = Tracing.exemptingValueReads {
            withNoGrad { ((safeIndices .< Int64(0)) | (safeIndices .>= Int64(classCount))).any().item(as: Bool.self) }
        }
        if outOfRange {
            let bad = withNoGrad { Tensor.where(counted, indices, Tensor(Int64(0))).scalars(as: Int.self) }
                .first { $0 < 0 || $0 >= classCount } ?? -1
            emberFailure("\(op): target \(bad) is out of bounds for \(classCount) classes (targets must be in [0, \(classCount - 1)] or equal ignoreIndex \(ignoreIndex))")
        }
        picked = input.gather(dim: classDim, index: safeIndices.unsqueezed(classDim)).squeezed(classDim)
        let countedAsWeight = counted.to(input.dtype)
        if let weight {
            checkClassWeight(weight, classCount: classCount, dtype: input.dtype, op: op)
            let classWeights = weight.gather(dim: 0, index: safeIndices.reshaped([-1])).reshaped(target.shape)
            elementWeight = classWeights * countedAsWeight
        } else {
            elementWeight = countedAsWeight
        }
    }

    func negativeLogLikelihood(_ reduction: Reduction, op: String) -> Tensor {
        // where() rather than a product with the weight: an ignored element may pick -inf.
        let losses = Tensor.where(counted, -picked * elementWeight, Tensor.zeros([], dtype: picked.dtype))
        switch reduction {
        case .none: return losses
        case .sum: return losses.sum()
        case .mean: return losses.sum() / elementWeight.sum()
        case .batchMean: emberFailure("\(op): reduction .batchMean is only supported by klDiv; use .mean, .sum or .none")
        }
    }
}

func checkClassWeight(_ weight: Tensor, classCount: Int, dtype: DType, op: String) {
    emberPrecondition(weight.shape == [classCount],
                      "\(op): expected a class weight of shape [\(classCount)] (one per class), but got \(weight.shape)")
    emberPrecondition(weight.dtype.isFloatingPoint, "\(op): expected a floating-point class weight, but got \(weight.dtype)")
}

/// [1, C, 1, ...]: a per-class vector shaped to broadcast along `classDim`.
func classBroadcastShape(rank: Int, classDim: Int, classCount: Int) -> [Int] {
    var shape = [Int](repeating: 1, count: rank)
    shape[classDim] = classCount
    return shape
}
