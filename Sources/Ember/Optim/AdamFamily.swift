import Foundation

// Adam and its relatives: bias-corrected first and second moment estimates. Each update is
// torch.optim's single-tensor ("for-loop") implementation, operation for operation, so that
// trajectories agree with PyTorch to rounding.

/// Adam (Kingma & Ba), as `torch.optim.Adam`, with optional AMSGrad and L2 or decoupled weight decay:
///
///     m ← β₁m + (1 - β₁)g;  v ← β₂v + (1 - β₂)g²;  v̂ ← max(v̂, v) (AMSGrad)
///     θ ← θ - γ/(1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε)
///
///     let optimizer = Adam(parameters, lr: 1e-3, betas: (0.9, 0.999))
public class Adam: Optimizer {
    public convenience init<Element: ParameterListElement>(_ params: [Element], lr: Double = 1e-3,
                                                           betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                                                           weightDecay: Double = 0, amsgrad: Bool = false,
                                                           maximize: Bool = false, decoupledWeightDecay: Bool = false) {
        self.init(Element.parameterGroups(from: params), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay,
                  amsgrad: amsgrad, maximize: maximize, decoupledWeightDecay: decoupledWeightDecay, name: "Adam")
    }

    init(_ groups: [ParameterGroup], lr: Double, betas: (Double, Double), eps: Double, weightDecay: Double,
         amsgrad: Bool, maximize: Bool, decoupledWeightDecay: Bool, name: String) {
        super.init(groups,
                   defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps, "weightDecay": weightDecay,
                              "amsgrad": amsgrad ? 1 : 0, "maximize": maximize ? 1 : 0,
                              "decoupledWeightDecay": decoupledWeightDecay ? 1 : 0],
                   name: name)
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        checkBetas(group, name: name)
        emberPrecondition(group["eps"] >= 0, "\(name): invalid epsilon value: \(group["eps"])")
        emberPrecondition(group["weightDecay"] >= 0, "\(name): invalid weightDecay value: \(group["weightDecay"])")
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let lr = group.lr, beta1 = group["beta1"], beta2 = group["beta2"], eps = group["eps"]
        let decoupled = group.flag("decoupledWeightDecay")
        let g = effectiveGradient(gradient, parameter, group, coupledWeightDecay: !decoupled)
        let step = stepCount(&state)
        if decoupled && group["weightDecay"] != 0 { parameter *= 1 - lr * group["weightDecay"] }
        let expAvg = buffer("expAvg", in: &state) { Tensor.zerosLike(parameter) }
        let expAvgSq = buffer("expAvgSq", in: &state) { Tensor.zerosLike(parameter) }
        expAvg += (g - expAvg) * (1 - beta1)
        expAvgSq *= beta2
        expAvgSq += g * g * (1 - beta2)
        let biasCorrection1 = step.map({ 1 - Foundation.pow(beta1, $0) }, { 1 - Tensor(beta1).pow($0) })
        let biasCorrection2Sqrt = step.map({ (1 - Foundation.pow(beta2, $0)).squareRoot() }, { (1 - Tensor(beta2).pow($0)).sqrt() })
        let secondMoment: Tensor
        if group.flag("amsgrad") {
            let maxExpAvgSq = buffer("maxExpAvgSq", in: &state) { Tensor.zerosLike(parameter) }
            maxExpAvgSq.copy_(maxExpAvgSq.maximum(expAvgSq))
            secondMoment = maxExpAvgSq
        } else {
            secondMoment = expAvgSq
        }
        let denominator = secondMoment.sqrt() / biasCorrection2Sqrt + eps
        parameter.add_(expAvg / denominator, alpha: biasCorrection1.map({ -lr / $0 }, { -lr / $0 }))
    }
}

/// AdamW (Loshchilov & Hutter): Adam with decoupled weight decay `θ ← θ(1 - γλ)`, as
/// `torch.optim.AdamW` (default weight decay 0.01).
///
///     let optimizer = AdamW(parameters, lr: 3e-4, weightDecay: 0.1)
public final class AdamW: Adam {
    public convenience init<Element: ParameterListElement>(_ params: [Element], lr: Double = 1e-3,
                                                           betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                                                           weightDecay: Double = 1e-2, amsgrad: Bool = false,
                                                           maximize: Bool = false) {
        self.init(Element.parameterGroups(from: params), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay,
                  amsgrad: amsgrad, maximize: maximize, decoupledWeightDecay: true, name: "AdamW")
    }
}

/// Adamax: Adam with the infinity norm, as `torch.optim.Adamax`:
///
///     m ← β₁m + (1 - β₁)g;  u ← max(β₂u, |g| + ε);  θ ← θ - γ/(1 - β₁ᵗ) · m / u
///
///     let optimizer = Adamax(parameters, lr: 2e-3)
public final class Adamax: Optimizer {
    public init<Element: ParameterListElement>(_ params: [Element], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999),
                                               eps: Double = 1e-8, weightDecay: Double = 0, maximize: Bool = false) {
        super.init(Element.parameterGroups(from: params),
                   defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps, "weightDecay": weightDecay,
                              "maximize": maximize ? 1 : 0],
                   name: "Adamax")
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        checkBetas(group, name: name)
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let beta1 = group["beta1"], beta2 = group["beta2"]
        let g = effectiveGradient(gradient, parameter, group)
        let step = stepCount(&state)
        let expAvg = buffer("expAvg", in: &state) { Tensor.zerosLike(parameter) }
        let expInf = buffer("expInf", in: &state) { Tensor.zerosLike(parameter) }
        expAvg += (g - expAvg) * (1 - beta1)
        expInf.copy_((expInf * beta2).maximum(g.abs() + group["eps"]))
        let lr = group.lr
        let stepSize = step.map({ -(lr / (1 - Foundation.pow(beta1, $0))) }, { -(lr / (1 - Tensor(beta1).pow($0))) })
        parameter.add_(expAvg / expInf, alpha: stepSize)
    }
}

/// NAdam: Adam with Nesterov momentum and a momentum schedule μₜ = β₁(1 - ½·0.96^(tψ)), as
/// `torch.optim.NAdam` (ψ = `momentumDecay`), with L2 or decoupled weight decay.
///
///     let optimizer = NAdam(parameters, lr: 2e-3)
public final class NAdam: Optimizer {
    public init<Element: ParameterListElement>(_ params: [Element], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999),
                                               eps: Double = 1e-8, weightDecay: Double = 0, momentumDecay: Double = 4e-3,
                                               decoupledWeightDecay: Bool = false, maximize: Bool = false) {
        super.init(Element.parameterGroups(from: params),
                   defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps, "weightDecay": weightDecay,
                              "momentumDecay": momentumDecay, "decoupledWeightDecay": decoupledWeightDecay ? 1 : 0,
                              "maximize": maximize ? 1 : 0],
                   name: "NAdam")
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        checkBetas(group, name: name)
        emberPrecondition(group["momentumDecay"] >= 0, "NAdam: invalid momentumDecay value: \(group["momentumDecay"])")
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let lr = group.lr, beta1 = group["beta1"], beta2 = group["beta2"], decay = group["momentumDecay"]
        let decoupled = group.flag("decoupledWeightDecay")
        let g = effectiveGradient(gradient, parameter, group, coupledWeightDecay: !decoupled)
        let step = incrementStep(&state)
        if decoupled && group["weightDecay"] != 0 { parameter *= 1 - lr * group["weightDecay"] }
        let expAvg = buffer("expAvg", in: &state) { Tensor.zerosLike(parameter) }
        let expAvgSq = buffer("expAvgSq", in: &state) { Tensor.zerosLike(parameter) }
        let biasCorrection2 = 1 - Foundation.pow(beta2, step)
        let mu = beta1 * (1 - 0.5 * Foundation.pow(0.96, step * decay))
        let muNext = beta1 * (1 - 0.5 * Foundation.pow(0.96, (step + 1) * decay))
        let muProduct = (state["muProduct"]?.item(as: Double.self) ?? 1) * mu
        state["muProduct"] = Tensor(muProduct)
        expAvg += (g - expAvg) * (1 - beta1)
        expAvgSq *= beta2
        expAvgSq += g * g * (1 - beta2)
        let denominator = (expAvgSq / biasCorrection2).sqrt() + group["eps"]
        parameter.add_(g / denominator, alpha: -lr * (1 - mu) / (1 - muProduct))
        parameter.add_(expAvg / denominator, alpha: -lr * muNext / (1 - muProduct * muNext))
    }
}

/// RAdam (rectified Adam), as `torch.optim.RAdam`: plain bias-corrected momentum SGD while the
/// variance estimate is unreliable (ρₜ ≤ 5), rectified Adam afterwards; L2 or decoupled weight decay.
///
///     let optimizer = RAdam(parameters, lr: 1e-3)
public final class RAdam: Optimizer {
    public init<Element: ParameterListElement>(_ params: [Element], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                                               eps: Double = 1e-8, weightDecay: Double = 0,
                                               decoupledWeightDecay: Bool = false, maximize: Bool = false) {
        super.init(Element.parameterGroups(from: params),
                   defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps, "weightDecay": weightDecay,
                              "decoupledWeightDecay": decoupledWeightDecay ? 1 : 0, "maximize": maximize ? 1 : 0],
                   name: "RAdam")
    }

    public override func validate(_ group: ParameterGroup) {
        super.validate(group)
        checkBetas(group, name: name)
    }

    public override func update(parameter: Tensor, gradient: Tensor, state: inout [String: Tensor], group: ParameterGroup) {
        let lr = group.lr, beta1 = group["beta1"], beta2 = group["beta2"]
        let decoupled = group.flag("decoupledWeightDecay")
        let g = effectiveGradient(gradient, parameter, group, coupledWeightDecay: !decoupled)
        let step = incrementStep(&state)
        if decoupled && group["weightDecay"] != 0 { parameter *= 1 - lr * group["weightDecay"] }
        let expAvg = buffer("expAvg", in: &state) { Tensor.zerosLike(parameter) }
        let expAvgSq = buffer("expAvgSq", in: &state) { Tensor.zerosLike(parameter) }
        expAvg += (g - expAvg) * (1 - beta1)
        expAvgSq *= beta2
        expAvgSq += g * g * (1 - beta2)
        let biasCorrection1 = 1 - Foundation.pow(beta1, step)
        let biasCorrection2 = 1 - Foundation.pow(beta2, step)
        let correctedExpAvg = expAvg / biasCorrection1
        let rhoInfinity = 2 / (1 - beta2) - 1
        let rho = rhoInfinity - 2 * step * Foundation.pow(beta2, step) / biasCorrection2
        if rho > 5 {
            let rectification = ((rho - 4) * (rho - 2) * rhoInfinity / ((rhoInfinity - 4) * (rhoInfinity - 2) * rho)).squareRoot()
            let adaptiveLR = biasCorrection2.squareRoot() / (expAvgSq.sqrt() + group["eps"])
            parameter.add_(correctedExpAvg * lr * adaptiveLR * rectification, alpha: -1)
        } else {
            parameter.add_(correctedExpAvg * lr, alpha: -1)
        }
    }
}
