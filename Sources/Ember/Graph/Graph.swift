/// A computation as data: SSA values with a shape and dtype, and nodes that each apply one
/// ``Primitive`` to earlier values and define one new value.
///
/// ``compile(backend:_:)-(_,(Tensor)->Tensor)`` builds one by tracing a function; the passes in `Graph/Passes` rewrite it;
/// an execution plan runs it on a ``Backend``. Values come from four places: the function's
/// inputs, tensors it captured (a module's parameters, read afresh at every call), constants
/// made inside the trace (`Tensor.full`, Swift scalars in `x * 2`), and nodes.
///
///     let f = compile { (x: Tensor) in (x * 2).tanh() }
///     _ = f(Tensor.randn([4]))
///     print(f.graph!)
///     // graph(%0: float32[4]) {
///     //   %1: float64[] = constant 2.0
///     //   %2: float32[4] = mul(%0, %1)
///     //   ...
public struct Graph: CustomStringConvertible, @unchecked Sendable {
    /// Where a value comes from.
    public enum Source {
        /// The function's `index`-th argument.
        case input(Int)
        /// A tensor from outside the function, read by reference at each call.
        case captured(Tensor)
        /// A value fixed at trace time, owned by the graph.
        case constant(Tensor)
        /// The output of `nodes[index]`.
        case node(Int)
    }

    /// One SSA value.
    public struct Value {
        public var shape: [Int]
        public var dtype: DType
        public var source: Source
        public var count: Int { shape.reduce(1, *) }
    }

    /// One operation: `values[output] = primitive(values[inputs])`.
    public struct Node {
        public var primitive: Primitive
        public var inputs: [Int]
        public var output: Int
        /// The elementwise-fusion group the node runs in, set by the fusion pass.
        public var fusionGroup: Int? = nil
    }

    public internal(set) var values: [Value] = []
    /// In an order where every node comes after the nodes its inputs come from.
    public internal(set) var nodes: [Node] = []
    /// The values the function returns.
    public internal(set) var outputs: [Int] = []
    /// How many arguments the function takes.
    public internal(set) var inputCount = 0

    public init() {}

    /// Adds a value that is not a node's output (input, captured, constant).
    mutating func addValue(shape: [Int], dtype: DType, source: Source) -> Int {
        values.append(Value(shape: shape, dtype: dtype, source: source))
        if case .input(let index) = source { inputCount = Swift.max(inputCount, index + 1) }
        return values.count - 1
    }

    /// Adds `primitive(inputs)` with a result of `shape` and `dtype`; returns the new value.
    mutating func addNode(_ primitive: Primitive, inputs: [Int], shape: [Int], dtype: DType) -> Int {
        let output = values.count
        values.append(Value(shape: shape, dtype: dtype, source: .node(nodes.count)))
        nodes.append(Node(primitive: primitive, inputs: inputs, output: output))
        return output
    }

    mutating func setOutputs(_ outputs: [Int]) { self.outputs = outputs }

    /// The node that defines `value`, if a node does.
    public func producer(of value: Int) -> Node? {
        if case .node(let index) = values[value].source { return nodes[index] }
        return nil
    }

    /// How many times each value is read by a node or returned.
    func useCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: values.count)
        for node in nodes { for input in node.inputs { counts[input] += 1 } }
        for output in outputs { counts[output] += 1 }
        return counts
    }

    /// The number of nodes of each primitive name, most frequent first.
    public var opHistogram: [(name: String, count: Int)] {
        var counts: [String: Int] = [:]
        for node in nodes { counts[node.primitive.name, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    // MARK: Listing

    static func typeName(_ value: Value) -> String {
        "\(value.dtype)[" + value.shape.map(String.init).joined(separator: ", ") + "]"
    }

    /// A readable listing: one line per value, fusion groups marked.
    public var description: String {
        var lines: [String] = []
        let arguments = values.indices.compactMap { index -> String? in
            guard case .input = values[index].source else { return nil }
            return "%\(index): \(Graph.typeName(values[index]))"
        }
        lines.append("graph(" + arguments.joined(separator: ", ") + ") {")
        for (index, value) in values.enumerated() {
            switch value.source {
            case .input, .node: continue
            case .captured: lines.append("  %\(index): \(Graph.typeName(value)) = captured")
            case .constant(let tensor): lines.append("  %\(index): \(Graph.typeName(value)) = constant \(Graph.constantSummary(tensor))")
            }
        }
        for node in nodes {
            let arguments = node.inputs.map { "%\($0)" }.joined(separator: ", ")
            let group = node.fusionGroup.map { "    # fused group \($0)" } ?? ""
            lines.append("  %\(node.output): \(Graph.typeName(values[node.output])) = \(node.primitive)(\(arguments))\(group)")
        }
        lines.append("  return " + outputs.map { "%\($0)" }.joined(separator: ", "))
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    static func constantSummary(_ tensor: Tensor) -> String {
        if tensor.count == 1 { return "\(withoutGrad { tensor.to(.float64) }.scalars(as: Double.self)[0])" }
        return "<\(tensor.count) elements>"
    }
}
