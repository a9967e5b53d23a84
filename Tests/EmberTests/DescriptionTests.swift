import Foundation
import Testing
@testable import Ember

/// `description` against PyTorch's `str(tensor)`, from `Fixtures/printing.json`
/// (scripts/fixtures/generate_printing.py, generated with torch).
@Suite struct DescriptionTests {
    struct Arange: Decodable {
        let scale: Double
        let offset: Double
    }

    struct Case: Decodable, CustomTestStringConvertible {
        let name: String
        let dtype: String
        let shape: [Int]
        let data: [FixtureNumber]?
        let arange: Arange?
        let requiresGrad: Bool?
        let op: String?
        let expected: String
        var testDescription: String { name }

        var tensor: Tensor {
            let count = shape.reduce(1, *)
            let values = data.map { $0.map(\.value) }
                ?? (0..<count).map { Double($0) * arange!.scale + arange!.offset }
            var tensor = Tensor(shape: shape, scalars: values).to(DType(name: dtype))
            if requiresGrad == true { tensor.requiresGrad = true }
            if op == "mulByTwo" { tensor = tensor * 2 }
            return tensor
        }
    }

    struct File: Decodable { let cases: [Case] }

    static let cases: [Case] = {
        guard let url = Bundle.module.url(forResource: "printing", withExtension: "json", subdirectory: "Fixtures") else {
            fatalError("fixture printing.json is missing; run scripts/fixtures/generate_printing.py")
        }
        do { return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases } catch {
            fatalError("fixture printing.json is unreadable: \(error)")
        }
    }()

    /// Ember's deliberate spelling differences from PyTorch, and nothing else:
    /// `dtype=float64` for `dtype=torch.float64`, `requiresGrad=true` for `requires_grad=True`,
    /// and `gradFn=<mulBackward>` for `grad_fn=<MulBackward0>`.
    static func inTorchSpelling(_ text: String) -> String {
        var result = text
        for dtype in DType.allCases {
            result = result.replacingOccurrences(of: "dtype=\(dtype))", with: "dtype=torch.\(dtype))")
            result = result.replacingOccurrences(of: "dtype=\(dtype),", with: "dtype=torch.\(dtype),")
        }
        result = result.replacingOccurrences(of: "requiresGrad=true", with: "requires_grad=True")
        if let range = result.range(of: #"gradFn=<([a-z])(\w*)Backward>"#, options: .regularExpression) {
            let name = String(result[range].dropFirst("gradFn=<".count).dropLast("Backward>".count))
            result.replaceSubrange(range, with: "grad_fn=<\(name.prefix(1).uppercased() + name.dropFirst())Backward0>")
        }
        return result
    }

    @Test(arguments: cases)
    func matchesTorch(_ fixture: Case) {
        let printed = fixture.tensor.description
        #expect(Self.inTorchSpelling(printed) == fixture.expected, "Ember printed:\n\(printed)\nPyTorch:\n\(fixture.expected)")
    }

    @Test func emberSpellings() {
        #expect(Tensor([1.5, 2] as [Double]).description == "tensor([1.5000, 2.0000], dtype=float64)")
        #expect(Tensor([1, 2] as [Float]).requiresGrad_().description == "tensor([1., 2.], requiresGrad=true)")
        #expect((Tensor([1, 2] as [Float]).requiresGrad_() * 2).description == "tensor([2., 4.], gradFn=<mulBackward>)")
        #expect(Tensor([1, 2] as [Float]).debugDescription == Tensor([1, 2] as [Float]).description)
    }

    @Test func viewsPrintTheirOwnElements() {
        let matrix = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6] as [Int])
        #expect(matrix.transposed(0, 1).description == "tensor([[1, 4],\n        [2, 5],\n        [3, 6]])")
        #expect(matrix[1].description == "tensor([4, 5, 6])")
    }

    @Test func printingDoesNotRecordAutograd() {
        let x = Tensor([1, 2] as [Float]).requiresGrad_()
        let y = x * 3
        _ = y.description
        #expect(y.gradFunction != nil)
        y.sum().backward()
        expectClose(x.grad!, Tensor([3, 3] as [Float]))
    }
}
