/// The sizes of a 2-D max pooling, as the ``Primitive/maxPool2d(_:)`` primitive carries them:
/// input and output plane sizes, kernel, stride, padding and dilation per dimension.
public struct PoolingGeometry: Hashable, Sendable {
    public var inHeight: Int, inWidth: Int
    public var outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var dilationH: Int, dilationW: Int

    /// The twelve sizes in declaration order (how graphs store them).
    var values: [Int] {
        [inHeight, inWidth, outHeight, outWidth, kernelHeight, kernelWidth, strideH, strideW, padH, padW, dilationH, dilationW]
    }

    init(plan: Tensor.PoolingPlan) {
        (inHeight, inWidth, outHeight, outWidth) = (plan.inputSize[0], plan.inputSize[1], plan.outputSize[0], plan.outputSize[1])
        (kernelHeight, kernelWidth, strideH, strideW) = (plan.kernel[0], plan.kernel[1], plan.stride[0], plan.stride[1])
        (padH, padW, dilationH, dilationW) = (plan.padding[0], plan.padding[1], plan.dilation[0], plan.dilation[1])
    }

    /// The geometry `values` wrote, if it is one `maxPool2d` can make.
    init?(values: [Int]) {
        guard values.count == 12, values.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else { return nil }
        (inHeight, inWidth, outHeight, outWidth) = (values[0], values[1], values[2], values[3])
        (kernelHeight, kernelWidth, strideH, strideW) = (values[4], values[5], values[6], values[7])
        (padH, padW, dilationH, dilationW) = (values[8], values[9], values[10], values[11])
        guard ceilMode != nil else { return nil }
    }

    /// Whether the output sizes are ceil mode's (false: floor's); nil when they are neither,
    /// or an argument is out of range (what the pooling itself would refuse).
    var ceilMode: Bool? {
        let dims = [(inHeight, outHeight, kernelHeight, strideH, padH, dilationH), (inWidth, outWidth, kernelWidth, strideW, padW, dilationW)]
        for (_, _, kernel, stride, pad, dilation) in dims {
            guard kernel >= 1, stride >= 1, dilation >= 1, pad <= ((kernel - 1) * dilation + 1) / 2 else { return nil }
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
    public var inHeight: Int, inWidth: Int
    public var outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var countIncludePad: Bool
    /// PyTorch's `divisor_override`; nil divides by the window's size.
    public var divisor: Int?
    /// Adaptive windows (the kernel, stride and padding are unused).
    public var adaptive: Bool

    /// The thirteen values in declaration order (flags as 0/1, no divisor as 0).
    var values: [Int] {
        [inHeight, inWidth, outHeight, outWidth, kernelHeight, kernelWidth, strideH, strideW, padH, padW,
         countIncludePad ? 1 : 0, divisor ?? 0, adaptive ? 1 : 0]
    }

    /// Adaptive average pooling of [inHeight, inWidth] planes to [outHeight, outWidth].
    static func adaptive(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int) -> AveragePoolGeometry {
        AveragePoolGeometry(inHeight: inHeight, inWidth: inWidth, outHeight: outHeight, outWidth: outWidth,
                            kernelHeight: 1, kernelWidth: 1, strideH: 1, strideW: 1, padH: 0, padW: 0,
                            countIncludePad: true, divisor: nil, adaptive: true)
    }

    init(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int, kernelHeight: Int, kernelWidth: Int,
         strideH: Int, strideW: Int, padH: Int, padW: Int, countIncludePad: Bool, divisor: Int?, adaptive: Bool) {
        (self.inHeight, self.inWidth, self.outHeight, self.outWidth) = (inHeight, inWidth, outHeight, outWidth)
        (self.kernelHeight, self.kernelWidth, self.strideH, self.strideW) = (kernelHeight, kernelWidth, strideH, strideW)
        (self.padH, self.padW, self.countIncludePad, self.divisor, self.adaptive) = (padH, padW, countIncludePad, divisor, adaptive)
    }

    /// The geometry `values` wrote, if it is one the pooling ops can make.
    init?(values: [Int]) {
        guard values.count == 13, values.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }),
              values[10] <= 1, values[12] <= 1 else { return nil }
        self.init(inHeight: values[0], inWidth: values[1], outHeight: values[2], outWidth: values[3],
                  kernelHeight: values[4], kernelWidth: values[5], strideH: values[6], strideW: values[7],
                  padH: values[8], padW: values[9], countIncludePad: values[10] == 1,
                  divisor: values[11] == 0 ? nil : values[11], adaptive: values[12] == 1)
        guard isConsistent else { return nil }
    }

    var isConsistent: Bool {
        if adaptive { return inHeight >= 1 && inWidth >= 1 }
        let dims = [(inHeight, outHeight, kernelHeight, strideH, padH), (inWidth, outWidth, kernelWidth, strideW, padW)]
        guard dims.allSatisfy({ $0.2 >= 1 && $0.3 >= 1 && $0.4 <= $0.2 / 2 }) else { return false }
        return [false, true].contains { ceil in
            dims.allSatisfy { input, output, kernel, stride, pad in
                output >= 1 && output == Tensor.poolingOutputSize(input: input, kernel: kernel, padding: pad, stride: stride,
                                                                  dilation: 1, ceilMode: ceil)
            }
        }
    }

    /// The windows and scales the kernel runs over.
    var windows: AverageWindows {
        let rows: (start: [Int64], end: [Int64], scale: [Double])
        let columns: (start: [Int64], end: [Int64], scale: [Double])
        if adaptive {
            rows = AverageWindows.adaptive(input: inHeight, output: outHeight)
            columns = AverageWindows.adaptive(input: inWidth, output: outWidth)
        } else {
            rows = AverageWindows.pooling(input: inHeight, output: outHeight, kernel: kernelHeight, stride: strideH,
                                          padding: padH, countIncludePad: countIncludePad, divisor: divisor)
            columns = AverageWindows.pooling(input: inWidth, output: outWidth, kernel: kernelWidth, stride: strideW,
                                             padding: padW, countIncludePad: countIncludePad, divisor: divisor)
        }
        var windows = AverageWindows(inHeight: inHeight, inWidth: inWidth, outHeight: outHeight, outWidth: outWidth,
                                     rowStart: rows.start, rowEnd: rows.end, rowScale: rows.scale,
                                     columnStart: columns.start, columnEnd: columns.end, columnScale: columns.scale)
        // PyTorch divides by the override once: it goes into the row factor.
        if let divisor { windows.rowScale = windows.rowScale.map { _ in 1 / Double(divisor) } }
        return windows
    }
}
