import Foundation
import Testing
@testable import Ember

/// PyTorch's promotion rules, checked against `Fixtures/promotion.json`
/// (scripts/fixtures/generate_promotion.py, generated with torch; the tests never need torch).
@Suite struct DTypeTests {
    struct Operand: Decodable, CustomStringConvertible {
        let kind: String
        let dtype: String
        var description: String { "\(kind) \(dtype)" }

        /// A 1-D tensor, a 0-d tensor, or a Swift scalar wrapped as in `x * 2`.
        var tensor: Tensor {
            switch kind {
            case "tensor": return Tensor.ones([2], dtype: DType(name: dtype))
            case "zeroDim": return Tensor.ones([], dtype: DType(name: dtype))
            default:
                switch dtype {
                case "int64": return Tensor(wrapping: 2)
                case "float64": return Tensor(wrapping: 2.5)
                case "bool": return Tensor(wrapping: true)
                default: fatalError("promotion fixture: no Swift scalar of dtype \(dtype)")
                }
            }
        }
    }

    struct ResultTypeCase: Decodable, CustomTestStringConvertible {
        let a: Operand
        let b: Operand
        let result: String
        var testDescription: String { "\(a) ⊕ \(b)" }
    }

    struct File: Decodable {
        let promote: [[String]]
        let resultType: [ResultTypeCase]
    }

    static let fixture: File = {
        guard let url = Bundle.module.url(forResource: "promotion", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("fixture promotion.json is missing; run scripts/fixtures/generate_promotion.py")
        }
        do { return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)) } catch {
            fatalError("fixture promotion.json is unreadable: \(error)")
        }
    }()

    @Test func promotionTableCoversEveryPair() {
        #expect(Self.fixture.promote.count == DType.allCases.count * DType.allCases.count)
        for row in Self.fixture.promote {
            let a = DType(name: row[0]), b = DType(name: row[1]), expected = DType(name: row[2])
            #expect(DType.promote(a, b) == expected, "promote(\(a), \(b))")
        }
    }

    @Test func promotionIsSymmetricAndIdempotent() {
        for a in DType.allCases {
            #expect(DType.promote(a, a) == a)
            for b in DType.allCases { #expect(DType.promote(a, b) == DType.promote(b, a), "\(a), \(b)") }
        }
    }

    @Test(arguments: fixture.resultType)
    func resultTypeMatchesTorch(_ fixture: ResultTypeCase) {
        let expected = DType(name: fixture.result)
        let a = fixture.a.tensor, b = fixture.b.tensor
        #expect(DType.resultType(a, b) == expected)
        // The operators take the same route: mul accepts every dtype, bool included.
        #expect((a * b).dtype == expected)
    }

    @Test func scalarOperandsThroughThePublicOperators() {
        let ints = Tensor([1, 2] as [Int32])
        #expect((ints * 2).dtype == .int32)                 // an int scalar never widens
        #expect((ints * 2.5).dtype == .float32)             // a float scalar gives the default float
        expectClose(ints * 2.5, Tensor([2.5, 5] as [Float]))
        #expect((Tensor([true, false]) + 1).dtype == .int64)
        #expect((Tensor([true, false]) * true).dtype == .bool)
        #expect((Tensor([1, 2] as [Float]).to(.float16) * 3.0).dtype == .float16)
        #expect((Tensor([1, 2] as [Float]).to(.bfloat16) + Tensor(1.5)).dtype == .bfloat16)   // 0-d float64
        #expect((Tensor([1, 2] as [UInt8]) + Tensor(Int64(300))).dtype == .uint8)             // 0-d int64
        #expect((Tensor([1, 2] as [Int32]) + Tensor(2.5)).dtype == .float64)                  // 0-d wins by category
        #expect((Tensor(Int32(1)) + Tensor(2.5 as Float)).dtype == .float32)                  // 0-d ⊕ 0-d
        #expect((2.5 * Tensor(Int64(3))).dtype == .float32)                                  // scalar ⊕ 0-d
        // Swift Float and Double scalars are both "Python floats": neither widens float16.
        #expect((Tensor([1] as [Float]).to(.float16) + Float(1)).dtype == .float16)
        // Division promotes integers to the default float, like torch.div.
        #expect((Tensor([1, 2] as [Int]) / 2).dtype == .float32)
    }

    @Test func dtypeProperties() {
        let sizes: [DType: Int] = [.float32: 4, .float64: 8, .float16: 2, .bfloat16: 2, .int32: 4, .int64: 8, .uint8: 1, .bool: 1]
        for dtype in DType.allCases {
            #expect(dtype.byteSize == sizes[dtype])
            #expect(dtype.isFloatingPoint == [.float32, .float64, .float16, .bfloat16].contains(dtype))
            #expect(dtype.isIntegral == !dtype.isFloatingPoint)
            #expect(DType(name: dtype.description) == dtype)
        }
        #expect(DType.float16.computeType == .float32 && DType.bfloat16.computeType == .float32)
        #expect(DType.int32.computeType == .int32 && DType.float64.computeType == .float64)
        #expect(DType.defaultFloat == .float32)
    }
}

extension DType {
    /// The dtype called `name` (`float32`, ...), for fixtures.
    init(name: String) {
        guard let dtype = DType.allCases.first(where: { $0.description == name }) else {
            fatalError("unknown dtype \(name)")
        }
        self = dtype
    }
}
