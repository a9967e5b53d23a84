/// Where a gradient flows from a node: into another node's output, or into a leaf tensor's
/// `.grad`.
enum Edge {
    case function(Node, outputIndex: Int)
    case accumulate(Tensor)
}

/// What a backward rule receives: the gradient of each output (zeros where none arrived)
/// and, for rules that asked to save them, the forward outputs.
struct BackwardContext {
    let gradOutputs: [Tensor]
    let outputs: [Tensor]
    var gradOutput: Tensor { gradOutputs[0] }
    var output: Tensor { outputs[0] }
}

/// One recorded operation in the autograd graph (PyTorch's `grad_fn`).
///
/// A node maps the gradients of its outputs to the gradients of its inputs with a closure
/// written in Tensor operations, so running it with grad mode on records a graph of the
/// backward pass itself: that is how higher-order gradients work for every op.
public final class Node: @unchecked Sendable, CustomStringConvertible {
    /// The forward operation's name, e.g. "mul".
    public let name: String
    /// One edge per differentiable input (nil where the input does not require grad).
    var nextEdges: [Edge?]
    /// Gradients of outputs in, gradients of inputs out. Dropped after backward unless
    /// the graph is retained.
    var backwardFunction: ((BackwardContext) -> [Tensor?])?
    /// Outputs the backward rule reads (e.g. exp's result), kept detached: a saved output that
    /// pointed back to this node would be a reference cycle. The engine re-attaches them.
    var savedOutputs: [Tensor] = []
    /// Shape and dtype of each output, to zero-fill gradients that never arrived.
    let outputShapes: [[Int]]
    let outputDTypes: [DType]
    /// Storages (and their versions at save time) of tensors the backward closure reads.
    var savedVersions: [(storage: TensorStorage, version: Int, shape: [Int], dtype: DType)] = []
    /// Hooks registered on this node's outputs (by output index) with `Tensor.registerHook`.
    var outputHooks: [Int: [(Tensor) -> Tensor?]] = [:]
    /// Shape and dtype of each differentiable input, to check and cast what backward returns.
    let inputShapes: [[Int]]
    let inputDTypes: [DType]
    /// Return addresses of the forward call, recorded only in anomaly mode.
    var callStack: [UInt]?

    init(name: String, nextEdges: [Edge?], inputShapes: [[Int]], inputDTypes: [DType],
         outputShapes: [[Int]], outputDTypes: [DType],
         backward: @escaping (BackwardContext) -> [Tensor?]) {
        self.inputShapes = inputShapes
        self.inputDTypes = inputDTypes
        self.name = name
        self.nextEdges = nextEdges
        self.outputShapes = outputShapes
        self.outputDTypes = outputDTypes
        self.backwardFunction = backward
    }

    public var description: String { "<\(name)Backward>" }

    /// Releasing a long chain of nodes recursively would overflow the stack (an RNN unrolled
    /// over a long sequence builds chains of 100k+ nodes). Instead, a node being freed hands
    /// its references to a per-thread list, and the outermost release drains that list in a
    /// loop, so the depth stays constant whatever the length of the graph.
    deinit {
        let edges = nextEdges
        let function = backwardFunction
        if edges.isEmpty && function == nil { return }
        nextEdges = []
        backwardFunction = nil
        let state = ThreadState.current
        state.pendingReleases.append(edges)
        if let function { state.pendingReleases.append(function) }
        if state.isDrainingReleases { return }
        state.isDrainingReleases = true
        while !state.pendingReleases.isEmpty {
            _ = state.pendingReleases.popLast()
        }
        state.isDrainingReleases = false
    }
}
