import Ember

/// Sequence models, forward + backward: an LSTM layer, a GRU layer and a transformer encoder layer.
/// Sizes match scripts/bench/bench_torch.py.
extension Workload {
    static var sequence: [Workload] {
        [
            Workload(name: "lstm_fwd_bwd", group: "nn",
                     note: "LSTM 64→128, batch 16, seq 32, float32: forward + backward of output.sum()") {
                let lstm = LSTM(inputSize: 64, hiddenSize: 128, batchFirst: true)
                let x = Tensor.randn([16, 32, 64])
                return {
                    lstm.zeroGrad()
                    lstm(x).output.sum().backward()
                }
            },
            Workload(name: "gru_fwd_bwd", group: "nn",
                     note: "GRU 64→128, batch 16, seq 32, float32: forward + backward of output.sum()") {
                let gru = GRU(inputSize: 64, hiddenSize: 128, batchFirst: true)
                let x = Tensor.randn([16, 32, 64])
                return {
                    gru.zeroGrad()
                    gru(x).output.sum().backward()
                }
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
}
