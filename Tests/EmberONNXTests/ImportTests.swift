import Ember
import Foundation
import Testing
@testable import EmberONNX

/// Models exported by Ember and read back: the imported model must compute what the original
/// does. (Files from other exporters are checked by .ci/run's conformance run.)
@Suite struct ONNXImportTests {
    func roundTrip(_ model: some Layer, _ input: Tensor, dynamicAxes: [Int: String] = [:], checkInput: Tensor? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
        model.eval()
        try roundTrip("\(type(of: model))", { [model] x in model(x) }, input, dynamicAxes: dynamicAxes, checkInput: checkInput,
                      sourceLocation: sourceLocation)
    }

    /// Exports `body` traced on `input`, imports the file, and compares the two on `checkInput`.
    func roundTrip(_ label: String, _ body: @escaping (Tensor) -> Tensor, _ input: Tensor, dynamicAxes: [Int: String] = [:],
                   checkInput: Tensor? = nil, tolerance: Double = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let data = try ONNXExporter.modelData(tracing: compile(body), examples: [input], opset: 18, inputNames: ["input"],
                                              outputNames: ["output"], tensorNames: [:], dynamicAxes: [dynamicAxes])
        let imported = try ONNXModel(data: data)
        let x = checkInput ?? input
        let expected = withNoGrad { body(x) }
        let got = try withNoGrad { try imported(x) }
        #expect(got.shape == expected.shape, sourceLocation: sourceLocation)
        let scale = max(withNoGrad { expected.abs().amax() }.item(as: Double.self), 1e-30)
        let error = withNoGrad { (got.to(.float64) - expected.to(.float64)).abs().amax() }.item(as: Double.self)
        #expect(error <= tolerance * scale + 1e-6, "\(label): max difference \(error)", sourceLocation: sourceLocation)
    }

    @Test func layersRoundTrip() throws {
        manualSeed(3)
        try roundTrip(ClassifierModels.mlp(inputShape: [1, 8, 8], classes: 10), Tensor.randn([4, 1, 8, 8]))
        try roundTrip(ClassifierModels.cnn(inputShape: [1, 8, 8], classes: 10), Tensor.randn([4, 1, 8, 8]))
        try roundTrip(ClassifierModels.resnetSmall(inputShape: [3, 16, 16], classes: 10), Tensor.randn([2, 3, 16, 16]))
        try roundTrip(Conv2d(4, 6, kernelSize: 3, stride: 2, padding: 2, dilation: 2), Tensor.randn([2, 4, 11, 9]))
        try roundTrip(Conv2d(3, 4, kernelSize: 4, padding: .same), Tensor.randn([1, 3, 8, 8]))
        try roundTrip(Conv1d(3, 4, kernelSize: 3, stride: 2, padding: 1), Tensor.randn([2, 3, 10]))
        try roundTrip(ConvTranspose2d(4, 3, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1), Tensor.randn([1, 4, 5, 5]))
        try roundTrip(MaxPool2d(kernelSize: 3, stride: 2, padding: 1, ceilMode: true), Tensor.randn([1, 2, 8, 8]))
        try roundTrip(AvgPool2d(kernelSize: 2, stride: 2, padding: 1, countIncludePad: false), Tensor.randn([1, 2, 7, 7]))
        try roundTrip(AdaptiveAvgPool2d(1), Tensor.randn([2, 3, 6, 6]))
        try roundTrip(LayerNorm(normalizedShape: [8]), Tensor.randn([2, 5, 8]))
        try roundTrip(GroupNorm(numGroups: 2, numChannels: 4), Tensor.randn([2, 4, 3, 3]))
        try roundTrip(BatchNorm2d(4), Tensor.randn([2, 4, 5, 5]))
        try roundTrip(Embedding(numEmbeddings: 10, embeddingDim: 4), Tensor([[1, 2, 9], [0, 0, 3]] as [[Int]]))
        try roundTrip(Upsample(scaleFactor: 2, mode: .bilinear, alignCorners: false), Tensor.randn([1, 2, 3, 4]))
        try roundTrip(TransformerEncoderLayer(dModel: 16, nhead: 4, dimFeedforward: 32, dropout: 0, batchFirst: true),
                      Tensor.randn([2, 5, 16]))
        for activation in [GELU(), GELU(approximate: .tanh), SiLU(), ELU(alpha: 0.5), LeakyReLU(negativeSlope: 0.2)] as [any Layer] {
            try roundTrip(activation, Tensor.randn([3, 7]))
        }
        try roundTrip(Softmax(dim: -1), Tensor.randn([3, 7]))
        try roundTrip(LogSoftmax(dim: 1), Tensor.randn([3, 7]))
    }

    @Test func recurrentLayersRoundTrip() throws {
        let lstm = LSTM(inputSize: 6, hiddenSize: 5, numLayers: 2, bidirectional: true, generator: RandomGenerator(seed: 1))
        try roundTrip("LSTM", { lstm($0).output }, Tensor.randn([4, 2, 6]))
        let gru = GRU(inputSize: 6, hiddenSize: 5, batchFirst: true, generator: RandomGenerator(seed: 2))
        try roundTrip("GRU", { gru($0).output }, Tensor.randn([2, 4, 6]))
    }

    @Test func dynamicBatchRoundTrips() throws {
        try roundTrip(ClassifierModels.cnn(inputShape: [1, 8, 8], classes: 10), Tensor.randn([1, 1, 8, 8]),
                      dynamicAxes: [0: "batch"], checkInput: Tensor.randn([5, 1, 8, 8]))
        let lstm = LSTM(inputSize: 6, hiddenSize: 5, batchFirst: true, generator: RandomGenerator(seed: 4))
        try roundTrip("LSTM", { lstm($0).output }, Tensor.randn([1, 4, 6]), dynamicAxes: [0: "batch"],
                      checkInput: Tensor.randn([3, 4, 6]))
    }

    /// An imported model is a module: its initializers are parameters that train.
    @Test func importedModelsFineTune() throws {
        manualSeed(5)
        let model = Sequential { Linear(4, 8); ReLU(); Linear(8, 1) }
        let data = try ONNXExporter.modelData(tracing: compile { model($0) }, examples: [Tensor.randn([1, 4])], opset: 18, inputNames: nil,
                                              outputNames: nil, tensorNames: Dictionary(uniqueKeysWithValues: model.namedParameters().map { (ObjectIdentifier($0.tensor), $0.name) }),
                                              dynamicAxes: [[0: "batch"]])
        let imported = try ONNXModel(data: data)
        #expect(imported.namedParameters().map(\.name).sorted() == ["0.bias", "0.weight", "2.bias", "2.weight"])
        let x = Tensor.randn([32, 4]), target = x.sum(dim: 1, keepDim: true)
        let optimizer = SGD(imported.parameters(), lr: 0.05)
        func loss() throws -> Tensor { (try imported(x) - target).square().mean() }
        let before = try withNoGrad { try loss() }.item(as: Double.self)
        for _ in 0..<50 {
            optimizer.zeroGrad()
            try loss().backward()
            optimizer.step()
        }
        let after = try withNoGrad { try loss() }.item(as: Double.self)
        #expect(after < before * 0.5, "loss \(before) -> \(after)")
    }

    /// Import, fine-tune, export back, import again: the tuned weights, under their names.
    @Test func fineTunedModelsExportBack() throws {
        manualSeed(9)
        let original = Sequential { Linear(3, 4); Tanh(); Linear(4, 2) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ember-onnx-tune-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try exportONNX(original, example: Tensor.randn([1, 3]), to: folder.appendingPathComponent("a.onnx"), dynamicAxes: [0: "batch"])
        let model = try ONNXModel(contentsOf: folder.appendingPathComponent("a.onnx"))
        let x = Tensor.randn([16, 3]), target = Tensor.randn([16, 2])
        let optimizer = SGD(model.parameters(), lr: 0.1)
        for _ in 0..<5 {
            optimizer.zeroGrad()
            (try model(x) - target).square().mean().backward()
            optimizer.step()
        }
        let tuned = try withNoGrad { try model(x) }
        try exportONNX(model, inputs: ["input": x], to: folder.appendingPathComponent("b.onnx"), dynamicAxes: ["input": [0: "batch"]])
        let reloaded = try ONNXModel(contentsOf: folder.appendingPathComponent("b.onnx"))
        #expect(reloaded.namedParameters().map(\.name).sorted() == model.namedParameters().map(\.name).sorted())
        let again = try withNoGrad { try reloaded(x) }
        #expect(zip(again.scalars(as: Float.self), tuned.scalars(as: Float.self)).allSatisfy { abs($0 - $1) <= 1e-6 })
        #expect(try reloaded(Tensor.randn([5, 3])).shape == [5, 2])
        #expect(throws: ONNXExportError.self) { try exportONNX(model, inputs: ["nope": x], to: folder.appendingPathComponent("c.onnx")) }
    }

    @Test func badFilesThrowTypedErrors() throws {
        let model = Sequential { Linear(4, 3); ReLU() }
        let data = try ONNXExporter.modelData(tracing: compile { model($0) }, examples: [Tensor.randn([2, 4])], opset: 18,
                                              inputNames: nil, outputNames: nil, tensorNames: [:], dynamicAxes: [])
        // Every truncation is an error or a model; never a crash.
        for length in stride(from: 0, to: data.count, by: 7) {
            _ = try? ONNXModel(data: data.prefix(length))
        }
        #expect(throws: ONNXImportError.self) { try ONNXModel(data: Data([0xff, 0xff, 0xff, 0x0f])) }
        #expect(throws: ONNXImportError.self) { try ONNXModel(data: Data()) }
        // Inputs are checked against the declared types.
        let imported = try ONNXModel(data: data)
        #expect(throws: ONNXImportError.self) { try imported(Tensor.randn([2, 5])) }
        #expect(throws: ONNXImportError.self) { try imported(["nope": Tensor.randn([2, 4])]) }
    }

    @Test func hostileContentsThrow() throws {
        func model(_ build: (inout Onnx_GraphProto) -> Void) throws -> Data {
            try modelBytes(input: [2], output: [2], build)
        }
        func node(_ op: String, _ inputs: [String], _ outputs: [String]) -> Onnx_NodeProto {
            var node = Onnx_NodeProto()
            (node.opType, node.input, node.output) = (op, inputs, outputs)
            return node
        }
        // All unsupported operators, in one error.
        #expect(throws: ONNXImportError.unsupportedOperators(["Frobnicate (opset 18)", "com.x.Thing (opset 18)"])) {
            try ONNXModel(data: model { graph in
                var custom = node("Thing", ["x"], ["z"])
                custom.domain = "com.x"
                graph.node = [node("Frobnicate", ["x"], ["y"]), custom, node("Frobnicate", ["x"], ["w"])]
            })
        }
        // A tensor that claims a huge shape with no bytes behind it.
        #expect(throws: ONNXImportError.self) {
            try ONNXModel(data: model { graph in
                var huge = Onnx_TensorProto(int64s: [1], name: "w")
                huge.dims = [1 << 20, 1 << 20]
                graph.initializer = [huge]
                graph.node = [node("Identity", ["x"], ["y"])]
            })
        }
        // External data outside the model's folder.
        for location in ["../secret.bin", "/etc/passwd", "a/../../b"] {
            #expect(throws: ONNXImportError.self) {
                let folder = FileManager.default.temporaryDirectory
                var tensor = Onnx_TensorProto(int64s: [1], name: "w")
                tensor.rawData = Data()
                tensor.dataLocation = .external
                var entry = Onnx_StringStringEntryProto()
                (entry.key, entry.value) = ("location", location)
                tensor.externalData = [entry]
                _ = try ONNXModel(data: model { graph in
                    graph.initializer = [tensor]
                    graph.node = [node("Identity", ["x"], ["y"])]
                }, folder: folder)
            }
        }
        // A node that reads a value no one defines; an out-of-range gather index; a bad reshape.
        #expect(throws: ONNXImportError.self) { try ONNXModel(data: model { $0.node = [node("Relu", ["ghost"], ["y"])] }) }
        let gather = try ONNXModel(data: model { graph in
            graph.initializer = [Onnx_TensorProto(int64s: [7], name: "i")]
            graph.node = [node("Gather", ["x", "i"], ["y"])]
        })
        #expect(throws: ONNXImportError.self) { try gather(Tensor([1, 2] as [Float])) }
        // A 0-d input has no axis to gather along (found by ember-fuzz).
        let scalarGather = try ONNXModel(data: modelBytes(input: [], output: []) { graph in
            graph.initializer = [Onnx_TensorProto(int64s: [0], name: "i")]
            graph.node = [node("Gather", ["x", "i"], ["y"])]
        })
        #expect(throws: ONNXImportError.self) { try scalarGather(Tensor(Float(1))) }
        let reshape = try ONNXModel(data: model { graph in
            graph.initializer = [Onnx_TensorProto(int64s: [3], name: "s")]
            graph.node = [node("Reshape", ["x", "s"], ["y"])]
        })
        #expect(throws: ONNXImportError.self) { try reshape(Tensor([1, 2] as [Float])) }
        let matmul = try ONNXModel(data: model { $0.node = [node("MatMul", ["x", "x"], ["y"]), node("MatMul", ["y", "y"], ["z"])] })
        #expect(throws: ONNXImportError.self) { try matmul(Tensor([1, 2] as [Float])) }
    }
}


/// Resize against Ember's own `interpolate` (which is checked against PyTorch): PyTorch exports
/// `F.interpolate(..., mode="bilinear", align_corners=False)` as Resize with linear mode and
/// pytorch_half_pixel coordinates, and nearest as asymmetric coordinates rounded down.
@Suite struct ONNXResizeTests {
    func resizeModel(mode: String, transform: String, nearestMode: String, sizes: [Int]) throws -> ONNXModel {
        var node = Onnx_NodeProto()
        (node.opType, node.input, node.output) = ("Resize", ["x", "", "", "sizes"], ["y"])
        node.attribute = [ONNXAttribute.string("mode", mode).proto, ONNXAttribute.string("coordinate_transformation_mode", transform).proto,
                          ONNXAttribute.string("nearest_mode", nearestMode).proto]
        return try ONNXModel(data: modelBytes(input: [1, 2, 3, 5], output: sizes) { graph in
            graph.node = [node]
            graph.initializer = [Onnx_TensorProto(int64s: sizes, name: "sizes")]
        })
    }

    @Test func matchesInterpolate() throws {
        let x = Tensor.randn([1, 2, 3, 5], generator: RandomGenerator(seed: 6))
        for size in [[7, 4], [2, 11], [6, 10]] {
            let linear = try resizeModel(mode: "linear", transform: "pytorch_half_pixel", nearestMode: "floor", sizes: [1, 2] + size)
            let expected = Functional.interpolate(x, size: size, mode: .bilinear, alignCorners: false)
            let got = try linear(x)
            #expect(zip(got.scalars(as: Float.self), expected.scalars(as: Float.self)).allSatisfy { abs($0 - $1) <= 1e-5 }, "bilinear \(size)")
            let aligned = try resizeModel(mode: "linear", transform: "align_corners", nearestMode: "floor", sizes: [1, 2] + size)
            let expectedAligned = Functional.interpolate(x, size: size, mode: .bilinear, alignCorners: true)
            #expect(zip(try aligned(x).scalars(as: Float.self), expectedAligned.scalars(as: Float.self)).allSatisfy { abs($0 - $1) <= 1e-5 },
                    "aligned \(size)")
            let nearest = try resizeModel(mode: "nearest", transform: "asymmetric", nearestMode: "floor", sizes: [1, 2] + size)
            #expect(try nearest(x).scalars(as: Float.self) == Functional.interpolate(x, size: size, mode: .nearest).scalars(as: Float.self),
                    "nearest \(size)")
        }
    }
}

/// An opset-18 model with float32 input x and output y of the given shapes, the rest built by `build`.
func modelBytes(input: [Int], output: [Int], _ build: (inout Onnx_GraphProto) -> Void) throws -> Data {
    var graph = Onnx_GraphProto()
    graph.input = [Onnx_ValueInfoProto(name: "x", dtype: .float32, shape: input)]
    graph.output = [Onnx_ValueInfoProto(name: "y", dtype: .float32, shape: output)]
    build(&graph)
    var proto = Onnx_ModelProto()
    proto.irVersion = 8
    var opset = Onnx_OperatorSetIdProto()
    opset.version = 18
    proto.opsetImport = [opset]
    proto.graph = graph
    return try proto.serializedBytes()
}

/// The loss operators against Ember's crossEntropy and nllLoss (checked against PyTorch).
@Suite struct ONNXLossTests {
    func lossModel(_ op: String, reduction: String, ignoreIndex: Int?) throws -> ONNXModel {
        var node = Onnx_NodeProto()
        (node.opType, node.input, node.output) = (op, ["x", "t", "w"], ["y"])
        node.attribute = [ONNXAttribute.string("reduction", reduction).proto] + (ignoreIndex.map { [ONNXAttribute.int("ignore_index", $0).proto] } ?? [])
        return try ONNXModel(data: modelBytes(input: [4, 3, 2], output: []) { graph in
            graph.node = [node]
            graph.input += [Onnx_ValueInfoProto(name: "t", dtype: .int64, shape: [4, 2]), Onnx_ValueInfoProto(name: "w", dtype: .float32, shape: [3])]
        })
    }

    @Test func matchCrossEntropyAndNLL() throws {
        let x = Tensor.randn([4, 3, 2], generator: RandomGenerator(seed: 8))
        let t = Tensor([[0, 2], [1, 1], [2, -1], [0, 1]] as [[Int]]).to(.int64)
        let w = Tensor([0.5, 1, 2] as [Float])
        for (name, reduction) in [("mean", Reduction.mean), ("sum", .sum), ("none", .none)] {
            let sce = try lossModel("SoftmaxCrossEntropyLoss", reduction: name, ignoreIndex: -1)
            let got = try sce(["x": x, "t": t, "w": w])["y"]!
            let expected = crossEntropy(x, t, weight: w, ignoreIndex: -1, reduction: reduction)
            #expect(got.shape == expected.shape && zip(got.scalars(as: Float.self), expected.scalars(as: Float.self)).allSatisfy { abs($0 - $1) <= 1e-5 },
                    "SoftmaxCrossEntropyLoss \(name)")
            let nll = try lossModel("NegativeLogLikelihoodLoss", reduction: name, ignoreIndex: -1)
            let logProbabilities = x.logSoftmax(dim: 1)
            let gotNLL = try nll(["x": logProbabilities, "t": t, "w": w])["y"]!
            let expectedNLL = nllLoss(logProbabilities, t, weight: w, ignoreIndex: -1, reduction: reduction)
            #expect(zip(gotNLL.scalars(as: Float.self), expectedNLL.scalars(as: Float.self)).allSatisfy { abs($0 - $1) <= 1e-5 }, "NLL \(name)")
        }
        // A target outside the classes (and not ignored) is an error, not a read out of bounds.
        let bad = Tensor([[0, 3], [1, 1], [2, 0], [0, 1]] as [[Int]]).to(.int64)
        #expect(throws: ONNXImportError.self) { try lossModel("SoftmaxCrossEntropyLoss", reduction: "mean", ignoreIndex: nil)(["x": x, "t": bad, "w": w]) }
    }
}

/// The article's operator list is the operator table: every supported operator is listed, and
/// nothing is listed that is not supported.
@Test func articleListsTheSupportedOperators() throws {
    let article = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/EmberONNX/EmberONNX.docc/EmberONNX.md")
    let text = try String(contentsOf: article, encoding: .utf8)
    guard let start = text.range(of: "<!-- operators -->"), let end = text.range(of: "<!-- /operators -->") else {
        Issue.record("no operator list in \(article.path)")
        return
    }
    let listed = text[start.upperBound..<end.lowerBound].split(separator: "`").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    #expect(listed == ONNXModel.supportedOperators, "article: \(Set(listed).symmetricDifference(ONNXModel.supportedOperators).sorted())")
}

/// ONNX's GRU against Ember's GRU layer (checked against PyTorch): PyTorch's gates r, z, n are
/// ONNX's z, r, h with linear_before_reset = 1.
@Test func onnxGRUMatchesTheGRULayer() throws {
    let gru = GRU(inputSize: 3, hiddenSize: 2, generator: RandomGenerator(seed: 12))
    let parameters = Dictionary(uniqueKeysWithValues: gru.namedParameters().map { ($0.name, $0.tensor.detach()) })
    func reordered(_ t: Tensor) -> Tensor {  // rows [r, z, n] -> [z, r, n]
        let h = t.shape[0] / 3
        return Tensor.cat([t[h..<(2 * h)], t[0..<h], t[(2 * h)..<(3 * h)]], dim: 0)
    }
    let w = reordered(parameters["weight_ih_l0"]!).unsqueezed(0), r = reordered(parameters["weight_hh_l0"]!).unsqueezed(0)
    let b = Tensor.cat([reordered(parameters["bias_ih_l0"]!), reordered(parameters["bias_hh_l0"]!)], dim: 0).unsqueezed(0)
    var node = Onnx_NodeProto()
    (node.opType, node.input, node.output) = ("GRU", ["x", "w", "r", "b"], ["y", "h"])
    node.attribute = [ONNXAttribute.int("hidden_size", 2).proto, ONNXAttribute.int("linear_before_reset", 1).proto]
    let model = try ONNXModel(data: modelBytes(input: [4, 2, 3], output: [4, 1, 2, 2]) { graph in
        graph.node = [node]
        graph.initializer = [try! Onnx_TensorProto(w, name: "w"), try! Onnx_TensorProto(r, name: "r"), try! Onnx_TensorProto(b, name: "b")]
        graph.output.append(Onnx_ValueInfoProto(name: "h", dtype: .float32, shape: [1, 2, 2]))
    })
    let x = Tensor.randn([4, 2, 3], generator: RandomGenerator(seed: 13))
    let results = try withNoGrad { try model(["x": x]) }
    let (expected, expectedH) = withNoGrad { gru(x) }
    #expect(zip(results["y"]!.scalars(as: Float.self), expected.scalars(as: Float.self)).allSatisfy { abs($0 - $1) <= 1e-5 })
    #expect(zip(results["h"]!.scalars(as: Float.self), expectedH.scalars(as: Float.self)).allSatisfy { abs($0 - $1) <= 1e-5 })
}
