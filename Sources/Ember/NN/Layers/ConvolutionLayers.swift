// Convolution layers: `Conv1d`, `Conv2d`, `ConvTranspose2d`, with PyTorch's parameter names
// and default initialisation.

/// Draws a convolution's weight Kaiming-uniform with a = √5 and its bias uniform in
/// ±1/√fanIn, as PyTorch's `_ConvNd.reset_parameters` (fanIn from the weight's dimension 1
/// times the kernel area, for transposed convolutions too).
private func resetConvolutionParameters(weight: Tensor, bias: Tensor?) {
    Initializers.kaimingUniform_(weight, a: 5.0.squareRoot())
    if let bias {
        let fanIn = Initializers.fans(weight).fanIn
        let bound = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
        Initializers.uniform_(bias, low: -bound, high: bound)
    }
}

/// Checks the channel counts against `groups` with PyTorch's messages.
private func checkGroups(_ inChannels: Int, _ outChannels: Int, _ groups: Int) {
    emberPrecondition(groups > 0, "groups must be a positive integer")
    emberPrecondition(inChannels % groups == 0, "in_channels must be divisible by groups")
    emberPrecondition(outChannels % groups == 0, "out_channels must be divisible by groups")
}

/// 1-D convolution over [N, C, L], like `torch.nn.Conv1d`: `weight` [out, in / groups, k],
/// `bias` [out].
///
///     let conv = Conv1d(16, 32, kernelSize: 3, padding: 1)
///     conv(Tensor.randn([8, 16, 100])).shape   // [8, 32, 100]
public final class Conv1d: Module, Layer {
    /// [outChannels, inChannels / groups, kernelSize].
    @Parameter public var weight: Tensor
    /// [outChannels], or nil when built with `bias: false`.
    @Parameter public var bias: Tensor?
    public let inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, dilation: Int, groups: Int
    public let padding: ConvolutionPadding

    /// A layer with PyTorch's default initialisation.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: ConvolutionPadding = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32) {
        checkGroups(inChannels, outChannels, groups)
        (self.inChannels, self.outChannels, self.kernelSize) = (inChannels, outChannels, kernelSize)
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        weight = Tensor.zeros([outChannels, inChannels / groups, kernelSize], dtype: dtype)
        self.bias = bias ? Tensor.zeros([outChannels], dtype: dtype) : nil
        super.init()
        resetParameters()
    }

    /// Draws new weights and bias as at construction.
    public func resetParameters() { resetConvolutionParameters(weight: weight, bias: bias) }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.conv1d(input, weight: weight, bias: bias, stride: SpatialSize(stride), padding: padding,
                          dilation: SpatialSize(dilation), groups: groups)
    }

    public override var extraDescription: String {
        "\(inChannels), \(outChannels), kernel_size=(\(kernelSize),), stride=(\(stride),)" + (bias == nil ? ", bias=False" : "")
    }
}

/// 2-D convolution over [N, C, H, W], like `torch.nn.Conv2d`: `weight`
/// [out, in / groups, kH, kW], `bias` [out].
///
///     let conv = Conv2d(3, 64, kernelSize: 3, padding: 1)
///     conv(Tensor.randn([1, 3, 224, 224])).shape   // [1, 64, 224, 224]
///     Conv2d(32, 32, kernelSize: 3, padding: .same, groups: 32)   // depthwise
public final class Conv2d: Module, Layer {
    /// [outChannels, inChannels / groups, kH, kW].
    @Parameter public var weight: Tensor
    /// [outChannels], or nil when built with `bias: false`.
    @Parameter public var bias: Tensor?
    public let inChannels: Int, outChannels: Int, groups: Int
    public let kernelSize: [Int], stride: [Int], dilation: [Int]
    public let padding: ConvolutionPadding

    /// A layer with PyTorch's default initialisation; sizes are one integer or [h, w].
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: SpatialSize, stride: SpatialSize = 1,
                padding: ConvolutionPadding = 0, dilation: SpatialSize = 1, groups: Int = 1, bias: Bool = true,
                dtype: DType = .float32) {
        checkGroups(inChannels, outChannels, groups)
        (self.inChannels, self.outChannels, self.groups) = (inChannels, outChannels, groups)
        self.kernelSize = kernelSize.expanded(to: 2, op: "Conv2d", name: "kernel_size")
        self.stride = stride.expanded(to: 2, op: "Conv2d", name: "stride")
        self.dilation = dilation.expanded(to: 2, op: "Conv2d", name: "dilation")
        self.padding = padding
        weight = Tensor.zeros([outChannels, inChannels / groups] + self.kernelSize, dtype: dtype)
        self.bias = bias ? Tensor.zeros([outChannels], dtype: dtype) : nil
        super.init()
        resetParameters()
    }

    /// Draws new weights and bias as at construction.
    public func resetParameters() { resetConvolutionParameters(weight: weight, bias: bias) }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.conv2d(input, weight: weight, bias: bias, stride: SpatialSize(stride), padding: padding,
                          dilation: SpatialSize(dilation), groups: groups)
    }

    public override var extraDescription: String {
        "\(inChannels), \(outChannels), kernel_size=(\(kernelSize[0]), \(kernelSize[1])), stride=(\(stride[0]), \(stride[1]))"
            + (groups != 1 ? ", groups=\(groups)" : "") + (bias == nil ? ", bias=False" : "")
    }
}

/// 2-D transposed convolution, like `torch.nn.ConvTranspose2d`: `weight`
/// [in, out / groups, kH, kW], `bias` [out].
///
///     let up = ConvTranspose2d(64, 32, kernelSize: 2, stride: 2)
///     up(Tensor.randn([1, 64, 16, 16])).shape   // [1, 32, 32, 32]
public final class ConvTranspose2d: Module, Layer {
    /// [inChannels, outChannels / groups, kH, kW].
    @Parameter public var weight: Tensor
    /// [outChannels], or nil when built with `bias: false`.
    @Parameter public var bias: Tensor?
    public let inChannels: Int, outChannels: Int, groups: Int
    public let kernelSize: [Int], stride: [Int], padding: [Int], outputPadding: [Int], dilation: [Int]

    /// A layer with PyTorch's default initialisation; sizes are one integer or [h, w].
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: SpatialSize, stride: SpatialSize = 1,
                padding: SpatialSize = 0, outputPadding: SpatialSize = 0, groups: Int = 1, bias: Bool = true,
                dilation: SpatialSize = 1, dtype: DType = .float32) {
        checkGroups(inChannels, outChannels, groups)
        (self.inChannels, self.outChannels, self.groups) = (inChannels, outChannels, groups)
        self.kernelSize = kernelSize.expanded(to: 2, op: "ConvTranspose2d", name: "kernel_size")
        self.stride = stride.expanded(to: 2, op: "ConvTranspose2d", name: "stride")
        self.padding = padding.expanded(to: 2, op: "ConvTranspose2d", name: "padding")
        self.outputPadding = outputPadding.expanded(to: 2, op: "ConvTranspose2d", name: "output_padding")
        self.dilation = dilation.expanded(to: 2, op: "ConvTranspose2d", name: "dilation")
        weight = Tensor.zeros([inChannels, outChannels / groups] + self.kernelSize, dtype: dtype)
        self.bias = bias ? Tensor.zeros([outChannels], dtype: dtype) : nil
        super.init()
        resetParameters()
    }

    /// Draws new weights and bias as at construction.
    public func resetParameters() { resetConvolutionParameters(weight: weight, bias: bias) }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.convTranspose2d(input, weight: weight, bias: bias, stride: SpatialSize(stride), padding: SpatialSize(padding),
                                   outputPadding: SpatialSize(outputPadding), groups: groups, dilation: SpatialSize(dilation))
    }

    public override var extraDescription: String {
        "\(inChannels), \(outChannels), kernel_size=(\(kernelSize[0]), \(kernelSize[1])), stride=(\(stride[0]), \(stride[1]))"
            + (bias == nil ? ", bias=False" : "")
    }
}
