import Testing
@testable import Ember

/// Reference checks for the elementwise op tables, driven by the numpy fixtures: every case
/// on contiguous and non-contiguous inputs, and gradcheck in float64 for every
/// differentiable op.
@Suite struct UnaryOperationTests {
    static let cases = Fixtures.load("unary")

    static func parameters(_ fixture: FixtureCase) -> (Double, Double) {
        let p = fixture.params ?? [:]
        switch fixture.op {
        case "softplus": return (p["beta"]!.number, p["threshold"]!.number)
        case "elu": return (p["alpha"]!.number, 0)
        case "leakyRelu": return (p["negativeSlope"]!.number, 0)
        case "clamp": return (p["min"]!.number, p["max"]!.number)
        default: return (0, 0)
        }
    }

    static func operation(_ name: String) -> UnaryOperation {
        guard let operation = UnaryOperation.all.first(where: { $0.name == name }) else {
            fatalError("no unary operation named \(name)")
        }
        return operation
    }

    @Test(arguments: cases)
    func matchesReference(_ fixture: FixtureCase) {
        let operation = Self.operation(fixture.op)
        let input = fixture.inputs[0].tensor
        let expected = fixture.expected!.tensor
        expectClose(input.apply(operation, parameters: Self.parameters(fixture)), expected, fixture.name)
        for variant in nonContiguousVariants(of: input) {
            #expect(!variant.tensor.isContiguous || variant.tensor.count <= 1)
            expectClose(variant.tensor.apply(operation, parameters: Self.parameters(fixture)), expected,
                        "\(fixture.name) (\(variant.name))")
        }
    }

    // round's fixture sits on its discontinuities (exact halves), where finite differences blow up.
    static let gradcheckCases = cases.filter { $0.name.hasSuffix("float64/matrix") && $0.op != "round" }

    @Test(arguments: gradcheckCases)
    func gradcheckFloat64(_ fixture: FixtureCase) {
        let operation = Self.operation(fixture.op)
        let input = fixture.inputs[0].tensor
        let parameters = Self.parameters(fixture)
        for (name, variant) in [("contiguous", input)] + nonContiguousVariants(of: input) {
            let result = gradcheck({ $0[0].apply(operation, parameters: parameters) }, inputs: [variant.requiresGrad_()])
            #expect(result.passed, "\(fixture.op) (\(name)): \(result.report)")
        }
    }

    @Test(arguments: cases.filter { $0.name.hasSuffix("float64/matrix") && !["floor", "ceil", "round", "trunc", "sign", "neg", "relu", "leakyRelu", "abs", "clamp"].contains($0.op) })
    func gradgradcheckFloat64(_ fixture: FixtureCase) {
        let operation = Self.operation(fixture.op)
        let input = fixture.inputs[0].tensor[0..<2, 0..<3].contiguous().requiresGrad_()
        let parameters = Self.parameters(fixture)
        let result = gradgradcheck({ $0[0].apply(operation, parameters: parameters) }, inputs: [input])
        #expect(result.passed, "\(fixture.op): \(result.report)")
    }

    @Test func halfPrecisionComputesInFloat32() {
        let x = Tensor([0.5, 1.0, 2.0] as [Float])
        for dtype in [DType.float16, .bfloat16] {
            let y = x.to(dtype).exp()
            #expect(y.dtype == dtype)
            expectClose(y.to(.float32), x.exp(), relative: 1e-2, absolute: 1e-2, "\(dtype)")
        }
    }

    @Test func boolInputsAreRejectedWithAMessage() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor([true, false]).neg()
        }
    }
}

@Suite struct BinaryOperationTests {
    static let cases = Fixtures.load("binary")

    static func apply(_ name: String, _ a: Tensor, _ b: Tensor) -> Tensor {
        switch name {
        case "add": return a + b
        case "sub": return a - b
        case "mul": return a * b
        case "div": return a / b
        default:
            guard let operation = BinaryOperation.all.first(where: { $0.name == name }) else {
                fatalError("no binary operation named \(name)")
            }
            return a.apply(operation, b)
        }
    }

    @Test(arguments: cases)
    func matchesReference(_ fixture: FixtureCase) {
        let a = fixture.inputs[0].tensor, b = fixture.inputs[1].tensor
        let expected = fixture.expected!.tensor
        expectClose(Self.apply(fixture.op, a, b), expected, fixture.name)
        for variant in nonContiguousVariants(of: a) {
            expectClose(Self.apply(fixture.op, variant.tensor, b), expected, "\(fixture.name) (a \(variant.name))")
        }
        for variant in nonContiguousVariants(of: b) {
            expectClose(Self.apply(fixture.op, a, variant.tensor), expected, "\(fixture.name) (b \(variant.name))")
        }
    }

    static let gradcheckCases = cases.filter { fixture in
        fixture.inputs.allSatisfy { $0.dtype == "float64" } && !fixture.name.hasSuffix("special")
            && !fixture.name.hasSuffix("empty") && fixture.op != "floorDivide"
    }

    @Test(arguments: gradcheckCases)
    func gradcheckFloat64(_ fixture: FixtureCase) {
        let a = fixture.inputs[0].tensor, b = fixture.inputs[1].tensor
        for (name, variant) in [("contiguous", a)] + nonContiguousVariants(of: a) {
            let result = gradcheck({ Self.apply(fixture.op, $0[0], $0[1]) }, inputs: [variant.requiresGrad_(), b.requiresGrad_()])
            #expect(result.passed, "\(fixture.name) (a \(name)): \(result.report)")
        }
    }

    @Test(arguments: ["mul", "div", "pow", "atan2"])
    func gradgradcheckFloat64(_ name: String) {
        let a = (Tensor.rand([2, 3], dtype: .float64) + 0.5).requiresGrad_()
        let b = (Tensor.rand([3], dtype: .float64) + 0.5).requiresGrad_()
        let result = gradgradcheck({ Self.apply(name, $0[0], $0[1]) }, inputs: [a, b])
        #expect(result.passed, "\(name): \(result.report)")
    }

    @Test func scalarsPromoteLikePythonNumbers() {
        let ints = Tensor([1, 2, 3] as [Int32])
        #expect((ints * 2).dtype == .int32)
        #expect((ints * 2.5).dtype == .float32)
        #expect((Tensor([1, 2] as [Float]) + 1).dtype == .float32)
        #expect((Tensor([true, false]) + 1).dtype == .int64)
        #expect((Tensor([1.5] as [Float]) * Tensor(2.0)).dtype == .float32)    // 0-d float64 does not widen
        #expect((ints + Tensor(2.5)).dtype == .float64)                        // 0-d of a higher category does
        #expect((Tensor([1, 2] as [Float]).to(.float16) + Tensor([1] as [Float]).to(.bfloat16)).dtype == .float32)
        expectClose(2 - Tensor([1, 2, 3] as [Float]), Tensor([1, 0, -1] as [Float]))
        expectClose(1 / Tensor([2, 4] as [Double]), Tensor([0.5, 0.25] as [Double]))
    }

    @Test func broadcastMismatchStopsWithShapes() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }
    }

    /// `add_(other, alpha:)` runs one pass (`ember_axpy`) for contiguous float operands and the
    /// two-op form otherwise; either way the bits are those of `y + x * alpha`.
    @Test(arguments: [DType.float32, .float64], [0, 1, 37, 70_000])
    func addScaledInPlaceEqualsTheTwoOpForm(_ dtype: DType, _ count: Int) {
        func same(_ a: Tensor, _ b: Tensor) -> Bool {
            a.shape == b.shape && a.dtype == b.dtype
                && zip(a.scalars(as: Double.self), b.scalars(as: Double.self)).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
        }
        let generator = RandomGenerator(seed: 5)
        var x = Tensor.randn([count], dtype: dtype, generator: generator)
        if count > 2 {   // NaN and infinity take the same arithmetic
            x = Tensor.cat([Tensor([Double.nan, .infinity] as [Double]).to(dtype), x.narrow(dim: 0, start: 2, length: count - 2)])
        }
        let y0 = Tensor.randn([count], dtype: dtype, generator: generator)
        let y = y0.clone()
        let version = y.storage.version
        y.add_(x, alpha: 0.3)
        #expect(y.storage.version == version + 1)
        #expect(same(y, y0 + x * 0.3), "\(dtype) \(count)")
        // The same tensor on both sides.
        let z = y0.clone()
        z.add_(z, alpha: 2)
        #expect(same(z, y0 + y0 * 2), "\(dtype) \(count) self")
        // A strided operand takes the two-op path.
        let strided = Tensor.randn([count, 2], dtype: dtype, generator: generator).select(dim: 1, index: 0)
        let w = y0.clone()
        w.add_(strided, alpha: -1.5)
        #expect(same(w, y0 + strided * -1.5), "\(dtype) \(count) strided")
    }

    @Test func integerDivisionByZeroDoesNotTrap() {
        let a = Tensor([7, -7, Int.min] as [Int]), b = Tensor([0, 0, -1] as [Int])
        #expect(a.floorDivide(b).scalars(as: Int.self) == [0, 0, Int.min])
        #expect(a.remainder(b).scalars(as: Int.self) == [0, 0, 0])
    }
}

/// Comparisons, logical ops and the NaN/infinity tests against numpy (comparison.json): bool
/// results, on contiguous and non-contiguous inputs.
@Suite struct ComparisonTests {
    static func run(_ op: String, _ inputs: [Tensor]) -> Tensor {
        let a = inputs[0]
        switch op {
        case "eq": return a .== inputs[1]
        case "ne": return a .!= inputs[1]
        case "lt": return a .< inputs[1]
        case "le": return a .<= inputs[1]
        case "gt": return a .> inputs[1]
        case "ge": return a .>= inputs[1]
        case "logicalAnd": return a.logicalAnd(inputs[1])
        case "logicalOr": return a.logicalOr(inputs[1])
        case "logicalXor": return a.logicalXor(inputs[1])
        case "logicalNot": return a.logicalNot()
        case "isFinite": return a.isFinite()
        case "isNaN": return a.isNaN()
        case "isInf": return a.isInf()
        default: fatalError("no comparison named \(op)")
        }
    }

    @Test(arguments: Fixtures.load("comparison"))
    func matchesReference(_ fixture: FixtureCase) {
        let inputs = fixture.inputs.map(\.tensor)
        let expected = fixture.expected!.tensor
        expectClose(Self.run(fixture.op, inputs), expected, fixture.name)
        for position in inputs.indices {
            for variant in nonContiguousVariants(of: inputs[position]) {
                var changed = inputs
                changed[position] = variant.tensor
                expectClose(Self.run(fixture.op, changed), expected, "\(fixture.name) (input \(position) \(variant.name))")
            }
        }
    }

    @Test func whereSelectsAndBroadcasts() {
        let condition = Tensor([true, false, true])
        let result = Tensor.where(condition, Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]]), Tensor(0.0))
        expectClose(result, Tensor([[1, 0, 3], [4, 0, 6]] as [[Float]]))
        let a = Tensor.randn([2, 3], dtype: .float64, requiresGrad: true)
        let b = Tensor.randn([3], dtype: .float64, requiresGrad: true)
        #expect(gradcheck({ Tensor.where(condition, $0[0], $0[1]) }, inputs: [a, b]).passed)
    }

    @Test func logicalOperations() {
        let a = Tensor([true, true, false, false]), b = Tensor([true, false, true, false])
        #expect((a & b).scalars(as: Bool.self) == [true, false, false, false])
        #expect((a | b).scalars(as: Bool.self) == [true, true, true, false])
        #expect((a ^ b).scalars(as: Bool.self) == [false, true, true, false])
        #expect((!a).scalars(as: Bool.self) == [false, false, true, true])
        let x = Tensor([1, .nan, .infinity, -.infinity] as [Double])
        #expect(x.isNaN().scalars(as: Bool.self) == [false, true, false, false])
        #expect(x.isInf().scalars(as: Bool.self) == [false, false, true, true])
        #expect(x.isFinite().scalars(as: Bool.self) == [true, false, false, false])
    }
}
