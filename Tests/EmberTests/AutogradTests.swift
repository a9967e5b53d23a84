import Foundation
import Testing
@testable import Ember

@Suite struct AutogradTests {
    @Test func gradientsAccumulateAcrossBackwardCalls() {
        let x = Tensor([1, 2, 3] as [Double]).requiresGrad_()
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        expectClose(x.grad!, Tensor([2, 4, 6] as [Double]))
        y.backward()
        expectClose(x.grad!, Tensor([4, 8, 12] as [Double]))
        x.grad = nil
        (x * 3).sum().backward()
        expectClose(x.grad!, Tensor([3, 3, 3] as [Double]))
    }

    @Test func secondBackwardWithoutRetainGraphStops() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2] as [Double]).requiresGrad_()
            let y = (x.exp()).sum()
            y.backward()
            y.backward()
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("backward through the graph a second time"))
        }
    }

    @Test func gradientOfAGradientNormPenalty() {
        // penalty = |d/dx sum(x^3)|^2 = sum((3x^2)^2); d penalty/dx = 36 x^3
        let x = Tensor([0.5, -1, 2] as [Double]).requiresGrad_()
        let y = x.pow(3).sum()
        let g = grad(of: [y], withRespectTo: [x], createGraph: true)[0]!
        #expect(g.requiresGrad)
        let penalty = (g * g).sum()
        penalty.backward()
        expectClose(x.grad!, x.detach().pow(3) * 36)
    }

    @Test func functionalGradDoesNotTouchGrad() {
        let a = Tensor([1, 2] as [Double]).requiresGrad_()
        let b = Tensor([3, 4] as [Double]).requiresGrad_()
        let gradients = grad(of: [(a * b).sum()], withRespectTo: [a, b])
        expectClose(gradients[0]!, Tensor([3, 4] as [Double]))
        expectClose(gradients[1]!, Tensor([1, 2] as [Double]))
        #expect(a.grad == nil && b.grad == nil)
        let unused = Tensor([1] as [Double]).requiresGrad_()
        let allowed = grad(of: [(a * 2).sum()], withRespectTo: [a, unused], allowUnused: true)
        #expect(allowed[1] == nil)
    }

    @Test func noGradRecordsNothingAndIsThreadLocal() async {
        let w = Tensor.randn([3], dtype: .float64, requiresGrad: true)
        let inside = withNoGrad { w * 2 }
        #expect(!inside.requiresGrad && inside.gradFunction == nil)
        let nested = withNoGrad { withGrad { w * 2 } }
        #expect(nested.requiresGrad)
        // Another thread's no-grad scope does not turn off recording here.
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let thread = Thread {
            withNoGrad {
                started.signal()
                release.wait()
            }
        }
        thread.start()
        started.wait()
        #expect((w * 2).requiresGrad)
        release.signal()
    }

    @Test func leafAndIntermediateHooks() {
        let x = Tensor([1, 2] as [Double]).requiresGrad_()
        x.registerHook { $0 * 10 }
        let h = x * 3
        var seen: Tensor?
        h.registerHook { gradient in seen = gradient; return nil }
        h.retainGrad()
        var accumulated = 0
        x.registerPostAccumulateGradHook { _ in accumulated += 1 }
        (h * h).sum().backward()
        expectClose(seen!, h.detach() * 2)
        expectClose(h.grad!, h.detach() * 2)
        expectClose(x.grad!, h.detach() * 2 * 3 * 10)
        #expect(accumulated == 1)
    }

    @Test func detachSharesStorageAndCutsTheGraph() {
        let x = Tensor([1, 2] as [Double]).requiresGrad_()
        let y = x * 2
        let d = y.detach()
        #expect(!d.requiresGrad && d.isLeaf)
        #expect(d.storage === y.storage)
        #expect(y.gradFunction?.name == "mul")
        #expect(!x.isLeaf == false)
    }

    @Test func inPlaceModificationOfASavedTensorIsReported() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor([1, 2] as [Double]).requiresGrad_()
            let y = x.exp()          // exp saves its output
            y += 1
            y.sum().backward()
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("modified by an inplace operation"))
            #expect(message.contains("saved by exp"))
        }
    }

    @Test func inPlaceOnALeafThatRequiresGradStops() async {
        await #expect(processExitsWith: .failure) {
            let x = Tensor([1, 2] as [Double]).requiresGrad_()
            x += 1
        }
    }

    @Test func inPlaceOnANonLeafTakesOverItsHistory() {
        let x = Tensor([1, -2, 3] as [Double]).requiresGrad_()
        let y = x * 2
        y.relu_()
        y.sum().backward()
        expectClose(x.grad!, Tensor([2, 0, 2] as [Double]))
        withNoGrad { x += 1 }   // allowed without grad mode, bumps the version
        #expect(x.storage.version == 1)
    }

    @Test func broadcastingGradientsAreSummedBack() {
        let a = Tensor.randn([2, 3], dtype: .float64, requiresGrad: true)
        let b = Tensor.randn([3], dtype: .float64, requiresGrad: true)
        let c = Tensor.randn([2, 1], dtype: .float64, requiresGrad: true)
        #expect(gradcheck({ ($0[0] * $0[1] + $0[2]).tanh() }, inputs: [a, b, c]).passed)
    }

    @Test func mixedDtypeGradientsComeBackInTheInputDtype() {
        let a = Tensor([1, 2] as [Float]).requiresGrad_()
        let b = Tensor([3, 4] as [Double]).requiresGrad_()
        (a * b).sum().backward()
        #expect(a.grad!.dtype == .float32)
        #expect(b.grad!.dtype == .float64)
    }

    @Test func longChainsFreeWithoutRecursion() {
        // A million recorded ops: freeing the graph recursively would overflow the stack.
        let x = Tensor(1.0).requiresGrad_()
        var y = x
        for _ in 0..<1_000_000 { y = y * 1.0 }
        y = y + 0
        y = Tensor(0.0)   // drops the whole chain
        #expect(y.count == 1)
    }

    @Test func backwardThroughALongChain() {
        let x = Tensor(1.0).requiresGrad_()
        var y = x
        for _ in 0..<100_000 { y = y + 1 }
        y.backward()
        #expect(x.grad!.item() == 1)
    }

    @Test func trainingLoopMemoryStaysFlat() async {
        // In a process of its own: resident memory is per process, and tests run in parallel.
        await #expect(processExitsWith: .success) {
            let w = Tensor.randn([16, 16], dtype: .float64, requiresGrad: true)
            let x = Tensor.randn([16], dtype: .float64)
            func step() {
                let y = ((w * x).sum(dim: 1).tanh() * 2).sum()
                y.backward()
                withNoGrad { w -= w.grad! * 0.001 }
                w.grad = nil
            }
            for _ in 0..<500 { step() }
            let before = residentBytes()
            for _ in 0..<10_000 { step() }
            let growth = residentBytes() - before
            precondition(growth < 8 << 20, "resident memory grew by \(growth) bytes over 10,000 steps")
        }
    }

    @Test func anomalyModeNamesTheForwardOp() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            setAnomalyDetection(true)
            let x = Tensor([0, 1] as [Double]).requiresGrad_()
            let y = squareRootForAnomalyTest(x)     // d sqrt(x)/dx at 0 is inf
            y.sum().backward()
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("sqrtBackward"))
            #expect(message.contains("AutogradTests"))
            // The Swift source line of the forward call, where the system has addr2line.
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/addr2line") {
                #expect(message.contains("squareRootForAnomalyTest") && message.contains("AutogradTests.swift:"), "\(message)")
            }
        }
    }
}

/// Calls `sqrt` from a plain function of this file, so that the anomaly report has a source
/// line in AutogradTests.swift to name (the exit test's own body is macro-generated code).
func squareRootForAnomalyTest(_ x: Tensor) -> Tensor {
    x.sqrt()
}

/// Resident set size of this process, from /proc (Linux); 0 elsewhere.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields.count > 1 ? fields[1] : "0") ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

// MARK: - Custom functions

/// x³ with a hand-written backward rule, the documentation's example.
enum Cube: AutogradFunction {
    static func forward(_ context: FunctionContext, _ inputs: [Tensor]) -> [Tensor] {
        context.saveForBackward(inputs[0])
        return [inputs[0] * inputs[0] * inputs[0]]
    }
    static func backward(_ context: FunctionContext, _ gradOutputs: [Tensor]) -> [Tensor?] {
        let x = context.savedTensors[0]
        return [gradOutputs[0] * x * x * 3]
    }
}

/// Returns (x * 2, x > 0): the second output is a mask without gradient.
enum DoubleWithMask: AutogradFunction {
    static func forward(_ context: FunctionContext, _ inputs: [Tensor]) -> [Tensor] {
        let mask = inputs[0] .> 0
        context.markNonDifferentiable(mask)
        return [inputs[0] * 2, mask]
    }
    static func backward(_ context: FunctionContext, _ gradOutputs: [Tensor]) -> [Tensor?] {
        [gradOutputs[0] * 2]
    }
}

@Suite struct CustomFunctionTests {
    @Test func customFunctionPassesGradcheckAndGradgradcheck() {
        let x = Tensor.randn([4], dtype: .float64, requiresGrad: true)
        #expect(gradcheck({ Cube.apply($0[0])[0] }, inputs: [x]).passed)
        #expect(gradgradcheck({ Cube.apply($0[0])[0] }, inputs: [x]).passed)
        let y = Cube.apply(x)[0]
        #expect(y.gradFunction?.name == "Cube")
    }

    @Test func nonDifferentiableOutputs() {
        let x = Tensor([1, -1] as [Double]).requiresGrad_()
        let outputs = DoubleWithMask.apply(x)
        #expect(outputs[0].requiresGrad)
        #expect(!outputs[1].requiresGrad)
        outputs[0].sum().backward()
        expectClose(x.grad!, Tensor([2, 2] as [Double]))
    }
}
