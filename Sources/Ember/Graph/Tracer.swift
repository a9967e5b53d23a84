/// Turns one call of a function into a compiled entry: traces the forward pass (and, when
/// gradients are wanted, the backward pass that the eager autograd rules perform), splits the
/// joint trace into a forward and a backward graph, optimises both and plans them.
enum Tracer {
    /// Runs `body` on `inputs` while tracing. The outputs are the eager results (always
    /// correct); the entry is the compiled form, or why there is none.
    static func trace(_ body: ([Tensor]) -> [Tensor], inputs: [Tensor], backend: any Backend)
        -> (outputs: [Tensor], result: Result<CompiledEntry, TraceFailure>) {
        let context = TraceContext()
        context.addInputs(inputs)
        Tracing.begin(context)
        let outputs = body(inputs)
        var outputValues: [Int] = []
        for output in outputs {
            guard let value = context.resolve(output, consumer: "the function's result") else { break }
            outputValues.append(value)
        }
        // The backward phase: the eager rules run on placeholders for the output gradients.
        let forwardNodeCount = context.graph.nodes.count
        var leaves: [Int] = []
        var differentiable: [Int] = []
        var gradientValues: [Int?] = []
        var seedValues: [Int] = []
        // A function with side effects (a training step) ran its own backward pass, if any:
        // its results are plain values, with no gradient of their own through the call.
        let hasSideEffects = context.effects.hasSideEffects
        if context.failure == nil && isGradEnabled && !hasSideEffects {
            leaves = context.graph.values.indices.filter { index in
                switch context.graph.values[index].source {
                case .input(let position): return inputs[position].requiresGrad
                case .captured(let tensor): return tensor.requiresGrad
                default: return false
                }
            }
            differentiable = outputs.indices.filter { outputs[$0].requiresGrad && outputs[$0].dtype.isFloatingPoint }
            if !leaves.isEmpty && !differentiable.isEmpty {
                context.suppression += 1
                let seeds = differentiable.map { Tensor.ones(outputs[$0].shape, dtype: outputs[$0].dtype) }
                context.suppression -= 1
                for (position, seed) in seeds.enumerated() {
                    let value = context.graph.addValue(shape: seed.shape, dtype: seed.dtype, source: .input(inputs.count + position))
                    context.bind(seed, to: value)
                    seedValues.append(value)
                }
                let leafTensors = leaves.map { context.tensor(of: $0, inputs: inputs) }
                let gradients = grad(of: differentiable.map { outputs[$0] }, withRespectTo: leafTensors,
                                     gradOutputs: seeds, retainGraph: true, allowUnused: true)
                for gradient in gradients {
                    guard let gradient else { gradientValues.append(nil); continue }
                    gradientValues.append(context.resolve(gradient, consumer: "a gradient"))
                }
            }
        }
        let effectValues = context.failure == nil ? context.effectOutputs() : nil
        Tracing.end(context)
        if let failure = context.failure { return (outputs, .failure(failure)) }
        guard let effectValues else { return (outputs, .failure(context.failure!)) }

        var joint = context.graph
        // The graph must not keep the trace's own tensors alive (see `survivors`).
        if hasSideEffects { joint = joint.copyingConstants() }
        var forward = joint
        let saved: [Int]
        if seedValues.isEmpty {
            saved = []
        } else {
            // Forward node values that the backward nodes read (saved for backward).
            var read = Set<Int>()
            for node in joint.nodes[forwardNodeCount...] { read.formUnion(node.inputs) }
            read.formUnion(gradientValues.compactMap { $0 })
            saved = read.filter { value in
                if case .node(let index) = joint.values[value].source { return index < forwardNodeCount }
                return false
            }.sorted()
        }
        forward.outputs = outputValues + saved + effectValues.writes + effectValues.gradients.compactMap { $0 }
        forward = forward.droppingInputs(from: inputs.count)
        let effects = effectValues.compiled(firstOutput: outputValues.count + saved.count)
        let backwardGraph: Graph? = seedValues.isEmpty ? nil
            : joint.backwardSlice(seeds: seedValues, saved: saved, inputCount: inputs.count,
                                  gradients: gradientValues.compactMap { $0 })
        let entry = CompiledEntry(traced: forward, forward: forward.optimized(), backward: backwardGraph?.optimized(),
                                  outputCount: outputValues.count, backend: backend, leaves: leaves.map { joint.values[$0].source },
                                  differentiableOutputs: differentiable, gradientPresent: gradientValues.map { $0 != nil },
                                  captured: joint.capturedTensors(), effects: effects)
        if hasSideEffects {
            context.releaseTensors()
            if let survivor = survivors(of: context, results: outputs, gradientOwners: effects.gradients.map(\.owner)) {
                var failure = TraceFailure(reason: "a tensor of shape \(survivor.shape) made during the trace is kept by Swift code after it " +
                                           "(state made on a first call, such as an optimizer's buffers?): the trace cannot update it",
                                           location: [])
                failure.retriesNextCall = true
                return (outputs, .failure(failure))
            }
        }
        return (outputs, .success(entry))
    }

    /// A tensor made during a trace with side effects that is still alive once the trace let
    /// go of it, other than the results (and what their autograd history holds) and the
    /// gradients assigned: Swift code kept it (an optimizer storing a new buffer), so a compiled
    /// call, which makes no such tensor, would leave that code holding stale values.
    static func survivors(of context: TraceContext, results: [Tensor], gradientOwners: [Tensor]) -> Tensor? {
        var allowed = Set<ObjectIdentifier>()
        var pending = results.compactMap(\.gradFunction)
        var visited = Set<ObjectIdentifier>()
        for result in results { allowed.insert(ObjectIdentifier(result)) }
        // The gradients the function assigned are meant to outlive it.
        for owner in gradientOwners { if let gradient = owner.grad { allowed.insert(ObjectIdentifier(gradient)) } }
        while let node = pending.popLast() {
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            for saved in node.savedOutputs { allowed.insert(ObjectIdentifier(saved)) }
            for case let saved? in node.savedInputs { allowed.insert(ObjectIdentifier(saved)) }
            for edge in node.nextEdges {
                if case .function(let next, _)? = edge { pending.append(next) }
            }
        }
        for weak in context.madeDuringTrace {
            if let tensor = weak.tensor, !allowed.contains(ObjectIdentifier(tensor)) { return tensor }
        }
        return nil
    }
}

extension TraceContext {
    /// The tensor behind an input or captured value.
    func tensor(of value: Int, inputs: [Tensor]) -> Tensor {
        switch graph.values[value].source {
        case .input(let position): return inputs[position]
        case .captured(let tensor), .constant(let tensor): return tensor
        case .node: emberFailure("trace: a node value is not a leaf")
        }
    }
}

extension TraceContext {
    /// The values that the function's side effects leave: what each written tensor holds at
    /// the end and each assigned gradient (nil where set to nil); nil if one cannot be resolved.
    func effectOutputs() -> EffectValues? {
        var gradients: [Int?] = []
        for (_, gradient) in effects.gradients {
            guard let gradient else { gradients.append(nil); continue }
            guard let value = resolve(gradient, consumer: "a gradient assigned to .grad") else { return nil }
            gradients.append(value)
        }
        return EffectValues(effects: effects, writes: effects.writes.map(\.value), gradients: gradients)
    }
}

/// A trace's side effects with the graph values they leave.
struct EffectValues {
    let effects: TraceEffects
    let writes: [Int]
    let gradients: [Int?]

    /// The compiled form, for a forward graph whose outputs from `firstOutput` on are the
    /// written values, then the non-nil gradients.
    func compiled(firstOutput: Int) -> CompiledEffects {
        var position = firstOutput
        let writes = effects.writes.map { write -> (TraceEffects.WriteTarget, Int) in
            defer { position += 1 }
            return (write.target, position)
        }
        let gradients = zip(effects.gradients, self.gradients).map { pair -> (Tensor, Int?) in
            guard pair.1 != nil else { return (pair.0.owner, nil) }
            defer { position += 1 }
            return (pair.0.owner, position)
        }
        return CompiledEffects(writes: writes, gradients: gradients, gradientGuards: effects.gradientGuards,
                               valueGuards: effects.valueGuards, hostGuards: effects.hostGuards)
    }
}

extension Graph {
    /// The same graph with each constant's tensor replaced by a copy the graph alone owns.
    func copyingConstants() -> Graph {
        var copy = self
        for index in copy.values.indices {
            if case .constant(let tensor) = copy.values[index].source {
                copy.values[index].source = .constant(withoutGrad { tensor.contiguousCopy() })
            }
        }
        return copy
    }

    /// The same graph without the arguments from `limit` on (which nothing may read).
    func droppingInputs(from limit: Int) -> Graph {
        var copy = self
        for index in copy.values.indices {
            if case .input(let position) = copy.values[index].source, position >= limit {
                copy.values[index].source = .constant(Tensor.zeros(copy.values[index].shape, dtype: copy.values[index].dtype))
            }
        }
        copy.inputCount = limit
        return copy.rebuilt(simplifying: false)
    }

    /// The backward graph: arguments (output gradients, saved forward values, the function's
    /// arguments), the backward nodes, and the gradients as outputs.
    func backwardSlice(seeds: [Int], saved: [Int], inputCount: Int, gradients: [Int]) -> Graph {
        var slice = Graph()
        var map: [Int: Int] = [:]
        for (position, seed) in seeds.enumerated() {
            map[seed] = slice.addValue(shape: values[seed].shape, dtype: values[seed].dtype, source: .input(position))
        }
        for (position, value) in saved.enumerated() {
            map[value] = slice.addValue(shape: values[value].shape, dtype: values[value].dtype, source: .input(seeds.count + position))
        }
        for (index, value) in values.enumerated() {
            if case .input(let position) = value.source, position < inputCount {
                map[index] = slice.addValue(shape: value.shape, dtype: value.dtype, source: .input(seeds.count + saved.count + position))
            }
        }
        func mapped(_ old: Int) -> Int {
            if let new = map[old] { return new }
            let value = values[old]
            switch value.source {
            case .captured, .constant:
                let new = slice.addValue(shape: value.shape, dtype: value.dtype, source: value.source)
                map[old] = new
                return new
            default: emberFailure("trace: backward reads forward value %\(old) that was not saved")
            }
        }
        for node in nodes where map[node.output] == nil {
            // Forward nodes that are not saved are not part of the backward graph.
            if node.inputs.contains(where: { values[$0].isNode && map[$0] == nil }) { continue }
            let inputs = node.inputs.map(mapped)
            map[node.output] = slice.addNode(node.primitive, inputs: inputs, shape: values[node.output].shape, dtype: values[node.output].dtype)
        }
        slice.outputs = gradients.map(mapped)
        slice.inputCount = seeds.count + saved.count + inputCount
        return slice.rebuilt(simplifying: false)
    }

    /// Every captured tensor, with its `requiresGrad` at trace time.
    func capturedTensors() -> [(Tensor, Bool)] {
        values.compactMap { value in
            if case .captured(let tensor) = value.source { return (tensor, tensor.requiresGrad) }
            return nil
        }
    }
}

extension Graph.Value {
    var isNode: Bool {
        if case .node = source { return true }
        return false
    }
}
