import CEmberKernels

/// How an optimised graph runs: its nodes grouped into units (single primitives, or fused
/// groups of pointwise nodes that make one pass over memory), in dependency order, with the
/// intermediate buffers planned into one arena by liveness.
///
/// The arena is made on the first call and reused by every later one, so a call after warm-up
/// allocates buffers only for the values it returns and for the ops that cannot write into a
/// planned buffer (reductions, views that must copy). A plan that is already running on
/// another thread (or re-entered) runs with fresh buffers instead of sharing the arena.
final class ExecutionPlan: CustomStringConvertible, @unchecked Sendable {
    enum Unit {
        case node(Int)
        case fused(FusedProgram, inputs: [Int], outputs: [Int], nodes: [Int])
        /// A layer norm (node index) whose input is the only output of a fused group, computed
        /// a tile of rows at a time right before the normalisation reads it.
        case fusedLayerNorm(FusedProgram, inputs: [Int], node: Int)
        /// A matmul or 2-D convolution (node index) whose result only a fused group reads: the
        /// group runs as its epilogue, on each block of a matmul's product (or each chunk of a
        /// convolution's images) as it is finished.
        case productEpilogue(node: Int, FusedProgram, inputs: [Int], outputs: [Int])
    }

    let graph: Graph
    let backend: any Backend
    let units: [Unit]
    /// Byte offset in the arena of each planned value.
    let arenaOffsets: [Int: Int]
    let arenaBytes: Int
    /// Values whose slots can be cleared after each unit (their last reader has run).
    private let releases: [[Int]]

    private var arena: (storage: TensorStorage, tensors: [Int: Tensor])?
    /// One-element constants that fused groups read, converted to the group's dtype once
    /// (by value and dtype: after CSE, groups of two dtypes may read one constant).
    private let convertedConstants: [ConvertedConstant: Tensor]
    /// Backend state of the nodes that keep some between calls (matmuls by a weight), by node.
    private let nodeStates: [Int: BackendNodeState]
    private var busy: Int64 = 0

    /// Outputs computed straight into the tensor a write of the function targets (see `directWrites`).
    let directOutputs: [Int: Tensor]
    /// Storage of the captured tensors and constants, which a caller's result tensor must not share.
    private let sourceStorages: Set<ObjectIdentifier>

    /// A plan for `graph`; `writes` lists outputs (by position) that the caller copies into
    /// tensors afterwards, which the plan may compute into those tensors directly.
    init(graph: Graph, backend: any Backend, fuse: Bool = true, planMemory: Bool = true,
         writes: [(position: Int, target: Tensor)] = []) {
        var graph = graph
        self.backend = backend
        let groups = fuse ? ExecutionPlan.fusionGroups(graph) : []
        for (groupIndex, members) in groups.enumerated() {
            for node in members { graph.nodes[node].fusionGroup = groupIndex }
        }
        self.graph = graph
        let units = ExecutionPlan.fusingEpilogues(ExecutionPlan.fusingPrologues(ExecutionPlan.schedule(graph, groups: groups), graph), graph)
        self.units = units
        let (offsets, bytes) = planMemory ? ExecutionPlan.planArena(graph, units: units) : ([:], 0)
        arenaOffsets = offsets
        arenaBytes = bytes
        releases = ExecutionPlan.releasePoints(graph, units: units)
        directOutputs = planMemory ? ExecutionPlan.directWrites(graph, units: units, writes: writes) : [:]
        sourceStorages = Set(graph.values.compactMap { value -> ObjectIdentifier? in
            switch value.source {
            case .captured(let tensor), .constant(let tensor): return ObjectIdentifier(tensor.storage)
            default: return nil
            }
        })
        var converted: [ConvertedConstant: Tensor] = [:]
        for unit in units {
            let program: FusedProgram, inputs: [Int]
            switch unit {
            case .fused(let p, let i, _, _): (program, inputs) = (p, i)
            case .fusedLayerNorm(let p, let i, _): (program, inputs) = (p, i)
            case .productEpilogue(_, let p, let i, _): (program, inputs) = (p, i)
            case .node: continue
            }
            for (value, dtype) in zip(inputs, program.inputTypes) {
                if case .constant(let tensor) = graph.values[value].source, tensor.dtype != dtype {
                    converted[ConvertedConstant(value: value, dtype: dtype)] = withoutGrad { tensor.to(dtype) }
                }
            }
        }
        convertedConstants = converted
        // A matmul whose B is (a view of) a captured tensor or a constant multiplies by the
        // same weight at every call: its backend may keep the weight's packed form.
        var root = Array(graph.values.indices)
        for node in graph.nodes where node.primitive.isView { root[node.output] = root[node.inputs[0]] }
        var states: [Int: BackendNodeState] = [:]
        let matmulNodes = units.compactMap { unit -> Int? in
            switch unit {
            case .node(let index) where graph.nodes[index].primitive == .matmul: return index
            case .productEpilogue(let index, _, _, _) where graph.nodes[index].primitive == .matmul: return index
            default: return nil
            }
        }
        for index in matmulNodes {
            switch graph.values[root[graph.nodes[index].inputs[1]]].source {
            case .captured, .constant: states[index] = BackendNodeState()
            default: break
            }
        }
        nodeStates = states
    }

    var description: String {
        var lines = ["plan: \(units.count) units, \(arenaOffsets.count) planned buffers in a \(arenaBytes)-byte arena"]
        for unit in units {
            switch unit {
            case .node(let index):
                let node = graph.nodes[index]
                let planned = arenaOffsets[node.output].map { " @arena+\($0)" } ?? ""
                lines.append("  %\(node.output) = \(node.primitive)(\(node.inputs.map { "%\($0)" }.joined(separator: ", ")))\(planned)")
            case .fused(let program, let inputs, let outputs, _):
                let planned = outputs.compactMap { arenaOffsets[$0].map { offset in " @arena+\(offset)" } }.joined()
                let direct = outputs.filter { directOutputs[$0] != nil }.map { " %\($0) into its tensor" }.joined()
                lines.append("  \(outputs.map { "%\($0)" }.joined(separator: ", ")) = \(program) over (\(inputs.map { "%\($0)" }.joined(separator: ", ")))\(planned)\(direct)")
            case .productEpilogue(let index, let program, let inputs, let outputs):
                let node = graph.nodes[index]
                let planned = outputs.compactMap { arenaOffsets[$0].map { offset in " @arena+\(offset)" } }.joined()
                lines.append("  \(outputs.map { "%\($0)" }.joined(separator: ", ")) = \(program) over (\(inputs.map { "%\($0)" }.joined(separator: ", "))), " +
                             "the epilogue of %\(node.output) = \(node.primitive)(\(node.inputs.map { "%\($0)" }.joined(separator: ", ")))\(planned)")
            case .fusedLayerNorm(let program, let inputs, let index):
                let node = graph.nodes[index]
                lines.append("  %\(node.output) = \(node.primitive)(\(program) over (\(inputs.map { "%\($0)" }.joined(separator: ", "))), \(node.inputs.dropFirst().map { "%\($0)" }.joined(separator: ", ")))")
            }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Running

    /// The tensors a fused program reads: each input's slot, or the constant converted to the
    /// dtype the program reads it in.
    private func operands(_ values: [Int], _ program: FusedProgram, _ slots: [Tensor?]) -> [Tensor] {
        zip(values, program.inputTypes).map { value, dtype in
            convertedConstants[ConvertedConstant(value: value, dtype: dtype)] ?? slots[value]!
        }
    }

    /// Runs the plan on `inputs` (the function's arguments) with grad mode off. With
    /// `results`, tensors of the outputs' shapes and dtypes, the outputs
    /// are written there (straight from the unit that computes each, where it can) and returned.
    func run(_ inputs: [Tensor], into results: [Tensor]? = nil) -> [Tensor] {
        let exclusive = ember_atomic_add(&busy, 1) == 1
        defer { _ = ember_atomic_add(&busy, -1) }
        let arenaBuffers = exclusive ? arenaTensors() : [:]
        var planned = arenaBuffers
        for (value, tensor) in directOutputs { planned[value] = tensor }
        if let results { for (value, tensor) in destinations(results, inputs) { planned[value] = tensor } }
        var slots = [Tensor?](repeating: nil, count: graph.values.count)
        bindSources(&slots, inputs)
        withoutGrad {
            for (position, unit) in units.enumerated() {
                switch unit {
                case .node(let index):
                    let node = graph.nodes[index]
                    let operands = node.inputs.map { slots[$0]! }
                    if exclusive, let state = nodeStates[index] {
                        slots[node.output] = backend.run(node.primitive, inputs: operands, output: planned[node.output], state: state)
                    } else {
                        slots[node.output] = backend.run(node.primitive, inputs: operands, output: planned[node.output])
                    }
                case .fused(let program, let inputValues, let outputValues, _):
                    let outputs = outputValues.map { value in
                        planned[value] ?? Tensor(uninitializedShape: graph.values[value].shape, dtype: graph.values[value].dtype)
                    }
                    backend.runFused(program, inputs: operands(inputValues, program, slots), outputs: outputs)
                    for (value, tensor) in zip(outputValues, outputs) { slots[value] = tensor }
                case .productEpilogue(let index, let program, let inputValues, let outputValues):
                    let node = graph.nodes[index]
                    let productInfo = graph.values[node.output]
                    let product = planned[node.output] ?? Tensor(uninitializedShape: productInfo.shape, dtype: productInfo.dtype)
                    let outputs = outputValues.map { value in
                        planned[value] ?? Tensor(uninitializedShape: graph.values[value].shape, dtype: graph.values[value].dtype)
                    }
                    slots[node.output] = product
                    let inputs = operands(inputValues, program, slots)
                    if case .conv2d(let geometry) = node.primitive {
                        backend.runConvolutionEpilogue(node.inputs.map { slots[$0]! }, geometry: geometry, product: product,
                                                       program: program, inputs: inputs, outputs: outputs)
                    } else {
                        backend.runMatmulEpilogue(slots[node.inputs[0]]!, slots[node.inputs[1]]!, product: product,
                                                  state: exclusive ? nodeStates[index] : nil, program: program, inputs: inputs, outputs: outputs)
                    }
                    for (value, tensor) in zip(outputValues, outputs) { slots[value] = tensor }
                case .fusedLayerNorm(let program, let inputValues, let index):
                    let node = graph.nodes[index]
                    let value = graph.values[node.output]
                    let output = planned[node.output] ?? Tensor(uninitializedShape: value.shape, dtype: value.dtype)
                    let affine = node.inputs.dropFirst().map { slots[$0]! }
                    LayerNormKernel.runFused(program, inputs: operands(inputValues, program, slots),
                                             primitive: node.primitive, affine: affine, into: output)
                    slots[node.output] = output
                }
                for value in releases[position] { slots[value] = nil }
            }
        }
        if let results {
            for (value, result) in zip(graph.outputs, results) where slots[value]! !== result {
                CopyKernel.copy(from: slots[value]!, into: result)
            }
            return results
        }
        let arenaStorage = exclusive ? arena?.storage : nil
        return graph.outputs.map { value in
            let tensor = slots[value]!
            // Returned values never alias the arena (the planner keeps them out; this is the guard).
            if let arenaStorage, tensor.storage === arenaStorage { return withoutGrad { tensor.clone() } }
            return tensor
        }
    }

    /// The output values that units may compute straight into the caller's `results`: each
    /// returned once, into a contiguous tensor whose memory no input, captured tensor or other
    /// result shares (the rest are copied in at the end).
    private func destinations(_ results: [Tensor], _ inputs: [Tensor]) -> [Int: Tensor] {
        emberPrecondition(results.count == graph.outputs.count, "compiled function: expected \(graph.outputs.count) result tensors, got \(results.count)")
        var destinations: [Int: Tensor] = [:]
        var uses: [Int: Int] = [:]
        for value in graph.outputs { uses[value, default: 0] += 1 }
        for (value, result) in zip(graph.outputs, results) {
            let info = graph.values[value]
            emberPrecondition(result.shape == info.shape && result.dtype == info.dtype,
                              "compiled function: a result tensor must be \(info.dtype)\(info.shape), got \(result.dtype)\(result.shape)")
            let shared = inputs.contains { $0.storage === result.storage } || sourceStorages.contains(ObjectIdentifier(result.storage))
                || results.contains { $0 !== result && $0.storage === result.storage }
            if uses[value] == 1, info.isNode, result.isContiguous, !shared { destinations[value] = result }
        }
        return destinations
    }

    /// Runs node by node through the eager ops, recording autograd history as the current grad
    /// mode says (a backward pass with `createGraph`, or a call inside another trace).
    func interpret(_ inputs: [Tensor]) -> [Tensor] {
        var slots = [Tensor?](repeating: nil, count: graph.values.count)
        bindSources(&slots, inputs)
        for node in graph.nodes {
            slots[node.output] = backend.run(node.primitive, inputs: node.inputs.map { slots[$0]! }, output: nil)
        }
        return graph.outputs.map { slots[$0]! }
    }

    private func bindSources(_ slots: inout [Tensor?], _ inputs: [Tensor]) {
        emberPrecondition(inputs.count == graph.inputCount,
                          "compiled function: expected \(graph.inputCount) inputs, got \(inputs.count)")
        for (index, value) in graph.values.enumerated() {
            switch value.source {
            case .input(let position): slots[index] = inputs[position]
            case .captured(let tensor), .constant(let tensor): slots[index] = tensor
            case .node: break
            }
        }
    }

    /// The arena's tensors, made on first use.
    private func arenaTensors() -> [Int: Tensor] {
        if let arena { return arena.tensors }
        guard arenaBytes > 0 else { return [:] }
        let storage = TensorStorage(byteCount: arenaBytes)
        var tensors: [Int: Tensor] = [:]
        for (value, offset) in arenaOffsets {
            let info = graph.values[value]
            let layout = Layout(shape: info.shape, strides: Layout.contiguousStrides(for: info.shape), offset: offset / info.dtype.byteSize)
            tensors[value] = Tensor(storage: storage, layout: layout, dtype: info.dtype)
        }
        arena = (storage, tensors)
        return tensors
    }

    // MARK: Fusion

    /// Groups of pointwise nodes (indices into `graph.nodes`) that run as one pass: a node
    /// joins the group of a pointwise producer of the same shape and dtype, unless one of its
    /// other inputs depends on that group (which would make the group wait for itself).
    static func fusionGroups(_ graph: Graph) -> [[Int]] {
        var groupOf = [Int?](repeating: nil, count: graph.nodes.count)
        var groups: [[Int]] = []
        var groupShape: [[Int]] = [], groupType: [DType] = []
        // The groups each value depends on, through any path.
        var dependsOn = [Set<Int>](repeating: [], count: graph.values.count)
        for (index, node) in graph.nodes.enumerated() {
            var dependencies = Set<Int>()
            for input in node.inputs {
                dependencies.formUnion(dependsOn[input])
                if case .node(let producer) = graph.values[input].source, let group = groupOf[producer] { dependencies.insert(group) }
            }
            let value = graph.values[node.output]
            if FusedProgram.accepts(node.primitive, dtype: value.dtype) && fusableInputs(node, graph) {
                var chosen: Int?
                for input in node.inputs {
                    guard case .node(let producer) = graph.values[input].source, let group = groupOf[producer],
                          groupShape[group] == value.shape, groupType[group] == value.dtype else { continue }
                    // Every other input must not depend on the group.
                    let blocked = node.inputs.contains { other in
                        if case .node(let p) = graph.values[other].source, groupOf[p] == group { return false }
                        return dependsOn[other].contains(group)
                    }
                    if !blocked { chosen = group; break }
                }
                if let group = chosen {
                    groups[group].append(index)
                    groupOf[index] = group
                } else {
                    groupOf[index] = groups.count
                    groups.append([index])
                    groupShape.append(value.shape)
                    groupType.append(value.dtype)
                }
                dependencies.remove(groupOf[index]!)
            }
            dependsOn[node.output] = dependencies
        }
        // A group of one node still runs in the tile loop: its output can be a planned buffer.
        return groups
    }

    /// Inputs a fused node can read: its own dtype (or bool for a condition), or one element.
    private static func fusableInputs(_ node: Graph.Node, _ graph: Graph) -> Bool {
        let dtype = graph.values[node.output].dtype
        let shape = graph.values[node.output].shape
        for (position, input) in node.inputs.enumerated() {
            let value = graph.values[input]
            if case .select = node.primitive, position == 0 {
                if value.dtype != .bool { return false }
            } else if value.dtype != dtype && value.count != 1 {
                return false
            }
            // Inputs broadcast to the node's shape, never beyond it.
            if value.shape.count > shape.count { return false }
            if Broadcast.shape(value.shape, shape, op: "fuse") != shape { return false }
        }
        return true
    }

    /// Units in an order that respects every dependency (a group runs as one unit).
    static func schedule(_ graph: Graph, groups: [[Int]]) -> [Unit] {
        var unitOfNode = [Int](repeating: -1, count: graph.nodes.count)
        var members: [[Int]] = []
        for group in groups {
            for node in group { unitOfNode[node] = members.count }
            members.append(group)
        }
        for index in graph.nodes.indices where unitOfNode[index] < 0 {
            unitOfNode[index] = members.count
            members.append([index])
        }
        // Kahn's algorithm over units, taking the unit whose first node comes earliest.
        var successors = [Set<Int>](repeating: [], count: members.count)
        var pending = [Int](repeating: 0, count: members.count)
        for (unit, nodes) in members.enumerated() {
            var predecessors = Set<Int>()
            for node in nodes {
                for input in graph.nodes[node].inputs {
                    if case .node(let producer) = graph.values[input].source, unitOfNode[producer] != unit {
                        predecessors.insert(unitOfNode[producer])
                    }
                }
            }
            pending[unit] = predecessors.count
            for predecessor in predecessors { successors[predecessor].insert(unit) }
        }
        var ready = members.indices.filter { pending[$0] == 0 }
        var order: [Int] = []
        while !ready.isEmpty {
            ready.sort { members[$0][0] > members[$1][0] }
            let unit = ready.removeLast()
            order.append(unit)
            for next in successors[unit] {
                pending[next] -= 1
                if pending[next] == 0 { ready.append(next) }
            }
        }
        emberPrecondition(order.count == members.count, "compile: fusion made a cycle (a bug in the fusion pass)")
        return order.map { unit in
            let nodes = members[unit]
            if nodes.count == 1 && !groups.contains(nodes) { return .node(nodes[0]) }
            return fusedUnit(graph, nodes: nodes)
        }
    }

    /// The program of one group: its external inputs, steps and outputs.
    private static func fusedUnit(_ graph: Graph, nodes: [Int]) -> Unit {
        let memberOutputs = Set(nodes.map { graph.nodes[$0].output })
        var inputValues: [Int] = []
        var stepOf: [Int: Int] = [:]
        var steps: [(Primitive, [FusedProgram.Operand])] = []
        for (position, index) in nodes.enumerated() {
            let node = graph.nodes[index]
            let operands = node.inputs.map { input -> FusedProgram.Operand in
                if let step = stepOf[input] { return .step(step) }
                if let existing = inputValues.firstIndex(of: input) { return .input(existing) }
                inputValues.append(input)
                return .input(inputValues.count - 1)
            }
            steps.append((node.primitive, operands))
            stepOf[node.output] = position
        }
        // Results read outside the group (by other nodes or as outputs) are its outputs.
        var readOutside = Set(graph.outputs)
        for node in graph.nodes where !memberOutputs.contains(node.output) { readOutside.formUnion(node.inputs) }
        let outputValues = nodes.map { graph.nodes[$0].output }.filter { readOutside.contains($0) }
        let first = graph.values[graph.nodes[nodes[0]].output]
        let program = FusedProgram(shape: first.shape, dtype: first.dtype, steps: steps,
                                   inputTypes: inputValues.map { graph.values[$0].dtype },
                                   outputSteps: outputValues.map { stepOf[$0]! }, outputValues: outputValues)
        return .fused(program, inputs: inputValues, outputs: outputValues, nodes: nodes)
    }

    /// Merges each fused group whose only output feeds only a layer norm (over the last dim,
    /// float) into that layer norm.
    static func fusingPrologues(_ units: [Unit], _ graph: Graph) -> [Unit] {
        let uses = graph.useCounts()
        var result = units
        for (position, unit) in units.enumerated() {
            guard case .node(let index) = unit, case .layerNorm(let rank, _, _, _) = graph.nodes[index].primitive, rank == 1 else { continue }
            let input = graph.nodes[index].inputs[0]
            guard uses[input] == 1,
                  let producer = result.firstIndex(where: { candidate in
                      if case .fused(_, _, let outputs, _) = candidate { return outputs == [input] }
                      return false
                  }),
                  case .fused(let program, let inputs, _, _) = result[producer], program.shape == graph.values[input].shape else { continue }
            result[position] = .fusedLayerNorm(program, inputs: inputs, node: index)
            result[producer] = .node(-1)
        }
        return result.filter { if case .node(-1) = $0 { return false }; return true }
    }

    /// Merges each float matmul by a matrix (`[..., n, k] · [k, m]`, a linear layer) whose
    /// product only one fused group reads, at the group's
    /// shape and dtype, into that group as its epilogue (placed where the group was: the
    /// matmul's inputs are ready earlier still).
    static func fusingEpilogues(_ units: [Unit], _ graph: Graph) -> [Unit] {
        let uses = graph.useCounts()
        var result = units
        for (position, unit) in units.enumerated() {
            guard case .fused(let program, let inputs, let outputs, _) = unit else { continue }
            for input in inputs {
                guard uses[input] == 1, case .node(let index) = graph.values[input].source,
                      ExecutionPlan.takesEpilogue(graph.nodes[index], graph),
                      graph.nodes[index].inputs.allSatisfy({ graph.values[$0].dtype == program.dtype }),
                      graph.values[input].shape == program.shape,
                      let producer = result.firstIndex(where: { if case .node(index) = $0 { return true }; return false })
                else { continue }
                result[position] = .productEpilogue(node: index, program, inputs: inputs, outputs: outputs)
                result[producer] = .node(-1)
                break
            }
        }
        return result.filter { if case .node(-1) = $0 { return false }; return true }
    }

    /// A node that can run a fused group on its result as it finishes it: a linear layer's
    /// matmul ([..., n, k] · [k, m]) or a 2-D convolution.
    static func takesEpilogue(_ node: Graph.Node, _ graph: Graph) -> Bool {
        switch node.primitive {
        case .matmul:
            return graph.values[node.inputs[0]].shape.count >= 2 && graph.values[node.inputs[1]].shape.count == 2
        case .conv2d: return true
        default: return false
        }
    }

    // MARK: Memory

    /// Byte offsets in one arena for the values that planned ops write (fused groups, 2-D
    /// matmuls, layer norms), reusing memory between values whose lifetimes do not overlap.
    /// Values that are returned, or viewed by a returned value, are never planned.
    static func planArena(_ graph: Graph, units: [Unit]) -> (offsets: [Int: Int], bytes: Int) {
        // The buffer each value's memory belongs to (views share their input's).
        var root = Array(graph.values.indices)
        for node in graph.nodes where node.primitive.isView { root[node.output] = root[node.inputs[0]] }
        let escaping = Set(graph.outputs.map { root[$0] })
        var producedAt: [Int: Int] = [:]
        var candidates: [Int] = []
        for (position, unit) in units.enumerated() {
            switch unit {
            case .node(let index):
                let node = graph.nodes[index]
                if writesPlannedBuffer(node, graph) && !escaping.contains(node.output) {
                    producedAt[node.output] = position
                    candidates.append(node.output)
                }
            case .fused(_, _, let outputs, _):
                for value in outputs where !escaping.contains(value) {
                    producedAt[value] = position
                    candidates.append(value)
                }
            case .fusedLayerNorm(_, _, let index):
                let output = graph.nodes[index].output
                if !escaping.contains(output) {
                    producedAt[output] = position
                    candidates.append(output)
                }
            case .productEpilogue(let index, _, _, let outputs):
                for value in [graph.nodes[index].output] + outputs where !escaping.contains(value) {
                    producedAt[value] = position
                    candidates.append(value)
                }
            }
        }
        var lastUse: [Int: Int] = [:]
        for (position, unit) in units.enumerated() {
            let reads: [Int]
            switch unit {
            case .node(let index): reads = graph.nodes[index].inputs
            case .fused(_, let inputs, _, _): reads = inputs
            case .fusedLayerNorm(_, let inputs, let index): reads = inputs + graph.nodes[index].inputs.dropFirst()
            case .productEpilogue(let index, _, let inputs, _): reads = inputs + graph.nodes[index].inputs
            }
            for value in reads where producedAt[root[value]] != nil { lastUse[root[value]] = position }
        }
        struct Interval { let value: Int, start: Int, end: Int, bytes: Int }
        let intervals = candidates.map { value -> Interval in
            let bytes = (graph.values[value].count * graph.values[value].dtype.byteSize + 63) / 64 * 64
            return Interval(value: value, start: producedAt[value]!, end: lastUse[value] ?? producedAt[value]!, bytes: bytes)
        }.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.start < $1.start }
        var placed: [(Interval, Int)] = []
        var offsets: [Int: Int] = [:]
        var total = 0
        for interval in intervals where interval.bytes > 0 {
            // The lowest offset that overlaps no live buffer placed so far.
            let conflicts = placed.filter { $0.0.start <= interval.end && interval.start <= $0.0.end }
                .map { (start: $0.1, end: $0.1 + $0.0.bytes) }.sorted { $0.start < $1.start }
            var offset = 0
            for conflict in conflicts where conflict.start < offset + interval.bytes && offset < conflict.end {
                offset = conflict.end
            }
            offsets[interval.value] = offset
            placed.append((interval, offset))
            total = Swift.max(total, offset + interval.bytes)
        }
        return (offsets, total)
    }

    /// Nodes whose backend op writes into a planned buffer.
    private static func writesPlannedBuffer(_ node: Graph.Node, _ graph: Graph) -> Bool {
        let dtype = graph.values[node.output].dtype
        guard dtype == .float32 || dtype == .float64 else { return false }
        switch node.primitive {
        case .matmul:
            return graph.values[node.inputs[0]].shape.count >= 2 && graph.values[node.inputs[1]].shape.count >= 2
                && node.inputs.allSatisfy { graph.values[$0].dtype == dtype }
        case .conv2d: return node.inputs.allSatisfy { graph.values[$0].dtype == dtype }
        case .softmax(let dim, _):
            // The kernel writes the input's memory order: the last dim of a contiguous input.
            return dim == graph.values[node.output].shape.count - 1 && graph.values[node.inputs[0]].dtype == dtype
        case .layerNorm: return node.inputs.allSatisfy { graph.values[$0].dtype == dtype }
        case .reduce(let name, _, _):
            guard case .kernel = CPUBackend.reduction(name).accumulation else { return false }
            return graph.values[node.inputs[0]].dtype == dtype
        case .cast: return true
        case .gather: return graph.values[node.inputs[0]].dtype == dtype
        case .scatter: return graph.values[node.inputs[0]].dtype == dtype && graph.values[node.inputs[2]].dtype == dtype
        default: return false
        }
    }

    /// After which unit each value's slot can be cleared (graph outputs are kept).
    private static func releasePoints(_ graph: Graph, units: [Unit]) -> [[Int]] {
        var last: [Int: Int] = [:]
        for (position, unit) in units.enumerated() {
            switch unit {
            case .node(let index): for value in graph.nodes[index].inputs { last[value] = position }
            case .fused(_, let inputs, _, _): for value in inputs { last[value] = position }
            case .fusedLayerNorm(_, let inputs, let index):
                for value in inputs + graph.nodes[index].inputs.dropFirst() { last[value] = position }
            case .productEpilogue(let index, _, let inputs, _):
                for value in inputs + graph.nodes[index].inputs { last[value] = position }
            }
        }
        let kept = Set(graph.outputs)
        var releases = [[Int]](repeating: [], count: units.count)
        for (value, position) in last where !kept.contains(value) {
            if case .node = graph.values[value].source { releases[position].append(value) }
        }
        return releases
    }
}

/// A one-element constant converted for the fused programs that read it in `dtype`.
struct ConvertedConstant: Hashable {
    let value: Int
    let dtype: DType
}
