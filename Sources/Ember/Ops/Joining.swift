/// Joining and splitting along a dimension: cat, stack, split, chunk.
///
/// `cat` is the one primitive that copies: each input is copied into a `narrow` block of the
/// output, and its rule (``Primitive/concatenate(dim:)``) hands each input the matching
/// `narrow` of the gradient.
/// `stack` is `cat` of unsqueezed inputs; `split` and `chunk` return `narrow` views, so they
/// need no kernel and no backward rule of their own.
extension Tensor {
    /// Joins tensors end to end along `dim`. All inputs must have the same shape except in
    /// `dim`; the result has their promoted dtype. As in PyTorch, 1-D empty tensors (shape
    /// `[0]`) are skipped, so they can seed a loop that grows a result.
    ///
    ///     Tensor.cat([Tensor.zeros([2, 3]), Tensor.ones([1, 3])])   // shape [3, 3]
    public static func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        Dispatch.apply(tensors, { _ in .concatenate(dim: tensors[0].normalizedDim(dim, op: "cat")) }) {
            emberPrecondition(!tensors.isEmpty, "cat: expected a non-empty list of tensors")
            for (position, tensor) in tensors.enumerated() {
                emberPrecondition(tensor.rank > 0, "cat: zero-dimensional tensor (at position \(position)) cannot be concatenated")
            }
            let dtype = tensors.dropFirst().reduce(tensors[0].dtype) { DType.promote($0, $1.dtype) }
            let joined = tensors.filter { !($0.rank == 1 && $0.shape[0] == 0) }
            guard let first = joined.first else { return Tensor.zeros([0], dtype: dtype) }
            let axis = first.normalizedDim(dim, op: "cat")
            for tensor in joined.dropFirst() {
                emberPrecondition(tensor.rank == first.rank,
                             "cat: tensors must have the same number of dimensions; got \(first.shape) and \(tensor.shape)")
                for d in 0..<first.rank where d != axis && tensor.shape[d] != first.shape[d] {
                    emberFailure("cat: sizes of tensors must match except in dimension \(axis); got \(first.shape) and \(tensor.shape) at dimension \(d)")
                }
            }
            var shape = first.shape
            shape[axis] = joined.reduce(0) { $0 + $1.shape[axis] }
            let result = Tensor(uninitializedShape: shape, dtype: dtype)
            var start = 0
            for tensor in joined {
                CopyKernel.copy(from: tensor, into: result.narrowedView(dim: axis, start: start, length: tensor.shape[axis]))
                start += tensor.shape[axis]
            }
            return result
        }
    }

    /// Joins equally shaped tensors along a new dimension `dim`.
    ///
    ///     Tensor.stack([a, b], dim: 0)   // two [2, 3] tensors -> [2, 2, 3]
    public static func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        emberPrecondition(!tensors.isEmpty, "stack: expected a non-empty list of tensors")
        let first = tensors[0]
        for (entry, tensor) in tensors.enumerated() where tensor.shape != first.shape {
            emberFailure("stack: expects each tensor to be equal size, but got \(first.shape) at entry 0 and \(tensor.shape) at entry \(entry)")
        }
        let axis = first.normalizedDim(dim, op: "stack", rank: first.rank + 1)
        return cat(tensors.map { $0.unsqueezed(axis) }, dim: axis)
    }

    /// Splits into views of `size` elements along `dim`; the last may be smaller.
    ///
    ///     Tensor.arange(5).split(size: 2)   // [0, 1], [2, 3], [4]
    public func split(size: Int, dim: Int = 0) -> [Tensor] {
        emberPrecondition(rank > 0, "split: expected a tensor with at least one dimension, got a 0-d tensor")
        let axis = normalizedDim(dim, op: "split")
        let length = shape[axis]
        emberPrecondition(size > 0 || (size == 0 && length == 0),
                     "split: split size must be positive (can only be 0 when the dimension is empty), but got size \(size) for dimension \(axis) of size \(length)")
        if length == 0 { return [self.narrow(dim: axis, start: 0, length: 0)] }
        return stride(from: 0, to: length, by: size).map {
            narrow(dim: axis, start: $0, length: Swift.min(size, length - $0))
        }
    }

    /// Splits into views with the given sizes along `dim`; the sizes must add up to its size.
    ///
    ///     x.split(sizes: [1, 2], dim: 1)   // [4, 3] -> [4, 1] and [4, 2]
    public func split(sizes: [Int], dim: Int = 0) -> [Tensor] {
        emberPrecondition(rank > 0, "split: expected a tensor with at least one dimension, got a 0-d tensor")
        let axis = normalizedDim(dim, op: "split")
        emberPrecondition(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[axis],
                     "split: split sizes must be non-negative and sum to the size of dimension \(axis) (\(shape[axis])), but got sizes \(sizes) for a tensor of shape \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return narrow(dim: axis, start: start, length: size)
        }
    }

    /// Splits into `count` views of (nearly) equal size along `dim`, as PyTorch's `chunk`:
    /// each has `ceil(size / count)` elements, so fewer than `count` may come back.
    ///
    ///     Tensor.arange(5).chunk(3)   // [0, 1], [2, 3], [4]
    public func chunk(_ count: Int, dim: Int = 0) -> [Tensor] {
        emberPrecondition(rank > 0, "chunk: expects at least a 1-dimensional tensor")
        emberPrecondition(count > 0, "chunk: expects `count` to be greater than 0, got: \(count)")
        let axis = normalizedDim(dim, op: "chunk")
        let length = shape[axis]
        // An empty dimension still gives `count` (empty) pieces, as in PyTorch.
        if length == 0 { return split(sizes: Array(repeating: 0, count: count), dim: axis) }
        return split(size: (length + count - 1) / count, dim: axis)
    }

    /// A `narrow` view that records nothing: the destination of kernels writing into a block.
    func narrowedView(dim: Int, start: Int, length: Int) -> Tensor {
        var components = [SliceComponent](repeating: .range(start: 0, end: Int.max, step: 1), count: rank)
        components[dim] = .range(start: start, end: start + length, step: 1)
        return view(as: slicedLayout(components))
    }
}
