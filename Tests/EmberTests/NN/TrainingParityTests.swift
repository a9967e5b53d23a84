import Testing
@testable import Ember

/// The acceptance test of the nn issue: a model built in PyTorch and in Ember from the same
/// initial weights (loaded by name), trained the same steps with each optimizer and a
/// scheduler, must give the same losses and final weights (1e-9 relative in float64, 1e-5 in
/// float32). Fixture: scripts/fixtures/generate_training_parity.py.
@Suite struct TrainingParityTests {
    static let cases = Fixtures.load("training_parity_mlp")

    static func optimizer(_ name: String, _ parameters: [Tensor]) -> Optimizer {
        switch name {
        case "sgdMomentumNesterov": return SGD(parameters, lr: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true)
        case "adam": return Adam(parameters, lr: 0.01)
        case "adamwAmsgrad": return AdamW(parameters, lr: 0.01, amsgrad: true)
        case "rmspropCentered": return RMSprop(parameters, lr: 0.01, momentum: 0.5, centered: true)
        case "adagrad": return Adagrad(parameters, lr: 0.1)
        case "adadelta": return Adadelta(parameters, lr: 1.0)
        case "adamax": return Adamax(parameters, lr: 0.01)
        case "nadam": return NAdam(parameters, lr: 0.01)
        case "radam": return RAdam(parameters, lr: 0.01)
        default: fatalError("no optimizer \(name)")
        }
    }

    static func scheduler(_ name: String, _ optimizer: Optimizer) -> LRScheduler? {
        switch name {
        case "stepLR": return StepLR(optimizer, stepSize: 2, gamma: 0.5)
        case "cosine": return CosineAnnealingLR(optimizer, tMax: 5)
        default: return nil
        }
    }

    @Test(arguments: cases.filter { $0.op != "data" })
    func mlpTrainsLikePyTorch(_ fixture: FixtureCase) throws {
        let dtypeName = String(fixture.name.split(separator: "/").last!)
        let data = Self.cases.first { $0.name == "data/\(dtypeName)" }!
        let keys = fixture.params!["keys"]!.text.split(separator: " ").map(String.init)
        let dtype: DType = dtypeName == "float64" ? .float64 : .float32

        let model = Sequential {
            Linear(6, 12, dtype: dtype)
            Tanh()
            Linear(12, 3, dtype: dtype)
        }
        let losses = try trainLikeParityFixture(model, data: data, keys: keys,
                                                optimizer: { Self.optimizer(fixture.op, $0) },
                                                scheduler: { Self.scheduler(fixture.params!["scheduler"]!.text, $0) })
        let (relative, absolute) = dtype == .float64 ? (1e-9, 1e-12) : (1e-5, 1e-6)
        expectClose(Tensor(losses), fixture.expected!.tensor, relative: relative, absolute: absolute, "\(fixture.name) losses")
        let state = model.stateDict()
        for (key, expected) in zip(keys, fixture.expectedList!) {
            expectClose(state[key]!, expected.tensor, relative: relative, absolute: absolute, "\(fixture.name) \(key)")
        }
    }
}
