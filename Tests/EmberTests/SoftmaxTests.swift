import Testing
@testable import Ember

/// softmax, logSoftmax and the scans against numpy, including inputs near ±1000 and -inf.
@Suite struct SoftmaxTests {
    static let cases = Fixtures.load("softmax")

    @Test(arguments: cases)
    func matchesReference(_ fixture: FixtureCase) {
        ReductionTable.checkReference(fixture)
    }

    static let gradcheckCases = cases.filter { $0.inputs[0].dtype == "float64" && !$0.name.contains("large") && !$0.name.contains("0d") }

    @Test(arguments: gradcheckCases)
    func gradcheckFloat64(_ fixture: FixtureCase) {
        let input = fixture.inputs[0].tensor.requiresGrad_()
        let result = gradcheck({ ReductionTable.apply(fixture, $0[0])[0] }, inputs: [input])
        #expect(result.passed, "\(fixture.name): \(result.report)")
    }

    @Test(arguments: [0, 1, -1])
    func gradgradcheckFloat64(_ dim: Int) {
        let x = Tensor.randn([2, 3], dtype: .float64, generator: RandomGenerator(seed: 11)).requiresGrad_()
        let softmax = gradgradcheck({ $0[0].softmax(dim: dim) }, inputs: [x])
        #expect(softmax.passed, "\(softmax.report)")
        let logSoftmax = gradgradcheck({ $0[0].logSoftmax(dim: dim) }, inputs: [x])
        #expect(logSoftmax.passed, "\(logSoftmax.report)")
    }

    @Test func largeInputsStayFinite() {
        let x = Tensor([[1000, 1001, 999], [-1000, -1001, -999]] as [[Float]])
        let y = x.softmax(dim: 1)
        #expect(y.isFinite().all().item(as: Bool.self))
        expectClose(y.sum(dims: [1]), Tensor([1, 1] as [Float]), relative: 1e-6)
        expectClose(x.logSoftmax(dim: 1).exp(), y, relative: 1e-6)
        let lse = x.logsumexp(dims: [1])
        #expect(lse.isFinite().all().item(as: Bool.self))
    }

    @Test func nonContiguousInputsGiveTheInputShape() {
        let x = Tensor.randn([3, 4, 5], dtype: .float64)
        let t = x.permuted([2, 0, 1])
        for dim in [0, 1, 2] {
            let y = t.softmax(dim: dim)
            #expect(y.shape == t.shape)
            expectClose(y, t.contiguous().softmax(dim: dim), "dim \(dim)")
        }
    }

    @Test func integerInputsStop() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor([1, 2, 3] as [Int]).softmax(dim: 0)
        }
    }
}
