/// View operations: new layouts over the same storage, no copies. Each goes through the
/// dispatch as its primitive (reshape, permute, expand), whose rule maps the gradient back to
/// the input's shape.
extension Tensor {
    /// Resolves a single -1 in `shape` and checks the element count.
    func inferShape(_ shape: [Int], op: String) -> [Int] {
        var result = shape
        let inferred = shape.indices.filter { shape[$0] == -1 }
        emberPrecondition(inferred.count <= 1, "\(op): only one dimension can be inferred")
        let known = shape.filter { $0 != -1 }.reduce(1, *)
        if let index = inferred.first {
            emberPrecondition(known != 0 && count % known == 0, "\(op): shape \(shape) is invalid for input of size \(count)")
            result[index] = count / known
        }
        emberPrecondition(result.allSatisfy { $0 >= 0 } && result.reduce(1, *) == count,
                     "\(op): shape \(shape) is invalid for input of size \(count)")
        return result
    }

    /// Strides that let `self` be viewed with `newShape` without a copy, or nil (PyTorch's
    /// `computeStride`): each group of old dimensions that merges into new ones must be
    /// contiguous within itself.
    func viewStrides(for newShape: [Int]) -> [Int]? {
        if isContiguous { return Layout.contiguousStrides(for: newShape) }
        if count == 0 { return Layout.contiguousStrides(for: newShape) }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var viewDim = newShape.count - 1
        var chunkBase = strides.last ?? 1
        var tensorElements = 1, viewElements = 1
        for tensorDim in stride(from: rank - 1, through: 0, by: -1) {
            tensorElements *= shape[tensorDim]
            if tensorDim == 0 || (shape[tensorDim - 1] != 1 && strides[tensorDim - 1] != tensorElements * chunkBase) {
                while viewDim >= 0 && (viewElements < tensorElements || newShape[viewDim] == 1) {
                    newStrides[viewDim] = viewElements * chunkBase
                    viewElements *= newShape[viewDim]
                    viewDim -= 1
                }
                if viewElements != tensorElements { return nil }
                if tensorDim > 0 {
                    chunkBase = strides[tensorDim - 1]
                    tensorElements = 1
                    viewElements = 1
                }
            }
        }
        return viewDim == -1 ? newStrides : nil
    }

    /// The same elements with a new shape, as a view when the layout allows it and a copy
    /// otherwise. One dimension may be -1.
    ///
    ///     Tensor.arange(6).reshaped([2, -1])   // shape [2, 3]
    public func reshaped(_ shape: [Int]) -> Tensor {
        Dispatch.apply(self, { .reshape($0.shape) }) {
            let newShape = inferShape(shape, op: "reshape")
            if newShape == self.shape { return self }
            if let strides = viewStrides(for: newShape) {
                return view(as: Layout(shape: newShape, strides: strides, offset: layout.offset))
            }
            return contiguous().reshaped(newShape)
        }
    }

    /// Shorthand for `reshaped([...])`.
    public func reshaped(_ shape: Int...) -> Tensor { reshaped(shape) }

    /// A view with a new shape; stops if the layout cannot be viewed that way (use `reshaped`).
    public func view(_ shape: [Int]) -> Tensor {
        Dispatch.apply(self, { .reshape($0.shape) }, name: "view") {
            let newShape = inferShape(shape, op: "view")
            guard let strides = viewStrides(for: newShape) else {
                emberFailure("view: view size is not compatible with input tensor's size and stride (shape \(self.shape), strides \(self.strides), requested \(shape)); at least one dimension spans across two contiguous subspaces. Use reshaped(_:) instead.")
            }
            return view(as: Layout(shape: newShape, strides: strides, offset: layout.offset))
        }
    }

    /// Flattens dimensions `startDim...endDim` into one.
    ///
    ///     images.flattened(startDim: 1)   // [N, C, H, W] -> [N, C*H*W]
    public func flattened(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let start = normalizedDim(startDim, op: "flatten"), end = normalizedDim(endDim, op: "flatten")
        emberPrecondition(start <= end, "flatten: start_dim cannot come after end_dim")
        let merged = shape[start...end].reduce(1, *)
        return reshaped(Array(shape[..<start]) + [merged] + Array(shape[(end + 1)...]))
    }

    /// Reorders dimensions: result dimension i is input dimension `dims[i]`.
    ///
    ///     x.permuted([0, 2, 1])
    public func permuted(_ dims: [Int]) -> Tensor {
        Dispatch.apply(self, { _ in .permute(dims.map { self.normalizedDim($0, op: "permute") }) }) {
            emberPrecondition(dims.count == rank, "permute: number of dims don't match in permute (got \(dims.count) for a tensor of rank \(rank))")
            let order = dims.map { normalizedDim($0, op: "permute") }
            emberPrecondition(Set(order).count == rank, "permute: repeated dim in \(dims)")
            return view(as: Layout(shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: layout.offset))
        }
    }

    /// Shorthand for `permuted([...])`.
    public func permuted(_ dims: Int...) -> Tensor { permuted(dims) }

    /// Swaps two dimensions.
    public func transposed(_ dim0: Int, _ dim1: Int) -> Tensor {
        let a = normalizedDim(dim0, op: "transpose"), b = normalizedDim(dim1, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return permuted(order)
    }

    /// The transpose of a matrix (a 0-d or 1-D tensor is returned unchanged).
    public var t: Tensor {
        emberPrecondition(rank <= 2, "t: expects a tensor with <= 2 dimensions, but self is \(rank)D")
        return rank < 2 ? self : transposed(0, 1)
    }

    /// Inserts a dimension of size one at `dim`.
    public func unsqueezed(_ dim: Int) -> Tensor {
        Dispatch.apply(self, { .reshape($0.shape) }, name: "unsqueeze") {
            let d = normalizedDim(dim, op: "unsqueeze", rank: rank + 1)
            var newShape = shape, newStrides = strides
            let stride = d < rank ? shape[d] * strides[d] : 1
            newShape.insert(1, at: d)
            newStrides.insert(stride, at: d)
            return view(as: Layout(shape: newShape, strides: newStrides, offset: layout.offset))
        }
    }

    /// Removes dimensions of size one (all of them, or only `dim`).
    public func squeezed(_ dim: Int? = nil) -> Tensor {
        Dispatch.apply(self, { .reshape($0.shape) }, name: "squeeze") {
            var keep = Array(0..<rank)
            if let dim {
                let d = normalizedDim(dim, op: "squeeze")
                if shape[d] != 1 { return self }
                keep.remove(at: d)
            } else {
                keep = keep.filter { shape[$0] != 1 }
            }
            return view(as: Layout(shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] }, offset: layout.offset))
        }
    }

    /// Broadcasts to `shape` without copying (size-1 dimensions repeat with stride 0);
    /// -1 keeps a dimension.
    ///
    ///     Tensor([1, 2, 3] as [Float]).expanded(to: [4, 3])
    public func expanded(to shape: [Int]) -> Tensor {
        Dispatch.apply(self, { .expand($0.shape) }) {
            emberPrecondition(shape.count >= rank, "expand: the number of sizes provided (\(shape.count)) must be greater or equal to the number of dimensions in the tensor (\(rank))")
            let pad = shape.count - rank
            var target = shape
            for i in 0..<rank where target[i + pad] == -1 { target[i + pad] = self.shape[i] }
            for i in 0..<rank {
                emberPrecondition(self.shape[i] == target[i + pad] || self.shape[i] == 1,
                             "expand: the expanded size of the tensor (\(target[i + pad])) must match the existing size (\(self.shape[i])) at non-singleton dimension \(i + pad). Target sizes: \(shape). Tensor sizes: \(self.shape)")
            }
            if target == self.shape { return self }
            let strides = Broadcast.strides(of: layout, to: target)
            return view(as: Layout(shape: target, strides: strides, offset: layout.offset))
        }
    }

    /// Broadcasts to the shape of `other`.
    public func expanded(as other: Tensor) -> Tensor { expanded(to: other.shape) }

    /// `length` elements of dimension `dim` starting at `start`, as a view.
    ///
    ///     x.narrow(dim: 1, start: 2, length: 3)
    public func narrow(dim: Int, start: Int, length: Int) -> Tensor {
        let d = normalizedDim(dim, op: "narrow")
        let begin = start < 0 ? start + shape[d] : start
        emberPrecondition(begin >= 0 && length >= 0 && begin + length <= shape[d],
                     "narrow: start (\(start)) + length (\(length)) exceeds dimension size (\(shape[d])) of a tensor of shape \(shape)")
        var components = [SliceComponent](repeating: .range(start: 0, end: Int.max, step: 1), count: rank)
        components[d] = .range(start: begin, end: begin + length, step: 1)
        return sliced(components)
    }

    /// The sub-tensor at `index` along `dim`, with that dimension removed.
    public func select(dim: Int, index: Int) -> Tensor {
        let d = normalizedDim(dim, op: "select")
        var components = [SliceComponent](repeating: .range(start: 0, end: Int.max, step: 1), count: rank)
        let size = shape[d]
        emberPrecondition(index >= -size && index < size, "select: index \(index) out of range for tensor of size \(shape) at dimension \(d)")
        components[d] = .index(index < 0 ? index + size : index)
        return sliced(components)
    }
}
