/// Convolution, pooling and resampling in `Functional`, with `torch.nn.functional`'s argument
/// names and defaults. The work happens in `Ops/Convolution.swift`, `Ops/Pooling.swift` and
/// `Ops/Interpolation.swift`.
extension Functional {
    // MARK: Convolution

    /// 1-D convolution (cross-correlation, as PyTorch): input [N, C, L] (or [C, L]), weight
    /// [O, C / groups, k], bias [O].
    ///
    ///     F.conv1d(x, weight: w, bias: b, stride: 2, padding: 1)
    public static func conv1d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: SpatialSize = 1,
                              padding: ConvolutionPadding = 0, dilation: SpatialSize = 1, groups: Int = 1) -> Tensor {
        Tensor.convolution(input, weight: weight, bias: bias, spatial: 1, stride: stride, padding: padding,
                           dilation: dilation, groups: groups, op: "conv1d")
    }

    /// 2-D convolution: input [N, C, H, W] (or [C, H, W]), weight [O, C / groups, kH, kW],
    /// bias [O]; the output is [N, O, (H + 2p − d(kH − 1) − 1) / s + 1, …]. Runs im2col + GEMM
    /// per image; gradients of any order use the same kernels.
    ///
    ///     F.conv2d(x, weight: w, bias: b, padding: .same)
    ///     F.conv2d(x, weight: depthwise, stride: [2, 2], padding: 1, groups: channels)
    public static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: SpatialSize = 1,
                              padding: ConvolutionPadding = 0, dilation: SpatialSize = 1, groups: Int = 1) -> Tensor {
        Tensor.convolution(input, weight: weight, bias: bias, spatial: 2, stride: stride, padding: padding,
                           dilation: dilation, groups: groups, op: "conv2d")
    }

    /// 2-D transposed convolution (the gradient of `conv2d` with respect to its input): input
    /// [N, Cin, H, W], weight [Cin, Cout / groups, kH, kW], bias [Cout]; the output is
    /// [N, Cout, (H − 1)s − 2p + d(kH − 1) + outputPadding + 1, …].
    ///
    ///     F.convTranspose2d(x, weight: w, stride: 2, padding: 1, outputPadding: 1)
    public static func convTranspose2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: SpatialSize = 1,
                                       padding: SpatialSize = 0, outputPadding: SpatialSize = 0, groups: Int = 1,
                                       dilation: SpatialSize = 1) -> Tensor {
        Tensor.transposedConvolution2d(input, weight: weight, bias: bias, stride: stride, padding: padding,
                                       outputPadding: outputPadding, groups: groups, dilation: dilation)
    }

    // MARK: Pooling

    /// 1-D max pooling over [N, C, L] (or [C, L]); `stride` defaults to the kernel size.
    ///
    ///     F.maxPool1d(x, kernelSize: 3, stride: 2, padding: 1)
    public static func maxPool1d(_ input: Tensor, kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0,
                                 dilation: SpatialSize = 1, ceilMode: Bool = false) -> Tensor {
        // Checked as 1-D pooling (its messages), run as 2-D pooling of one-row planes, which a
        // trace records as ``Primitive/maxPool2d(_:)``.
        let plan = Tensor.planPooling(input, spatial: 1, kernel: kernelSize, stride: stride, padding: padding,
                                      dilation: dilation, ceilMode: ceilMode, isMax: true, op: "max_pool1d")
        return maxPool2d(input.unsqueezed(-2), kernelSize: [1, plan.kernel[0]], stride: [1, plan.stride[0]],
                         padding: [0, plan.padding[0]], dilation: [1, plan.dilation[0]], ceilMode: ceilMode).squeezed(-2)
    }

    /// `maxPool1d` that also returns the index of each maximum within its row (PyTorch's
    /// `return_indices=True`), as int64.
    public static func maxPool1dWithIndices(_ input: Tensor, kernelSize: SpatialSize, stride: SpatialSize? = nil,
                                            padding: SpatialSize = 0, dilation: SpatialSize = 1,
                                            ceilMode: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.maxPool(input, spatial: 1, kernel: kernelSize, stride: stride, padding: padding, dilation: dilation,
                       ceilMode: ceilMode, op: "max_pool1d")
    }

    /// 2-D max pooling over [N, C, H, W] (or [C, H, W]); `stride` defaults to the kernel size,
    /// padding counts as −∞, NaN propagates.
    ///
    ///     F.maxPool2d(x, kernelSize: 2)
    ///     F.maxPool2d(x, kernelSize: 3, stride: 2, padding: 1, ceilMode: true)
    public static func maxPool2d(_ input: Tensor, kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0,
                                 dilation: SpatialSize = 1, ceilMode: Bool = false) -> Tensor {
        // The eager node keeps the maxima's indices (a closure rule, as PyTorch keeps them).
        Dispatch.apply(input, { _ in
            .maxPool2d(ConvolutionGeometry(pooling: Tensor.planPooling(input, spatial: 2, kernel: kernelSize, stride: stride, padding: padding,
                                                                dilation: dilation, ceilMode: ceilMode, isMax: true, op: "max_pool2d")))
        }) {
            Tensor.maxPool(input, spatial: 2, kernel: kernelSize, stride: stride, padding: padding, dilation: dilation,
                           ceilMode: ceilMode, op: "max_pool2d").values
        }
    }

    /// `maxPool2d` that also returns the flat index (y · W + x) of each maximum within its
    /// plane (PyTorch's `return_indices=True`), as int64.
    ///
    ///     let (values, indices) = F.maxPool2dWithIndices(x, kernelSize: 2)
    public static func maxPool2dWithIndices(_ input: Tensor, kernelSize: SpatialSize, stride: SpatialSize? = nil,
                                            padding: SpatialSize = 0, dilation: SpatialSize = 1,
                                            ceilMode: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.maxPool(input, spatial: 2, kernel: kernelSize, stride: stride, padding: padding, dilation: dilation,
                       ceilMode: ceilMode, op: "max_pool2d")
    }

    /// 1-D average pooling over [N, C, L] (or [C, L]).
    ///
    ///     F.avgPool1d(x, kernelSize: 3, stride: 2, padding: 1, countIncludePad: false)
    public static func avgPool1d(_ input: Tensor, kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0,
                                 ceilMode: Bool = false, countIncludePad: Bool = true) -> Tensor {
        Tensor.averagePool(input, spatial: 1, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                           countIncludePad: countIncludePad, divisorOverride: nil, op: "avg_pool1d")
    }

    /// 2-D average pooling over [N, C, H, W] (or [C, H, W]). `countIncludePad` counts padded
    /// zeros in the divisor; `divisorOverride` replaces the divisor.
    ///
    ///     F.avgPool2d(x, kernelSize: 2)
    public static func avgPool2d(_ input: Tensor, kernelSize: SpatialSize, stride: SpatialSize? = nil, padding: SpatialSize = 0,
                                 ceilMode: Bool = false, countIncludePad: Bool = true, divisorOverride: Int? = nil) -> Tensor {
        Tensor.averagePool(input, spatial: 2, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                           countIncludePad: countIncludePad, divisorOverride: divisorOverride, op: "avg_pool2d")
    }

    /// Average pooling of [N, C, H, W] (or [C, H, W]) to `outputSize` (one size for both, or
    /// [H, W]; nil keeps that dimension), with PyTorch's overlapping windows.
    ///
    ///     F.adaptiveAvgPool2d(features, outputSize: [1, 1])   // global average pooling
    public static func adaptiveAvgPool2d(_ input: Tensor, outputSize: [Int?]) -> Tensor {
        Tensor.adaptiveAveragePool2d(input, outputSize: outputSize, op: "adaptive_avg_pool2d")
    }

    /// `adaptiveAvgPool2d` to a square size.
    public static func adaptiveAvgPool2d(_ input: Tensor, outputSize: Int) -> Tensor {
        Tensor.adaptiveAveragePool2d(input, outputSize: [outputSize], op: "adaptive_avg_pool2d")
    }

    // MARK: Resampling

    /// Resizes the spatial dimensions of [N, C, L] or [N, C, H, W] to `size` (one value or one
    /// per dimension), as PyTorch's `interpolate`. `alignCorners` applies to `.bilinear` only.
    ///
    ///     F.interpolate(x, size: [64, 64], mode: .bilinear, alignCorners: false)
    public static func interpolate(_ input: Tensor, size: [Int], mode: InterpolationMode = .nearest,
                                   alignCorners: Bool? = nil) -> Tensor {
        Tensor.interpolate(input, size: size, scaleFactor: nil, mode: mode, alignCorners: alignCorners)
    }

    /// Resizes by `scaleFactor` (one value or one per dimension): the output size is
    /// ⌊input · scale⌋ and source positions use the scale as given, as PyTorch does.
    ///
    ///     F.interpolate(x, scaleFactor: [2], mode: .nearest)
    public static func interpolate(_ input: Tensor, scaleFactor: [Double], mode: InterpolationMode = .nearest,
                                   alignCorners: Bool? = nil) -> Tensor {
        Tensor.interpolate(input, size: nil, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners)
    }
}
