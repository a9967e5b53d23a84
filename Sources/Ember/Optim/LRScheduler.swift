import Foundation

// Learning-rate schedulers, with torch.optim.lr_scheduler's step() semantics: construction
// performs an initial step (epoch 0), each step() advances one epoch, and the built-in
// schedules are "chainable": most compute the new lr from the group's current lr, so two
// schedulers on one optimizer compose their factors, exactly as in PyTorch.
//
// A scheduler writes `paramGroups[i].lr` and, on first use, records the starting lr as the
// group's "initialLR" option, which later schedulers on the same optimizer reuse as their base.

/// A snapshot of a scheduler's position: named numeric values, plus the states of the
/// schedulers it wraps (`SequentialLR`). Closures (`LambdaLR`'s functions) are not saved.
public struct SchedulerState: Equatable, Sendable {
    /// Named values (scalars are one-element lists).
    public var values: [String: [Double]]
    /// The states of wrapped schedulers, in order.
    public var children: [SchedulerState]

    public init(values: [String: [Double]] = [:], children: [SchedulerState] = []) {
        self.values = values
        self.children = children
    }

    func scalar(_ key: String) -> Double {
        guard let value = values[key]?.first else { emberFailure("SchedulerState: missing value '\(key)'") }
        return value
    }
}

/// Base class of the epoch-based schedulers. Subclasses compute the next learning rates in
/// `computeLRs(isInitial:)` and, when they have one, a closed form in `closedFormLRs()`.
///
///     let scheduler = StepLR(optimizer, stepSize: 30, gamma: 0.1)
///     for _ in 0..<epochs { train(); scheduler.step() }
open class LRScheduler {
    /// The optimizer whose learning rates this scheduler sets.
    public let optimizer: Optimizer
    /// Each group's starting learning rate.
    public internal(set) var baseLRs: [Double]
    /// The current epoch: 0 after construction, +1 per `step()`.
    public internal(set) var lastEpoch = -1
    /// The learning rates set by the latest step, one per group.
    public internal(set) var lastLR: [Double] = []
    var stepCount = 0

    /// Records each group's starting lr as "initialLR" (keeping one set by an earlier scheduler).
    /// Subclasses call `initialStep()` at the end of their initialiser.
    public init(optimizer: Optimizer) {
        self.optimizer = optimizer
        for index in optimizer.paramGroups.indices where optimizer.paramGroups[index].options["initialLR"] == nil {
            optimizer.paramGroups[index].options["initialLR"] = optimizer.paramGroups[index].lr
        }
        baseLRs = optimizer.paramGroups.map { $0["initialLR"] }
    }

    /// The step performed on construction (PyTorch's `_initial_step`).
    public func initialStep() {
        stepCount = 0
        stepCount += 1
        lastEpoch += 1
        apply(computeLRs(isInitial: true))
    }

    /// Advances one epoch and sets the groups' learning rates.
    open func step() {
        stepCount += 1
        lastEpoch += 1
        apply(computeLRs(isInitial: false))
    }

    /// The learning rates for `lastEpoch`, usually from the groups' current ones; `isInitial`
    /// is true for the step made on construction.
    open func computeLRs(isInitial: Bool) -> [Double] {
        emberFailure("LRScheduler subclasses must override computeLRs(isInitial:)")
    }

    /// The learning rates for `lastEpoch` from `baseLRs` alone, when a formula exists.
    open func closedFormLRs() -> [Double]? { nil }

    /// Jumps to `epoch` (used by `SequentialLR` at a milestone, PyTorch's `_update_lr(epoch)`).
    func jump(toEpoch epoch: Int) {
        lastEpoch = epoch
        apply(closedFormLRs() ?? computeLRs(isInitial: false))
    }

    /// Undoes the epoch counted by construction (used by `SequentialLR`).
    func undoInitialStep() { lastEpoch -= 1 }

    func apply(_ lrs: [Double]) {
        for (index, lr) in lrs.enumerated() { optimizer.paramGroups[index].lr = lr }
        lastLR = optimizer.paramGroups.map(\.lr)
    }

    var currentLRs: [Double] { optimizer.paramGroups.map(\.lr) }

    // MARK: State dict

    /// The scheduler's position, to resume with `loadStateDict`.
    open func stateDict() -> SchedulerState {
        SchedulerState(values: ["lastEpoch": [Double(lastEpoch)], "baseLRs": baseLRs, "lastLR": lastLR,
                                "stepCount": [Double(stepCount)]])
    }

    /// Restores a position saved by `stateDict()`. The optimizer's lrs are restored by its own
    /// `loadStateDict`, as in PyTorch.
    open func loadStateDict(_ state: SchedulerState) {
        lastEpoch = Int(state.scalar("lastEpoch"))
        baseLRs = state.values["baseLRs"] ?? baseLRs
        lastLR = state.values["lastLR"] ?? lastLR
        stepCount = Int(state.scalar("stepCount"))
    }
}

/// Multiplies each group's lr by `gamma` every `stepSize` epochs.
///
///     let scheduler = StepLR(optimizer, stepSize: 30, gamma: 0.1)   // 0.1 → 0.01 at epoch 30
public final class StepLR: LRScheduler {
    public let stepSize: Int
    public let gamma: Double

    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) {
        emberPrecondition(stepSize > 0, "StepLR: stepSize must be positive, but got \(stepSize)")
        self.stepSize = stepSize
        self.gamma = gamma
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLRs(isInitial: Bool) -> [Double] {
        if lastEpoch == 0 || lastEpoch % stepSize != 0 { return currentLRs }
        return currentLRs.map { $0 * gamma }
    }

    public override func closedFormLRs() -> [Double]? {
        baseLRs.map { $0 * Foundation.pow(gamma, Double(lastEpoch / stepSize)) }
    }
}

/// Multiplies each group's lr by `gamma` at every epoch in `milestones`.
///
///     let scheduler = MultiStepLR(optimizer, milestones: [30, 80], gamma: 0.1)
public final class MultiStepLR: LRScheduler {
    public let milestones: [Int]
    public let gamma: Double

    public init(_ optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) {
        self.milestones = milestones.sorted()
        self.gamma = gamma
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLRs(isInitial: Bool) -> [Double] {
        let hits = milestones.filter { $0 == lastEpoch }.count
        if hits == 0 { return currentLRs }
        return currentLRs.map { $0 * Foundation.pow(gamma, Double(hits)) }
    }

    public override func closedFormLRs() -> [Double]? {
        let passed = milestones.filter { $0 <= lastEpoch }.count
        return baseLRs.map { $0 * Foundation.pow(gamma, Double(passed)) }
    }
}

/// Multiplies each group's lr by `gamma` every epoch.
///
///     let scheduler = ExponentialLR(optimizer, gamma: 0.95)
public final class ExponentialLR: LRScheduler {
    public let gamma: Double

    public init(_ optimizer: Optimizer, gamma: Double) {
        self.gamma = gamma
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLRs(isInitial: Bool) -> [Double] {
        isInitial ? currentLRs : currentLRs.map { $0 * gamma }
    }

    public override func closedFormLRs() -> [Double]? {
        baseLRs.map { $0 * Foundation.pow(gamma, Double(lastEpoch)) }
    }
}

/// Scales the lr linearly from `startFactor` to `endFactor` of its base over `totalIters`
/// epochs, then keeps it (a warm-up).
///
///     let warmup = LinearLR(optimizer, startFactor: 0.1, totalIters: 5)
public final class LinearLR: LRScheduler {
    public let startFactor: Double
    public let endFactor: Double
    public let totalIters: Int

    public init(_ optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5) {
        emberPrecondition(startFactor > 0 && startFactor <= 1, "LinearLR: startFactor must be in (0, 1], but got \(startFactor)")
        emberPrecondition(endFactor >= 0 && endFactor <= 1, "LinearLR: endFactor must be in [0, 1], but got \(endFactor)")
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalIters = totalIters
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLRs(isInitial: Bool) -> [Double] {
        if lastEpoch == 0 { return currentLRs.map { $0 * startFactor } }
        if isInitial || lastEpoch > totalIters { return currentLRs }
        let change = endFactor - startFactor
        let factor = 1 + change / (Double(totalIters) * startFactor + Double(lastEpoch - 1) * change)
        return currentLRs.map { $0 * factor }
    }

    public override func closedFormLRs() -> [Double]? {
        let progress = Double(Swift.min(totalIters, lastEpoch)) / Double(totalIters)
        return baseLRs.map { $0 * (startFactor + (endFactor - startFactor) * progress) }
    }
}

/// Sets each group's lr to its base lr times `lambda(epoch)`.
///
///     let scheduler = LambdaLR(optimizer) { epoch in pow(0.95, Double(epoch)) }
public final class LambdaLR: LRScheduler {
    let lambdas: [(Int) -> Double]

    /// One function for every group.
    public convenience init(_ optimizer: Optimizer, _ lambda: @escaping (Int) -> Double) {
        self.init(optimizer, lambdas: Array(repeating: lambda, count: optimizer.paramGroups.count))
    }

    /// One function per group.
    public init(_ optimizer: Optimizer, lambdas: [(Int) -> Double]) {
        emberPrecondition(lambdas.count == optimizer.paramGroups.count,
                          "LambdaLR: expected \(optimizer.paramGroups.count) lambdas (one per group), but got \(lambdas.count)")
        self.lambdas = lambdas
        super.init(optimizer: optimizer)
        initialStep()
    }

    public override func computeLRs(isInitial: Bool) -> [Double] {
        zip(baseLRs, lambdas).map { base, lambda in base * lambda(lastEpoch) }
    }
}
