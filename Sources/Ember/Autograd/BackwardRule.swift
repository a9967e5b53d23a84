/// How a ``Node`` turns the gradients of its outputs into the gradients of its inputs.
///
/// Every op with one output records the op value it ran, not a closure: an entry of the
/// unary, binary or reduction tables (each entry carries its derivative), or a ``Primitive``
/// (whose vector-Jacobian product is `Primitive.vectorJacobianProduct`). The rules are
/// written in Tensor ops, so a backward pass records (with `createGraph`) or traces (inside
/// `compile`) like any other code. Closures remain only where no single primitive describes
/// the node: custom functions, compiled functions, and the ops with several outputs
/// (`unbind`, `split`, `max(dim:)`, max pooling with its indices, the fused LSTM).
///
///     let y = (x * 2).sum()
///     y.gradFunction?.primitive        // .reduce("sum", axes: [0], keepDim: false)
enum BackwardRule {
    /// A unary table entry and its two parameters (clamp's bounds, softplus's beta).
    case unary(UnaryOperation, p0: Double, p1: Double)
    /// A binary table entry; the gradients are summed back to each operand's shape.
    case binary(BinaryOperation)
    /// A reduction table entry over normalised, sorted `axes`.
    case reduction(ReductionOperation, axes: [Int], keepDim: Bool)
    /// Any other primitive.
    case primitive(Primitive)
    /// A closure over whatever the op kept.
    case closure((BackwardContext) -> [Tensor?])

    /// The op's name (what `gradFunction` shows unless the op names it otherwise).
    var name: String {
        switch self {
        case .unary(let operation, _, _): return operation.name
        case .binary(let operation): return operation.name
        case .reduction(let operation, _, _): return operation.name
        case .primitive(let primitive): return primitive.name
        case .closure: return "function"
        }
    }

    /// The op value this rule differentiates, nil for a closure.
    var primitive: Primitive? {
        switch self {
        case .unary(let operation, let p0, let p1): return .unary(operation.name, p0: p0, p1: p1)
        case .binary(let operation): return .binary(operation.name)
        case .reduction(let operation, let axes, let keepDim): return .reduce(operation.name, axes: axes, keepDim: keepDim)
        case .primitive(let primitive): return primitive
        case .closure: return nil
        }
    }

    /// Which forward values the rule reads, so that only those are kept alive (and checked
    /// against in-place writes).
    var reads: SavedValues {
        switch self {
        case .unary(let operation, _, _):
            switch operation.saves {
            case .nothing: return .none
            case .input: return SavedValues(inputs: .all)
            case .output: return SavedValues(output: true)
            case .inputAndOutput: return SavedValues(inputs: .all, output: true)
            }
        case .binary(let operation):
            if operation === BinaryOperation.add || operation === BinaryOperation.sub { return .none }
            return SavedValues(inputs: .all, output: operation === BinaryOperation.pow)
        case .reduction(let operation, _, _):
            if case .fromInputAndOutput? = operation.derivative { return SavedValues(inputs: .all, output: true) }
            return .none
        case .primitive(let primitive): return primitive.backwardReads
        case .closure: return .none
        }
    }

    /// The gradients of the node's inputs (nil where none flows).
    func gradients(_ context: BackwardContext) -> [Tensor?] {
        switch self {
        case .unary(let operation, let p0, let p1):
            guard let derivative = operation.derivative else {
                // Piecewise-constant functions: the gradient is zero, but the output stays in the graph.
                return [Tensor.zeros(context.gradOutput.shape, dtype: context.gradOutput.dtype)]
            }
            let x = context.savedInput(0) ?? context.gradOutput
            return [derivative(x, reads.output ? context.output : x, context.gradOutput, (p0, p1))]
        case .binary(let operation):
            guard let derivative = operation.derivative else { return [nil, nil] }
            let needs = (context.needsGradient(0), context.needsGradient(1))
            let g = context.gradOutput
            let (gradA, gradB) = derivative(context.savedInput(0) ?? g, context.savedInput(1) ?? g,
                                            operation === BinaryOperation.pow ? context.output : g, g, needs)
            return [needs.0 ? gradA?.sumToShape(context.inputShape(0)) : nil,
                    needs.1 ? gradB?.sumToShape(context.inputShape(1)) : nil]
        case .reduction(let operation, let axes, let keepDim):
            let inputShape = context.inputShape(0)
            let g = context.gradOutput.restoringReducedDims(axes, inputShape: inputShape, keepDim: keepDim)
            switch operation.derivative {
            case .fromGradient(let rule)?:
                return [rule(g, axes.reduce(1) { $0 * inputShape[$1] }).expanded(to: inputShape)]
            case .fromInputAndOutput(let rule)?:
                let y = context.output.restoringReducedDims(axes, inputShape: inputShape, keepDim: keepDim)
                return [rule(context.savedInput(0)!, y, g, axes).expanded(to: inputShape)]
            case nil:
                return [nil]
            }
        case .primitive(let primitive): return primitive.vectorJacobianProduct(context)
        case .closure(let function): return function(context)
        }
    }
}

/// The forward values a backward rule reads.
struct SavedValues {
    /// Which inputs, by position (bit i for input i).
    struct Inputs: OptionSet {
        let rawValue: UInt64
        static let all = Inputs(rawValue: .max)
        static func only(_ positions: Int...) -> Inputs { Inputs(rawValue: positions.reduce(0) { $0 | 1 << UInt64($1) }) }
        func contains(position: Int) -> Bool { position < 64 ? rawValue & (1 << UInt64(position)) != 0 : rawValue == .max }
    }
    var inputs: Inputs = []
    var output = false
    /// The shapes of all inputs (cat needs those of inputs without gradients too).
    var inputShapes = false

    static let none = SavedValues()
}

/// What a backward rule receives: the gradient of each output (zeros where none arrived),
/// the forward values the rule asked to keep, and which inputs want a gradient.
struct BackwardContext {
    let gradOutputs: [Tensor]
    let outputs: [Tensor]
    /// The saved forward inputs, nil where the rule does not read them.
    var inputs: [Tensor?] = []
    /// The node whose rule runs (its edges give the inputs' shapes and which need gradients).
    var node: Node?

    var gradOutput: Tensor { gradOutputs[0] }
    var output: Tensor { outputs[0] }

    /// The saved value of input `index`, nil when the rule did not ask for it.
    func savedInput(_ index: Int) -> Tensor? { index < inputs.count ? inputs[index] : nil }

    /// Whether input `index` wants a gradient.
    func needsGradient(_ index: Int) -> Bool { node?.nextEdges[index] != nil }

    /// The shape of input `index`: from its saved value, its saved shape, or its edge.
    func inputShape(_ index: Int) -> [Int] {
        if let input = savedInput(index) { return input.shape }
        if let node, index < node.savedInputShapes.count { return node.savedInputShapes[index] }
        guard let edge = node?.nextEdges[index] else {
            emberFailure("backward: the shape of input \(index) of \(node?.name ?? "a node") was not saved")
        }
        return edge.target.shape
    }
}
