import EmberKernels

/// Statistics composed from the primitive reductions: mean, variance, std, norm, logsumexp.
/// mean and variance are written in Tensor ops, so their gradients (of any order) come from
/// sum's; norm (p = 2) and logsumexp have their own forward and backward for stability.
extension Tensor {
    private func requireFloatingPoint(_ op: String) {
        emberPrecondition(dtype.isFloatingPoint, "\(op): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: \(dtype) (shape \(shape))")
    }

    /// Number of elements reduced over `axes`.
    private func reducedCount(_ axes: [Int]) -> Int { axes.reduce(1) { $0 * shape[$1] } }

    /// Mean over `dims` (all when empty). Integer inputs are an error, as in PyTorch; the mean
    /// of an empty selection is NaN.
    ///
    ///     x.mean(dims: [0, 1], keepDim: true)
    public func mean(dims: [Int], keepDim: Bool = false) -> Tensor {
        requireFloatingPoint("mean()")
        let axes = reductionDims(dims, op: "mean()")
        return sum(dims: dims, keepDim: keepDim) / Double(reducedCount(axes))
    }

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
        let result = withoutGrad { reduced(.sumOfSquares, axes: axes, keepDim: keepDim).sqrt() }
        if GraphRecorder.shouldRecord(self) {
            let x = self, inputShape = shape
            GraphRecorder.record("norm", inputs: [x], outputs: [result], saved: [x], savesOutputs: true) { context in
                let g = context.gradOutput.restoringReducedDims(axes, inputShape: inputShape, keepDim: keepDim)
                let y = context.output.restoringReducedDims(axes, inputShape: inputShape, keepDim: keepDim)
                // x / ||x||, and 0 for the zero vector (where every x is 0 anyway).
                let safe = Tensor.where(y .== 0, Tensor(wrapping: 1.0), y)
                return [(g * x / safe).expanded(to: inputShape)]
            }
        }
        return result
    }

    /// log(sum(exp(x))) over `dims` (all when empty), computed stably: the maximum is subtracted
    /// before exponentiating, so inputs near 1000 do not overflow; a row of -inf gives -inf and
    /// any +inf gives +inf. Integer inputs compute in the default float type.
    ///
    ///     logits.logsumexp(dims: [1])
    public func logsumexp(dims: [Int], keepDim: Bool = false) -> Tensor {
        let x = dtype.isIntegral ? withoutGrad { self.to(DType.defaultFloat) } : self
        let axes = reductionDims(dims, op: "logsumexp()")
        let result = withoutGrad {
            // Fast path: reduced axes innermost in memory (the usual logits[..., classes] case)
            // go straight to the fused row kernel, one pass with no temporaries.
            let layout = ReductionLayout(x, axes: axes)
            if layout.inner == 1 && (x.dtype == .float32 || x.dtype == .float64) {
                let output = Tensor(uninitializedShape: reducedShape(axes, keepDim: keepDim), dtype: x.dtype)
                if output.count > 0 {
                    ReductionKernel.logSumExpRows(x.dtype, UnsafeRawPointer(layout.source.baseAddress), rows: layout.outer,
                                                  n: layout.n, output.baseAddress)
                }
                return output
            }
            let maximum = x.reduced(.max, axes: axes, keepDim: true)
            // Infinite maxima (all -inf, or a +inf) would give inf - inf; shift by 0 there instead.
            let shift = Tensor.where(maximum.isFinite(), maximum, Tensor(wrapping: 0.0))
            let total = (x - shift).exp().sum(dims: dims, keepDim: true).log() + shift
            return keepDim ? total : total.reshaped(reducedShape(axes, keepDim: false))
        }
        if GraphRecorder.shouldRecord(x) {
            let inputShape = shape
            GraphRecorder.record("logsumexp", inputs: [x], outputs: [result], saved: [x], savesOutputs: true) { context in
                let g = context.gradOutput.restoringReducedDims(axes, inputShape: inputShape, keepDim: keepDim)
                let y = context.output.restoringReducedDims(axes, inputShape: inputShape, keepDim: keepDim)
                return [g * (x - y).exp()]
            }
        }
        return result
    }

    /// logsumexp over one dimension.
    public func logsumexp(dim: Int, keepDim: Bool = false) -> Tensor { logsumexp(dims: [dim], keepDim: keepDim) }
}
