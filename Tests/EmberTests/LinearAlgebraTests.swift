import Testing
@testable import Ember

/// Reference checks for the matrix products against numpy (scripts/fixtures/generate_linalg.py):
/// every case on contiguous and non-contiguous inputs, gradcheck in float64 for every shape
/// form, gradgradcheck for matmul, and the error messages.
@Suite struct LinearAlgebraTests {
    static let cases = Fixtures.load("linalg")

    static func apply(_ op: String, _ a: Tensor, _ b: Tensor) -> Tensor {
        switch op {
        case "matmul": return a.matmul(b)
        case "mm": return a.mm(b)
        case "bmm": return a.bmm(b)
        case "dot": return a.dot(b)
        case "outer": return a.outer(b)
        default: fatalError("no linear-algebra op named \(op)")
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

    static let gradcheckCases = cases.filter { $0.name.contains("/float64/") && !$0.name.hasSuffix("blocked") }

    @Test(arguments: gradcheckCases)
    func gradcheckFloat64(_ fixture: FixtureCase) {
        let a = fixture.inputs[0].tensor.requiresGrad_(), b = fixture.inputs[1].tensor.requiresGrad_()
        let op = fixture.op
        let result = gradcheck({ Self.apply(op, $0[0], $0[1]) }, inputs: [a, b])
        #expect(result.passed, "\(fixture.name): \(result.report)")
    }

    @Test(arguments: [
        ([3, 4], [4, 2]), ([4], [4]), ([3, 4], [4]), ([4], [4, 2]), ([2, 1, 2, 3], [2, 3, 2]), ([2, 2, 3], [3, 2]),
    ] as [([Int], [Int])])
    func gradgradcheckMatmul(_ shapes: ([Int], [Int])) {
        let generator = RandomGenerator(seed: 3)
        let a = Tensor.randn(shapes.0, dtype: .float64, generator: generator).requiresGrad_()
        let b = Tensor.randn(shapes.1, dtype: .float64, generator: generator).requiresGrad_()
        let result = gradgradcheck({ $0[0].matmul($0[1]) }, inputs: [a, b])
        #expect(result.passed, "\(shapes): \(result.report)")
    }

    @Test func resultShapesFollowTorch() {
        let cases: [([Int], [Int], [Int])] = [
            ([3], [3], []), ([2, 3], [3], [2]), ([3], [3, 4], [4]), ([2, 3], [3, 4], [2, 4]),
            ([2, 1, 3, 4], [5, 4, 6], [2, 5, 3, 6]), ([7, 2, 3], [3], [7, 2]), ([3], [7, 3, 2], [7, 2]),
            ([0, 3], [3, 4], [0, 4]), ([3, 0], [0, 4], [3, 4]),
        ]
        for (a, b, expected) in cases {
            #expect(Tensor.zeros(a).matmul(Tensor.zeros(b)).shape == expected, "\(a) · \(b)")
        }
    }

    @Test func emptyInnerDimensionGivesZeros() {
        for dtype in [DType.float32, .float64, .int64, .float16] {
            let result = Tensor.empty([3, 0], dtype: dtype).matmul(Tensor.empty([0, 4], dtype: dtype))
            #expect(result.dtype == dtype)
            #expect(result.scalars(as: Double.self) == [Double](repeating: 0, count: 12), "\(dtype)")
        }
    }

    /// Transposed views take GEMM's strided path (no copy); check it against the same values
    /// made contiguous, at sizes that reach the packed (blocked) kernel and the threaded split.
    @Test(arguments: [DType.float32, .float64])
    func transposedViewsMatchContiguous(_ dtype: DType) {
        let generator = RandomGenerator(seed: 11)
        let a = Tensor.randn([70, 50], dtype: dtype, generator: generator)
        let b = Tensor.randn([60, 70], dtype: dtype, generator: generator)
        let expected = a.t.contiguous().matmul(b.t.contiguous())
        expectClose(a.t.matmul(b.t), expected, relative: 1e-4, absolute: 1e-4, "\(dtype) both transposed")
        expectClose(a.t.matmul(b.t.contiguous()), expected, relative: 1e-4, absolute: 1e-4, "\(dtype) left transposed")
        let batch = Tensor.randn([3, 40, 30], dtype: dtype, generator: generator)
        let batchExpected = batch.transposed(-1, -2).contiguous().matmul(batch)
        expectClose(batch.transposed(-1, -2).matmul(batch), batchExpected, relative: 1e-4, absolute: 1e-4, "\(dtype) batched")
    }

    /// Many small matrices are split across threads by batch; every product must land in its slot.
    @Test func smallBatchesMatchPerMatrixProducts() {
        let generator = RandomGenerator(seed: 5)
        let a = Tensor.randn([300, 6, 5], dtype: .float64, generator: generator)
        let b = Tensor.randn([300, 5, 7], dtype: .float64, generator: generator)
        let product = a.bmm(b)
        for batch in [0, 1, 150, 299] {
            expectClose(product[batch], a[batch].mm(b[batch]), "batch \(batch)")
        }
        // Broadcast batch dimensions read the shared operand at stride 0.
        let shared = Tensor.randn([5, 7], dtype: .float64, generator: generator).expanded(to: [300, 5, 7])
        expectClose(a.matmul(shared)[42], a[42].mm(shared[0]), "broadcast batch")
    }

    @Test func halfPrecisionComputesInFloat32() {
        let generator = RandomGenerator(seed: 9)
        let a = Tensor.randn([4, 6], generator: generator), b = Tensor.randn([6, 3], generator: generator)
        for dtype in [DType.float16, .bfloat16] {
            let result = a.to(dtype).matmul(b.to(dtype))
            #expect(result.dtype == dtype)
            expectClose(result.to(.float32), a.to(dtype).to(.float32).matmul(b.to(dtype).to(.float32)),
                        relative: 2e-2, absolute: 2e-2, "\(dtype)")
        }
    }

    @Test func linearLayerGradientFoldsTheBatch() {
        // [B, T, k] · [k, m]: grad of the weight is one GEMM over B*T rows; compare with the
        // explicit sum of per-batch products.
        let generator = RandomGenerator(seed: 2)
        let x = Tensor.randn([4, 3, 5], dtype: .float64, generator: generator)
        let w = Tensor.randn([5, 2], dtype: .float64, generator: generator).requiresGrad_()
        let g = Tensor.randn([4, 3, 2], dtype: .float64, generator: generator)
        x.matmul(w).backward(gradient: g)
        var expected = Tensor.zeros([5, 2], dtype: .float64)
        for batch in 0..<4 { expected = expected + x[batch].t.mm(g[batch]) }
        expectClose(w.grad!, expected)
    }

    @Test func mismatchedInnerDimensionsStopWithShapes() async throws {
        let exit = try #require(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5]))
        })
        let message = String(decoding: exit.standardErrorContent, as: UTF8.self)
        #expect(message.contains("matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)"), "\(message)")
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 3, 4]).matmul(Tensor.zeros([3, 5, 6]))   // batch 2 vs 3
        }
    }

    @Test func zeroDimensionalOperandsAreRejected() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor(2.0).matmul(Tensor([1.0, 2.0]))
        }
    }

    @Test func mixedDTypesAndBoolAreRejected() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 2]).matmul(Tensor.zeros([2, 2], dtype: .float64))
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.full([2, 2], true).matmul(Tensor.full([2, 2], true))
        }
    }

    @Test func strictFormsCheckRanks() async {
        await #expect(processExitsWith: .failure) { _ = Tensor.zeros([2, 3]).bmm(Tensor.zeros([2, 3, 4])) }
        await #expect(processExitsWith: .failure) { _ = Tensor.zeros([2, 3, 4]).bmm(Tensor.zeros([3, 4, 5])) }
        await #expect(processExitsWith: .failure) { _ = Tensor.zeros([3]).mm(Tensor.zeros([3, 4])) }
        await #expect(processExitsWith: .failure) { _ = Tensor.zeros([3]).dot(Tensor.zeros([4])) }
        await #expect(processExitsWith: .failure) { _ = Tensor.zeros([2, 3]).dot(Tensor.zeros([3])) }
        await #expect(processExitsWith: .failure) { _ = Tensor.zeros([2, 3]).outer(Tensor.zeros([3])) }
    }
}
