import Testing
@testable import Ember

/// Pooling and interpolation ops and layers: PyTorch references, gradcheck in float64,
/// gradgradcheck for average pooling, error messages.
@Suite struct PoolingTests {
    static let cases = WindowLayerFixture.load("pooling")

    @Test(arguments: cases)
    func matchesPyTorch(_ fixture: WindowLayerFixture) throws { try fixture.check() }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        Tensor.randn(shape, dtype: .float64, generator: RandomGenerator(seed: seed))
    }

    /// One gradcheck per op (and interpolation mode), on an image batch or a batch of lines.
    static let gradcheckCases: [OperationGradcheck] = {
        let image: @Sendable () -> [Tensor] = { [random([1, 2, 5, 6], seed: 21).requiresGrad_()] }
        let line: @Sendable () -> [Tensor] = { [random([2, 2, 7], seed: 22).requiresGrad_()] }
        return [
            OperationGradcheck("maxPool2d", "k3 s2 p1 ceil", inputs: image) { Functional.maxPool2d($0[0], kernelSize: 3, stride: 2, padding: 1, ceilMode: true) },
            OperationGradcheck("maxPool1d", "k2 dilation2", inputs: line) { Functional.maxPool1d($0[0], kernelSize: 2, stride: 1, dilation: 2) },
            OperationGradcheck("avgPool2d", "k3 s2 p1 ceil exclude", inputs: image) {
                Functional.avgPool2d($0[0], kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false)
            },
            OperationGradcheck("avgPool1d", "k3 s2 p1", inputs: line) { Functional.avgPool1d($0[0], kernelSize: 3, stride: 2, padding: 1) },
            OperationGradcheck("adaptiveAvgPool2d", "3x4", inputs: image) { Functional.adaptiveAvgPool2d($0[0], outputSize: [3, 4]) },
            OperationGradcheck("interpolate", "nearest", inputs: image) { Functional.interpolate($0[0], size: [7, 4]) },
            OperationGradcheck("interpolate", "bilinear", inputs: image) {
                Functional.interpolate($0[0], scaleFactor: [1.5], mode: .bilinear, alignCorners: false)
            },
            OperationGradcheck("interpolate", "bilinear aligned", inputs: image) {
                Functional.interpolate($0[0], size: [3, 8], mode: .bilinear, alignCorners: true)
            },
        ]
    }()

    @Test(arguments: gradcheckCases)
    func gradcheckFloat64(_ gradcheck: OperationGradcheck) { gradcheck.check() }

    @Test func gradgradcheckAveragePoolingAndMaxPooling() {
        let x = Self.random([1, 2, 4, 5], seed: 23).requiresGrad_()
        let average = gradgradcheck({ Functional.avgPool2d($0[0], kernelSize: 2, stride: 1, padding: 1, countIncludePad: false) }, inputs: [x])
        #expect(average.passed, "\(average)")
        let adaptive = gradgradcheck({ Functional.adaptiveAvgPool2d($0[0], outputSize: 3) }, inputs: [x])
        #expect(adaptive.passed, "\(adaptive)")
        let maximum = gradgradcheck({ Functional.maxPool2d($0[0], kernelSize: 2) }, inputs: [x])
        #expect(maximum.passed, "\(maximum)")
    }

    @Test func maxPoolPropagatesNaNAndPadsWithNegativeInfinity() {
        let x = Tensor([[[1.0, .nan], [3.0, 2.0]]])
        #expect(Functional.maxPool2d(x, kernelSize: 2).item(as: Double.self).isNaN)
        let y = Functional.maxPool2d(Tensor([[[-5.0, -6.0], [-7.0, -8.0]]]), kernelSize: 2, stride: 1, padding: 1)
        #expect(y.scalars(as: Double.self) == [-5, -5, -6, -5, -5, -6, -7, -7, -8])
    }

    @Test func poolingLayersInAModel() {
        let model = Sequential([Conv2d(3, 4, kernelSize: 3, padding: 1), ReLU(), MaxPool2d(kernelSize: 2),
                               AvgPool2d(kernelSize: 2), AdaptiveAvgPool2d(1), Flatten()])
        #expect(model(Tensor.randn([2, 3, 8, 8])).shape == [2, 4])
    }

    @Test func outputTooSmallStopsWithPyTorchMessage() async throws {
        let exit = try #require(await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Functional.maxPool2d(Tensor.zeros([1, 3, 1, 1]), kernelSize: 2)
        })
        let message = String(decoding: exit.standardErrorContent, as: UTF8.self)
        #expect(message.contains("Given input size: (3x1x1). Calculated output size: (3x0x0). Output size is too small"), "\(message)")
        await #expect(processExitsWith: .failure) {
            _ = Functional.avgPool2d(Tensor.zeros([1, 1, 4, 4]), kernelSize: 2, padding: 2)
        }
    }
}
