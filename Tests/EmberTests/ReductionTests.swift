import Testing
@testable import Ember

/// The reduction ops by fixture name: one table drives the reference checks, the
/// non-contiguous checks and gradcheck.
enum ReductionTable {
    static func apply(_ fixture: FixtureCase, _ x: Tensor) -> [Tensor] {
        let p = fixture.params ?? [:]
        let dims = p["dims"]?.ints ?? []
        let keep = p["keepDim"]?.flag ?? false
        let correction = p["correction"]?.number ?? 1
        switch fixture.op {
        case "sum": return [x.sum(dims: dims, keepDim: keep)]
        case "prod": return [x.prod(dims: dims, keepDim: keep)]
        case "mean": return [x.mean(dims: dims, keepDim: keep)]
        case "amax": return [x.amax(dims: dims, keepDim: keep)]
        case "amin": return [x.amin(dims: dims, keepDim: keep)]
        case "variance": return [x.variance(dims: dims, correction: correction, keepDim: keep)]
        case "std": return [x.std(dims: dims, correction: correction, keepDim: keep)]
        case "logsumexp": return [x.logsumexp(dims: dims, keepDim: keep)]
        case "all": return [x.all(dims: dims, keepDim: keep)]
        case "any": return [x.any(dims: dims, keepDim: keep)]
        case let op where op.hasPrefix("norm"):
            let order: Double
            if case .text("inf") = p["p"] { order = .infinity } else { order = p["p"]!.number }
            return [x.norm(p: order, dims: dims, keepDim: keep)]
        case "maxDim":
            let (values, indices) = x.max(dim: dims[0], keepDim: keep)
            return [values, indices]
        case "minDim":
            let (values, indices) = x.min(dim: dims[0], keepDim: keep)
            return [values, indices]
        case "argmax": return [dims.isEmpty ? x.argmax() : x.argmax(dim: dims[0], keepDim: keep)]
        case "argmin": return [dims.isEmpty ? x.argmin() : x.argmin(dim: dims[0], keepDim: keep)]
        case "softmax": return [x.softmax(dim: dims[0])]
        case "logSoftmax": return [x.logSoftmax(dim: dims[0])]
        case "cumsum": return [x.cumsum(dim: dims[0])]
        case "cumprod": return [x.cumprod(dim: dims[0])]
        default: fatalError("no reduction named \(fixture.op)")
        }
    }

    /// Checks every output of `fixture` on the input as stored and on non-contiguous copies.
    static func checkReference(_ fixture: FixtureCase) {
        let input = fixture.inputs[0].tensor
        let expected = (fixture.expectedList ?? [fixture.expected!]).map(\.tensor)
        // float32 results are compared with float64 numpy values rounded to float32.
        let relative = input.dtype == .float32 ? 1e-4 : nil
        for (name, tensor) in [("contiguous", input)] + nonContiguousVariants(of: input) {
            for (actual, reference) in zip(apply(fixture, tensor), expected) {
                expectClose(actual, reference, relative: relative, "\(fixture.name) (\(name))")
            }
        }
    }

    /// Fixture cases in float64 for the given ops, on a few dim sets, for gradcheck.
    static func gradientCases(_ cases: [FixtureCase], excluding: Set<String> = []) -> [FixtureCase] {
        cases.filter { fixture in
            fixture.inputs[0].dtype == "float64" && !excluding.contains(fixture.op)
                && !fixture.name.contains("special") && !fixture.name.contains("0d") && !fixture.name.contains("ties")
                && (fixture.name.contains("/float64/") ? ["dims[]/", "dims[1]/", "dims[0, 2]/"].contains { fixture.name.contains($0) } : true)
        }
    }
}

@Suite struct ReductionTests {
    static let cases = Fixtures.load("reductions")

    @Test(arguments: cases)
    func matchesReference(_ fixture: FixtureCase) {
        ReductionTable.checkReference(fixture)
    }

    @Test(arguments: ReductionTable.gradientCases(cases, excluding: ["argmax", "argmin", "all", "any"]))
    func gradcheckFloat64(_ fixture: FixtureCase) {
        let input = fixture.inputs[0].tensor.requiresGrad_()
        let result = gradcheck({ ReductionTable.apply(fixture, $0[0])[0] }, inputs: [input])
        #expect(result.passed, "\(fixture.name): \(result.report)")
    }

    @Test(arguments: ["mean", "variance", "std", "norm", "norm3", "logsumexp", "prod", "sum"])
    func gradgradcheckFloat64(_ name: String) {
        let x = (Tensor.rand([2, 3], dtype: .float64, generator: RandomGenerator(seed: 3)) + 0.5).requiresGrad_()
        let function: ([Tensor]) -> Tensor = { inputs in
            let x = inputs[0]
            switch name {
            case "mean": return x.mean(dims: [1])
            case "variance": return x.variance(dims: [0, 1])
            case "std": return x.std(dims: [1], keepDim: true)
            case "norm": return x.norm(dims: [1])
            case "norm3": return x.norm(p: 3, dims: [0])
            case "logsumexp": return x.logsumexp(dims: [-1])
            case "prod": return x.prod(dims: [1])
            default: return x.sum(dims: [0])
            }
        }
        let result = gradgradcheck(function, inputs: [x])
        #expect(result.passed, "\(name): \(result.report)")
    }

    @Test func prodGradientWithZeros() {
        // One zero in the first row, two in the second, none in the third.
        let x = Tensor([[1.5, 0, 2], [0, 3, 0], [1, -2, 0.5]] as [[Double]]).requiresGrad_()
        let result = gradcheck({ $0[0].prod(dims: [1]) }, inputs: [x])
        #expect(result.passed, "\(result.report)")
        let all = gradcheck({ $0[0].prod() }, inputs: [Tensor([2, 0, 3] as [Double]).requiresGrad_()])
        #expect(all.passed, "\(all.report)")
        let y = Tensor([2, 0, 3] as [Double]).requiresGrad_()
        y.prod().backward()
        expectClose(y.grad!, Tensor([0, 6, 0] as [Double]))
    }

    @Test func amaxSharesGradientAmongTies() {
        let x = Tensor([[1, 3, 3], [2, 0, 1]] as [[Double]]).requiresGrad_()
        x.amax(dims: [1]).sum().backward()
        expectClose(x.grad!, Tensor([[0, 0.5, 0.5], [1, 0, 0]] as [[Double]]))
        let y = Tensor([4, 4, 1, 4] as [Double]).requiresGrad_()
        y.max().backward()
        expectClose(y.grad!, Tensor([1.0 / 3, 1.0 / 3, 0, 1.0 / 3] as [Double]))
        // max(dim:) sends the gradient to the first index only.
        let z = Tensor([[1, 3, 3]] as [[Double]]).requiresGrad_()
        z.max(dim: 1).values.sum().backward()
        expectClose(z.grad!, Tensor([[0, 1, 0]] as [[Double]]))
    }

    @Test func normGradientAtZeroIsZero() {
        let x = Tensor.zeros([3], dtype: .float64, requiresGrad: true)
        let n = x.norm()
        #expect(n.item() == 0)
        n.backward()
        expectClose(x.grad!, Tensor([0, 0, 0] as [Double]))
    }

    @Test func cumsumAndCumprodGradients() {
        let x = Tensor([[1.5, -2, 0.5, 3], [0.7, 1.1, -0.4, 2]] as [[Double]]).requiresGrad_()
        for dim in [0, 1, -1] {
            #expect(gradcheck({ $0[0].cumsum(dim: dim) }, inputs: [x]).passed)
            #expect(gradcheck({ $0[0].cumprod(dim: dim) }, inputs: [x]).passed)
        }
        let zeros = Tensor([[1.5, 0, 0.5, 3], [0, 1.1, 0, 2]] as [[Double]]).requiresGrad_()
        let result = gradcheck({ $0[0].cumprod(dim: 1) }, inputs: [zeros])
        #expect(result.passed, "\(result.report)")
        #expect(gradgradcheck({ $0[0].cumsum(dim: 1) }, inputs: [x]).passed)
    }

    @Test func reductionsReadContiguousInputsInPlace() {
        let x = Tensor.randn([4, 5, 6])
        // Trailing dims: rows form; leading or middle dims: columns form; no copies.
        for axes in [[2], [1, 2], [0], [0, 1], [1]] {
            let layout = ReductionLayout(x, axes: axes)
            #expect(layout.source.storage === x.storage, "axes \(axes)")
        }
        #expect(ReductionLayout(x, axes: [1]).inner == 6)
        // A transposed matrix reduced along its first axis is the original's last axis.
        let m = Tensor.randn([5, 6])
        #expect(ReductionLayout(m.t, axes: [0]).source.storage === m.storage)
        // Scattered axes of a contiguous tensor need one copy.
        #expect(ReductionLayout(x, axes: [0, 2]).source.storage !== x.storage)
    }

    @Test func largeFloat32SumIsAccurate() {
        let n = 1 << 21
        let x = Tensor.full([n], Float(0.1))
        let total = x.sum().item()
        #expect(Swift.abs(total - Double(Float(0.1)) * Double(n)) < 1e-3 * Double(n) * 1e-4)
        let rows = Tensor.full([3, n / 3], Float(1)).sum(dim: 1).scalars(as: Float.self)
        #expect(rows == [Float](repeating: Float(n / 3), count: 3))
        #expect(Tensor.full([n], Float(1)).argmax().item(as: Int.self) == 0)
    }

    @Test func halfPrecisionKeepsItsDType() {
        let x = Tensor([[1, 2], [3, 4]] as [[Float]])
        for dtype in [DType.float16, .bfloat16] {
            let s = x.to(dtype).sum(dims: [1])
            #expect(s.dtype == dtype)
            expectClose(s.to(.float32), Tensor([3, 7] as [Float]))
            expectClose(x.to(dtype).softmax(dim: 1).to(.float32), x.softmax(dim: 1), relative: 1e-2, absolute: 1e-2)
        }
    }

    @Test func maxOfEmptyDimStops() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([0, 3]).max(dim: 0)
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([0]).max()
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 0]).argmax(dim: 1)
        }
    }

    @Test func meanOfIntegersStops() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor([1, 2, 3] as [Int]).mean()
        }
    }

    @Test func repeatedDimsStop() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 3]).sum(dims: [1, -1])
        }
    }
}
