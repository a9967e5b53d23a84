import Foundation
import Testing
@testable import Ember

/// numpy references from `Fixtures/creation.json` (scripts/fixtures/generate_creation.py).
enum CreationFixture {
    struct Arange: Decodable, CustomTestStringConvertible {
        let start: Double, end: Double, step: Double
        let values: [FixtureNumber]
        var testDescription: String { "arange(\(start), \(end), step: \(step))" }
        var isIntegral: Bool { [start, end, step].allSatisfy { $0 == $0.rounded() } }
    }
    struct Linspace: Decodable, CustomTestStringConvertible {
        let start: Double, end: Double
        let steps: Int
        let values: [FixtureNumber]
        var testDescription: String { "linspace(\(start), \(end), steps: \(steps))" }
    }
    struct Float16Conversions: Decodable {
        let values: [FixtureNumber]
        let bits: [UInt16]
    }
    struct HalfToFloat: Decodable {
        let bits: [UInt16]
        let values: [FixtureNumber]
    }
    struct File: Decodable {
        let arange: [Arange]
        let linspace: [Linspace]
        let float16: Float16Conversions
        let half_to_float: HalfToFloat
    }

    static let file: File = {
        guard let url = Bundle.module.url(forResource: "creation", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("fixture creation.json is missing; run scripts/fixtures/generate_creation.py")
        }
        do { return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)) } catch {
            fatalError("fixture creation.json is unreadable: \(error)")
        }
    }()
}

/// The raw 16-bit patterns of a float16 or bfloat16 tensor.
func halfBits(_ tensor: Tensor) -> [UInt16] {
    let contiguous = tensor.contiguous()
    precondition(contiguous.dtype == .float16 || contiguous.dtype == .bfloat16)
    return Array(UnsafeBufferPointer(start: contiguous.baseAddress.assumingMemoryBound(to: UInt16.self), count: contiguous.count))
}

/// A float16 or bfloat16 tensor holding `bits`.
func halfTensor(bits: [UInt16], dtype: DType) -> Tensor {
    let tensor = Tensor.empty([bits.count], dtype: dtype)
    bits.withUnsafeBytes { tensor.baseAddress.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    return tensor
}

/// The text an exit test's child process wrote to standard error.
func standardError(_ result: ExitTest.Result?) -> String {
    result.map { String(decoding: $0.standardErrorContent, as: UTF8.self) } ?? ""
}

@Suite struct TensorFromSwiftValuesTests {
    @Test func shapeAndScalars() {
        let m = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6] as [Float])
        #expect(m.shape == [2, 3] && m.strides == [3, 1] && m.rank == 2 && m.count == 6)
        #expect(m.dtype == .float32 && m.isContiguous && m.storageOffset == 0)
        #expect(m.scalars(as: Float.self) == [1, 2, 3, 4, 5, 6])
        #expect(Tensor(shape: [0, 4], scalars: [Float]()).shape == [0, 4])
        #expect(Tensor(shape: [], scalars: [7] as [Int32]).rank == 0)
    }

    @Test func eachSwiftTypeHasItsDType() {
        #expect(Tensor([1.5] as [Float]).dtype == .float32)
        #expect(Tensor([1.5] as [Double]).dtype == .float64)
        #expect(Tensor([1] as [Int32]).dtype == .int32)
        #expect(Tensor([1] as [Int64]).dtype == .int64)
        #expect(Tensor([1] as [Int]).dtype == .int64)
        #expect(Tensor([1] as [UInt8]).dtype == .uint8)
        #expect(Tensor([true]).dtype == .bool)
        #expect(Tensor([Int.max, Int.min + 1]).scalars(as: Int.self) == [Int.max, Int.min + 1])   // exact int64
    }

    @Test func shapeMismatchStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor(shape: [2, 2], scalars: [1, 2, 3] as [Float])
        }
        #expect(standardError(result).contains("Tensor: shape [2, 2] is invalid for input of size 3"))
    }

    @Test func negativeDimensionStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor(shape: [-1, 2], scalars: [Float]())
        }
        #expect(standardError(result).contains("negative dimension in shape [-1, 2]"))
    }

    @Test func nestedArrays() {
        let v = Tensor([1, 2, 3] as [Double])
        #expect(v.shape == [3] && v.scalars(as: Double.self) == [1, 2, 3])
        let m = Tensor([[1, 2, 3], [4, 5, 6]] as [[Int32]])
        #expect(m.shape == [2, 3] && m.dtype == .int32 && m.scalars(as: Int32.self) == [1, 2, 3, 4, 5, 6])
        let c = Tensor([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]] as [[[Float]]])
        #expect(c.shape == [2, 3, 2] && c.scalars(as: Float.self) == (1...12).map(Float.init))
        #expect(c[1, 2, 0].item() == 11)
        let h = Tensor([[[[1, 2]], [[3, 4]]], [[[5, 6]], [[7, 8]]], [[[9, 10]], [[11, 12]]]] as [[[[Int]]]])
        #expect(h.shape == [3, 2, 1, 2] && h.scalars(as: Int.self) == Array(1...12))
        #expect(Tensor([[true, false], [false, true]]).scalars(as: Bool.self) == [true, false, false, true])
        #expect(Tensor([[Float]]()).shape == [0, 0])
        #expect(Tensor([[]] as [[Float]]).shape == [1, 0])          // torch.tensor([[]]).shape == (1, 0)
        #expect(Tensor([[[]], [[]]] as [[[Float]]]).shape == [2, 1, 0])
    }

    @Test func raggedRowsStopWithPyTorchsMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([[1, 2], [3]] as [[Float]])
        }
        #expect(standardError(result).contains("expected sequence of length 2 at dim 1 (got 1)"))
    }

    @Test func raggedPlanesStop() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([[[1, 2], [3, 4]], [[1, 2], [3]]] as [[[Float]]])
        }
        #expect(standardError(result).contains("expected sequence of length 2 at dim 2 (got 1)"))
        let rows = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([[[1], [2]], [[3]]] as [[[Int]]])
        }
        #expect(standardError(rows).contains("expected sequence of length 2 at dim 1 (got 1)"))
    }

    @Test func raggedBlocksStop() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([[[[1, 2]], [[3, 4]]], [[[5, 6]], [[7, 8, 9]]]] as [[[[Float]]]])
        }
        #expect(standardError(result).contains("expected sequence of length 2 at dim 3 (got 3)"))
        let planes = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([[[[1]], [[2]]], [[[3]]]] as [[[[Float]]]])
        }
        #expect(standardError(planes).contains("expected sequence of length 2 at dim 1 (got 1)"))
    }

    @Test func zeroDimensionalScalars() {
        let x = Tensor(3.5)
        #expect(x.rank == 0 && x.shape == [] && x.strides == [] && x.count == 1 && x.dtype == .float64)
        #expect(x.item() == 3.5)
        #expect(Tensor(Float(2.25)).dtype == .float32)
        #expect(Tensor(Int32(-7)).item(as: Int32.self) == -7)
        #expect(Tensor(true).dtype == .bool && Tensor(true).item(as: Bool.self))
        #expect(Tensor(UInt8(200)).item(as: Int.self) == 200)
    }

    @Test func itemReadsOneElementOfAnyShape() {
        #expect(Tensor([[2]] as [[Int]]).item(as: Int.self) == 2)
        #expect(Tensor([[[0.5]]] as [[[Float]]]).item(as: Double.self) == 0.5)
        #expect(Tensor([1.75] as [Float]).to(.float16).item() == 1.75)
        let view = Tensor([1, 2, 3, 4] as [Float])[2...]
        #expect(view[0].item() == 3)
    }

    @Test func itemOfManyElementsStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([1, 2] as [Float]).item()
        }
        #expect(standardError(result).contains("a Tensor with 2 elements cannot be converted to a scalar"))
    }

    @Test func scalarsAsEveryElementType() {
        let x = Tensor([1.5, -2.5, 0, 3] as [Float])
        #expect(x.scalars(as: Float.self) == [1.5, -2.5, 0, 3])
        #expect(x.scalars(as: Double.self) == [1.5, -2.5, 0, 3])
        #expect(x.scalars(as: Int32.self) == [1, -2, 0, 3])
        #expect(x.scalars(as: Int64.self) == [1, -2, 0, 3])
        #expect(x.scalars(as: Int.self) == [1, -2, 0, 3])
        #expect(x.scalars(as: UInt8.self) == [1, 254, 0, 3])          // wraps like numpy and torch on x86
        #expect(x.scalars(as: Bool.self) == [true, true, false, true])
        // From a non-contiguous view, in the view's order.
        let m = Tensor([[1, 2, 3], [4, 5, 6]] as [[Int32]]).transposed(0, 1)
        #expect(m.scalars(as: Int32.self) == [1, 4, 2, 5, 3, 6])
        #expect(m.scalars(as: Double.self) == [1, 4, 2, 5, 3, 6])
        #expect(Tensor([true, false]).scalars(as: Float.self) == [1, 0])
    }
}

@Suite struct FactoryTests {
    @Test func zerosOnesFullEmpty() {
        let z = Tensor.zeros([2, 3])
        #expect(z.shape == [2, 3] && z.dtype == .float32 && z.scalars(as: Float.self) == Array(repeating: 0, count: 6))
        let o = Tensor.ones([4], dtype: .int32)
        #expect(o.dtype == .int32 && o.scalars(as: Int32.self) == [1, 1, 1, 1])
        #expect(Tensor.ones([2], dtype: .bool).scalars(as: Bool.self) == [true, true])
        #expect(Tensor.zeros([0, 3]).count == 0)
        #expect(Tensor.zeros([]).rank == 0 && Tensor.zeros([]).item() == 0)
        for dtype in DType.allCases {
            #expect(Tensor.zeros([3], dtype: dtype).scalars(as: Double.self) == [0, 0, 0], "\(dtype)")
            #expect(Tensor.ones([3], dtype: dtype).scalars(as: Double.self) == [1, 1, 1], "\(dtype)")
            #expect(Tensor.empty([2, 5], dtype: dtype).shape == [2, 5] && Tensor.empty([2, 5], dtype: dtype).dtype == dtype)
        }
        #expect(Tensor.empty([3]).dtype == .float32)
    }

    @Test func fullChoosesPyTorchsDType() {
        #expect(Tensor.full([2], 7.0).dtype == .float32)                 // a float value: the default float
        #expect(Tensor.full([2], Float(7)).dtype == .float32)
        #expect(Tensor.full([2], 7).dtype == .int64)                     // torch.full((2,), 7).dtype == int64
        #expect(Tensor.full([2], true).dtype == .bool)                   // torch.full((2,), True).dtype == bool
        #expect(Tensor.full([2], Int32(7)).dtype == .int32)
        #expect(Tensor.full([2, 2], 2.5, dtype: .float64).scalars(as: Double.self) == [2.5, 2.5, 2.5, 2.5])
        #expect(Tensor.full([3], -1.75, dtype: .bfloat16).scalars(as: Double.self) == [-1.75, -1.75, -1.75])
        #expect(Tensor.full([2], 300, dtype: .int32).scalars(as: Int32.self) == [300, 300])
        #expect(Tensor.full([2], 2.9, dtype: .int64).scalars(as: Int.self) == [2, 2])
    }

    @Test func likeFactoriesTakeShapeAndDType() {
        let base = Tensor([[1, 2, 3], [4, 5, 6]] as [[Int32]]).transposed(0, 1)
        for (made, value) in [(Tensor.zerosLike(base), 0.0), (Tensor.onesLike(base), 1), (Tensor.fullLike(base, 9), 9)] {
            #expect(made.shape == [3, 2] && made.dtype == .int32 && made.isContiguous)
            #expect(made.scalars(as: Double.self) == Array(repeating: value, count: 6))
        }
        #expect(Tensor.emptyLike(base).shape == [3, 2] && Tensor.emptyLike(base).dtype == .int32)
        #expect(Tensor.zerosLike(base, dtype: .float64).dtype == .float64)
        #expect(Tensor.fullLike(base, 2.5, dtype: .float16).scalars(as: Float.self) == Array(repeating: 2.5, count: 6))
        #expect(Tensor.fullLike(base, 2.5).scalars(as: Int32.self) == Array(repeating: 2, count: 6))   // base's dtype
    }

    @Test func factoriesCanRequireGrad() {
        let made: [Tensor] = [
            .zeros([2], requiresGrad: true), .ones([2], requiresGrad: true), .full([2], 3.0, requiresGrad: true),
            .empty([2], requiresGrad: true), .zerosLike(Tensor.ones([2]), requiresGrad: true),
            .onesLike(Tensor.ones([2]), requiresGrad: true), .fullLike(Tensor.ones([2]), 1, requiresGrad: true),
            .emptyLike(Tensor.ones([2]), requiresGrad: true), .arange(0, 3, step: 0.5, requiresGrad: true),
            .linspace(0, 1, steps: 3, requiresGrad: true), .eye(2, requiresGrad: true),
            .rand([2], requiresGrad: true), .randn([2], requiresGrad: true),
        ]
        for tensor in made {
            #expect(tensor.requiresGrad && tensor.isLeaf && tensor.gradFunction == nil)
        }
        #expect(!Tensor.zeros([2]).requiresGrad)
        let w = Tensor.ones([3], dtype: .float64, requiresGrad: true)
        (w * 2).sum().backward()
        #expect(w.grad!.scalars(as: Double.self) == [2, 2, 2])
    }

    @Test func integerTensorsCannotRequireGrad() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2], dtype: .int64, requiresGrad: true)
        }
        #expect(standardError(result).contains("only Tensors of floating point dtype can require gradients"))
    }
}

@Suite struct RangeTests {
    @Test(arguments: CreationFixture.file.arange)
    func arangeMatchesNumpy(_ fixture: CreationFixture.Arange) {
        let expected = fixture.values.map(\.value)
        if fixture.isIntegral {
            let tensor = Tensor.arange(Int(fixture.start), Int(fixture.end), step: Int(fixture.step))
            #expect(tensor.dtype == .int64)
            #expect(tensor.scalars(as: Double.self) == expected)
        }
        let tensor = Tensor.arange(fixture.start, fixture.end, step: fixture.step, dtype: .float64)
        #expect(tensor.shape == [expected.count])
        expectClose(tensor, Tensor(expected), relative: 1e-15, absolute: 1e-15, fixture.testDescription)
        let defaultFloat = Tensor.arange(fixture.start, fixture.end, step: fixture.step)
        #expect(defaultFloat.dtype == .float32)
        expectClose(defaultFloat, Tensor(expected).to(.float32), relative: 0, absolute: 0, fixture.testDescription)
    }

    @Test func arangeDTypeRules() {
        #expect(Tensor.arange(5).dtype == .int64)                              // torch.arange(5)
        #expect(Tensor.arange(0, 5).dtype == .int64)                           // torch.arange(0, 5)
        #expect(Tensor.arange(0.0, 5.0).dtype == .float32)                     // torch.arange(0., 5.)
        #expect(Tensor.arange(0, 1, step: 0.25).dtype == .float32)
        #expect(Tensor.arange(2.5).scalars(as: Float.self) == [0, 1, 2])
        #expect(Tensor.arange(5, dtype: .float16).scalars(as: Float.self) == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(0, 4, dtype: .float64).dtype == .float64)
        // An integer dtype truncates start and step first (torch.arange(0, 5, 1.5, dtype=torch.int64)).
        #expect(Tensor.arange(0, 5, step: 1.5, dtype: .int64).scalars(as: Int.self) == [0, 1, 2, 3])
        #expect(Tensor.arange(0.5, 5, step: 1, dtype: .int32).scalars(as: Int32.self) == [0, 1, 2, 3, 4])
        // Integer arguments stay exact beyond 2^53.
        let big = 1 << 60
        #expect(Tensor.arange(big, big + 3).scalars(as: Int.self) == [big, big + 1, big + 2])
        #expect(Tensor.arange(0).shape == [0] && Tensor.arange(3, 3).shape == [0])
    }

    @Test func arangeWithWrongStepSignStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.arange(0, 5, step: -1)
        }
        #expect(standardError(result).contains("upper bound and lower bound inconsistent with step sign"))
        let zero = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.arange(0.0, 1.0, step: 0)
        }
        #expect(standardError(zero).contains("step must be nonzero"))
        let infinite = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.arange(0, Double.infinity)
        }
        #expect(standardError(infinite).contains("unsupported range: 0.0 -> inf"))
    }

    @Test(arguments: CreationFixture.file.linspace)
    func linspaceMatchesNumpy(_ fixture: CreationFixture.Linspace) {
        let expected = fixture.values.map(\.value)
        let tensor = Tensor.linspace(fixture.start, fixture.end, steps: fixture.steps, dtype: .float64)
        expectClose(tensor, Tensor(expected), relative: 1e-14, absolute: 1e-15, fixture.testDescription)
        if fixture.steps >= 2 { #expect(tensor.scalars(as: Double.self).last == fixture.end) }
        if fixture.steps >= 1 { #expect(tensor.scalars(as: Double.self).first == fixture.start) }
        let defaultFloat = Tensor.linspace(fixture.start, fixture.end, steps: fixture.steps)
        #expect(defaultFloat.dtype == .float32)
        expectClose(defaultFloat, Tensor(expected).to(.float32), fixture.testDescription)
    }

    @Test func linspaceEdgeCases() {
        #expect(Tensor.linspace(3, 7, steps: 1).scalars(as: Float.self) == [3])   // torch.linspace(3, 7, 1) == [3.]
        #expect(Tensor.linspace(0, 1, steps: 0).shape == [0])
        #expect(Tensor.linspace(0, 10, steps: 4, dtype: .int64).scalars(as: Int.self) == [0, 3, 6, 10])
        let fine = Tensor.linspace(0.1, 0.7, steps: 7, dtype: .float32).scalars(as: Float.self)
        #expect(fine.last == Float(0.7))
    }

    @Test func eye() {
        #expect(Tensor.eye(3).scalars(as: Float.self) == [1, 0, 0, 0, 1, 0, 0, 0, 1])
        let wide = Tensor.eye(2, 3)
        #expect(wide.shape == [2, 3] && wide.scalars(as: Float.self) == [1, 0, 0, 0, 1, 0])
        let tall = Tensor.eye(3, 2, dtype: .int32)
        #expect(tall.dtype == .int32 && tall.scalars(as: Int32.self) == [1, 0, 0, 1, 0, 0])
        #expect(Tensor.eye(0).shape == [0, 0] && Tensor.eye(2, 0).shape == [2, 0])
        #expect(Tensor.eye(2, dtype: .bool).scalars(as: Bool.self) == [true, false, false, true])
    }
}

@Suite struct ConversionTests {
    /// Values every dtype holds exactly.
    static let exact: [Double] = [0, 1, 2, 100]

    @Test(arguments: DType.allCases)
    func toBetweenEveryPair(_ source: DType) {
        let x = Tensor(Self.exact).to(source)
        for target in DType.allCases {
            let y = x.to(target)
            #expect(y.dtype == target && y.shape == [4])
            let expected = target == .bool || source == .bool ? Self.exact.map { $0 != 0 ? 1 : 0 } : Self.exact
            #expect(y.scalars(as: Double.self) == expected, "\(source) -> \(target)")
            // The same through a non-contiguous view.
            let strided = Tensor.stack([x, x], dim: 1)[..., 0]
            #expect(!strided.isContiguous)
            #expect(strided.to(target).scalars(as: Double.self) == expected, "\(source) -> \(target) (strided)")
        }
        #expect(x.to(source) === x)   // no copy when the dtype already matches
    }

    @Test(arguments: [DType.float32, .float64, .float16, .bfloat16])
    func floatToIntegerTruncatesTowardZero(_ source: DType) {
        let x = Tensor([-2.75, -1.5, -0.5, 0.5, 1.5, 2.75, 100.5] as [Double]).to(source)
        for target in [DType.int32, .int64] {
            #expect(x.to(target).scalars(as: Int.self) == [-2, -1, 0, 0, 1, 2, 100], "\(source) -> \(target)")
        }
        #expect(Tensor([0.9, 200.5] as [Double]).to(source).to(.uint8).scalars(as: Int.self) == [0, 200])
        #expect(Tensor([1e9 + 0.5] as [Double]).to(.int32).scalars(as: Int32.self) == [1_000_000_000])
        #expect(Tensor([-4e15 - 0.5] as [Double]).to(.int64).scalars(as: Int64.self) == [-4_000_000_000_000_000])
    }

    @Test(arguments: [DType.float32, .float64, .float16, .bfloat16])
    func nonFiniteToIntegerDoesNotCrash(_ source: DType) {
        // The values are platform-defined (PyTorch on x86 gives INT_MIN); the conversion must
        // not trap, and the finite neighbours must stay right.
        let x = Tensor([.nan, .infinity, -.infinity, 1e30, 3.5] as [Double]).to(source)
        for target in [DType.int32, .int64, .uint8] {
            let y = x.to(target)
            #expect(y.dtype == target && y.count == 5)
            #expect(y.scalars(as: Int.self)[4] == 3)
        }
    }

    @Test(arguments: DType.allCases)
    func anythingToBool(_ source: DType) {
        let values: [Double] = source.isFloatingPoint ? [0, -0.0, 0.5, -2, .nan, .infinity] : [0, 1, 2, 0, 1, 1]
        let expected: [Bool] = source.isFloatingPoint ? [false, false, true, true, true, true]
            : (source == .bool ? [false, true, true, false, true, true] : [false, true, true, false, true, true])
        #expect(Tensor(values).to(source).to(.bool).scalars(as: Bool.self) == expected, "\(source)")
    }

    @Test func float16RoundingMatchesNumpy() {
        let fixture = CreationFixture.file.float16
        let values = fixture.values.map { Float($0.value) }
        let source = Tensor(values)
        #expect(source.scalars(as: Float.self).elementsEqual(values) { $0 == $1 || ($0.isNaN && $1.isNaN) })
        let bits = halfBits(source.to(.float16))
        for (i, expected) in fixture.bits.enumerated() {
            if values[i].isNaN {
                #expect(bits[i] & 0x7c00 == 0x7c00 && bits[i] & 0x03ff != 0, "NaN stays NaN")
            } else {
                #expect(bits[i] == expected, "float16(\(values[i])): 0x\(String(bits[i], radix: 16)) != numpy 0x\(String(expected, radix: 16))")
            }
        }
        // The same conversions from float64 sources that are float32 values.
        #expect(halfBits(source.to(.float64).to(.float16)).elementsEqual(bits) { $0 == $1 || ($0 & 0x7c00 == 0x7c00 && $0 & 0x3ff != 0) })
    }

    @Test func float16DecodingMatchesNumpy() {
        let fixture = CreationFixture.file.half_to_float
        let decoded = halfTensor(bits: fixture.bits, dtype: .float16).to(.float64).scalars(as: Double.self)
        for (i, expected) in fixture.values.enumerated() {
            let value = expected.value
            #expect(decoded[i] == value || (decoded[i].isNaN && value.isNaN), "bits 0x\(String(fixture.bits[i], radix: 16))")
            #expect(decoded[i].sign == value.sign || value.isNaN)
        }
    }

    @Test func everyFloat16SurvivesARoundTrip() {
        let all = (0...UInt16.max).map { $0 }
        let back = halfBits(halfTensor(bits: all, dtype: .float16).to(.float32).to(.float16))
        for (original, converted) in zip(all, back) where original & 0x7c00 != 0x7c00 || original & 0x3ff == 0 {
            if original != converted { Issue.record("0x\(String(original, radix: 16)) came back as 0x\(String(converted, radix: 16))"); return }
        }
    }

    /// float64 -> float16 rounds through float32, as PyTorch does (c10::Half has a float
    /// constructor only); numpy rounds directly and can differ by one unit when the float32
    /// step lands exactly on a tie.
    @Test func float64ToFloat16RoundsThroughFloat32LikePyTorch() {
        let x = 1 + 0x1p-11 + 0x1p-40
        #expect(Tensor([x]).to(.float16).item() == 1.0)          // torch: 1.0, numpy: 1.0009765625
        #expect(Tensor([1 + 0x1p-11 + 0x1p-20]).to(.float16).item() == 1 + 0x1p-10)
    }

    /// bfloat16 is the top half of a float32, rounded to nearest even: add 0x7fff plus the
    /// lowest kept bit, then drop 16 bits; NaN stays NaN.
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        return UInt16((bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
    }

    @Test func bfloat16RoundingFollowsTheBitRule() {
        var values = CreationFixture.file.float16.values.map { Float($0.value) }.filter { !$0.isNaN }
        var generator = SystemRandomNumberGenerator()
        values += (0..<2000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &generator)) }.filter { !$0.isNaN }
        values += [1 + 0x1p-8, 1 + 3 * 0x1p-8, -(1 + 0x1p-8), .greatestFiniteMagnitude, Float.leastNormalMagnitude / 4, -Float.leastNormalMagnitude / 3, .leastNonzeroMagnitude]
        let bits = halfBits(Tensor(values).to(.bfloat16))
        for (value, converted) in zip(values, bits) where converted != Self.bfloat16Bits(value) {
            Issue.record("bfloat16(\(value)) = 0x\(String(converted, radix: 16)), expected 0x\(String(Self.bfloat16Bits(value), radix: 16))")
            return
        }
        // Hand-checked ties and overflow.
        #expect(Tensor([1 + 0x1p-8, 1 + 3 * 0x1p-8] as [Float]).to(.bfloat16).scalars(as: Float.self) == [1, 1 + 0x1p-6])
        #expect(Tensor([Float.greatestFiniteMagnitude]).to(.bfloat16).item() == .infinity)
        #expect(Tensor([Float.nan]).to(.bfloat16).item().isNaN)
        // bfloat16 -> float32 is exact: the bits move back up.
        let all = (0...UInt16.max).filter { $0 & 0x7f80 != 0x7f80 }
        let floats = halfTensor(bits: all, dtype: .bfloat16).to(.float32).scalars(as: Float.self)
        #expect(zip(all, floats).allSatisfy { UInt32($0) << 16 == $1.bitPattern })
    }

    @Test func float16OverflowAndSubnormals() {
        let x = Tensor([65504, 65519, 65520, 1e5, -1e5, 0x1p-24, 0x1p-25, 0x1p-26, 3 * 0x1p-25] as [Float])
        #expect(x.to(.float16).scalars(as: Float.self) == [65504, 65504, .infinity, .infinity, -.infinity, 0x1p-24, 0, 0, 0x1p-23])
        #expect(Tensor([Float.nan]).to(.float16).item().isNaN)
    }

    @Test func contiguousAndCloneOfViews() {
        let m = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
        #expect(m.contiguous() === m)
        let t = m.transposed(0, 1)
        #expect(!t.isContiguous)
        let c = t.contiguous()
        #expect(c.isContiguous && c.shape == [3, 2] && c.strides == [2, 1] && c.storage !== m.storage)
        #expect(c.scalars(as: Float.self) == [1, 4, 2, 5, 3, 6])
        let column = m[..., 1]
        #expect(column.contiguous().scalars(as: Float.self) == [2, 5])
        let strided = Tensor(Array(0..<10).map(Float.init))[stride(from: 1, to: 10, by: 3)]
        #expect(strided.contiguous().scalars(as: Float.self) == [1, 4, 7])
        // clone always copies, contiguous input or not, and the copy is independent.
        for view in [m, t, column] {
            let copy = view.clone()
            #expect(copy.storage !== view.storage && copy.isContiguous && copy.dtype == view.dtype)
            #expect(copy.scalars(as: Float.self) == view.scalars(as: Float.self))
        }
        let copy = m.clone()
        copy.fill_(0)
        #expect(m.scalars(as: Float.self) == [1, 2, 3, 4, 5, 6])
        // Gradients flow through both.
        let x = Tensor([[1, 2], [3, 4]] as [[Double]]).requiresGrad_()
        (x.transposed(0, 1).contiguous() * Tensor([[1, 2], [3, 4]] as [[Double]])).sum().backward()
        #expect(x.grad!.scalars(as: Double.self) == [1, 3, 2, 4])
        let y = Tensor([1, 2] as [Double]).requiresGrad_()
        (y.clone() * 3).sum().backward()
        #expect(y.grad!.scalars(as: Double.self) == [3, 3])
    }

    @Test func toRecordsGradientsBetweenFloatTypes() {
        let x = Tensor([1.5, 2.5] as [Double]).requiresGrad_()
        let y = x.to(.float32)
        #expect(y.gradFunction != nil)
        (y * 2).sum().backward()
        #expect(x.grad!.dtype == .float64 && x.grad!.scalars(as: Double.self) == [2, 2])
        #expect(x.to(.int64).gradFunction == nil && !x.to(.int64).requiresGrad)
    }
}
