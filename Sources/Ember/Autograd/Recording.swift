/// Decides whether an op records a node and builds it. Ops call `shouldRecord` first: when
/// grad mode is off or no input requires grad, that is the only cost they pay.
enum GraphRecorder {
    @inline(__always)
    static func shouldRecord(_ a: Tensor) -> Bool {
        a.autograd?.requiresGrad == true && ThreadState.current.gradEnabled
    }

    @inline(__always)
    static func shouldRecord(_ a: Tensor, _ b: Tensor) -> Bool {
        (a.autograd?.requiresGrad == true || b.autograd?.requiresGrad == true)
            && ThreadState.current.gradEnabled
    }

    static func shouldRecord(_ inputs: [Tensor]) -> Bool {
        inputs.contains { $0.autograd?.requiresGrad == true } && ThreadState.current.gradEnabled
    }

    /// Records `output` as produced from `inputs` by the op value in `rule`, keeping the
    /// forward values the rule reads (`BackwardRule.reads`). `name` is what `gradFunction`
    /// shows (PyTorch's names: "view", "unsqueeze", "clone").
    static func record(_ name: String, _ rule: BackwardRule, inputs: [Tensor], output: Tensor) {
        let reads = rule.reads
        let node = makeNode(name, rule, inputs: inputs, outputs: [output])
        if !reads.inputs.isEmpty {
            var saved: [Tensor?] = []
            saved.reserveCapacity(inputs.count)
            node.savedVersions.reserveCapacity(inputs.count + (reads.output ? 1 : 0))
            for (position, input) in inputs.enumerated() {
                guard reads.inputs.contains(position: position) else {
                    saved.append(nil)
                    continue
                }
                saved.append(input)
                node.savedVersions.append((input.storage, input.storage.version, input.shape, input.dtype))
            }
            node.savedInputs = saved
        }
        if reads.inputShapes { node.savedInputShapes = inputs.map(\.shape) }
        if reads.output { saveOutputs([output], in: node) }
        attach(node, to: [output])
    }

    /// Records `outputs` as produced by `name` from `inputs`, with a closure for a rule: what
    /// custom functions, compiled functions and the ops with several outputs use.
    /// - Parameters:
    ///   - saved: inputs the backward rule reads, checked against in-place modification.
    ///   - savesOutputs: the backward rule reads `context.outputs`.
    ///   - backward: maps output gradients to one gradient (or nil) per input.
    static func record(_ name: String, inputs: [Tensor], outputs: [Tensor], saved: [Tensor] = [],
                       savesOutputs: Bool = false,
                       backward: @escaping (BackwardContext) -> [Tensor?]) {
        let node = makeNode(name, .closure(backward), inputs: inputs, outputs: outputs)
        if !saved.isEmpty {
            node.savedVersions = saved.map { ($0.storage, $0.storage.version, $0.shape, $0.dtype) }
        }
        if savesOutputs { saveOutputs(outputs, in: node) }
        attach(node, to: outputs)
    }

    private static func makeNode(_ name: String, _ rule: BackwardRule, inputs: [Tensor], outputs: [Tensor]) -> Node {
        var edges: [Edge?] = []
        edges.reserveCapacity(inputs.count)
        for input in inputs {
            guard let meta = input.autograd, meta.requiresGrad else {
                edges.append(nil)
                continue
            }
            if let function = meta.gradFunction {
                edges.append(.function(function, outputIndex: meta.outputIndex))
            } else {
                edges.append(.accumulate(input))
            }
        }
        let node = Node(name: name, nextEdges: edges,
                        outputs: outputs.map { TensorMetadata(shape: $0.shape, dtype: $0.dtype) }, rule: rule)
        if AnomalyMode.isEnabled { node.callStack = CallStack.capture() }
        return node
    }

    private static func saveOutputs(_ outputs: [Tensor], in node: Node) {
        node.savedOutputs = outputs.map { $0.detach() }
        node.savedVersions += outputs.map { ($0.storage, $0.storage.version, $0.shape, $0.dtype) }
    }

    private static func attach(_ node: Node, to outputs: [Tensor]) {
        for (index, output) in outputs.enumerated() where output.dtype.isFloatingPoint {
            let meta = output.autograd ?? AutogradMeta(requiresGrad: true)
            meta.requiresGrad = true
            meta.gradFunction = node
            meta.outputIndex = index
            output.autograd = meta
        }
    }
}
