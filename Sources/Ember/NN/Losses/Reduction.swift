// Losses are free functions named like `torch.nn.functional` (`crossEntropy(logits, targets)`),
// not methods on Tensor nor a `Losses` namespace: a loss reads as a function of two tensors,
// PyTorch users find it under the name they know, and the `Module` wrappers that the nn layer
// adds later (`CrossEntropyLoss`) can hold the options and call these.
//
// Every loss is composed from differentiable Tensor ops, so gradients, second derivatives and
// dtype handling come from those ops; no loss has its own backward rule. A fused
// crossEntropy backward was considered and rejected for now: logSoftmax + gather is already
// a fused, stable pair, and a hand-written rule would need its own double-backward.

/// How a loss turns per-element losses into its result.
///
///     mseLoss(prediction, target, reduction: .sum)
public enum Reduction: Sendable, Equatable, CustomStringConvertible {
    /// No reduction: one loss per element (per sample for the classification losses).
    case none
    /// The mean (class-weighted for `crossEntropy` and `nllLoss`, as PyTorch).
    case mean
    /// The sum.
    case sum
    /// The sum divided by the batch size (the first dimension); `klDiv` only, where it gives
    /// the true KL divergence per sample.
    case batchMean

    public var description: String {
        switch self {
        case .none: return "none"
        case .mean: return "mean"
        case .sum: return "sum"
        case .batchMean: return "batchMean"
        }
    }
}

extension Tensor {
    /// Applies `reduction` to a tensor of per-element losses.
    func reducedLoss(_ reduction: Reduction, op: String) -> Tensor {
        switch reduction {
        case .none: return self
        case .mean: return mean()
        case .sum: return sum()
        case .batchMean:
            emberFailure("\(op): reduction .batchMean is only supported by klDiv; use .mean, .sum or .none")
        }
    }
}

/// Stops unless `tensor` has a floating-point dtype.
func checkFloatingLossInput(_ tensor: Tensor, _ role: String, op: String) {
    emberPrecondition(tensor.dtype.isFloatingPoint,
                      "\(op): expected \(role) to have a floating-point dtype, but got \(tensor.dtype)")
}

/// Stops unless `input` and `target` have the same shape. PyTorch broadcasts them with a
/// warning; Ember refuses, because the usual cause (a [N, 1] prediction against a [N] target)
/// silently computes an N x N loss.
func checkSameLossShape(_ input: Tensor, _ target: Tensor, op: String, names: (String, String) = ("input", "target")) {
    emberPrecondition(input.shape == target.shape,
                      "\(op): expected \(names.0) and \(names.1) to have the same shape, but got \(names.0) \(input.shape) and \(names.1) \(target.shape); reshape one of them (for example with squeezed() or unsqueezed())")
}
