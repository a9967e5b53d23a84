// Pooling and resampling layers: `MaxPool1d`, `MaxPool2d`, `AvgPool1d`, `AvgPool2d`,
// `AdaptiveAvgPool2d`, `Upsample`. They hold no parameters and call `Functional`.

/// 1-D max pooling, like `torch.nn.MaxPool1d` (`stride` defaults to the kernel size).
///
///     MaxPool1d(kernelSize: 2)(Tensor.randn([4, 8, 10])).shape   // [4, 8, 5]
public final class MaxPool1d: Module, Layer {
    public let kernelSize: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        (self.kernelSize, self.stride, self.padding) = (kernelSize, stride ?? kernelSize, padding)
        (self.dilation, self.ceilMode) = (dilation, ceilMode)
        super.init()
    }
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.maxPool1d(input, kernelSize: SpatialSize(kernelSize), stride: SpatialSize(stride),
                             padding: SpatialSize(padding), dilation: SpatialSize(dilation), ceilMode: ceilMode)
    }
    public override var extraDescription: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), ceil_mode=\(ceilMode ? "True" : "False")"
    }
}

/// 2-D max pooling, like `torch.nn.MaxPool2d` (`stride` defaults to the kernel size).
///
///     MaxPool2d(kernelSize: 3, stride: 2, padding: 1)   // ResNet's stem
public final class MaxPool2d: Module, Layer {
    public let kernelSize: SpatialSize, stride: SpatialSize, padding: SpatialSize, dilation: SpatialSize
    public let ceilMode: Bool
    public init(kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0, dilation: SpatialSize = 1,
                ceilMode: Bool = false) {
        (self.kernelSize, self.stride, self.padding) = (kernelSize, stride ?? kernelSize, padding)
        (self.dilation, self.ceilMode) = (dilation, ceilMode)
        super.init()
    }
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
    public override var extraDescription: String {
        "kernel_size=\(kernelSize.values), stride=\(stride.values), padding=\(padding.values), dilation=\(dilation.values), ceil_mode=\(ceilMode ? "True" : "False")"
    }
}

/// 1-D average pooling, like `torch.nn.AvgPool1d`.
public final class AvgPool1d: Module, Layer {
    public let kernelSize: Int, stride: Int, padding: Int, ceilMode: Bool, countIncludePad: Bool
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        (self.kernelSize, self.stride, self.padding) = (kernelSize, stride ?? kernelSize, padding)
        (self.ceilMode, self.countIncludePad) = (ceilMode, countIncludePad)
        super.init()
    }
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.avgPool1d(input, kernelSize: SpatialSize(kernelSize), stride: SpatialSize(stride),
                             padding: SpatialSize(padding), ceilMode: ceilMode, countIncludePad: countIncludePad)
    }
    public override var extraDescription: String { "kernel_size=(\(kernelSize),), stride=(\(stride),), padding=(\(padding),)" }
}

/// 2-D average pooling, like `torch.nn.AvgPool2d`.
///
///     AvgPool2d(kernelSize: 2)(Tensor.randn([1, 3, 8, 8])).shape   // [1, 3, 4, 4]
public final class AvgPool2d: Module, Layer {
    public let kernelSize: SpatialSize, stride: SpatialSize, padding: SpatialSize
    public let ceilMode: Bool, countIncludePad: Bool, divisorOverride: Int?
    public init(kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0, ceilMode: Bool = false,
                countIncludePad: Bool = true, divisorOverride: Int? = nil) {
        (self.kernelSize, self.stride, self.padding) = (kernelSize, stride ?? kernelSize, padding)
        (self.ceilMode, self.countIncludePad, self.divisorOverride) = (ceilMode, countIncludePad, divisorOverride)
        super.init()
    }
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.avgPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                             countIncludePad: countIncludePad, divisorOverride: divisorOverride)
    }
    public override var extraDescription: String {
        "kernel_size=\(kernelSize.values), stride=\(stride.values), padding=\(padding.values)"
    }
}

/// Adaptive average pooling to a fixed output size, like `torch.nn.AdaptiveAvgPool2d`
/// (nil keeps that dimension's input size).
///
///     AdaptiveAvgPool2d(1)(features).shape   // [N, C, 1, 1]
public final class AdaptiveAvgPool2d: Module, Layer {
    public let outputSize: [Int?]
    /// The same output size for height and width.
    public init(_ outputSize: Int) { self.outputSize = [outputSize, outputSize]; super.init() }
    /// [height, width]; nil keeps the input's size.
    public init(_ outputSize: [Int?]) { self.outputSize = outputSize; super.init() }
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.adaptiveAvgPool2d(input, outputSize: outputSize) }
    public override var extraDescription: String { "output_size=\(outputSize.map { $0.map(String.init) ?? "None" })" }
}

/// Resizes spatial dimensions, like `torch.nn.Upsample`: to a size or by a scale factor.
///
///     Upsample(scaleFactor: 2, mode: .nearest)(Tensor.randn([1, 3, 8, 8])).shape   // [1, 3, 16, 16]
public final class Upsample: Module, Layer {
    public let size: [Int]?, scaleFactor: [Double]?
    public let mode: InterpolationMode, alignCorners: Bool?
    /// Resizes to `size` (one value or one per spatial dimension).
    public init(size: [Int], mode: InterpolationMode = .nearest, alignCorners: Bool? = nil) {
        (self.size, self.scaleFactor, self.mode, self.alignCorners) = (size, nil, mode, alignCorners)
        super.init()
    }
    /// Resizes by `scaleFactor` in every spatial dimension.
    public init(scaleFactor: Double, mode: InterpolationMode = .nearest, alignCorners: Bool? = nil) {
        (self.size, self.scaleFactor, self.mode, self.alignCorners) = (nil, [scaleFactor], mode, alignCorners)
        super.init()
    }
    public func callAsFunction(_ input: Tensor) -> Tensor {
        if let size { return Functional.interpolate(input, size: size, mode: mode, alignCorners: alignCorners) }
        return Functional.interpolate(input, scaleFactor: scaleFactor!, mode: mode, alignCorners: alignCorners)
    }
    public override var extraDescription: String {
        (size.map { "size=\($0)" } ?? "scale_factor=\(scaleFactor![0])") + ", mode='\(mode == .nearest ? "nearest" : "bilinear")'"
    }
}
