import Foundation
import Testing
@testable import Ember

/// Whole training steps (forward, backward, optimizer update) through `compile`: the writes
/// to parameters and optimizer buffers and the `.grad` assignments are replayed by each
/// compiled call, and every value the trace baked in is guarded.
@Suite("compile: whole training steps and in-place writes")
struct CompileTrainingStepTests {
    /// A small classifier, its data and an optimizer, the same for every run with one seed.
    struct Setup {
        let model: Sequential
        let optimizer: Optimizer
        let x: Tensor
        let targets: Tensor

        /// A fresh model; with `copying`, one with the same parameters and data (tests run in
        /// parallel, so the default generator cannot be reseeded to repeat a model).
        init(dtype: DType, copying original: Setup? = nil, optimizer make: ([Tensor]) -> Optimizer) {
            model = Sequential { Linear(6, 16, dtype: dtype); Tanh(); Linear(16, 3, dtype: dtype) }
            if let original {
                _ = try! model.loadStateDict(original.model.stateDict())
                (x, targets) = (original.x, original.targets)
            } else {
                let generator = RandomGenerator(seed: 3)
                x = Tensor.randn([8, 6], dtype: dtype, generator: generator)
                targets = Tensor.randint(0, 3, [8], generator: generator)
            }
            optimizer = make(model.parameters())
        }

        /// The training step as one compiled function of the batch and its targets.
        func compiledStep(zeroingGradients: Bool = true) -> CompiledFunction {
            compile { (x: Tensor, targets: Tensor) -> Tensor in
                if zeroingGradients { optimizer.zeroGrad() }
                let loss = crossEntropy(model(x), targets)
                loss.backward()
                optimizer.step()
                return loss.detach()
            }
        }

        func eagerStep() -> Tensor {
            optimizer.zeroGrad()
            let loss = crossEntropy(model(x), targets)
            loss.backward()
            optimizer.step()
            return loss.detach()
        }
    }

    /// Runs `steps` steps eagerly and compiled from the same start; the parameters, losses and
    /// optimizer buffers must agree bit for bit (nothing is fused across the update's roundings).
    func expectCompiledStepsMatchEager(dtype: DType, steps: Int = 6, traces: Int = 2, _ make: @escaping ([Tensor]) -> Optimizer) {
        let eager = Setup(dtype: dtype, optimizer: make)
        let compiled = Setup(dtype: dtype, copying: eager, optimizer: make)
        let step = compiled.compiledStep()
        for index in 0..<steps {
            let expected = eager.eagerStep(), actual = step(compiled.x, compiled.targets)
            #expect(actual.scalars(as: Double.self) == expected.scalars(as: Double.self), "loss at step \(index)")
        }
        #expect(step.lastFailure == nil || step.lastFailure!.retriesNextCall,
                "\(String(describing: step.lastFailure))")
        // With buffers, the first call made them, so the second traced; the rest ran compiled.
        #expect(step.traceCount == traces, "traced \(step.traceCount) times; \(String(describing: step.lastFailure))")
        for (a, b) in zip(compiled.model.parameters(), eager.model.parameters()) {
            #expect(a.scalars(as: Double.self) == b.scalars(as: Double.self), "parameter of shape \(a.shape)")
            #expect(a.grad?.scalars(as: Double.self) == b.grad?.scalars(as: Double.self), "gradient of shape \(a.shape)")
        }
        let eagerState = eager.optimizer.stateDict().state, compiledState = compiled.optimizer.stateDict().state
        for (position, buffers) in eagerState {
            for (name, buffer) in buffers {
                #expect(compiledState[position]?[name]?.scalars(as: Double.self) == buffer.scalars(as: Double.self), "\(name) of parameter \(position)")
            }
        }
    }

    @Test func sgdWithMomentum() {
        expectCompiledStepsMatchEager(dtype: .float64) { SGD($0, lr: 0.1, momentum: 0.9, weightDecay: 1e-3) }
    }

    @Test func plainSGD() {
        expectCompiledStepsMatchEager(dtype: .float32, traces: 1) { SGD($0, lr: 0.05) }
    }

    @Test func adamFromItsStepCount() {
        expectCompiledStepsMatchEager(dtype: .float32) { Adam($0, lr: 1e-2) }
    }

    @Test func adamWWithAMSGrad() {
        expectCompiledStepsMatchEager(dtype: .float64) { AdamW($0, lr: 1e-2, weightDecay: 0.1, amsgrad: true) }
    }

    @Test func adamaxAndAdagradFromTheirStepCounts() {
        expectCompiledStepsMatchEager(dtype: .float64) { Adamax($0, lr: 1e-2) }
        expectCompiledStepsMatchEager(dtype: .float32) { Adagrad($0, lr: 1e-2, lrDecay: 0.1) }
    }

    @Test func rmsprop() {
        expectCompiledStepsMatchEager(dtype: .float64) { RMSprop($0, lr: 1e-2, momentum: 0.5) }
    }

    @Test func updatesAreComputedStraightIntoTheirTensors() {
        let setup = Setup(dtype: .float32) { SGD($0, lr: 0.1, momentum: 0.9) }
        let step = setup.compiledStep()
        for _ in 0..<3 { _ = step(setup.x, setup.targets) }
        let plan = try! #require(step.executionPlan)
        // Four parameters and their four momentum buffers, each written by the group computing it.
        #expect(plan.components(separatedBy: "into its tensor").count - 1 == 8, "\(plan)")
        // The engine's copy of each gradient is gone: the gradients are the products themselves.
        #expect(!step.graph!.description.contains("copy("), "\(step.graph!)")
        let parameters = setup.model.parameters().map { $0.scalars(as: Float.self) }
        let allocations = TensorStorage.countingAllocations { _ = step(setup.x, setup.targets) }.allocations
        #expect(setup.model.parameters().map { $0.scalars(as: Float.self) } != parameters)
        // The loss, the four gradients left in .grad, and the ops with no planned form here
        // (the comparison and integer where of the ignore-index mask).
        #expect(allocations == 7, "\(plan)")
    }

    @Test func changingTheLearningRateRetraces() {
        let eager = Setup(dtype: .float64) { SGD($0, lr: 0.1) }
        let compiled = Setup(dtype: .float64, copying: eager) { SGD($0, lr: 0.1) }
        let step = compiled.compiledStep()
        for index in 0..<6 {
            if index == 3 {
                eager.optimizer.paramGroups[0].lr = 0.01
                compiled.optimizer.paramGroups[0].lr = 0.01
            }
            _ = eager.eagerStep()
            _ = step(compiled.x, compiled.targets)
        }
        #expect(step.traceCount == 2, "\(step.traceCount)")
        for (a, b) in zip(compiled.model.parameters(), eager.model.parameters()) {
            #expect(a.scalars(as: Double.self) == b.scalars(as: Double.self))
        }
    }

    @Test func gradientsZeroedOutsideTheStep() {
        let eager = Setup(dtype: .float64) { SGD($0, lr: 0.1) }
        let compiled = Setup(dtype: .float64, copying: eager) { SGD($0, lr: 0.1) }
        let step = compiled.compiledStep(zeroingGradients: false)
        for _ in 0..<4 {
            _ = eager.eagerStep()
            compiled.optimizer.zeroGrad()
            _ = step(compiled.x, compiled.targets)
        }
        #expect(step.traceCount == 1)
        for (a, b) in zip(compiled.model.parameters(), eager.model.parameters()) {
            #expect(a.scalars(as: Double.self) == b.scalars(as: Double.self))
        }
    }

    @Test func gradientsAccumulatedAcrossCallsRunEagerly() {
        let model = Linear(3, 1, dtype: .float64)
        let x = Tensor.ones([2, 3], dtype: .float64)
        let accumulate = compile { (x: Tensor) -> Tensor in
            let loss = model(x).sum()
            loss.backward()
            return loss.detach()
        }
        _ = accumulate(x)
        _ = accumulate(x)
        _ = accumulate(x)
        // Three backward passes accumulate three times the gradient, as eagerly.
        #expect(model.weight.grad!.scalars(as: Double.self) == [6, 6, 6])
        #expect(accumulate.lastFailure?.reason.contains("accumulated before the call") == true,
                "\(String(describing: accumulate.lastFailure))")
    }

    @Test func batchNormRunningStatisticsUpdateInCompiledCalls() {
        let eager = BatchNorm1d(4, dtype: .float64), compiledLayer = BatchNorm1d(4, dtype: .float64)
        let f = compiledLayer.compiled()
        let generator = RandomGenerator(seed: 5)
        for _ in 0..<4 {
            let x = Tensor.randn([8, 4], dtype: .float64, generator: generator)
            let expected = withNoGrad { eager(x) }, actual = withNoGrad { f(x) }
            #expect(actual.scalars(as: Double.self) == expected.scalars(as: Double.self))
        }
        #expect(f.traceCount == 1, "\(String(describing: f.lastFailure))")
        #expect(compiledLayer.runningMean!.scalars(as: Double.self) == eager.runningMean!.scalars(as: Double.self))
        #expect(compiledLayer.runningVar!.scalars(as: Double.self) == eager.runningVar!.scalars(as: Double.self))
        #expect(compiledLayer.numBatchesTracked!.scalars(as: Int.self) == [4])
    }

    @Test func writesToArgumentsAndTraceTensors() {
        let f = compile { (x: Tensor) -> Tensor in
            let y = x * 2
            y += 1            // a tensor of the trace: rebinds y
            x.mul_(y)         // an argument: copied back after each call
            return y
        }
        for value in [1.0, 2.0, 3.0] {
            let x = Tensor.full([3], value)
            let y = f(x)
            #expect(y.scalars(as: Double.self) == Array(repeating: 2 * value + 1, count: 3))
            #expect(x.scalars(as: Double.self) == Array(repeating: value * (2 * value + 1), count: 3))
        }
        #expect(f.traceCount == 1 && f.lastFailure == nil, "\(String(describing: f.lastFailure))")
    }

    @Test func writesIntoSlicesAreFunctionalised() {
        // A slice of a tensor of the trace, written and read back.
        let slice = compile { (x: Tensor) -> Tensor in
            let y = x * 2
            y[0].fill_(7)
            y[1...] += y[0]
            return y
        }
        for value in [1.0, 2.0] {
            expectClose(slice(Tensor.full([3], value)), Tensor([7, 7 + 2 * value, 7 + 2 * value] as [Double]).to(.float32))
        }
        #expect(slice.traceCount == 1 && slice.lastFailure == nil, "\(String(describing: slice.lastFailure))")
        // A cache outside the function, one row written per call (a key/value cache).
        let cache = Tensor.zeros([3, 2])
        let position = Tensor(0.0)
        let append = compile { (row: Tensor, at: Tensor) -> Tensor in
            cache[1].copy_(row)
            return cache.sum(dim: 0) + at
        }
        for step in 1...3 {
            let row = Tensor([Double(step), -Double(step)] as [Double]).to(.float32)
            expectClose(append(row, position), Tensor([Float(step), Float(-step)]))
        }
        #expect(cache.scalars(as: Float.self) == [0, 0, 3, -3, 0, 0])
        #expect(append.traceCount == 1 && append.lastFailure == nil, "\(String(describing: append.lastFailure))")
    }

    @Test func partialWritesAndStaleViewsRunEagerlyWithAMessage() {
        let partial = compile { (x: Tensor) -> Tensor in
            let y = x.reshaped([2, 2]) * 2
            y.t[0].fill_(7)
            return y
        }
        _ = partial(Tensor.ones([4]))
        expectClose(partial(Tensor.ones([4])), Tensor([[7, 2], [7, 2]] as [[Float]]))
        #expect(partial.lastFailure?.reason.contains("part of a tensor") == true, "\(String(describing: partial.lastFailure))")

        let weight = Tensor.ones([2, 2])
        let stale = compile { (x: Tensor) -> Tensor in
            let view = weight.t
            let before = x.matmul(view)
            withNoGrad { weight += 1 }
            return before + x.matmul(view)     // the view sees the write eagerly
        }
        let x = Tensor.ones([1, 2])
        expectClose(stale(x), Tensor([[6, 6]] as [[Float]]))
        #expect(stale.lastFailure?.reason.contains("wrote after the view was made") == true, "\(String(describing: stale.lastFailure))")
    }

    @Test func stateKeptBySwiftCodeIsCaught() {
        var kept: [Tensor] = []
        let counter = Tensor.zeros([1])
        let f = compile { (x: Tensor) -> Tensor in
            counter += 1
            kept.append(x * 3)     // a new tensor each call: a compiled call could not make it
            return x + counter
        }
        for _ in 0..<3 { _ = f(Tensor.ones([1])) }
        #expect(kept.count == 3)
        #expect(counter.scalars(as: Float.self) == [3])
        #expect(f.lastFailure?.reason.contains("kept by Swift code") == true, "\(String(describing: f.lastFailure))")
    }
}
