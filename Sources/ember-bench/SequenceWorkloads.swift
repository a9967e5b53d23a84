import Ember

/// Sequence models, forward + backward: an LSTM layer, a GRU layer and a transformer encoder layer.
/// Sizes match scripts/bench/bench_torch.py.
extension Workload {
    static var sequence: [Workload] {
        [
            recurrentForwardBackward(name: "lstm_fwd_bwd", kind: "LSTM") {
                let lstm = LSTM(inputSize: 64, hiddenSize: 128, batchFirst: true)
                return (lstm, { lstm($0).output })
            },
            recurrentForwardBackward(name: "gru_fwd_bwd", kind: "GRU") {
                let gru = GRU(inputSize: 64, hiddenSize: 128, batchFirst: true)
                return (gru, { gru($0).output })
            },
            Workload(name: "transformer_encoder_fwd_bwd", group: "nn",
                     note: "TransformerEncoderLayer d=128, 4 heads, ff 512, dropout 0, batch 8, seq 64, float32: forward + backward") {
                let layer = TransformerEncoderLayer(dModel: 128, nhead: 4, dimFeedforward: 512, dropout: 0, batchFirst: true)
                let x = Tensor.randn([8, 64, 128])
                return {
                    layer.zeroGrad()
                    layer(x).sum().backward()
                }
            },
        ]
    }

    /// Forward + backward of output.sum() for a batch-first recurrent layer (64 → 128) on
    /// [16, 32, 64]; `make` builds the layer and says how to get its output sequence.
    private static func recurrentForwardBackward(name: String, kind: String,
                                                 make: @escaping @Sendable () -> (Module, (Tensor) -> Tensor)) -> Workload {
        Workload(name: name, group: "nn",
                 note: "\(kind) 64→128, batch 16, seq 32, float32: forward + backward of output.sum()") {
            let (layer, output) = make()
            let x = Tensor.randn([16, 32, 64])
            return {
                layer.zeroGrad()
                output(x).sum().backward()
            }
        }
    }
}
