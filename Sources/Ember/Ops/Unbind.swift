/// Splitting into pieces that share one autograd node: `unbind`, and the multi-output split
/// the recurrent layers use for their per-step inputs and gates.
///
/// Why not `split` or `select` for this: those return `narrow` views, each with its own
/// node, and each node's backward writes its gradient into a zero tensor of the *whole*
/// input. Cutting a [T, B, G] tensor into T steps that way costs T full-size zero fills in
/// backward (quadratic in the sequence length). One node with T outputs instead receives all
/// T gradients and joins them with a single `cat`, as PyTorch's `unbind` and `split` do
/// (the engine fills the gradients that never arrive with zeros).
extension Tensor {
    /// The slices along `dim`, with that dimension removed, as views sharing one autograd node.
    ///
    ///     Tensor.zeros([3, 2, 4]).unbind(dim: 0).map(\.shape)   // [[2, 4], [2, 4], [2, 4]]
    public func unbind(dim: Int = 0) -> [Tensor] {
        emberPrecondition(rank > 0, "unbind: dimension specified as \(dim) but tensor has no dimensions")
        let axis = normalizedDim(dim, op: "unbind")
        return splitSharingOneNode(sizes: Array(repeating: 1, count: shape[axis]), dim: axis, removingDim: true)
    }

    /// Views of `sizes[i]` elements along `dim` (summing to its size) recorded as one node whose
    /// backward concatenates the pieces' gradients; with `removingDim` every size must be 1 and
    /// the dimension is dropped from each piece.
    func splitSharingOneNode(sizes: [Int], dim: Int, removingDim: Bool = false) -> [Tensor] {
        let axis = normalizedDim(dim, op: "split")
        emberPrecondition(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[axis],
                          "split: split sizes must be non-negative and sum to the size of dimension \(axis) (\(shape[axis])), but got sizes \(sizes)")
        if Tracing.isActive && Tracing.recordingContext != nil {
            // Traced as one slice per piece; each records its own backward rule.
            var start = 0
            return sizes.map { size in
                defer { start += size }
                return removingDim ? select(dim: axis, index: start) : narrow(dim: axis, start: start, length: size)
            }
        }
        var pieces: [Tensor] = []
        pieces.reserveCapacity(sizes.count)
        var start = 0
        for size in sizes {
            let piece = narrowedView(dim: axis, start: start, length: size)
            pieces.append(removingDim ? piece.view(as: Layout(shape: piece.shape.removing(at: axis), strides: piece.strides.removing(at: axis), offset: piece.layout.offset)) : piece)
            start += size
        }
        if GraphRecorder.shouldRecord(self) {
            GraphRecorder.record(removingDim ? "unbind" : "split", inputs: [self], outputs: pieces) { context in
                let gradients = removingDim ? context.gradOutputs.map { $0.unsqueezed(axis) } : context.gradOutputs
                return [Tensor.cat(gradients, dim: axis)]
            }
        }
        return pieces
    }
}

private extension Array {
    func removing(at index: Int) -> [Element] {
        var copy = self
        copy.remove(at: index)
        return copy
    }
}
