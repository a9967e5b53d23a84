/// A differentiable operation defined outside Ember: a forward computation (any kernel you
/// like, run without recording) and a backward rule (PyTorch's `torch.autograd.Function`).
///
///     enum Cube: AutogradFunction {
///         static func forward(_ context: FunctionContext, _ inputs: [Tensor]) -> [Tensor] {
///             context.saveForBackward(inputs[0])
///             return [inputs[0] * inputs[0] * inputs[0]]
///         }
///         static func backward(_ context: FunctionContext, _ gradOutputs: [Tensor]) -> [Tensor?] {
///             let x = context.savedTensors[0]
///             return [gradOutputs[0] * x * x * 3]
///         }
///     }
///     let y = Cube.apply(x)[0]
///
/// Write `backward` in Tensor operations and it is itself differentiable, so
/// `gradgradcheck` works on your function too.
public protocol AutogradFunction {
    /// Computes the outputs. Runs with grad mode off: nothing inside is recorded.
    static func forward(_ context: FunctionContext, _ inputs: [Tensor]) -> [Tensor]
    /// Maps the gradients of the outputs to one gradient (or nil) per input.
    static func backward(_ context: FunctionContext, _ gradOutputs: [Tensor]) -> [Tensor?]
    /// The name reported in `gradFunction` and error messages (defaults to the type's name).
    static var name: String { get }
}

extension AutogradFunction {
    public static var name: String { String(describing: Self.self) }

    /// Runs `forward` and records one graph node whose backward is `backward`.
    public static func apply(_ inputs: Tensor...) -> [Tensor] { apply(inputs) }

    /// Runs `forward` and records one graph node whose backward is `backward`.
    public static func apply(_ inputs: [Tensor]) -> [Tensor] {
        let context = FunctionContext(needsInputGrad: inputs.map(\.requiresGrad))
        let outputs = withoutGrad { forward(context, inputs) }
        // A forward that returns an input unchanged must still give a distinct output tensor.
        let distinct = outputs.map { output in inputs.contains { $0 === output } ? output.detach() : output }
        guard GraphRecorder.shouldRecord(inputs) else { return distinct }
        // Saved outputs would point back at this node through the context (a cycle); keep
        // them detached, as PyTorch's SavedVariable does for outputs.
        context.detachSaved(matching: distinct)
        let differentiable = distinct.filter { output in !context.nonDifferentiable.contains { $0 === output } }
        GraphRecorder.record(name, inputs: inputs, outputs: differentiable, saved: context.savedTensors) { nodeContext in
            let gradients = backward(context, nodeContext.gradOutputs)
            emberPrecondition(gradients.count == inputs.count,
                         "\(name).backward: returned \(gradients.count) gradients but forward had \(inputs.count) inputs")
            return gradients
        }
        return distinct
    }
}

/// What `forward` and `backward` of an `AutogradFunction` share.
public final class FunctionContext {
    /// Tensors saved by `forward` for `backward`.
    public private(set) var savedTensors: [Tensor] = []
    /// Whether each input requires a gradient (skip computing the others).
    public let needsInputGrad: [Bool]
    /// Anything else `backward` needs (shapes, flags).
    public var userInfo: [String: Any] = [:]
    var nonDifferentiable: [Tensor] = []

    init(needsInputGrad: [Bool]) { self.needsInputGrad = needsInputGrad }

    /// Keeps tensors for `backward`. Modifying them in place before backward is an error.
    public func saveForBackward(_ tensors: Tensor...) { savedTensors += tensors }

    /// Marks outputs that have no gradient (indices, masks): they don't require grad.
    public func markNonDifferentiable(_ tensors: Tensor...) { nonDifferentiable += tensors }

    func detachSaved(matching outputs: [Tensor]) {
        savedTensors = savedTensors.map { saved in outputs.contains { $0 === saved } ? saved.detach() : saved }
    }
}
