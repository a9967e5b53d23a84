import Testing
@testable import Ember

/// View operations: values against numpy (fixtures/views.json) on contiguous and
/// non-contiguous inputs, storage sharing, gradients, subscripts and error messages.
@Suite struct ViewTests {
    static let cases = Fixtures.load("views")

    static func run(_ fixture: FixtureCase, _ x: Tensor) -> Tensor {
        let p = fixture.params ?? [:]
        switch fixture.op {
        case "permute": return x.permuted(p["dims"]!.ints)
        case "transpose": let dims = p["dims"]!.ints; return x.transposed(dims[0], dims[1])
        case "t": return x.t
        case "unsqueeze": return x.unsqueezed(p["dim"]!.int)
        case "squeeze":
            if case .text = p["dim"]! { return x.squeezed() }
            return x.squeezed(p["dim"]!.int)
        case "expand": return x.expanded(to: p["shape"]!.ints)
        case "narrow": return x.narrow(dim: p["dim"]!.int, start: p["start"]!.int, length: p["length"]!.int)
        case "select": return x.select(dim: p["dim"]!.int, index: p["index"]!.int)
        case "flatten": return x.flattened(startDim: p["start"]!.int, endDim: p["end"]!.int)
        case "reshape": return x.reshaped(p["shape"]!.ints)
        case "view": return x.view(p["shape"]!.ints)
        case "slice": return pythonSubscript(x, p["index"]!.text)
        default: fatalError("no view op named \(fixture.op)")
        }
    }

    /// `x[…]` for a Python subscript such as "0, ::2, 1:" or "None, 1" (integers, slices with
    /// optional bounds and step, None for a new axis), through the public subscript.
    static func pythonSubscript(_ x: Tensor, _ python: String) -> Tensor {
        let indices: [TensorIndex] = python.split(separator: ",").map { part in
            let text = String(part.filter { !$0.isWhitespace })
            if text == "None" { return .newAxis }
            guard text.contains(":") else { return .at(Int(text)!) }
            let bounds = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            return .slice(start: bounds[0], end: bounds[1], step: bounds.count > 2 ? bounds[2] ?? 1 : 1)
        }
        switch indices.count {
        case 1: return x[indices[0]]
        case 2: return x[indices[0], indices[1]]
        case 3: return x[indices[0], indices[1], indices[2]]
        case 4: return x[indices[0], indices[1], indices[2], indices[3]]
        default: fatalError("subscript \(python): at most 4 indices")
        }
    }

    @Test(arguments: cases)
    func matchesReference(_ fixture: FixtureCase) {
        let input = fixture.inputs[0].tensor
        let expected = fixture.expected!.tensor
        expectClose(Self.run(fixture, input), expected, fixture.name)
        for variant in nonContiguousVariants(of: input) {
            expectClose(Self.run(fixture, variant.tensor), expected, "\(fixture.name) (\(variant.name))")
        }
    }

    /// Every view of a contiguous tensor shares its storage, and writes through the view
    /// reach the base.
    @Test(arguments: cases)
    func sharesStorageWithTheBase(_ fixture: FixtureCase) {
        let base = fixture.inputs[0].tensor.contiguous()
        let view = Self.run(fixture, base)
        #expect(view.storage === base.storage, "\(fixture.name)")
        guard view.count > 0, fixture.op != "expand" else { return }
        view.fill_(100.0)
        let written = base.scalars(as: Double.self).filter { $0 == 100 }.count
        #expect(written == view.count, "\(fixture.name): \(written) elements of the base changed, expected \(view.count)")
    }

    @Test(arguments: cases)
    func gradcheckFloat64(_ fixture: FixtureCase) {
        let input = fixture.inputs[0].tensor.requiresGrad_()
        let result = gradcheck({ Self.run(fixture, $0[0]) }, inputs: [input])
        #expect(result.passed, "\(fixture.name): \(result.report)")
        // A second view on top of the first, so gradients flow through a chain of views.
        let chained = gradcheck({ Self.run(fixture, $0[0]).reshaped([-1]) * 2 }, inputs: [input])
        #expect(chained.passed, "\(fixture.name) chained: \(chained.report)")
    }

    @Test func gradgradcheckThroughViews() {
        let x = Tensor.randn([2, 3], dtype: .float64, requiresGrad: true)
        let result = gradgradcheck({ ($0[0] * $0[0]).t.unsqueezed(0).expanded(to: [2, 3, 2])[1, 1..., 0] }, inputs: [x])
        #expect(result.passed, "\(result.report)")
    }

    // MARK: Reshape and view

    @Test func reshapeCopiesOnlyWhenItMust() {
        let x = Tensor.arange(12).reshaped([3, 4])
        #expect(x.reshaped([2, -1]).shape == [2, 6])
        #expect(x.reshaped([2, -1]).storage === x.storage)
        #expect(x.reshaped(3, 4) === x)
        // A transposed matrix cannot be flattened without a copy: reshape copies, view refuses.
        let transposed = x.t
        let flat = transposed.reshaped([-1])
        #expect(flat.storage !== x.storage)
        #expect(flat.scalars(as: Int.self) == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        // Non-contiguous inputs that can be viewed: splitting a dimension, columns of a slice.
        let split = transposed.view([2, 2, 3])
        #expect(split.storage === x.storage)
        #expect(split.scalars(as: Int.self) == transposed.contiguous().scalars(as: Int.self))
        let rows = x[0..<3, 1...].view([3, 3, 1])
        #expect(rows.storage === x.storage)
        #expect(rows.scalars(as: Int.self) == [1, 2, 3, 5, 6, 7, 9, 10, 11])
        // 0-d and empty tensors.
        #expect(Tensor(5.0).reshaped([1, 1]).shape == [1, 1])
        #expect(Tensor([5.0]).reshaped([]).shape == [])
        #expect(Tensor(5.0).flattened().shape == [1])
        #expect(Tensor.zeros([2, 0]).reshaped([0, 7]).shape == [0, 7])
    }

    @Test func viewErrors() async {
        let view = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([3, 4]).t.view([-1])
        }
        expectMessage(view, "view: view size is not compatible with input tensor's size and stride (shape [4, 3], strides [1, 4], requested [-1])")
        let size = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([3, 4]).reshaped([5, -1])
        }
        expectMessage(size, "reshape: shape [5, -1] is invalid for input of size 12")
        let twoInferred = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([3, 4]).view([-1, -1])
        }
        expectMessage(twoInferred, "view: only one dimension can be inferred")
        let permute = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).permuted([0, 0])
        }
        expectMessage(permute, "permute: repeated dim in [0, 0]")
        let expand = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).expanded(to: [2, 4])
        }
        expectMessage(expand, "expand: the expanded size of the tensor (4) must match the existing size (3) at non-singleton dimension 1")
        let narrow = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).narrow(dim: 1, start: 2, length: 2)
        }
        expectMessage(narrow, "narrow: start (2) + length (2) exceeds dimension size (3)")
        let t = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3, 4]).t
        }
        expectMessage(t, "t: expects a tensor with <= 2 dimensions, but self is 3D")
        let unsqueeze = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).unsqueezed(3)
        }
        expectMessage(unsqueeze, "unsqueeze: dimension out of range (expected to be in range of [-3, 2], but got 3)")
    }

    // MARK: Subscripts

    @Test func subscriptsSelectLikePyTorch() {
        let x = Tensor.arange(24).reshaped([2, 3, 4])
        func values(_ t: Tensor) -> [Int] { t.scalars(as: Int.self) }
        #expect(x[0, 1..<3].shape == [2, 4])
        #expect(values(x[0, 1..<3]) == [4, 5, 6, 7, 8, 9, 10, 11])
        #expect(x[..., 2].shape == [2, 3])
        #expect(values(x[..., 2]) == [2, 6, 10, 14, 18, 22])
        #expect(x[1, ..., 0].shape == [3])
        #expect(values(x[1, ..., 0]) == [12, 16, 20])
        #expect(values(x[0, 0, stride(from: 0, to: 4, by: 2)]) == [0, 2])
        #expect(values(x[stride(from: 1, to: 2, by: 2)]) == Array(12..<24))
        #expect(values(x[-1, -1]) == [20, 21, 22, 23])
        #expect(values(x[0, 0, (-2)...]) == [2, 3])
        #expect(values(x[0, 0, ...(-2)]) == [0, 1, 2])
        #expect(values(x[0, ..<1, 1...2]) == [1, 2])
        #expect(x[TensorIndex.newAxis, 0].shape == [1, 3, 4])
        #expect(x[0, TensorIndex.newAxis, 1, TensorIndex.newAxis].shape == [1, 1, 4])
        #expect(x[..., TensorIndex.newAxis].shape == [2, 3, 4, 1])
        #expect(x[0, 1, 2].shape == [] && x[0, 1, 2].item() == 6)
        // Out-of-range slice bounds clamp (empty results), as in Python.
        #expect(x[0, 5...].shape == [0, 4])
        #expect(x[0, 1..<100].shape == [2, 4])
        // Every subscript is a view.
        #expect([x[0, 1..<3], x[..., 2], x[1, ..., 0], x[TensorIndex.newAxis]].allSatisfy { $0.storage === x.storage })
    }

    @Test func subscriptAssignmentWritesTheBase() {
        let x = Tensor.zeros([3, 4], dtype: .float64)
        x[1] = Tensor([1, 2, 3, 4] as [Double])
        x[..., 0] = Tensor(9.0)
        x[2, stride(from: 1, to: 4, by: 2)] = Tensor([5, 6] as [Double])
        #expect(x.scalars(as: Double.self) == [9, 0, 0, 0, 9, 2, 3, 4, 9, 5, 0, 6])
        // Through a view of a view.
        let column = x.t[3]
        column[0...1] = Tensor([-1, -2] as [Double])
        #expect(x[..., 3].scalars(as: Double.self) == [-1, -2, 6])
        // Writing through select/narrow reaches the base too.
        x.select(dim: 1, index: 1).fill_(7.0)
        x.narrow(dim: 0, start: 0, length: 1).fill_(0.0)
        #expect(x.scalars(as: Double.self) == [0, 0, 0, 0, 9, 7, 3, -2, 9, 7, 0, 6])
    }

    @Test func subscriptGradients() {
        let x = Tensor.randn([2, 3, 4], dtype: .float64, requiresGrad: true)
        let expressions: [(String, (Tensor) -> Tensor)] = [
            ("x[0, 1..<3]", { $0[0, 1..<3] }),
            ("x[..., 2]", { $0[..., 2] }),
            ("x[1, ..., 0]", { $0[1, ..., 0] }),
            ("stride", { $0[..., stride(from: 0, to: 4, by: 3)] }),
            ("negative", { $0[-1, -2] }),
            ("newAxis", { $0[TensorIndex.newAxis, 0, 1...] }),
        ]
        for (name, expression) in expressions {
            let result = gradcheck({ expression($0[0]) }, inputs: [x])
            #expect(result.passed, "\(name): \(result.report)")
        }
    }

    @Test func subscriptErrors() async {
        let bounds = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3])[0, 3]
        }
        expectMessage(bounds, "index: index 3 is out of bounds for dimension 1 with size 3")
        let tooMany = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3])[0, 0, 0]
        }
        expectMessage(tooMany, "index: too many indices for tensor of dimension 2 (got 3)")
        let select = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).select(dim: 1, index: -4)
        }
        expectMessage(select, "select: index -4 out of range for tensor of size [2, 3] at dimension 1")
    }
}
