import Foundation

/// Cosine annealing from the base lr to `etaMin` over `tMax` epochs (then back up, as the
/// cosine continues), in PyTorch's chainable form.
///
///     let scheduler = CosineAnnealingLR(optimizer, tMax: 100, etaMin: 1e-5)
public final class CosineAnnealingLR: LRScheduler {
    public let tMax: Int
    public let etaMin: Double

    public init(_ optimizer: Optimizer, tMax: Int, etaMin: Double = 0) {
        emberPrecondition(tMax > 0, "CosineAnnealingLR: tMax must be positive, but got \(tMax)")
        self.tMax = tMax
        self.etaMin = etaMin
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLRs(isInitial: Bool) -> [Double] {
        if isInitial { return currentLRs }
        let epoch = Double(lastEpoch), period = Double(tMax)
        if (lastEpoch - 1 - tMax) % (2 * tMax) == 0 {
            return zip(currentLRs, baseLRs).map { lr, base in lr + (base - etaMin) * (1 - cos(Double.pi / period)) / 2 }
        }
        return currentLRs.map { lr in
            (1 + cos(Double.pi * epoch / period)) / (1 + cos(Double.pi * (epoch - 1) / period)) * (lr - etaMin) + etaMin
        }
    }

    public override func closedFormLRs() -> [Double]? {
        baseLRs.map { etaMin + ($0 - etaMin) * (1 + cos(Double.pi * Double(lastEpoch) / Double(tMax))) / 2 }
    }
}

/// Cosine annealing with warm restarts (SGDR): the lr follows a cosine from its base to
/// `etaMin` over `t0` epochs, restarts, and each period is `tMult` times longer.
/// `step(epoch:)` accepts fractional epochs for per-batch updates.
///
///     let scheduler = CosineAnnealingWarmRestarts(optimizer, t0: 10, tMult: 2)
public final class CosineAnnealingWarmRestarts: LRScheduler {
    public let t0: Int
    public let tMult: Int
    public let etaMin: Double
    /// Length of the current period.
    public private(set) var tI: Double
    /// Epochs since the last restart.
    public private(set) var tCur: Double

    public init(_ optimizer: Optimizer, t0: Int, tMult: Int = 1, etaMin: Double = 0) {
        emberPrecondition(t0 > 0, "CosineAnnealingWarmRestarts: t0 must be a positive integer, but got \(t0)")
        emberPrecondition(tMult >= 1, "CosineAnnealingWarmRestarts: tMult must be an integer >= 1, but got \(tMult)")
        self.t0 = t0
        self.tMult = tMult
        self.etaMin = etaMin
        self.tI = Double(t0)
        self.tCur = -1
        super.init(optimizer: optimizer)
        stepCount = 0
        step()
    }

    public override func computeLRs(isInitial: Bool) -> [Double] {
        baseLRs.map { etaMin + ($0 - etaMin) * (1 + cos(Double.pi * tCur / tI)) / 2 }
    }

    public override func step() {
        if lastEpoch < 0 { step(epoch: 0); return }
        stepCount += 1
        tCur += 1
        if tCur >= tI {
            tCur -= tI
            tI *= Double(tMult)
        }
        lastEpoch += 1
        apply(computeLRs(isInitial: false))
    }

    /// Moves to `epoch` (possibly fractional, e.g. `epoch + batch / batchesPerEpoch`).
    public func step(epoch: Double) {
        emberPrecondition(epoch >= 0, "CosineAnnealingWarmRestarts: expected a non-negative epoch, but got \(epoch)")
        stepCount += 1
        let first = Double(t0)
        if epoch >= first {
            if tMult == 1 {
                tCur = epoch.truncatingRemainder(dividingBy: first)
            } else {
                let multiplier = Double(tMult)
                let n = Int(Foundation.log(epoch / first * (multiplier - 1) + 1) / Foundation.log(multiplier))
                tCur = epoch - first * (Foundation.pow(multiplier, Double(n)) - 1) / (multiplier - 1)
                tI = first * Foundation.pow(multiplier, Double(n))
            }
        } else {
            tI = first
            tCur = epoch
        }
        lastEpoch = Int(epoch.rounded(.down))
        apply(computeLRs(isInitial: false))
    }

    public override func stateDict() -> SchedulerState {
        var state = super.stateDict()
        state.values["tI"] = [tI]
        state.values["tCur"] = [tCur]
        return state
    }

    public override func loadStateDict(_ state: SchedulerState) {
        super.loadStateDict(state)
        tI = state.scalar("tI")
        tCur = state.scalar("tCur")
    }
}

/// The 1cycle policy (Smith & Topin): the lr rises from `maxLR / divFactor` to `maxLR` over
/// `pctStart` of `totalSteps`, then anneals to `initial / finalDivFactor`; momentum (or Adam's
/// β₁) cycles the opposite way between `maxMomentum` and `baseMomentum`. With `threePhase`
/// the lr returns to its initial value before the final annihilation phase. Step it after
/// every batch.
///
///     let scheduler = OneCycleLR(optimizer, maxLR: 0.1, totalSteps: epochs * batchesPerEpoch)
public final class OneCycleLR: LRScheduler {
    /// How the lr moves between phase end points.
    public enum AnnealStrategy: Sendable { case cos, linear }

    struct Phase {
        let endStep: Double
        let startLR: String, endLR: String
        let startMomentum: String, endMomentum: String
    }

    /// The number of `step()` calls the cycle lasts.
    public let totalSteps: Int
    /// Cosine or linear interpolation between phase end points.
    public let annealStrategy: AnnealStrategy
    /// Whether momentum (or beta1) cycles inversely to the lr.
    public let cycleMomentum: Bool
    let phases: [Phase]
    /// The hyper-parameter that momentum cycling writes: "momentum" (SGD, RMSprop) or "beta1" (Adam family).
    let momentumKey: String?

    /// `maxLR` holds one value for all groups or one per group.
    public init(_ optimizer: Optimizer, maxLR: [Double], totalSteps: Int, pctStart: Double = 0.3,
                annealStrategy: AnnealStrategy = .cos, cycleMomentum: Bool = true,
                baseMomentum: Double = 0.85, maxMomentum: Double = 0.95, divFactor: Double = 25,
                finalDivFactor: Double = 1e4, threePhase: Bool = false) {
        let groupCount = optimizer.paramGroups.count
        emberPrecondition(totalSteps > 0, "OneCycleLR: expected a positive totalSteps, but got \(totalSteps)")
        emberPrecondition(pctStart >= 0 && pctStart <= 1, "OneCycleLR: expected pctStart between 0 and 1, but got \(pctStart)")
        emberPrecondition(maxLR.count == 1 || maxLR.count == groupCount,
                          "OneCycleLR: expected 1 or \(groupCount) values of maxLR, but got \(maxLR.count)")
        self.totalSteps = totalSteps
        self.annealStrategy = annealStrategy
        self.cycleMomentum = cycleMomentum
        let total = Double(totalSteps)
        if threePhase {
            phases = [Phase(endStep: pctStart * total - 1, startLR: "initialLR", endLR: "maxLR",
                            startMomentum: "maxMomentum", endMomentum: "baseMomentum"),
                      Phase(endStep: 2 * pctStart * total - 2, startLR: "maxLR", endLR: "initialLR",
                            startMomentum: "baseMomentum", endMomentum: "maxMomentum"),
                      Phase(endStep: total - 1, startLR: "initialLR", endLR: "minLR",
                            startMomentum: "maxMomentum", endMomentum: "maxMomentum")]
        } else {
            phases = [Phase(endStep: pctStart * total - 1, startLR: "initialLR", endLR: "maxLR",
                            startMomentum: "maxMomentum", endMomentum: "baseMomentum"),
                      Phase(endStep: total - 1, startLR: "maxLR", endLR: "minLR",
                            startMomentum: "baseMomentum", endMomentum: "maxMomentum")]
        }
        for index in 0..<groupCount {
            let peak = maxLR.count == 1 ? maxLR[0] : maxLR[index]
            optimizer.paramGroups[index].options["initialLR"] = peak / divFactor
            optimizer.paramGroups[index].options["maxLR"] = peak
            optimizer.paramGroups[index].options["minLR"] = peak / divFactor / finalDivFactor
        }
        if cycleMomentum {
            let key = optimizer.defaults["beta1"] != nil ? "beta1" : optimizer.defaults["momentum"] != nil ? "momentum" : nil
            emberPrecondition(key != nil, "OneCycleLR: optimizer \(optimizer.name) must support momentum or beta1 with cycleMomentum enabled")
            momentumKey = key
            for index in 0..<groupCount {
                optimizer.paramGroups[index].options[key!] = maxMomentum
                optimizer.paramGroups[index].options["maxMomentum"] = maxMomentum
                optimizer.paramGroups[index].options["baseMomentum"] = baseMomentum
            }
        } else {
            momentumKey = nil
        }
        super.init(optimizer: optimizer)
        initialStep()
    }

    /// The same peak lr `maxLR` for every group.
    public convenience init(_ optimizer: Optimizer, maxLR: Double, totalSteps: Int, pctStart: Double = 0.3,
                            annealStrategy: AnnealStrategy = .cos, cycleMomentum: Bool = true,
                            baseMomentum: Double = 0.85, maxMomentum: Double = 0.95, divFactor: Double = 25,
                            finalDivFactor: Double = 1e4, threePhase: Bool = false) {
        self.init(optimizer, maxLR: [maxLR], totalSteps: totalSteps, pctStart: pctStart, annealStrategy: annealStrategy,
                  cycleMomentum: cycleMomentum, baseMomentum: baseMomentum, maxMomentum: maxMomentum,
                  divFactor: divFactor, finalDivFactor: finalDivFactor, threePhase: threePhase)
    }

    func anneal(_ start: Double, _ end: Double, _ fraction: Double) -> Double {
        switch annealStrategy {
        case .cos: return end + (start - end) / 2 * (cos(Double.pi * fraction) + 1)
        case .linear: return (end - start) * fraction + start
        }
    }

    /// Also sets the groups' momentum (or beta1) when cycling momentum.
    public override func computeLRs(isInitial: Bool) -> [Double] {
        emberPrecondition(lastEpoch <= totalSteps,
                          "OneCycleLR: tried to step \(lastEpoch) times. The specified number of total steps is \(totalSteps)")
        let stepNumber = Double(lastEpoch)
        var lrs: [Double] = []
        for index in optimizer.paramGroups.indices {
            let group = optimizer.paramGroups[index]
            var startStep = 0.0
            for (phaseIndex, phase) in phases.enumerated() {
                if stepNumber <= phase.endStep || phaseIndex == phases.count - 1 {
                    let fraction = (stepNumber - startStep) / (phase.endStep - startStep)
                    lrs.append(anneal(group[phase.startLR], group[phase.endLR], fraction))
                    if let momentumKey {
                        optimizer.paramGroups[index].options[momentumKey] =
                            anneal(group[phase.startMomentum], group[phase.endMomentum], fraction)
                    }
                    break
                }
                startStep = phase.endStep
            }
        }
        return lrs
    }
}
