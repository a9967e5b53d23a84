import Ember
import Foundation

/// `compile` against eager: each workload runs eagerly under its own name and compiled under
/// the same name with `_compiled` (bench_torch.py: eager PyTorch and torch.compile). The
/// compiled side is traced during preparation, and prints to stderr how many tensor buffers
/// one call allocates after warm-up.
extension Workload {
    static var compiled: [Workload] {
        pair("pointwise_chain_4M", note: "8 pointwise ops on 4M float32 (x*1.5+0.5, tanh, *x, -0.25, sigmoid, *2, +x)") {
            let x = Tensor.randn([4 * 1024 * 1024])
            let body = { (xs: [Tensor]) -> Tensor in
                let x = xs[0]
                var y = x * 1.5
                y = y + 0.5
                y = y.tanh()
                y = y * x
                y = y - 0.25
                y = y.sigmoid()
                y = y * 2
                return y + x
            }
            return (body, [x])
        }
        + pair("layernorm_residual_64x128x768", note: "LayerNorm(768)(x + r), [64, 128, 768] float32, inference") {
            let norm = LayerNorm(normalizedShape: [768])
            withNoGrad {
                _ = norm.weight!.copy_(Tensor.randn([768]))
                _ = norm.bias!.copy_(Tensor.randn([768]))
            }
            let x = Tensor.randn([64, 128, 768]), r = Tensor.randn([64, 128, 768])
            return ({ (xs: [Tensor]) in norm(xs[0] + xs[1]) }, [x, r])
        }
        + pair("gelu_mlp_block_b256_768", note: "x + Linear(3072->768)(GELU(Linear(768->3072)(x))), batch 256, inference") {
            let fc1 = Linear(768, 3072), fc2 = Linear(3072, 768)
            let x = Tensor.randn([256, 768])
            return ({ (xs: [Tensor]) in xs[0] + fc2(fc1(xs[0]).gelu()) }, [x])
        }
        + pair("conv_residual_block_b8_64x56", note: "relu(conv3x3(x) + x), 64 -> 64 channels, padding 1, bias, x [8, 64, 56, 56], inference") {
            let conv = Conv2d(64, 64, kernelSize: 3, padding: 1).eval()
            let x = Tensor.randn([8, 64, 56, 56])
            return ({ (xs: [Tensor]) in (conv(xs[0]) + xs[0]).relu() }, [x])
        }
        + pair("encoder_layer_fwd_16x64x256", note: "TransformerEncoderLayer d=256, 4 heads, ff 1024, dropout 0, batch 16, seq 64, inference") {
            let layer = TransformerEncoderLayer(dModel: 256, nhead: 4, dimFeedforward: 1024, dropout: 0, batchFirst: true).eval()
            let x = Tensor.randn([16, 64, 256])
            return ({ (xs: [Tensor]) in layer(xs[0]) }, [x])
        }
        + pair("mlp_infer_b64", note: "MLP 784-256-10 (ReLU), batch 64, inference") {
            let model = Sequential { Linear(784, 256); ReLU(); Linear(256, 10) }.eval()
            let x = Tensor.randn([64, 784])
            return ({ (xs: [Tensor]) in model(xs[0]) }, [x])
        }
        + [
            Workload(name: "mlp_train_step_compiled", group: "compile",
                     note: "mlp_train_step as one compiled function: forward, loss, backward and the SGD update in one graph") {
                let (model, optimizer, x, targets) = mlpTrainingSetup()
                let compiled = compile { (x: Tensor) -> Tensor in
                    optimizer.zeroGrad()
                    let loss = crossEntropy(model(x), targets)
                    loss.backward()
                    optimizer.step()
                    return loss.detach()
                }
                let step = { _ = compiled(x) }
                // The first call makes the momentum buffers; the second traces.
                for _ in 0..<3 { step() }
                reportAllocations("mlp_train_step_compiled", failure: compiled.traceCount == 2 ? nil : compiled.lastFailure, step)
                return step
            },
        ]
    }

    /// The eager workload and its compiled twin over one body and its inputs.
    private static func pair(_ name: String, note: String,
                             _ make: @escaping @Sendable () -> (([Tensor]) -> Tensor, [Tensor])) -> [Workload] {
        [
            Workload(name: name, group: "compile", note: note + " (eager)") {
                let (body, inputs) = make()
                return { withNoGrad { _ = body(inputs) } }
            },
            Workload(name: name + "_compiled", group: "compile", note: note + " (compile)") {
                let (body, inputs) = make()
                let f = compile { (xs: [Tensor]) -> [Tensor] in [body(xs)] }
                let call = { withNoGrad { _ = f(inputs) } }
                call()
                call()
                reportAllocations(name + "_compiled", failure: f.lastFailure, call)
                // The same call writing into a result tensor kept by the caller (`into:`).
                let result = withNoGrad { f(inputs)[0] }
                reportAllocations(name + "_compiled into:", failure: f.lastFailure) { withNoGrad { f(inputs, into: [result]) } }
                return call
            },
        ]
    }

    /// Prints the buffers one call allocates after warm-up (the returned tensors among them).
    private static func reportAllocations(_ name: String, failure: TraceFailure?, _ call: () -> Void) {
        let count = TensorStorage.countingAllocations(call).allocations
        let status = failure.map { "; not compiled: \($0.reason)" } ?? ""
        FileHandle.standardError.write("\(name): \(count) tensor buffer allocation\(count == 1 ? "" : "s") per call after warm-up\(status)\n".data(using: .utf8)!)
    }
}
