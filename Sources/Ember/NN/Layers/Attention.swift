// `MultiheadAttention`, like `torch.nn.MultiheadAttention`, with PyTorch's parameter names
// (`in_proj_weight`, `in_proj_bias`, `out_proj.weight`, `out_proj.bias`, or
// `q_proj_weight`/`k_proj_weight`/`v_proj_weight` when kdim/vdim differ from embedDim).
//
// Internally everything runs batch-first as [B, heads, L, headDim]: the inputs are transposed
// (a view) when `batchFirst` is false. Self-attention (query, key and value the same tensor)
// projects with one [*, E] · [E, 3E] product; otherwise the packed weight is cut into three
// blocks sharing one autograd node.

/// Attention over `numHeads` heads of size embedDim / numHeads, with input and output
/// projections, like `torch.nn.MultiheadAttention`.
///
///     let attention = MultiheadAttention(embedDim: 64, numHeads: 4, batchFirst: true)
///     let x = Tensor.randn([8, 10, 64])
///     let (output, weights) = attention(query: x, key: x, value: x)   // [8, 10, 64], [8, 10, 10]
///
/// Masks follow the module's PyTorch conventions: in a **bool** `attnMask` or
/// `keyPaddingMask`, true marks a position that may *not* be attended; float masks are added
/// to the attention scores.
public final class MultiheadAttention: Module {
    /// [embedDim, embedDim] (`q_proj_weight`), only when kdim or vdim differ from embedDim.
    @Parameter("q_proj_weight") public var qProjWeight: Tensor?
    /// [embedDim, kdim] (`k_proj_weight`), only when kdim or vdim differ from embedDim.
    @Parameter("k_proj_weight") public var kProjWeight: Tensor?
    /// [embedDim, vdim] (`v_proj_weight`), only when kdim or vdim differ from embedDim.
    @Parameter("v_proj_weight") public var vProjWeight: Tensor?
    /// [3·embedDim, embedDim], the query, key and value projections stacked (`in_proj_weight`).
    @Parameter("in_proj_weight") public var inProjWeight: Tensor?
    /// [3·embedDim] (`in_proj_bias`), nil without bias.
    @Parameter("in_proj_bias") public var inProjBias: Tensor?
    /// The output projection (`out_proj`).
    public let outProj: Linear
    /// Model width.
    public let embedDim: Int
    /// Number of heads; embedDim must be divisible by it.
    public let numHeads: Int
    /// Width of each head.
    public var headDim: Int { embedDim / numHeads }
    /// Features of the keys and values.
    public let kdim: Int, vdim: Int
    /// Dropout probability on the attention weights (training only).
    public let dropout: Double
    /// Inputs and outputs are [batch, seq, feature] rather than [seq, batch, feature].
    public let batchFirst: Bool
    /// Source of the dropout masks.
    public let generator: RandomGenerator

    /// A module with PyTorch's initialisation: Xavier-uniform input projections, zero
    /// biases, and a `Linear` output projection.
    ///
    ///     MultiheadAttention(embedDim: 16, numHeads: 2, kdim: 8, vdim: 8)   // cross-attention from 8 features
    public init(embedDim: Int, numHeads: Int, dropout: Double = 0, bias: Bool = true, batchFirst: Bool = false,
                kdim: Int? = nil, vdim: Int? = nil, dtype: DType = .float32, generator: RandomGenerator = .default) {
        emberPrecondition(embedDim > 0 && numHeads > 0, "MultiheadAttention: embed_dim and num_heads must be greater than 0, got embed_dim=\(embedDim) and num_heads=\(numHeads) instead")
        emberPrecondition(embedDim % numHeads == 0, "MultiheadAttention: embed_dim must be divisible by num_heads")
        self.embedDim = embedDim
        self.numHeads = numHeads
        self.kdim = kdim ?? embedDim
        self.vdim = vdim ?? embedDim
        self.dropout = dropout
        self.batchFirst = batchFirst
        self.generator = generator
        outProj = Linear(embedDim, embedDim, bias: bias, dtype: dtype)
        super.init()
        if self.kdim == embedDim && self.vdim == embedDim {
            inProjWeight = Tensor.zeros([3 * embedDim, embedDim], dtype: dtype)
        } else {
            qProjWeight = Tensor.zeros([embedDim, embedDim], dtype: dtype)
            kProjWeight = Tensor.zeros([embedDim, self.kdim], dtype: dtype)
            vProjWeight = Tensor.zeros([embedDim, self.vdim], dtype: dtype)
        }
        inProjBias = bias ? Tensor.zeros([3 * embedDim], dtype: dtype) : nil
        resetParameters()
    }

    /// Re-initialises as at construction (the output projection's weight keeps `Linear`'s
    /// initialisation, its bias becomes zero, as in PyTorch).
    public func resetParameters() {
        for weight in [inProjWeight, qProjWeight, kProjWeight, vProjWeight].compactMap({ $0 }) {
            Initializers.xavierUniform_(weight, generator: generator)
        }
        outProj.resetParameters()
        if let inProjBias { Initializers.zeros_(inProjBias) }
        if let bias = outProj.bias { Initializers.zeros_(bias) }
    }

    /// Attends from `query` to `key`/`value`.
    ///
    /// - query: [L, B, E] ([B, L, E] when `batchFirst`, [L, E] unbatched); key: [S, B, kdim];
    ///   value: [S, B, vdim].
    /// - keyPaddingMask: [B, S] ([S] unbatched); true (or −∞) ignores that key.
    /// - attnMask: [L, S] or [B·numHeads, L, S]; true (or −∞) forbids that pair.
    /// - isCausal: with no `attnMask`, builds the causal mask; with one, it is only a hint
    ///   (PyTorch requires the mask and treats the flag as a hint).
    /// - Returns: the output, shaped like `query`, and, when `needWeights`, the attention
    ///   weights [B, L, S] averaged over heads (or [B, numHeads, L, S]).
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil,
                               needWeights: Bool = true, attnMask: Tensor? = nil, averageAttnWeights: Bool = true,
                               isCausal: Bool = false) -> (output: Tensor, weights: Tensor?) {
        emberPrecondition(query.rank == 2 || query.rank == 3,
                          "MultiheadAttention: query should be unbatched 2D or batched 3D tensor but received \(query.rank)-D query tensor")
        emberPrecondition(key.rank == query.rank && value.rank == query.rank,
                          "MultiheadAttention: For \(query.rank == 3 ? "batched (3-D)" : "unbatched (2-D)") `query`, expected `key` and `value` to be \(query.rank)-D but found \(key.rank)-D and \(value.rank)-D tensors respectively")
        emberPrecondition(query.shape.last == embedDim, "MultiheadAttention: was expecting embedding dimension of \(embedDim), but got \(query.shape.last!)")
        emberPrecondition(key.shape.last == kdim && value.shape.last == vdim,
                          "MultiheadAttention: expected key and value with \(kdim) and \(vdim) features, got \(key.shape) and \(value.shape)")
        let batched = query.rank == 3
        // Batch-first [B, L, E] from here on.
        func batchFirstView(_ x: Tensor) -> Tensor { batched ? (batchFirst ? x : x.transposed(0, 1)) : x.unsqueezed(0) }
        let q = batchFirstView(query), k = batchFirstView(key), v = batchFirstView(value)
        let batch = q.shape[0], queryLength = q.shape[1], keyLength = k.shape[1]
        emberPrecondition(k.shape[0] == batch && v.shape[0] == batch && v.shape[1] == keyLength,
                          "MultiheadAttention: key and value must have the same batch and sequence sizes as each other and the query's batch, got query \(query.shape), key \(key.shape), value \(value.shape)")

        let (projectedQuery, projectedKey, projectedValue) = project(q, k, v, isSelfAttention: query === key && key === value)
        func heads(_ x: Tensor, _ length: Int) -> Tensor {
            x.reshaped([batch, length, numHeads, headDim]).permuted(0, 2, 1, 3)
        }
        let mask = combinedMask(attnMask: attnMask, keyPaddingMask: keyPaddingMask, isCausal: isCausal, batched: batched,
                                batch: batch, queryLength: queryLength, keyLength: keyLength, dtype: q.dtype)
        let (attended, weights) = Functional.attention(
            query: heads(projectedQuery, queryLength), key: heads(projectedKey, keyLength),
            value: heads(projectedValue, keyLength), additiveMask: mask, dropoutP: isTraining ? dropout : 0,
            scale: 1 / Double(headDim).squareRoot(), generator: generator)
        var output = outProj(attended.permuted(0, 2, 1, 3).reshaped([batch, queryLength, embedDim]))
        output = batched ? (batchFirst ? output : output.transposed(0, 1)) : output.squeezed(0)
        guard needWeights else { return (output, nil) }
        var returned = averageAttnWeights ? weights.mean(dim: 1) : weights
        if !batched { returned = returned.squeezed(0) }
        return (output, returned)
    }

    /// The three input projections, [B, L, E] each.
    private func project(_ q: Tensor, _ k: Tensor, _ v: Tensor, isSelfAttention: Bool) -> (Tensor, Tensor, Tensor) {
        let biases = inProjBias?.splitSharingOneNode(sizes: [embedDim, embedDim, embedDim], dim: 0)
        guard let packed = inProjWeight else {
            return (Functional.linear(q, weight: qProjWeight!, bias: biases?[0]),
                    Functional.linear(k, weight: kProjWeight!, bias: biases?[1]),
                    Functional.linear(v, weight: vProjWeight!, bias: biases?[2]))
        }
        if isSelfAttention {
            let all = Functional.linear(q, weight: packed, bias: inProjBias)
                .splitSharingOneNode(sizes: [embedDim, embedDim, embedDim], dim: -1)
            return (all[0], all[1], all[2])
        }
        let weights = packed.splitSharingOneNode(sizes: [embedDim, embedDim, embedDim], dim: 0)
        return (Functional.linear(q, weight: weights[0], bias: biases?[0]),
                Functional.linear(k, weight: weights[1], bias: biases?[1]),
                Functional.linear(v, weight: weights[2], bias: biases?[2]))
    }

    /// The attention and key-padding masks merged into one additive mask broadcastable to
    /// [B, heads, L, S], or nil when there is none.
    private func combinedMask(attnMask: Tensor?, keyPaddingMask: Tensor?, isCausal: Bool, batched: Bool,
                              batch: Int, queryLength: Int, keyLength: Int, dtype: DType) -> Tensor? {
        var mask: Tensor? = nil
        if let attnMask {
            var additive = AttentionMask.additive(drop: attnMask, dtype: dtype)
            if attnMask.rank == 2 {
                emberPrecondition(attnMask.shape == [queryLength, keyLength],
                                  "MultiheadAttention: The shape of the 2D attn_mask is \(attnMask.shape), but should be \([queryLength, keyLength]).")
            } else {
                emberPrecondition(attnMask.rank == 3 && attnMask.shape == [batch * numHeads, queryLength, keyLength],
                                  "MultiheadAttention: The shape of the 3D attn_mask is \(attnMask.shape), but should be \([batch * numHeads, queryLength, keyLength]).")
                additive = additive.reshaped([batch, numHeads, queryLength, keyLength])
            }
            mask = additive
        } else if isCausal {
            mask = AttentionMask.additive(keep: AttentionMask.causal(queryLength, keyLength), dtype: dtype)
        }
        if let keyPaddingMask {
            let expected = batched ? [batch, keyLength] : [keyLength]
            emberPrecondition(keyPaddingMask.shape == expected,
                              "MultiheadAttention: expecting key_padding_mask shape of \(expected), but got \(keyPaddingMask.shape)")
            let padding = AttentionMask.additive(drop: keyPaddingMask, dtype: dtype).reshaped([batch, 1, 1, keyLength])
            mask = mask.map { $0 + padding } ?? padding
        }
        return mask
    }

    public override var extraDescription: String { "embed_dim=\(embedDim), num_heads=\(numHeads)" }
}
