/// Sorting: sort, argsort, topk.
///
/// The kernel only computes indices: each row along the sorted dimension (made the last,
/// contiguous dimension first) is sorted as an array of positions with Swift's sort and a
/// comparator that breaks ties by position, which makes it stable whatever algorithm the
/// standard library uses. Values are then `gather`ed with those indices, so they are exact
/// for every dtype and their gradient is gather's (a scatterAdd into zeros).
extension Tensor {
    /// Sorts along `dim` (stably), returning the sorted values and their original positions
    /// (int64). NaN sorts as the largest value, as in PyTorch.
    ///
    ///     let (values, indices) = Tensor([3, 1, 2] as [Float]).sort()   // [1, 2, 3], [1, 2, 0]
    public func sort(dim: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        let axis = normalizedDim(dim, op: "sort")
        let indices = sortIndices(axis: axis, descending: descending)
        return (gather(dim: axis, index: indices, op: "sort"), indices)
    }

    /// The positions that sort `self` along `dim` (stable; NaN sorts as the largest value).
    ///
    ///     Tensor([3, 1, 2] as [Float]).argsort()   // [1, 2, 0]
    public func argsort(dim: Int = -1, descending: Bool = false) -> Tensor {
        sortIndices(axis: normalizedDim(dim, op: "argsort"), descending: descending)
    }

    /// The `k` largest (or smallest) elements along `dim` and their positions. Results are
    /// always sorted (PyTorch leaves the order unspecified when `sorted` is false); among
    /// equal values the earlier position comes first.
    ///
    ///     let (values, indices) = Tensor([1, 5, 3] as [Float]).topk(2)   // [5, 3], [1, 2]
    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true, sorted: Bool = true) -> (values: Tensor, indices: Tensor) {
        let axis = normalizedDim(dim, op: "topk")
        let size = rank == 0 ? 1 : shape[axis]
        emberPrecondition(k >= 0 && k <= size, "topk: k (\(k)) is out of range for dimension \(axis) of size \(size) (shape \(shape))")
        var indices = sortIndices(axis: axis, descending: largest)
        if rank > 0 && k < size { indices = indices.narrow(dim: axis, start: 0, length: k).contiguous() }
        return (gather(dim: axis, index: indices, op: "topk"), indices)
    }

    /// Stable sorting permutation along `axis`, as a contiguous int64 tensor of `self`'s shape:
    /// ``Primitive/argsort(dim:descending:)`` in a graph, so that sort and topk trace as it
    /// and a gather.
    private func sortIndices(axis: Int, descending: Bool) -> Tensor {
        Dispatch.apply(self, { _ in .argsort(dim: axis, descending: descending) }) {
            sortIndicesUntraced(axis: axis, descending: descending)
        }
    }

    private func sortIndicesUntraced(axis: Int, descending: Bool) -> Tensor {
        if rank == 0 { return Tensor(shape: [], scalars: [Int64(0)]) }
        let keyType: DType
        switch dtype {
        case .float16, .bfloat16: keyType = .float32
        case .bool: keyType = .uint8
        default: keyType = dtype
        }
        let rows = withoutGrad { self.transposed(axis, -1).to(keyType).contiguous() }
        let result = Tensor(uninitializedShape: rows.shape, dtype: .int64)
        let length = shape[axis], rowCount = length == 0 ? 0 : count / length
        switch keyType {
        case .float32: SortKernel.sortRows(Float.self, rows, rowCount: rowCount, length: length, descending: descending, into: result)
        case .float64: SortKernel.sortRows(Double.self, rows, rowCount: rowCount, length: length, descending: descending, into: result)
        case .int32: SortKernel.sortRows(Int32.self, rows, rowCount: rowCount, length: length, descending: descending, into: result)
        case .int64: SortKernel.sortRows(Int64.self, rows, rowCount: rowCount, length: length, descending: descending, into: result)
        default: SortKernel.sortRows(UInt8.self, rows, rowCount: rowCount, length: length, descending: descending, into: result)
        }
        return result.transposed(axis, -1).contiguous()
    }
}

enum SortKernel {
    /// Sorts each contiguous row of `length` keys, writing positions into `result`.
    static func sortRows<T: Comparable>(_: T.Type, _ rows: Tensor, rowCount: Int, length: Int, descending: Bool, into result: Tensor) {
        let keys = UnsafePointer(rows.baseAddress.assumingMemoryBound(to: T.self))
        let output = result.baseAddress.assumingMemoryBound(to: Int64.self)
        var order = [Int](repeating: 0, count: length)
        for row in 0..<rowCount {
            let key = keys + row * length
            for i in 0..<length { order[i] = i }
            // `x != x` is true only for NaN; it counts as larger than every number.
            if descending {
                order.sort { i, j in
                    let a = key[i], b = key[j]
                    let aIsNaN = a != a, bIsNaN = b != b
                    if aIsNaN != bIsNaN { return aIsNaN }
                    if aIsNaN || a == b { return i < j }
                    return a > b
                }
            } else {
                order.sort { i, j in
                    let a = key[i], b = key[j]
                    let aIsNaN = a != a, bIsNaN = b != b
                    if aIsNaN != bIsNaN { return bIsNaN }
                    if aIsNaN || a == b { return i < j }
                    return a < b
                }
            }
            let out = output + row * length
            for i in 0..<length { out[i] = Int64(order[i]) }
        }
    }
}
