/// Runs schedulers one after another: `schedulers[i]` drives the lr from `milestones[i - 1]`
/// on, restarted at its epoch 0 there.
///
///     let warmup = LinearLR(optimizer, startFactor: 0.1, totalIters: 5)
///     let decay = CosineAnnealingLR(optimizer, tMax: 95)
///     let scheduler = SequentialLR(optimizer, schedulers: [warmup, decay], milestones: [5])
public final class SequentialLR: LRScheduler {
    public let schedulers: [LRScheduler]
    public let milestones: [Int]

    public init(_ optimizer: Optimizer, schedulers: [LRScheduler], milestones: [Int]) {
        emberPrecondition(!schedulers.isEmpty, "SequentialLR expects at least one scheduler, but got no scheduler")
        emberPrecondition(schedulers.allSatisfy { $0.optimizer === optimizer },
                          "SequentialLR expects all schedulers to belong to the same optimizer")
        emberPrecondition(milestones.count == schedulers.count - 1,
                          "SequentialLR expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers \(schedulers.count) and the number of milestones to be equal to \(milestones.count)")
        self.schedulers = schedulers
        self.milestones = milestones
        super.init(optimizer: optimizer)
        lastEpoch = 0
        // Undo the children's construction steps and start the first one afresh.
        for index in optimizer.paramGroups.indices {
            optimizer.paramGroups[index].lr = optimizer.paramGroups[index]["initialLR"]
        }
        undoInitialStep()
        let first = schedulers[activeIndex(for: 0)]
        first.initialStep()
        lastLR = first.lastLR
    }

    func activeIndex(for epoch: Int) -> Int { milestones.filter { $0 <= epoch }.count }

    override func undoInitialStep() {
        for scheduler in schedulers { scheduler.undoInitialStep() }
    }

    public override func step() {
        lastEpoch += 1
        let index = activeIndex(for: lastEpoch)
        let scheduler = schedulers[index]
        if index > 0 && milestones[index - 1] == lastEpoch {
            scheduler.jump(toEpoch: 0)
        } else {
            scheduler.step()
        }
        lastLR = scheduler.lastLR
    }

    public override func stateDict() -> SchedulerState {
        var state = super.stateDict()
        state.children = schedulers.map { $0.stateDict() }
        return state
    }

    public override func loadStateDict(_ state: SchedulerState) {
        super.loadStateDict(state)
        emberPrecondition(state.children.count == schedulers.count,
                          "SequentialLR: state has \(state.children.count) schedulers, but this one has \(schedulers.count)")
        for (scheduler, child) in zip(schedulers, state.children) { scheduler.loadStateDict(child) }
    }
}

/// Reduces the lr by `factor` when a metric has stopped improving for `patience` epochs.
/// Call `step(_:)` with the validation metric after each epoch.
///
///     let scheduler = ReduceLROnPlateau(optimizer, mode: .min, factor: 0.5, patience: 3)
///     scheduler.step(validationLoss)
public final class ReduceLROnPlateau {
    /// Whether the metric should decrease (a loss) or increase (an accuracy).
    public enum Mode: Sendable { case min, max }
    /// Whether `threshold` is relative to the best value or absolute.
    public enum ThresholdMode: Sendable { case relative, absolute }

    public let optimizer: Optimizer
    public let mode: Mode
    public let factor: Double
    public let patience: Int
    public let threshold: Double
    public let thresholdMode: ThresholdMode
    public let cooldown: Int
    public let minLRs: [Double]
    /// Reductions smaller than this are skipped.
    public let eps: Double

    /// The best metric seen so far.
    public private(set) var best: Double
    public private(set) var numBadEpochs = 0
    public private(set) var cooldownCounter = 0
    public private(set) var lastEpoch = 0
    public private(set) var lastLR: [Double]

    /// `minLR` holds one value for all groups or one per group.
    public init(_ optimizer: Optimizer, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10,
                threshold: Double = 1e-4, thresholdMode: ThresholdMode = .relative, cooldown: Int = 0,
                minLR: [Double] = [0], eps: Double = 1e-8) {
        emberPrecondition(factor < 1, "ReduceLROnPlateau: factor should be < 1.0, but got \(factor)")
        let groupCount = optimizer.paramGroups.count
        emberPrecondition(minLR.count == 1 || minLR.count == groupCount,
                          "ReduceLROnPlateau: expected 1 or \(groupCount) values of minLR, but got \(minLR.count)")
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.thresholdMode = thresholdMode
        self.cooldown = cooldown
        self.minLRs = minLR.count == 1 ? Array(repeating: minLR[0], count: groupCount) : minLR
        self.eps = eps
        self.best = mode == .min ? .infinity : -.infinity
        self.lastLR = optimizer.paramGroups.map(\.lr)
    }

    func isBetter(_ value: Double) -> Bool {
        switch (mode, thresholdMode) {
        case (.min, .relative): return value < best * (1 - threshold)
        case (.min, .absolute): return value < best - threshold
        case (.max, .relative): return value > best * (threshold + 1)
        case (.max, .absolute): return value > best + threshold
        }
    }

    /// Records this epoch's metric and reduces the lr after `patience` epochs without improvement.
    public func step(_ metric: Double) {
        lastEpoch += 1
        if isBetter(metric) {
            best = metric
            numBadEpochs = 0
        } else {
            numBadEpochs += 1
        }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            numBadEpochs = 0
        }
        if numBadEpochs > patience {
            for index in optimizer.paramGroups.indices {
                let old = optimizer.paramGroups[index].lr
                let new = Swift.max(old * factor, minLRs[index])
                if old - new > eps { optimizer.paramGroups[index].lr = new }
            }
            cooldownCounter = cooldown
            numBadEpochs = 0
        }
        lastLR = optimizer.paramGroups.map(\.lr)
    }

    /// The scheduler's position (best metric, counters), to resume with `loadStateDict`.
    public func stateDict() -> SchedulerState {
        SchedulerState(values: ["best": [best], "numBadEpochs": [Double(numBadEpochs)],
                                "cooldownCounter": [Double(cooldownCounter)], "lastEpoch": [Double(lastEpoch)],
                                "lastLR": lastLR])
    }

    /// Restores a position saved by `stateDict()`.
    public func loadStateDict(_ state: SchedulerState) {
        best = state.scalar("best")
        numBadEpochs = Int(state.scalar("numBadEpochs"))
        cooldownCounter = Int(state.scalar("cooldownCounter"))
        lastEpoch = Int(state.scalar("lastEpoch"))
        lastLR = state.values["lastLR"] ?? lastLR
    }
}
