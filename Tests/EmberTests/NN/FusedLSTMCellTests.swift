import Testing
@testable import Ember

/// The fused LSTM cell op (Ops/FusedLSTMCell.swift) against itself by finite differences
/// (gradcheck, and gradgradcheck for its createGraph form) and against the composed ops it
/// replaces (RecurrentStep.lstm with `fused: false`), forward and backward.
@Suite struct FusedLSTMCellTests {
    static func random(_ shape: [Int], _ dtype: DType, _ seed: UInt64) -> Tensor {
        Tensor.randn(shape, dtype: dtype, generator: RandomGenerator(seed: seed))
    }

    @Test func gradcheckFusedOp() {
        for twoGateInputs in [true, false] {
            let a = Self.random([3, 20], .float64, 1).requiresGrad_()
            let b = Self.random([3, 20], .float64, 2).requiresGrad_()
            let c = Self.random([3, 5], .float64, 3).requiresGrad_()
            let result = gradcheck({ t in
                let (h, cell) = FusedLSTMCell.apply(inputGates: t[0], hiddenGates: twoGateInputs ? t[2] : nil, cPrev: t[1])
                return Tensor.cat([h.reshaped([-1]), cell.reshaped([-1])])
            }, inputs: twoGateInputs ? [a, c, b] : [a, c])
            #expect(result.passed, "\(result.report)")
        }
    }

    @Test func gradgradcheckFusedOp() {
        let a = Self.random([2, 12], .float64, 4).requiresGrad_()
        let b = Self.random([2, 12], .float64, 5).requiresGrad_()
        let c = Self.random([2, 3], .float64, 6).requiresGrad_()
        let result = gradgradcheck({ t in
            let (h, cell) = FusedLSTMCell.apply(inputGates: t[0], hiddenGates: t[1], cPrev: t[2])
            return Tensor.cat([h.reshaped([-1]), cell.reshaped([-1])])
        }, inputs: [a, b, c])
        #expect(result.passed, "\(result.report)")
    }

    /// One LSTM step fused and composed, on random inputs: outputs and every gradient. Hidden
    /// sizes cover the vector loop's masked tail (13) and whole vectors (16).
    @Test(arguments: [DType.float64, .float32], [13, 16])
    func fusedMatchesComposed(_ dtype: DType, _ hidden: Int) {
        let rows = 4
        for withBias in [false, true] {
            func run(fused: Bool) -> [Tensor] {
                let x = Self.random([rows, 4 * hidden], dtype, 7).requiresGrad_()
                let h = Self.random([rows, hidden], dtype, 8).requiresGrad_()
                let c = (Self.random([rows, hidden], dtype, 9) * 2.0).requiresGrad_()
                let w = (Self.random([4 * hidden, hidden], dtype, 10) * 0.3).requiresGrad_()
                let bias = withBias ? Self.random([4 * hidden], dtype, 11).requiresGrad_() : nil
                let (hNext, cNext) = RecurrentStep.lstm(projectedInput: x, h, c, w, hiddenBias: bias, fused: fused)
                #expect((hNext.gradFunction?.name == "lstmCell") == fused)
                let weights = (Self.random([rows, hidden], dtype, 12), Self.random([rows, hidden], dtype, 13))
                ((hNext * weights.0).sum() + (cNext * weights.1).sum()).backward()
                return [hNext.detach(), cNext.detach(), x.grad!, h.grad!, c.grad!, w.grad!] + (bias.map { [$0.grad!] } ?? [])
            }
            let fused = run(fused: true), composed = run(fused: false)
            let tolerance = dtype == .float64 ? 1e-12 : 2e-6
            for (index, (actual, expected)) in zip(fused, composed).enumerated() {
                expectClose(actual, expected, relative: tolerance, absolute: tolerance, "\(dtype) H=\(hidden) bias=\(withBias) tensor \(index)")
            }
        }
    }

    @Test func withoutGradRecordsNothingAndGivesTheSameValues() {
        let x = Self.random([2, 36], .float32, 1), c = Self.random([2, 9], .float32, 2)
        let (h, cell) = withNoGrad { FusedLSTMCell.apply(inputGates: x, hiddenGates: nil, cPrev: c) }
        #expect(h.gradFunction == nil)
        let (hTracked, cellTracked) = FusedLSTMCell.apply(inputGates: x.detach().requiresGrad_(), hiddenGates: nil, cPrev: c)
        expectClose(h, hTracked.detach(), relative: 0, absolute: 0)
        expectClose(cell, cellTracked.detach(), relative: 0, absolute: 0)
    }

    @Test func layerGradientOfGradientUsesTheDifferentiableRule() {
        // createGraph through a whole LSTM layer: the second-order gradient exists and matches
        // finite differences (gradgradcheck of the input gradient).
        let lstm = LSTM(inputSize: 2, hiddenSize: 3, dtype: .float64)
        let x = Self.random([3, 1, 2], .float64, 21).requiresGrad_()
        let result = gradgradcheck({ t in lstm(t[0]).output }, inputs: [x])
        #expect(result.passed, "\(result.report)")
    }
}
