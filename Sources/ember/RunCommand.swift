import ArgumentParser
import Ember
import Foundation

// `ember run` and `ember info`: a compiled graph saved by `CompiledFunction.save(to:)` runs
// here with no model source and no Python, its inputs and outputs as .npy/.npz/.safetensors.

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a saved compiled graph on tensors read from files.",
        discussion: """
        MODEL is a graph file written by CompiledFunction.save(to:) (a .safetensors file). Each \
        --input is one argument, in order: a .npy file, or a .safetensors/.npz file holding one \
        tensor. Outputs go to --output (.safetensors or .npz, named output0, output1, ...) or, \
        without it, are summarised on standard output.

          ember run mlp.graph.safetensors --input batch.npy --output logits.safetensors
        """)

    @Argument(help: "The graph file (.safetensors written by CompiledFunction.save).")
    var model: String

    @Option(name: .customLong("input"), help: "An argument's tensor file; repeat once per argument, in order.")
    var inputs: [String] = []

    @Option(help: "Where to write the outputs (.safetensors or .npz).")
    var output: String?

    func run() throws {
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
        abstract: "Print a saved compiled graph: its inputs, outputs and listing.",
        discussion: "  ember info mlp.graph.safetensors")

    @Argument(help: "The graph file (.safetensors written by CompiledFunction.save).")
    var model: String

    func run() throws {
        let function = try GraphFunction(contentsOf: URL(fileURLWithPath: model))
        let graph = function.graph
        print("inputs: \(Info.describe(function.inputTypes))")
        print("outputs: \(Info.describe(graph.outputs.map { (graph.values[$0].shape, graph.values[$0].dtype) }))")
        print("\(graph.nodes.count) nodes")
        print(graph)
    }

    static func describe(_ types: [(shape: [Int], dtype: DType)]) -> String {
        types.isEmpty ? "none" : types.map { "\($0.dtype)\($0.shape)" }.joined(separator: ", ")
    }
}
