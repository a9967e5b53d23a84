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

    /// Records `outputs` as produced by `name` from `inputs`.
    /// - Parameters:
    ///   - saved: inputs the backward rule reads, checked against in-place modification.
    ///   - savesOutputs: the backward rule reads `context.outputs`.
    ///   - backward: maps output gradients to one gradient (or nil) per input.
    static func record(_ name: String, inputs: [Tensor], outputs: [Tensor], saved: [Tensor] = [],
                       savesOutputs: Bool = false,
                       backward: @escaping (BackwardContext) -> [Tensor?]) {
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
                        outputs: outputs.map { TensorMetadata(shape: $0.shape, dtype: $0.dtype) },
                        backward: backward)
        if !saved.isEmpty {
            node.savedVersions = saved.map { ($0.storage, $0.storage.version, $0.shape, $0.dtype) }
        }
        if savesOutputs {
            node.savedOutputs = outputs.map { $0.detach() }
            node.savedVersions += outputs.map { ($0.storage, $0.storage.version, $0.shape, $0.dtype) }
        }
        if AnomalyMode.isEnabled { node.callStack = CallStack.capture() }
        for (index, output) in outputs.enumerated() where output.dtype.isFloatingPoint {
            let meta = output.autograd ?? AutogradMeta(requiresGrad: true)
            meta.requiresGrad = true
            meta.gradFunction = node
            meta.outputIndex = index
            output.autograd = meta
        }
    }
}
