import CEmberKernels
import EmberKernels

/// Pooling: max pooling (values and flat indices), average and adaptive-average pooling, in
/// one and two spatial dimensions, behind `Functional.maxPool1d/2d`, `avgPool1d/2d` and
/// `adaptiveAvgPool2d`.
///
/// Every form views its input as planes [P, H, W] (P = batch · channels; 1-D pooling is 2-D
/// with H = 1) and the C kernels (`conv_impl.h`) run over ranges of planes, split across threads.
///
/// - Max pooling records a node whose backward adds the gradient at the saved indices
///   (`maxPoolBackward`, a C kernel, itself differentiable: its backward gathers), so double
///   backward works.
/// - Average and adaptive-average pooling are one linear primitive, `windowAverage`
///   (``Primitive/averagePool2d(_:transpose:)`` in a graph): a
///   separable sum over rectangular windows with per-row and per-column scales (PyTorch's
///   divisor is a product of one factor per dimension, with or without padding counted).
///   Its backward is the same primitive transposed, and the transposed one's backward is the
///   forward, so gradients of every order run the kernel.

/// The rectangular windows of an average: rows [rowStart[i], rowEnd[i]) and columns
/// [columnStart[j], columnEnd[j]) of the input, scaled by rowScale[i] · columnScale[j].
struct AverageWindows {
    var inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    var rowStart: [Int64], rowEnd: [Int64], rowScale: [Double]
    var columnStart: [Int64], columnEnd: [Int64], columnScale: [Double]

    /// PyTorch's `avg_pool2d` windows along one dimension.
    static func pooling(input: Int, output: Int, kernel: Int, stride: Int, padding: Int,
                        countIncludePad: Bool, divisor: Int?) -> (start: [Int64], end: [Int64], scale: [Double]) {
        var start = [Int64](), end = [Int64](), scale = [Double]()
        for index in 0..<output {
            var first = index * stride - padding
            var last = Swift.min(first + kernel, input + padding)
            let poolSize = last - first
            first = Swift.max(first, 0)
            last = Swift.min(last, input)
            start.append(Int64(first)); end.append(Int64(Swift.max(last, first)))
            let count = countIncludePad ? poolSize : last - first
            scale.append(divisor != nil ? 1 : (count > 0 ? 1 / Double(count) : 0))
        }
        return (start, end, scale)
    }

    /// PyTorch's `adaptive_avg_pool2d` windows: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).
    static func adaptive(input: Int, output: Int) -> (start: [Int64], end: [Int64], scale: [Double]) {
        var start = [Int64](), end = [Int64](), scale = [Double]()
        for index in 0..<output {
            let first = (index * input) / output
            let last = ((index + 1) * input + output - 1) / output
            start.append(Int64(first)); end.append(Int64(last)); scale.append(1 / Double(last - first))
        }
        return (start, end, scale)
    }
}

/// Floor division (PyTorch's `div_rtn`), for output sizes whose numerator may be negative.
private func poolingFloorDivide(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

extension Tensor {
    /// PyTorch's `pooling_output_shape`: with `ceilMode` the last window may start inside the
    /// right padding only if it starts inside the input or the left padding.
    static func poolingOutputSize(input: Int, kernel: Int, padding: Int, stride: Int, dilation: Int, ceilMode: Bool) -> Int {
        var output = poolingFloorDivide(input + 2 * padding - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0), stride) + 1
        if ceilMode && (output - 1) * stride >= input + padding { output -= 1 }
        return output
    }

    /// Pooling arguments checked with PyTorch's messages, expanded to `spatial` dimensions.
    struct PoolingPlan {
        var kernel: [Int], stride: [Int], padding: [Int], dilation: [Int]
        var inputSize: [Int], outputSize: [Int]
        var leading: [Int]
    }

    static func planPooling(_ input: Tensor, spatial: Int, kernel: SpatialSize, stride: SpatialSize?, padding: SpatialSize,
                            dilation: SpatialSize, ceilMode: Bool, isMax: Bool, op: String) -> PoolingPlan {
        emberPrecondition(input.rank == spatial + 1 || input.rank == spatial + 2,
                          "\(op): Expected \(spatial + 1)D or \(spatial + 2)D (batch mode) tensor with optional 0 dim batch size for input, but got: \(input.shape)")
        emberPrecondition(input.dtype.isFloatingPoint, "\(op): \"\(op)\" not implemented for '\(input.dtype)'")
        let kernel = kernel.expanded(to: spatial, op: op, name: "kernel_size")
        let stride = (stride == nil || stride!.values.isEmpty) ? kernel : stride!.expanded(to: spatial, op: op, name: "stride")
        let padding = padding.expanded(to: spatial, op: op, name: "padding")
        let dilation = dilation.expanded(to: spatial, op: op, name: "dilation")
        emberPrecondition(kernel.allSatisfy { $0 > 0 }, "\(op): kernel_size must be greater than zero, but got \(kernel)")
        emberPrecondition(stride.allSatisfy { $0 > 0 }, "\(op): stride must be greater than zero, but got \(stride)")
        emberPrecondition(dilation.allSatisfy { $0 > 0 }, "\(op): dilation must be greater than zero, but got \(dilation)")
        for d in 0..<spatial {
            if isMax {
                emberPrecondition(padding[d] >= 0 && padding[d] <= ((kernel[d] - 1) * dilation[d] + 1) / 2,
                                  "\(op): pad should be at most half of effective kernel size, but got pad=\(padding[d]), kernel_size=\(kernel[d]) and dilation=\(dilation[d])")
            } else {
                emberPrecondition(padding[d] >= 0 && padding[d] <= kernel[d] / 2,
                                  "\(op): pad should be at most half of kernel size, but got pad=\(padding[d]) and kernel_size=\(kernel[d])")
            }
        }
        let inputSize = Array(input.shape.suffix(spatial))
        let outputSize = (0..<spatial).map {
            poolingOutputSize(input: inputSize[$0], kernel: kernel[$0], padding: padding[$0], stride: stride[$0],
                              dilation: dilation[$0], ceilMode: ceilMode)
        }
        let channels = input.shape[input.rank - spatial - 1]
        emberPrecondition(outputSize.allSatisfy { $0 > 0 },
                          "\(op): Given input size: (\(([channels] + inputSize).map(String.init).joined(separator: "x"))). Calculated output size: (\(([channels] + outputSize).map(String.init).joined(separator: "x"))). Output size is too small")
        return PoolingPlan(kernel: kernel, stride: stride, padding: padding, dilation: dilation,
                           inputSize: inputSize, outputSize: outputSize, leading: Array(input.shape.dropLast(spatial)))
    }

    /// Max pooling over the last `spatial` dimensions: values and flat indices into each plane.
    static func maxPool(_ input: Tensor, spatial: Int, kernel: SpatialSize, stride: SpatialSize?, padding: SpatialSize,
                        dilation: SpatialSize, ceilMode: Bool, op: String) -> (values: Tensor, indices: Tensor) {
        var plan = planPooling(input, spatial: spatial, kernel: kernel, stride: stride, padding: padding,
                               dilation: dilation, ceilMode: ceilMode, isMax: true, op: op)
        if spatial == 1 {
            plan.kernel.insert(1, at: 0); plan.stride.insert(1, at: 0); plan.padding.insert(0, at: 0)
            plan.dilation.insert(1, at: 0); plan.inputSize.insert(1, at: 0); plan.outputSize.insert(1, at: 0)
        }
        let planes = plan.leading.reduce(1, *)
        let (height, width) = (plan.inputSize[0], plan.inputSize[1])
        let (outHeight, outWidth) = (plan.outputSize[0], plan.outputSize[1])
        let outputShape = plan.leading + Array(plan.outputSize.suffix(spatial))
        let compute: DType = input.dtype == .float64 ? .float64 : .float32
        var geometry = ember_window_geometry(
            height: Int64(height), width: Int64(width), out_height: Int64(outHeight), out_width: Int64(outWidth),
            kernel_h: Int64(plan.kernel[0]), kernel_w: Int64(plan.kernel[1]), stride_h: Int64(plan.stride[0]),
            stride_w: Int64(plan.stride[1]), pad_h: Int64(plan.padding[0]), pad_w: Int64(plan.padding[1]),
            dilation_h: Int64(plan.dilation[0]), dilation_w: Int64(plan.dilation[1]))
        let (values, indices) = withoutGrad { () -> (Tensor, Tensor) in
            let source = input.to(compute).contiguous()
            let values = Tensor(uninitializedShape: outputShape, dtype: compute)
            let indices = Tensor(uninitializedShape: outputShape, dtype: .int64)
            let work = outHeight * outWidth * plan.kernel[0] * plan.kernel[1]
            let out = indices.baseAddress.assumingMemoryBound(to: Int64.self)
            ParallelLoop.run(count: planes, grain: Swift.max(1, 32_768 / Swift.max(work, 1))) { range in
                let (begin, end) = (Int64(range.lowerBound), Int64(range.upperBound))
                if compute == .float64 {
                    ember_max_pool2d_f64(source.baseAddress.assumingMemoryBound(to: Double.self), &geometry, begin, end,
                                         values.baseAddress.assumingMemoryBound(to: Double.self), out)
                } else {
                    ember_max_pool2d_f32(source.baseAddress.assumingMemoryBound(to: Float.self), &geometry, begin, end,
                                         values.baseAddress.assumingMemoryBound(to: Float.self), out)
                }
            }
            return (compute == input.dtype ? values : values.to(input.dtype), indices)
        }
        if GraphRecorder.shouldRecord(input) {
            let inputShape = input.shape
            // While tracing, the backward records as a primitive of the gradient and the input
            // (which it recomputes the indices from), so keep the input only then.
            let traced = Tracing.isActive && spatial == 2 ? (input, ConvolutionGeometry(pooling: plan)) : nil
            GraphRecorder.record(op, inputs: [input], outputs: [values]) { context in
                let gradient = {
                    maxPoolBackward(context.gradOutput.reshaped([planes, outHeight * outWidth]),
                                    indices: indices.reshaped([planes, outHeight * outWidth]), inPlane: height * width).reshaped(inputShape)
                }
                guard let (input, geometry) = traced else { return [gradient()] }
                return [Tracing.record([context.gradOutput, input], { _ in .maxPool2dBackward(geometry) }, gradient)]
            }
        }
        return (values, indices)
    }

    /// The gradient of 2-D max pooling with respect to `input`, from the input itself (the
    /// maxima's positions are found again): what ``Primitive/maxPool2dBackward(_:)`` runs.
    static func maxPool2dBackward(_ gradOutput: Tensor, input: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
        let (_, indices) = maxPool(input, spatial: 2, kernel: [g.kernelHeight, g.kernelWidth], stride: [g.strideH, g.strideW],
                                   padding: [g.padH, g.padW], dilation: [g.dilationH, g.dilationW], ceilMode: g.poolingCeilMode(maxPadding: true) ?? false,
                                   op: "max_pool2d_backward")
        let planes = input.shape.dropLast(2).reduce(1, *), outPlane = g.outHeight * g.outWidth
        return maxPoolBackward(gradOutput.reshaped([planes, outPlane]), indices: indices.reshaped([planes, outPlane]),
                               inPlane: g.inHeight * g.inWidth).reshaped(input.shape)
    }

    /// The adjoint of `maxPool2dBackward` in its gradient: `gradient` (the input's shape) read
    /// at each window's maximum, in the pooled shape.
    static func maxPoolGatherAtMaxima(_ gradient: Tensor, input: Tensor, geometry g: ConvolutionGeometry) -> Tensor {
        let (values, indices) = maxPool(input, spatial: 2, kernel: [g.kernelHeight, g.kernelWidth], stride: [g.strideH, g.strideW],
                                        padding: [g.padH, g.padW], dilation: [g.dilationH, g.dilationW],
                                        ceilMode: g.poolingCeilMode(maxPadding: true) ?? false, op: "max_pool2d_backward")
        let planes = input.shape.dropLast(2).reduce(1, *)
        return gradient.reshaped([planes, g.inHeight * g.inWidth])
            .gather(dim: 1, index: indices.reshaped([planes, g.outHeight * g.outWidth])).reshaped(values.shape)
    }

    /// Max pooling's backward, a primitive: gradients [P, outPlane] added at their flat
    /// `indices` [P, outPlane] into zeroed planes [P, inPlane] (the C kernel, rather than the
    /// generic `scatterAdd`, which pays a strided index walk per element). It is linear in the
    /// gradient, so its own backward is the gather at the same indices, and gather's backward is
    /// a scatter-add again: gradients of every order.
    static func maxPoolBackward(_ gradOutput: Tensor, indices: Tensor, inPlane: Int) -> Tensor {
        let planes = gradOutput.shape[0], outPlane = gradOutput.shape[1]
        let compute: DType = gradOutput.dtype == .float64 ? .float64 : .float32
        let result = withoutGrad { () -> Tensor in
            let source = gradOutput.to(compute).contiguous()
            let index = indices.contiguous()
            let output = Tensor(uninitializedShape: [planes, inPlane], dtype: compute)
            if output.count == 0 { return output.to(gradOutput.dtype) }
            let at = index.baseAddress.assumingMemoryBound(to: Int64.self)
            ParallelLoop.run(count: planes, grain: Swift.max(1, 32_768 / Swift.max(inPlane + outPlane, 1))) { range in
                let (begin, end) = (Int64(range.lowerBound), Int64(range.upperBound))
                if compute == .float64 {
                    ember_max_pool2d_backward_f64(source.baseAddress.assumingMemoryBound(to: Double.self), at, Int64(inPlane),
                                                  Int64(outPlane), begin, end, output.baseAddress.assumingMemoryBound(to: Double.self))
                } else {
                    ember_max_pool2d_backward_f32(source.baseAddress.assumingMemoryBound(to: Float.self), at, Int64(inPlane),
                                                  Int64(outPlane), begin, end, output.baseAddress.assumingMemoryBound(to: Float.self))
                }
            }
            return compute == gradOutput.dtype ? output : output.to(gradOutput.dtype)
        }
        if GraphRecorder.shouldRecord(gradOutput) {
            GraphRecorder.record("max_pool2d_backward", inputs: [gradOutput], outputs: [result]) { context in
                [context.gradOutput.gather(dim: 1, index: indices)]
            }
        }
        return result
    }

    /// Average pooling (`adaptive` false) or adaptive average pooling to `outputSize` over the
    /// last two dimensions (or one, with `spatial` 1).
    static func averagePool(_ input: Tensor, spatial: Int, kernel: SpatialSize, stride: SpatialSize?, padding: SpatialSize,
                            ceilMode: Bool, countIncludePad: Bool, divisorOverride: Int?, op: String) -> Tensor {
        let plan = planPooling(input, spatial: spatial, kernel: kernel, stride: stride, padding: padding,
                               dilation: 1, ceilMode: ceilMode, isMax: false, op: op)
        if let divisorOverride { emberPrecondition(divisorOverride != 0, "\(op): divisor must be not zero") }
        // 1-D pooling is 2-D pooling of planes with one row.
        let rowDim = spatial == 2 ? 0 : nil
        let window = ConvolutionGeometry(
            inHeight: rowDim.map { plan.inputSize[$0] } ?? 1, inWidth: plan.inputSize[spatial - 1],
            outHeight: rowDim.map { plan.outputSize[$0] } ?? 1, outWidth: plan.outputSize[spatial - 1],
            kernelHeight: rowDim.map { plan.kernel[$0] } ?? 1, kernelWidth: plan.kernel[spatial - 1],
            strideH: rowDim.map { plan.stride[$0] } ?? 1, strideW: plan.stride[spatial - 1],
            padH: rowDim.map { plan.padding[$0] } ?? 0, padW: plan.padding[spatial - 1], dilationH: 1, dilationW: 1, groups: 1)
        let geometry = AveragePoolGeometry(window: window, countIncludePad: countIncludePad, divisor: divisorOverride, adaptive: false)
        let planes = plan.leading.reduce(1, *)
        let result = windowAverage(input.reshaped([planes, window.inHeight, window.inWidth]), geometry, transpose: false)
        return result.reshaped(plan.leading + Array(plan.outputSize.suffix(spatial)))
    }

    /// Adaptive average pooling of the last two dimensions to `outputSize`.
    static func adaptiveAveragePool2d(_ input: Tensor, outputSize: [Int?], op: String) -> Tensor {
        emberPrecondition(input.rank == 3 || input.rank == 4,
                          "\(op): Expected 3D or 4D tensor, but got \(input.shape)")
        emberPrecondition(input.dtype.isFloatingPoint, "\(op): \"\(op)\" not implemented for '\(input.dtype)'")
        emberPrecondition(outputSize.count == 1 || outputSize.count == 2, "\(op): output_size must be 2")
        let (height, width) = (input.shape[input.rank - 2], input.shape[input.rank - 1])
        emberPrecondition(height > 0 && width > 0,
                          "\(op): Expected input to have non-zero size for non-batch dimensions, but input has sizes \(input.shape)")
        let sizes = outputSize.count == 1 ? [outputSize[0], outputSize[0]] : outputSize
        let outHeight = sizes[0] ?? height, outWidth = sizes[1] ?? width
        emberPrecondition(outHeight >= 0 && outWidth >= 0, "\(op): elements of output_size must be greater than or equal to 0 but received [\(outHeight), \(outWidth)]")
        let geometry = AveragePoolGeometry.adaptive(inHeight: height, inWidth: width, outHeight: outHeight, outWidth: outWidth)
        let leading = Array(input.shape.dropLast(2))
        let planes = leading.reduce(1, *)
        return windowAverage(input.reshaped([planes, height, width]), geometry, transpose: false)
            .reshaped(leading + [outHeight, outWidth])
    }

    /// The linear primitive of average pooling: [P, inH, inW] -> [P, outH, outW], or the
    /// adjoint [P, outH, outW] -> [P, inH, inW] when `transpose` is true.
    /// Traced as ``Primitive/averagePool2d(_:transpose:)``: forward and backward both.
    static func windowAverage(_ input: Tensor, _ geometry: AveragePoolGeometry, transpose: Bool) -> Tensor {
        Dispatch.apply(input, { _ in .averagePool2d(geometry, transpose: transpose) }, name: transpose ? "avg_pool2d_backward" : "avg_pool2d") {
            windowAverage(input, geometry, geometry.windows, transpose: transpose)
        }
    }

    private static func windowAverage(_ input: Tensor, _ geometry: AveragePoolGeometry, _ windows: AverageWindows,
                                      transpose: Bool) -> Tensor {
        let planes = input.shape[0]
        let shape = transpose ? [planes, windows.inHeight, windows.inWidth] : [planes, windows.outHeight, windows.outWidth]
        let compute: DType = input.dtype == .float64 ? .float64 : .float32
        let result = withoutGrad { () -> Tensor in
            let source = input.to(compute).contiguous()
            let output = Tensor(uninitializedShape: shape, dtype: compute)
            if output.count == 0 { return output.to(input.dtype) }
            if transpose { output.baseAddress.initializeMemory(as: UInt8.self, repeating: 0, count: output.count * compute.byteSize) }
            let work = Swift.max(1, source.count / Swift.max(planes, 1) + output.count / Swift.max(planes, 1))
            let w = windows
            ParallelLoop.run(count: planes, grain: Swift.max(1, 32_768 / work)) { range in
                let (begin, end) = (Int64(range.lowerBound), Int64(range.upperBound))
                let flag: Int32 = transpose ? 1 : 0
                let (h, wd, oh, ow) = (Int64(w.inHeight), Int64(w.inWidth), Int64(w.outHeight), Int64(w.outWidth))
                if compute == .float64 {
                    ember_window_average_f64(source.baseAddress.assumingMemoryBound(to: Double.self), h, wd, oh, ow,
                                             w.rowStart, w.rowEnd, w.rowScale, w.columnStart, w.columnEnd, w.columnScale,
                                             begin, end, flag, output.baseAddress.assumingMemoryBound(to: Double.self))
                } else {
                    ember_window_average_f32(source.baseAddress.assumingMemoryBound(to: Float.self), h, wd, oh, ow,
                                             w.rowStart, w.rowEnd, w.rowScale, w.columnStart, w.columnEnd, w.columnScale,
                                             begin, end, flag, output.baseAddress.assumingMemoryBound(to: Float.self))
                }
            }
            return compute == input.dtype ? output : output.to(input.dtype)
        }
        return result
    }
}
