// The optimizer base class, parameter groups and the serialisable optimizer state.
//
// Hyper-parameters live in a `[String: Double]` per group (booleans as 0 or 1), as in
// PyTorch's param_groups dicts, rather than in a typed options struct per optimizer: LR
// schedulers must read and write `lr` (and `momentum` or `beta1`) on any optimizer, and
// state dicts must save every group without knowing its optimizer. Each optimizer's
// initialiser is still typed, and unknown keys stop at construction, so typos are caught.

/// A set of parameters sharing hyper-parameters. Options not given are filled from the
/// optimizer's arguments; `lr` can be changed at any time (LR schedulers do).
///
///     let optimizer = SGD([ParameterGroup(backbone, options: ["lr": 1e-4]), ParameterGroup(head)],
///                         lr: 1e-2, momentum: 0.9)
///     optimizer.paramGroups[1].lr = 5e-3
public struct ParameterGroup {
    /// The tensors this group updates.
    public var params: [Tensor]
    /// Hyper-parameters by name (`"lr"`, `"momentum"`, `"weightDecay"`, ...); flags are 0 or 1.
    public var options: [String: Double]

    /// A group of `params`; `options` override the optimizer's arguments for this group.
    public init(_ params: [Tensor], options: [String: Double] = [:]) {
        self.params = params
        self.options = options
    }

    /// The learning rate.
    public var lr: Double {
        get { self["lr"] }
        set { options["lr"] = newValue }
    }

    /// The hyper-parameter `name`; stops if the group has none.
    public subscript(_ name: String) -> Double {
        get {
            guard let value = options[name] else { emberFailure("ParameterGroup: no hyper-parameter named '\(name)' (has \(options.keys.sorted()))") }
            return value
        }
        set { options[name] = newValue }
    }

    /// A 0/1 hyper-parameter as a Bool.
    public func flag(_ name: String) -> Bool { self[name] != 0 }
}

/// What an optimizer accepts as parameters: `[Tensor]` (one group) or `[ParameterGroup]`.
public protocol ParameterListElement {
    /// The groups that a list of these elements stands for.
    static func parameterGroups(from list: [Self]) -> [ParameterGroup]
}
extension Tensor: ParameterListElement {
    public static func parameterGroups(from list: [Tensor]) -> [ParameterGroup] { [ParameterGroup(list)] }
}
extension ParameterGroup: ParameterListElement {
    public static func parameterGroups(from list: [ParameterGroup]) -> [ParameterGroup] { list }
}

/// A snapshot of an optimizer: per-parameter buffers keyed by the parameter's position across
/// all groups (in order, like PyTorch's state_dict), and each group's hyper-parameters.
/// Buffers are copies, so training on after `stateDict()` does not change the snapshot.
public struct OptimizerState {
    /// One parameter group: its hyper-parameters and which parameters it holds.
    public struct Group {
        /// The group's hyper-parameters.
        public var options: [String: Double]
        /// Positions of the group's parameters in the flat parameter list.
        public var params: [Int]
    }
    /// Buffers per parameter position (`"step"` is a 0-d float64 tensor).
    public var state: [Int: [String: Tensor]]
    public var paramGroups: [Group]
}

/// Base class of the optimizers: holds the parameter groups and the per-parameter state, and
/// runs `update` for every parameter that has a gradient, in place and without recording.
///
/// Subclasses override `update(parameter:gradient:state:group:)`.
///
///     let optimizer = Adam(parameters, lr: 1e-3)
///     optimizer.zeroGrad()
///     loss.backward()
///     optimizer.step()
open class Optimizer {
    /// The parameter groups; change hyper-parameters here (`paramGroups[0].lr = 0.01`).
    public var paramGroups: [ParameterGroup]
    /// The default hyper-parameters, filled into groups that do not set them.
    public let defaults: [String: Double]
    /// Per-parameter buffers (momentum, running averages, `"step"`), keyed by tensor identity.
    public var state: [ObjectIdentifier: [String: Tensor]] = [:]
    /// Name used in messages ("SGD").
    public let name: String

    /// Checks and completes `groups` with `defaults`.
    public init(_ groups: [ParameterGroup], defaults: [String: Double], name: String) {
        self.defaults = defaults
        self.name = name
        self.paramGroups = []
        emberPrecondition(!groups.isEmpty, "\(name): optimizer got an empty parameter list")
        for group in groups { addParamGroup(group) }
    }

    /// Adds a group (e.g. layers unfrozen during fine-tuning); missing options come from `defaults`.
    public func addParamGroup(_ group: ParameterGroup) {
        var group = group
        for key in group.options.keys where defaults[key] == nil {
            emberFailure("\(name): unknown hyper-parameter '\(key)' in a parameter group (known: \(defaults.keys.sorted()))")
        }
        for (key, value) in defaults where group.options[key] == nil { group.options[key] = value }
        let existing = Set(paramGroups.flatMap { $0.params.map(ObjectIdentifier.init) })
        var seen = Set<ObjectIdentifier>()
        for parameter in group.params {
            emberPrecondition(parameter.dtype.isFloatingPoint, "\(name): can only optimize floating-point tensors, but got \(parameter.dtype)")
            emberPrecondition(!existing.contains(ObjectIdentifier(parameter)) && seen.insert(ObjectIdentifier(parameter)).inserted,
                              "\(name): some parameters appear in more than one parameter group (or twice in one)")
        }
        validate(group)
        paramGroups.append(group)
    }

    /// Checks a completed group's hyper-parameters; subclasses stop on invalid values.
    open func validate(_ group: ParameterGroup) {
        emberPrecondition(group.lr >= 0, "\(name): invalid learning rate: \(group.lr)")
    }

    /// Clears the gradients of all parameters: sets them to nil (the default, which frees
    /// memory and lets `step` skip them), or fills them with zeros.
    public func zeroGrad(setToNil: Bool = true) {
        for group in paramGroups {
            for parameter in group.params {
                // Not read first: a compiled step that starts with zeroGrad() then does not
                // depend on whether the gradients were nil when it was called.
                if setToNil {
                    parameter.grad = nil
                } else if let gradient = parameter.grad {
                    let plain = gradient.gradFunction == nil ? gradient : gradient.detach()
                    withNoGrad { plain.zero_() }
                    parameter.grad = plain
                }
            }
        }
    }

    /// Applies one update to every parameter whose gradient is not nil.
    public func step() {
        // A compiled training step bakes the hyper-parameters in; a change retraces it.
        if Tracing.isActive { Tracing.guardHostValues { [weak self] in self?.hyperParameterValues() ?? [] } }
        withNoGrad {
            for group in paramGroups {
                for parameter in group.params {
                    guard let gradient = parameter.grad else { continue }
                    emberPrecondition(gradient.shape == parameter.shape, "\(name): gradient of shape \(gradient.shape) for a parameter of shape \(parameter.shape)")
                    let key = ObjectIdentifier(parameter)
                    var parameterState = state[key] ?? [:]
                    update(parameter: parameter, gradient: gradient.detach(), state: &parameterState, group: group)
                    state[key] = parameterState
                }
            }
        }
    }

    /// Every group's hyper-parameters and size, in a fixed order (what a compiled step guards).
    func hyperParameterValues() -> [Double] {
        paramGroups.flatMap { group in [Double(group.params.count)] + group.options.keys.sorted().map { group.options[$0]! } }
    }

    /// Updates one parameter in place. Called under no-grad with its gradient and its state
    /// (empty on the first step); store buffers in `state` to keep them and save them.
    open func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        emberFailure("\(name): subclasses of Optimizer must override update(parameter:gradient:state:group:)")
    }

    // MARK: State dict

    /// A copy of the optimizer's state and hyper-parameters, to resume training with `loadStateDict`.
    public func stateDict() -> OptimizerState {
        var saved: [Int: [String: Tensor]] = [:]
        var groups: [OptimizerState.Group] = []
        var position = 0
        for group in paramGroups {
            var indices: [Int] = []
            for parameter in group.params {
                if let buffers = state[ObjectIdentifier(parameter)] {
                    saved[position] = withNoGrad { buffers.mapValues { $0.clone() } }
                }
                indices.append(position)
                position += 1
            }
            groups.append(OptimizerState.Group(options: group.options, params: indices))
        }
        return OptimizerState(state: saved, paramGroups: groups)
    }

    /// Restores the state saved by `stateDict()` from an optimizer with the same group layout.
    /// Buffers are copied (and converted to each parameter's dtype, except `"step"`).
    public func loadStateDict(_ saved: OptimizerState) {
        emberPrecondition(saved.paramGroups.count == paramGroups.count,
                          "\(name): loaded state dict has \(saved.paramGroups.count) parameter groups, but the optimizer has \(paramGroups.count)")
        var restored: [ObjectIdentifier: [String: Tensor]] = [:]
        for (groupIndex, savedGroup) in saved.paramGroups.enumerated() {
            let parameters = paramGroups[groupIndex].params
            emberPrecondition(savedGroup.params.count == parameters.count,
                              "\(name): loaded state dict contains a parameter group that doesn't match the size of the optimizer's group (\(savedGroup.params.count) vs \(parameters.count) parameters)")
            for (position, parameter) in zip(savedGroup.params, parameters) {
                guard let buffers = saved.state[position] else { continue }
                restored[ObjectIdentifier(parameter)] = withNoGrad {
                    buffers.mapValues { buffer in
                        emberPrecondition(buffer.rank == 0 || buffer.shape == parameter.shape,
                                          "\(name): saved state of shape \(buffer.shape) for a parameter of shape \(parameter.shape)")
                        return buffer.dtype.isFloatingPoint && buffer.rank > 0 ? buffer.to(parameter.dtype).clone() : buffer.clone()
                    }
                }
            }
            paramGroups[groupIndex].options = savedGroup.options
        }
        state = restored
    }
}

// MARK: - Helpers for subclasses

extension Optimizer {
    /// Increments the `"step"` counter in `state` (a 0-d float64 tensor, as PyTorch) and returns it.
    /// A compiled step that reads the count this way retraces at every call; updates that
    /// `compile` should trace use ``stepCount(_:)``.
    public func incrementStep(_ state: inout [String: Tensor]) -> Double {
        let step: Double = (state["step"]?.item(as: Double.self) ?? 0) + 1
        state["step"] = Tensor(step)
        return step
    }

    /// Increments the `"step"` counter in `state` and returns it as a ``StepDependent`` value:
    /// a number when running eagerly; while `compile` traces, the counter tensor itself,
    /// incremented in place, so that the compiled step computes from the count at each call.
    public func stepCount(_ state: inout [String: Tensor]) -> StepDependent {
        guard Tracing.recordingContext != nil, let counter = state["step"] else { return .host(incrementStep(&state)) }
        counter += 1.0
        return .traced(counter)
    }

    /// The buffer `key` in `state`, created by `make` on first use.
    public func buffer(_ key: String, in state: inout [String: Tensor], _ make: () -> Tensor) -> Tensor {
        if let existing = state[key] { return existing }
        let created = make()
        state[key] = created
        return created
    }

    /// The gradient negated when the group maximizes, plus `weightDecay · parameter` (L2
    /// penalty) when the group has a non-zero coupled weight decay.
    func effectiveGradient(_ gradient: Tensor, _ parameter: Tensor, _ group: ParameterGroup, coupledWeightDecay: Bool = true) -> Tensor {
        var result = group.options["maximize"].map { $0 != 0 } == true ? -gradient : gradient
        if coupledWeightDecay, let decay = group.options["weightDecay"], decay != 0 {
            result = result + parameter * decay
        }
        return result
    }
}

/// A number computed from an optimizer's step count (a bias correction): a `Double` when the
/// optimizer runs eagerly, a 0-d float64 tensor derived from the `"step"` counter while
/// `compile` traces it, so that a compiled training step does not freeze the count.
///
///     let correction = stepCount(&state).map({ 1 - Foundation.pow(beta1, $0) }, { 1 - Tensor(beta1).pow($0) })
///     parameter.add_(update, alpha: correction.map({ -lr / $0 }, { -lr / $0 }))
public enum StepDependent {
    /// The number, computed on the host (eager updates).
    case host(Double)
    /// A 0-d float64 tensor of the trace, computed from the step counter at each compiled call.
    case traced(Tensor)

    /// Applies `host` or `traced`, which must compute the same function.
    public func map(_ host: (Double) -> Double, _ traced: (Tensor) -> Tensor) -> StepDependent {
        switch self {
        case .host(let value): return .host(host(value))
        case .traced(let tensor): return .traced(traced(tensor))
        }
    }

    /// `tensor / self`.
    public static func / (tensor: Tensor, divisor: StepDependent) -> Tensor {
        switch divisor {
        case .host(let value): return tensor / value
        case .traced(let value): return tensor / value
        }
    }
}

extension Tensor {
    /// In-place `self += alpha * other` with a step-dependent `alpha`; returns self.
    @discardableResult
    public func add_(_ other: Tensor, alpha: StepDependent) -> Tensor {
        switch alpha {
        case .host(let value): return add_(other, alpha: value)
        case .traced(let value): self += other * value; return self
        }
    }
}
