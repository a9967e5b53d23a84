// Attention as a function: `scaledDotProductAttention` (PyTorch's
// `torch.nn.functional.scaled_dot_product_attention`, its "math" path) and the mask helpers
// shared with `MultiheadAttention`.
//
// Composed from matmul, softmax and masking ops, so it has no backward rule of its own and
// higher-order gradients work. A fused (flash-style) kernel would avoid materialising the
// [L, S] score matrix; at the sizes Ember runs on the CPU the two matmuls dominate.

extension Functional {
    /// softmax(query · keyᵀ · scale + mask) · value over the last two dimensions, like
    /// `torch.nn.functional.scaled_dot_product_attention`.
    ///
    /// - query: [*, L, E]; key: [*, S, E]; value: [*, S, Ev]; the batch dimensions broadcast.
    /// - attnMask: broadcastable to [*, L, S]. A **bool** mask says which positions may be
    ///   attended (true = keep, as in PyTorch's function; `MultiheadAttention` uses the opposite
    ///   convention, like PyTorch's module); a **float** mask is added to the scores.
    /// - isCausal: attend only to keys at positions ≤ the query's (top-left aligned when
    ///   L ≠ S); cannot be combined with `attnMask`.
    /// - scale: defaults to 1/√E.
    /// - dropoutP: dropout on the attention weights (always applied when > 0, as in PyTorch:
    ///   pass 0 in evaluation).
    ///
    ///     let out = F.scaledDotProductAttention(query: q, key: k, value: v, isCausal: true)   // [*, L, Ev]
    ///
    /// A query row whose keys are all masked out gets NaN, as in PyTorch's math path.
    public static func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, attnMask: Tensor? = nil,
                                                 dropoutP: Double = 0, isCausal: Bool = false, scale: Double? = nil,
                                                 generator: RandomGenerator = .default) -> Tensor {
        emberPrecondition(query.rank >= 2 && key.rank >= 2 && value.rank >= 2,
                          "scaled_dot_product_attention: query, key and value must be at least 2-D, got \(query.shape), \(key.shape), \(value.shape)")
        emberPrecondition(query.shape.last == key.shape.last,
                          "scaled_dot_product_attention: query and key must have the same embedding size, got \(query.shape) and \(key.shape)")
        emberPrecondition(key.shape[key.rank - 2] == value.shape[value.rank - 2],
                          "scaled_dot_product_attention: key and value must have the same sequence length, got \(key.shape) and \(value.shape)")
        emberPrecondition(!(isCausal && attnMask != nil),
                          "scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
        let queryLength = query.shape[query.rank - 2], keyLength = key.shape[key.rank - 2]
        var additive: Tensor? = nil
        if isCausal {
            additive = AttentionMask.additive(keep: AttentionMask.causal(queryLength, keyLength), dtype: query.dtype)
        } else if let attnMask {
            additive = attnMask.dtype == .bool ? AttentionMask.additive(keep: attnMask, dtype: query.dtype) : attnMask
        }
        return attention(query: query, key: key, value: value, additiveMask: additive, dropoutP: dropoutP,
                         scale: scale ?? 1 / Double(query.shape.last!).squareRoot(), generator: generator).output
    }

    /// The attention core: (softmax(q kᵀ · scale + mask) dropped out) · v, and the weights.
    static func attention(query: Tensor, key: Tensor, value: Tensor, additiveMask: Tensor?, dropoutP: Double,
                          scale: Double, generator: RandomGenerator) -> (output: Tensor, weights: Tensor) {
        var scores = query.matmul(key.transposed(-2, -1)) * scale
        if let additiveMask { scores = scores + additiveMask }
        var weights = scores.softmax(dim: -1)
        if dropoutP > 0 { weights = dropout(weights, p: dropoutP, training: true, generator: generator) }
        return (weights.matmul(value), weights)
    }
}

/// Mask conversions shared by the attention function and module.
enum AttentionMask {
    /// [L, S] bool, true where key position ≤ query position (top-left aligned, as PyTorch).
    static func causal(_ queryLength: Int, _ keyLength: Int) -> Tensor {
        Tensor.arange(keyLength).unsqueezed(0) .<= Tensor.arange(queryLength).unsqueezed(1)
    }

    /// 0 where `keep` is true, −∞ where it is false, in `dtype`.
    static func additive(keep: Tensor, dtype: DType) -> Tensor {
        Tensor.zeros(keep.shape, dtype: dtype).maskedFill(keep.logicalNot(), -Double.infinity)
    }

    /// 0 where `drop` is false, −∞ where it is true (nn.MultiheadAttention's bool convention);
    /// float masks are returned as they are (converted to `dtype`).
    static func additive(drop: Tensor, dtype: DType) -> Tensor {
        drop.dtype == .bool ? Tensor.zeros(drop.shape, dtype: dtype).maskedFill(drop, -Double.infinity) : drop.to(dtype)
    }
}
