// Elementwise regression losses: the difference of prediction and target, shaped by a
// pointwise function, then reduced.

/// Mean squared error, `(input - target)²` per element.
///
///     let loss = mseLoss(prediction, target)            // mean over all elements
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    checkRegressionOperands(input, target, op: "mseLoss")
    return (input - target).square().reducedLoss(reduction, op: "mseLoss")
}

/// Mean absolute error, `|input - target|` per element.
///
///     let loss = l1Loss(prediction, target, reduction: .sum)
public func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    checkRegressionOperands(input, target, op: "l1Loss")
    return (input - target).abs().reducedLoss(reduction, op: "l1Loss")
}

/// Smooth L1 loss: `0.5 d² / beta` where `|d| < beta`, else `|d| - 0.5 beta` (d = input - target).
/// With `beta == 0` it is the L1 loss. It equals `huberLoss(delta: beta) / beta`.
///
///     let loss = smoothL1Loss(boxes, targetBoxes, beta: 1)
public func smoothL1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean, beta: Double = 1) -> Tensor {
    checkRegressionOperands(input, target, op: "smoothL1Loss")
    emberPrecondition(beta >= 0, "smoothL1Loss: beta must be non-negative, but got \(beta)")
    if beta == 0 { return l1Loss(input, target, reduction: reduction) }
    let difference = input - target
    let distance = difference.abs()
    let quadratic = difference.square() * (0.5 / beta)
    let linear = distance - 0.5 * beta
    return Tensor.where(distance .< beta, quadratic, linear).reducedLoss(reduction, op: "smoothL1Loss")
}

/// Huber loss: `0.5 d²` where `|d| <= delta`, else `delta (|d| - 0.5 delta)` (d = input - target).
///
///     let loss = huberLoss(prediction, target, delta: 1.5)
public func huberLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean, delta: Double = 1) -> Tensor {
    checkRegressionOperands(input, target, op: "huberLoss")
    emberPrecondition(delta > 0, "huberLoss: delta must be positive, but got \(delta)")
    let difference = input - target
    let distance = difference.abs()
    let quadratic = difference.square() * 0.5
    let linear = (distance - 0.5 * delta) * delta
    return Tensor.where(distance .< delta, quadratic, linear).reducedLoss(reduction, op: "huberLoss")
}

func checkRegressionOperands(_ input: Tensor, _ target: Tensor, op: String) {
    checkFloatingLossInput(input, "input", op: op)
    checkFloatingLossInput(target, "target", op: op)
    checkSameLossShape(input, target, op: op)
}
