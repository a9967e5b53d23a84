// Momentum methods: SGD (with heavy-ball or Nesterov momentum) and Lion (sign of an
// interpolated momentum). Update formulas follow torch.optim exactly (Lion follows its paper,
// Chen et al. 2023, as PyTorch has no Lion); comments give them in PyTorch's notation.

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
/// (coupled, L2) weight decay, as `torch.optim.SGD`:
///
///     g ← ∇ + λθ;  b ← μb + (1 - τ)g (b = g on the first step);  g ← g + μb (Nesterov) or b;  θ ← θ - γg
///
///     let optimizer = SGD(parameters, lr: 0.1, momentum: 0.9, nesterov: true)
public final class SGD: Optimizer {
    public init<Element: ParameterListElement>(_ params: [Element], lr: Double = 1e-3, momentum: Double = 0,
                                               dampening: Double = 0, weightDecay: Double = 0,
                                               nesterov: Bool = false, maximize: Bool = false) {
        super.init(Element.parameterGroups(from: params),
                   defaults: ["lr": lr, "momentum": momentum, "dampening": dampening, "weightDecay": weightDecay,
                              "nesterov": nesterov ? 1 : 0, "maximize": maximize ? 1 : 0],
                   name: "SGD")
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        emberPrecondition(group["momentum"] >= 0, "SGD: invalid momentum value: \(group["momentum"])")
        emberPrecondition(group["weightDecay"] >= 0, "SGD: invalid weightDecay value: \(group["weightDecay"])")
        emberPrecondition(!group.flag("nesterov") || (group["momentum"] > 0 && group["dampening"] == 0),
                          "SGD: Nesterov momentum requires a momentum and zero dampening")
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        var direction = effectiveGradient(gradient, parameter, group)
        let momentum = group["momentum"]
        if momentum != 0 {
            let momentumBuffer: Tensor
            if let existing = state["momentumBuffer"] {
                existing *= momentum
                existing.add_(direction, alpha: 1 - group["dampening"])
                momentumBuffer = existing
            } else {
                momentumBuffer = direction.clone()
                state["momentumBuffer"] = momentumBuffer
            }
            direction = group.flag("nesterov") ? direction + momentumBuffer * momentum : momentumBuffer
        }
        parameter.add_(direction, alpha: -group.lr)
    }
}

/// Lion (EvoLved Sign Momentum, Chen et al. 2023): the sign of an interpolation between the
/// momentum and the gradient, with decoupled weight decay:
///
///     θ ← θ(1 - γλ);  θ ← θ - γ·sign(β₁m + (1 - β₁)g);  m ← β₂m + (1 - β₂)g
///
/// Use a learning rate 3–10x smaller than AdamW's, and a weight decay 3–10x larger.
///
///     let optimizer = Lion(parameters, lr: 1e-4, weightDecay: 1e-2)
public final class Lion: Optimizer {
    public init<Element: ParameterListElement>(_ params: [Element], lr: Double = 1e-4, betas: (Double, Double) = (0.9, 0.99),
                                               weightDecay: Double = 0, maximize: Bool = false) {
        super.init(Element.parameterGroups(from: params),
                   defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "weightDecay": weightDecay, "maximize": maximize ? 1 : 0],
                   name: "Lion")
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        checkBetas(group, name: name)
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let lr = group.lr, beta1 = group["beta1"], beta2 = group["beta2"], weightDecay = group["weightDecay"]
        let direction = effectiveGradient(gradient, parameter, group, coupledWeightDecay: false)
        let expAvg = buffer("expAvg", in: &state) { Tensor.zerosLike(parameter) }
        if weightDecay != 0 { parameter *= 1 - lr * weightDecay }
        let update = (expAvg * beta1 + direction * (1 - beta1)).sign()
        parameter.add_(update, alpha: -lr)
        expAvg *= beta2
        expAvg.add_(direction, alpha: 1 - beta2)
    }
}

func checkBetas(_ group: ParameterGroup, name: String) {
    emberPrecondition(group["beta1"] >= 0 && group["beta1"] < 1, "\(name): invalid beta parameter at index 0: \(group["beta1"])")
    emberPrecondition(group["beta2"] >= 0 && group["beta2"] < 1, "\(name): invalid beta parameter at index 1: \(group["beta2"])")
}
