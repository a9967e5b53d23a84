import Ember
import Testing

/// The code of the DocC articles (Sources/Ember/Ember.docc), compiled and run, with the values
/// their comments claim. Update both together.
@Suite struct DocumentationExampleTests {
    @Test func tensorsArticle() {
        let v = Tensor([1, 2, 3] as [Float])
        let m = Tensor([[1, 2], [3, 4]] as [[Double]])
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6] as [Float])
        let s = Tensor(3.5)
        #expect(v.dtype == .float32 && m.dtype == .float64 && t.shape == [2, 3] && s.rank == 0 && s.dtype == .float64)
        _ = Tensor.zeros([2, 3]); _ = Tensor.ones([4], dtype: .float64); _ = Tensor.full([2, 2], 7.0); _ = Tensor.eye(3)
        #expect(Tensor.arange(5).dtype == .int64)
        #expect(Tensor.arange(0, 1, step: 0.25).scalars(as: Double.self) == [0, 0.25, 0.5, 0.75])
        _ = Tensor.linspace(0, 1, steps: 5); _ = Tensor.zerosLike(m)
        manualSeed(0)
        _ = Tensor.randn([64, 3]); _ = Tensor.rand([3, 3], dtype: .float64)
        #expect(Tensor.randint(0, 10, [64]).dtype == .int64)
        _ = Tensor.randn([3], generator: RandomGenerator(seed: 42))
        #expect(v.scalars(as: Float.self) == [1, 2, 3])
        #expect(v.sum().item(as: Float.self) == 6)
        #expect(v.to(.float16).dtype == .float16)

        #expect(DType.promote(.int32, .float16) == .float16)
        #expect(DType.promote(.float16, .bfloat16) == .float32)
        let ints = Tensor([1, 2, 3] as [Int32])
        #expect((ints * 2).dtype == .int32)
        #expect((ints * 2.5).dtype == .float32)
        #expect((Tensor([1.5] as [Float]) * Tensor(2.0)).dtype == .float32)
        #expect((ints / ints).dtype == .float32)

        let x = Tensor.arange(6).reshaped([2, 3])
        let xt = x.t
        #expect(!xt.isContiguous && xt.storage === x.storage)
        #expect(x.unsqueezed(0).shape == [1, 2, 3] && x.permuted([1, 0]).shape == [3, 2])
        #expect(Tensor([1, 2, 3] as [Float]).expanded(to: [4, 3]).strides == [0, 1])
        #expect(x.narrow(dim: 1, start: 1, length: 2).scalars(as: Int.self) == [1, 2, 4, 5])
        #expect(x.select(dim: 0, index: 1).scalars(as: Int.self) == [3, 4, 5])

        let grid = Tensor.arange(12).reshaped([3, 4])
        #expect(grid[0].shape == [4])
        #expect(grid[0, 1..<3].scalars(as: Int.self) == [1, 2])
        #expect(grid[..., 2].scalars(as: Int.self) == [2, 6, 10])
        #expect(grid[1...].shape == [2, 4])
        #expect(grid[stride(from: 0, to: 4, by: 2)].scalars(as: Int.self) == [0, 1, 2, 3, 8, 9, 10, 11])
        #expect(grid[TensorIndex.newAxis, 0].shape == [1, 4])
        #expect(grid[-1].scalars(as: Int.self) == [8, 9, 10, 11])
        let values = Tensor([-1, 2, -3, 4] as [Float])
        #expect(values[values .> 0].scalars(as: Float.self) == [2, 4])
        #expect(values.maskedFill(values .< 0, 0).scalars(as: Float.self) == [0, 2, 0, 4])
        #expect(grid.indexSelect(dim: 1, index: Tensor([3, 0] as [Int])).scalars(as: Int.self) == [3, 0, 7, 4, 11, 8])
        #expect(grid.gather(dim: 1, index: Tensor([[0], [2], [1]] as [[Int]])).scalars(as: Int.self) == [0, 6, 9])

        #expect("\(Tensor([[1, 2], [3, 4]] as [[Float]]))" == "tensor([[1., 2.],\n        [3., 4.]])")
        #expect("\(Tensor([0.5, 1.25] as [Double]))" == "tensor([0.5000, 1.2500], dtype=float64)")

        let buffer = Tensor.zeros([2, 3])
        let row = buffer[0]
        row += 1
        #expect(buffer.scalars(as: Float.self) == [1, 1, 1, 0, 0, 0])
        buffer[1] = Tensor([7, 8, 9] as [Float])
        buffer.clamp_(max: 5)
        #expect(buffer.scalars(as: Float.self) == [1, 1, 1, 5, 5, 5])

        #expect(OperationCatalog.entries.filter { $0.family == .sorting }.map(\.name) == ["sort", "topk", "argsort"])
        #expect(OperationCatalog.entry(named: "argmax")?.isDifferentiable == false)
        #expect(ReductionOperation.all.map(\.name).prefix(7) == ["sum", "mean", "prod", "amax", "amin", "all", "any"])
    }

    @Test func autogradArticle() {
        let x = Tensor([1, 2, 3] as [Double]).requiresGrad_()
        let w = Tensor.randn([3], dtype: .float64, requiresGrad: true)
        let loss = (w * x).sum()
        loss.backward()
        #expect(w.grad!.scalars(as: Double.self) == [1, 2, 3])
        #expect("\(loss.gradFunction!)" == "<sumBackward>" && !loss.isLeaf)

        x.grad = nil
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        y.backward()
        #expect(x.grad!.scalars(as: Double.self) == [4, 8, 12])
        x.grad = nil

        let a = Tensor([1, 2] as [Double]).requiresGrad_()
        let b = Tensor([3, 4] as [Double]).requiresGrad_()
        let gradients = grad(of: [(a * b).sum()], withRespectTo: [a, b])
        #expect(gradients[0]!.scalars(as: Double.self) == [3, 4] && gradients[1]!.scalars(as: Double.self) == [1, 2])
        #expect(a.grad == nil && b.grad == nil)

        let prediction = withNoGrad { w * x }
        #expect(!prediction.requiresGrad)
        withNoGrad { w -= w.grad! * 0.1 }
        _ = prediction.detach()

        let z = Tensor([0.5, -1, 2] as [Double]).requiresGrad_()
        let dz = grad(of: [z.pow(3).sum()], withRespectTo: [z], createGraph: true)[0]!
        let penalty = (dz * dz).sum()
        penalty.backward()
        let expected = [0.5, -1, 2].map { 36 * $0 * $0 * $0 }
        #expect(zip(z.grad!.scalars(as: Double.self), expected).allSatisfy { Swift.abs($0 - $1) < 1e-9 })

        let p = Tensor.randn([4], dtype: .float64, requiresGrad: true)
        p.registerHook { g in g.clamp(min: -1, max: 1) }
        let hidden = p * 3
        hidden.retainGrad()
        var ready = false
        p.registerPostAccumulateGradHook { _ in ready = true }
        (hidden * hidden).sum().backward()
        #expect(ready)
        #expect(zip(hidden.grad!.scalars(as: Double.self), hidden.scalars(as: Double.self)).allSatisfy { $0 == 2 * $1 })
        #expect(p.grad!.scalars(as: Double.self).allSatisfy { Swift.abs($0) <= 1 })

        let input = Tensor.randn([3, 4], dtype: .float64, requiresGrad: true)
        let result = gradcheck({ $0[0].tanh().sum(dim: 1) }, inputs: [input])
        #expect("\(result)" == "gradcheck passed")
        #expect(gradgradcheck({ $0[0].tanh() }, inputs: [input]).passed)
    }

    @Test func performanceArticle() async {
        // Sets the process-wide thread count: runs in a process of its own.
        await #expect(processExitsWith: .success) {
            let previous = numThreads()
            setNumThreads(1)
            #expect(numThreads() == 1)
            setNumThreads(previous)
        }
    }
}
