// Transformer layers: `TransformerEncoderLayer`, `TransformerEncoder`,
// `TransformerDecoderLayer`, `TransformerDecoder`, like PyTorch's, with its submodule names
// (`self_attn`, `linear1`, `dropout`, `linear2`, `norm1`, `norm2`, `dropout1`, `dropout2`,
// `multihead_attn`, `norm3`, `dropout3`, `layers.0…`), so PyTorch state dicts load by name.
//
// The stacks copy their layer through its state dict (`copy()`), which keeps the copies
// independent (PyTorch deep-copies); a factory closure is the alternative for layers that
// should differ.

/// The feed-forward nonlinearity of a transformer layer.
public enum TransformerActivation: Sendable {
    case relu, gelu

    func callAsFunction(_ x: Tensor) -> Tensor { self == .relu ? x.relu() : x.gelu() }

    var pytorchName: String { self == .relu ? "relu" : "gelu" }
}

/// Self-attention and a feed-forward block, each with a residual connection and layer
/// normalisation (after the residual sum, or before the block with `normFirst`), like
/// `torch.nn.TransformerEncoderLayer`.
///
///     let layer = TransformerEncoderLayer(dModel: 128, nhead: 4, batchFirst: true)
///     let y = layer(Tensor.randn([8, 64, 128]))   // [8, 64, 128]
public final class TransformerEncoderLayer: Module, Layer {
    /// The self-attention (`self_attn`).
    public let selfAttn: MultiheadAttention
    /// dModel → dimFeedforward.
    public let linear1: Linear
    /// Dropout after the activation.
    public let dropout: Dropout
    /// dimFeedforward → dModel.
    public let linear2: Linear
    /// Normalisation around the attention block.
    public let norm1: LayerNorm
    /// Normalisation around the feed-forward block.
    public let norm2: LayerNorm
    /// Dropout on the attention block's output.
    public let dropout1: Dropout
    /// Dropout on the feed-forward block's output.
    public let dropout2: Dropout
    /// The feed-forward nonlinearity.
    public let activation: TransformerActivation
    /// Normalise before each block (pre-norm) rather than after the residual sum.
    public let normFirst: Bool
    /// The constructor arguments, kept for `copy()`.
    let configuration: (dModel: Int, nhead: Int, dimFeedforward: Int, dropout: Double, layerNormEps: Double,
                        batchFirst: Bool, bias: Bool, dtype: DType)

    /// A layer with PyTorch's defaults (dimFeedforward 2048, dropout 0.1, relu, post-norm,
    /// sequence-first).
    public init(dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, layerNormEps: Double = 1e-5, batchFirst: Bool = false,
                normFirst: Bool = false, bias: Bool = true, dtype: DType = .float32) {
        selfAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                      batchFirst: batchFirst, dtype: dtype)
        linear1 = Linear(dModel, dimFeedforward, bias: bias, dtype: dtype)
        self.dropout = Dropout(p: dropout)
        linear2 = Linear(dimFeedforward, dModel, bias: bias, dtype: dtype)
        norm1 = LayerNorm(normalizedShape: [dModel], eps: layerNormEps, bias: bias, dtype: dtype)
        norm2 = LayerNorm(normalizedShape: [dModel], eps: layerNormEps, bias: bias, dtype: dtype)
        dropout1 = Dropout(p: dropout)
        dropout2 = Dropout(p: dropout)
        self.activation = activation
        self.normFirst = normFirst
        configuration = (dModel, nhead, dimFeedforward, dropout, layerNormEps, batchFirst, bias, dtype)
        super.init()
    }

    /// Runs the layer on `src` ([S, B, dModel], or [B, S, dModel] when `batchFirst`).
    /// `srcMask` ([S, S] or [B·nhead, S, S]) and `srcKeyPaddingMask` ([B, S]) follow
    /// `MultiheadAttention`'s conventions (bool true = not attended, floats added);
    /// `isCausal` builds the causal mask when `srcMask` is nil.
    public func callAsFunction(_ src: Tensor, srcMask: Tensor? = nil, srcKeyPaddingMask: Tensor? = nil,
                               isCausal: Bool = false) -> Tensor {
        var x = src
        if normFirst {
            x = x + selfAttentionBlock(norm1(x), srcMask, srcKeyPaddingMask, isCausal)
            x = x + feedForwardBlock(norm2(x))
        } else {
            x = norm1(x + selfAttentionBlock(x, srcMask, srcKeyPaddingMask, isCausal))
            x = norm2(x + feedForwardBlock(x))
        }
        return x
    }

    /// Runs the layer without masks.
    public func callAsFunction(_ input: Tensor) -> Tensor { callAsFunction(input, srcMask: nil) }

    private func selfAttentionBlock(_ x: Tensor, _ mask: Tensor?, _ keyPaddingMask: Tensor?, _ isCausal: Bool) -> Tensor {
        dropout1(selfAttn(query: x, key: x, value: x, keyPaddingMask: keyPaddingMask, needWeights: false,
                          attnMask: mask, isCausal: isCausal).output)
    }

    private func feedForwardBlock(_ x: Tensor) -> Tensor {
        dropout2(linear2(dropout(activation(linear1(x)))))
    }

    /// An independent layer with the same configuration, values and mode.
    ///
    ///     let second = layer.copy()
    public func copy() -> TransformerEncoderLayer {
        let c = configuration
        let result = TransformerEncoderLayer(dModel: c.dModel, nhead: c.nhead, dimFeedforward: c.dimFeedforward,
                                             dropout: c.dropout, activation: activation, layerNormEps: c.layerNormEps,
                                             batchFirst: c.batchFirst, normFirst: normFirst, bias: c.bias, dtype: c.dtype)
        copyState(from: self, into: result)
        return result
    }
}

/// A stack of encoder layers and an optional final normalisation, like
/// `torch.nn.TransformerEncoder`; the layers are `layers.0`, `layers.1`, ….
///
///     let encoder = TransformerEncoder(layer: TransformerEncoderLayer(dModel: 64, nhead: 4), numLayers: 6)
///     let y = encoder(x, mask: causalMask)
public final class TransformerEncoder: Module, Layer {
    /// The layers, applied in order.
    public let layers: ModuleList<TransformerEncoderLayer>
    /// Applied to the last layer's output when present.
    public let norm: LayerNorm?

    /// `numLayers` independent copies of `layer` (same starting values, as PyTorch's deep copy).
    public convenience init(layer: TransformerEncoderLayer, numLayers: Int, norm: LayerNorm? = nil) {
        self.init(numLayers: numLayers, norm: norm) { _ in layer.copy() }
    }

    /// The layers made by `makeLayer(index)`.
    ///
    ///     TransformerEncoder(numLayers: 2) { _ in TransformerEncoderLayer(dModel: 32, nhead: 4) }
    public init(numLayers: Int, norm: LayerNorm? = nil, makeLayer: (Int) -> TransformerEncoderLayer) {
        emberPrecondition(numLayers > 0, "TransformerEncoder: num_layers must be positive, got \(numLayers)")
        layers = ModuleList((0..<numLayers).map(makeLayer))
        self.norm = norm
        super.init()
    }

    /// Runs every layer with the same masks, then `norm`.
    public func callAsFunction(_ src: Tensor, mask: Tensor? = nil, srcKeyPaddingMask: Tensor? = nil,
                               isCausal: Bool = false) -> Tensor {
        var x = src
        for layer in layers { x = layer(x, srcMask: mask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: isCausal) }
        return norm.map { $0(x) } ?? x
    }

    /// Runs the stack without masks.
    public func callAsFunction(_ input: Tensor) -> Tensor { callAsFunction(input, mask: nil) }
}

/// Self-attention, cross-attention to an encoder's output (`memory`) and a feed-forward block,
/// each with a residual connection and layer normalisation, like
/// `torch.nn.TransformerDecoderLayer`.
///
///     let layer = TransformerDecoderLayer(dModel: 64, nhead: 4, batchFirst: true)
///     let y = layer(target, memory: encoded, tgtIsCausal: true)
public final class TransformerDecoderLayer: Module {
    /// The self-attention over the target (`self_attn`).
    public let selfAttn: MultiheadAttention
    /// The attention from target to memory (`multihead_attn`).
    public let multiheadAttn: MultiheadAttention
    /// dModel → dimFeedforward.
    public let linear1: Linear
    /// Dropout after the activation.
    public let dropout: Dropout
    /// dimFeedforward → dModel.
    public let linear2: Linear
    /// Normalisation around the self-attention, cross-attention and feed-forward blocks.
    public let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
    /// Dropout on the output of each block.
    public let dropout1: Dropout, dropout2: Dropout, dropout3: Dropout
    /// The feed-forward nonlinearity.
    public let activation: TransformerActivation
    /// Normalise before each block (pre-norm) rather than after the residual sum.
    public let normFirst: Bool
    let configuration: (dModel: Int, nhead: Int, dimFeedforward: Int, dropout: Double, layerNormEps: Double,
                        batchFirst: Bool, bias: Bool, dtype: DType)

    /// A layer with PyTorch's defaults (dimFeedforward 2048, dropout 0.1, relu, post-norm,
    /// sequence-first).
    public init(dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, layerNormEps: Double = 1e-5, batchFirst: Bool = false,
                normFirst: Bool = false, bias: Bool = true, dtype: DType = .float32) {
        selfAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                      batchFirst: batchFirst, dtype: dtype)
        multiheadAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                           batchFirst: batchFirst, dtype: dtype)
        linear1 = Linear(dModel, dimFeedforward, bias: bias, dtype: dtype)
        self.dropout = Dropout(p: dropout)
        linear2 = Linear(dimFeedforward, dModel, bias: bias, dtype: dtype)
        norm1 = LayerNorm(normalizedShape: [dModel], eps: layerNormEps, bias: bias, dtype: dtype)
        norm2 = LayerNorm(normalizedShape: [dModel], eps: layerNormEps, bias: bias, dtype: dtype)
        norm3 = LayerNorm(normalizedShape: [dModel], eps: layerNormEps, bias: bias, dtype: dtype)
        dropout1 = Dropout(p: dropout)
        dropout2 = Dropout(p: dropout)
        dropout3 = Dropout(p: dropout)
        self.activation = activation
        self.normFirst = normFirst
        configuration = (dModel, nhead, dimFeedforward, dropout, layerNormEps, batchFirst, bias, dtype)
        super.init()
    }

    /// Runs the layer on `tgt` attending to `memory` (both sequence-first unless `batchFirst`).
    /// Masks follow `MultiheadAttention`'s conventions; `tgtIsCausal` / `memoryIsCausal` build
    /// causal masks when the corresponding mask is nil.
    public func callAsFunction(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                               tgtIsCausal: Bool = false, memoryIsCausal: Bool = false) -> Tensor {
        func selfBlock(_ x: Tensor) -> Tensor {
            dropout1(selfAttn(query: x, key: x, value: x, keyPaddingMask: tgtKeyPaddingMask, needWeights: false,
                              attnMask: tgtMask, isCausal: tgtIsCausal).output)
        }
        func crossBlock(_ x: Tensor) -> Tensor {
            dropout2(multiheadAttn(query: x, key: memory, value: memory, keyPaddingMask: memoryKeyPaddingMask,
                                   needWeights: false, attnMask: memoryMask, isCausal: memoryIsCausal).output)
        }
        func feedForward(_ x: Tensor) -> Tensor { dropout3(linear2(dropout(activation(linear1(x))))) }
        var x = tgt
        if normFirst {
            x = x + selfBlock(norm1(x))
            x = x + crossBlock(norm2(x))
            x = x + feedForward(norm3(x))
        } else {
            x = norm1(x + selfBlock(x))
            x = norm2(x + crossBlock(x))
            x = norm3(x + feedForward(x))
        }
        return x
    }

    /// An independent layer with the same configuration, values and mode.
    public func copy() -> TransformerDecoderLayer {
        let c = configuration
        let result = TransformerDecoderLayer(dModel: c.dModel, nhead: c.nhead, dimFeedforward: c.dimFeedforward,
                                             dropout: c.dropout, activation: activation, layerNormEps: c.layerNormEps,
                                             batchFirst: c.batchFirst, normFirst: normFirst, bias: c.bias, dtype: c.dtype)
        copyState(from: self, into: result)
        return result
    }
}

/// A stack of decoder layers and an optional final normalisation, like
/// `torch.nn.TransformerDecoder`.
///
///     let decoder = TransformerDecoder(layer: TransformerDecoderLayer(dModel: 64, nhead: 4), numLayers: 2)
///     let y = decoder(target, memory: encoded, tgtIsCausal: true)
public final class TransformerDecoder: Module {
    /// The layers, applied in order.
    public let layers: ModuleList<TransformerDecoderLayer>
    /// Applied to the last layer's output when present.
    public let norm: LayerNorm?

    /// `numLayers` independent copies of `layer`.
    public convenience init(layer: TransformerDecoderLayer, numLayers: Int, norm: LayerNorm? = nil) {
        self.init(numLayers: numLayers, norm: norm) { _ in layer.copy() }
    }

    /// The layers made by `makeLayer(index)`.
    public init(numLayers: Int, norm: LayerNorm? = nil, makeLayer: (Int) -> TransformerDecoderLayer) {
        emberPrecondition(numLayers > 0, "TransformerDecoder: num_layers must be positive, got \(numLayers)")
        layers = ModuleList((0..<numLayers).map(makeLayer))
        self.norm = norm
        super.init()
    }

    /// Runs every layer with the same memory and masks, then `norm`.
    public func callAsFunction(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                               tgtIsCausal: Bool = false, memoryIsCausal: Bool = false) -> Tensor {
        var x = tgt
        for layer in layers {
            x = layer(x, memory: memory, tgtMask: tgtMask, memoryMask: memoryMask, tgtKeyPaddingMask: tgtKeyPaddingMask,
                      memoryKeyPaddingMask: memoryKeyPaddingMask, tgtIsCausal: tgtIsCausal, memoryIsCausal: memoryIsCausal)
        }
        return norm.map { $0(x) } ?? x
    }
}

/// Copies values (through the state dict, so nothing is shared) and the training mode.
private func copyState(from source: Module, into target: Module) {
    let state = StateDict(source.stateDict().map { ($0.name, $0.tensor.clone()) })
    do {
        try target.loadStateDict(state)
    } catch {
        emberFailure("copy: the copy's state does not match the original's: \(error)")
    }
    target.train(source.isTraining)
    // Frozen parameters stay frozen.
    for (original, copied) in zip(source.parameters(), target.parameters()) where !original.requiresGrad {
        copied.requiresGrad = false
    }
}
