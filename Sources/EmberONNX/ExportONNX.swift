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
/// Shapes are those of `example`, except the dimensions named in `dynamicAxes`, which become
/// symbolic (one size, such as a batch, shared by every input that names it):
///
///     try exportONNX(model.eval(), example: Tensor.randn([1, 784]), to: url, dynamicAxes: [0: "batch"])
///
/// The write is atomic: a failure leaves any previous file in place. Failures throw
/// ``ONNXExportError``; a graph with ops that have no ONNX form lists them all in one error.
/// - Parameters:
///   - model: the layer to export, in the mode it should run in (`eval()` for inference).
///   - example: an input of the shape and dtype the exported graph takes.
///   - url: where to write the `.onnx` file.
///   - opset: the ONNX opset to target, 13 to 21 (default 18).
///   - inputName: the graph's input name.
///   - outputName: the graph's output name.
///   - dynamicAxes: axes of the input that are symbolic in the file, with the dimension's name
///     (PyTorch's `dynamic_axes`); at most one name.
public func exportONNX(_ model: some Layer, example: Tensor, to url: URL, opset: Int = 18,
                       inputName: String = "input", outputName: String = "output",
                       dynamicAxes: [Int: String] = [:]) throws {
    let function = compile { [model] x in model(x) }
    var names: [ObjectIdentifier: String] = [:]
    for (name, tensor) in model.namedParameters() + model.namedBuffers() where names[ObjectIdentifier(tensor)] == nil {
        names[ObjectIdentifier(tensor)] = name
    }
    let data = try ONNXExporter.modelData(tracing: function, examples: [example], opset: opset,
                                          inputNames: [inputName], outputNames: [outputName], tensorNames: names,
                                          dynamicAxes: [dynamicAxes])
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
///   - dynamicAxes: per input, its symbolic axes and their name (`[[0: "batch"], [0: "batch"]]`);
///     empty for static shapes. At most one name in all.
public func exportONNX(_ function: CompiledFunction, examples: [Tensor], to url: URL, opset: Int = 18,
                       inputNames: [String]? = nil, outputNames: [String]? = nil,
                       tensorNames: [(name: String, tensor: Tensor)] = [], dynamicAxes: [[Int: String]] = []) throws {
    var names: [ObjectIdentifier: String] = [:]
    for (name, tensor) in tensorNames where names[ObjectIdentifier(tensor)] == nil { names[ObjectIdentifier(tensor)] = name }
    let data = try ONNXExporter.modelData(tracing: function, examples: examples, opset: opset,
                                          inputNames: inputNames, outputNames: outputNames, tensorNames: names,
                                          dynamicAxes: dynamicAxes)
    try data.write(to: url, options: .atomic)
}

/// Traces a function and writes its graph as an ONNX `ModelProto`.
enum ONNXExporter {
    static let opsets = 13...21

    static func modelData(tracing function: CompiledFunction, examples: [Tensor], opset: Int, inputNames: [String]?,
                          outputNames: [String]?, tensorNames: [ObjectIdentifier: String],
                          dynamicAxes: [[Int: String]]) throws -> Data {
        var model = try modelProto(tracing: function, examples: examples, opset: opset, inputNames: inputNames,
                                   outputNames: outputNames, tensorNames: tensorNames, dynamicAxes: dynamicAxes)
        model.docString = "Exported by Ember from a traced graph."
        return try model.serializedBytes()
    }

    static func modelProto(tracing function: CompiledFunction, examples: [Tensor], opset: Int, inputNames: [String]?,
                           outputNames: [String]?, tensorNames: [ObjectIdentifier: String],
                           dynamicAxes: [[Int: String]] = []) throws -> Onnx_ModelProto {
        guard opsets.contains(opset) else {
            throw ONNXExportError.invalidArgument("opset \(opset) is not supported; expected \(opsets.lowerBound) to \(opsets.upperBound)")
        }
        let detached = examples.map { $0.detach() }
        let plan = try DynamicPlan(examples: detached, axes: dynamicAxes)
        let graph = try trace(function, plan?.base ?? detached)
        var dynamic: DynamicSize?
        if let plan {
            dynamic = DynamicSize(other: try trace(function, plan.next), symbol: plan.symbol, size: plan.size,
                                  input: plan.input, axis: plan.axis)
            if let reason = dynamic!.mismatch(with: graph) { throw ONNXExportError.dynamicSizeNotExpressible(reason) }
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
                                     inputNames: inputs, outputNames: outputs, tensorNames: tensorNames, dynamic: dynamic)
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

    /// The graph `function` traces on `inputs`, with grad off.
    private static func trace(_ function: CompiledFunction, _ inputs: [Tensor]) throws -> Graph {
        _ = withNoGrad { function(inputs) }
        guard let graph = function.graph else {
            throw ONNXExportError.notTraceable(function.lastFailure.map { "\($0)" } ?? "the function ran eagerly")
        }
        return graph
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

/// The two sets of inputs a dynamic export traces: the examples with the dynamic axes at size
/// n = max(size, 2) and at n + 1 (rows repeated from the example, so index inputs stay valid;
/// a size of 1 would let the passes drop reshapes that are identities only at 1).
struct DynamicPlan {
    let symbol: String
    let size: Int
    let input: Int, axis: Int
    let base: [Tensor], next: [Tensor]

    /// nil when no axis is dynamic.
    init?(examples: [Tensor], axes: [[Int: String]]) throws {
        guard axes.contains(where: { !$0.isEmpty }) else { return nil }
        guard axes.count == examples.count else {
            throw ONNXExportError.invalidArgument("dynamicAxes has \(axes.count) entries for \(examples.count) inputs")
        }
        let symbols = Set(axes.flatMap(\.values))
        guard symbols.count == 1, let symbol = symbols.first, !symbol.isEmpty else {
            throw ONNXExportError.invalidArgument("one dynamic dimension name is supported, got \(symbols.sorted())")
        }
        var located: (input: Int, axis: Int, size: Int)?
        for (input, inputAxes) in axes.enumerated() {
            guard inputAxes.count <= 1 else {
                throw ONNXExportError.invalidArgument("input \(input) names \(inputAxes.count) dynamic axes; one per input is supported")
            }
            guard let axis = inputAxes.keys.first else { continue }
            guard axis >= 0 && axis < examples[input].rank else {
                throw ONNXExportError.invalidArgument("dynamic axis \(axis) of input \(input), which has shape \(examples[input].shape)")
            }
            let size = examples[input].shape[axis]
            guard size >= 1, located == nil || located!.size == size else {
                throw ONNXExportError.invalidArgument("the inputs' dynamic axes must have one size of at least 1 in the examples")
            }
            located = located ?? (input, axis, size)
        }
        let (input, axis, size) = located!
        self.symbol = symbol
        self.size = Swift.max(size, 2)
        (self.input, self.axis) = (input, axis)
        func resized(_ n: Int) -> [Tensor] {
            zip(examples, axes).map { example, inputAxes in
                guard let axis = inputAxes.keys.first else { return example }
                let rows = Tensor((0..<n).map { Int64($0 % example.shape[axis]) })
                return withNoGrad { example.indexSelect(dim: axis, index: rows) }
            }
        }
        base = resized(self.size)
        next = resized(self.size + 1)
    }
}

/// Exports an imported (and perhaps fine-tuned) ONNX model back to ONNX, traced on `inputs`:
/// the parameters keep their initializer names, the inputs and outputs their names.
///
///     let model = try ONNXModel(contentsOf: url)
///     // … fine-tune model.parameters() …
///     try exportONNX(model, inputs: ["input": x], to: tunedURL)
public func exportONNX(_ model: ONNXModel, inputs: [String: Tensor], to url: URL, opset: Int = 18,
                       dynamicAxes: [String: [Int: String]] = [:]) throws {
    let names = model.inputNames
    guard Set(inputs.keys) == Set(names) else {
        throw ONNXExportError.invalidArgument("inputs \(inputs.keys.sorted()) do not match the model's inputs \(names)")
    }
    let outputs = model.outputNames
    var failure: Error?
    let function = compile { (xs: [Tensor]) -> [Tensor] in
        do {
            let results = try model(Dictionary(uniqueKeysWithValues: zip(names, xs)))
            return outputs.map { results[$0]! }
        } catch {
            failure = error
            return []
        }
    }
    var tensorNames: [ObjectIdentifier: String] = [:]
    for (name, tensor) in model.namedParameters() { tensorNames[ObjectIdentifier(tensor)] = name }
    let data: Data
    do {
        data = try ONNXExporter.modelData(tracing: function, examples: names.map { inputs[$0]! }, opset: opset, inputNames: names,
                                          outputNames: outputs, tensorNames: tensorNames,
                                          dynamicAxes: dynamicAxes.isEmpty ? [] : names.map { dynamicAxes[$0] ?? [:] })
    } catch {
        throw failure ?? error
    }
    if let failure { throw failure }
    try data.write(to: url, options: .atomic)
}
