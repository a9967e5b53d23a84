import Testing
@testable import Ember

/// The whole-layer LSTM op (Ops/FusedLSTMLayer.swift) by finite differences (gradcheck, and
/// gradgradcheck for its createGraph form) and against the step-by-step layer it replaces
/// (`fusesLSTMLayers = false`), outputs and every gradient. RecurrentTests checks the fused
/// layer against PyTorch's fixtures.
@Suite struct FusedLSTMLayerTests {
    static func random(_ shape: [Int], _ dtype: DType, _ seed: UInt64) -> Tensor {
        Tensor.randn(shape, dtype: dtype, generator: RandomGenerator(seed: seed))
    }

    /// inputGates, W_hh, h0, c0 for T steps, batch B, hidden H.
    static func operands(steps: Int, batch: Int, hidden: Int, seed: UInt64) -> [Tensor] {
        [Self.random([steps, batch, 4 * hidden], .float64, seed),
         Self.random([4 * hidden, hidden], .float64, seed + 1) * 0.5,
         Self.random([batch, hidden], .float64, seed + 2),
         Self.random([batch, hidden], .float64, seed + 3)].map { $0.requiresGrad_() }
    }

    static func flattenedOutputs(_ t: [Tensor], reverse: Bool) -> Tensor {
        let (output, h, c) = FusedLSTMLayer.apply(inputGates: t[0], hiddenWeight: t[1], h0: t[2], c0: t[3], reverse: reverse)
        return Tensor.cat([output.reshaped([-1]), h.reshaped([-1]), c.reshaped([-1])])
    }

    @Test(arguments: [false, true])
    func gradcheckFusedLayer(reverse: Bool) {
        let inputs = Self.operands(steps: 4, batch: 2, hidden: 3, seed: 1)
        let result = gradcheck({ Self.flattenedOutputs($0, reverse: reverse) }, inputs: inputs)
        #expect(result.passed, "\(result.report)")
    }

    @Test(arguments: [false, true])
    func gradgradcheckFusedLayer(reverse: Bool) {
        let inputs = Self.operands(steps: 3, batch: 2, hidden: 2, seed: 11)
        let result = gradgradcheck({ Self.flattenedOutputs($0, reverse: reverse) }, inputs: inputs)
        #expect(result.passed, "\(result.report)")
    }

    @Test func oneStepEqualsTheFusedCell() {
        let t = Self.operands(steps: 1, batch: 3, hidden: 5, seed: 21)
        let (output, h, c) = FusedLSTMLayer.apply(inputGates: t[0], hiddenWeight: t[1], h0: t[2], c0: t[3], reverse: false)
        let (cellH, cellC) = FusedLSTMCell.apply(inputGates: t[0][0], hiddenGates: t[2].matmul(t[1].t), cPrev: t[3])
        expectClose(output[0], cellH, relative: 1e-14, absolute: 1e-14)
        expectClose(h, cellH, relative: 1e-14, absolute: 1e-14)
        expectClose(c, cellC, relative: 1e-14, absolute: 1e-14)
    }

    /// A two-layer bidirectional LSTM, fused and step by step, from given initial states:
    /// outputs, final states and the gradients of the input, the states and every parameter.
    /// Hidden sizes cover the cell kernel's masked tail (13) and whole vectors (16).
    @Test(arguments: [DType.float64, .float32], [13, 16])
    func fusedMatchesStepByStep(_ dtype: DType, _ hidden: Int) {
        func run(fused: Bool) -> [Tensor] {
            let lstm = LSTM(inputSize: 6, hiddenSize: hidden, numLayers: 2, batchFirst: true, bidirectional: true,
                            dtype: dtype, generator: RandomGenerator(seed: 31))
            lstm.fusesLSTMLayers = fused
            let x = Self.random([3, 7, 6], dtype, 32).requiresGrad_()
            let h0 = Self.random([4, 3, hidden], dtype, 33).requiresGrad_()
            let c0 = Self.random([4, 3, hidden], dtype, 34).requiresGrad_()
            let (output, (h, c)) = lstm(x, (h0, c0))
            let weights = (Self.random(output.shape, dtype, 35), Self.random(h.shape, dtype, 36), Self.random(c.shape, dtype, 37))
            ((output * weights.0).sum() + (h * weights.1).sum() + (c * weights.2).sum()).backward()
            return [output.detach(), h.detach(), c.detach(), x.grad!, h0.grad!, c0.grad!]
                + lstm.parameters().map { $0.grad! }
        }
        let fused = run(fused: true), stepByStep = run(fused: false)
        #expect(fused.count == 6 + 16)
        let tolerance = dtype == .float64 ? 1e-11 : 2e-5
        for (index, (actual, expected)) in zip(fused, stepByStep).enumerated() {
            expectClose(actual, expected, relative: tolerance, absolute: tolerance, "\(dtype) H=\(hidden) tensor \(index)")
        }
    }

    @Test func layerRunsAsOneNodePerDirection() {
        for fused in [true, false] {
            let lstm = LSTM(inputSize: 2, hiddenSize: 3)
            lstm.fusesLSTMLayers = fused
            let (output, _) = lstm(Self.random([4, 1, 2], .float32, 61))
            #expect((output.gradFunction?.name == "lstm") == fused)
        }
    }

    @Test func outputsThatGetNoGradientCountAsZero() {
        // Only the output sequence is used: the final states' gradients are zero-filled.
        let t = Self.operands(steps: 5, batch: 2, hidden: 4, seed: 41)
        let (output, _, _) = FusedLSTMLayer.apply(inputGates: t[0], hiddenWeight: t[1], h0: t[2], c0: t[3], reverse: true)
        output.square().sum().backward()
        let fusedGradients = t.map { $0.grad! }
        let u = Self.operands(steps: 5, batch: 2, hidden: 4, seed: 41)
        var h = u[2], c = u[3]
        var outputs = [Tensor](repeating: h, count: 5)
        for step in (0..<5).reversed() {
            (h, c) = RecurrentStep.lstm(projectedInput: u[0][step], h, c, u[1], hiddenBias: nil, fused: false)
            outputs[step] = h
        }
        Tensor.stack(outputs, dim: 0).square().sum().backward()
        for (index, (actual, expected)) in zip(fusedGradients, u.map { $0.grad! }).enumerated() {
            expectClose(actual, expected, relative: 1e-12, absolute: 1e-12, "gradient \(index)")
        }
    }

    @Test func inPlaceWriteToTheOutputIsCaughtInBackward() async {
        await #expect(processExitsWith: .failure) {
            let t = FusedLSTMLayerTests.operands(steps: 2, batch: 1, hidden: 2, seed: 51)
            let (output, _, _) = FusedLSTMLayer.apply(inputGates: t[0], hiddenWeight: t[1], h0: t[2], c0: t[3], reverse: false)
            let y = output * 2
            withNoGrad { _ = output.fill_(0) }
            y.sum().backward()
        }
    }
}
