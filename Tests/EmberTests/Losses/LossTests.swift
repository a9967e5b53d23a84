import Testing
@testable import Ember

/// Every loss against PyTorch (scripts/fixtures/generate_losses.py): value and input gradient
/// for each reduction and option, gradcheck on every case, gradgradcheck on a selection.
enum LossTable {
    static func reduction(_ fixture: FixtureCase) -> Reduction {
        switch fixture.params?["reduction"]?.string {
        case "none": return .none
        case "sum": return .sum
        case "batchmean": return .batchMean
        default: return .mean
        }
    }

    /// Runs the fixture's loss with `input` in place of its first input.
    static func apply(_ fixture: FixtureCase, _ input: Tensor) -> Tensor {
        let tensors = fixture.inputs.map(\.tensor)
        let params = fixture.params ?? [:]
        let r = reduction(fixture)
        let target = tensors[1]
        func number(_ key: String) -> Double { params[key]!.number }
        func has(_ key: String) -> Bool { params[key]?.flag ?? false }
        switch fixture.op {
        case "mseLoss": return mseLoss(input, target, reduction: r)
        case "l1Loss": return l1Loss(input, target, reduction: r)
        case "smoothL1Loss": return smoothL1Loss(input, target, reduction: r, beta: number("beta"))
        case "huberLoss": return huberLoss(input, target, reduction: r, delta: number("delta"))
        case "crossEntropy":
            return crossEntropy(input, target, weight: has("hasWeight") ? tensors[2] : nil, ignoreIndex: Int(number("ignoreIndex")),
                                reduction: r, labelSmoothing: number("labelSmoothing"))
        case "nllLoss":
            return nllLoss(input, target, weight: has("hasWeight") ? tensors[2] : nil, ignoreIndex: Int(number("ignoreIndex")), reduction: r)
        case "binaryCrossEntropy":
            return binaryCrossEntropy(input, target, weight: has("hasWeight") ? tensors[2] : nil, reduction: r)
        case "binaryCrossEntropyWithLogits":
            let weight = has("hasWeight") ? tensors[2] : nil
            let posWeight = has("hasPosWeight") ? tensors[has("hasWeight") ? 3 : 2] : nil
            return binaryCrossEntropyWithLogits(input, target, weight: weight, posWeight: posWeight, reduction: r)
        case "klDiv": return klDiv(input, target, reduction: r, logTarget: params["logTarget"]!.flag)
        case "cosineEmbeddingLoss": return cosineEmbeddingLoss(input, target, tensors[2], margin: number("margin"), reduction: r)
        case "marginRankingLoss": return marginRankingLoss(input, target, tensors[2], margin: number("margin"), reduction: r)
        default: fatalError("unknown loss \(fixture.op)")
        }
    }

    static func checkReference(_ fixture: FixtureCase) {
        let input = fixture.inputs[0].tensor.requiresGrad_()
        let loss = apply(fixture, input)
        let expected = fixture.expectedList!
        expectClose(loss, expected[0].tensor, fixture.name)
        // The generator's upstream gradient: 1, or 1 + 0.1·i for unreduced losses.
        let upstream = (Tensor.arange(Double(0), Double(loss.count), dtype: .float64) * 0.1 + 1).reshaped(loss.shape)
        (loss * upstream).sum().backward()
        guard let gradient = input.grad else { Issue.record("\(fixture.name): no gradient"); return }
        expectClose(gradient, expected[1].tensor, "\(fixture.name) gradient")
    }
}

extension FixtureParameter {
    var string: String { if case .text(let v) = self { return v }; fatalError("fixture parameter is not a string") }
}

@Suite struct LossTests {
    static let cases = Fixtures.load("losses") + Fixtures.load("losses_classification")

    @Test(arguments: cases)
    func matchesPyTorch(_ fixture: FixtureCase) {
        LossTable.checkReference(fixture)
    }

    @Test(arguments: cases)
    func gradcheckFloat64(_ fixture: FixtureCase) {
        let input = fixture.inputs[0].tensor.requiresGrad_()
        let result = gradcheck({ LossTable.apply(fixture, $0[0]) }, inputs: [input])
        #expect(result.passed, "\(fixture.name): \(result.report)")
    }

    @Test(arguments: ["crossEntropy/weightIgnore/ls0.15/mean", "crossEntropy/probsWeight/ls0.2/mean", "nll/kdimWeight/mean",
                      "bceLogits/soft/weightPos/mean", "bce/soft/weight/sum", "klDiv/batchmean", "klDiv/logTarget/mean",
                      "mse/mean", "huber/delta1.5/sum", "cosineEmbedding/margin0.3/mean"])
    func gradgradcheckFloat64(_ name: String) {
        guard let fixture = Self.cases.first(where: { $0.name == name }) else { Issue.record("no case \(name)"); return }
        let input = fixture.inputs[0].tensor.requiresGrad_()
        let result = gradgradcheck({ LossTable.apply(fixture, $0[0]) }, inputs: [input])
        #expect(result.passed, "\(name): \(result.report)")
    }

    @Test func extremeLogitsStayFinite() {
        let logits = Tensor([[1000, -1000, 0], [-1000, 1000, 500]] as [[Double]])
        let labels = Tensor([1, 1] as [Int])
        let loss = crossEntropy(logits, labels)
        expectClose(loss, Tensor(1000.0), "crossEntropy of extreme logits")
        let z = Tensor([1000, -1000, 0] as [Double]).requiresGrad_()
        let t = Tensor([0, 1, 1] as [Double])
        let bce = binaryCrossEntropyWithLogits(z, t, reduction: .none)
        expectClose(bce, Tensor([1000, 1000, 0.6931471805599453] as [Double]), "bceWithLogits")
        bce.sum().backward()
        expectClose(z.grad!, Tensor([1, -1, -0.5] as [Double]), "bceWithLogits gradient")
    }

    @Test func nonContiguousInputsMatchContiguous() {
        let logits = Tensor.randn([3, 5], dtype: .float64, generator: RandomGenerator(seed: 5))
        let transposedStorage = logits.t.contiguous().t
        let labels = Tensor([4, 0, 2] as [Int])
        expectClose(crossEntropy(transposedStorage, labels, labelSmoothing: 0.1), crossEntropy(logits, labels, labelSmoothing: 0.1))
        let target = Tensor.randn([5, 3], dtype: .float64, generator: RandomGenerator(seed: 6))
        expectClose(huberLoss(transposedStorage, target.t), huberLoss(logits, target.t.contiguous()))
    }

    @Test func binaryCrossEntropyClampsTheLog() {
        let p = Tensor([0, 1, 1, 0] as [Double])
        let t = Tensor([1, 0, 1, 0] as [Double])
        expectClose(binaryCrossEntropy(p, t, reduction: .none), Tensor([100, 100, 0, 0] as [Double]), "clamped log")
    }

    @Test func float32LossesKeepTheirDType() {
        let logits = Tensor.randn([4, 3], generator: RandomGenerator(seed: 3))
        let loss = crossEntropy(logits, Tensor([0, 1, 2, 1] as [Int]), labelSmoothing: 0.1)
        #expect(loss.dtype == .float32)
        #expect(mseLoss(logits, logits * 2).dtype == .float32)
    }

    @Test func allIgnoredMeanIsNaN() {
        let loss = crossEntropy(Tensor.randn([2, 3], dtype: .float64), Tensor([-100, -100] as [Int]))
        #expect(loss.item().isNaN)
    }

    @Test func shapeMismatchStops() async {
        await #expect(processExitsWith: .failure) {
            _ = mseLoss(Tensor.zeros([4, 1]), Tensor.zeros([4]))
        }
        await #expect(processExitsWith: .failure) {
            _ = crossEntropy(Tensor.zeros([4, 3]), Tensor([0, 1, 2] as [Int]))
        }
        await #expect(processExitsWith: .failure) {
            _ = crossEntropy(Tensor.zeros([2, 3]), Tensor([0, 3] as [Int]))
        }
        await #expect(processExitsWith: .failure) {
            _ = nllLoss(Tensor.zeros([2, 3]), Tensor([0, 1] as [Float]))
        }
    }
}
