/// Autograd state of a tensor, allocated only when the tensor takes part in differentiation
/// so that plain tensors carry a single nil pointer.
final class AutogradMeta {
    var requiresGrad: Bool
    /// Accumulated gradient (leaves, and non-leaves that called `retainGrad()`).
    var grad: Tensor?
    /// The node that produced this tensor; nil for leaves.
    var gradFunction: Node?
    /// Which output of `gradFunction` this tensor is.
    var outputIndex = 0
    var retainsGrad = false
    /// Hooks on a leaf's gradient, run before accumulation (non-leaf hooks live on the node).
    var leafHooks: [(Tensor) -> Tensor?] = []
    /// Run after the leaf's `.grad` has been updated (e.g. to start a gradient all-reduce).
    var postAccumulateHooks: [(Tensor) -> Void] = []

    init(requiresGrad: Bool) { self.requiresGrad = requiresGrad }
}

extension Tensor {
    /// Whether autograd records operations on this tensor. Settable on leaves only.
    ///
    ///     let w = Tensor.randn([3, 3]); w.requiresGrad = true
    public var requiresGrad: Bool {
        get { autograd?.requiresGrad ?? false }
        set {
            if let meta = autograd {
                emberPrecondition(meta.gradFunction == nil || newValue,
                             "requiresGrad: you can only change requiresGrad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use detach()")
                meta.requiresGrad = newValue
            } else if newValue {
                emberPrecondition(dtype.isFloatingPoint,
                             "requiresGrad: only Tensors of floating point dtype can require gradients (got \(dtype))")
                autograd = AutogradMeta(requiresGrad: true)
            }
        }
    }

    /// Sets `requiresGrad` and returns the tensor, for chaining (PyTorch's `requires_grad_()`).
    @discardableResult
    public func requiresGrad_(_ value: Bool = true) -> Tensor {
        requiresGrad = value
        return self
    }

    /// The gradient accumulated by `backward()`, until cleared by setting it to nil.
    public var grad: Tensor? {
        get {
            if Tracing.isActive { Tracing.noteGradientRead(of: self, autograd?.grad) }
            return autograd?.grad
        }
        set {
            if Tracing.isActive { Tracing.noteGradientWrite(of: self, newValue) }
            if let newValue {
                emberPrecondition(newValue.shape == shape, "grad: assigned grad has shape \(newValue.shape) but the tensor has shape \(shape)")
            }
            if autograd == nil { autograd = AutogradMeta(requiresGrad: false) }
            autograd!.grad = newValue
        }
    }

    /// The node that computed this tensor, or nil for leaves and tensors without history.
    public var gradFunction: Node? { autograd?.gradFunction }

    /// True for tensors created by the user rather than by a recorded operation.
    public var isLeaf: Bool { autograd?.gradFunction == nil }

    /// A tensor sharing this one's storage, cut off from the graph.
    ///
    ///     let target = prediction.detach()
    public func detach() -> Tensor {
        let result = view(as: layout)
        // A trace sees the same value (saved outputs of autograd nodes are detached views).
        if Tracing.isActive { Tracing.noteAlias(result, of: self) }
        return result
    }

    /// Asks a non-leaf tensor to keep its gradient in `.grad` during backward.
    public func retainGrad() {
        guard let meta = autograd, meta.requiresGrad else {
            emberFailure("retainGrad: can't retain_grad on Tensor that has requires_grad=False")
        }
        guard let node = meta.gradFunction, !meta.retainsGrad else { return }
        meta.retainsGrad = true
        weak let weakMeta = meta
        node.outputHooks[meta.outputIndex, default: []].append { gradient in
            if let meta = weakMeta {
                meta.grad = meta.grad.map { $0 + gradient } ?? gradient.detach()
            }
            return nil
        }
    }

    /// Registers a closure called with this tensor's gradient during backward; returning a
    /// tensor replaces the gradient, returning nil leaves it unchanged.
    ///
    ///     w.registerHook { g in g.clamp(min: -1, max: 1) }
    public func registerHook(_ hook: @escaping (Tensor) -> Tensor?) {
        guard let meta = autograd, meta.requiresGrad else {
            emberFailure("registerHook: cannot register a hook on a tensor that doesn't require gradient")
        }
        if let node = meta.gradFunction {
            node.outputHooks[meta.outputIndex, default: []].append(hook)
        } else {
            meta.leafHooks.append(hook)
        }
    }

    /// Registers a closure run after this leaf's `.grad` has been updated in backward
    /// (the hook a distributed data-parallel wrapper uses to start reducing gradients).
    public func registerPostAccumulateGradHook(_ hook: @escaping (Tensor) -> Void) {
        emberPrecondition(isLeaf && requiresGrad, "registerPostAccumulateGradHook: only leaf tensors that require grad accept post-accumulate hooks")
        autograd!.postAccumulateHooks.append(hook)
    }
}
