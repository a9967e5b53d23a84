import Ember
import Foundation
import Testing
@testable import EmberONNX

/// The structure of exported models. Whether onnxruntime computes the same numbers as Ember is
/// checked by `.ci/run` (scripts/onnx/check_onnxruntime.py over `ember-onnx-cases`).
@Suite struct ONNXExportTests {
    func model(_ function: CompiledFunction, _ examples: [Tensor], opset: Int = 18, names: [(name: String, tensor: Tensor)] = [],
               inputs: [String]? = nil, outputs: [String]? = nil) throws -> Onnx_ModelProto {
        var tensorNames: [ObjectIdentifier: String] = [:]
        for (name, tensor) in names { tensorNames[ObjectIdentifier(tensor)] = name }
        return try ONNXExporter.modelProto(tracing: function, examples: examples, opset: opset, inputNames: inputs,
                                           outputNames: outputs, tensorNames: tensorNames)
    }

    @Test func linearLayerBecomesTransposeMatMulAdd() throws {
        let layer = Linear(4, 3)
        let function = compile { layer($0) }
        let proto = try model(function, [Tensor.randn([2, 4])], names: layer.namedParameters())
        #expect(proto.irVersion == 8 && proto.opsetImport.first?.version == 18 && proto.producerName == "Ember")
        let ops = proto.graph.node.map(\.opType)
        #expect(ops.contains("MatMul") && ops.contains("Add"), "\(ops)")
        #expect(Set(proto.graph.initializer.map(\.name)).isSuperset(of: ["weight", "bias"]))
        #expect(proto.graph.input.map(\.name) == ["input"] && proto.graph.output.map(\.name) == ["output"])
        let dims = proto.graph.output[0].type.tensorType.shape.dim.map(\.dimValue)
        #expect(dims == [2, 3])
        // The weight's bytes are its values, row-major, little-endian.
        let weight = try #require(proto.graph.initializer.first { $0.name == "weight" })
        let floats = weight.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(weight.dims == [3, 4] && floats == layer.weight.scalars(as: Float.self))
    }

    @Test func scalarConstantsTakeTheTensorsType() throws {
        let function = compile { (x: Tensor) in x * 2 + 1 }
        let proto = try model(function, [Tensor.randn([3])])
        // The Swift scalars are float64 in the trace; their initializers are written as float32,
        // so no Cast node is needed.
        #expect(!proto.graph.node.contains { $0.opType == "Cast" })
        #expect(proto.graph.initializer.allSatisfy { $0.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) })
    }

    @Test func namesAndOpsetAreChecked() throws {
        let function = compile { (x: Tensor, y: Tensor) in x + y }
        let inputs = [Tensor.randn([2]), Tensor.randn([2])]
        let proto = try model(function, inputs, inputs: ["a", "b"], outputs: ["sum"])
        #expect(proto.graph.input.map(\.name) == ["a", "b"] && proto.graph.output.map(\.name) == ["sum"])
        #expect(throws: ONNXExportError.invalidArgument("1 input names for a function of 2 inputs")) {
            try model(function, inputs, inputs: ["a"])
        }
        #expect(throws: ONNXExportError.self) { try model(function, inputs, opset: 12) }
        #expect(throws: ONNXExportError.self) { try model(function, inputs, inputs: ["a", "b"], outputs: ["a"]) }
    }

    @Test func anOutputThatIsAnInputIsCopied() throws {
        let function = compile { (xs: [Tensor]) in [xs[0], xs[0].relu()] }
        let proto = try model(function, [Tensor.randn([3])])
        #expect(proto.graph.output.map(\.name) == ["output0", "output1"])
        #expect(proto.graph.node.contains { $0.opType == "Identity" && $0.output == ["output0"] })
    }

    @Test func unsupportedOpsAreListedTogether() throws {
        let function = compile { (x: Tensor) in x.cumprod(dim: 0) + x.cumprod(dim: 1) }
        #expect(throws: ONNXExportError.unsupportedOperations(["cumprod"], opset: 18)) {
            try model(function, [Tensor.randn([2, 3])])
        }
    }

    @Test func layerNormBeforeOpset17IsDecomposed() throws {
        let norm = LayerNorm(normalizedShape: [4])
        let function = compile { norm($0) }
        let x = Tensor.randn([2, 4])
        let old = try model(function, [x], opset: 16).graph.node.map(\.opType)
        let new = try model(function, [x], opset: 17).graph.node.map(\.opType)
        #expect(!old.contains("LayerNormalization") && old.contains("ReduceMean") && old.contains("Sqrt"), "\(old)")
        #expect(new.contains("LayerNormalization"), "\(new)")
        #expect(try model(function, [x], opset: 13).irVersion == 7)
    }

    @Test func dynamicAxesBecomeSymbolicDimensions() throws {
        let mlp = Sequential { Flatten(); Linear(12, 4); ReLU() }
        let function = compile { mlp($0) }
        let proto = try ONNXExporter.modelProto(tracing: function, examples: [Tensor.randn([1, 3, 4])], opset: 18, inputNames: nil,
                                                outputNames: nil, tensorNames: [:], dynamicAxes: [[0: "batch"]])
        let input = proto.graph.input[0].type.tensorType.shape.dim, output = proto.graph.output[0].type.tensorType.shape.dim
        #expect(input.map(\.dimParam) == ["batch", "", ""] && input.map(\.dimValue) == [0, 3, 4])
        #expect(output.map(\.dimParam) == ["batch", ""] && output[1].dimValue == 4)
        // The flatten's target shape is computed from the input's Shape at run time.
        #expect(proto.graph.node.contains { $0.opType == "Shape" })
    }

    @Test func dynamicExportsRefuseWhatTheyCannotExpress() throws {
        let x = Tensor.randn([2, 3])
        func export(_ body: @escaping (Tensor) -> Tensor, _ axes: [[Int: String]]) throws {
            _ = try ONNXExporter.modelProto(tracing: compile(body), examples: [x], opset: 18, inputNames: nil, outputNames: nil,
                                            tensorNames: [:], dynamicAxes: axes)
        }
        #expect(throws: ONNXExportError.unsupportedOperations(["roll along the dynamic dimension"], opset: 18)) {
            try export({ $0.roll(shifts: [1], dims: [0]) }, [[0: "batch"]])
        }
        // A constant that depends on the size and is not one repeated value.
        #expect(throws: ONNXExportError.self) {
            try export({ $0 + Tensor.arange(0, Double($0.shape[0])).unsqueezed(1) }, [[0: "batch"]])
        }
        #expect(throws: ONNXExportError.invalidArgument("one dynamic dimension name is supported, got [\"a\", \"b\"]")) {
            _ = try ONNXExporter.modelProto(tracing: compile { (a: Tensor, b: Tensor) in a + b }, examples: [x, x], opset: 18,
                                            inputNames: nil, outputNames: nil, tensorNames: [:], dynamicAxes: [[0: "a"], [0: "b"]])
        }
        #expect(throws: ONNXExportError.self) { try export({ $0 * 2 }, [[5: "batch"]]) }
        // Rolling along a static dimension is fine.
        try export({ $0.roll(shifts: [1], dims: [1]) }, [[0: "batch"]])
    }

    @Test func exportWritesAFileAtomically() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ember-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("mlp.onnx")
        let mlp = Sequential { Linear(4, 8); ReLU(); Linear(8, 2) }
        try exportONNX(mlp, example: Tensor.randn([1, 4]), to: url)
        let proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url))
        #expect(proto.graph.initializer.map(\.name).sorted() == ["0.bias", "0.weight", "2.bias", "2.weight"])
        #expect(proto.graph.node.filter { $0.opType == "Relu" }.count == 1)
        // A failed export leaves the previous file as it was.
        let before = try Data(contentsOf: url)
        let bad = compile { (x: Tensor) in x.cumprod(dim: 0) }
        #expect(throws: ONNXExportError.self) { try exportONNX(bad, examples: [Tensor.randn([2])], to: url) }
        #expect(try Data(contentsOf: url) == before)
    }
}
