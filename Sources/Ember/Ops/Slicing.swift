/// One dimension's worth of a slicing expression, after the user's indices are resolved.
public enum SliceComponent: Hashable, Sendable {
    /// Elements start, start+step, … below end (end is clamped to the size).
    case range(start: Int, end: Int, step: Int)
    /// A single index; removes the dimension.
    case index(Int)
    /// Inserts a new dimension of size one.
    case newAxis
}

/// Anything that can index one dimension in a subscript: `Int`, ranges, strides.
///
///     x[0, 1..<3]            // row 0, columns 1 and 2
///     x[..., 2]              // last dimension index 2, all leading dimensions
///     x[stride(from: 0, to: 10, by: 2)]
///     x[TensorIndex.newAxis, 1...]
public protocol TensorIndexConvertible {
    var tensorIndex: TensorIndex { get }
}

/// A resolved index expression for one dimension.
public enum TensorIndex: TensorIndexConvertible, Sendable {
    /// A single position (negative counts from the end); removes the dimension.
    case at(Int)
    /// Positions `start..<end` every `step` (nil bounds mean the whole extent; negatives count from the end).
    case slice(start: Int?, end: Int?, step: Int)
    /// A new dimension of size one (PyTorch's `None`).
    case newAxis
    /// The whole dimension.
    public static let all = TensorIndex.slice(start: nil, end: nil, step: 1)

    public var tensorIndex: TensorIndex { self }
}

extension Int: TensorIndexConvertible {
    public var tensorIndex: TensorIndex { .at(self) }
}
extension Range: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound, step: 1) }
}
extension ClosedRange: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound == -1 ? nil : upperBound + 1, step: 1) }
}
extension PartialRangeFrom: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: nil, step: 1) }
}
extension PartialRangeUpTo: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(start: nil, end: upperBound, step: 1) }
}
extension PartialRangeThrough: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(start: nil, end: upperBound == -1 ? nil : upperBound + 1, step: 1) }
}
extension StrideTo: TensorIndexConvertible where Element == Int {
    public var tensorIndex: TensorIndex {
        // StrideTo hides its bounds; recover them from the sequence itself.
        let values = Array(self)
        guard let first = values.first else { return .slice(start: 0, end: 0, step: 1) }
        let step = values.count > 1 ? values[1] - first : 1
        return .slice(start: first, end: first + values.count * step, step: step)
    }
}

extension Tensor {
    /// Resolves user indices against this tensor's shape, expanding a leading or inner
    /// ellipsis (`ellipsisAt`) into full slices.
    func resolve(_ indices: [TensorIndex], ellipsisAt: Int?) -> [SliceComponent] {
        let consuming = indices.filter { if case .newAxis = $0 { return false } else { return true } }.count
        emberPrecondition(consuming <= rank, "index: too many indices for tensor of dimension \(rank) (got \(consuming))")
        var expanded = indices
        if let position = ellipsisAt {
            expanded.insert(contentsOf: Array(repeating: TensorIndex.all, count: rank - consuming), at: position)
        } else {
            expanded += Array(repeating: TensorIndex.all, count: rank - consuming)
        }
        var components: [SliceComponent] = []
        var dim = 0
        for index in expanded {
            switch index {
            case .newAxis:
                components.append(.newAxis)
            case .at(let i):
                let size = shape[dim]
                emberPrecondition(i >= -size && i < size, "index: index \(i) is out of bounds for dimension \(dim) with size \(size)")
                components.append(.index(i < 0 ? i + size : i))
                dim += 1
            case .slice(let start, let end, let step):
                emberPrecondition(step > 0, "index: step must be greater than zero (use flip for reversed order)")
                let size = shape[dim]
                func clampBound(_ value: Int?, _ fallback: Int) -> Int {
                    guard var v = value else { return fallback }
                    if v < 0 { v += size }
                    return Swift.min(Swift.max(v, 0), size)
                }
                let lower = clampBound(start, 0), upper = Swift.max(clampBound(end, size), clampBound(start, 0))
                components.append(.range(start: lower, end: upper, step: step))
                dim += 1
            }
        }
        return components
    }

    /// The layout selected by resolved slice components.
    func slicedLayout(_ components: [SliceComponent]) -> Layout {
        var newShape: [Int] = [], newStrides: [Int] = []
        var offset = layout.offset
        var dim = 0
        for component in components {
            switch component {
            case .newAxis:
                newShape.append(1)
                newStrides.append(dim < rank ? shape[dim] * strides[dim] : 1)
            case .index(let i):
                offset += i * strides[dim]
                dim += 1
            case .range(let start, let end, let step):
                let stop = Swift.min(end, shape[dim])
                let length = stop > start ? (stop - start + step - 1) / step : 0
                offset += length > 0 ? start * strides[dim] : 0
                newShape.append(length)
                newStrides.append(strides[dim] * step)
                dim += 1
            }
        }
        return Layout(shape: newShape, strides: newStrides, offset: offset)
    }

    /// The primitive behind subscripts, narrow and select: a strided view of a sub-block.
    /// Its gradient places the incoming gradient into zeros of the input's shape.
    func sliced(_ components: [SliceComponent]) -> Tensor {
        Dispatch.apply(self, { _ in .slice(components) }) { view(as: slicedLayout(components)) }
    }

    /// Zeros of `shape` with `values` written into the slice `components` selects; the
    /// adjoint of `sliced`, and differentiable in `values` (its gradient is the slice again).
    static func embedding(_ values: Tensor, intoZerosOf shape: [Int], dtype: DType, at components: [SliceComponent]) -> Tensor {
        Dispatch.apply(values, { _ in values.dtype == dtype ? .sliceScatter(shape: shape, components) : nil }, name: "sliceBackward",
                       rule: { _ in .primitive(.sliceScatter(shape: shape, components)) }) {
            let result = Tensor.zeros(shape, dtype: dtype)
            CopyKernel.copy(from: values, into: result.view(as: result.slicedLayout(components)))
            return result
        }
    }

    /// Indexes with integers, ranges and strides, PyTorch style; the result is a view.
    public subscript(_ indices: any TensorIndexConvertible...) -> Tensor {
        get { sliced(resolve(indices.map(\.tensorIndex), ellipsisAt: nil)) }
        set { sliced(resolve(indices.map(\.tensorIndex), ellipsisAt: nil)).copy_(newValue) }
    }

    /// `x[..., i]`: the ellipsis stands for all leading dimensions.
    public subscript(_ ellipsis: UnboundedRange, _ indices: any TensorIndexConvertible...) -> Tensor {
        get { sliced(resolve(indices.map(\.tensorIndex), ellipsisAt: 0)) }
        set { sliced(resolve(indices.map(\.tensorIndex), ellipsisAt: 0)).copy_(newValue) }
    }

    /// `x[i, ..., j]`: the ellipsis stands for the dimensions between.
    public subscript(_ first: any TensorIndexConvertible, _ ellipsis: UnboundedRange,
                     _ indices: any TensorIndexConvertible...) -> Tensor {
        get { sliced(resolve([first.tensorIndex] + indices.map(\.tensorIndex), ellipsisAt: 1)) }
        set { sliced(resolve([first.tensorIndex] + indices.map(\.tensorIndex), ellipsisAt: 1)).copy_(newValue) }
    }
}
