import Ember
import EmberExamples
import Testing

/// The same convolution composed from Ember ops: zero-pad, take the shifted window of each
/// tap as a slice, weight it, sum over taps and input channels. Slow, but every piece is an
/// op with its own tests, so it is an independent reference for values and gradients.
func referenceHexagonalConvolution(_ input: Tensor, _ weight: Tensor) -> Tensor {
    let height = input.shape[2], width = input.shape[3]
    let outChannels = weight.shape[0], inChannels = weight.shape[1]
    let padded = input.pad([1, 1, 1, 1])
    var result: Tensor?
    for (k, tap) in HexagonalLattice.taps.enumerated() {
        // padded[1 + r + dr, 1 + q + dq] is input[r + dr, q + dq], zero outside.
        let shifted = padded[..., (1 + tap.r)..<(1 + tap.r + height), (1 + tap.q)..<(1 + tap.q + width)]
        let tapWeights = weight[..., k].reshaped([1, outChannels, inChannels, 1, 1])
        let term = (shifted.unsqueezed(1) * tapWeights).sum(dim: 2)      // [N, O, H, W]
        result = result.map { $0 + term } ?? term
    }
    return result!
}

/// Records an issue unless shapes match and every element is within tolerance.
func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Double = 1e-10, _ context: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(context): shape \(actual.shape) != \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let a = actual.scalars(as: Double.self), e = expected.scalars(as: Double.self)
    for i in a.indices where !(Swift.abs(a[i] - e[i]) <= tolerance * (1 + Swift.abs(e[i]))) {
        Issue.record("\(context): element \(i) is \(a[i]), expected \(e[i])", sourceLocation: sourceLocation)
        return
    }
}

@Suite struct HexagonalConvolutionTests {
    /// With weights 10^k, each decimal digit k of an output is the input at tap k's
    /// neighbour (inputs are single digits, so digits never carry). On the 3x3 lattice
    ///     r = 0:  1 2 3
    ///     r = 1:  4 5 6
    ///     r = 2:  7 8 9
    /// the centre (q 1, r 1) reads centre 5, east (q+1) 6, west (q-1) 4, (0,+1) 8, (0,-1) 2,
    /// (+1,-1) 3, (-1,+1) 7: digits k6…k0 = 7 3 2 8 4 6 5. The corner (0, 0) has only the
    /// centre 1, east 2 and (0,+1) 4 inside the grid: 0 0 0 4 0 2 1.
    @Test func forwardMatchesAHandComputedLattice() {
        let input = Tensor(shape: [1, 1, 3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9] as [Double])
        let weight = Tensor(shape: [1, 1, 7], scalars: [1, 10, 100, 1000, 10_000, 100_000, 1_000_000] as [Double])
        let output = hexagonalConvolution(input, weight: weight)
        #expect(output.shape == [1, 1, 3, 3])
        #expect(output.dtype == .float64)
        #expect(output.scalars(as: Double.self) == [
            4021, 4_005_132, 5_006_203,
            217_054, 7_328_465, 8_039_506,
            540_087, 650_798, 60809,
        ])
    }

    @Test func forwardAndGradientsMatchTheComposedReference() {
        let generator = RandomGenerator(seed: 1)
        let input = Tensor.randn([2, 3, 4, 5], dtype: .float64, generator: generator, requiresGrad: true)
        let weight = Tensor.randn([2, 3, 7], dtype: .float64, generator: generator, requiresGrad: true)
        let seed = Tensor.randn([2, 2, 4, 5], dtype: .float64, generator: generator)

        let custom = hexagonalConvolution(input, weight: weight)
        let reference = referenceHexagonalConvolution(input, weight)
        expectClose(custom, reference, "forward")

        let customGradients = grad(of: [(custom * seed).sum()], withRespectTo: [input, weight])
        let referenceGradients = grad(of: [(reference * seed).sum()], withRespectTo: [input, weight])
        expectClose(customGradients[0]!, referenceGradients[0]!, "d/dinput")
        expectClose(customGradients[1]!, referenceGradients[1]!, "d/dweight")
    }

    @Test func gradcheckInputAndWeightInFloat64() {
        let generator = RandomGenerator(seed: 2)
        let input = Tensor.randn([2, 2, 3, 4], dtype: .float64, generator: generator, requiresGrad: true)
        let weight = Tensor.randn([2, 2, 7], dtype: .float64, generator: generator, requiresGrad: true)
        let result = gradcheck({ hexagonalConvolution($0[0], weight: $0[1]) }, inputs: [input, weight])
        #expect(result.passed, "\(result.report)")
    }

    @Test func gradgradcheckInputAndWeightInFloat64() {
        let generator = RandomGenerator(seed: 3)
        let input = Tensor.randn([1, 2, 3, 3], dtype: .float64, generator: generator, requiresGrad: true)
        let weight = Tensor.randn([2, 2, 7], dtype: .float64, generator: generator, requiresGrad: true)
        let result = gradgradcheck({ hexagonalConvolution($0[0], weight: $0[1]) }, inputs: [input, weight])
        #expect(result.passed, "\(result.report)")
    }

    @Test func weightGradientFunctionPassesGradcheck() {
        let generator = RandomGenerator(seed: 4)
        let gradOutput = Tensor.randn([1, 2, 3, 3], dtype: .float64, generator: generator, requiresGrad: true)
        let input = Tensor.randn([1, 1, 3, 3], dtype: .float64, generator: generator, requiresGrad: true)
        let result = gradcheck({ HexagonalConvolutionWeightGradient.apply($0[0], $0[1])[0] }, inputs: [gradOutput, input])
        #expect(result.passed, "\(result.report)")
    }

    @Test func nonContiguousInputsAndOtherDtypes() {
        let generator = RandomGenerator(seed: 5)
        let input = Tensor.randn([2, 3, 4, 5], dtype: .float64, generator: generator)
        let weight = Tensor.randn([2, 3, 7], dtype: .float64, generator: generator)
        let expected = referenceHexagonalConvolution(input, weight)
        // Stored transposed (height and width swapped in memory), then viewed back.
        let transposed = input.transposed(2, 3).contiguous().transposed(2, 3)
        #expect(!transposed.isContiguous)
        expectClose(hexagonalConvolution(transposed, weight: weight), expected, "transposed input")
        // float32 computes in Float and keeps its dtype; float16 is converted like Ember's ops.
        let single = hexagonalConvolution(input.to(.float32), weight: weight.to(.float32))
        #expect(single.dtype == .float32)
        expectClose(single, expected, tolerance: 1e-5, "float32")
        let half = hexagonalConvolution(input.to(.float16), weight: weight.to(.float16))
        #expect(half.dtype == .float16)
        expectClose(half, expected, tolerance: 2e-2, "float16")
        // Mixed dtypes promote as Ember's binary ops do.
        #expect(hexagonalConvolution(input.to(.float32), weight: weight).dtype == .float64)
    }

    @Test func singleChannelFormAndBias() {
        let generator = RandomGenerator(seed: 6)
        let lattice = Tensor.randn([2, 4, 4], dtype: .float64, generator: generator)
        let taps = Tensor.randn([7], dtype: .float64, generator: generator)
        let output = hexagonalConvolution(lattice, weight: taps)
        #expect(output.shape == [2, 4, 4])
        let expected = referenceHexagonalConvolution(lattice.unsqueezed(1), taps.reshaped([1, 1, 7])).squeezed(1)
        expectClose(output, expected, "single channel")

        let input = Tensor.randn([1, 2, 3, 3], dtype: .float64, generator: generator)
        let weight = Tensor.randn([3, 2, 7], dtype: .float64, generator: generator)
        let bias = Tensor([1, 2, 3] as [Double])
        expectClose(hexagonalConvolution(input, weight: weight, bias: bias),
                    referenceHexagonalConvolution(input, weight) + bias.reshaped([1, 3, 1, 1]), "bias")
    }

    @Test func recordsOneNodeNamedAfterTheFunction() {
        let input = Tensor.randn([1, 1, 3, 3], requiresGrad: true)
        let output = hexagonalConvolution(input, weight: Tensor.randn([1, 1, 7]))
        #expect(output.gradFunction?.name == "HexagonalConvolution")
        #expect(withNoGrad { hexagonalConvolution(input, weight: Tensor.randn([1, 1, 7])) }.gradFunction == nil)
    }

    @Test func mismatchedChannelsStopWithAMessage() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = hexagonalConvolution(Tensor.zeros([1, 2, 3, 3]), weight: Tensor.zeros([1, 3, 7]))
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("input channels"))
        }
    }
}
