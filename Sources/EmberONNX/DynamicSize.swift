import Ember

/// One symbolic dimension (a batch size) in an exported graph, found by tracing twice.
///
/// Ember's graph IR has static shapes. To export a graph whose inputs have a dynamic dimension,
/// the function is traced at two sizes n and n + 1 of that dimension: the two graphs must have
/// the same nodes, and every attribute that differs (a reshape's or an expand's target shape)
/// is a linear function of the size, a·n + b, which the ONNX graph computes at run time from
/// the input's `Shape`. A constant whose shape differs (the zero initial state of an LSTM)
/// must hold one repeated value; it becomes a `ConstantOfShape`. Anything else that depends on
/// the size fails the export with the op named.
struct DynamicSize {
    /// The graph traced at `size + 1`.
    let other: Graph
    /// The dimension's name in the file ("batch").
    let symbol: String
    /// The size the main graph was traced at.
    let size: Int
    /// Where the size is read at run time: an input and its axis.
    let input: Int, axis: Int

    /// Whether `value`'s dimension `axis` is the dynamic size.
    func isDynamic(_ value: Int, axis: Int, in graph: Graph) -> Bool {
        graph.values[value].shape[axis] != other.values[value].shape[axis]
    }

    /// The dimensions of `value` that follow the dynamic size.
    func dynamicAxes(of value: Int, in graph: Graph) -> Set<Int> {
        Set(graph.values[value].shape.indices.filter { isDynamic(value, axis: $0, in: graph) })
    }

    /// Why the two traces cannot be one graph with a symbolic size, nil when they can.
    func mismatch(with graph: Graph) -> String? {
        guard graph.nodes.count == other.nodes.count, graph.values.count == other.values.count else {
            return "the graph's structure changes with the dynamic size (\(graph.nodes.count) against \(other.nodes.count) nodes)"
        }
        for (a, b) in zip(graph.nodes, other.nodes) {
            guard a.inputs == b.inputs, a.output == b.output, sameForm(a.primitive, b.primitive) else {
                return "\(a.primitive.name) changes with the dynamic size in a way ONNX export cannot express"
            }
        }
        for (index, value) in graph.values.enumerated() {
            guard case .constant(let tensor) = value.source, value.shape != other.values[index].shape else { continue }
            guard case .constant(let twin) = other.values[index].source, let value = uniformValue(tensor),
                  uniformValue(twin) == value || (value.isNaN && uniformValue(twin)?.isNaN == true) else {
                return "a constant of shape \(value.shape) depends on the dynamic size and is not one repeated value"
            }
        }
        return nil
    }

    /// Whether two primitives differ at most in the sizes the writer computes at run time.
    private func sameForm(_ a: Primitive, _ b: Primitive) -> Bool {
        switch (a, b) {
        case (.reshape(let x), .reshape(let y)), (.expand(let x), .expand(let y)): return x.count == y.count
        case (.slice(let x), .slice(let y)): return x.count == y.count && zip(x, y).allSatisfy { sameComponent($0, $1) }
        default: return a == b
        }
    }

    /// Equal components, or the whole of a dimension in both (a subscript's `...` over the batch).
    private func sameComponent(_ a: SliceComponent, _ b: SliceComponent) -> Bool {
        if a == b { return true }
        if case .range(0, let endA, 1) = a, case .range(0, let endB, 1) = b { return endA == size && endB == size + 1 }
        return false
    }

    /// The one value every element of `tensor` holds, nil when they differ.
    func uniformValue(_ tensor: Tensor) -> Double? {
        let values = withNoGrad { tensor.to(.float64) }.scalars(as: Double.self)
        guard let first = values.first, values.allSatisfy({ $0 == first || ($0.isNaN && first.isNaN) }) else { return nil }
        return first
    }
}

extension ONNXGraphWriter {
    /// An int64 shape for `shape`, computed at run time where it differs from `otherShape`
    /// (each such entry a·n + b of the dynamic size n).
    mutating func shapeTensor(_ shape: [Int], _ otherShape: [Int]) -> String {
        guard shape != otherShape, let dynamic else { return int64s(shape) }
        let n = runtimeSize()
        let pieces = zip(shape, otherShape).map { base, next -> String in
            guard base != next else { return int64s([base]) }
            let slope = next - base, offset = base - slope * dynamic.size
            var piece = slope == 1 ? n : emit("Mul", [n, int64s([slope])])
            if offset != 0 { piece = emit("Add", [piece, int64s([offset])]) }
            return piece
        }
        return pieces.count == 1 ? pieces[0] : emit("Concat", pieces, [.int("axis", 0)])
    }

    /// The dynamic size as a 1-D int64 tensor of one element, read from the input once.
    mutating func runtimeSize() -> String {
        if let name = runtimeSizeName { return name }
        let dynamic = dynamic!
        let input = graph.values.indices.first { if case .input(dynamic.input) = graph.values[$0].source { return true } else { return false } }!
        let shape = emit("Shape", [operand(input)])
        let name = emit("Gather", [shape, int64s([dynamic.axis])], [.int("axis", 0)])
        runtimeSizeName = name
        return name
    }

    /// Whether any of `axes` of `value` is the dynamic size (the translations that read a static
    /// size use this to refuse).
    func dependsOnDynamicSize(_ value: Int, axes: [Int]? = nil) -> Bool {
        guard let dynamic else { return false }
        let dynamicAxes = dynamic.dynamicAxes(of: value, in: graph)
        return axes.map { !dynamicAxes.isDisjoint(with: $0) } ?? !dynamicAxes.isEmpty
    }
}
