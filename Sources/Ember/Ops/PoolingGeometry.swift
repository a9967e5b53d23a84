// The sizes pooling primitives carry in a graph. Max pooling uses `ConvolutionGeometry` itself
// (one group): the same window over the same planes, with pooling's own rule for which output
// sizes are valid; average pooling adds how the window's mean is taken.

extension ConvolutionGeometry {
    /// The window of a 2-D pooling plan (one group).
    init(pooling plan: Tensor.PoolingPlan) {
        self.init(inHeight: plan.inputSize[0], inWidth: plan.inputSize[1], outHeight: plan.outputSize[0], outWidth: plan.outputSize[1],
                  kernelHeight: plan.kernel[0], kernelWidth: plan.kernel[1], strideH: plan.stride[0], strideW: plan.stride[1],
                  padH: plan.padding[0], padW: plan.padding[1], dilationH: plan.dilation[0], dilationW: plan.dilation[1], groups: 1)
    }

    /// The max-pooling geometry `values` wrote, if max pooling can make it.
    static func pooling(values: [Int]) -> ConvolutionGeometry? {
        guard values.count == 13, values.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }), values[12] == 1 else { return nil }
        let geometry = ConvolutionGeometry(
            inHeight: values[0], inWidth: values[1], outHeight: values[2], outWidth: values[3], kernelHeight: values[4],
            kernelWidth: values[5], strideH: values[6], strideW: values[7], padH: values[8], padW: values[9],
            dilationH: values[10], dilationW: values[11], groups: 1)
        return geometry.poolingCeilMode(maxPadding: true) == nil ? nil : geometry
    }

    /// Whether the output sizes are pooling's ceil-mode sizes (false: floor mode); nil when they
    /// are neither, or an argument is out of the range pooling accepts (padding at most half the
    /// effective kernel for max pooling, half the kernel for average pooling).
    func poolingCeilMode(maxPadding: Bool) -> Bool? {
        let dims = [(inHeight, outHeight, kernelHeight, strideH, padH, dilationH), (inWidth, outWidth, kernelWidth, strideW, padW, dilationW)]
        for (_, _, kernel, stride, pad, dilation) in dims {
            let limit = maxPadding ? ((kernel - 1) * dilation + 1) / 2 : kernel / 2
            guard kernel >= 1, stride >= 1, dilation >= 1, groups == 1, pad <= limit, maxPadding || dilation == 1 else { return nil }
        }
        for ceil in [false, true] {
            let fits = dims.allSatisfy { input, output, kernel, stride, pad, dilation in
                output >= 1 && output == Tensor.poolingOutputSize(input: input, kernel: kernel, padding: pad, stride: stride,
                                                                  dilation: dilation, ceilMode: ceil)
            }
            if fits { return ceil }
        }
        return nil
    }
}

/// The sizes of an average pooling over planes [P, inHeight, inWidth] -> [P, outHeight,
/// outWidth], as ``Primitive/averagePool2d(_:transpose:)`` carries them: either PyTorch's
/// `avg_pool2d` windows (kernel, stride, padding, whether padding counts, a divisor override)
/// or `adaptive_avg_pool2d`'s. 1-D pooling is the 2-D case with one row.
public struct AveragePoolGeometry: Hashable, Sendable {
    /// Plane sizes, kernel, stride and padding (dilation 1; unused but the sizes when adaptive).
    public var window: ConvolutionGeometry
    public var countIncludePad: Bool
    /// PyTorch's `divisor_override`; nil divides by the window's size.
    public var divisor: Int?
    /// Adaptive windows (the kernel, stride and padding are unused).
    public var adaptive: Bool

    /// The window's thirteen values, then the flags (0/1, no divisor as 0).
    var values: [Int] { window.values + [countIncludePad ? 1 : 0, divisor ?? 0, adaptive ? 1 : 0] }

    /// Adaptive average pooling of [inHeight, inWidth] planes to [outHeight, outWidth].
    public static func adaptive(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int) -> AveragePoolGeometry {
        AveragePoolGeometry(window: ConvolutionGeometry(inHeight: inHeight, inWidth: inWidth, outHeight: outHeight, outWidth: outWidth,
                                                        kernelHeight: 1, kernelWidth: 1, strideH: 1, strideW: 1, padH: 0, padW: 0,
                                                        dilationH: 1, dilationW: 1, groups: 1),
                            countIncludePad: true, divisor: nil, adaptive: true)
    }

    /// The sizes as given; the primitive's type rule refuses inconsistent ones.
    public init(window: ConvolutionGeometry, countIncludePad: Bool, divisor: Int?, adaptive: Bool) {
        (self.window, self.countIncludePad, self.divisor, self.adaptive) = (window, countIncludePad, divisor, adaptive)
    }

    /// The geometry `values` wrote, if it is one the pooling ops can make.
    init?(values: [Int]) {
        guard values.count == 16, values.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }), values[13] <= 1, values[15] <= 1 else { return nil }
        let w = Array(values[..<13])
        self.init(window: ConvolutionGeometry(inHeight: w[0], inWidth: w[1], outHeight: w[2], outWidth: w[3], kernelHeight: w[4],
                                              kernelWidth: w[5], strideH: w[6], strideW: w[7], padH: w[8], padW: w[9],
                                              dilationH: w[10], dilationW: w[11], groups: w[12]),
                  countIncludePad: values[13] == 1, divisor: values[14] == 0 ? nil : values[14], adaptive: values[15] == 1)
        guard isConsistent else { return nil }
    }

    var isConsistent: Bool {
        if adaptive { return window.inHeight >= 1 && window.inWidth >= 1 && window.groups == 1 }
        return window.poolingCeilMode(maxPadding: false) != nil
    }

    /// The windows and scales the kernel runs over.
    var windows: AverageWindows {
        let w = window
        let rows: (start: [Int64], end: [Int64], scale: [Double])
        let columns: (start: [Int64], end: [Int64], scale: [Double])
        if adaptive {
            rows = AverageWindows.adaptive(input: w.inHeight, output: w.outHeight)
            columns = AverageWindows.adaptive(input: w.inWidth, output: w.outWidth)
        } else {
            rows = AverageWindows.pooling(input: w.inHeight, output: w.outHeight, kernel: w.kernelHeight, stride: w.strideH,
                                          padding: w.padH, countIncludePad: countIncludePad, divisor: divisor)
            columns = AverageWindows.pooling(input: w.inWidth, output: w.outWidth, kernel: w.kernelWidth, stride: w.strideW,
                                             padding: w.padW, countIncludePad: countIncludePad, divisor: divisor)
        }
        var windows = AverageWindows(inHeight: w.inHeight, inWidth: w.inWidth, outHeight: w.outHeight, outWidth: w.outWidth,
                                     rowStart: rows.start, rowEnd: rows.end, rowScale: rows.scale,
                                     columnStart: columns.start, columnEnd: columns.end, columnScale: columns.scale)
        // PyTorch divides by the override once: it goes into the row factor.
        if let divisor { windows.rowScale = windows.rowScale.map { _ in 1 / Double(divisor) } }
        return windows
    }
}
