import Foundation
import Testing
@testable import Ember

@Suite("compile: passes, guards, fallback, training, saving")
struct CompileBehaviourTests {
    @Test func passesSimplifyFoldAndShare() {
        let x = Tensor.randn([4, 5], generator: RandomGenerator(seed: 1))
        let f = compile { (x: Tensor) -> Tensor in
            let one = Tensor.full([], 2.0) - 1          // folded: a constant 1
            let same = x * one + 0                      // x * 1 + 0 simplifies to x
            let twice = same.t.t                        // the permutes cancel
            return twice.exp() + twice.exp()           // one exp, shared
        }
        let eager = x.exp() + x.exp()
        _ = f(x)
        expectClose(f(x), eager)
        let graph = f.graph!
        #expect(graph.nodes.count == 2, "expected exp and add, got\n\(graph)")
        #expect(graph.nodes.map(\.primitive.name) == ["exp", "add"])
        #expect(f.tracedGraph!.nodes.count > graph.nodes.count)
    }

    @Test func deadCodeIsRemoved() {
        let f = compile { (x: Tensor) -> Tensor in
            _ = x.sin() * 3                             // unused
            return x.cos()
        }
        let x = Tensor.randn([3])
        _ = f(x)
        #expect(f.graph!.nodes.map(\.primitive.name) == ["cos"])
    }

    @Test func fusionMakesOneUnitAndPrintsIt() {
        let f = compile { (x: Tensor, y: Tensor) -> Tensor in ((x * 1.5 + y).tanh() * x - 0.25).sigmoid() }
        let x = Tensor.randn([64, 33]), y = Tensor.randn([33])
        _ = f(x, y)
        let eager = ((x * 1.5 + y).tanh() * x - 0.25).sigmoid()
        expectClose(f(x, y), eager, relative: 1e-6, absolute: 1e-7)
        #expect(f.executionPlan!.contains("plan: 1 units"), "\(f.executionPlan!)")
        #expect(f.graph!.description.contains("# fused group 0"))
        // Non-contiguous and broadcast inputs take the gather path.
        expectClose(f(x.t.contiguous().t, y), eager, relative: 1e-6, absolute: 1e-7)
        let z = Tensor.randn([33, 64]).t
        expectClose(f(z, y), ((z * 1.5 + y).tanh() * z - 0.25).sigmoid(), relative: 1e-6, absolute: 1e-7)
        #expect(f.traceCount == 1)
    }

    @Test func fusedEdgeCases() {
        // Empty, 0-d, NaN and infinity.
        let f = compile { (x: Tensor) -> Tensor in (x * 2 + 1).relu() - x.exp() }
        for x in [Tensor.zeros([0, 3]), Tensor(3.0 as Float), Tensor([Float.nan, .infinity, -.infinity, 1] as [Float])] {
            let eager = (x * 2 + 1).relu() - x.exp()
            _ = f(x)
            expectClose(f(x), eager, "shape \(x.shape)")
        }
    }

    @Test func retracesOnNewShapeAndHonoursTheCacheLimit() {
        let f = compile { (x: Tensor) -> Tensor in x.square().sum(dim: 0) }
        f.cacheLimit = 2
        for n in [2, 3, 2, 3] { expectClose(f(Tensor.ones([n, 2])), Tensor.full([2], Float(n))) }
        #expect(f.traceCount == 2)
        // A third shape exceeds the limit: it runs eagerly, still correctly.
        expectClose(f(Tensor.ones([5, 2])), Tensor.full([2], Float(5)))
        #expect(f.traceCount == 2)
        // dtype and grad mode are part of the signature.
        _ = withNoGrad { f(Tensor.ones([2, 2], dtype: .float64)) }
        #expect(f.traceCount == 2)
    }

    @Test func dataDependentFunctionsRunEagerlyWithAMessage() {
        let f = compile { (x: Tensor) -> Tensor in x.sum().item() > 0 ? x * 2 : x * -1 }
        let positive = Tensor.ones([3]), negative = -Tensor.ones([3])
        expectClose(f(positive), positive * 2)
        expectClose(f(positive), positive * 2)
        let failure = try! #require(f.lastFailure)
        #expect(failure.reason.contains("scalars"), "\(failure)")
        #expect(failure.description.contains("runs eagerly"))
        // Same signature, other branch: still right, because that signature runs eagerly.
        expectClose(f(negative), negative * -1)
    }

    @Test func randomFunctionsRunEagerly() {
        let dropout = Dropout(p: 0.5)
        let random = dropout.compiled()
        _ = random(Tensor.ones([100]))
        #expect(random.lastFailure?.reason.contains("random") == true, "\(String(describing: random.lastFailure))")
        // In evaluation mode dropout is the identity and traces.
        dropout.eval()
        let eval = dropout.compiled()
        _ = eval(Tensor.ones([4]))
        expectClose(eval(Tensor.ones([4])), Tensor.ones([4]))
        #expect(eval.lastFailure == nil)
    }

    @Test func replacingAParameterRetraces() {
        let layer = Linear(3, 2).eval()
        let f = layer.compiled()
        let x = Tensor.randn([4, 3])
        _ = withNoGrad { f(x) }
        layer.weight = Tensor.ones([2, 3])
        expectClose(withNoGrad { f(x) }, withNoGrad { layer(x) })
        #expect(f.traceCount == 2)
    }

    @Test func capturedTensorsAreReadAtEachCall() {
        let weight = Tensor.ones([3])
        let f = compile { (x: Tensor) -> Tensor in x * weight }
        _ = f(Tensor.ones([3]))
        withNoGrad { _ = weight.fill_(5) }
        expectClose(f(Tensor.ones([3])), Tensor.full([3], Float(5)))
    }

    @Test func nnLayersCompileToTheirEagerValues() {
        manualSeed(3)
        let x = Tensor.randn([2, 8, 16])
        let layers: [(String, any Layer, Tensor)] = [
            ("Linear", Linear(16, 4), x),
            ("LayerNorm", LayerNorm(normalizedShape: [16]), x),
            ("MLP", Sequential { Linear(16, 32); GELU(); Linear(32, 16) }, x),
            ("Conv2d", Conv2d(3, 4, kernelSize: 3, padding: .same), Tensor.randn([2, 3, 9, 9])),
            ("TransformerEncoderLayer", TransformerEncoderLayer(dModel: 16, nhead: 4, dimFeedforward: 32, dropout: 0, batchFirst: true), x),
        ]
        for (name, layer, input) in layers {
            layer.eval()
            let compiled = layer.compiled()
            let eager = withNoGrad { layer(input) }
            _ = withNoGrad { compiled(input) }
            expectClose(withNoGrad { compiled(input) }, eager, relative: 1e-5, absolute: 1e-6, "\(name) inference")
            #expect(compiled.lastFailure == nil, "\(name): \(String(describing: compiled.lastFailure))")
            // Training mode with gradients: the parameters' gradients match eager ones.
            layer.train()
            let training = layer.compiled()
            for parameter in layer.parameters() { parameter.grad = nil }
            layer(input).square().sum().backward()
            let expected = layer.parameters().map { $0.grad! }
            for _ in 0..<2 {
                for parameter in layer.parameters() { parameter.grad = nil }
                training(input).square().sum().backward()
            }
            #expect(training.lastFailure == nil, "\(name) training: \(String(describing: training.lastFailure))")
            for (index, (parameter, reference)) in zip(layer.parameters(), expected).enumerated() {
                expectClose(parameter.grad!, reference, relative: 1e-4, absolute: 1e-5, "\(name) parameter \(index) gradient")
            }
        }
    }

    @Test func compiledTrainingStepsEqualEagerOnes() {
        // One initial state for both runs (tests run in parallel: reseeding cannot repeat it).
        let initial = Sequential { Linear(6, 16, dtype: .float64); ReLU(); Linear(16, 3, dtype: .float64) }.stateDict()
        let generator = RandomGenerator(seed: 7)
        let x = Tensor.randn([8, 6], dtype: .float64, generator: generator), targets = Tensor.randint(0, 3, [8], generator: generator)
        func run(compiled: Bool) -> [Tensor] {
            let model = Sequential { Linear(6, 16, dtype: .float64); ReLU(); Linear(16, 3, dtype: .float64) }
            _ = try! model.loadStateDict(initial)
            let optimizer = SGD(model.parameters(), lr: 0.1, momentum: 0.9)
            let loss = compile { (x: Tensor) -> Tensor in crossEntropy(model(x), targets) }
            for _ in 0..<5 {
                optimizer.zeroGrad()
                (compiled ? loss(x) : crossEntropy(model(x), targets)).backward()
                optimizer.step()
            }
            #expect(loss.lastFailure == nil)
            return model.parameters()
        }
        for (a, b) in zip(run(compiled: true), run(compiled: false)) { expectClose(a, b, relative: 1e-12, absolute: 1e-12) }
    }

    @Test func higherOrderGradientsThroughACompiledFunction() {
        let f = compile { (x: Tensor) -> Tensor in (x * x * x).sum() }
        let x = Tensor([1, 2, 3] as [Double]).requiringGrad()
        _ = f(x)
        let first = grad(of: [f(x)], withRespectTo: [x], createGraph: true)[0]!
        expectClose(first, Tensor([3, 12, 27] as [Double]))
        let second = grad(of: [first.sum()], withRespectTo: [x])[0]!
        expectClose(second, Tensor([6, 12, 18] as [Double]))
    }

    @Test func bufferAllocationsAfterWarmUp() {
        let f = compile { (x: Tensor, r: Tensor) -> Tensor in
            Functional.layerNorm(((x + r) * 0.5).tanh(), normalizedShape: [32]).matmul(Tensor.ones([32, 8]))
        }
        let x = Tensor.randn([16, 32]), r = Tensor.randn([16, 32])
        withNoGrad {
            _ = f(x, r)
            expectClose(f(x, r), Functional.layerNorm(((x + r) * 0.5).tanh(), normalizedShape: [32]).matmul(Tensor.ones([32, 8])),
                        relative: 1e-5, absolute: 1e-5)
            let allocations = TensorStorage.countingAllocations { _ = f(x, r) }.allocations
            // Only the returned tensor is allocated; intermediates live in the arena.
            #expect(allocations == 1, "\(f.executionPlan!)\n\(f.graph!)\n\(String(describing: f.lastFailure)) traces \(f.traceCount)")
            // Into a tensor of the caller's, nothing at all.
            let result = Tensor.zeros([16, 8])
            let intoAllocations = TensorStorage.countingAllocations { f([x, r], into: [result]) }.allocations
            #expect(intoAllocations == 0, "\(f.executionPlan!)")
            #expect(result.scalars(as: Float.self) == f(x, r).scalars(as: Float.self))
            // A result tensor that is also an argument is written only at the end.
            let g = compile { (x: Tensor) -> Tensor in (x * 2).exp() }
            let y = Tensor.full([4], 0.5)
            _ = g(y)
            g([y], into: [y])
            expectClose(y, Tensor.full([4], Float(M_E)))
        }
    }

    @Test func weightsPackedOnceFollowInPlaceUpdates() {
        // Large enough for the blocked GEMM, whose panels of B (the weight) the plan keeps.
        let layer = Linear(300, 200).eval()
        let f = layer.compiled()
        let x = Tensor.randn([64, 300])
        for step in 0..<3 {
            _ = withNoGrad { f(x) }
            expectClose(withNoGrad { f(x) }, withNoGrad { layer(x) }, relative: 1e-5, absolute: 1e-5, "step \(step)")
            // An optimizer-like in-place update: the packed panels must not survive it.
            withNoGrad { layer.weight.add_(Tensor.randn([200, 300]), alpha: 0.1) }
        }
    }

    @Test func matmulsTakeTheirPointwiseEpilogue() {
        // Small (unpacked), blocked with several blocks per thread, and float64.
        // A batch of sequences ([2, m, k], a linear layer over a sequence) folds into GEMM's rows.
        for (batch, m, k, n, dtype) in [([], 8, 16, 24, DType.float32), ([], 200, 300, 700, .float32), ([], 33, 70, 90, .float64),
                                        ([2], 50, 64, 96, .float32)] {
            let x = Tensor.randn(batch + [m, k], dtype: dtype), w = Tensor.randn([n, k], dtype: dtype)
            let bias = Tensor.randn([n], dtype: dtype), residual = Tensor.randn(batch + [m, n], dtype: dtype)
            let body = { (x: Tensor) -> Tensor in (x.matmul(w.t) + bias).gelu() + residual }
            let f = compile(body)
            let eager = withNoGrad { body(x) }
            _ = withNoGrad { f(x) }
            expectClose(withNoGrad { f(x) }, eager, relative: 1e-5, absolute: 1e-5, "\(batch) \(m)x\(k)x\(n) \(dtype)")
            #expect(f.executionPlan!.contains("the epilogue of"), "\(f.executionPlan!)")
            #expect(f.executionPlan!.hasPrefix("plan: 2 units"), "\(f.executionPlan!)")   // the permute, the matmul with its epilogue
        }
    }

    @Test func convolutionsTakeTheirPointwiseEpilogue() {
        // Unit stride (the row-table kernel) and stride 2 (im2col), each with a residual and an
        // activation after it, over a batch the kernels split into chunks.
        for (stride, padding) in [(1, 1), (2, 0)] {
            let conv = Conv2d(3, 8, kernelSize: 3, stride: SpatialSize(stride), padding: .explicit(SpatialSize(padding))).eval()
            let x = Tensor.randn([5, 3, 17, 17], generator: RandomGenerator(seed: UInt64(stride)))
            let size = stride == 1 ? 17 : 8
            let residual = Tensor.randn([5, 8, size, size], generator: RandomGenerator(seed: 9))
            let f = compile { (x: Tensor, r: Tensor) -> Tensor in (conv(x) + r).relu() * 0.5 }
            let expected = withNoGrad { (conv(x) + residual).relu() * 0.5 }
            _ = withNoGrad { f(x, residual) }
            let actual = withNoGrad { f(x, residual) }
            #expect(f.executionPlan!.contains("the epilogue of") && f.executionPlan!.contains("conv2d"), "\(f.executionPlan!)")
            expectClose(actual, expected, relative: 1e-6, absolute: 1e-6)
        }
    }

    @Test func layerNormTakesItsPointwisePrologue() {
        for (shape, dtype) in [([5, 7, 48], DType.float32), ([3, 3000], .float32), ([4, 33], .float64)] {
            let n = shape.last!
            let x = Tensor.randn(shape, dtype: dtype), r = Tensor.randn(shape, dtype: dtype)
            let weight = Tensor.randn([n], dtype: dtype), bias = Tensor.randn([n], dtype: dtype)
            let body = { (x: Tensor, r: Tensor) -> Tensor in
                Functional.layerNorm((x + r) * 0.5, normalizedShape: [n], weight: weight, bias: bias)
            }
            let f = compile(body)
            let eager = withNoGrad { body(x, r) }
            _ = withNoGrad { f(x, r) }
            expectClose(withNoGrad { f(x, r) }, eager, relative: 1e-5, absolute: 1e-5, "layer norm \(shape) \(dtype)")
            #expect(f.executionPlan!.contains("layerNorm[") && f.executionPlan!.contains("fused"), "\(f.executionPlan!)")
            #expect(f.executionPlan!.hasPrefix("plan: 1 units"), "\(f.executionPlan!)")
        }
    }

    @Test func convolutionalModelsWithPoolingSaveAndLoad() throws {
        let model = Sequential {
            Conv2d(3, 4, kernelSize: 3, padding: 1); ReLU(); MaxPool2d(kernelSize: 2)
            Conv2d(4, 4, kernelSize: 3); AvgPool2d(kernelSize: 2, padding: 1, countIncludePad: false)
            AdaptiveAvgPool2d(1); Flatten(); Linear(4, 2)
        }.eval()
        let compiled = model.compiled()
        let x = Tensor.randn([2, 3, 12, 12], generator: RandomGenerator(seed: 4))
        let expected = withNoGrad { compiled(x) }
        expectClose(expected, withNoGrad { model(x) }, relative: 1e-5, absolute: 1e-6)
        #expect(!compiled.graph!.description.contains("opaque"), "\(compiled.graph!)")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pooled-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try compiled.save(to: url)
        let loaded = try GraphFunction(contentsOf: url)
        expectClose(loaded([x])[0], expected, relative: 1e-5, absolute: 1e-6)
    }

    /// An LSTM traces for inference as one `lstm` primitive per layer and direction (the fused
    /// recurrence, not its steps), gives eager's bits, and its graph saves and loads.
    @Test func lstmLayersTraceAsOnePrimitiveEach() throws {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, generator: RandomGenerator(seed: 2))
        let f = compile { (x: Tensor) -> Tensor in
            let (output, state) = lstm(x)
            return Tensor.cat([output.flattened(), state.h.flattened(), state.c.flattened()], dim: 0)
        }
        let x = Tensor.randn([5, 2, 3], generator: RandomGenerator(seed: 3))
        let expected = withNoGrad { () -> Tensor in
            let (output, state) = lstm(x)
            return Tensor.cat([output.flattened(), state.h.flattened(), state.c.flattened()], dim: 0)
        }
        let compiled = withNoGrad { f(x) }
        #expect(f.lastFailure == nil)
        #expect(compiled.scalars(as: Float.self) == expected.scalars(as: Float.self))
        let recurrences = f.graph!.nodes.map(\.primitive).filter { if case .lstm = $0 { return true } else { return false } }
        #expect(recurrences == [.lstm(reverse: false), .lstm(reverse: true), .lstm(reverse: false), .lstm(reverse: true)])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lstm-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try f.save(to: url)
        #expect(try GraphFunction(contentsOf: url)([x])[0].scalars(as: Float.self) == expected.scalars(as: Float.self))
        // With gradients the recurrence is still a closure node: the function runs eagerly.
        let g = compile { (x: Tensor) in lstm(x).output.sum() }
        _ = g(x)
        #expect(g.graph == nil && g.lastFailure != nil)
    }

    @Test func rearrangingOpsSaveAndLoad() throws {
        let f = compile { (xs: [Tensor]) -> [Tensor] in
            let x = xs[0]
            let shaped = x.flip(dims: [0, -1]).pad([1, 2, 0, 1], mode: .constant(-3)).cumsum(dim: 1)
            let masked = x.tril(diagonal: -1).maskedFill(x .> 0.5, 9) + x.triu(diagonal: 1)
            let images = x.reshaped([1, 1, 4, 5])
            let resampled = Functional.interpolate(images, size: [7, 9], mode: .bilinear, alignCorners: false)
            let pooled = Functional.maxPool1d(x.unsqueezed(0), kernelSize: 2, ceilMode: true)
            return [shaped, masked, x.argmax(dim: 1, keepDim: true), x.argmin(), x.roll(shifts: [2, -1], dims: [0, 1]),
                    x.repeated([2, 1, 2]), x.cumprod(dim: 0), resampled, pooled, x.sort(dim: 0).values,
                    x.topk(3).indices, x.max(dim: 1).values]
        }
        let x = Tensor.randn([4, 5], generator: RandomGenerator(seed: 8))
        let expected = f([x])
        _ = f([x])
        #expect(f.lastFailure == nil && !f.graph!.description.contains("opaque"), "\(f.graph!)")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rearranged-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try f.save(to: url)
        let loaded = try GraphFunction(contentsOf: url)([x])
        for (a, b) in zip(loaded, expected) {
            #expect(a.shape == b.shape && a.dtype == b.dtype)
            #expect(a.scalars(as: Double.self) == b.scalars(as: Double.self))
        }
    }

    @Test func savedGraphsRunWithoutTheirSource() throws {
        let model = Sequential { Linear(5, 7); ReLU(); Linear(7, 2) }.eval()
        let f = model.compiled()
        let x = Tensor.randn([3, 5])
        let expected = withNoGrad { model(x) }
        _ = withNoGrad { f(x) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-graph-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try f.save(to: url)
        // The file holds the weights: changing the model afterwards does not change it.
        withNoGrad { for parameter in model.parameters() { _ = parameter.fill_(0) } }
        let loaded = try GraphFunction(contentsOf: url)
        expectClose(loaded([x])[0], expected, relative: 1e-6)
        #expect(loaded.graph.nodes.contains { $0.primitive == .matmul })
    }

    @Test func malformedGraphFilesThrow() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-graph-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let f = compile { (x: Tensor) -> Tensor in x.matmul(Tensor.ones([4, 2])).relu() }
        _ = f(Tensor.ones([3, 4]))
        let good = directory.appendingPathComponent("good.safetensors")
        try f.save(to: good)
        let bytes = try Data(contentsOf: good)
        let text = String(decoding: bytes, as: UTF8.self)
        // Truncated file, a wrong declared shape, an unknown op: each a typed error.
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        #expect(throws: SerializationError.self) { _ = try GraphFunction(contentsOf: truncated) }
        for (name, from, to) in [("shape", "\\\"shape\\\":[3,2]", "\\\"shape\\\":[3,9]"), ("op", "\\\"op\\\":\\\"relu\\\"", "\\\"op\\\":\\\"rm_rf\\\""),
                                 ("overflow", "\\\"shape\\\":[3,2]", "\\\"shape\\\":[4611686018427387904,4]")] {
            #expect(text.contains(from), "the saved header should contain \(from)")
            let patched = directory.appendingPathComponent("\(name).safetensors")
            try Data(text.replacingOccurrences(of: from, with: to).utf8).write(to: patched)
            #expect(throws: SerializationError.self) { _ = try GraphFunction(contentsOf: patched) }
        }
        // A graph with an extern call (an op with no graph form; none of Ember's own ops is
        // one any more) runs compiled but is refused when saved.
        let extern = compile { (x: Tensor) -> Tensor in
            Tracing.recordOpaque("double", "", [x], replay: { $0[0] * 2 }) { x * 2 } + 1
        }
        _ = extern(Tensor.ones([2]))
        expectClose(extern(Tensor.ones([2])), Tensor.full([2], Float(3)))
        #expect(extern.lastFailure == nil && extern.graph!.description.contains("double"))
        #expect(throws: SerializationError.self) { try extern.save(to: directory.appendingPathComponent("extern.safetensors")) }
        // Pooling geometry that no pooling could have made (an output larger than the input
        // allows) is refused on load.
        let pooled = compile { (x: Tensor) -> Tensor in Functional.maxPool2d(x, kernelSize: 2) }
        _ = pooled(Tensor.ones([1, 1, 4, 4]))
        let pooledURL = directory.appendingPathComponent("pooled.safetensors")
        try pooled.save(to: pooledURL)
        let pooledText = String(decoding: try Data(contentsOf: pooledURL), as: UTF8.self)
        let geometry = "\\\"geometry\\\":\\\"[4, 4, 2, 2,"
        #expect(pooledText.contains(geometry), "\(pooledText.prefix(600))")
        let hostile = directory.appendingPathComponent("hostile-pool.safetensors")
        try Data(pooledText.replacingOccurrences(of: geometry, with: "\\\"geometry\\\":\\\"[4, 4, 9, 2,").utf8).write(to: hostile)
        #expect(throws: SerializationError.self) { _ = try GraphFunction(contentsOf: hostile) }
        // A constant index out of its dimension (the gather kernel would stop the program).
        let gathered = compile { (x: Tensor) -> Tensor in x.gather(dim: 1, index: Tensor([[3, 2]] as [[Int]])) }
        _ = gathered(Tensor.ones([1, 4]))
        let gatheredURL = directory.appendingPathComponent("gathered.safetensors")
        try gathered.save(to: gatheredURL)
        var gatheredBytes = [UInt8](try Data(contentsOf: gatheredURL))
        let pattern: [UInt8] = [3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
        let at = try #require((0...(gatheredBytes.count - pattern.count)).first { Array(gatheredBytes[$0..<$0 + pattern.count]) == pattern })
        gatheredBytes[at] = 9
        let outOfRange = directory.appendingPathComponent("out-of-range.safetensors")
        try Data(gatheredBytes).write(to: outOfRange)
        #expect(throws: SerializationError.self) { _ = try GraphFunction(contentsOf: outOfRange) }
        // A plain safetensors file is not a graph.
        let plain = directory.appendingPathComponent("plain.safetensors")
        try save(["w": Tensor.ones([2])], to: plain)
        #expect(throws: SerializationError.self) { _ = try GraphFunction(contentsOf: plain) }
    }

    /// Random compositions of pointwise ops, reductions and views, compiled against eager.
    @Test func randomGraphsMatchEager() {
        let generator = RandomGenerator(seed: 99)
        var state: UInt64 = 12345
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let unary: [(Tensor) -> Tensor] = [{ $0.tanh() }, { $0.sigmoid() }, { $0 * 0.5 }, { $0.relu() }, { $0.sin() },
                                           { ($0 + 2).sqrt() }, { $0.square() }, { -$0 }, { $0.exp() * 0.1 }]
        let binary: [(Tensor, Tensor) -> Tensor] = [{ $0 + $1 }, { $0 - $1 }, { $0 * $1 }, { $0.maximum($1) },
                                                   { Tensor.where($0 .> $1, $0, $1 * 2) }]
        for trial in 0..<30 {
            let shapes: [[Int]] = [[4, 6], [6], [4, 1], [1, 6], []]
            let inputs = (0..<3).map { index in Tensor.randn(index == 0 ? [4, 6] : shapes[next(shapes.count)], dtype: .float64, generator: generator) }
            var program: [(kind: Int, op: Int, a: Int, b: Int)] = []
            for _ in 0..<(3 + next(8)) { program.append((next(4), next(9), next(100), next(100))) }
            let body = { (xs: [Tensor]) -> Tensor in
                var values = xs
                for step in program {
                    let a = values[step.a % values.count], b = values[step.b % values.count]
                    switch step.kind {
                    case 0: values.append(unary[step.op % unary.count](a))
                    case 1: values.append(binary[step.op % binary.count](a, b))
                    case 2: values.append(a.rank == 2 ? a.sum(dim: step.op % 2, keepDim: true) : a.sum())
                    default: values.append(a.rank == 2 ? a.t.contiguous().t * 1.5 : a + 1)
                    }
                }
                return values.last!.rank == 0 ? values.last! : values.last!.sum(dim: -1)
            }
            expectCompiledMatchesEager("random graph \(trial)", inputs: inputs, relative: 1e-9, body)
        }
    }
}
