// Writing a compiled training step's updates straight into the tensors they update.
//
// A write to a tensor from outside the trace (a parameter, a momentum buffer) is an output of
// the forward graph that `CompiledEffects.apply` copies into its tensor after the call. When
// it is safe, the plan instead hands the fused group that computes the value the tensor
// itself as the output buffer: no allocation and no copy. It is safe when nothing reads the
// tensor's memory after the group, and the group reads it only in place (a dense input of its
// own shape) and no later than the step that writes it, since steps run elementwise, tile by
// tile.

extension FusedProgram {
    /// Whether output `output` may be written over the memory of input `input`: no step after
    /// the one that writes the output reads the input.
    func canWrite(output: Int, over input: Int) -> Bool {
        guard let writer = steps.firstIndex(where: { $0.output == output }) else { return false }
        let lastRead = steps.lastIndex { step in
            step.operands.contains { operand in
                if case .input(let index) = operand { return index == input }
                return false
            }
        }
        return lastRead.map { $0 <= writer } ?? true
    }
}

extension ExecutionPlan {
    /// The outputs (by value) that can be computed straight into their target tensors, from
    /// `writes` (output position, tensor written with that output's value).
    static func directWrites(_ graph: Graph, units: [Unit], writes: [(position: Int, target: Tensor)]) -> [Int: Tensor] {
        guard !writes.isEmpty else { return [:] }
        var uses: [Int: Int] = [:]
        for value in graph.outputs { uses[value, default: 0] += 1 }
        var producer: [Int: Int] = [:], readers: [Int: [Int]] = [:]
        for (position, unit) in units.enumerated() {
            let (read, made) = unit.values(in: graph)
            for value in read { readers[value, default: []].append(position) }
            for value in made { producer[value] = position }
        }
        var root = Array(graph.values.indices)
        for node in graph.nodes where node.primitive.isView { root[node.output] = root[node.inputs[0]] }

        var result: [Int: Tensor] = [:]
        for (position, target) in writes {
            let value = graph.outputs[position]
            guard uses[value] == 1, target.isContiguous, target.dtype == graph.values[value].dtype,
                  target.shape == graph.values[value].shape, let unit = producer[value],
                  case .fused(let program, let inputs, let outputs, _) = units[unit],
                  let output = outputs.firstIndex(of: value) else { continue }
            // Every value over the target's memory: the captured tensor and views of it.
            let over = graph.values.indices.filter { index in
                if case .captured(let tensor) = graph.values[root[index]].source { return tensor.storage === target.storage }
                return false
            }
            let safe = over.allSatisfy { overValue in
                guard uses[overValue] == nil else { return false }
                return (readers[overValue] ?? []).allSatisfy { reader in
                    if reader < unit { return true }
                    guard reader == unit else { return false }
                    return inputs.indices.filter { inputs[$0] == overValue }.allSatisfy { input in
                        root[overValue] == overValue && graph.values[overValue].shape == program.shape
                            && program.canWrite(output: output, over: input)
                    }
                }
            }
            if safe { result[value] = target }
        }
        return result
    }
}

extension ExecutionPlan.Unit {
    /// The values a unit reads and the values it makes.
    func values(in graph: Graph) -> (read: [Int], made: [Int]) {
        switch self {
        case .node(let index):
            return (graph.nodes[index].inputs, [graph.nodes[index].output])
        case .fused(_, let inputs, let outputs, _):
            return (inputs, outputs)
        case .productEpilogue(let index, _, let inputs, let outputs):
            return (graph.nodes[index].inputs + inputs, [graph.nodes[index].output] + outputs)
        case .fusedLayerNorm(_, let inputs, let index):
            return (inputs + graph.nodes[index].inputs, [graph.nodes[index].output])
        }
    }
}
