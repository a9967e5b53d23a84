/// The graph passes, run to a fixed point by `optimized()`: dead-code elimination (only what
/// the outputs need is rebuilt), common-subexpression elimination (a node equal to an earlier
/// one in primitive and inputs is dropped), constant folding (a node whose inputs are all
/// constants is computed once, at compile time) and algebraic simplification (x * 1, x + 0,
/// x - 0, x / 1, neg of neg, chains of reshapes, permutes that undo each other, no-op
/// reshapes and expands). Elementwise fusion and memory planning happen later, in the
/// execution plan, since they decide how the graph runs rather than what it computes.
extension Graph {
    /// The graph after the passes, computing the same outputs.
    ///
    ///     let smaller = graph.optimized()
    public func optimized() -> Graph {
        var graph = self
        for _ in 0..<8 {
            let next = graph.rebuilt(simplifying: true)
            let unchanged = next.nodes.count == graph.nodes.count && next.values.count == graph.values.count
            graph = next
            if unchanged { break }
        }
        return graph.droppingRedundantCopies()
    }

    /// Turns into no-op reshapes (which the simplifier then removes) the copies that only
    /// separate memory nothing else uses: `copy(x)` where x, or a chain of reshapes down to a
    /// node that makes fresh contiguous memory, has no other reader. The engine copies each
    /// gradient it stores in `.grad` so that it never aliases another tensor; in a graph,
    /// where values do not alias, those copies cost a pass over memory for nothing.
    func droppingRedundantCopies() -> Graph {
        var readers = [Int](repeating: 0, count: values.count)
        for node in nodes { for input in node.inputs { readers[input] += 1 } }
        for output in outputs { readers[output] += 1 }
        var copy = self
        var dropped = false
        for (index, node) in nodes.enumerated() where node.primitive == .copy {
            var value = node.inputs[0]
            var alone = readers[value] == 1
            while alone, let producer = producer(of: value), case .reshape = producer.primitive {
                value = producer.inputs[0]
                alone = readers[value] == 1
            }
            guard alone, let producer = producer(of: value), !producer.primitive.isView else { continue }
            copy.nodes[index].primitive = .reshape(values[node.output].shape)
            dropped = true
        }
        return dropped ? copy.rebuilt(simplifying: true) : self
    }

    /// A copy holding only the nodes that `outputs` need, each simplified, folded or merged
    /// with an equal earlier node when `simplifying`.
    func rebuilt(simplifying: Bool) -> Graph {
        var needed = [Bool](repeating: false, count: values.count)
        var stack = outputs
        while let value = stack.popLast() {
            if needed[value] { continue }
            needed[value] = true
            if let node = producer(of: value) { stack.append(contentsOf: node.inputs) }
        }
        var rebuilt = Graph()
        var map = [Int?](repeating: nil, count: values.count)
        // Every argument stays, used or not: the function's arity does not change.
        for (index, value) in values.enumerated() {
            if case .input = value.source { map[index] = rebuilt.addValue(shape: value.shape, dtype: value.dtype, source: value.source) }
        }
        rebuilt.inputCount = inputCount
        var capturedValues: [ObjectIdentifier: Int] = [:]
        var scalarConstants: [ScalarKey: Int] = [:]
        var seen: [NodeKey: Int] = [:]

        func mapped(_ old: Int) -> Int {
            if let new = map[old] { return new }
            let value = values[old]
            let new: Int
            switch value.source {
            case .captured(let tensor):
                let id = ObjectIdentifier(tensor)
                if let existing = capturedValues[id] { new = existing } else {
                    new = rebuilt.addValue(shape: value.shape, dtype: value.dtype, source: value.source)
                    capturedValues[id] = new
                }
            case .constant(let tensor):
                if simplifying, let key = ScalarKey(tensor), let existing = scalarConstants[key] { new = existing } else {
                    new = rebuilt.addValue(shape: value.shape, dtype: value.dtype, source: value.source)
                    if let key = ScalarKey(tensor) { scalarConstants[key] = new }
                }
            case .input, .node: emberFailure("graph: value %\(old) used before it is defined")
            }
            map[old] = new
            return new
        }

        for node in nodes where needed[node.output] {
            let result = values[node.output]
            if simplifying {
                // (The inputs are mapped first: mapping may add values to `rebuilt`.)
                let mappedInputs = node.inputs.map(mapped)
                let (primitive, inputs) = rebuilt.collapseChain(node.primitive, inputs: mappedInputs)
                if let same = rebuilt.simplify(primitive, inputs: inputs, shape: result.shape, dtype: result.dtype) {
                    map[node.output] = same
                    continue
                }
                if let folded = rebuilt.fold(primitive, inputs: inputs) {
                    map[node.output] = folded
                    continue
                }
                let key = NodeKey(primitive: primitive, inputs: inputs)
                if let existing = seen[key] {
                    map[node.output] = existing
                    continue
                }
                let new = rebuilt.addNode(primitive, inputs: inputs, shape: result.shape, dtype: result.dtype)
                seen[key] = new
                map[node.output] = new
            } else {
                let inputs = node.inputs.map(mapped)
                map[node.output] = rebuilt.addNode(node.primitive, inputs: inputs, shape: result.shape, dtype: result.dtype)
            }
        }
        rebuilt.outputs = outputs.map(mapped)
        return rebuilt
    }

    /// The value of a one-element constant, if `value` is one.
    func scalarConstant(_ value: Int) -> Double? {
        guard case .constant(let tensor) = values[value].source, tensor.count == 1, tensor.dtype != .bool else { return nil }
        return withoutGrad { tensor.to(.float64) }.scalars(as: Double.self)[0]
    }

    /// An existing value equal to `primitive(inputs)`, when an algebraic rule gives one.
    func simplify(_ primitive: Primitive, inputs: [Int], shape: [Int], dtype: DType) -> Int? {
        func unchanged(_ value: Int) -> Int? {
            values[value].shape == shape && values[value].dtype == dtype ? value : nil
        }
        switch primitive {
        case .binary(let name):
            let (a, b) = (inputs[0], inputs[1])
            switch (name, scalarConstant(a), scalarConstant(b)) {
            case ("mul", _, 1), ("div", _, 1), ("add", _, 0), ("sub", _, 0): return unchanged(a)
            case ("mul", 1, _), ("add", 0, _): return unchanged(b)
            default: return nil
            }
        case .unary("neg", _, _):
            if let inner = producer(of: inputs[0]), case .unary("neg", _, _) = inner.primitive { return unchanged(inner.inputs[0]) }
            return nil
        case .reshape(let target):
            if values[inputs[0]].shape == target { return inputs[0] }
            return nil
        case .expand(let target):
            return values[inputs[0]].shape == target ? inputs[0] : nil
        case .permute(let dims):
            return dims == Array(dims.indices) ? inputs[0] : nil
        default:
            return nil
        }
    }

    /// Rewrites a chain of two nodes into one where a rule says so: a reshape of a reshape reads
    /// the first one's input, and a permute of a permute composes.
    func collapseChain(_ primitive: Primitive, inputs: [Int]) -> (Primitive, [Int]) {
        guard let inner = producer(of: inputs[0]) else { return (primitive, inputs) }
        switch (primitive, inner.primitive) {
        case (.reshape, .reshape): return (primitive, [inner.inputs[0]])
        case (.permute(let outer), .permute(let first)): return (.permute(outer.map { first[$0] }), [inner.inputs[0]])
        default: return (primitive, inputs)
        }
    }

    /// A constant holding `primitive(inputs)` when every input is a constant (computed now).
    mutating func fold(_ primitive: Primitive, inputs: [Int]) -> Int? {
        var tensors: [Tensor] = []
        for input in inputs {
            guard case .constant(let tensor) = values[input].source else { return nil }
            tensors.append(tensor)
        }
        guard !inputs.isEmpty, CPUBackend.isKnown(primitive) else { return nil }
        let result = withoutGrad { CPUBackend().run(primitive, inputs: tensors, output: nil).contiguous() }
        return addValue(shape: result.shape, dtype: result.dtype, source: .constant(result))
    }
}

/// What common-subexpression elimination compares: the primitive and the input values.
struct NodeKey: Hashable {
    let primitive: Primitive
    let inputs: [Int]
}

/// One-element constants compare by dtype, promotion kind and bits.
struct ScalarKey: Hashable {
    let dtype: DType
    let isWrappedNumber: Bool
    let bits: UInt64

    init?(_ tensor: Tensor) {
        guard tensor.count == 1, tensor.rank == 0 else { return nil }
        dtype = tensor.dtype
        isWrappedNumber = tensor.isWrappedNumber
        let value = withoutGrad { tensor.to(.float64) }.scalars(as: Double.self)[0]
        bits = value.bitPattern
    }
}
