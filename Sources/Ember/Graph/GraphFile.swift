import Foundation

/// Saving and loading graphs: one safetensors file holds the captured tensors (the weights, as
/// they are at save time) and constants, and its metadata holds the graph itself as versioned
/// JSON, so a compiled model runs in another Swift program without its source.
///
///     try f.save(to: URL(fileURLWithPath: "model.graph.safetensors"))
///     let g = try GraphFunction(contentsOf: URL(fileURLWithPath: "model.graph.safetensors"))
///     let y = g([x])[0]
extension Graph {
    static let fileFormat = "ember.graph"
    static let fileVersion = 1

    /// Writes the graph and its tensors to `url` (atomically, as every Ember save).
    public func save(to url: URL) throws {
        let opaque = Set(nodes.compactMap { node -> String? in
            if case .opaque(let operation) = node.primitive { return operation.name }
            return nil
        })
        guard opaque.isEmpty else {
            throw SerializationError.malformed(format: Graph.fileFormat,
                                               message: "cannot save: \(opaque.sorted().joined(separator: ", ")) \(opaque.count == 1 ? "has" : "have") no graph form yet (traced as extern calls)")
        }
        var tensors: [(String, Tensor)] = []
        var valueEntries: [String] = []
        for (index, value) in values.enumerated() {
            var entry = "{\"shape\":[\(value.shape.map(String.init).joined(separator: ","))],\"dtype\":\"\(value.dtype)\""
            switch value.source {
            case .input(let position): entry += ",\"input\":\(position)"
            case .captured(let tensor), .constant(let tensor):
                let name = "value.\(index)"
                tensors.append((name, withoutGrad { tensor.contiguous() }))
                entry += ",\"tensor\":\"\(name)\""
                if tensor.isWrappedNumber { entry += ",\"wrappedNumber\":true" }
            case .node(let node): entry += ",\"node\":\(node)"
            }
            valueEntries.append(entry + "}")
        }
        let nodeEntries = nodes.map { node -> String in
            let attributes = node.primitive.attributes.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
            return "{\"op\":\"\(node.primitive.name)\",\"attributes\":{\(attributes)},\"inputs\":[\(node.inputs.map(String.init).joined(separator: ","))],\"output\":\(node.output)}"
        }
        let json = "{\"format\":\"\(Graph.fileFormat)\",\"version\":\(Graph.fileVersion),\"inputCount\":\(inputCount)," +
            "\"values\":[\(valueEntries.joined(separator: ","))],\"nodes\":[\(nodeEntries.joined(separator: ","))]," +
            "\"outputs\":[\(outputs.map(String.init).joined(separator: ","))]}"
        try SafeTensors.save(StateDict(tensors), to: url, metadata: [Graph.fileFormat: json])
    }

    /// Reads a graph written by ``save(to:)``. A file that is not one, or whose graph is
    /// malformed (unknown ops, values used before they are defined, shapes that do not match
    /// their tensors), throws ``SerializationError``.
    public init(contentsOf url: URL) throws {
        try self.init(contents: SafeTensors.load(from: url, mapped: false), source: url.path)
    }

    /// Reads a graph from the bytes of a file written by ``save(to:)`` (what `ember-fuzz` feeds).
    public init<C: Collection>(decoding bytes: C) throws where C.Element == UInt8 {
        try self.init(contents: SafeTensors.decode(bytes), source: "graph")
    }

    private init(contents: SafeTensors.Contents, source: String) throws {
        guard let text = contents.metadata[Graph.fileFormat] else {
            throw SerializationError.malformed(format: Graph.fileFormat, message: "\(source) holds no graph (no '\(Graph.fileFormat)' metadata)")
        }
        let json = try Array(text.utf8).withUnsafeBytes { try JSONParser.parse($0, format: Graph.fileFormat) }
        let graph = try GraphDecoder(tensors: contents.tensors).decode(json)
        if let problem = graph.typeCheck() ?? graph.constantIndexProblem() {
            throw SerializationError.malformed(format: Graph.fileFormat, message: "\(source): \(problem)")
        }
        self = graph
    }
}

/// Checks and rebuilds a graph from its JSON form.
private struct GraphDecoder {
    let tensors: StateDict
    /// 2^34 elements (64 GiB of float32): beyond what a real graph holds, and it keeps the
    /// products of a hostile file's shapes from overflowing.
    static let maximumElements = 1 << 34

    func error(_ message: String) -> SerializationError { .malformed(format: Graph.fileFormat, message: message) }

    func field(_ object: [(String, JSONValue)], _ key: String) -> JSONValue? { object.first { $0.0 == key }?.1 }

    func integers(_ value: JSONValue?, _ what: String) throws -> [Int] {
        guard case .array(let items)? = value else { throw error("\(what) is not a list") }
        return try items.map { item in
            guard let integer = item.integer else { throw error("\(what) holds a non-integer") }
            return integer
        }
    }

    func decode(_ json: JSONValue) throws -> Graph {
        guard case .object(let root) = json else { throw error("the graph is not a JSON object") }
        guard case .string(Graph.fileFormat)? = field(root, "format") else { throw error("not an \(Graph.fileFormat) file") }
        guard let version = field(root, "version")?.integer, version == Graph.fileVersion else {
            throw error("unsupported graph version (this Ember reads version \(Graph.fileVersion))")
        }
        guard let inputCount = field(root, "inputCount")?.integer, inputCount >= 0, inputCount < 1 << 20 else { throw error("bad inputCount") }
        guard case .array(let valueItems)? = field(root, "values"), case .array(let nodeItems)? = field(root, "nodes") else {
            throw error("values or nodes missing")
        }
        var graph = Graph()
        graph.inputCount = inputCount
        var pendingNodes: [Int: Int] = [:]
        for (index, item) in valueItems.enumerated() {
            guard case .object(let object) = item else { throw error("value \(index) is not an object") }
            let shape = try integers(field(object, "shape"), "value \(index)'s shape")
            // Bounded element counts: the plan allocates buffers of these shapes.
            var elements = 1
            for size in shape {
                guard size >= 0, shape.count <= 16 else { throw error("value \(index) has a bad shape") }
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow, product <= GraphDecoder.maximumElements else {
                    throw error("value \(index) has more than \(GraphDecoder.maximumElements) elements")
                }
                elements = product
            }
            guard case .string(let dtypeName)? = field(object, "dtype"),
                  let dtype = DType.allCases.first(where: { "\($0)" == dtypeName }) else { throw error("value \(index) has a bad dtype") }
            if let position = field(object, "input")?.integer {
                guard position >= 0 && position < inputCount else { throw error("value \(index) is input \(position) of \(inputCount)") }
                graph.values.append(Graph.Value(shape: shape, dtype: dtype, source: .input(position)))
            } else if case .string(let name)? = field(object, "tensor") {
                guard let tensor = tensors[name] else { throw error("value \(index) names missing tensor '\(name)'") }
                guard tensor.shape == shape, tensor.dtype == dtype else { throw error("tensor '\(name)' does not match value \(index)'s shape and dtype") }
                var stored = tensor
                if case .bool(true)? = field(object, "wrappedNumber") {
                    stored = Tensor(storage: tensor.storage, layout: tensor.layout, dtype: tensor.dtype, isWrappedNumber: true)
                }
                graph.values.append(Graph.Value(shape: shape, dtype: dtype, source: .constant(stored)))
            } else if let node = field(object, "node")?.integer {
                guard node >= 0 && node < nodeItems.count else { throw error("value \(index) comes from missing node \(node)") }
                pendingNodes[index] = node
                graph.values.append(Graph.Value(shape: shape, dtype: dtype, source: .node(node)))
            } else {
                throw error("value \(index) has no source")
            }
        }
        for (index, item) in nodeItems.enumerated() {
            guard case .object(let object) = item, case .string(let op)? = field(object, "op"),
                  case .object(let attributeItems)? = field(object, "attributes"),
                  let output = field(object, "output")?.integer else { throw error("node \(index) is malformed") }
            let inputs = try integers(field(object, "inputs"), "node \(index)'s inputs")
            guard output >= 0 && output < graph.values.count, pendingNodes[output] == index else {
                throw error("node \(index)'s output does not name its value")
            }
            for input in inputs {
                guard input >= 0 && input < graph.values.count else { throw error("node \(index) reads missing value \(input)") }
                if case .node(let producer) = graph.values[input].source, producer >= index {
                    throw error("node \(index) reads value \(input) before it is defined")
                }
            }
            var attributes: [String: String] = [:]
            for (key, value) in attributeItems {
                guard case .string(let text) = value else { throw error("node \(index)'s attribute \(key) is not a string") }
                attributes[key] = text
            }
            guard let primitive = Primitive(name: op, attributes: attributes), CPUBackend.isKnown(primitive) else {
                throw error("node \(index): unknown operation '\(op)' or bad attributes \(attributes)")
            }
            guard primitive.arity.contains(inputs.count) else { throw error("node \(index): \(op) takes \(primitive.arity) inputs, got \(inputs.count)") }
            graph.nodes.append(Graph.Node(primitive: primitive, inputs: inputs, output: output))
        }
        guard graph.nodes.count == pendingNodes.count else { throw error("a node value has no node") }
        graph.outputs = try integers(field(root, "outputs"), "outputs")
        guard graph.outputs.allSatisfy({ $0 >= 0 && $0 < graph.values.count }) else { throw error("an output names a missing value") }
        return graph
    }
}

extension Primitive {
    /// How many inputs the primitive takes.
    var arity: ClosedRange<Int> {
        switch self {
        case .unary, .reduce, .cast, .copy, .reshape, .permute, .expand, .slice, .sliceScatter, .softmax,
             .maxPool2d, .averagePool2d, .flip, .constantPad, .cumulativeSum, .argReduce, .argsort,
             .cumulativeProduct, .roll, .repeat: return 1...1
        case .binary, .compare, .logical, .matmul, .conv2dInputGradient, .conv2dWeightGradient, .gather,
             .maxPool2dBackward, .sliceAssign: return 2...2
        case .select, .scatter: return 3...3
        case .lstm: return 4...4
        case .layerNorm(_, _, let hasWeight, let hasBias): let n = 1 + (hasWeight ? 1 : 0) + (hasBias ? 1 : 0); return n...n
        case .conv2d: return 2...3
        case .concatenate: return 1...(1 << 16)
        case .opaque(let operation): return operation.inputTypes.count...operation.inputTypes.count
        }
    }

    /// The primitive named `name` with `attributes` as ``attributes`` writes them; nil when
    /// the name is unknown or an attribute is missing or malformed.
    init?(name: String, attributes: [String: String]) {
        func int(_ key: String) -> Int? { attributes[key].flatMap { Int($0) } }
        func double(_ key: String) -> Double? { attributes[key].flatMap { Double($0) } }
        func bool(_ key: String) -> Bool? { attributes[key].flatMap { Bool($0) } }
        func list(_ key: String) -> [Int]? {
            guard let text = attributes[key], text.hasPrefix("["), text.hasSuffix("]") else { return nil }
            let inner = text.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let values = inner.compactMap { Int($0) }
            return values.count == inner.count && values.count <= 16 ? values : nil
        }
        switch name {
        case "where": self = .select
        case "logicalAnd", "logicalOr", "logicalXor": self = .logical(name)
        case "to":
            guard let dtype = DType.allCases.first(where: { "\($0)" == attributes["dtype"] }) else { return nil }
            self = .cast(dtype)
        case "copy": self = .copy
        case "reshape": guard let shape = list("shape") else { return nil }; self = .reshape(shape)
        case "permute": guard let dims = list("dims") else { return nil }; self = .permute(dims)
        case "expand": guard let shape = list("shape") else { return nil }; self = .expand(shape)
        case "slice":
            guard let components = attributes["components"].flatMap(SliceComponent.parse) else { return nil }
            self = .slice(components)
        case "sliceScatter":
            guard let shape = list("shape"), let components = attributes["components"].flatMap(SliceComponent.parse) else { return nil }
            self = .sliceScatter(shape: shape, components)
        case "matmul": self = .matmul
        case "softmax", "logSoftmax": guard let dim = int("dim") else { return nil }; self = .softmax(dim: dim, log: name == "logSoftmax")
        case "layerNorm":
            guard let rank = int("normalizedRank"), let eps = double("eps"), let w = bool("hasWeight"), let b = bool("hasBias") else { return nil }
            self = .layerNorm(normalizedRank: rank, eps: eps, hasWeight: w, hasBias: b)
        case "cat": guard let dim = int("dim") else { return nil }; self = .concatenate(dim: dim)
        case "gather": guard let dim = int("dim") else { return nil }; self = .gather(dim: dim)
        case "scatter", "scatterAdd": guard let dim = int("dim") else { return nil }; self = .scatter(dim: dim, accumulate: name == "scatterAdd")
        case "conv2d", "conv2dInputGradient", "conv2dWeightGradient":
            guard let geometry = list("geometry").flatMap(ConvolutionGeometry.init(values:)) else { return nil }
            self = name == "conv2d" ? .conv2d(geometry) : name == "conv2dInputGradient" ? .conv2dInputGradient(geometry) : .conv2dWeightGradient(geometry)
        case "maxPool2d", "maxPool2dBackward":
            guard let geometry = list("geometry").flatMap(ConvolutionGeometry.pooling(values:)) else { return nil }
            self = name == "maxPool2d" ? .maxPool2d(geometry) : .maxPool2dBackward(geometry)
        case "flip": guard let dims = list("dims") else { return nil }; self = .flip(dims)
        case "pad":
            guard let padding = list("padding"), let value = double("value") else { return nil }
            self = .constantPad(padding, value: value)
        case "cumsum":
            guard let dim = int("dim"), let reverse = bool("reverse") else { return nil }
            self = .cumulativeSum(dim: dim, reverse: reverse)
        case "argmax", "argmin":
            guard let keepDim = bool("keepDim"), let text = attributes["dim"], text == "none" || Int(text) != nil else { return nil }
            self = .argReduce(max: name == "argmax", dim: Int(text), keepDim: keepDim)
        case "sliceAssign":
            guard let components = attributes["components"].flatMap(SliceComponent.parse) else { return nil }
            self = .sliceAssign(components)
        case "cumprod": guard let dim = int("dim") else { return nil }; self = .cumulativeProduct(dim: dim)
        case "lstm": guard let reverse = bool("reverse") else { return nil }; self = .lstm(reverse: reverse)
        case "roll": guard let shift = int("shift"), let dim = int("dim") else { return nil }; self = .roll(shift: shift, dim: dim)
        case "repeat": guard let repeats = list("repeats") else { return nil }; self = .repeat(repeats)
        case "argsort":
            guard let dim = int("dim"), let descending = bool("descending") else { return nil }
            self = .argsort(dim: dim, descending: descending)
        case "averagePool2d":
            guard let geometry = list("geometry").flatMap(AveragePoolGeometry.init(values:)), let transpose = bool("transpose") else { return nil }
            self = .averagePool2d(geometry, transpose: transpose)
        default:
            if let comparison = Comparison(rawValue: name) { self = .compare(comparison); return }
            if attributes["axes"] != nil {
                guard let axes = list("axes"), let keepDim = bool("keepDim") else { return nil }
                self = .reduce(name, axes: axes, keepDim: keepDim)
            } else if UnaryOperation.all.contains(where: { $0.name == name }) {
                self = .unary(name, p0: double("p0") ?? 0, p1: double("p1") ?? 0)
            } else if BinaryOperation.all.contains(where: { $0.name == name }) {
                self = .binary(name)
            } else {
                return nil
            }
        }
    }
}

/// A graph loaded from a file (or taken from a compiled function), ready to run: it is
/// optimised and planned once, and each call runs the plan. No autograd: a loaded graph is
/// for inference.
///
///     let model = try GraphFunction(contentsOf: URL(fileURLWithPath: "mlp.graph.safetensors"))
///     let logits = model([batch])[0]
public final class GraphFunction: @unchecked Sendable {
    /// The graph this function runs.
    public let graph: Graph
    private let plan: ExecutionPlan

    /// Wraps `graph`, optimising and planning it for `backend`.
    public init(_ graph: Graph, backend: any Backend = CPUBackend()) {
        self.graph = graph.optimized()
        plan = ExecutionPlan(graph: self.graph, backend: backend)
    }

    /// Loads a graph saved by ``Graph/save(to:)`` or ``CompiledFunction/save(to:)``.
    public convenience init(contentsOf url: URL, backend: any Backend = CPUBackend()) throws {
        self.init(try Graph(contentsOf: url), backend: backend)
    }

    /// The shape and dtype of each argument, in order.
    public var inputTypes: [(shape: [Int], dtype: DType)] {
        var types = [(shape: [Int], dtype: DType)](repeating: ([], .float32), count: graph.inputCount)
        for value in graph.values {
            if case .input(let position) = value.source { types[position] = (value.shape, value.dtype) }
        }
        return types
    }

    /// Runs the graph; inputs must have the shapes and dtypes it was traced with.
    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        emberPrecondition(inputs.count == graph.inputCount, "graph: expected \(graph.inputCount) inputs, got \(inputs.count)")
        for (index, value) in graph.values.enumerated() {
            guard case .input(let position) = value.source else { continue }
            emberPrecondition(inputs[position].shape == value.shape && inputs[position].dtype == value.dtype,
                              "graph: input \(position) must be \(value.dtype)\(value.shape), got \(inputs[position].dtype)\(inputs[position].shape) (value %\(index))")
        }
        return plan.run(inputs)
    }
}

extension CompiledFunction {
    /// Saves the forward graph of the most recent trace with the captured tensors' current
    /// values (see ``Graph/save(to:)``); load it with ``GraphFunction/init(contentsOf:backend:)``.
    public func save(to url: URL) throws {
        guard let graph else {
            throw SerializationError.malformed(format: Graph.fileFormat, message: "nothing to save: call the compiled function once first (or its trace failed)")
        }
        var inference = graph
        inference.outputs = Array(inference.outputs.prefix(outputCountOfLastTrace))
        try inference.rebuilt(simplifying: false).save(to: url)
    }
}

extension Graph {
    /// The first gather or scatter whose index is a constant of the file holding a position
    /// outside the indexed dimension, which the kernel would refuse by stopping the program:
    /// a loaded file is refused instead. (An index computed by the graph is in range by
    /// construction; one passed as an argument is the caller's, checked as in eager code.)
    func constantIndexProblem() -> String? {
        for (position, node) in nodes.enumerated() {
            let dim: Int, indexed: Int
            switch node.primitive {
            case .gather(let d): (dim, indexed) = (d, node.inputs[0])
            case .scatter(let d, _): (dim, indexed) = (d, node.inputs[0])
            default: continue
            }
            guard case .constant(let index) = values[node.inputs[1]].source else { continue }
            let shape = values[indexed].shape
            let size = shape.isEmpty ? 1 : shape[dim]
            let positions = withoutGrad { index.to(.int64).contiguous() }
            let pointer = positions.baseAddress.assumingMemoryBound(to: Int64.self)
            for i in 0..<positions.count where pointer[i] < 0 || pointer[i] >= Int64(size) {
                return "node \(position) (\(node.primitive)) reads index \(pointer[i]) of a dimension of size \(size)"
            }
        }
        return nil
    }
}
