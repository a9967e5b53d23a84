import Testing
@testable import Ember

/// scaledDotProductAttention, MultiheadAttention and the transformer layers against PyTorch
/// (scripts/fixtures/generate_seq.py), gradcheck in float64, and behaviour without a single
/// PyTorch reference (mask conventions, layer copies).
@Suite struct AttentionTests {
    static let cases = SequenceFixture.load("seq_sdpa", "seq_attention", "seq_encoder", "seq_decoder")
        + SequenceFixture.load("seq_float32").filter { !["RNN", "LSTM", "GRU"].contains($0.kind) }

    @Test(arguments: cases)
    func matchesPyTorch(_ fixture: SequenceFixture) throws {
        try fixture.check()
    }

    @Test func gradcheckScaledDotProductAttention() {
        let q = Tensor.randn([2, 2, 3], dtype: .float64), k = Tensor.randn([2, 3, 3], dtype: .float64)
        let v = Tensor.randn([2, 3, 2], dtype: .float64), mask = Tensor.randn([2, 3], dtype: .float64)
        gradcheckModule(nil, inputs: [q, k, v, mask]) { t in
            [Functional.scaledDotProductAttention(query: t[0], key: t[1], value: t[2], attnMask: t[3])]
        }
        gradcheckModule(nil, inputs: [q, k, v]) { t in
            [Functional.scaledDotProductAttention(query: t[0], key: t[1], value: t[2], isCausal: true, scale: 0.7)]
        }
    }

    @Test func gradcheckMultiheadAttention() {
        let attention = MultiheadAttention(embedDim: 4, numHeads: 2, batchFirst: true, kdim: 3, vdim: 2, dtype: .float64)
        let q = Tensor.randn([1, 2, 4], dtype: .float64), k = Tensor.randn([1, 3, 3], dtype: .float64)
        let v = Tensor.randn([1, 3, 2], dtype: .float64)
        let padding = Tensor([[false, false, true]])
        gradcheckModule(attention, inputs: [q, k, v]) { t in
            let (output, weights) = attention(query: t[0], key: t[1], value: t[2], keyPaddingMask: padding)
            return [output, weights!]
        }
        let packed = MultiheadAttention(embedDim: 4, numHeads: 2, dtype: .float64)
        let x = Tensor.randn([3, 1, 4], dtype: .float64)
        gradcheckModule(packed, inputs: [x]) { t in [packed(query: t[0], key: t[0], value: t[0], isCausal: true).output] }
    }

    @Test func gradcheckTransformerLayers() {
        let encoder = TransformerEncoderLayer(dModel: 4, nhead: 2, dimFeedforward: 3, dropout: 0, activation: .gelu,
                                              batchFirst: true, normFirst: true, dtype: .float64)
        let src = Tensor.randn([1, 2, 4], dtype: .float64)
        gradcheckModule(encoder, inputs: [src]) { t in [encoder(t[0], isCausal: true)] }
        let decoder = TransformerDecoderLayer(dModel: 4, nhead: 2, dimFeedforward: 3, dropout: 0, batchFirst: true, dtype: .float64)
        let memory = Tensor.randn([1, 2, 4], dtype: .float64)
        gradcheckModule(decoder, inputs: [src, memory]) { t in [decoder(t[0], memory: t[1], tgtIsCausal: true)] }
    }

    @Test func maskConventions() {
        // Functional: true = keep. Module: true = masked out. Same result for complementary masks.
        let q = Tensor.randn([1, 2, 4], dtype: .float64), k = Tensor.randn([1, 3, 4], dtype: .float64)
        let keep = Tensor([[true, false, true], [true, true, false]])
        let viaBool = Functional.scaledDotProductAttention(query: q, key: k, value: k, attnMask: keep)
        let viaFloat = Functional.scaledDotProductAttention(
            query: q, key: k, value: k, attnMask: Tensor([[0, -Double.infinity, 0], [0, 0, -Double.infinity]] as [[Double]]))
        expectClose(viaBool, viaFloat)
        let causal = Functional.scaledDotProductAttention(query: q, key: k, value: k, isCausal: true)
        let explicit = Functional.scaledDotProductAttention(query: q, key: k, value: k,
                                                            attnMask: Tensor([[true, false, false], [true, true, false]]))
        expectClose(causal, explicit)
        let attention = MultiheadAttention(embedDim: 4, numHeads: 2, batchFirst: true, dtype: .float64)
        let x = Tensor.randn([1, 3, 4], dtype: .float64)
        let drop = Tensor([[false, true, true], [false, false, true], [false, false, false]])
        let (masked, weights) = attention(query: x, key: x, value: x, attnMask: drop)
        let (causalOutput, _) = attention(query: x, key: x, value: x, isCausal: true)
        expectClose(masked, causalOutput)
        #expect(weights![0, 0, 1].item(as: Double.self) == 0 && weights![0, 0, 2].item(as: Double.self) == 0)
        #expect(attention.stateDict().keys == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
    }

    @Test func encoderCopiesAreIndependent() {
        let layer = TransformerEncoderLayer(dModel: 4, nhead: 2, dimFeedforward: 6)
        let encoder = TransformerEncoder(layer: layer, numLayers: 2, norm: LayerNorm(normalizedShape: [4]))
        let first = encoder.layers[0], second = encoder.layers[1]
        #expect(first !== layer && first !== second)
        expectClose(first.linear1.weight, layer.linear1.weight)
        withNoGrad { _ = first.linear1.weight.fill_(0.5) }
        #expect(second.linear1.weight.scalars(as: Float.self) == layer.linear1.weight.scalars(as: Float.self))
        let keys = encoder.stateDict().keys
        #expect(keys.contains("layers.1.self_attn.in_proj_weight") && keys.contains("layers.0.norm2.bias") && keys.contains("norm.weight"))
        #expect(encoder.parameters().count == 2 * 12 + 2)
        let decoder = TransformerDecoder(layer: TransformerDecoderLayer(dModel: 4, nhead: 2, dimFeedforward: 6), numLayers: 2)
        #expect(decoder.stateDict().keys.contains("layers.1.multihead_attn.out_proj.weight"))
        let target = Tensor.randn([3, 2, 4]), memory = Tensor.randn([5, 2, 4])
        #expect(decoder.eval()(target, memory: memory, tgtIsCausal: true).shape == [3, 2, 4])
    }

    @Test func dropoutIsOffInEvaluation() {
        let layer = TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0.5, batchFirst: true)
        let x = Tensor.randn([2, 5, 8])
        let evaluated = layer.eval()(x)
        expectClose(layer(x), evaluated)
        #expect(layer.train()(x).scalars(as: Float.self) != evaluated.scalars(as: Float.self))
    }
}
