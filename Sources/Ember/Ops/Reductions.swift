/// Reductions. (First version: a simple double-precision loop; the vectorised kernels in
/// EmberKernels replace it.)
extension Tensor {
    /// Normalised, sorted, de-duplicated reduction dims (all dims when `dims` is empty).
    func reductionDims(_ dims: [Int], op: String) -> [Int] {
        if dims.isEmpty { return Array(0..<rank) }
        let normalized = dims.map { normalizedDim($0, op: op) }
        precondition(Set(normalized).count == normalized.count, "\(op): dim \(dims) appears multiple times in the list of dims")
        return normalized.sorted()
    }

    /// Shape after reducing `dims`.
    func reducedShape(_ dims: [Int], keepDim: Bool) -> [Int] {
        var result: [Int] = []
        for (axis, size) in shape.enumerated() {
            if dims.contains(axis) { if keepDim { result.append(1) } } else { result.append(size) }
        }
        return result
    }

    /// Sum over `dims` (all when empty). Integers and bools sum to int64, as in PyTorch.
    ///
    ///     x.sum(dims: [0], keepDim: true)
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor {
        let axes = reductionDims(dims, op: "sum")
        let resultType: DType = dtype.isIntegral ? .int64 : dtype
        let kept = (0..<rank).filter { !axes.contains($0) }
        let moved = withoutGrad { self.permuted(kept + axes).to(.float64).contiguous() }
        let outShape = reducedShape(axes, keepDim: keepDim)
        let rows = kept.map { shape[$0] }.reduce(1, *)
        let n = axes.map { shape[$0] }.reduce(1, *)
        let source = moved.baseAddress.assumingMemoryBound(to: Double.self)
        var values = [Double](repeating: 0, count: rows)
        for r in 0..<rows {
            var total = 0.0
            for i in 0..<n { total += source[r * n + i] }
            values[r] = total
        }
        let result = withoutGrad { Tensor(shape: outShape, scalars: values).to(resultType) }
        if GraphRecorder.shouldRecord(self) {
            let inputShape = shape
            GraphRecorder.record("sum", inputs: [self], outputs: [result]) { context in
                var g = context.gradOutput
                if !keepDim { g = g.reshaped(Tensor.keepDimShape(inputShape, axes)) }
                return [g.expanded(to: inputShape)]
            }
        }
        return result
    }

    /// Sum over one dimension.
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { sum(dims: [dim], keepDim: keepDim) }

    /// Sum of all elements, as a 0-d tensor.
    public func sum() -> Tensor { sum(dims: [], keepDim: false) }

    /// The reduced shape with reduced dims kept as size 1.
    static func keepDimShape(_ shape: [Int], _ dims: [Int]) -> [Int] {
        shape.enumerated().map { dims.contains($0.offset) ? 1 : $0.element }
    }
}

extension Tensor {
    /// True (a 0-d bool tensor) when every element is non-zero.
    public func all() -> Tensor {
        let values = withoutGrad { self.scalars(as: Double.self) }
        return Tensor(values.allSatisfy { $0 != 0 })
    }

    /// True (a 0-d bool tensor) when any element is non-zero.
    public func any() -> Tensor {
        let values = withoutGrad { self.scalars(as: Double.self) }
        return Tensor(values.contains { $0 != 0 })
    }
}
