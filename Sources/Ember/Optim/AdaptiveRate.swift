// Per-coordinate adaptive learning rates from running sums of squared gradients: RMSprop,
// Adagrad and Adadelta, each torch.optim's single-tensor update operation for operation.

/// RMSprop, as `torch.optim.RMSprop`: divide by a running RMS of the gradient (centered:
/// by its running standard deviation), with optional momentum and L2 weight decay:
///
///     v ← αv + (1 - α)g²;  ḡ ← αḡ + (1 - α)g (centered);  d ← √(v - ḡ²) + ε
///     b ← μb + g/d;  θ ← θ - γb   (θ ← θ - γg/d without momentum)
///
///     let optimizer = RMSprop(parameters, lr: 1e-2, alpha: 0.99)
public final class RMSprop: Optimizer {
    public init<Element: ParameterListElement>(_ params: [Element], lr: Double = 1e-2, alpha: Double = 0.99,
                                               eps: Double = 1e-8, weightDecay: Double = 0, momentum: Double = 0,
                                               centered: Bool = false, maximize: Bool = false) {
        super.init(Element.parameterGroups(from: params),
                   defaults: ["lr": lr, "alpha": alpha, "eps": eps, "weightDecay": weightDecay, "momentum": momentum,
                              "centered": centered ? 1 : 0, "maximize": maximize ? 1 : 0],
                   name: "RMSprop")
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        emberPrecondition(group["alpha"] >= 0, "RMSprop: invalid alpha value: \(group["alpha"])")
        emberPrecondition(group["momentum"] >= 0, "RMSprop: invalid momentum value: \(group["momentum"])")
        emberPrecondition(group["eps"] >= 0, "RMSprop: invalid epsilon value: \(group["eps"])")
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let alpha = group["alpha"], momentum = group["momentum"]
        let g = effectiveGradient(gradient, parameter, group)
        _ = stepCount(&state)
        let squareAvg = buffer("squareAvg", in: &state) { Tensor.zerosLike(parameter) }
        squareAvg *= alpha
        squareAvg += g * g * (1 - alpha)
        var average: Tensor
        if group.flag("centered") {
            let gradAvg = buffer("gradAvg", in: &state) { Tensor.zerosLike(parameter) }
            gradAvg += (g - gradAvg) * (1 - alpha)
            average = (squareAvg - gradAvg * gradAvg).sqrt()
        } else {
            average = squareAvg.sqrt()
        }
        average = average + group["eps"]
        if momentum > 0 {
            let momentumBuffer = buffer("momentumBuffer", in: &state) { Tensor.zerosLike(parameter) }
            momentumBuffer *= momentum
            momentumBuffer += g / average
            parameter.add_(momentumBuffer, alpha: -group.lr)
        } else {
            parameter.add_(g / average, alpha: -group.lr)
        }
    }
}

/// Adagrad, as `torch.optim.Adagrad`: divide by the root of the sum of all squared gradients,
/// with a learning rate decayed as γ/(1 + (t - 1)·lrDecay):
///
///     s ← s + g²;  θ ← θ - γₜ · g / (√s + ε)
///
///     let optimizer = Adagrad(parameters, lr: 1e-2, initialAccumulatorValue: 0.1)
public final class Adagrad: Optimizer {
    public init<Element: ParameterListElement>(_ params: [Element], lr: Double = 1e-2, lrDecay: Double = 0,
                                               weightDecay: Double = 0, initialAccumulatorValue: Double = 0,
                                               eps: Double = 1e-10, maximize: Bool = false) {
        super.init(Element.parameterGroups(from: params),
                   defaults: ["lr": lr, "lrDecay": lrDecay, "weightDecay": weightDecay,
                              "initialAccumulatorValue": initialAccumulatorValue, "eps": eps, "maximize": maximize ? 1 : 0],
                   name: "Adagrad")
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        emberPrecondition(group["lrDecay"] >= 0, "Adagrad: invalid lrDecay value: \(group["lrDecay"])")
        emberPrecondition(group["initialAccumulatorValue"] >= 0,
                          "Adagrad: invalid initialAccumulatorValue value: \(group["initialAccumulatorValue"])")
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let g = effectiveGradient(gradient, parameter, group)
        let step = stepCount(&state)
        let sum = buffer("sum", in: &state) { Tensor.fullLike(parameter, group["initialAccumulatorValue"]) }
        let lr = group.lr, decay = group["lrDecay"]
        let stepSize = step.map({ -(lr / (1 + ($0 - 1) * decay)) }, { -(lr / (1 + ($0 - 1) * decay)) })
        sum += g * g
        parameter.add_(g / (sum.sqrt() + group["eps"]), alpha: stepSize)
    }
}

/// Adadelta, as `torch.optim.Adadelta`: the step is scaled by the ratio of running RMS of past
/// updates and of gradients, so `lr` (default 1) only rescales it:
///
///     v ← ρv + (1 - ρ)g²;  Δ ← √(u + ε)/√(v + ε) · g;  u ← ρu + (1 - ρ)Δ²;  θ ← θ - γΔ
///
///     let optimizer = Adadelta(parameters, rho: 0.9)
public final class Adadelta: Optimizer {
    public init<Element: ParameterListElement>(_ params: [Element], lr: Double = 1, rho: Double = 0.9, eps: Double = 1e-6,
                                               weightDecay: Double = 0, maximize: Bool = false) {
        super.init(Element.parameterGroups(from: params),
                   defaults: ["lr": lr, "rho": rho, "eps": eps, "weightDecay": weightDecay, "maximize": maximize ? 1 : 0],
                   name: "Adadelta")
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        emberPrecondition(group["rho"] >= 0 && group["rho"] <= 1, "Adadelta: invalid rho value: \(group["rho"])")
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let rho = group["rho"], eps = group["eps"]
        let g = effectiveGradient(gradient, parameter, group)
        _ = stepCount(&state)
        let squareAvg = buffer("squareAvg", in: &state) { Tensor.zerosLike(parameter) }
        let accDelta = buffer("accDelta", in: &state) { Tensor.zerosLike(parameter) }
        squareAvg *= rho
        squareAvg += g * g * (1 - rho)
        let std = (squareAvg + eps).sqrt()
        let delta = (accDelta + eps).sqrt() / std * g
        accDelta *= rho
        accDelta += delta * delta * (1 - rho)
        parameter.add_(delta, alpha: -group.lr)
    }
}
