import Testing
@testable import Ember

/// The op table behind the shape, indexing, sorting and conversion fixtures (scripts/fixtures/
/// generate_shape_ops.py): how each fixture op name maps onto Ember's API. The reference
/// checks, the non-contiguous checks and gradcheck all iterate it.
enum ShapeOpTable {
    static let cases = Fixtures.load("shape_ops")
    static let indexingOps: Set = ["gather", "scatter", "scatterValue", "scatterAdd", "indexSelect", "maskedFill",
                                   "maskedSelect", "maskSubscript", "oneHot", "where"]
    /// Ops whose outputs do not depend differentiably on their inputs.
    static let nonDifferentiable: Set = ["argsort", "oneHot"]

    static func run(_ fixture: FixtureCase, _ inputs: [Tensor]) -> [Tensor] {
        let p = fixture.params ?? [:]
        let dim = p["dim"]?.int ?? 0
        switch fixture.op {
        case "cat": return [Tensor.cat(inputs, dim: dim)]
        case "stack": return [Tensor.stack(inputs, dim: dim)]
        case "splitSize": return inputs[0].split(size: p["size"]!.int, dim: dim)
        case "splitSizes": return inputs[0].split(sizes: p["sizes"]!.ints, dim: dim)
        case "chunk": return inputs[0].chunk(p["count"]!.int, dim: dim)
        case "unbind": return inputs[0].unbind(dim: dim)
        case "flip": return [inputs[0].flip(dims: p["dims"]!.ints)]
        case "roll": return [inputs[0].roll(shifts: p["shifts"]!.ints, dims: p["dims"]!.ints)]
        case "repeat": return [inputs[0].repeated(p["repeats"]!.ints)]
        case "tril": return [inputs[0].tril(diagonal: p["diagonal"]!.int)]
        case "triu": return [inputs[0].triu(diagonal: p["diagonal"]!.int)]
        case "pad":
            let mode: PaddingMode
            switch p["mode"]! {
            case .text("reflect"): mode = .reflect
            case .text("replicate"): mode = .replicate
            default: mode = .constant(p["value"]!.number)
            }
            return [inputs[0].pad(p["padding"]!.ints, mode: mode)]
        case "gather": return [inputs[0].gather(dim: dim, index: inputs[1])]
        case "scatter": return [inputs[0].scatter(dim: dim, index: inputs[1], source: inputs[2])]
        case "scatterValue": return [inputs[0].scatter(dim: dim, index: inputs[1], value: p["value"]!.number)]
        case "scatterAdd": return [inputs[0].scatterAdd(dim: dim, index: inputs[1], source: inputs[2])]
        case "indexSelect": return [inputs[0].indexSelect(dim: dim, index: inputs[1])]
        case "maskedFill": return [inputs[0].maskedFill(inputs[1], p["value"]!.number)]
        case "maskedSelect": return [inputs[0].maskedSelect(inputs[1])]
        case "maskSubscript": return [inputs[0][inputs[1]]]
        case "oneHot": return [inputs[0].oneHot(numClasses: p["numClasses"]!.int)]
        case "where": return [Tensor.where(inputs[0], inputs[1], inputs[2])]
        case "sort":
            let (values, indices) = inputs[0].sort(dim: dim, descending: p["descending"]!.flag)
            return [values, indices]
        case "argsort": return [inputs[0].argsort(dim: dim, descending: p["descending"]!.flag)]
        case "topk":
            let (values, indices) = inputs[0].topk(p["k"]!.int, dim: dim, largest: p["largest"]!.flag)
            return [values, indices]
        case "to":
            let name = p["dtype"]!.text
            guard let dtype = DType.allCases.first(where: { $0.description == name }) else { fatalError("no dtype \(name)") }
            return [inputs[0].to(dtype)]
        case "contiguous": return [inputs[0].contiguous()]
        case "clone": return [inputs[0].clone()]
        default: fatalError("no shape op named \(fixture.op)")
        }
    }

    /// Checks one fixture on the given inputs, then again with each input replaced by each
    /// of its non-contiguous variants.
    static func checkAgainstReference(_ fixture: FixtureCase, sourceLocation: SourceLocation = #_sourceLocation) {
        let inputs = fixture.inputs.map(\.tensor)
        let expected = fixture.expectedList?.map(\.tensor) ?? [fixture.expected!.tensor]
        func check(_ inputs: [Tensor], _ context: String) {
            let outputs = run(fixture, inputs)
            #expect(outputs.count == expected.count, "\(context): \(outputs.count) outputs, expected \(expected.count)",
                    sourceLocation: sourceLocation)
            for (output, reference) in zip(outputs, expected) {
                expectClose(output, reference, context, sourceLocation: sourceLocation)
            }
        }
        check(inputs, fixture.name)
        for position in inputs.indices {
            for variant in nonContiguousVariants(of: inputs[position]) {
                var changed = inputs
                changed[position] = variant.tensor
                check(changed, "\(fixture.name) (input \(position) \(variant.name))")
            }
        }
    }

    /// The fixtures gradcheck runs on: differentiable ops with float64 data, without NaN or
    /// ties (most of sort's cases have both; "sort/distinct" has neither).
    static func gradcheckCases(indexing: Bool) -> [FixtureCase] {
        cases.filter { fixture in
            indexingOps.contains(fixture.op) == indexing && !nonDifferentiable.contains(fixture.op)
                && (fixture.op != "sort" || fixture.name == "sort/distinct") && fixture.inputs.contains { $0.dtype == "float64" }
        }
    }

    /// gradcheck on the inputs as stored and with the first input in each non-contiguous layout
    /// (for `contiguous`, only those reach its copy). A case may set `gradcheckEpsilon`: `to`
    /// rounds to float32, so its inputs are multiples of 1/64 and the step is 2^-10, both exact.
    static func checkGradient(_ fixture: FixtureCase, sourceLocation: SourceLocation = #_sourceLocation) {
        let stored = fixture.inputs.map(\.tensor)
        let epsilon = fixture.params?["gradcheckEpsilon"]?.number ?? 1e-6
        for (name, first) in [("contiguous", stored[0])] + nonContiguousVariants(of: stored[0]) {
            let inputs = ([first] + stored.dropFirst()).map { $0.dtype == .float64 ? $0.requiresGrad_() : $0 }
            let result = gradcheck({ differentiableOutput(fixture, run(fixture, $0)) }, inputs: inputs, epsilon: epsilon)
            #expect(result.passed, "\(fixture.name) (\(name)): \(result.report)", sourceLocation: sourceLocation)
        }
    }

    /// One tensor to differentiate: the values of (values, indices) pairs, or all outputs
    /// flattened and joined.
    static func differentiableOutput(_ fixture: FixtureCase, _ outputs: [Tensor]) -> Tensor {
        if fixture.op == "sort" || fixture.op == "topk" { return outputs[0] }
        return outputs.count == 1 ? outputs[0] : Tensor.cat(outputs.map { $0.reshaped([-1]) })
    }
}

/// On failure, checks that the child's stderr contains `text` (precondition messages are
/// printed only in debug builds).
func expectMessage(_ result: ExitTest.Result?, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #if DEBUG
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains(text), "expected the message to contain \"\(text)\", got: \(stderr)", sourceLocation: sourceLocation)
    #endif
}

@Suite struct ShapeOpTests {
    @Test(arguments: ShapeOpTable.cases.filter { !ShapeOpTable.indexingOps.contains($0.op) })
    func matchesReference(_ fixture: FixtureCase) {
        ShapeOpTable.checkAgainstReference(fixture)
    }

    @Test(arguments: ShapeOpTable.gradcheckCases(indexing: false))
    func gradcheckFloat64(_ fixture: FixtureCase) {
        ShapeOpTable.checkGradient(fixture)
    }

    @Test func gradgradcheckFloat64() {
        let x = Tensor.randn([2, 3], dtype: .float64, requiresGrad: true)
        let y = Tensor.randn([1, 3], dtype: .float64, requiresGrad: true)
        for (name, function) in [
            ("cat", { (t: [Tensor]) in Tensor.cat([t[0], t[1] * t[1]]) }),
            ("stack", { (t: [Tensor]) in Tensor.stack([t[0] * t[0], t[0]], dim: -1) }),
            ("repeat", { (t: [Tensor]) in (t[0] * t[0]).repeated([2, 1, 2]) }),
            ("pad reflect", { (t: [Tensor]) in (t[0] * t[0]).pad([2, 1, 1, 0], mode: .reflect) }),
            ("roll+flip", { (t: [Tensor]) in (t[0] * t[0]).roll(shifts: [1], dims: [1]).flip(dims: [0]) }),
            ("sort", { (t: [Tensor]) in (t[0] * t[0]).sort(dim: 1).values }),
        ] as [(String, ([Tensor]) -> Tensor)] {
            let result = gradgradcheck(function, inputs: [x, y])
            #expect(result.passed, "\(name): \(result.report)")
        }
    }

    // MARK: Joining

    @Test func catAndStackEdgeCases() {
        let x = Tensor.arange(6).reshaped([2, 3])
        #expect(Tensor.cat([x]).scalars(as: Int.self) == Array(0..<6))
        #expect(Tensor.cat([x, x], dim: -2).shape == [4, 3])
        #expect(Tensor.cat([Tensor.zeros([0]), Tensor.zeros([0])]).shape == [0])
        let scalars = Tensor.stack([Tensor(1.0), Tensor(2.0)])
        #expect(scalars.shape == [2])
        #expect(scalars.scalars(as: Double.self) == [1, 2])
        #expect(Tensor.stack([Tensor.zeros([0, 2])], dim: 1).shape == [0, 1, 2])
        // The result is a new tensor: writing to it leaves the inputs alone.
        let joined = Tensor.cat([x, x])
        joined.fill_(0)
        #expect(x.scalars(as: Int.self) == Array(0..<6))
    }

    @Test func splitReturnsViewsOfTheInput() {
        let x = Tensor.zeros([4, 5], dtype: .float64)
        let pieces = x.split(size: 2, dim: 1)
        #expect(pieces.map(\.shape) == [[4, 2], [4, 2], [4, 1]])
        #expect(pieces.allSatisfy { $0.storage === x.storage })
        pieces[1].fill_(1.0)
        #expect(x.sum().item() == 8)
        let chunks = x.chunk(2, dim: -1)
        #expect(chunks.map(\.shape) == [[4, 3], [4, 2]])
        // chunk may return fewer pieces than asked, like PyTorch: 6 in 4 chunks is 2+2+2.
        #expect(Tensor.zeros([6]).chunk(4).count == 3)
        #expect(Tensor.zeros([0, 3]).chunk(3).map(\.shape) == [[0, 3], [0, 3], [0, 3]])
        #expect(Tensor.zeros([0, 3]).split(size: 2).map(\.shape) == [[0, 3]])
        #expect(Tensor.zeros([3]).split(sizes: [3, 0]).map(\.shape) == [[3], [0]])
    }

    @Test func joiningErrors() async {
        let mismatch = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.cat([Tensor.zeros([2, 3]), Tensor.zeros([4, 5])], dim: 1)
        }
        expectMessage(mismatch, "cat: sizes of tensors must match except in dimension 1; got [2, 3] and [4, 5] at dimension 0")
        let empty = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.cat([])
        }
        expectMessage(empty, "cat: expected a non-empty list of tensors")
        let scalar = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.cat([Tensor(1.0)])
        }
        expectMessage(scalar, "cat: zero-dimensional tensor (at position 0) cannot be concatenated")
        let stack = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.stack([Tensor.zeros([2, 3]), Tensor.zeros([2, 4])])
        }
        expectMessage(stack, "stack: expects each tensor to be equal size, but got [2, 3] at entry 0 and [2, 4] at entry 1")
        let split = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([5]).split(sizes: [2, 2])
        }
        expectMessage(split, "split: split sizes must be non-negative and sum to the size of dimension 0 (5)")
        let dim = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).chunk(2, dim: 2)
        }
        expectMessage(dim, "chunk: dimension out of range (expected to be in range of [-2, 1], but got 2)")
    }

    // MARK: Rearranging

    @Test func rearrangingEdgeCases() {
        let scalar = Tensor(3.0)
        #expect(scalar.flip(dims: []).item() == 3)
        #expect(scalar.roll(shifts: [2]).item() == 3)
        #expect(scalar.repeated([2, 3]).shape == [2, 3])
        #expect(scalar.repeated([]).shape == [])
        #expect(scalar.pad([]).shape == [])
        #expect(Tensor.zeros([0, 3]).flip(dims: [0, 1]).shape == [0, 3])
        #expect(Tensor.zeros([0, 3]).roll(shifts: [1], dims: [0]).shape == [0, 3])
        #expect(Tensor.zeros([2, 0]).tril().shape == [2, 0])
        #expect(Tensor.zeros([2, 3]).repeated([2, 0]).shape == [4, 0])
        // Every result is a new tensor, even when nothing moves.
        let x = Tensor.arange(4)
        for result in [x.flip(dims: []), x.roll(shifts: [0], dims: [0]), x.repeated([1]), x.pad([0, 0]),
                       x.pad([0, 0], mode: .reflect)] {
            #expect(result.storage !== x.storage)
        }
        // tril/triu keep integer and bool dtypes.
        let mask = Tensor.ones([3, 3], dtype: .bool).triu(diagonal: 1)
        #expect(mask.dtype == .bool)
        #expect(mask.scalars(as: Bool.self) == [false, true, true, false, false, true, false, false, false])
        // Constant padding of an integer tensor, and padding of an empty dimension.
        #expect(Tensor([1, 2] as [Int32]).pad([1, 1], mode: .constant(7)).scalars(as: Int32.self) == [7, 1, 2, 7])
        #expect(Tensor.zeros([2, 0]).pad([1, 1], mode: .constant(1)).scalars(as: Float.self) == [1, 1, 1, 1])
        // A float16 flip is exact.
        let half = Tensor([1.5, -2, 3] as [Float]).to(.float16)
        #expect(half.flip(dims: [0]).to(.float32).scalars(as: Float.self) == [3, -2, 1.5])
    }

    @Test func rearrangingErrors() async {
        let flip = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).flip(dims: [1, -1])
        }
        expectMessage(flip, "flip: dim [1, -1] appears multiple times in the list of dims")
        let roll = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).roll(shifts: [1, 2], dims: [0])
        }
        expectMessage(roll, "roll: shifts and dims must align; got 2 shifts [1, 2] and 1 dims [0]")
        let repeats = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).repeated([2])
        }
        expectMessage(repeats, "repeat: number of dimensions of repeat dims (1) can not be smaller than number of dimensions of tensor (2)")
        let tril = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([3]).tril()
        }
        expectMessage(tril, "tril: input tensor must have at least 2 dimensions, but got shape [3]")
        let reflect = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).pad([3, 0], mode: .reflect)
        }
        expectMessage(reflect, "pad: reflect padding size should be less than the corresponding input dimension, but got padding (3, 0) at dimension 1 of input [2, 3]")
        let odd = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).pad([1, 1, 1])
        }
        expectMessage(odd, "pad: padding length must be divisible by 2")
        let crop = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).pad([-2, -2])
        }
        expectMessage(crop, "pad: the input size 3 plus negative padding (-2, -2) at dimension 1 resulted in a negative output size -1")
    }

    // MARK: Sorting

    @Test func sortIsStableAndPlacesNaNLast() {
        let ties = Tensor([1, 0, 1, 0, 1] as [Float])
        #expect(ties.argsort().scalars(as: Int.self) == [1, 3, 0, 2, 4])
        #expect(ties.argsort(descending: true).scalars(as: Int.self) == [0, 2, 4, 1, 3])
        let withNaN = Tensor([2, .nan, -1, .nan] as [Double])
        let (ascending, order) = withNaN.sort()
        #expect(order.scalars(as: Int.self) == [2, 0, 1, 3])
        #expect(ascending.scalars(as: Double.self)[..<2] == [-1, 2])
        #expect(withNaN.sort(descending: true).indices.scalars(as: Int.self) == [1, 3, 0, 2])
        #expect(withNaN.topk(1).indices.scalars(as: Int.self) == [1])
        #expect(withNaN.topk(2, largest: false).values.scalars(as: Double.self) == [-1, 2])
        // Other dtypes: keys compare in their own type (int64 beyond 2^53, bool as 0/1, half via float32).
        let big = Tensor([Int64(1) << 60 + 1, Int64(1) << 60] as [Int64])
        #expect(big.argsort().scalars(as: Int.self) == [1, 0])
        #expect(Tensor([true, false, true]).sort().values.scalars(as: Bool.self) == [false, true, true])
        #expect(Tensor([3, -1, 2] as [Int32]).sort(descending: true).values.scalars(as: Int32.self) == [3, 2, -1])
        let half = Tensor([0.5, -0.25, 0.125] as [Float]).to(.float16)
        #expect(half.sort().values.dtype == .float16)
        #expect(half.sort().values.to(.float32).scalars(as: Float.self) == [-0.25, 0.125, 0.5])
        // Edge cases: empty, 0-d, k = 0.
        #expect(Tensor.zeros([2, 0]).sort().indices.shape == [2, 0])
        #expect(Tensor.zeros([0, 3]).sort(dim: 0).values.shape == [0, 3])
        let (scalarValue, scalarIndex) = Tensor(4.0).sort()
        #expect(scalarValue.item() == 4 && scalarValue.rank == 0 && scalarIndex.item() == 0)
        #expect(Tensor(4.0).topk(1).values.item() == 4)
        #expect(Tensor.zeros([3, 4]).topk(0).values.shape == [3, 0])
        // Non-contiguous input along a non-last dimension.
        let x = Tensor([[3, 1], [1, 2], [2, 0]] as [[Float]]).t   // [[3, 1, 2], [1, 2, 0]]
        #expect(x.sort(dim: 1).values.scalars(as: Float.self) == [1, 2, 3, 0, 1, 2])
        #expect(x.sort(dim: 0).indices.scalars(as: Int.self) == [1, 0, 1, 0, 1, 0])
    }

    @Test func sortGradients() {
        let x = Tensor.randn([3, 4], dtype: .float64, requiresGrad: true)
        for dim in [0, 1] {
            for descending in [false, true] {
                let sorted = gradcheck({ $0[0].sort(dim: dim, descending: descending).values }, inputs: [x])
                #expect(sorted.passed, "sort dim \(dim) descending \(descending): \(sorted.report)")
            }
            let top = gradcheck({ $0[0].topk(2, dim: dim, largest: dim == 0).values }, inputs: [x])
            #expect(top.passed, "topk dim \(dim): \(top.report)")
        }
    }

    @Test func sortingErrors() async {
        let topk = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).topk(4)
        }
        expectMessage(topk, "topk: k (4) is out of range for dimension 1 of size 3 (shape [2, 3])")
        let sort = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).sort(dim: -3)
        }
        expectMessage(sort, "sort: dimension out of range (expected to be in range of [-2, 1], but got -3)")
    }
}
