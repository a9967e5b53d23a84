/// One traced signature of a compiled function: the forward plan and, when gradients are
/// wanted, the backward plan, tied together by one autograd node per call.
final class CompiledEntry: @unchecked Sendable {
    /// The forward graph as traced (before the passes), for inspection.
    let traced: Graph
    let forward: ExecutionPlan
    let backward: ExecutionPlan?
    /// How many of the forward plan's outputs are the function's; the rest are saved for backward.
    let outputCount: Int
    /// The inputs and captured tensors gradients flow to, in the backward graph's output order.
    let leaves: [Graph.Source]
    /// Which outputs carry gradients (the backward graph's first arguments, in order).
    let differentiableOutputs: [Int]
    /// For each leaf, whether the backward graph computes a gradient (false: unused).
    let gradientPresent: [Bool]
    /// Captured tensors and their `requiresGrad` at trace time: a change means a retrace.
    let captured: [(Tensor, Bool)]
    /// In-place writes and `.grad` assignments replayed after each call, and their guards.
    let effects: CompiledEffects

    init(traced: Graph, forward: Graph, backward: Graph?, outputCount: Int, backend: any Backend,
         leaves: [Graph.Source], differentiableOutputs: [Int], gradientPresent: [Bool], captured: [(Tensor, Bool)],
         effects: CompiledEffects = .none) {
        self.traced = traced
        let writes = effects.writes.compactMap { write -> (position: Int, target: Tensor)? in
            if case .captured(let tensor) = write.target { return (write.output, tensor) }
            return nil
        }
        self.forward = ExecutionPlan(graph: forward, backend: backend, writes: writes)
        self.backward = backward.map { ExecutionPlan(graph: $0, backend: backend) }
        self.outputCount = outputCount
        self.leaves = leaves
        self.differentiableOutputs = differentiableOutputs
        self.gradientPresent = gradientPresent
        self.captured = captured
        self.effects = effects
    }

    /// True while every captured tensor's `requiresGrad`, and every value the trace baked in, is
    /// what it was when traced.
    func guardsHold() -> Bool {
        for (tensor, requiresGrad) in captured where tensor.requiresGrad != requiresGrad { return false }
        return effects.guardsHold()
    }

    /// Runs the forward plan writing the function's results into `results` (no autograd).
    func run(_ inputs: [Tensor], into results: [Tensor]) {
        emberPrecondition(backward == nil || !isGradEnabled, "compiled function: call(_:into:) records no gradient; call it under withNoGrad or on inputs that need none")
        emberPrecondition(results.count == outputCount, "compiled function: returns \(outputCount) tensors, got \(results.count) to write into")
        if forward.graph.outputs.count == outputCount && effects.writes.isEmpty && effects.gradients.isEmpty {
            _ = forward.run(inputs, into: results)
            return
        }
        // Outputs after the function's own (saved values, written-back state) stay the plan's.
        let all = forward.run(inputs)
        effects.apply(all, inputs: inputs)
        withoutGrad { for (result, value) in zip(results, all) { CopyKernel.copy(from: value, into: result) } }
    }

    func run(_ inputs: [Tensor]) -> [Tensor] {
        let results = forward.run(inputs)
        effects.apply(results, inputs: inputs)
        var outputs = Array(results[..<outputCount])
        guard let backward, isGradEnabled else { return outputs }
        let saved = Array(results[outputCount...])
        let leafTensors: [Tensor] = leaves.map { source in
            switch source {
            case .input(let position): return inputs[position]
            case .captured(let tensor), .constant(let tensor): return tensor
            case .node: emberFailure("compile: a gradient leaf is a node")
            }
        }
        // An output that is an argument or captured tensor itself gets a copy, so that the
        // node's history never lands on a leaf.
        for index in differentiableOutputs where inputs.contains(where: { $0 === outputs[index] }) || leafTensors.contains(where: { $0 === outputs[index] }) {
            outputs[index] = withoutGrad { outputs[index].clone() }
        }
        let present = gradientPresent, forward = self.forward, outputCount = self.outputCount
        GraphRecorder.record("compiled", inputs: leafTensors, outputs: differentiableOutputs.map { outputs[$0] }) { context in
            let gradients: [Tensor]
            if isGradEnabled {
                // createGraph: both graphs run op by op, recording history, so the saved values
                // (recomputed) and the gradients connect back to the leaves.
                let replayed = Array(forward.interpret(inputs)[outputCount...])
                gradients = backward.interpret(context.gradOutputs + replayed + inputs)
            } else {
                gradients = backward.run(context.gradOutputs + saved + inputs)
            }
            var next = gradients.makeIterator()
            return present.map { $0 ? next.next() : nil }
        }
        return outputs
    }
}
