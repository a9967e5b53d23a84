import EmberKernels

/// Statistics: mean, variance, std, norm, logsumexp. mean, logsumexp and the p = 2 norm are
/// `ReductionOperation`s (ReductionOperations.swift: forward and backward there, with their own
/// backward rules for stability and to record one node); variance and std are written in Tensor
/// ops, so their gradients (of any order) come from the pieces.
extension Tensor {
    /// Mean over `dims` (all when empty). Integer inputs are an error, as in PyTorch; the mean
    /// of an empty selection is NaN.
    ///
    ///     x.mean(dims: [0, 1], keepDim: true)
    public func mean(dims: [Int], keepDim: Bool = false) -> Tensor { reduce(.mean, dims: dims, keepDim: keepDim) }

    /// Mean over one dimension.
    public func mean(dim: Int, keepDim: Bool = false) -> Tensor { mean(dims: [dim], keepDim: keepDim) }

    /// Mean of all elements, as a 0-d tensor.
    ///
    ///     Tensor([1, 2, 3, 4] as [Float]).mean()   // 2.5
    public func mean() -> Tensor { mean(dims: []) }

    /// Variance over `dims` (all when empty): sum((x - mean)²) / (N - correction). This is
    /// PyTorch's `var` (a Swift keyword); `correction: 1` (the default) is Bessel's correction,
    /// `correction: 0` the population variance. N - correction <= 0 gives inf or NaN, as in PyTorch.
    ///
    ///     x.variance(dims: [1], correction: 0)
    public func variance(dims: [Int] = [], correction: Double = 1, keepDim: Bool = false) -> Tensor {
        requireFloatingPoint("var()")
        let axes = reductionDims(dims, op: "var()")
        // Two passes (center, then square) rather than E[x²] - E[x]², which cancels catastrophically.
        let centered = self - mean(dims: dims, keepDim: true)
        return (centered * centered).sum(dims: dims, keepDim: keepDim) / Swift.max(0, Double(reducedCount(axes)) - correction)
    }

    /// Variance over one dimension.
    public func variance(dim: Int, correction: Double = 1, keepDim: Bool = false) -> Tensor {
        variance(dims: [dim], correction: correction, keepDim: keepDim)
    }

    /// Standard deviation over `dims` (all when empty): the square root of `variance`.
    ///
    ///     x.std(dims: [0], correction: 0)
    public func std(dims: [Int] = [], correction: Double = 1, keepDim: Bool = false) -> Tensor {
        variance(dims: dims, correction: correction, keepDim: keepDim).sqrt()
    }

    /// Standard deviation over one dimension.
    public func std(dim: Int, correction: Double = 1, keepDim: Bool = false) -> Tensor {
        std(dims: [dim], correction: correction, keepDim: keepDim)
    }

    /// The p-norm over `dims` (all when empty): (sum |x|^p)^(1/p) for any p > 0, with p = 2 the
    /// default, p = 1 the sum of magnitudes and p = .infinity the largest magnitude. The p = 2
    /// gradient at a zero vector is 0 (not NaN), as in PyTorch. For 0 < p < 1 the gradient at an
    /// element that is exactly zero is NaN (|x|^(p-1) is infinite there).
    ///
    ///     v.norm()                         // Euclidean length
    ///     m.norm(p: 1, dims: [1])          // L1 norm of each row
    public func norm(p: Double = 2, dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        requireFloatingPoint("norm()")
        emberPrecondition(p > 0, "norm(): p must be positive, got \(p)")
        let axes = reductionDims(dims, op: "norm()")
        if p == 1 { return abs().sum(dims: dims, keepDim: keepDim) }
        if p == .infinity { return abs().amax(dims: dims, keepDim: keepDim) }
        if p != 2 { return abs().pow(p).sum(dims: dims, keepDim: keepDim).pow(1 / p) }
        return reduce(.norm, axes: axes, keepDim: keepDim)
    }

    /// log(sum(exp(x))) over `dims` (all when empty), computed stably: the maximum is subtracted
    /// before exponentiating, so inputs near 1000 do not overflow; a row of -inf gives -inf and
    /// any +inf gives +inf. Integer inputs compute in the default float type.
    ///
    ///     logits.logsumexp(dims: [1])
    public func logsumexp(dims: [Int], keepDim: Bool = false) -> Tensor { reduce(.logsumexp, dims: dims, keepDim: keepDim) }

    /// logsumexp over one dimension.
    public func logsumexp(dim: Int, keepDim: Bool = false) -> Tensor { logsumexp(dims: [dim], keepDim: keepDim) }
}
