import Testing
@testable import Ember

/// How reduction fixtures map onto Ember: cases of a `ReductionOperation` run through that
/// definition (`Tensor.reduce`), the rest (compositions, index-returning reductions, and the
/// softmax family and scans of softmax.json) through their methods. One table drives the
/// reference checks, the non-contiguous checks and gradcheck.
enum ReductionTable {
    /// The definition a fixture case exercises: the one with the case's op name, where the norm
    /// definition is the p = 2 norm (other orders are compositions).
    static func definition(of fixture: FixtureCase) -> ReductionOperation? {
        if fixture.op == "norm" { return order(fixture) == 2 ? .norm : nil }
        return ReductionOperation.all.first { $0.name == fixture.op }
    }

    /// The p of a norm case ("inf" is infinity).
    static func order(_ fixture: FixtureCase) -> Double {
        if case .text("inf") = fixture.params?["p"] { return .infinity }
        return fixture.params!["p"]!.number
    }

    static func apply(_ fixture: FixtureCase, _ x: Tensor) -> [Tensor] {
        let p = fixture.params ?? [:]
        let dims = p["dims"]?.ints ?? []
        let keep = p["keepDim"]?.flag ?? false
        let correction = p["correction"]?.number ?? 1
        if let operation = definition(of: fixture) { return [x.reduce(operation, dims: dims, keepDim: keep)] }
        switch fixture.op {
        case "variance": return [x.variance(dims: dims, correction: correction, keepDim: keep)]
        case "std": return [x.std(dims: dims, correction: correction, keepDim: keep)]
        case "norm": return [x.norm(p: order(fixture), dims: dims, keepDim: keep)]
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
    static let gradcheckCases = ReductionTable.gradientCases(cases, excluding: ["argmax", "argmin", "all", "any"])

    /// Each definition against its fixture cases (it must have some), through the definition
    /// itself, on contiguous and non-contiguous inputs.
    @Test(arguments: ReductionOperation.all)
    func definitionMatchesReference(_ operation: ReductionOperation) {
        let owned = Self.cases.filter { ReductionTable.definition(of: $0) === operation }
        #expect(!owned.isEmpty, "\(operation.name) has no cases in reductions.json")
        for fixture in owned { ReductionTable.checkReference(fixture) }
        if operation.isDifferentiable {
            #expect(Self.gradcheckCases.contains { ReductionTable.definition(of: $0) === operation },
                    "\(operation.name) is differentiable but has no gradcheck case")
        }
    }

    /// The reductions that are not definitions: variance, std, norm for p ≠ 2, max/min along a
    /// dim with indices, argmax, argmin.
    @Test(arguments: cases.filter { ReductionTable.definition(of: $0) == nil })
    func matchesReference(_ fixture: FixtureCase) {
        ReductionTable.checkReference(fixture)
    }

    /// Each definition's dtype rule against what it returns, for every dtype the rule accepts
    /// (the rejections stop the process; `meanOfIntegersStops` checks one).
    @Test(arguments: ReductionOperation.all)
    func resultTypeFollowsTheDTypeRule(_ operation: ReductionOperation) {
        let values = Tensor([[1, 2, 0], [3, 0, 1]] as [[Double]])
        for dtype in DType.allCases {
            guard let expected = operation.resultType(for: dtype) else { continue }
            let result = values.to(dtype).reduce(operation, dims: [1], keepDim: false)
            #expect(result.dtype == expected, "\(operation) of \(dtype) gave \(result.dtype), the rule says \(expected)")
        }
    }

    /// The public methods are spellings of the definitions: the same values, and the
    /// definition's node in the graph.
    @Test func publicMethodsGoThroughTheirDefinitions() {
        let methods: [(ReductionOperation, (Tensor) -> Tensor)] = [
            (.sum, { $0.sum(dims: [1]) }), (.mean, { $0.mean(dims: [1]) }), (.prod, { $0.prod(dims: [1]) }),
            (.amax, { $0.amax(dims: [1]) }), (.amin, { $0.amin(dims: [1]) }), (.allTrue, { $0.all(dims: [1]) }),
            (.anyTrue, { $0.any(dims: [1]) }), (.logsumexp, { $0.logsumexp(dims: [1]) }), (.norm, { $0.norm(dims: [1]) }),
        ]
        #expect(methods.map(\.0.name) == ReductionOperation.all.map(\.name))
        let x = Tensor([[1.5, -2, 0.25], [3, 0, -1]] as [[Double]]).requiresGrad_()
        for (operation, method) in methods {
            let result = method(x)
            expectClose(result, withoutGrad { x.reduce(operation, dims: [1], keepDim: false) }, relative: 0, absolute: 0, operation.name)
            #expect(result.gradFunction?.name == (operation.isDifferentiable ? operation.name : nil), "\(operation.name)")
        }
    }

    @Test(arguments: gradcheckCases)
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
