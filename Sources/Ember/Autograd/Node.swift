/// Where a gradient flows from a node: into another node's output, or into a leaf tensor's
/// `.grad`.
enum Edge {
    case function(Node, outputIndex: Int)
    case accumulate(Tensor)
}

/// The shape and dtype of a tensor in the graph.
struct TensorMetadata {
    let shape: [Int]
    let dtype: DType
}

extension Edge {
    /// Shape and dtype of the tensor this edge leads to (the input the gradient is for).
    var target: TensorMetadata {
        switch self {
        case .function(let node, let index): return node.outputs[index]
        case .accumulate(let leaf): return TensorMetadata(shape: leaf.shape, dtype: leaf.dtype)
        }
    }
}

/// One recorded operation in the autograd graph (PyTorch's `grad_fn`).
///
/// A node holds the op value it differentiates (its `BackwardRule`: a table entry or a
/// ``Primitive``, whose vector-Jacobian product is written in Tensor operations) and the forward
/// values that rule reads. Running it with grad mode on records a graph of the backward pass
/// itself: that is how higher-order gradients work for every op.
///
///     let y = x.tanh()
///     y.gradFunction?.primitive   // .unary("tanh")
public final class Node: @unchecked Sendable, CustomStringConvertible {
    /// The forward operation's name, e.g. "mul".
    public let name: String
    /// One edge per differentiable input (nil where the input does not require grad).
    var nextEdges: [Edge?]
    /// Gradients of outputs in, gradients of inputs out. A closure rule is dropped after
    /// backward unless the graph is retained (saved values always are).
    var rule: BackwardRule?
    /// Set once backward has run without `retainGraph`: the saved values are gone.
    var isReleased = false
    /// The forward inputs the rule reads (nil where it does not), kept alive until backward.
    var savedInputs: [Tensor?] = []
    /// The shapes of all inputs, for rules that ask (`SavedValues.inputShapes`).
    var savedInputShapes: [[Int]] = []
    /// Outputs the backward rule reads (e.g. exp's result), kept detached: a saved output that
    /// pointed back to this node would be a reference cycle. The engine re-attaches them.
    var savedOutputs: [Tensor] = []
    /// Shape and dtype of each output, to zero-fill gradients that never arrived.
    let outputs: [TensorMetadata]
    /// Storages (and their versions at save time) of tensors the backward closure reads.
    var savedVersions: [(storage: TensorStorage, version: Int, shape: [Int], dtype: DType)] = []
    /// Hooks registered on this node's outputs (by output index) with `Tensor.registerHook`.
    var outputHooks: [Int: [(Tensor) -> Tensor?]] = [:]
    /// Return addresses of the forward call, recorded only in anomaly mode.
    var callStack: [UInt]?

    // Bookkeeping of the backward pass in progress (reset when it ends): how many consumers
    // have yet to deliver a gradient, and the gradients delivered so far. Kept on the node
    // rather than in dictionaries keyed by node, which cost more than the tiny ops they serve.
    // A graph is walked by one backward pass at a time.
    var isInCurrentPass = false
    var pendingConsumers = 0
    var gradientBuffer: [Tensor?] = []

    init(name: String, nextEdges: [Edge?], outputs: [TensorMetadata], rule: BackwardRule) {
        self.name = name
        self.nextEdges = nextEdges
        self.outputs = outputs
        self.rule = rule
    }

    public var description: String { "<\(name)Backward>" }

    /// The primitive op this node differentiates, with its attributes; nil for nodes whose rule
    /// is a closure (custom and compiled functions, ops with several outputs).
    ///
    ///     (x * 2).gradFunction?.primitive   // .binary("mul")
    public var primitive: Primitive? { rule?.primitive }

    /// Drops what backward needed (after a backward pass without `retainGraph`).
    func release() {
        isReleased = true
        if case .closure? = rule { rule = nil }
        savedOutputs = []
        savedInputs = []
    }

    /// Releasing a long chain of nodes recursively would overflow the stack (an RNN unrolled
    /// over a long sequence builds chains of 100k+ nodes). Instead, a node being freed hands
    /// its references to a per-thread list, and the outermost release drains that list in a
    /// loop, so the depth stays constant whatever the length of the graph.
    deinit {
        if nextEdges.isEmpty && savedInputs.isEmpty && savedOutputs.isEmpty && !hasClosure { return }
        let state = ThreadState.current
        moveReferences(to: state)
        if state.isDrainingReleases { return }
        state.isDrainingReleases = true
        // Each item is released at the end of its iteration, outside the access to the
        // list, since releasing it runs more deinits that append to the same list.
        while let item = state.pendingReleases.popLast() {
            withExtendedLifetime(item) {}
        }
        state.isDrainingReleases = false
    }

    private var hasClosure: Bool {
        if case .closure? = rule { return true }
        return false
    }

    /// Moves this node's references into the thread's pending list. A separate, non-inlined
    /// function so that no local copy outlives it: a copy still held by `deinit` would be
    /// released after the drain loop and recurse into the next node.
    @inline(never)
    private func moveReferences(to state: ThreadState) {
        var edges: [Edge?] = []
        swap(&edges, &nextEdges)
        state.pendingReleases.append(edges)
        if hasClosure, let rule {
            self.rule = nil
            state.pendingReleases.append(rule)
        }
        if !savedInputs.isEmpty {
            var inputs: [Tensor?] = []
            swap(&inputs, &savedInputs)
            state.pendingReleases.append(inputs)
        }
        if !savedOutputs.isEmpty {
            var outputs: [Tensor] = []
            swap(&outputs, &savedOutputs)
            state.pendingReleases.append(outputs)
        }
    }
}
