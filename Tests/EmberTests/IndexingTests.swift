import Testing
@testable import Ember

/// gather, scatter, scatterAdd, indexSelect, masks, oneHot and where: the indexing rows of
/// the shape-op fixture table, plus edge cases, gradients and error messages.
@Suite struct IndexingTests {
    @Test(arguments: ShapeOpTable.cases.filter { ShapeOpTable.indexingOps.contains($0.op) })
    func matchesReference(_ fixture: FixtureCase) {
        ShapeOpTable.checkAgainstReference(fixture)
    }

    @Test(arguments: ShapeOpTable.gradcheckCases(indexing: true))
    func gradcheckFloat64(_ fixture: FixtureCase) {
        ShapeOpTable.checkGradient(fixture)
    }

    @Test func gradgradcheckFloat64() {
        let x = Tensor.randn([3, 4], dtype: .float64, requiresGrad: true)
        let source = Tensor.randn([2, 4], dtype: .float64, requiresGrad: true)
        let index = Tensor([[0, 2, 2, 1], [1, 0, 2, 0]] as [[Int]])
        let gather = gradgradcheck({ ($0[0] * $0[0]).gather(dim: 0, index: index) }, inputs: [x])
        #expect(gather.passed, "gather: \(gather.report)")
        let scatterAdd = gradgradcheck({ ($0[0] * $0[0]).scatterAdd(dim: 0, index: index, source: $0[1] * $0[1]) }, inputs: [x, source])
        #expect(scatterAdd.passed, "scatterAdd: \(scatterAdd.report)")
        let mask = x.detach() .> 0
        let select = gradgradcheck({ ($0[0] * $0[0]).maskedSelect(mask) }, inputs: [x])
        #expect(select.passed, "maskedSelect: \(select.report)")
    }

    @Test func indexDTypesAndLayouts() {
        let x = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
        // int32 indices work like int64.
        #expect(x.gather(dim: 1, index: Tensor([[2], [0]] as [[Int32]])).scalars(as: Float.self) == [3, 4])
        #expect(x.indexSelect(dim: 1, index: Tensor([2, 2] as [Int32])).scalars(as: Float.self) == [3, 3, 6, 6])
        // A 0-d index keeps the dimension (size 1), as in PyTorch.
        #expect(x.indexSelect(dim: 0, index: Tensor(1 as Int)).shape == [1, 3])
        // 0-d input and index.
        #expect(Tensor(7.0).gather(dim: 0, index: Tensor(0 as Int)).item() == 7)
        #expect(Tensor(7.0).indexSelect(dim: 0, index: Tensor([0, 0] as [Int])).scalars(as: Double.self) == [7, 7])
        // Broadcast (stride-0) index and empty index.
        let index = Tensor([1] as [Int]).reshaped([1, 1]).expanded(to: [2, 4])
        #expect(x.gather(dim: 1, index: index).scalars(as: Float.self) == [2, 2, 2, 2, 5, 5, 5, 5])
        #expect(x.indexSelect(dim: 0, index: Tensor([] as [Int])).shape == [0, 3])
        // Scatter works on every dtype and leaves the input unchanged.
        for dtype in [DType.float16, .bfloat16, .int32, .uint8, .bool] {
            let base = Tensor.zeros([4], dtype: dtype)
            let result = base.scatter(dim: 0, index: Tensor([3, 1] as [Int]), value: 1)
            #expect(result.to(.float64).scalars(as: Double.self) == [0, 1, 0, 1], "\(dtype)")
            let summed = base.scatterAdd(dim: 0, index: Tensor([3, 3] as [Int]), source: Tensor.ones([2], dtype: dtype))
            #expect(summed.to(.float64).scalars(as: Double.self)[3] == (dtype == .bool ? 1 : 2), "\(dtype)")
            #expect(base.to(.float64).sum().item() == 0)
        }
    }

    @Test func masks() {
        let x = Tensor([[1, -2, 3], [-4, 5, -6]] as [[Double]])
        #expect(x.maskedFill(x .< 0, 0).scalars(as: Double.self) == [1, 0, 3, 0, 5, 0])
        // The mask broadcasts against self, and so does the result (out-of-place, as in PyTorch).
        #expect(Tensor.zeros([3]).maskedFill(Tensor([[true, false, true], [false, false, true]]), 2).shape == [2, 3])
        #expect(Tensor([1, 2, 3] as [Int]).maskedFill(Tensor([false, true, false]), 9).scalars(as: Int.self) == [1, 9, 3])
        #expect(x[x .> 0].scalars(as: Double.self) == [1, 3, 5])
        #expect(x[Tensor([false, true])].shape == [1, 3])
        #expect(x[Tensor(true)].shape == [1, 2, 3])
        #expect(x.maskedSelect(Tensor(false)).shape == [0])
        // Assigning through a mask writes into the tensor's storage, through views too.
        let y = x.clone()
        let columns = y.t
        columns[columns .< 0] = Tensor(0.0)
        #expect(y.scalars(as: Double.self) == [1, 0, 3, 0, 5, 0])
        y[Tensor([true, false])] = Tensor([7, 8, 9] as [Double])
        #expect(y.scalars(as: Double.self) == [7, 8, 9, 0, 5, 0])
        // …and gradients flow to both the old contents and the assigned values.
        let base = Tensor.randn([2, 3], dtype: .float64, requiresGrad: true)
        let values = Tensor.randn([3], dtype: .float64, requiresGrad: true)
        let mask = Tensor([true, false])
        let result = gradcheck({ inputs in
            let z = inputs[0] * 1
            z[mask] = inputs[1] * 2
            return z
        }, inputs: [base, values])
        #expect(result.passed, "\(result.report)")
        let maskedFill = gradcheck({ $0[0].maskedFill(mask.reshaped([2, 1]), 1.5) }, inputs: [base])
        #expect(maskedFill.passed, "\(maskedFill.report)")
    }

    @Test func oneHot() {
        let labels = Tensor([2, 0] as [Int32])
        let encoded = labels.oneHot()
        #expect(encoded.dtype == .int64 && encoded.shape == [2, 3])
        #expect(encoded.scalars(as: Int.self) == [0, 0, 1, 1, 0, 0])
        #expect(Tensor(1 as Int).oneHot(numClasses: 2).scalars(as: Int.self) == [0, 1])
        #expect(Tensor([] as [Int]).oneHot(numClasses: 4).shape == [0, 4])
    }

    @Test func indexingErrors() async {
        let gather = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).gather(dim: 1, index: Tensor([[0, 3]] as [[Int]]))
        }
        expectMessage(gather, "gather: index 3 is out of bounds for dimension 1 with size 3")
        let negative = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).indexSelect(dim: 0, index: Tensor([-1] as [Int]))
        }
        expectMessage(negative, "indexSelect: index -1 is out of bounds for dimension 0 with size 2")
        let scatter = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([3]).scatterAdd(dim: 0, index: Tensor([5] as [Int]), source: Tensor.ones([1]))
        }
        expectMessage(scatter, "scatterAdd: index 5 is out of bounds for dimension 0 with size 3")
        let indexType = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([3]).gather(dim: 0, index: Tensor([0] as [Float]))
        }
        expectMessage(indexType, "gather: expected index to be an int64 (or int32) tensor, but got dtype float32")
        let shape = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).gather(dim: 0, index: Tensor.zeros([1, 4], dtype: .int64))
        }
        expectMessage(shape, "gather: index shape [1, 4] must not be larger than the input shape [2, 3] apart from dimension 0; it is at dimension 1")
        let sourceType = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([3]).scatter(dim: 0, index: Tensor([0] as [Int]), source: Tensor.ones([1], dtype: .float64))
        }
        expectMessage(sourceType, "scatter: expected self.dtype to be equal to source.dtype, but got float32 and float64")
        let mask = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3])[Tensor([true, false, true])]
        }
        expectMessage(mask, "index: the shape of the mask [3] at index 0 does not match the shape of the indexed tensor [2, 3] at index 0")
        let maskType = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([3]).maskedFill(Tensor([1, 0, 1] as [Int]), 0)
        }
        expectMessage(maskType, "maskedFill: expected mask to be a bool tensor, but got dtype int64")
        let oneHot = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([0, 4] as [Int]).oneHot(numClasses: 3)
        }
        expectMessage(oneHot, "oneHot: class values must be smaller than numClasses (3), but got 4")
        let oneHotType = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor([0.0, 1.0]).oneHot()
        }
        expectMessage(oneHotType, "oneHot: expected an int64 tensor of class indices, but got dtype float64")
    }
}
