import Ember
import Foundation

/// An ONNX model, read from a file, run with Ember: a Swift program can run (and fine-tune) a
/// model trained anywhere, with no Python on the machine.
///
///     let model = try ONNXModel(contentsOf: URL(fileURLWithPath: "resnet.onnx"))
///     let logits = try model(["input": image])["output"]!
///
/// The initializers are the model's parameters (a `ParameterDict` under their ONNX names),
/// so the model trains like any module:
///
///     let optimizer = SGD(model.parameters(), lr: 0.01)
///     let loss = crossEntropy(try model(images), labels)
///     loss.backward()
///     optimizer.step()
///
/// Each node runs as Ember primitives (`Primitive.apply(to:)`), checked against their shape
/// and dtype rules, so a file whose shapes do not fit throws instead of stopping the program.
/// Loading checks every operator first: a model with unsupported ones fails with one
/// ``ONNXImportError/unsupportedOperators(_:)`` that lists them all.
public final class ONNXModel: ParameterDict {
    /// The graph's inputs (initializers excluded), in order.
    public let inputNames: [String]
    /// The graph's outputs, in order.
    public let outputNames: [String]
    /// The opset of the default domain.
    public let opsetVersion: Int
    /// The declared dtype and shape of each input (nil sizes are symbolic).
    public let inputTypes: [String: (dtype: DType?, shape: [Int?])]
    /// The declared dtype and shape of each output, where the file declares them.
    public let outputTypes: [String: (dtype: DType?, shape: [Int?])]
    /// How many nodes of each operator the graph holds, most frequent first.
    public var operatorCounts: [(name: String, count: Int)] {
        var counts: [String: Int] = [:]
        for node in nodes { counts[node.opType, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    private let nodes: [Onnx_NodeProto]
    /// Integer initializers (shapes, indices): constants, not parameters.
    private let constants: [String: Tensor]
    /// For each node, the values whose last reader it is (freed after it runs).
    private let lastReads: [[String]]

    /// The ONNX operators (default domain) that import runs, sorted.
    ///
    ///     ONNXModel.supportedOperators.contains("Conv")   // true
    public static var supportedOperators: [String] { ONNXOperators.table.keys.sorted() }

    /// Reads the model at `url`; external data is read from the same folder, never outside it.
    public convenience init(contentsOf url: URL) throws {
        guard let data = try? Data(contentsOf: url) else { throw ONNXImportError.malformed("cannot read \(url.path)") }
        try self.init(data: data, folder: url.deletingLastPathComponent())
    }

    /// Reads a model from its bytes; `folder` is where external data lives.
    public init(data: Data, folder: URL? = nil) throws {
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw ONNXImportError.malformed("not an ONNX model (\(error))")
        }
        guard model.hasGraph else { throw ONNXImportError.malformed("no graph") }
        let imports = model.opsetImport.filter { $0.domain == "" || $0.domain == "ai.onnx" }
        guard let opset = imports.first.map({ Int($0.version) }) ?? (model.opsetImport.isEmpty ? 1 : nil), opset >= 1, opset < 1000 else {
            throw ONNXImportError.malformed("no opset for the default domain")
        }
        let graph = model.graph
        var unsupported: [String] = []
        for node in graph.node {
            let known = (node.domain == "" || node.domain == "ai.onnx") && ONNXOperators.table[node.opType] != nil
            let label = (node.domain.isEmpty ? "" : node.domain + ".") + "\(node.opType) (opset \(opset))"
            if !known && !unsupported.contains(label) { unsupported.append(label) }
        }
        guard unsupported.isEmpty else { throw ONNXImportError.unsupportedOperators(unsupported) }
        guard graph.sparseInitializer.isEmpty else { throw ONNXImportError.unsupportedOperators(["sparse initializers"]) }

        var parameters: [(String, Tensor)] = [], constants: [String: Tensor] = [:]
        for proto in graph.initializer {
            guard !proto.name.isEmpty else { throw ONNXImportError.malformed("an initializer has no name") }
            let tensor = try ONNXTensorReader.tensor(proto, folder: folder)
            if tensor.dtype.isFloatingPoint { parameters.append((proto.name, tensor)) } else { constants[proto.name] = tensor }
        }
        let initialized = Set(graph.initializer.map(\.name))
        let inputs = graph.input.filter { !initialized.contains($0.name) }
        inputNames = inputs.map(\.name)
        outputNames = graph.output.map(\.name)
        func declared(_ values: [Onnx_ValueInfoProto]) -> [String: (dtype: DType?, shape: [Int?])] {
            var types: [String: (dtype: DType?, shape: [Int?])] = [:]
            for value in values where value.type.tensorType.hasElemType {
                let tensorType = value.type.tensorType
                types[value.name] = (ONNXOperators.dtype(onnx: Int(tensorType.elemType)),
                                     tensorType.shape.dim.map { $0.dimValue > 0 ? Int($0.dimValue) : nil })
            }
            return types
        }
        inputTypes = declared(inputs)
        outputTypes = declared(graph.output)
        opsetVersion = opset

        // Nodes that read only constants (Constant, ConstantOfShape, shape arithmetic on
        // integer initializers) run once, here; the float initializers are parameters and are
        // read afresh at every call, so nothing that reads one is folded.
        var folded = constants, remaining: [Onnx_NodeProto] = []
        let parameterNames = Set(parameters.map(\.0))
        for node in graph.node {
            let operands = node.input.filter { !$0.isEmpty }
            guard operands.allSatisfy({ folded[$0] != nil && !parameterNames.contains($0) }), !inputNames.contains(where: operands.contains) else {
                remaining.append(node)
                continue
            }
            let results = try withNoGrad {
                try ONNXOperators.table[node.opType]!(ONNXNode(proto: node, opset: opset, inputs: node.input.map { $0.isEmpty ? nil : folded[$0] }))
            }
            for (position, name) in node.output.enumerated() where !name.isEmpty && position < results.count { folded[name] = results[position] }
        }
        nodes = remaining
        self.constants = folded

        // Every value read must be defined earlier; remember each one's last reader.
        var defined = Set(inputNames).union(initialized).union(folded.keys)
        var lastReader: [String: Int] = [:]
        for (index, node) in remaining.enumerated() {
            for name in node.input where !name.isEmpty {
                guard defined.contains(name) else {
                    throw ONNXImportError.malformed("node \(node.opType) '\(node.name)' reads '\(name)', which no earlier node, input or initializer defines")
                }
                lastReader[name] = index
            }
            for name in node.output where !name.isEmpty { defined.insert(name) }
        }
        for name in outputNames where !defined.contains(name) { throw ONNXImportError.malformed("output '\(name)' is never computed") }
        var lastReads = Array(repeating: [String](), count: remaining.count)
        let kept = Set(outputNames)
        for (name, index) in lastReader where !kept.contains(name) { lastReads[index].append(name) }
        self.lastReads = lastReads
        super.init()
        for (name, tensor) in parameters { self[name] = tensor }
    }

    /// Runs the model on named inputs; returns every graph output by name.
    public func callAsFunction(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        var values: [String: Tensor] = constants
        for name in keys { values[name] = self[name] }
        for name in inputNames {
            guard let tensor = feeds[name] else { throw ONNXImportError.invalidInput("input '\(name)' is missing (inputs: \(inputNames))") }
            if let (dtype, shape) = inputTypes[name] {
                guard dtype == nil || dtype == tensor.dtype, shape.isEmpty || shape.count == tensor.rank,
                      zip(shape, tensor.shape).allSatisfy({ $0 == nil || $0 == $1 }) else {
                    throw ONNXImportError.invalidInput("input '\(name)' is \(tensor.dtype)\(tensor.shape); the model declares \(dtype.map { "\($0)" } ?? "?")\(shape.map { $0.map(String.init) ?? "?" })")
                }
            }
            values[name] = tensor
        }
        for unknown in feeds.keys where !inputNames.contains(unknown) {
            throw ONNXImportError.invalidInput("'\(unknown)' is not an input of the model (inputs: \(inputNames))")
        }
        for (index, node) in nodes.enumerated() {
            let inputs = node.input.map { $0.isEmpty ? nil : values[$0] }
            let results = try ONNXOperators.table[node.opType]!(ONNXNode(proto: node, opset: opsetVersion, inputs: inputs))
            for (position, name) in node.output.enumerated() where !name.isEmpty {
                guard position < results.count else {
                    throw ONNXImportError.invalidNode(node: node.opType, message: "output \(position) ('\(name)') is not supported")
                }
                values[name] = results[position]
            }
            for name in lastReads[index] { values[name] = nil }
        }
        var outputs: [String: Tensor] = [:]
        for name in outputNames { outputs[name] = values[name] }
        return outputs
    }

    /// Runs a model with one input and one output.
    ///
    ///     let y = try model(x)
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        guard inputNames.count == 1, outputNames.count == 1 else {
            throw ONNXImportError.invalidInput("the model has inputs \(inputNames) and outputs \(outputNames); pass a dictionary")
        }
        return try self([inputNames[0]: input])[outputNames[0]]!
    }
}
