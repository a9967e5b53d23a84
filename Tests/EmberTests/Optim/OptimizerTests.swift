import Foundation
import Testing
@testable import Ember

/// Decodes `Fixtures/<name>.json` into `T` (the optimizer fixtures have their own layout).
func loadFixture<T: Decodable>(_ name: String, as type: T.Type) -> T {
    guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures")
            ?? Bundle.module.url(forResource: name, withExtension: "json") else {
        fatalError("fixture \(name).json is missing; run scripts/fixtures/generate_optim.py")
    }
    do { return try JSONDecoder().decode(T.self, from: Data(contentsOf: url)) } catch {
        fatalError("fixture \(name).json is unreadable: \(error)")
    }
}

struct OptimizerFixtureFile: Decodable {
    let initial: [[Double]]
    let gradients: [[[Double]?]]
    let cases: [OptimizerFixture]
}

struct OptimizerFixture: Decodable, CustomTestStringConvertible {
    let name: String
    let optimizer: String
    let options: [String: Double]
    /// Parameter values after each step: [step][parameter][element].
    let trajectory: [[[Double]]]
    var testDescription: String { name }
}

/// Replays generate_optim.py's runs: parameter 0 ([2, 2]) in group 0, parameter 1 ([3]) in
/// group 1 at half the lr, no gradient for parameter 1 at step 2, group 0's lr × 0.3 from step 4.
enum OptimizerRun {
    static let file = loadFixture("optim", as: OptimizerFixtureFile.self)
    static let shapes = [[2, 2], [3]]

    static func initialParameters() -> [Tensor] {
        zip(file.initial, shapes).map { Tensor(shape: $1, scalars: $0).requiresGrad_() }
    }

    static func make(_ fixture: OptimizerFixture, _ parameters: [Tensor]) -> Optimizer {
        let o = fixture.options
        let lr = o["lr"]!
        let groups = [ParameterGroup([parameters[0]]), ParameterGroup([parameters[1]], options: ["lr": lr * 0.5])]
        func value(_ key: String, _ fallback: Double) -> Double { o[key] ?? fallback }
        func flag(_ key: String) -> Bool { (o[key] ?? 0) != 0 }
        func betas(_ second: Double = 0.999) -> (Double, Double) { (value("beta1", 0.9), value("beta2", second)) }
        switch fixture.optimizer {
        case "SGD":
            return SGD(groups, lr: lr, momentum: value("momentum", 0), dampening: value("dampening", 0),
                       weightDecay: value("weightDecay", 0), nesterov: flag("nesterov"), maximize: flag("maximize"))
        case "Adam":
            return Adam(groups, lr: lr, betas: betas(), eps: value("eps", 1e-8), weightDecay: value("weightDecay", 0),
                        amsgrad: flag("amsgrad"), maximize: flag("maximize"))
        case "AdamW":
            return AdamW(groups, lr: lr, betas: betas(), eps: value("eps", 1e-8), weightDecay: value("weightDecay", 1e-2),
                         amsgrad: flag("amsgrad"), maximize: flag("maximize"))
        case "RMSprop":
            return RMSprop(groups, lr: lr, alpha: value("alpha", 0.99), eps: value("eps", 1e-8), weightDecay: value("weightDecay", 0),
                           momentum: value("momentum", 0), centered: flag("centered"), maximize: flag("maximize"))
        case "Adagrad":
            return Adagrad(groups, lr: lr, lrDecay: value("lrDecay", 0), weightDecay: value("weightDecay", 0),
                           initialAccumulatorValue: value("initialAccumulatorValue", 0), eps: value("eps", 1e-10),
                           maximize: flag("maximize"))
        case "Adadelta":
            return Adadelta(groups, lr: lr, rho: value("rho", 0.9), eps: value("eps", 1e-6), weightDecay: value("weightDecay", 0),
                            maximize: flag("maximize"))
        case "Adamax":
            return Adamax(groups, lr: lr, betas: betas(), eps: value("eps", 1e-8), weightDecay: value("weightDecay", 0),
                          maximize: flag("maximize"))
        case "NAdam":
            return NAdam(groups, lr: lr, betas: betas(), eps: value("eps", 1e-8), weightDecay: value("weightDecay", 0),
                         momentumDecay: value("momentumDecay", 4e-3), decoupledWeightDecay: flag("decoupledWeightDecay"),
                         maximize: flag("maximize"))
        case "RAdam":
            return RAdam(groups, lr: lr, betas: betas(), eps: value("eps", 1e-8), weightDecay: value("weightDecay", 0),
                         decoupledWeightDecay: flag("decoupledWeightDecay"), maximize: flag("maximize"))
        case "Lion":
            return Lion(groups, lr: lr, betas: betas(0.99), weightDecay: value("weightDecay", 0), maximize: flag("maximize"))
        default: fatalError("unknown optimizer \(fixture.optimizer)")
        }
    }

    /// Sets the step's gradients (and the lr change) and steps.
    static func step(_ index: Int, _ optimizer: Optimizer, _ parameters: [Tensor], lr: Double) {
        if index == 4 { optimizer.paramGroups[0].lr = lr * 0.3 }
        for (parameter, (gradient, shape)) in zip(parameters, zip(file.gradients[index], shapes)) {
            parameter.grad = gradient.map { Tensor(shape: shape, scalars: $0) }
        }
        optimizer.step()
    }

    static func expectTrajectory(_ fixture: OptimizerFixture, step: Int, _ parameters: [Tensor]) {
        for (k, parameter) in parameters.enumerated() {
            expectClose(parameter, Tensor(shape: shapes[k], scalars: fixture.trajectory[step][k]),
                        "\(fixture.name) step \(step) parameter \(k)")
        }
    }
}

@Suite struct OptimizerTests {
    @Test(arguments: OptimizerRun.file.cases)
    func matchesPyTorchEveryStep(_ fixture: OptimizerFixture) {
        let parameters = OptimizerRun.initialParameters()
        let optimizer = OptimizerRun.make(fixture, parameters)
        for step in 0..<fixture.trajectory.count {
            OptimizerRun.step(step, optimizer, parameters, lr: fixture.options["lr"]!)
            OptimizerRun.expectTrajectory(fixture, step: step, parameters)
        }
    }

    /// Saving after 3 steps and loading into a fresh optimizer over copied parameters continues
    /// the uninterrupted trajectory bit for bit; stepping the original on does not alter the snapshot.
    @Test(arguments: OptimizerRun.file.cases)
    func stateDictRoundTripResumesExactly(_ fixture: OptimizerFixture) {
        let lr = fixture.options["lr"]!
        let parameters = OptimizerRun.initialParameters()
        let optimizer = OptimizerRun.make(fixture, parameters)
        for step in 0..<3 { OptimizerRun.step(step, optimizer, parameters, lr: lr) }
        let saved = optimizer.stateDict()
        let resumedParameters = parameters.map { $0.detach().clone().requiresGrad_() }
        for step in 3..<fixture.trajectory.count { OptimizerRun.step(step, optimizer, parameters, lr: lr) }

        let resumed = OptimizerRun.make(fixture, resumedParameters)
        resumed.paramGroups[0].lr = 123   // overwritten by the loaded hyper-parameters
        resumed.loadStateDict(saved)
        #expect(resumed.paramGroups[0].lr == lr)
        for step in 3..<fixture.trajectory.count { OptimizerRun.step(step, resumed, resumedParameters, lr: lr) }
        for (a, b) in zip(parameters, resumedParameters) {
            #expect(a.scalars(as: Double.self) == b.scalars(as: Double.self), "\(fixture.name): resumed trajectory differs")
        }
        // Parameter 1 had no gradient at step 2 but did at steps 0 and 1, so both have state.
        #expect(saved.state.keys.sorted() == [0, 1])
        #expect(saved.paramGroups.map(\.params) == [[0], [1]])
    }

    @Test func parametersWithoutGradientsAreSkipped() {
        let used = Tensor([1, 2] as [Double]).requiresGrad_()
        let unused = Tensor([3, 4] as [Double]).requiresGrad_()
        let optimizer = Adam([used, unused], lr: 0.1)
        used.grad = Tensor([1, -1] as [Double])
        optimizer.step()
        #expect(unused.scalars(as: Double.self) == [3, 4])
        #expect(optimizer.state[ObjectIdentifier(unused)] == nil)
        #expect(optimizer.state[ObjectIdentifier(used)]?["step"]?.item() == 1)
    }

    @Test func zeroGradClearsOrZeroes() {
        let p = Tensor([1, 2] as [Float]).requiresGrad_()
        let optimizer = SGD([p], lr: 0.1)
        (p * p).sum().backward()
        optimizer.zeroGrad(setToNil: false)
        #expect(p.grad?.scalars(as: Float.self) == [0, 0])
        optimizer.zeroGrad()
        #expect(p.grad == nil)
    }

    @Test func float32ParametersStayFloat32() {
        let p = Tensor([1, 2, 3] as [Float]).requiresGrad_()
        let optimizer = AdamW([p], lr: 0.01)
        for _ in 0..<3 {
            optimizer.zeroGrad()
            (p * p).sum().backward()
            optimizer.step()
        }
        #expect(p.dtype == .float32)
        #expect(p.requiresGrad && p.isLeaf)
        #expect(p.scalars(as: Float.self)[2] < 3)
    }

    @Test func trainsALinearModel() {
        // y = 2x - 1 fitted with SGD + momentum through mseLoss; no Module needed.
        let x = Tensor.linspace(-1, 1, steps: 16, dtype: .float64).reshaped([16, 1])
        let y = x * 2 - 1
        let w = Tensor.zeros([1, 1], dtype: .float64, requiresGrad: true)
        let b = Tensor.zeros([1], dtype: .float64, requiresGrad: true)
        let optimizer = SGD([w, b], lr: 0.1, momentum: 0.9)
        for _ in 0..<200 {
            optimizer.zeroGrad()
            mseLoss(x.matmul(w) + b, y).backward()
            optimizer.step()
        }
        #expect(abs(w.item() - 2) < 1e-3 && abs(b.item() + 1) < 1e-3)
    }

    @Test func invalidOptionsStop() async {
        await #expect(processExitsWith: .failure) {
            _ = SGD([ParameterGroup([Tensor.zeros([2], requiresGrad: true)], options: ["learningRate": 0.1])], lr: 0.1)
        }
        await #expect(processExitsWith: .failure) {
            _ = SGD([Tensor.zeros([2], requiresGrad: true)], lr: 0.1, nesterov: true)
        }
        await #expect(processExitsWith: .failure) {
            let p = Tensor.zeros([2], requiresGrad: true)
            _ = Adam([ParameterGroup([p]), ParameterGroup([p])])
        }
    }
}
