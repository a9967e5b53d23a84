import ArgumentParser
import Ember
import EmberONNX
import Foundation

// `ember run` and `ember info`: a compiled graph saved by `CompiledFunction.save(to:)`, or an
// ONNX model, runs here with no model source and no Python, its inputs and outputs as
// .npy/.npz/.safetensors.

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a saved compiled graph or an ONNX model on tensors read from files.",
        discussion: """
        MODEL is a graph file written by CompiledFunction.save(to:) (a .safetensors file) or an \
        ONNX model (.onnx). Each --input is one argument, in order: a .npy file, or a \
        .safetensors/.npz file holding one tensor; for an ONNX model, --input NAME=FILE names \
        the input. Outputs go to --output (.safetensors or .npz; named output0, output1, ... \
        for a graph, by their ONNX names for a model) or, without it, are summarised on \
        standard output.

          ember run mlp.graph.safetensors --input batch.npy --output logits.safetensors
          ember run resnet.onnx --input data=image.npy --output out.npz
        """)

    @Argument(help: "The graph file (.safetensors written by CompiledFunction.save) or ONNX model (.onnx).")
    var model: String

    @Option(name: .customLong("input"), help: "An argument's tensor file; repeat once per argument, in order.")
    var inputs: [String] = []

    @Option(help: "Where to write the outputs (.safetensors or .npz).")
    var output: String?

    func run() throws {
        if model.hasSuffix(".onnx") { return try runONNX() }
        let function = try GraphFunction(contentsOf: URL(fileURLWithPath: model))
        let expected = function.inputTypes
        guard inputs.count == expected.count else {
            throw ValidationError("\(model) takes \(expected.count) input\(expected.count == 1 ? "" : "s") (\(Info.describe(expected))), got \(inputs.count) --input")
        }
        let tensors = try zip(inputs, expected).enumerated().map { position, pair -> Tensor in
            let tensor = try readSingleTensor(pair.0)
            guard tensor.shape == pair.1.shape, tensor.dtype == pair.1.dtype else {
                throw ValidationError("--input \(pair.0): input \(position) must be \(pair.1.dtype)\(pair.1.shape), the file holds \(tensor.dtype)\(tensor.shape)")
            }
            return tensor
        }
        let results = withNoGrad { function(tensors) }
        if let output {
            try save(StateDict(results.enumerated().map { ("output\($0.offset)", $0.element) }), to: URL(fileURLWithPath: output))
            print("wrote \(results.count) output\(results.count == 1 ? "" : "s") to \(output)")
        } else {
            for (index, result) in results.enumerated() { print("output\(index): \(result)") }
        }
    }

    /// An ONNX model: inputs by position or as NAME=FILE, outputs by their names.
    private func runONNX() throws {
        let onnx = try ONNXModel(contentsOf: URL(fileURLWithPath: model))
        var feeds: [String: Tensor] = [:]
        for (position, argument) in inputs.enumerated() {
            let named = argument.split(separator: "=", maxSplits: 1).map(String.init)
            let (name, path) = named.count == 2 ? (named[0], named[1]) : (position < onnx.inputNames.count ? onnx.inputNames[position] : "", argument)
            guard onnx.inputNames.contains(name) else {
                throw ValidationError("--input \(argument): the model's inputs are \(onnx.inputNames.joined(separator: ", "))")
            }
            feeds[name] = try readSingleTensor(path)
        }
        let results = try withNoGrad { try onnx(feeds) }
        let ordered = onnx.outputNames.compactMap { name in results[name].map { (name, $0) } }
        if let output {
            try save(StateDict(ordered), to: URL(fileURLWithPath: output))
            print("wrote \(ordered.count) output\(ordered.count == 1 ? "" : "s") to \(output)")
        } else {
            for (name, result) in ordered { print("\(name): \(result)") }
        }
    }

    /// The one tensor of a .npy file, or of a .safetensors/.npz file holding exactly one.
    private func readSingleTensor(_ path: String) throws -> Tensor {
        let tensors = Array(try load(from: URL(fileURLWithPath: path)))
        guard tensors.count == 1 else {
            throw ValidationError("--input \(path) holds \(tensors.count) tensors; give a file with exactly one")
        }
        return tensors[0].1
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a saved compiled graph or an ONNX model: inputs, outputs, and the listing or operators.",
        discussion: "  ember info mlp.graph.safetensors\n  ember info resnet.onnx")

    @Argument(help: "The graph file (.safetensors written by CompiledFunction.save) or ONNX model (.onnx).")
    var model: String

    func run() throws {
        if model.hasSuffix(".onnx") { return try infoONNX() }
        let function = try GraphFunction(contentsOf: URL(fileURLWithPath: model))
        let graph = function.graph
        print("inputs: \(Info.describe(function.inputTypes))")
        print("outputs: \(Info.describe(graph.outputs.map { (graph.values[$0].shape, graph.values[$0].dtype) }))")
        print("\(graph.nodes.count) nodes")
        print(graph)
    }

    /// An ONNX model's inputs, outputs (declared types, `?` for symbolic sizes), opset,
    /// operator histogram and parameter count.
    private func infoONNX() throws {
        let onnx = try ONNXModel(contentsOf: URL(fileURLWithPath: model))
        func describe(_ names: [String], _ types: [String: (dtype: DType?, shape: [Int?])]) -> String {
            names.map { name in
                guard let (dtype, shape) = types[name] else { return name }
                return "\(name): \(dtype.map { "\($0)" } ?? "?")[\(shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", "))]"
            }.joined(separator: ", ")
        }
        print("inputs: \(describe(onnx.inputNames, onnx.inputTypes))")
        print("outputs: \(describe(onnx.outputNames, onnx.outputTypes))")
        print("opset: \(onnx.opsetVersion)")
        let parameters = onnx.parameters()
        print("parameters: \(parameters.reduce(0) { $0 + $1.count }) in \(parameters.count) tensors")
        let counts = onnx.operatorCounts
        print("\(counts.reduce(0) { $0 + $1.count }) nodes: " + counts.map { "\($0.name) \($0.count)" }.joined(separator: ", "))
    }

    static func describe(_ types: [(shape: [Int], dtype: DType)]) -> String {
        types.isEmpty ? "none" : types.map { "\($0.dtype)\($0.shape)" }.joined(separator: ", ")
    }
}
