/// Indexing with tensors: gather, scatter, scatterAdd, indexSelect, masks, oneHot.
///
/// Two kernels do all the work. `gather` reads `input[p with p[dim] = index[p]]` for every
/// position p of the index; `scatter` writes (or adds) `source[p]` to `target[p with p[dim] =
/// index[p]]`. Both walk the index shape once with one offset per operand, so any layout
/// works, including broadcast (stride-0) indices: `indexSelect` is a `gather` with the index
/// expanded across the other dimensions, and mask selection is an `indexSelect` of the flat
/// positions where the mask is true. Their gradients are each other: gather's is a
/// scatterAdd into zeros, scatter's is a gather.
///
/// Moving elements needs only their width, so gather and scatter switch on the byte size
/// (4 specialisations); scatterAdd needs arithmetic and switches on the dtype.
extension Tensor {
    /// Picks values along `dim` with an index of the same rank: for dim 1,
    /// `result[i][j][k] = self[i][index[i][j][k]][k]`. The result has the index's shape.
    ///
    ///     Tensor([[1, 2], [3, 4]] as [Float]).gather(dim: 1, index: Tensor([[1], [0]] as [[Int]]))   // [[2], [3]]
    public func gather(dim: Int, index: Tensor) -> Tensor { gather(dim: dim, index: index, op: "gather") }

    func gather(dim: Int, index: Tensor, op: String) -> Tensor {
        Dispatch.apply(self, index, { _ in .gather(dim: self.normalizedDim(dim, op: op)) }, name: op) { gatherUntraced(dim: dim, index: index, op: op) }
    }

    private func gatherUntraced(dim: Int, index: Tensor, op: String) -> Tensor {
        let axis = normalizedDim(dim, op: op)
        let index = IndexKernel.checkedIndex(index, op: op)
        IndexKernel.checkShapes(op: op, axis: axis, index: index, input: self, source: nil)
        let result = Tensor(uninitializedShape: index.shape, dtype: dtype)
        IndexKernel.gather(self, axis: axis, index: index, into: result, op: op)
        return result
    }

    /// A copy of `self` with `source[p]` written at `p` with `p[dim]` replaced by `index[p]`,
    /// for every position p of `index` (PyTorch's out-of-place `scatter`). When an index
    /// repeats, the last write wins.
    ///
    ///     Tensor.zeros([3]).scatter(dim: 0, index: Tensor([2, 0] as [Int]), source: Tensor([5, 6] as [Float]))   // [6, 0, 5]
    public func scatter(dim: Int, index: Tensor, source: Tensor) -> Tensor {
        scatter(dim: dim, index: index, source: source, accumulate: false, op: "scatter")
    }

    /// A copy of `self` with `value` written at the positions `index` selects along `dim`.
    ///
    ///     Tensor.zeros([2, 3]).scatter(dim: 1, index: Tensor([[0], [2]] as [[Int]]), value: 1)
    public func scatter(dim: Int, index: Tensor, value: Double) -> Tensor {
        let index = IndexKernel.checkedIndex(index, op: "scatter")
        let values = Tensor.full([], value, dtype: dtype).expanded(to: index.shape)
        return scatter(dim: dim, index: index, source: values, accumulate: false, op: "scatter")
    }

    /// A copy of `self` with `source[p]` added at `p` with `p[dim]` replaced by `index[p]`;
    /// repeated indices accumulate.
    ///
    ///     Tensor.zeros([3]).scatterAdd(dim: 0, index: Tensor([0, 0, 2] as [Int]), source: Tensor.ones([3]))   // [2, 0, 1]
    public func scatterAdd(dim: Int, index: Tensor, source: Tensor) -> Tensor {
        scatter(dim: dim, index: index, source: source, accumulate: true, op: "scatterAdd")
    }

    private func scatter(dim: Int, index: Tensor, source: Tensor, accumulate: Bool, op: String) -> Tensor {
        Dispatch.apply([self, index, source], { _ in .scatter(dim: self.normalizedDim(dim, op: op), accumulate: accumulate) }, name: op) {
            scatterUntraced(dim: dim, index: index, source: source, accumulate: accumulate, op: op)
        }
    }

    private func scatterUntraced(dim: Int, index: Tensor, source: Tensor, accumulate: Bool, op: String) -> Tensor {
        let axis = normalizedDim(dim, op: op)
        let index = IndexKernel.checkedIndex(index, op: op)
        emberPrecondition(source.dtype == dtype, "\(op): expected self.dtype to be equal to source.dtype, but got \(dtype) and \(source.dtype)")
        IndexKernel.checkShapes(op: op, axis: axis, index: index, input: self, source: source)
        let result = withoutGrad { contiguousCopy() }
        if accumulate {
            IndexKernel.scatterAdd(source, axis: axis, index: index, into: result, op: op)
        } else {
            IndexKernel.scatter(source, axis: axis, index: index, into: result, op: op)
        }
        return result
    }

    /// The entries of `index` (a 1-D or 0-d integer tensor) along `dim`, in that order.
    ///
    ///     x.indexSelect(dim: 0, index: Tensor([2, 0] as [Int]))   // rows 2 and 0
    public func indexSelect(dim: Int, index: Tensor) -> Tensor {
        emberPrecondition(index.rank <= 1, "indexSelect: index should have at most one dimension, but got shape \(index.shape)")
        let positions = IndexKernel.checkedIndex(index, op: "indexSelect").reshaped([-1])
        if rank == 0 {
            _ = normalizedDim(dim, op: "indexSelect")
            let picked = reshaped([1]).indexSelect(dim: 0, index: positions)
            return picked.reshaped(index.rank == 0 ? [] : [positions.count])
        }
        let axis = normalizedDim(dim, op: "indexSelect")
        var viewShape = [Int](repeating: 1, count: rank), outputShape = shape
        viewShape[axis] = positions.count
        outputShape[axis] = positions.count
        return gather(dim: axis, index: positions.reshaped(viewShape).expanded(to: outputShape), op: "indexSelect")
    }

    /// `value` where `mask` (a bool tensor that broadcasts with `self`) is true, `self` elsewhere.
    ///
    ///     x.maskedFill(x .< 0, 0)
    public func maskedFill(_ mask: Tensor, _ value: Double) -> Tensor {
        emberPrecondition(mask.dtype == .bool, "maskedFill: expected mask to be a bool tensor, but got dtype \(mask.dtype)")
        _ = Broadcast.shape(shape, mask.shape, op: "maskedFill")
        // A graph records the `where` (and the value as a constant).
        return Tensor.where(mask, Tensor.full([], value, dtype: dtype), self)
    }

    /// The elements where `mask` (a bool tensor that broadcasts with `self`) is true, as a 1-D
    /// tensor in row-major order.
    ///
    ///     x.maskedSelect(x .> 0)
    public func maskedSelect(_ mask: Tensor) -> Tensor {
        emberPrecondition(mask.dtype == .bool, "maskedSelect: expected mask to be a bool tensor, but got dtype \(mask.dtype)")
        let shape = Broadcast.shape(self.shape, mask.shape, op: "maskedSelect")
        let flags = withoutGrad { mask.expanded(to: shape).scalars(as: Bool.self) }
        let positions = flags.indices.filter { flags[$0] }
        return expanded(to: shape).reshaped([-1]).indexSelect(dim: 0, index: Tensor(positions))
    }

    /// Boolean-mask indexing, `x[mask]`: the mask's shape must match the leading dimensions
    /// of `self`; the result has one row per true element (1-D when the mask has `self`'s
    /// full shape). Assigning writes those rows into this tensor's storage.
    ///
    ///     let positive = x[x .> 0]
    ///     x[x .< 0] = Tensor(0.0)
    public subscript(_ mask: Tensor) -> Tensor {
        get {
            let (rows, positions) = maskedRows(mask)
            return rows.indexSelect(dim: 0, index: Tensor(positions))
        }
        set {
            let (rows, positions) = maskedRows(mask)
            let rest = Array(rows.shape.dropFirst())
            let values = newValue.to(dtype).expanded(to: [positions.count] + rest)
            let index = Tensor(positions).reshaped([positions.count] + rest.map { _ in 1 }).expanded(to: [positions.count] + rest)
            assignInPlace(rows.scatter(dim: 0, index: index, source: values).reshaped(shape), op: "index_put_")
        }
    }

    /// `self` with the mask's dimensions flattened into one, and the flat positions where the
    /// mask is true.
    private func maskedRows(_ mask: Tensor) -> (rows: Tensor, positions: [Int]) {
        emberPrecondition(mask.dtype == .bool, "index: tensors used as indices must be bool masks, but got dtype \(mask.dtype) (use indexSelect or gather for integer indices)")
        emberPrecondition(mask.rank <= rank, "index: too many indices for tensor of dimension \(rank) (mask of shape \(mask.shape))")
        for d in 0..<mask.rank where mask.shape[d] != shape[d] {
            emberFailure("index: the shape of the mask \(mask.shape) at index \(d) does not match the shape of the indexed tensor \(shape) at index \(d)")
        }
        let flags = withoutGrad { mask.scalars(as: Bool.self) }
        let positions = flags.indices.filter { flags[$0] }
        return (reshaped([flags.count] + shape[mask.rank...]), positions)
    }

    /// One-hot encoding of class indices (PyTorch's `F.one_hot`): an int64 tensor with a new
    /// last dimension of `numClasses` (inferred as max + 1 when -1).
    ///
    ///     Tensor([0, 2] as [Int]).oneHot(numClasses: 3)   // [[1, 0, 0], [0, 0, 1]]
    public func oneHot(numClasses: Int = -1) -> Tensor {
        emberPrecondition(dtype == .int64 || dtype == .int32, "oneHot: expected an int64 tensor of class indices, but got dtype \(dtype)")
        // With `numClasses` given, the values are read only to check them, so a trace goes on
        // past the read and records the comparison below; without it, the result's shape
        // depends on the values and a trace stops here.
        let values = numClasses >= 0 ? Tracing.exemptingValueReads { scalars(as: Int64.self) } : scalars(as: Int64.self)
        emberPrecondition(numClasses >= 0 || !values.isEmpty, "oneHot: can not infer the number of classes from an empty tensor")
        let classes = numClasses >= 0 ? numClasses : Int(values.max()! + 1)
        for value in values {
            emberPrecondition(value >= 0, "oneHot: class values must be non-negative, but got \(value)")
            emberPrecondition(value < classes, "oneHot: class values must be smaller than numClasses (\(classes)), but got \(value)")
        }
        return (unsqueezed(-1) .== Tensor.arange(classes)).to(.int64)
    }
}

// MARK: - Kernels

enum IndexKernel {
    /// The index as int64, or a message naming `op` when it is not an integer tensor.
    static func checkedIndex(_ index: Tensor, op: String) -> Tensor {
        emberPrecondition(index.dtype == .int64 || index.dtype == .int32,
                     "\(op): expected index to be an int64 (or int32) tensor, but got dtype \(index.dtype)")
        return index.dtype == .int64 ? index : withoutGrad { index.to(.int64) }
    }

    /// PyTorch's rules: the index has the input's rank, is no larger than the input outside
    /// `axis`, and no larger than the source anywhere.
    static func checkShapes(op: String, axis: Int, index: Tensor, input: Tensor, source: Tensor?) {
        emberPrecondition(index.rank == input.rank,
                     "\(op): index tensor must have the same number of dimensions as the input tensor; got index shape \(index.shape) and input shape \(input.shape)")
        for d in 0..<index.rank where d != axis && index.shape[d] > input.shape[d] {
            emberFailure("\(op): index shape \(index.shape) must not be larger than the input shape \(input.shape) apart from dimension \(axis); it is at dimension \(d)")
        }
        if let source {
            emberPrecondition(source.rank == index.rank && zip(index.shape, source.shape).allSatisfy { $0 <= $1 },
                         "\(op): index shape \(index.shape) must not be larger than the source shape \(source.shape)")
        }
    }

    /// Length and stride of `axis` (a 0-d tensor counts as one element).
    private static func axisExtent(_ tensor: Tensor, _ axis: Int) -> (size: Int, stride: Int) {
        tensor.rank == 0 ? (1, 0) : (tensor.shape[axis], tensor.strides[axis])
    }

    /// Strides with `axis` zeroed: the index supplies that coordinate.
    private static func stridesOutside(_ tensor: Tensor, _ axis: Int) -> [Int] {
        var strides = tensor.strides
        if tensor.rank > 0 { strides[axis] = 0 }
        return strides
    }

    static func gather(_ input: Tensor, axis: Int, index: Tensor, into result: Tensor, op: String) {
        switch input.dtype.byteSize {
        case 1: gather(UInt8.self, input, axis: axis, index: index, into: result, op: op)
        case 2: gather(UInt16.self, input, axis: axis, index: index, into: result, op: op)
        case 4: gather(UInt32.self, input, axis: axis, index: index, into: result, op: op)
        default: gather(UInt64.self, input, axis: axis, index: index, into: result, op: op)
        }
    }

    private static func gather<T>(_: T.Type, _ input: Tensor, axis: Int, index: Tensor, into result: Tensor, op: String) {
        let source = UnsafePointer(input.baseAddress.assumingMemoryBound(to: T.self))
        let positions = UnsafePointer(index.baseAddress.assumingMemoryBound(to: Int64.self))
        let output = result.baseAddress.assumingMemoryBound(to: T.self)
        let (size, axisStride) = axisExtent(input, axis)
        var walker = OffsetWalker(shape: index.shape, stridesOutside(input, axis), index.strides, result.strides)
        for _ in 0..<index.count {
            let i = Int(positions[walker.second])
            emberPrecondition(i >= 0 && i < size, "\(op): index \(i) is out of bounds for dimension \(axis) with size \(size)")
            output[walker.third] = source[walker.first + i * axisStride]
            walker.advance()
        }
    }

    static func scatter(_ source: Tensor, axis: Int, index: Tensor, into result: Tensor, op: String) {
        switch result.dtype.byteSize {
        case 1: scatter(UInt8.self, source, axis: axis, index: index, into: result, op: op) { $1 }
        case 2: scatter(UInt16.self, source, axis: axis, index: index, into: result, op: op) { $1 }
        case 4: scatter(UInt32.self, source, axis: axis, index: index, into: result, op: op) { $1 }
        default: scatter(UInt64.self, source, axis: axis, index: index, into: result, op: op) { $1 }
        }
    }

    static func scatterAdd(_ source: Tensor, axis: Int, index: Tensor, into result: Tensor, op: String) {
        switch result.dtype {
        case .float32: scatter(Float.self, source, axis: axis, index: index, into: result, op: op) { $0 + $1 }
        case .float64: scatter(Double.self, source, axis: axis, index: index, into: result, op: op) { $0 + $1 }
        case .int32: scatter(Int32.self, source, axis: axis, index: index, into: result, op: op) { $0 &+ $1 }
        case .int64: scatter(Int64.self, source, axis: axis, index: index, into: result, op: op) { $0 &+ $1 }
        case .uint8: scatter(UInt8.self, source, axis: axis, index: index, into: result, op: op) { $0 &+ $1 }
        case .bool: scatter(Bool.self, source, axis: axis, index: index, into: result, op: op) { $0 || $1 }
        case .float16, .bfloat16:
            // Accumulate in float32 and round once, rather than after every addition.
            let wide = withoutGrad { result.to(.float32) }
            scatterAdd(withoutGrad { source.to(.float32) }, axis: axis, index: index, into: wide, op: op)
            CopyKernel.copy(from: wide, into: result)
        }
    }

    /// `result[p with p[axis] = index[p]] = combine(old, source[p])` over the index positions.
    private static func scatter<T>(_: T.Type, _ source: Tensor, axis: Int, index: Tensor, into result: Tensor, op: String,
                                   combine: (T, T) -> T) {
        let values = UnsafePointer(source.baseAddress.assumingMemoryBound(to: T.self))
        let positions = UnsafePointer(index.baseAddress.assumingMemoryBound(to: Int64.self))
        let output = result.baseAddress.assumingMemoryBound(to: T.self)
        let (size, axisStride) = axisExtent(result, axis)
        var walker = OffsetWalker(shape: index.shape, stridesOutside(result, axis), index.strides, source.strides)
        for _ in 0..<index.count {
            let i = Int(positions[walker.second])
            emberPrecondition(i >= 0 && i < size, "\(op): index \(i) is out of bounds for dimension \(axis) with size \(size)")
            let target = walker.first + i * axisStride
            output[target] = combine(output[target], values[walker.third])
            walker.advance()
        }
    }
}

/// Walks a shape in row-major order, keeping the element offset of three strided operands
/// (an odometer, as in the C kernels' strided loop).
struct OffsetWalker {
    private let shape: [Int]
    private let strides: [(Int, Int, Int)]
    private var counter: [Int]
    private(set) var first = 0, second = 0, third = 0

    init(shape: [Int], _ a: [Int], _ b: [Int], _ c: [Int]) {
        self.shape = shape
        self.strides = (0..<shape.count).map { (a[$0], b[$0], c[$0]) }
        self.counter = Array(repeating: 0, count: shape.count)
    }

    mutating func advance() {
        var d = shape.count - 1
        while d >= 0 {
            counter[d] += 1
            let (a, b, c) = strides[d]
            first += a; second += b; third += c
            if counter[d] < shape[d] { return }
            first -= a * shape[d]; second -= b * shape[d]; third -= c * shape[d]
            counter[d] = 0
            d -= 1
        }
    }
}
