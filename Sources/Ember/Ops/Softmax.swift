import EmberKernels

/// softmax and log-softmax along one dimension, each one kernel call forward and one fused
/// backward rule (rather than composing exp, sum and div, which would record four nodes and
/// keep three intermediates alive for backward).
extension Tensor {
    /// exp(x) / sum(exp(x)) along `dim`, computed stably (the maximum is subtracted first), so
    /// inputs of any magnitude work. A slice that is all -inf, or has +inf or NaN, gives NaN.
    ///
    ///     let probabilities = logits.softmax(dim: -1)
    public func softmax(dim: Int) -> Tensor { softmaxFamily(log: false, dim: dim) }

    /// log(softmax(x)) along `dim`, computed as x - max - log(sum(exp(x - max))) so that it
    /// stays finite where softmax underflows to 0.
    ///
    ///     let logProbabilities = logits.logSoftmax(dim: 1)
    public func logSoftmax(dim: Int) -> Tensor { softmaxFamily(log: true, dim: dim) }

    private func softmaxFamily(log: Bool, dim: Int) -> Tensor {
        Dispatch.apply(self, { _ in .softmax(dim: self.normalizedDim(dim, op: log ? "logSoftmax" : "softmax"), log: log) }) {
            let name = log ? "logSoftmax" : "softmax"
            emberPrecondition(dtype.isFloatingPoint, "\(name): not implemented for '\(dtype)' tensors (shape \(shape)); convert with to(.float32) first")
            let axes = reductionDims([dim], op: name)
            let isHalf = dtype == .float16 || dtype == .bfloat16
            let input = isHalf ? withoutGrad { self.to(.float32) } : self
            let layout = ReductionLayout(input, axes: axes)
            // The output is written in the source's memory order and viewed back in the input's order.
            let stored = Tensor(uninitializedShape: layout.order.map { shape[$0] }, dtype: input.dtype)
            if stored.count > 0 {
                ReductionKernel.softmax(log: log, input.dtype, UnsafeRawPointer(layout.source.baseAddress), outer: layout.outer,
                                        n: layout.n, inner: layout.inner, stored.baseAddress)
            }
            var inverse = [Int](repeating: 0, count: rank)
            for (position, axis) in layout.order.enumerated() { inverse[axis] = position }
            var result = stored.view(as: Layout(shape: shape, strides: inverse.map { stored.strides[$0] }, offset: 0))
            if isHalf { result = withoutGrad { result.to(dtype) } }
            return result
        }
    }

    /// Softmax (or log-softmax) along `axis` written into `output` (contiguous, of this shape
    /// and float dtype) when the kernel can write the tensor's own memory order; false, with
    /// nothing written, otherwise. What a compiled plan's planned buffer uses.
    func softmax(log: Bool, axis: Int, into output: Tensor) -> Bool {
        guard dtype == .float32 || dtype == .float64, output.dtype == dtype, output.shape == shape, output.isContiguous else { return false }
        let layout = ReductionLayout(self, axes: rank == 0 ? [] : [axis])
        guard layout.order == Array(0..<rank) else { return false }
        if output.count > 0 {
            ReductionKernel.softmax(log: log, dtype, UnsafeRawPointer(layout.source.baseAddress), outer: layout.outer,
                                    n: layout.n, inner: layout.inner, output.baseAddress)
        }
        return true
    }
}
