// Exports a set of models to ONNX with Ember, with an input and Ember's output for each, into
// the folder given as the argument, for scripts/onnx/check_onnxruntime.py: onnx's checker and
// onnxruntime must accept every model and reproduce Ember's outputs.
//
//     swift run ember-onnx-cases /tmp/ember-onnx
//
// Writes NAME.onnx, NAME.input.npy and NAME.output.npy per case, and cases.json listing them.
import Ember
import EmberONNX
import Foundation

let folder = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "ember-onnx")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
manualSeed(7)

/// One model to export: a layer in evaluation mode and its example input. With `dynamicAxes`,
/// onnxruntime runs it on `checkInput`, whose dynamic dimension differs from the example's.
struct Case {
    let name: String
    let model: any Layer
    let input: Tensor
    var dynamicAxes: [Int: String] = [:]
    var checkInput: Tensor? = nil
}

func image(_ shape: [Int]) -> Tensor { Tensor.randn(shape) }

/// A module whose forward pass is not one tensor in, one out (an LSTM's output and state, an
/// attention's three inputs), seen as a layer through `body`.
final class Adapter: Module, Layer {
    let inner: Module
    let body: (Tensor) -> Tensor
    init(_ inner: Module, _ body: @escaping (Tensor) -> Tensor) {
        self.inner = inner
        self.body = body
        super.init()
    }
    func callAsFunction(_ input: Tensor) -> Tensor { body(input) }
}

let lstm = LSTM(inputSize: 6, hiddenSize: 5, numLayers: 2, batchFirst: true)
let bidirectional = LSTM(inputSize: 6, hiddenSize: 4, bidirectional: true)
let gru = GRU(inputSize: 6, hiddenSize: 5, batchFirst: true)
let rnn = RNN(inputSize: 6, hiddenSize: 5)
let attention = MultiheadAttention(embedDim: 16, numHeads: 4, batchFirst: true)
let bilinear = Bilinear(4, 4, 3)

let cases: [Case] = [
    Case(name: "mlp", model: ClassifierModels.mlp(inputShape: [1, 8, 8], classes: 10), input: image([4, 1, 8, 8])),
    Case(name: "cnn", model: ClassifierModels.cnn(inputShape: [1, 8, 8], classes: 10), input: image([4, 1, 8, 8])),
    Case(name: "resnet_small", model: ClassifierModels.resnetSmall(inputShape: [3, 16, 16], classes: 10), input: image([2, 3, 16, 16])),
    Case(name: "lenet", model: Sequential {
        Conv2d(1, 6, kernelSize: 5, padding: 2); ReLU(); MaxPool2d(kernelSize: 2)
        Conv2d(6, 16, kernelSize: 5); ReLU(); MaxPool2d(kernelSize: 2)
        Flatten(); Linear(400, 120); ReLU(); Linear(120, 84); ReLU(); Linear(84, 10)
    }, input: image([2, 1, 28, 28])),
    Case(name: "linear", model: Linear(16, 8), input: image([3, 16])),
    Case(name: "linear_no_bias", model: Linear(16, 8, bias: false), input: image([3, 5, 16])),
    Case(name: "conv2d_strided_dilated", model: Conv2d(4, 6, kernelSize: 3, stride: 2, padding: 2, dilation: 2), input: image([2, 4, 11, 9])),
    Case(name: "conv2d_groups", model: Conv2d(4, 8, kernelSize: 3, padding: 1, groups: 2), input: image([1, 4, 7, 7])),
    Case(name: "conv2d_same", model: Conv2d(3, 4, kernelSize: 4, padding: .same), input: image([1, 3, 8, 8])),
    Case(name: "maxpool_ceil", model: MaxPool2d(kernelSize: 3, stride: 2, padding: 1, ceilMode: true), input: image([1, 2, 8, 8])),
    Case(name: "avgpool", model: AvgPool2d(kernelSize: 3, stride: 2, padding: 1), input: image([1, 2, 9, 9])),
    Case(name: "avgpool_exclude_pad", model: AvgPool2d(kernelSize: 2, stride: 2, padding: 1, countIncludePad: false), input: image([1, 2, 7, 7])),
    Case(name: "adaptive_avgpool", model: AdaptiveAvgPool2d(1), input: image([2, 3, 6, 6])),
    Case(name: "layernorm", model: LayerNorm(normalizedShape: [8]), input: image([2, 5, 8])),
    Case(name: "layernorm_2d", model: LayerNorm(normalizedShape: [4, 8], elementwiseAffine: false), input: image([2, 4, 8])),
    Case(name: "groupnorm", model: GroupNorm(numGroups: 2, numChannels: 4), input: image([2, 4, 3, 3])),
    Case(name: "batchnorm2d", model: BatchNorm2d(4), input: image([2, 4, 5, 5])),
    Case(name: "relu", model: ReLU(), input: image([3, 7])),
    Case(name: "gelu", model: GELU(), input: image([3, 7])),
    Case(name: "gelu_tanh", model: GELU(approximate: .tanh), input: image([3, 7])),
    Case(name: "silu", model: SiLU(), input: image([3, 7])),
    Case(name: "tanh", model: Tanh(), input: image([3, 7])),
    Case(name: "sigmoid", model: Sigmoid(), input: image([3, 7])),
    Case(name: "leaky_relu", model: LeakyReLU(negativeSlope: 0.2), input: image([3, 7])),
    Case(name: "elu", model: ELU(alpha: 0.5), input: image([3, 7])),
    Case(name: "softmax", model: Softmax(dim: -1), input: image([3, 7])),
    Case(name: "log_softmax", model: LogSoftmax(dim: 1), input: image([3, 7])),
    Case(name: "dropout_eval", model: Dropout(p: 0.5), input: image([3, 7])),
    Case(name: "flatten", model: Flatten(), input: image([2, 3, 4])),
    Case(name: "pad_flip_roll_cumsum", model: Adapter(Identity()) { x in
        x.pad([1, 2, 0, 1], mode: .constant(-3)).flip(dims: [0]).roll(shifts: [1], dims: [1]).cumsum(dim: 1)
    }, input: image([3, 4])),
    Case(name: "conv1d", model: Conv1d(3, 4, kernelSize: 3, stride: 2, padding: 1), input: image([2, 3, 10])),
    Case(name: "conv_transpose2d", model: ConvTranspose2d(4, 3, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1),
         input: image([1, 4, 5, 5])),
    Case(name: "maxpool1d", model: MaxPool1d(kernelSize: 2), input: image([2, 3, 8])),
    Case(name: "avgpool1d", model: AvgPool1d(kernelSize: 3, stride: 1, padding: 1), input: image([2, 3, 8])),
    Case(name: "batchnorm1d", model: BatchNorm1d(4), input: image([3, 4])),
    Case(name: "upsample_nearest", model: Upsample(scaleFactor: 2, mode: .nearest), input: image([1, 2, 3, 4])),
    Case(name: "upsample_bilinear", model: Upsample(scaleFactor: 2, mode: .bilinear, alignCorners: false), input: image([1, 2, 3, 4])),
    Case(name: "embedding", model: Embedding(numEmbeddings: 10, embeddingDim: 4), input: Tensor([[1, 2, 9], [0, 0, 3]] as [[Int]])),
    Case(name: "lstm", model: Adapter(lstm) { lstm($0).output }, input: image([2, 4, 6])),
    Case(name: "lstm_bidirectional_state", model: Adapter(bidirectional) { x in
        let (output, state) = bidirectional(x)
        return Tensor.cat([output.flattened(), state.h.flattened(), state.c.flattened()], dim: 0)
    }, input: image([3, 2, 6])),
    Case(name: "gru", model: Adapter(gru) { gru($0).output }, input: image([2, 4, 6])),
    Case(name: "rnn", model: Adapter(rnn) { rnn($0).output }, input: image([4, 2, 6])),
    Case(name: "multihead_attention", model: Adapter(attention) { attention(query: $0, key: $0, value: $0).output },
         input: image([2, 5, 16])),
    Case(name: "bilinear", model: Adapter(bilinear) { bilinear($0, $0 * 2) }, input: image([3, 4])),
    Case(name: "transformer_encoder",
         model: TransformerEncoder(numLayers: 2, norm: LayerNorm(normalizedShape: [16])) { _ in
             TransformerEncoderLayer(dModel: 16, nhead: 2, dimFeedforward: 32, dropout: 0, activation: .gelu, batchFirst: true)
         },
         input: image([2, 5, 16])),
    Case(name: "mlp_dynamic_batch", model: ClassifierModels.mlp(inputShape: [1, 8, 8], classes: 10), input: image([1, 1, 8, 8]),
         dynamicAxes: [0: "batch"], checkInput: image([5, 1, 8, 8])),
    Case(name: "cnn_dynamic_batch", model: ClassifierModels.cnn(inputShape: [1, 8, 8], classes: 10), input: image([2, 1, 8, 8]),
         dynamicAxes: [0: "batch"], checkInput: image([7, 1, 8, 8])),
    Case(name: "resnet_small_dynamic_batch", model: ClassifierModels.resnetSmall(inputShape: [3, 16, 16], classes: 10),
         input: image([1, 3, 16, 16]), dynamicAxes: [0: "batch"], checkInput: image([3, 3, 16, 16])),
    Case(name: "embedding_dynamic_batch", model: Embedding(numEmbeddings: 10, embeddingDim: 4),
         input: Tensor([[1, 2, 9]] as [[Int]]), dynamicAxes: [0: "batch"], checkInput: Tensor([[1, 2, 9], [0, 0, 3], [4, 5, 6]] as [[Int]])),
    Case(name: "lstm_dynamic_batch", model: Adapter(lstm) { lstm($0).output }, input: image([1, 4, 6]),
         dynamicAxes: [0: "batch"], checkInput: image([3, 4, 6])),
    Case(name: "transformer_dynamic_batch",
         model: TransformerEncoderLayer(dModel: 16, nhead: 4, dimFeedforward: 32, dropout: 0, batchFirst: true),
         input: image([1, 5, 16]), dynamicAxes: [0: "batch"], checkInput: image([3, 5, 16])),
    Case(name: "transformer_dynamic_sequence",
         model: TransformerEncoderLayer(dModel: 16, nhead: 4, dimFeedforward: 32, dropout: 0, batchFirst: true),
         input: image([2, 5, 16]), dynamicAxes: [1: "sequence"], checkInput: image([2, 9, 16])),
    Case(name: "transformer_encoder_layer",
         model: TransformerEncoderLayer(dModel: 16, nhead: 4, dimFeedforward: 32, dropout: 0, batchFirst: true),
         input: image([2, 5, 16])),
]

var manifest: [[String: Any]] = []
var failures: [String] = []
for item in cases {
    item.model.eval()
    let file = folder.appendingPathComponent("\(item.name).onnx")
    do {
        try exportONNX(item.model, example: item.input, to: file, dynamicAxes: item.dynamicAxes)
    } catch {
        failures.append("\(item.name): \(error)")
        continue
    }
    let input = item.checkInput ?? item.input
    let output = withNoGrad { item.model(input) }
    try NumPy.save(input, to: folder.appendingPathComponent("\(item.name).input.npy"))
    try NumPy.save(output, to: folder.appendingPathComponent("\(item.name).output.npy"))
    manifest.append(["name": item.name, "input": "input", "output": "output"])
    print("exported \(item.name): \(input.shape) -> \(output.shape)")
}
let json = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .prettyPrinted])
try json.write(to: folder.appendingPathComponent("cases.json"))
print("wrote \(manifest.count) ONNX models to \(folder.path)")
for failure in failures { print("export failed: \(failure)") }
if !failures.isEmpty { exit(1) }
