import Foundation
import Testing
@testable import Ember

struct SchedulerFixtureFile: Decodable {
    let metrics: [Double]
    let cases: [SchedulerFixture]
}

struct SchedulerFixture: Decodable, CustomTestStringConvertible {
    let name: String
    let optimizer: String
    let trackMomentum: Bool
    /// Per step (construction first): the groups' lrs, then their momentum (or beta1) when tracked.
    let values: [[Double]]
    var testDescription: String { name }
}

/// Rebuilds generate_optim.py's scheduler runs: two groups at lr 0.1 and 0.05.
enum SchedulerRun {
    static let file = loadFixture("schedulers", as: SchedulerFixtureFile.self)

    static func makeOptimizer(_ kind: String) -> Optimizer {
        let groups = [ParameterGroup([Tensor.zeros([2], requiresGrad: true)]),
                      ParameterGroup([Tensor.zeros([2], requiresGrad: true)], options: ["lr": 0.05])]
        return kind == "SGD" ? SGD(groups, lr: 0.1, momentum: 0.9) : Adam(groups, lr: 0.1)
    }

    /// The scheduler for `name` and a function that steps it at epoch `index`.
    static func make(_ name: String, _ o: Optimizer) -> (Int) -> Void {
        func single(_ scheduler: LRScheduler) -> (Int) -> Void { { _ in scheduler.step() } }
        switch name {
        case "StepLR": return single(StepLR(o, stepSize: 7, gamma: 0.5))
        case "MultiStepLR": return single(MultiStepLR(o, milestones: [5, 12, 12, 20], gamma: 0.3))
        case "ExponentialLR": return single(ExponentialLR(o, gamma: 0.9))
        case "CosineAnnealingLR": return single(CosineAnnealingLR(o, tMax: 10, etaMin: 0.001))
        case "CosineAnnealingWarmRestarts": return single(CosineAnnealingWarmRestarts(o, t0: 5, tMult: 2, etaMin: 0.001))
        case "CosineAnnealingWarmRestarts/tMult1": return single(CosineAnnealingWarmRestarts(o, t0: 7))
        case "LinearLR/warmup": return single(LinearLR(o, startFactor: 0.25, endFactor: 1, totalIters: 8))
        case "LinearLR/decay": return single(LinearLR(o, startFactor: 1, endFactor: 0.1, totalIters: 10))
        case "OneCycleLR/cos": return single(OneCycleLR(o, maxLR: [0.5, 0.2], totalSteps: 30))
        case "OneCycleLR/linear":
            return single(OneCycleLR(o, maxLR: 0.4, totalSteps: 30, pctStart: 0.25, annealStrategy: .linear,
                                     divFactor: 10, finalDivFactor: 100))
        case "OneCycleLR/threePhase": return single(OneCycleLR(o, maxLR: 0.3, totalSteps: 30, threePhase: true))
        case "OneCycleLR/adam": return single(OneCycleLR(o, maxLR: 0.3, totalSteps: 30, baseMomentum: 0.8, maxMomentum: 0.9))
        case "OneCycleLR/noMomentum": return single(OneCycleLR(o, maxLR: 0.3, totalSteps: 30, cycleMomentum: false))
        case "ReduceLROnPlateau/min":
            let scheduler = ReduceLROnPlateau(o, mode: .min, factor: 0.5, patience: 2, cooldown: 1, minLR: [0.01, 0.02])
            return { scheduler.step(file.metrics[$0]) }
        case "ReduceLROnPlateau/maxAbs":
            let scheduler = ReduceLROnPlateau(o, mode: .max, factor: 0.3, patience: 1, threshold: 0.05, thresholdMode: .absolute)
            return { scheduler.step(-file.metrics[$0]) }
        case "LambdaLR":
            return single(LambdaLR(o, lambdas: [{ Foundation.pow(0.9, Double($0)) }, { 1 / (1 + Double($0)) }]))
        case "SequentialLR/linearExponential":
            return single(SequentialLR(o, schedulers: [LinearLR(o, startFactor: 0.1, totalIters: 5), ExponentialLR(o, gamma: 0.9)],
                                       milestones: [5]))
        case "SequentialLR/threeStage":
            return single(SequentialLR(o, schedulers: [LinearLR(o, startFactor: 0.5, totalIters: 4), StepLR(o, stepSize: 3, gamma: 0.5),
                                                       CosineAnnealingLR(o, tMax: 12, etaMin: 0.01)], milestones: [4, 12]))
        case "Chained/ExponentialStep":
            let a = ExponentialLR(o, gamma: 0.9), b = StepLR(o, stepSize: 5, gamma: 0.5)
            return { _ in a.step(); b.step() }
        default: fatalError("unknown scheduler case \(name)")
        }
    }

    static func snapshot(_ o: Optimizer, trackMomentum: Bool) -> [Double] {
        var values = o.paramGroups.map(\.lr)
        if trackMomentum {
            let key = o.defaults["beta1"] != nil ? "beta1" : "momentum"
            values += o.paramGroups.map { $0[key] }
        }
        return values
    }
}

@Suite struct SchedulerTests {
    @Test(arguments: SchedulerRun.file.cases)
    func matchesPyTorch(_ fixture: SchedulerFixture) {
        let optimizer = SchedulerRun.makeOptimizer(fixture.optimizer)
        let step = SchedulerRun.make(fixture.name, optimizer)
        for (index, expected) in fixture.values.enumerated() {
            if index > 0 {
                optimizer.step()
                step(index - 1)
            }
            let actual = SchedulerRun.snapshot(optimizer, trackMomentum: fixture.trackMomentum)
            for (a, e) in zip(actual, expected) where !(Swift.abs(a - e) <= 1e-15 + 1e-12 * Swift.abs(e)) {
                Issue.record("\(fixture.name) after \(index) steps: \(actual) != \(expected)")
                return
            }
        }
    }

    @Test func lastLRFollowsTheGroups() {
        let optimizer = SchedulerRun.makeOptimizer("SGD")
        let scheduler = StepLR(optimizer, stepSize: 2, gamma: 0.5)
        #expect(scheduler.lastLR == [0.1, 0.05] && scheduler.lastEpoch == 0)
        scheduler.step(); scheduler.step()
        #expect(scheduler.lastLR == [0.05, 0.025] && scheduler.lastEpoch == 2)
    }

    /// Saving optimizer and scheduler mid-way and loading them into fresh ones continues the schedule exactly.
    @Test(arguments: ["CosineAnnealingWarmRestarts", "OneCycleLR/cos", "SequentialLR/threeStage", "Chained/ExponentialStep", "MultiStepLR"])
    func stateDictRoundTrip(_ name: String) {
        let optimizer = SchedulerRun.makeOptimizer("SGD")
        var schedulers: [LRScheduler] = []
        func build(_ o: Optimizer) -> [LRScheduler] {
            switch name {
            case "CosineAnnealingWarmRestarts": return [CosineAnnealingWarmRestarts(o, t0: 5, tMult: 2, etaMin: 0.001)]
            case "OneCycleLR/cos": return [OneCycleLR(o, maxLR: [0.5, 0.2], totalSteps: 30)]
            case "SequentialLR/threeStage":
                return [SequentialLR(o, schedulers: [LinearLR(o, startFactor: 0.5, totalIters: 4), StepLR(o, stepSize: 3, gamma: 0.5),
                                                     CosineAnnealingLR(o, tMax: 12, etaMin: 0.01)], milestones: [4, 12])]
            case "Chained/ExponentialStep": return [ExponentialLR(o, gamma: 0.9), StepLR(o, stepSize: 5, gamma: 0.5)]
            default: return [MultiStepLR(o, milestones: [5, 12, 12, 20], gamma: 0.3)]
            }
        }
        schedulers = build(optimizer)
        for _ in 0..<11 { schedulers.forEach { $0.step() } }
        let savedOptimizer = optimizer.stateDict()
        let savedSchedulers = schedulers.map { $0.stateDict() }
        let fresh = SchedulerRun.makeOptimizer("SGD")
        let freshSchedulers = build(fresh)
        fresh.loadStateDict(savedOptimizer)
        zip(freshSchedulers, savedSchedulers).forEach { $0.loadStateDict($1) }
        for _ in 11..<30 {
            schedulers.forEach { $0.step() }
            freshSchedulers.forEach { $0.step() }
            #expect(fresh.paramGroups.map(\.lr) == optimizer.paramGroups.map(\.lr), "\(name)")
            #expect(freshSchedulers.last!.lastLR == schedulers.last!.lastLR)
        }
    }

    @Test func plateauStateDictRoundTrip() {
        let optimizer = SchedulerRun.makeOptimizer("SGD")
        let scheduler = ReduceLROnPlateau(optimizer, factor: 0.5, patience: 1, cooldown: 2)
        let metrics = SchedulerRun.file.metrics
        for m in metrics[0..<12] { scheduler.step(m) }
        let fresh = SchedulerRun.makeOptimizer("SGD")
        let resumed = ReduceLROnPlateau(fresh, factor: 0.5, patience: 1, cooldown: 2)
        fresh.loadStateDict(optimizer.stateDict())
        resumed.loadStateDict(scheduler.stateDict())
        for m in metrics[12...] {
            scheduler.step(m); resumed.step(m)
            #expect(resumed.lastLR == scheduler.lastLR)
        }
    }

    @Test func warmRestartsAcceptFractionalEpochs() {
        let optimizer = SchedulerRun.makeOptimizer("SGD")
        let scheduler = CosineAnnealingWarmRestarts(optimizer, t0: 4, tMult: 2)
        scheduler.step(epoch: 2)          // halfway through the first period
        #expect(Swift.abs(optimizer.paramGroups[0].lr - 0.05) < 1e-15)
        scheduler.step(epoch: 8)          // halfway through the second (length 8, from epoch 4)
        #expect(Swift.abs(optimizer.paramGroups[0].lr - 0.05) < 1e-15)
        #expect(scheduler.tI == 8 && scheduler.tCur == 4)
    }
}

struct ClipFixtureFile: Decodable {
    struct Case: Decodable {
        let name: String
        let normType: FixtureNumber?
        let maxNorm: Double?
        let total: Double?
        let clipValue: Double?
        let clipped: [[Double]]
    }
    let gradients: [[Double]]
    let cases: [Case]
}

@Suite struct ClipGradTests {
    static let file = loadFixture("clip_grad", as: ClipFixtureFile.self)

    @Test func matchesPyTorch() {
        let shapes = [[2, 3], [4]]
        for fixture in Self.file.cases {
            let parameters = shapes.map { Tensor.zeros($0, dtype: .float64, requiresGrad: true) }
            let withoutGradient = Tensor.zeros([2], dtype: .float64, requiresGrad: true)
            for (k, p) in parameters.enumerated() { p.grad = Tensor(shape: shapes[k], scalars: Self.file.gradients[k]) }
            if let clipValue = fixture.clipValue {
                clipGradValue(parameters, clipValue: clipValue)
            } else {
                let total = clipGradNorm(parameters + [withoutGradient], maxNorm: fixture.maxNorm!, normType: fixture.normType!.value)
                expectClose(total, Tensor(fixture.total!), fixture.name)
            }
            for (k, p) in parameters.enumerated() {
                expectClose(p.grad!, Tensor(shape: shapes[k], scalars: fixture.clipped[k]), "\(fixture.name) gradient \(k)")
            }
            #expect(withoutGradient.grad == nil)
        }
    }
}
