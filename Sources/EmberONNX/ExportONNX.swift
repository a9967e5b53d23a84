import Ember
import Foundation

/// Exports `model` to an ONNX file for inference runtimes (onnxruntime, TensorRT, Core ML
/// converters): its forward pass on `example` is traced (as `compile` traces it, with grad
/// off and in the module's current training or evaluation mode), and the graph is written with
/// the parameters and buffers as initializers under their `namedParameters()` names.
///
///     let model = Sequential { Linear(784, 256); ReLU(); Linear(256, 10) }
///     try exportONNX(model.eval(), example: Tensor.randn([1, 784]), to: URL(fileURLWithPath: "mlp.onnx"))
///
/// The write is atomic: a failure leaves any previous file in place. Shapes are static (those of
/// `example`). Failures throw ``ONNXExportError``; a graph with ops that have no ONNX form lists
/// them all in one error.
/// - Parameters:
///   - model: the layer to export, in the mode it should run in (`eval()` for inference).
///   - example: an input of the shape and dtype the exported graph takes.
///   - url: where to write the `.onnx` file.
///   - opset: the ONNX opset to target, 13 to 21 (default 18).
///   - inputName: the graph's input name.
///   - outputName: the graph's output name.
public func exportONNX(_ model: some Layer, example: Tensor, to url: URL, opset: Int = 18,
                       inputName: String = "input", outputName: String = "output") throws {
    let function = compile { [model] x in model(x) }
    var names: [ObjectIdentifier: String] = [:]
    for (name, tensor) in model.namedParameters() + model.namedBuffers() where names[ObjectIdentifier(tensor)] == nil {
        names[ObjectIdentifier(tensor)] = name
    }
    let data = try ONNXExporter.modelData(tracing: function, examples: [example], opset: opset,
                                          inputNames: [inputName], outputNames: [outputName], tensorNames: names)
    try data.write(to: url, options: .atomic)
}

/// Exports a compiled function of any arity to ONNX, traced on `examples`.
///
///     let f = compile { (x: Tensor, y: Tensor) in (x.matmul(y)).relu() }
///     try exportONNX(f, examples: [a, b], to: url, inputNames: ["x", "y"])
/// - Parameters:
///   - function: the compiled function to trace and export.
///   - examples: one input per argument, of the shapes and dtypes the exported graph takes.
///   - url: where to write the `.onnx` file.
///   - opset: the ONNX opset to target, 13 to 21 (default 18).
///   - inputNames: one per example (default `input0`, `input1`, …).
///   - outputNames: one per output (default `output0`, …).
///   - tensorNames: names for captured tensors (parameters), which otherwise become `captured0`, ….
public func exportONNX(_ function: CompiledFunction, examples: [Tensor], to url: URL, opset: Int = 18,
                       inputNames: [String]? = nil, outputNames: [String]? = nil,
                       tensorNames: [(name: String, tensor: Tensor)] = []) throws {
    var names: [ObjectIdentifier: String] = [:]
    for (name, tensor) in tensorNames where names[ObjectIdentifier(tensor)] == nil { names[ObjectIdentifier(tensor)] = name }
    let data = try ONNXExporter.modelData(tracing: function, examples: examples, opset: opset,
                                          inputNames: inputNames, outputNames: outputNames, tensorNames: names)
    try data.write(to: url, options: .atomic)
}

/// Traces a function and writes its graph as an ONNX `ModelProto`.
enum ONNXExporter {
    static let opsets = 13...21

    static func modelData(tracing function: CompiledFunction, examples: [Tensor], opset: Int, inputNames: [String]?,
                          outputNames: [String]?, tensorNames: [ObjectIdentifier: String]) throws -> Data {
        var model = try modelProto(tracing: function, examples: examples, opset: opset, inputNames: inputNames,
                                   outputNames: outputNames, tensorNames: tensorNames)
        model.docString = "Exported by Ember from a traced graph."
        return try model.serializedBytes()
    }

    static func modelProto(tracing function: CompiledFunction, examples: [Tensor], opset: Int, inputNames: [String]?,
                           outputNames: [String]?, tensorNames: [ObjectIdentifier: String]) throws -> Onnx_ModelProto {
        guard opsets.contains(opset) else {
            throw ONNXExportError.invalidArgument("opset \(opset) is not supported; expected \(opsets.lowerBound) to \(opsets.upperBound)")
        }
        let detached = examples.map { $0.detach() }
        _ = withNoGrad { function(detached) }
        guard let graph = function.graph else {
            throw ONNXExportError.notTraceable(function.lastFailure.map { "\($0)" } ?? "the function ran eagerly")
        }
        let outputCount = function.outputCountOfLastTrace
        let inputs = inputNames ?? (0..<graph.inputCount).map { graph.inputCount == 1 ? "input" : "input\($0)" }
        let outputs = outputNames ?? (0..<outputCount).map { outputCount == 1 ? "output" : "output\($0)" }
        guard inputs.count == graph.inputCount else {
            throw ONNXExportError.invalidArgument("\(inputs.count) input names for a function of \(graph.inputCount) inputs")
        }
        guard outputs.count == outputCount else {
            throw ONNXExportError.invalidArgument("\(outputs.count) output names for a function of \(outputCount) outputs")
        }
        guard Set(inputs + outputs).count == inputs.count + outputs.count else {
            throw ONNXExportError.invalidArgument("input and output names must be distinct: \(inputs + outputs)")
        }
        var writer = ONNXGraphWriter(graph: graph, outputs: Array(graph.outputs.prefix(outputCount)), opset: opset,
                                     inputNames: inputs, outputNames: outputs, tensorNames: tensorNames)
        let graphProto = writer.write(name: "ember")
        guard writer.unsupported.isEmpty else {
            throw ONNXExportError.unsupportedOperations(writer.unsupported, opset: opset)
        }
        var model = Onnx_ModelProto()
        model.irVersion = irVersion(forOpset: opset)
        var opsetID = Onnx_OperatorSetIdProto()
        opsetID.domain = ""
        opsetID.version = Int64(opset)
        model.opsetImport = [opsetID]
        model.producerName = "Ember"
        model.graph = graphProto
        return model
    }

    /// The oldest IR version that carries `opset` (ONNX's versioning table), so older runtimes
    /// can read the file.
    static func irVersion(forOpset opset: Int) -> Int64 {
        switch opset {
        case ..<15: return 7
        case ..<19: return 8
        case ..<21: return 9
        default: return 10
        }
    }
}
