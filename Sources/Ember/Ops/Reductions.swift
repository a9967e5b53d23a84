import EmberKernels

/// Reductions: sum, prod, max/min (values and indices), amax/amin, argmax/argmin, all/any.
/// Statistics built from them (mean, variance, norm, logsumexp) are in Statistics.swift. The
/// dim-list reductions are defined in ReductionOperations.swift (`ReductionOperation`); the
/// methods here are their public spellings, plus the shared layout and shape helpers.
///
/// Every reduction reaches the kernels the same way: the input is seen as contiguous
/// `[outer, n, inner]` with the reduced axes in the middle (`ReductionLayout`). Reducing the
/// trailing axes of a contiguous tensor, or any axes whose elements are already last in memory
/// (a transposed view reduced along its first axis), reads the tensor in place; reducing
/// leading or middle axes of a contiguous tensor uses the columns form, also without a copy.
/// Only axes scattered through the shape of a non-contiguous tensor cost one copy.
/// Rejected: always permuting the reduced axes last and copying (PyTorch's first CPU path):
/// a copy of the whole input for every `sum(dim: 0)`.
extension Tensor {
    /// Normalised, sorted, de-duplicated reduction dims (all dims when `dims` is empty).
    /// A 0-d tensor accepts dim 0 or -1 and has nothing to reduce.
    func reductionDims(_ dims: [Int], op: String) -> [Int] {
        if rank == 0 {
            for dim in dims { _ = normalizedDim(dim, op: op) }
            return []
        }
        if dims.isEmpty { return Array(0..<rank) }
        let normalized = dims.map { normalizedDim($0, op: op) }
        emberPrecondition(Set(normalized).count == normalized.count, "\(op): dim \(dims) appears multiple times in the list of dims")
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

    /// The reduced shape with reduced dims kept as size 1.
    static func keepDimShape(_ shape: [Int], _ dims: [Int]) -> [Int] {
        shape.enumerated().map { dims.contains($0.offset) ? 1 : $0.element }
    }

    /// A reduction result (or its gradient) reshaped so that it broadcasts against the input.
    func restoringReducedDims(_ axes: [Int], inputShape: [Int], keepDim: Bool) -> Tensor {
        keepDim ? self : reshaped(Tensor.keepDimShape(inputShape, axes))
    }

    /// Stops when a reduction without an identity (max, argmax, …) meets an empty axis.
    func checkNonEmpty(_ axes: [Int], op: String, allElements: Bool) {
        guard count == 0 else { return }
        if allElements {
            emberFailure("\(op): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument. (shape \(shape))")
        }
        for axis in axes where shape[axis] == 0 {
            emberFailure("\(op): Expected reduction dim \(axis) to have non-zero size. (shape \(shape))")
        }
    }
}

/// The input of a reduction as the kernels see it: `source` is contiguous `[outer, n, inner]`
/// (in memory order), with the reduced axes flattened into `n`.
struct ReductionLayout {
    let source: Tensor
    let outer: Int, n: Int, inner: Int
    /// The input axes in `source`'s memory order (the identity unless the reduced axes were moved last).
    let order: [Int]

    /// Arranges `tensor` for reducing `axes` (sorted), copying only when no view will do.
    init(_ tensor: Tensor, axes: [Int]) {
        let shape = tensor.shape
        let kept = (0..<tensor.rank).filter { !axes.contains($0) }
        let n = axes.reduce(1) { $0 * shape[$1] }
        let keptCount = kept.reduce(1) { $0 * shape[$1] }
        // Reduced axes last: a view, and free when memory already has them innermost.
        let order = kept + axes
        let moved = tensor.view(as: Layout(shape: order.map { shape[$0] }, strides: order.map { tensor.strides[$0] },
                                           offset: tensor.layout.offset))
        if moved.isContiguous {
            self.init(source: moved, outer: keptCount, n: n, inner: 1, order: order)
            return
        }
        // One block of reduced axes (size-1 axes do not count): the columns form.
        let significant = axes.filter { shape[$0] != 1 }
        if let first = significant.first, let last = significant.last,
           (first...last).allSatisfy({ axes.contains($0) || shape[$0] == 1 }) {
            let source = tensor.isContiguous ? tensor : withoutGrad { tensor.contiguousCopy() }
            let outer = shape[..<first].reduce(1, *), inner = shape[(last + 1)...].reduce(1, *)
            self.init(source: source, outer: outer, n: n, inner: inner, order: Array(0..<tensor.rank))
            return
        }
        self.init(source: withoutGrad { moved.contiguousCopy() }, outer: keptCount, n: n, inner: 1, order: order)
    }

    private init(source: Tensor, outer: Int, n: Int, inner: Int, order: [Int]) {
        self.source = source
        self.outer = outer
        self.n = n
        self.inner = inner
        self.order = order
    }
}

extension Tensor {
    /// Runs `op` over `axes` without recording: the forward half of every reduction.
    /// 16-bit floats compute in float32 and round the result back.
    /// `into` is a contiguous tensor of the result's shape and dtype to write (a buffer a
    /// compiled plan keeps), for inputs that are not 16-bit floats.
    func reduced(_ op: ReductionOp, axes: [Int], keepDim: Bool, into output: Tensor? = nil) -> Tensor {
        let isHalf = dtype == .float16 || dtype == .bfloat16
        let input = isHalf ? withoutGrad { self.to(.float32) } : self
        let layout = ReductionLayout(input, axes: axes)
        let result = output.map { output in
            emberPrecondition(!isHalf && output.isContiguous && output.dtype == op.outputType(for: input.dtype)
                              && output.shape == reducedShape(axes, keepDim: keepDim), "reduce: output buffer does not fit")
            return output
        } ?? Tensor(uninitializedShape: reducedShape(axes, keepDim: keepDim), dtype: op.outputType(for: input.dtype))
        if result.count > 0 {
            ReductionKernel.reduce(op, input.dtype, UnsafeRawPointer(layout.source.baseAddress), outer: layout.outer,
                                   n: layout.n, inner: layout.inner, result.baseAddress)
        }
        return isHalf && result.dtype == .float32 ? withoutGrad { result.to(dtype) } : result
    }

    /// Index (int64) of the first maximum or minimum along `axis` (nil: of the flattened tensor).
    func argReduced(isMax: Bool, axis: Int?, keepDim: Bool, op: String) -> Tensor {
        guard let axis else {
            checkNonEmpty([], op: op, allElements: true)
            let flat = withoutGrad { self.reshaped([-1]) }
            let index = flat.argReduced(isMax: isMax, axis: 0, keepDim: false, op: op)
            return keepDim ? index.reshaped([Int](repeating: 1, count: rank)) : index
        }
        let axes = rank == 0 ? [] : [axis]
        checkNonEmpty(axes, op: op, allElements: false)
        let input = dtype == .float16 || dtype == .bfloat16 ? withoutGrad { self.to(.float32) } : self
        let layout = ReductionLayout(input, axes: axes)
        let result = Tensor(uninitializedShape: reducedShape(axes, keepDim: keepDim), dtype: .int64)
        if result.count > 0 {
            ReductionKernel.argReduce(isMax: isMax, input.dtype, UnsafeRawPointer(layout.source.baseAddress),
                                      outer: layout.outer, n: layout.n, inner: layout.inner,
                                      result.baseAddress.assumingMemoryBound(to: Int64.self))
        }
        return result
    }
}

// MARK: - sum, prod

extension Tensor {
    /// Sum over `dims` (all when empty; negative dims count from the end). Integers and bools
    /// sum to int64, as in PyTorch; float32 sums are pairwise-accurate.
    ///
    ///     Tensor([[1, 2], [3, 4]] as [[Float]]).sum(dims: [0])   // [4, 6]
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor { reduce(.sum, dims: dims, keepDim: keepDim) }

    /// Sum over one dimension.
    ///
    ///     x.sum(dim: -1, keepDim: true)
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { sum(dims: [dim], keepDim: keepDim) }

    /// Sum of all elements, as a 0-d tensor (0 for an empty tensor).
    public func sum() -> Tensor { sum(dims: [], keepDim: false) }

    /// Product over `dims` (all when empty); integers and bools give int64, an empty product is 1.
    /// The gradient is exact when the input contains zeros (no division by zero).
    ///
    ///     Tensor([2, 3, 4] as [Float]).prod()   // 24
    public func prod(dims: [Int], keepDim: Bool = false) -> Tensor { reduce(.prod, dims: dims, keepDim: keepDim) }

    /// Product over one dimension.
    public func prod(dim: Int, keepDim: Bool = false) -> Tensor { prod(dims: [dim], keepDim: keepDim) }

    /// Product of all elements, as a 0-d tensor (1 for an empty tensor).
    public func prod() -> Tensor { prod(dims: [], keepDim: false) }
}

// MARK: - max, min, amax, amin, argmax, argmin

extension Tensor {
    /// Maximum over `dims` (all when empty), without indices; the gradient is shared equally
    /// among tied maxima, as in PyTorch. NaN propagates.
    ///
    ///     x.amax(dims: [0, 1])
    public func amax(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(.amax, dims: dims, keepDim: keepDim) }

    /// Minimum over `dims` (all when empty), without indices; ties share the gradient.
    ///
    ///     x.amin(dims: [1], keepDim: true)
    public func amin(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(.amin, dims: dims, keepDim: keepDim) }

    /// The largest element, as a 0-d tensor; NaN if any element is NaN.
    ///
    ///     Tensor([1, 5, 3] as [Float]).max()   // 5
    public func max() -> Tensor { extremumOfAllElements(.amax, op: "max()") }

    /// The smallest element, as a 0-d tensor; NaN if any element is NaN.
    public func min() -> Tensor { extremumOfAllElements(.amin, op: "min()") }

    /// max() and min(): amax and amin over every dim, with PyTorch's message for an empty tensor.
    private func extremumOfAllElements(_ operation: ReductionOperation, op: String) -> Tensor {
        let axes = reductionDims([], op: op)
        checkNonEmpty(axes, op: op, allElements: true)
        return reduce(operation, axes: axes, keepDim: false, nodeName: op)
    }

    /// Maximum along `dim` with the index (int64) of its first occurrence; NaN counts as the maximum.
    /// The gradient flows to that index only.
    ///
    ///     let (values, indices) = x.max(dim: 1)
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        extremum(isMax: true, dim: dim, keepDim: keepDim, op: "max()")
    }

    /// Minimum along `dim` with the index (int64) of its first occurrence.
    ///
    ///     let (values, indices) = x.min(dim: 0, keepDim: true)
    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        extremum(isMax: false, dim: dim, keepDim: keepDim, op: "min()")
    }

    private func extremum(isMax: Bool, dim: Int, keepDim: Bool, op: String) -> (values: Tensor, indices: Tensor) {
        let axis = normalizedDim(dim, op: op)
        let axes = reductionDims([dim], op: op)
        checkNonEmpty(axes, op: op, allElements: false)
        // Traced as two nodes, the index and the value, each one primitive.
        let indices = Tracing.record([self], { _ in .argReduce(max: isMax, dim: axis, keepDim: keepDim) }) {
            argReduced(isMax: isMax, axis: axis, keepDim: keepDim, op: op)
        }
        let values = Tracing.record([self], { _ in .reduce(isMax ? "amax" : "amin", axes: axes, keepDim: keepDim) }) {
            reduced(isMax ? .max : .min, axes: axes, keepDim: keepDim)
        }
        if GraphRecorder.shouldRecord(self) {
            let inputShape = shape, rank = self.rank
            GraphRecorder.record(op, inputs: [self], outputs: [values]) { context in
                let g = context.gradOutput.restoringReducedDims(axes, inputShape: inputShape, keepDim: keepDim)
                guard rank > 0 else { return [g] }
                var positionShape = [Int](repeating: 1, count: rank)
                positionShape[axis] = inputShape[axis]
                let positions = Tensor.arange(inputShape[axis]).reshaped(positionShape)
                let index = indices.restoringReducedDims(axes, inputShape: inputShape, keepDim: keepDim)
                let mask = (positions .== index).to(g.dtype)
                return [(g * mask).expanded(to: inputShape)]
            }
        }
        return (values, indices)
    }

    /// Index (int64) of the first maximum along `dim`, or of the flattened tensor when `dim` is nil.
    ///
    ///     logits.argmax(dim: -1)
    public func argmax(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        let axis = dim.map { normalizedDim($0, op: "argmax()") }
        return Dispatch.apply(self, { _ in .argReduce(max: true, dim: axis, keepDim: keepDim) }) {
            argReduced(isMax: true, axis: axis, keepDim: keepDim, op: "argmax()")
        }
    }

    /// Index (int64) of the first minimum along `dim`, or of the flattened tensor when `dim` is nil.
    public func argmin(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        let axis = dim.map { normalizedDim($0, op: "argmin()") }
        return Dispatch.apply(self, { _ in .argReduce(max: false, dim: axis, keepDim: keepDim) }) {
            argReduced(isMax: false, axis: axis, keepDim: keepDim, op: "argmin()")
        }
    }
}

// MARK: - all, any

extension Tensor {
    /// True (bool) where every element over `dims` (all when empty) is non-zero; true for an
    /// empty reduction.
    ///
    ///     (x .> 0).all(dims: [1])
    public func all(dims: [Int], keepDim: Bool = false) -> Tensor { reduce(.allTrue, dims: dims, keepDim: keepDim) }

    /// True (bool) where any element over `dims` (all when empty) is non-zero; false for an
    /// empty reduction. NaN counts as true.
    public func any(dims: [Int], keepDim: Bool = false) -> Tensor { reduce(.anyTrue, dims: dims, keepDim: keepDim) }

    /// `all` over one dimension.
    public func all(dim: Int, keepDim: Bool = false) -> Tensor { all(dims: [dim], keepDim: keepDim) }
    /// `any` over one dimension.
    public func any(dim: Int, keepDim: Bool = false) -> Tensor { any(dims: [dim], keepDim: keepDim) }

    /// True (a 0-d bool tensor) when every element is non-zero.
    ///
    ///     (x .>= 0).all().item(as: Bool.self)
    public func all() -> Tensor { all(dims: []) }

    /// True (a 0-d bool tensor) when any element is non-zero.
    public func any() -> Tensor { any(dims: []) }
}
