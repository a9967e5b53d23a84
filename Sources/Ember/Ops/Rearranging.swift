/// Ops that rearrange elements into a new tensor: flip, roll, repeat, tril/triu, pad.
///
/// Each is a strided copy (`CopyKernel.copy`) between a view of the input and a view of the
/// output, or a composition of other differentiable ops, so none needs an element kernel:
/// - flip reads the input through a layout with negative strides. Such layouts never escape
///   (`sliced` rejects negative steps, as PyTorch does) but the copy kernel walks them fine.
/// - roll copies two blocks per dimension; repeat copies a stride-0 (broadcast) view into
///   the output seen as [r0, s0, r1, s1, …].
/// - tril/triu are `where` with a triangular mask; reflect/replicate padding is a chain of
///   `indexSelect`s. Their gradients come from those ops, and a trace records those ops.
extension Tensor {
    /// The elements in reverse order along each of `dims` (a copy, as in PyTorch).
    ///
    ///     Tensor([1, 2, 3] as [Float]).flip(dims: [0])   // [3, 2, 1]
    public func flip(dims: [Int]) -> Tensor {
        let axes = dims.map { normalizedDim($0, op: "flip") }
        emberPrecondition(Set(axes).count == axes.count, "flip: dim \(dims) appears multiple times in the list of dims")
        return Dispatch.apply(self, { _ in .flip(axes.sorted()) }) {
            var strides = self.strides
            var offset = layout.offset
            for axis in axes where axis < rank && shape[axis] > 1 {
                offset += (shape[axis] - 1) * strides[axis]
                strides[axis] = -strides[axis]
            }
            let result = Tensor(uninitializedShape: shape, dtype: dtype)
            CopyKernel.copy(from: view(as: Layout(shape: shape, strides: strides, offset: offset)), into: result)
            return result
        }
    }

    /// Rotates elements along `dims` by `shifts` (elements pushed off the end come back at the
    /// start). With no dims the tensor is rolled as if flattened, then restored to its shape.
    ///
    ///     Tensor.arange(5).roll(shifts: [2])            // [3, 4, 0, 1, 2]
    ///     x.roll(shifts: [1, -1], dims: [0, 1])
    public func roll(shifts: [Int], dims: [Int] = []) -> Tensor {
        // A trace records one ``Primitive/roll(shift:dim:)`` per dimension.
        do {
            if dims.isEmpty {
                emberPrecondition(shifts.count == 1, "roll: without dims, expected exactly one shift, but got shifts \(shifts)")
                return flattened().rolled(by: shifts[0], along: 0).reshaped(shape)
            }
            emberPrecondition(shifts.count == dims.count,
                         "roll: shifts and dims must align; got \(shifts.count) shifts \(shifts) and \(dims.count) dims \(dims)")
            var result = self
            for (shift, dim) in zip(shifts, dims) {
                result = result.rolled(by: shift, along: normalizedDim(dim, op: "roll"))
            }
            // Always a new tensor, as in PyTorch, even when every shift is zero.
            return result === self ? contiguousCopy() : result
        }
    }

    /// Roll along one dimension: two block copies.
    func rolled(by shift: Int, along axis: Int) -> Tensor {
        Dispatch.apply(self, { _ in .roll(shift: shift, dim: axis) }) { rolledUntraced(by: shift, along: axis) }
    }

    private func rolledUntraced(by shift: Int, along axis: Int) -> Tensor {
        let length = shape[axis]
        guard length > 0 else { return withoutGrad { contiguousCopy() } }
        let s = ((shift % length) + length) % length
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        CopyKernel.copy(from: narrowedView(dim: axis, start: 0, length: length - s),
                        into: result.narrowedView(dim: axis, start: s, length: length - s))
        CopyKernel.copy(from: narrowedView(dim: axis, start: length - s, length: s),
                        into: result.narrowedView(dim: axis, start: 0, length: s))
        return result
    }

    /// Tiles the tensor `repeats[i]` times along each dimension (PyTorch's `repeat`). Extra
    /// leading repeats add dimensions.
    ///
    ///     Tensor([1, 2] as [Float]).repeated([2, 3])   // shape [2, 6]
    public func repeated(_ repeats: [Int]) -> Tensor {
        Dispatch.apply(self, { _ in .repeat(repeats) }) {
            emberPrecondition(repeats.count >= rank,
                         "repeat: number of dimensions of repeat dims (\(repeats.count)) can not be smaller than number of dimensions of tensor (\(rank)); got repeats \(repeats) for shape \(shape)")
            emberPrecondition(repeats.allSatisfy { $0 >= 0 }, "repeat: repeats must be non-negative, but got \(repeats)")
            let lead = repeats.count - rank
            let paddedShape = Array(repeating: 1, count: lead) + shape
            let paddedStrides = Array(repeating: 0, count: lead) + strides
            // The output seen as [r0, s0, r1, s1, …]; the input is read with stride 0 along each r.
            let interleavedShape = zip(repeats, paddedShape).flatMap { [$0, $1] }
            let sourceStrides = paddedStrides.flatMap { [0, $0] }
            let result = Tensor(uninitializedShape: zip(repeats, paddedShape).map(*), dtype: dtype)
            CopyKernel.copy(from: view(as: Layout(shape: interleavedShape, strides: sourceStrides, offset: layout.offset)),
                            into: result.view(as: Layout(contiguous: interleavedShape)))
            return result
        }
    }

    /// The lower triangle of the last two dimensions: elements with column - row <= `diagonal`
    /// are kept, the others set to zero.
    ///
    ///     Tensor.ones([3, 3]).tril()   // [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    public func tril(diagonal: Int = 0) -> Tensor { triangle(lower: true, diagonal: diagonal, op: "tril") }

    /// The upper triangle of the last two dimensions: elements with column - row >= `diagonal`
    /// are kept, the others set to zero.
    ///
    ///     Tensor.ones([3, 3]).triu(diagonal: 1)   // [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    public func triu(diagonal: Int = 0) -> Tensor { triangle(lower: false, diagonal: diagonal, op: "triu") }

    private func triangle(lower: Bool, diagonal: Int, op: String) -> Tensor {
        // A graph records the mask as a constant and the `where`.
        emberPrecondition(rank >= 2, "\(op): input tensor must have at least 2 dimensions, but got shape \(shape)")
        let rows = shape[rank - 2], columns = shape[rank - 1]
        var keep = [Bool](repeating: false, count: rows * columns)
        for row in 0..<rows {
            for column in 0..<columns {
                keep[row * columns + column] = lower ? column - row <= diagonal : column - row >= diagonal
            }
        }
        let mask = Tensor(shape: [rows, columns], scalars: keep)
        return Tensor.where(mask, self, Tensor.zeros([], dtype: dtype))
    }
}

// MARK: - Padding

/// How `pad` fills the new border.
public enum PaddingMode: Sendable, Equatable {
    /// A constant value (negative padding crops).
    case constant(Double)
    /// Mirror images of the input, not repeating the edge: [1, 2, 3] padded by 2 -> [3, 2, 1, 2, 3, 2, 1].
    case reflect
    /// Copies of the edge element: [1, 2, 3] padded by 2 -> [1, 1, 1, 2, 3, 3, 3].
    case replicate
}

extension Tensor {
    /// Pads the trailing dimensions, PyTorch's `F.pad`: `padding` lists (before, after) pairs
    /// starting from the last dimension — `[left, right, top, bottom, …]`.
    ///
    ///     images.pad([1, 1, 2, 2])                        // W + 2, H + 4, zeros
    ///     x.pad([2, 2], mode: .reflect)
    ///
    /// Unlike PyTorch, reflect and replicate work on any number of trailing dimensions and
    /// need no batch dimension.
    public func pad(_ padding: [Int], mode: PaddingMode = .constant(0)) -> Tensor {
        emberPrecondition(padding.count % 2 == 0 && padding.count / 2 <= rank,
                     "pad: padding length must be divisible by 2 and at most twice the number of dimensions of the input, but got \(padding.count) values \(padding) for a tensor of shape \(shape)")
        let pairs = (0..<padding.count / 2).map { (dim: rank - 1 - $0, before: padding[2 * $0], after: padding[2 * $0 + 1]) }
        switch mode {
        case .constant(let value):
            return constantPadded(pairs, value: value)
        case .reflect, .replicate:
            let name = mode == .reflect ? "reflect" : "replicate"
            var result = self
            for (dim, before, after) in pairs where before != 0 || after != 0 {
                let length = shape[dim]
                emberPrecondition(before >= 0 && after >= 0,
                             "pad: \(name) padding must be non-negative, but got (\(before), \(after)) at dimension \(dim) of input \(shape)")
                if mode == .reflect {
                    emberPrecondition(before < length && after < length,
                                 "pad: reflect padding size should be less than the corresponding input dimension, but got padding (\(before), \(after)) at dimension \(dim) of input \(shape)")
                } else {
                    emberPrecondition(length > 0, "pad: replicate padding needs a non-empty dimension, but dimension \(dim) of input \(shape) is empty")
                }
                let positions = (0..<(length + before + after)).map { output -> Int in
                    let i = output - before
                    if mode == .replicate { return Swift.min(Swift.max(i, 0), length - 1) }
                    return i < 0 ? -i : (i >= length ? 2 * (length - 1) - i : i)
                }
                result = result.indexSelect(dim: dim, index: Tensor(positions))
            }
            return result === self ? contiguousCopy() : result
        }
    }

    /// Constant padding: fill, then copy the overlap of input and output. Its adjoint is
    /// constant padding of the gradient by the negated amounts (crop where we padded, zeros
    /// where we cropped).
    private func constantPadded(_ pairs: [(dim: Int, before: Int, after: Int)], value: Double) -> Tensor {
        var padding = [Int](repeating: 0, count: 2 * rank)
        for (dim, before, after) in pairs { (padding[2 * dim], padding[2 * dim + 1]) = (before, after) }
        return constantPadded(everyDimension: padding, value: value)
    }

    /// Constant padding by (before, after) pairs for every dimension in order:
    /// ``Primitive/constantPad(_:value:)``.
    func constantPadded(everyDimension padding: [Int], value: Double) -> Tensor {
        Dispatch.apply(self, { _ in .constantPad(padding, value: value) }) {
            constantPaddedUntraced((0..<rank).map { (dim: $0, before: padding[2 * $0], after: padding[2 * $0 + 1]) }, value: value)
        }
    }

    private func constantPaddedUntraced(_ pairs: [(dim: Int, before: Int, after: Int)], value: Double) -> Tensor {
        var outputShape = shape
        var source = [SliceComponent](repeating: .range(start: 0, end: Int.max, step: 1), count: rank)
        var destination = source
        for (dim, before, after) in pairs {
            let length = shape[dim]
            outputShape[dim] = length + before + after
            emberPrecondition(outputShape[dim] >= 0,
                         "pad: the input size \(length) plus negative padding (\(before), \(after)) at dimension \(dim) resulted in a negative output size \(outputShape[dim])")
            let start = Swift.max(-before, 0)
            let kept = Swift.max(length - start - Swift.max(-after, 0), 0)
            source[dim] = .range(start: start, end: start + kept, step: 1)
            destination[dim] = .range(start: Swift.max(before, 0), end: Swift.max(before, 0) + kept, step: 1)
        }
        let result = Tensor.full(outputShape, value, dtype: dtype)
        CopyKernel.copy(from: view(as: slicedLayout(source)), into: result.view(as: result.slicedLayout(destination)))
        return result
    }
}
