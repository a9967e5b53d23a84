import Ember
import Foundation

/// Builds an ONNX `GraphProto` from an Ember ``Graph``: names every value, turns inputs into
/// graph inputs, captured tensors (parameters, buffers) and constants into initializers, and
/// each node into one or more ONNX nodes (`PrimitiveExport.swift` holds the per-primitive
/// translations).
///
/// Initializers are written lazily, when a node first reads them, so a constant that is only
/// ever read converted to another dtype is written once, already converted.
struct ONNXGraphWriter {
    let graph: Graph
    /// The values written as the graph's outputs (a compiled function's own outputs, without the
    /// write-backs of its side effects).
    let outputs: [Int]
    let opset: Int
    /// The symbolic dimension, when the export asked for one.
    let dynamic: DynamicSize?
    /// The dynamic size read from the input, once emitted.
    var runtimeSizeName: String?
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    /// Primitive names with no ONNX form, once each, in order of appearance.
    private(set) var unsupported: [String] = []

    private var names: [String]
    private var written: Set<Int> = []
    private var usedNames: Set<String> = []
    private var converted: [String: String] = [:]
    private var int64Constants: [String: String] = [:]
    private var counter = 0
    private let inputNames: [String]
    private let outputNames: [String]

    init(graph: Graph, outputs: [Int], opset: Int, inputNames: [String], outputNames: [String],
         tensorNames: [ObjectIdentifier: String], dynamic: DynamicSize? = nil) {
        self.graph = graph
        self.dynamic = dynamic
        self.outputs = outputs
        self.opset = opset
        self.inputNames = inputNames
        self.outputNames = outputNames
        names = Array(repeating: "", count: graph.values.count)
        var constantCount = 0, capturedCount = 0
        var outputFor: [Int: String] = [:]
        for (position, value) in outputs.enumerated() where outputFor[value] == nil {
            if case .node = graph.values[value].source { outputFor[value] = outputNames[position] }
        }
        for (index, value) in graph.values.enumerated() {
            let name: String
            switch value.source {
            case .input(let position): name = inputNames[position]
            case .captured(let tensor):
                name = tensorNames[ObjectIdentifier(tensor)] ?? "captured\(capturedCount)"
                capturedCount += 1
            case .constant:
                name = "constant\(constantCount)"
                constantCount += 1
            case .node: name = outputFor[index] ?? "v\(index)"
            }
            names[index] = unique(name)
        }
    }

    // MARK: The graph

    /// Translates every node, then wires the outputs; the finished graph.
    mutating func write(name: String) -> Onnx_GraphProto {
        for (index, node) in graph.nodes.enumerated() {
            translate(node, output: names[node.output], other: dynamic?.other.nodes[index].primitive)
        }
        var proto = Onnx_GraphProto()
        proto.name = name
        for (index, value) in graph.values.enumerated() {
            guard case .input = value.source else { continue }
            proto.input.append(valueInfo(index, name: names[index]))
        }
        for (position, value) in outputs.enumerated() {
            var name = names[value]
            if name != outputNames[position] {
                // An output that is an input, a constant, or returned twice: copied under its name.
                name = emit("Identity", [operand(value)], name: unique(outputNames[position]))
            }
            proto.output.append(valueInfo(value, name: name))
        }
        proto.node = nodes
        proto.initializer = initializers
        return proto
    }

    private func valueInfo(_ value: Int, name: String) -> Onnx_ValueInfoProto {
        let info = graph.values[value]
        return Onnx_ValueInfoProto(name: name, dtype: info.dtype, shape: info.shape,
                                   symbolic: dynamic?.dynamicAxes(of: value, in: graph) ?? [], symbol: dynamic?.symbol ?? "")
    }

    // MARK: Values

    /// The name of `value`, converted to `dtype` when given and different: a converted copy
    /// for a constant, a Cast node otherwise.
    mutating func operand(_ value: Int, as dtype: DType? = nil) -> String {
        let info = graph.values[value]
        guard let dtype, dtype != info.dtype else {
            materialize(value)
            return names[value]
        }
        let key = "\(value):\(dtype)"
        if let name = converted[key] { return name }
        let name: String
        if case .constant(let tensor) = info.source, !isSizedByDynamic(value) {
            name = unique("\(names[value])_\(dtype)")
            addInitializer(withNoGrad { tensor.to(dtype) }, name: name)
        } else {
            materialize(value)
            name = emit("Cast", [names[value]], [.int("to", dtype.onnxElementType.rawValue)])
        }
        converted[key] = name
        return name
    }

    /// Writes a captured tensor or constant as an initializer the first time it is read.
    private mutating func materialize(_ value: Int) {
        guard !written.contains(value) else { return }
        written.insert(value)
        switch graph.values[value].source {
        case .constant(let tensor) where isSizedByDynamic(value):
            // One repeated value (checked by DynamicSize), in a shape computed at run time.
            let element = withNoGrad { tensor.reshaped([-1]).narrow(dim: 0, start: 0, length: 1) }
            guard let valueProto = try? Onnx_TensorProto(element, name: "value") else { return note("\(tensor.dtype) constant") }
            emit("ConstantOfShape", [shapeTensor(tensor.shape, dynamic!.other.values[value].shape)],
                 [.tensor("value", valueProto)], name: names[value])
        case .captured(let tensor), .constant(let tensor): addInitializer(tensor, name: names[value])
        case .input, .node: break
        }
    }

    /// A constant whose shape follows the dynamic size.
    private func isSizedByDynamic(_ value: Int) -> Bool {
        guard let dynamic, case .constant = graph.values[value].source else { return false }
        return graph.values[value].shape != dynamic.other.values[value].shape
    }

    private mutating func addInitializer(_ tensor: Tensor, name: String) {
        do {
            initializers.append(try Onnx_TensorProto(withNoGrad { tensor.detach() }, name: name))
        } catch {
            note("\(tensor.dtype) initializer")
        }
    }

    /// An int64 initializer (shapes, axes, pads, indices), shared by equal uses.
    mutating func int64s(_ values: [Int], scalar: Bool = false) -> String {
        let key = "\(scalar ? "s" : "v")\(values)"
        if let name = int64Constants[key] { return name }
        let name = unique("const_i64_\(int64Constants.count)")
        initializers.append(Onnx_TensorProto(int64s: values, name: name, scalar: scalar))
        int64Constants[key] = name
        return name
    }

    /// An initializer holding `tensor`, named after `hint`.
    mutating func constant(_ tensor: Tensor, hint: String) -> String {
        let name = unique(hint)
        addInitializer(tensor, name: name)
        return name
    }

    /// A scalar initializer of `dtype`.
    mutating func scalar(_ value: Double, _ dtype: DType) -> String {
        let key = "\(dtype):\(value.bitPattern)"
        if let name = converted[key] { return name }
        let name = unique("const_\(dtype)_\(converted.count)")
        addInitializer(Tensor(value).to(dtype), name: name)
        converted[key] = name
        return name
    }

    // MARK: Nodes

    /// Appends an ONNX node; returns its output (named `name`, or a fresh name).
    @discardableResult
    mutating func emit(_ opType: String, _ inputs: [String], _ attributes: [ONNXAttribute] = [],
                       name: String? = nil) -> String {
        emit(opType, inputs, attributes, outputs: [name])[0]
    }

    /// Appends an ONNX node with several outputs (nil: a fresh name); returns their names.
    @discardableResult
    mutating func emit(_ opType: String, _ inputs: [String], _ attributes: [ONNXAttribute] = [],
                       outputs: [String?]) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.input = inputs
        node.output = outputs.map { $0 ?? fresh() }
        node.name = "\(opType)_\(nodes.count)"
        node.attribute = attributes.map(\.proto)
        nodes.append(node)
        return node.output
    }

    /// Records that `name` has no ONNX form here (the export then fails, listing all of them).
    mutating func note(_ name: String) {
        if !unsupported.contains(name) { unsupported.append(name) }
    }

    private mutating func fresh() -> String {
        counter += 1
        return unique("t\(counter)")
    }

    private mutating func unique(_ base: String) -> String {
        var name = base, suffix = 1
        while usedNames.contains(name) {
            name = "\(base)_\(suffix)"
            suffix += 1
        }
        usedNames.insert(name)
        return name
    }
}
