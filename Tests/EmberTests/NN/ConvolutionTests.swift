import Testing
@testable import Ember

/// Convolution ops and layers: PyTorch references (scripts/fixtures/generate_conv.py), float32
/// against float64, gradcheck and gradgradcheck in float64, error messages.
@Suite struct ConvolutionTests {
    static let cases = WindowLayerFixture.load("conv")

    @Test(arguments: cases)
    func matchesPyTorch(_ fixture: WindowLayerFixture) throws { try fixture.check() }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        Tensor.randn(shape, dtype: .float64, generator: RandomGenerator(seed: seed))
    }

    @Test func float32MatchesFloat64() {
        let x = Self.random([2, 4, 9, 8], seed: 1), w = Self.random([6, 2, 3, 3], seed: 2), b = Self.random([6], seed: 3)
        let reference = Functional.conv2d(x, weight: w, bias: b, stride: 2, padding: 1, groups: 2)
        let single = Functional.conv2d(x.to(.float32), weight: w.to(.float32), bias: b.to(.float32), stride: 2, padding: 1, groups: 2)
        expectClose(single, reference.to(.float32), relative: 1e-4, absolute: 1e-4, "float32 conv2d")
        let half = Functional.conv2d(x.to(.bfloat16), weight: w.to(.bfloat16), stride: 2, padding: 1, groups: 2)
        #expect(half.dtype == .bfloat16 && half.shape == [2, 6, 5, 4])
    }

    @Test func unbatchedInputs() {
        let x = Self.random([3, 6, 5], seed: 4), w = Self.random([2, 3, 3, 3], seed: 5)
        let y = Functional.conv2d(x, weight: w, padding: 1)
        expectClose(y, Functional.conv2d(x.unsqueezed(0), weight: w, padding: 1).squeezed(0))
        let line = Self.random([3, 7], seed: 6), kernel = Self.random([4, 3, 2], seed: 7)
        #expect(Functional.conv1d(line, weight: kernel).shape == [4, 6])
    }

    /// One gradcheck per op, with respect to input, weight and bias.
    static let gradcheckCases: [OperationGradcheck] = [
        OperationGradcheck("conv2d", "stride, padding, dilation, groups", inputs: conv2dInputs, conv2d),
        OperationGradcheck("conv1d", "stride, padding, dilation", inputs: {
            [random([2, 2, 7], seed: 13).requiresGrad_(), random([3, 2, 3], seed: 14).requiresGrad_()]
        }) { Functional.conv1d($0[0], weight: $0[1], stride: 2, padding: 1, dilation: 2) },
        OperationGradcheck("convTranspose2d", "stride, padding, output padding, groups", inputs: convTranspose2dInputs,
                           convTranspose2d),
    ]

    @Sendable static func conv2d(_ t: [Tensor]) -> Tensor {
        Functional.conv2d(t[0], weight: t[1], bias: t[2], stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2)
    }

    @Sendable static func conv2dInputs() -> [Tensor] {
        [random([2, 4, 5, 4], seed: 8).requiresGrad_(), random([4, 2, 3, 2], seed: 9).requiresGrad_(),
         random([4], seed: 10).requiresGrad_()]
    }

    @Sendable static func convTranspose2d(_ t: [Tensor]) -> Tensor {
        Functional.convTranspose2d(t[0], weight: t[1], bias: t[2], stride: 2, padding: 1, outputPadding: 1, groups: 2)
    }

    @Sendable static func convTranspose2dInputs() -> [Tensor] {
        [random([1, 4, 3, 3], seed: 15).requiresGrad_(), random([4, 1, 3, 3], seed: 16).requiresGrad_(),
         random([2], seed: 17).requiresGrad_()]
    }

    @Test(arguments: gradcheckCases)
    func gradcheckFloat64(_ gradcheck: OperationGradcheck) { gradcheck.check() }

    @Test func gradgradcheckConv2d() {
        let result = gradgradcheck(Self.conv2d, inputs: Self.conv2dInputs())
        #expect(result.passed, "\(result)")
    }

    @Test func gradgradcheckConv2dSame() {
        let x = Self.random([1, 2, 4, 4], seed: 11).requiresGrad_()
        let w = Self.random([2, 2, 2, 2], seed: 12).requiresGrad_()
        let result = gradgradcheck({ Functional.conv2d($0[0], weight: $0[1], padding: .same) }, inputs: [x, w])
        #expect(result.passed, "\(result)")
    }

    @Test func gradgradcheckConvTranspose2d() {
        let result = gradgradcheck(Self.convTranspose2d, inputs: Self.convTranspose2dInputs())
        #expect(result.passed, "\(result)")
    }

    @Test func defaultInitialisationBounds() {
        let conv = Conv2d(3, 8, kernelSize: 3)
        let bound = 1 / (27.0).squareRoot()
        #expect(conv.weight.shape == [8, 3, 3, 3] && conv.bias!.shape == [8])
        #expect(conv.weight.abs().max().item(as: Double.self) <= bound)
        #expect(conv.bias!.abs().max().item(as: Double.self) <= bound)
        #expect(conv.stateDict().keys.sorted() == ["bias", "weight"])
        let transpose = ConvTranspose2d(4, 6, kernelSize: 2, groups: 2)
        #expect(transpose.weight.shape == [4, 3, 2, 2])
    }

    @Test func channelMismatchStopsWithPyTorchMessage() async throws {
        let exit = try #require(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Functional.conv2d(Tensor.zeros([1, 4, 8, 8]), weight: Tensor.zeros([64, 3, 3, 3]))
        })
        let message = String(decoding: exit.standardErrorContent, as: UTF8.self)
        #expect(message.contains("Given groups=1, weight of size [64, 3, 3, 3], expected input[1, 4, 8, 8] to have 3 channels, but got 4 channels instead"), "\(message)")
    }

    @Test func kernelLargerThanInputStopsWithPyTorchMessage() async throws {
        let exit = try #require(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Functional.conv2d(Tensor.zeros([1, 3, 2, 2]), weight: Tensor.zeros([4, 3, 3, 3]))
        })
        let message = String(decoding: exit.standardErrorContent, as: UTF8.self)
        #expect(message.contains("Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size can't be greater than actual input size"), "\(message)")
        await #expect(processExitsWith: .failure) {
            _ = Functional.conv2d(Tensor.zeros([1, 3, 8, 8]), weight: Tensor.zeros([4, 3, 3, 3]), stride: 2, padding: .same)
        }
    }
}
