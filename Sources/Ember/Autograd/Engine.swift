/// Runs backward passes over the recorded graph.
///
/// As in PyTorch's engine, dependencies are counted first (how many edges lead into each
/// node from the part of the graph reachable from the roots), then a node runs once all of
/// its consumers have delivered their gradients, so each node runs exactly once and
/// gradients flowing into the same tensor are summed before they move on.
enum AutogradEngine {
    /// Gradients captured for `grad(of:withRespectTo:)` instead of accumulated into `.grad`.
    private final class Capture {
        let leaves: [ObjectIdentifier: Int]                 // leaf tensor -> input position
        let nodeOutputs: [ObjectIdentifier: [(output: Int, input: Int)]]
        var results: [Tensor?]
        init(inputs: [Tensor]) {
            var leaves: [ObjectIdentifier: Int] = [:]
            var nodeOutputs: [ObjectIdentifier: [(output: Int, input: Int)]] = [:]
            for (position, input) in inputs.enumerated() {
                if let node = input.gradFunction {
                    nodeOutputs[ObjectIdentifier(node), default: []].append((input.autograd!.outputIndex, position))
                } else {
                    leaves[ObjectIdentifier(input)] = position
                }
            }
            self.leaves = leaves
            self.nodeOutputs = nodeOutputs
            self.results = Array(repeating: nil, count: inputs.count)
        }
    }

    static func run(roots: [Tensor], gradients: [Tensor], retainGraph: Bool, createGraph: Bool,
                    capturing inputs: [Tensor]? = nil) -> [Tensor?] {
        let capture = inputs.map(Capture.init)
        withGradMode(createGraph) {
            execute(roots: roots, gradients: gradients, retainGraph: retainGraph,
                    createGraph: createGraph, capture: capture)
        }
        return capture?.results ?? []
    }

    private static func execute(roots: [Tensor], gradients: [Tensor], retainGraph: Bool,
                                createGraph: Bool, capture: Capture?) {
        // 1. Count the edges into every node reachable from the roots.
        var visited: [Node] = []
        var stack: [Node] = []
        for root in roots {
            if let node = root.gradFunction, !node.isInCurrentPass {
                node.isInCurrentPass = true
                visited.append(node)
                stack.append(node)
            }
        }
        while let node = stack.popLast() {
            for case .function(let next, _)? in node.nextEdges {
                next.pendingConsumers += 1
                if !next.isInCurrentPass {
                    next.isInCurrentPass = true
                    visited.append(next)
                    stack.append(next)
                }
            }
        }
        defer {
            for node in visited {
                node.isInCurrentPass = false
                node.pendingConsumers = 0
                node.gradientBuffer = []
            }
        }

        // 2. Seed the root gradients.
        var ready: [Node] = []
        for (root, gradient) in zip(roots, gradients) {
            guard let meta = root.autograd, meta.requiresGrad else {
                emberFailure("backward: element 0 of tensors does not require grad and does not have a grad_fn")
            }
            if let node = meta.gradFunction {
                accumulate(gradient, into: node, at: meta.outputIndex)
                if node.pendingConsumers == 0 && !ready.contains(where: { $0 === node }) { ready.append(node) }
            } else {
                deliver(gradient, toLeaf: root, createGraph: createGraph, capture: capture)
            }
        }

        // 3. Run nodes whose gradients are complete.
        while let node = ready.popLast() {
            var outputGradients = node.gradientBuffer
            node.gradientBuffer = []
            if outputGradients.isEmpty { outputGradients = Array(repeating: nil, count: node.outputs.count) }
            runHooks(of: node, on: &outputGradients)
            if let capture, let wanted = capture.nodeOutputs[ObjectIdentifier(node)] {
                for (output, position) in wanted { capture.results[position] = outputGradients[output] }
            }
            let inputGradients = apply(node, outputGradients: outputGradients,
                                       retainGraph: retainGraph, createGraph: createGraph)
            for (index, edge) in node.nextEdges.enumerated() {
                guard let edge else { continue }
                let gradient = inputGradients[index]
                switch edge {
                case .function(let next, let outputIndex):
                    if let gradient { accumulate(gradient, into: next, at: outputIndex) }
                    next.pendingConsumers -= 1
                    if next.pendingConsumers == 0 { ready.append(next) }
                case .accumulate(let leaf):
                    if let gradient { deliver(gradient, toLeaf: leaf, createGraph: createGraph, capture: capture) }
                }
            }
        }
    }

    /// Adds `gradient` to what has arrived so far for output `index` of `node`.
    private static func accumulate(_ gradient: Tensor, into node: Node, at index: Int) {
        if node.gradientBuffer.isEmpty { node.gradientBuffer = Array(repeating: nil, count: node.outputs.count) }
        if let existing = node.gradientBuffer[index] {
            node.gradientBuffer[index] = existing + gradient
        } else {
            node.gradientBuffer[index] = gradient
        }
    }

    /// Calls the node's backward rule, filling missing output gradients with zeros and
    /// checking what comes back.
    private static func apply(_ node: Node, outputGradients: [Tensor?], retainGraph: Bool,
                              createGraph: Bool) -> [Tensor?] {
        if outputGradients.allSatisfy({ $0 == nil }) {
            if !retainGraph { node.release() }
            return Array(repeating: nil, count: node.nextEdges.count)
        }
        guard !node.isReleased, let rule = node.rule else {
            emberFailure("backward: trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call backward(). Specify retainGraph: true if you need to backward through the graph a second time. (node: \(node.name))")
        }
        for saved in node.savedVersions where saved.storage.version != saved.version {
            emberFailure("backward: one of the variables needed for gradient computation has been modified by an inplace operation: [\(saved.dtype) \(saved.shape)] is at version \(saved.storage.version); expected version \(saved.version) instead. It was saved by \(node.name)\(AnomalyReport.location(of: node))")
        }
        let gradients = outputGradients.enumerated().map { index, gradient in
            gradient ?? Tensor.zeros(node.outputs[index].shape, dtype: node.outputs[index].dtype)
        }
        let outputs = createGraph ? reattachedOutputs(of: node) : node.savedOutputs
        var inputGradients = rule.gradients(BackwardContext(gradOutputs: gradients, outputs: outputs,
                                                            inputs: node.savedInputs, node: node))
        if !retainGraph { node.release() }
        emberPrecondition(inputGradients.count == node.nextEdges.count,
                     "backward: function \(node.name) returned \(inputGradients.count) gradients, expected \(node.nextEdges.count)")
        for index in inputGradients.indices {
            guard let gradient = inputGradients[index], let edge = node.nextEdges[index] else { continue }
            let expected = edge.target
            emberPrecondition(gradient.shape == expected.shape,
                         "backward: function \(node.name) returned an invalid gradient at index \(index) - got \(gradient.shape) but expected shape compatible with \(expected.shape)")
            if gradient.dtype != expected.dtype {
                inputGradients[index] = gradient.to(expected.dtype)
            }
            if AnomalyMode.isEnabled { AnomalyReport.check(gradient, producedBy: node, inputIndex: index) }
        }
        return inputGradients
    }

    /// Saved outputs that point back at their node, so a backward rule that reads its own
    /// output is itself differentiable (needed for create_graph). They exist only during
    /// this backward call, so they create no lasting cycle.
    private static func reattachedOutputs(of node: Node) -> [Tensor] {
        node.savedOutputs.enumerated().map { index, saved in
            let output = saved.detach()
            let meta = AutogradMeta(requiresGrad: true)
            meta.gradFunction = node
            meta.outputIndex = index
            output.autograd = meta
            return output
        }
    }

    private static func runHooks(of node: Node, on gradients: inout [Tensor?]) {
        guard !node.outputHooks.isEmpty else { return }
        for (index, hooks) in node.outputHooks {
            guard var gradient = gradients[index] else { continue }
            for hook in hooks { if let replaced = hook(gradient) { gradient = replaced } }
            gradients[index] = gradient
        }
    }

    private static func deliver(_ incoming: Tensor, toLeaf leaf: Tensor, createGraph: Bool, capture: Capture?) {
        guard let meta = leaf.autograd else { return }
        var gradient = incoming
        for hook in meta.leafHooks { if let replaced = hook(gradient) { gradient = replaced } }
        if let capture {
            if let position = capture.leaves[ObjectIdentifier(leaf)] {
                capture.results[position] = capture.results[position].map { $0 + gradient } ?? gradient
            }
            return
        }
        if gradient.dtype != leaf.dtype { gradient = gradient.to(leaf.dtype) }
        if Tracing.isActive { Tracing.noteGradientRead(of: leaf, meta.grad) }
        if let existing = meta.grad {
            if createGraph || existing.requiresGrad {
                meta.grad = existing + gradient
            } else {
                existing += gradient    // in place, as PyTorch accumulates
            }
        } else {
            // A fresh tensor, not a view of another gradient, so later in-place updates
            // of `.grad` (optimizers) cannot write into someone else's memory.
            meta.grad = createGraph ? gradient : gradient.detach().contiguousCopy()
        }
        if Tracing.isActive { Tracing.noteGradientWrite(of: leaf, meta.grad) }
        for hook in meta.postAccumulateHooks { hook(meta.grad!) }
    }
}

extension Tensor {
    /// Computes the gradient of this tensor with respect to every leaf that requires grad
    /// and adds it to their `.grad`. The tensor must hold a single element.
    ///
    ///     let loss = (w * x).sum()
    ///     loss.backward()
    ///     print(w.grad!)
    public func backward(retainGraph: Bool = false, createGraph: Bool = false) {
        emberPrecondition(count == 1, "backward: grad can be implicitly created only for scalar outputs (got shape \(shape)); pass gradient:")
        backward(gradient: Tensor.ones(shape, dtype: dtype), retainGraph: retainGraph, createGraph: createGraph)
    }

    /// Backward from a non-scalar tensor, seeded with `gradient` (same shape).
    public func backward(gradient: Tensor, retainGraph: Bool = false, createGraph: Bool = false) {
        emberPrecondition(gradient.shape == shape, "backward: gradient has shape \(gradient.shape) but the tensor has shape \(shape)")
        _ = AutogradEngine.run(roots: [self], gradients: [gradient], retainGraph: retainGraph || createGraph,
                           createGraph: createGraph)
    }
}

/// Returns the gradients of `outputs` with respect to `inputs` without touching `.grad`
/// (PyTorch's `torch.autograd.grad`).
///
///     let (dx) = grad(of: [y], withRespectTo: [x], createGraph: true)[0]!
/// - Parameters:
///   - outputs: the tensors to differentiate.
///   - inputs: the tensors to differentiate with respect to (they must require grad).
///   - gradOutputs: seeds, one per output (defaults to ones for single-element outputs).
///   - retainGraph: keep the graph for another backward pass (defaults to `createGraph`).
///   - createGraph: record the backward pass itself, for higher-order gradients.
///   - allowUnused: when false, an input that does not influence the outputs is an error.
public func grad(of outputs: [Tensor], withRespectTo inputs: [Tensor], gradOutputs: [Tensor]? = nil,
                 retainGraph: Bool? = nil, createGraph: Bool = false,
                 allowUnused: Bool = false) -> [Tensor?] {
    for input in inputs {
        emberPrecondition(input.requiresGrad, "grad: one of the differentiated Tensors does not require grad")
    }
    let seeds = gradOutputs ?? outputs.map { output in
        emberPrecondition(output.count == 1, "grad: grad can be implicitly created only for scalar outputs (got shape \(output.shape))")
        return Tensor.ones(output.shape, dtype: output.dtype)
    }
    let results = AutogradEngine.run(roots: outputs, gradients: seeds,
                                     retainGraph: retainGraph ?? createGraph,
                                     createGraph: createGraph, capturing: inputs)
    if !allowUnused {
        for (index, result) in results.enumerated() where result == nil {
            emberFailure("grad: one of the differentiated Tensors (input \(index)) appears to not have been used in the graph. Set allowUnused: true if this is the desired behavior.")
        }
    }
    return results
}
