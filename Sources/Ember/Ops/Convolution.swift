/// Convolution: the three primitive ops (forward, gradient with respect to the input, gradient
/// with respect to the weight) and the checked entry points behind `Functional.conv1d`,
/// `conv2d` and `convTranspose2d`.
///
/// Convolution is bilinear in (input, weight), so its three ops close under differentiation:
///
///     y  = conv(x, w)            dx = convInputGrad(dy, w)   dw = convWeightGrad(x, dy)
///     convInputGrad(g, w):       dg = conv(dz, w)            dw = convWeightGrad(dz, g)
///     convWeightGrad(x, g):      dx = convInputGrad(g, dW)   dg = conv(x, dW)
///
/// Each backward rule calls the other primitives, which record themselves when `createGraph`
/// is on, so gradients of any order work and use the fast kernels at every order (the
/// alternative, writing the weight gradient as a convolution of a permuted input with the
/// gradient as its kernel, is also closed but runs im2col with a kernel the size of the image).
/// `convTranspose2d` *is* `convInputGrad` plus a bias, as in PyTorch.
///
/// Kernels: `ConvolutionKernel` (im2col + GEMM per image and group, `ConvolutionKernels.swift`).
/// float32 and float64 run natively; float16 and bfloat16 compute in float32 and round back.

/// A size given per spatial dimension, written as one integer for all of them or a list:
/// `stride: 2` or `stride: [2, 1]`, as PyTorch's `int or tuple` arguments.
public struct SpatialSize: Sendable, Equatable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral {
    /// One value, or one per spatial dimension.
    public let values: [Int]
    /// The same size in every spatial dimension.
    public init(_ value: Int) { values = [value] }
    /// One size per spatial dimension.
    public init(_ values: [Int]) { self.values = values }
    public init(integerLiteral value: Int) { values = [value] }
    public init(arrayLiteral elements: Int...) { values = elements }

    /// The values expanded to `rank` dimensions, or a failure naming `op` and `name`.
    func expanded(to rank: Int, op: String, name: String) -> [Int] {
        if values.count == 1 { return [Int](repeating: values[0], count: rank) }
        emberPrecondition(values.count == rank,
                          "\(op): expected \(name) to be a single integer value or a list of \(rank) values to match the convolution dimensions, but got \(name)=\(values)")
        return values
    }
}

/// Convolution padding: explicit sizes (`padding: 1`, `padding: [1, 2]`), `.valid` (none) or
/// `.same` (the output has the input's size; stride 1 only), as PyTorch's `padding` argument.
public enum ConvolutionPadding: Sendable, Equatable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral {
    /// Zero rows and columns added on both sides of each spatial dimension.
    case explicit(SpatialSize)
    /// No padding.
    case valid
    /// Padding that keeps the input size; when the total is odd the extra row goes after.
    case same
    public init(integerLiteral value: Int) { self = .explicit(SpatialSize(value)) }
    public init(arrayLiteral elements: Int...) { self = .explicit(SpatialSize(elements)) }
}

// MARK: - Checked entry points

extension Tensor {
    /// Padding before and after each spatial dimension, and the output sizes, after PyTorch's checks.
    struct ConvolutionPlan {
        var stride: [Int], dilation: [Int], kernel: [Int]
        var padBefore: [Int], padAfter: [Int]
        var inputSize: [Int], outputSize: [Int]
    }

    /// Checks a convolution's arguments with PyTorch's messages; `spatial` is 1 or 2.
    static func planConvolution(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, spatial: Int, stride: SpatialSize,
                                padding: ConvolutionPadding, dilation: SpatialSize, groups: Int, op: String) -> ConvolutionPlan {
        emberPrecondition(input.rank == spatial + 1 || input.rank == spatial + 2,
                          "\(op): Expected \(spatial + 1)D (unbatched) or \(spatial + 2)D (batched) input to \(op), but got input of size: \(input.shape)")
        emberPrecondition(weight.rank == spatial + 2,
                          "\(op): weight should have at least three dimensions and be \(spatial + 2)-D for \(op), but got weight of size \(weight.shape)")
        emberPrecondition(input.dtype == weight.dtype,
                          "\(op): Input type (\(input.dtype)) and weight type (\(weight.dtype)) should be the same")
        emberPrecondition(input.dtype.isFloatingPoint, "\(op): \"slow_conv2d_cpu\" not implemented for '\(input.dtype)'")
        let stride = stride.expanded(to: spatial, op: op, name: "stride")
        let dilation = dilation.expanded(to: spatial, op: op, name: "dilation")
        emberPrecondition(groups > 0, "\(op): non-positive groups is not supported")
        emberPrecondition(stride.allSatisfy { $0 > 0 }, "\(op): non-positive stride is not supported")
        emberPrecondition(dilation.allSatisfy { $0 > 0 }, "\(op): dilation should be greater than zero")
        let batched = input.rank == spatial + 2
        let channels = input.shape[batched ? 1 : 0]
        let inputSize = Array(input.shape.suffix(spatial))
        let kernel = Array(weight.shape.suffix(spatial))
        emberPrecondition(weight.shape[0] % groups == 0,
                          "\(op): Given groups=\(groups), expected weight to be divisible by \(groups) at dimension 0, but got weight of size \(weight.shape) instead")
        emberPrecondition(channels == weight.shape[1] * groups,
                          "\(op): Given groups=\(groups), weight of size \(weight.shape), expected input\(input.shape) to have \(weight.shape[1] * groups) channels, but got \(channels) channels instead")
        if let bias {
            emberPrecondition(bias.rank == 1 && bias.shape[0] == weight.shape[0],
                              "\(op): Given weight of size \(weight.shape), expected bias to be 1-dimensional with \(weight.shape[0]) elements, but got bias of size \(bias.shape) instead")
            emberPrecondition(bias.dtype == input.dtype,
                              "\(op): Input type (\(input.dtype)) and bias type (\(bias.dtype)) should be the same")
        }
        var padBefore: [Int], padAfter: [Int]
        switch padding {
        case .valid:
            padBefore = [Int](repeating: 0, count: spatial); padAfter = padBefore
        case .explicit(let size):
            padBefore = size.expanded(to: spatial, op: op, name: "padding"); padAfter = padBefore
            emberPrecondition(padBefore.allSatisfy { $0 >= 0 }, "\(op): negative padding is not supported")
        case .same:
            emberPrecondition(stride.allSatisfy { $0 == 1 }, "\(op): padding='same' is not supported for strided convolutions")
            let total = (0..<spatial).map { dilation[$0] * (kernel[$0] - 1) }
            padBefore = total.map { $0 / 2 }
            padAfter = zip(total, padBefore).map { $0 - $1 }
        }
        let padded = (0..<spatial).map { inputSize[$0] + padBefore[$0] + padAfter[$0] }
        let dilatedKernel = (0..<spatial).map { dilation[$0] * (kernel[$0] - 1) + 1 }
        emberPrecondition(zip(padded, dilatedKernel).allSatisfy { $0 >= $1 },
                          "\(op): Calculated padded input size per channel: (\(padded.map(String.init).joined(separator: " x "))). Kernel size: (\(dilatedKernel.map(String.init).joined(separator: " x "))). Kernel size can't be greater than actual input size")
        let outputSize = (0..<spatial).map { (padded[$0] - dilatedKernel[$0]) / stride[$0] + 1 }
        return ConvolutionPlan(stride: stride, dilation: dilation, kernel: kernel, padBefore: padBefore,
                               padAfter: padAfter, inputSize: inputSize, outputSize: outputSize)
    }

    /// `conv1d` / `conv2d`: checks, adds a batch dimension to unbatched inputs, views 1-D as 2-D
    /// with height 1, and runs the primitive.
    static func convolution(_ input: Tensor, weight: Tensor, bias: Tensor?, spatial: Int, stride: SpatialSize,
                            padding: ConvolutionPadding, dilation: SpatialSize, groups: Int, op: String) -> Tensor {
        let plan = planConvolution(input, weight, bias, spatial: spatial, stride: stride, padding: padding,
                                   dilation: dilation, groups: groups, op: op)
        let batched = input.rank == spatial + 2
        var x = batched ? input : input.unsqueezed(0)
        var w = weight
        var p = plan
        if spatial == 1 {
            x = x.unsqueezed(2)
            w = w.unsqueezed(2)
            p = ConvolutionPlan(stride: [1] + p.stride, dilation: [1] + p.dilation, kernel: [1] + p.kernel,
                                padBefore: [0] + p.padBefore, padAfter: [0] + p.padAfter,
                                inputSize: [1] + p.inputSize, outputSize: [1] + p.outputSize)
        }
        let geometry = ConvolutionGeometry(
            inHeight: p.inputSize[0], inWidth: p.inputSize[1], outHeight: p.outputSize[0], outWidth: p.outputSize[1],
            kernelHeight: p.kernel[0], kernelWidth: p.kernel[1], strideH: p.stride[0], strideW: p.stride[1],
            padH: p.padBefore[0], padW: p.padBefore[1], dilationH: p.dilation[0], dilationW: p.dilation[1], groups: groups)
        var y = convolution2d(x, w, bias, geometry: geometry)
        if spatial == 1 { y = y.squeezed(2) }
        return batched ? y : y.squeezed(0)
    }

    /// `convTranspose2d`: the input gradient of the convolution from the output's shape to the
    /// input's, plus a bias. `weight` is [inChannels, outChannels / groups, kH, kW].
    static func transposedConvolution2d(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: SpatialSize,
                                        padding: SpatialSize, outputPadding: SpatialSize, groups: Int,
                                        dilation: SpatialSize) -> Tensor {
        let op = "conv_transpose2d"
        emberPrecondition(input.rank == 3 || input.rank == 4,
                          "\(op): Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: \(input.shape)")
        emberPrecondition(weight.rank == 4, "\(op): weight should be 4-D, but got weight of size \(weight.shape)")
        emberPrecondition(input.dtype == weight.dtype,
                          "\(op): Input type (\(input.dtype)) and weight type (\(weight.dtype)) should be the same")
        emberPrecondition(input.dtype.isFloatingPoint, "\(op): \"slow_conv_transpose2d_cpu\" not implemented for '\(input.dtype)'")
        emberPrecondition(groups > 0, "\(op): non-positive groups is not supported")
        let stride = stride.expanded(to: 2, op: op, name: "stride")
        let padding = padding.expanded(to: 2, op: op, name: "padding")
        let outputPadding = outputPadding.expanded(to: 2, op: op, name: "output_padding")
        let dilation = dilation.expanded(to: 2, op: op, name: "dilation")
        emberPrecondition(stride.allSatisfy { $0 > 0 }, "\(op): non-positive stride is not supported")
        emberPrecondition(dilation.allSatisfy { $0 > 0 }, "\(op): dilation should be greater than zero")
        emberPrecondition(padding.allSatisfy { $0 >= 0 }, "\(op): negative padding is not supported")
        emberPrecondition((0..<2).allSatisfy { outputPadding[$0] >= 0 && (outputPadding[$0] < stride[$0] || outputPadding[$0] < dilation[$0]) },
                          "\(op): output padding must be smaller than either stride or dilation, but got output_padding_height: \(outputPadding[0]) output_padding_width: \(outputPadding[1]) stride_height: \(stride[0]) stride_width: \(stride[1]) dilation_height: \(dilation[0]) dilation_width: \(dilation[1])")
        let batched = input.rank == 4
        let x = batched ? input : input.unsqueezed(0)
        emberPrecondition(weight.shape[0] % groups == 0,
                          "\(op): Given groups=\(groups), expected weight to be divisible by \(groups) at dimension 0, but got weight of size \(weight.shape) instead")
        emberPrecondition(x.shape[1] == weight.shape[0],
                          "\(op): Given transposed=1, weight of size \(weight.shape), expected input\(input.shape) to have \(weight.shape[0]) channels, but got \(x.shape[1]) channels instead")
        let outChannels = weight.shape[1] * groups
        if let bias {
            emberPrecondition(bias.rank == 1 && bias.shape[0] == outChannels,
                              "\(op): Given transposed=1, weight of size \(weight.shape), expected bias to be 1-dimensional with \(outChannels) elements, but got bias of size \(bias.shape) instead")
        }
        let kernel = [weight.shape[2], weight.shape[3]]
        let inputSize = [x.shape[2], x.shape[3]]
        let outputSize = (0..<2).map { (d: Int) -> Int in
            let span: Int = dilation[d] * (kernel[d] - 1)
            let stretched: Int = (inputSize[d] - 1) * stride[d]
            return stretched - 2 * padding[d] + span + outputPadding[d] + 1
        }
        emberPrecondition(outputSize.allSatisfy { $0 > 0 },
                          "\(op): Given input size per channel: (\(inputSize[0]) x \(inputSize[1])). Calculated output size per channel: (\(outputSize[0]) x \(outputSize[1])). Output size is too small")
        // The forward convolution this transposes maps the output size back to the input size.
        let geometry = ConvolutionGeometry(
            inHeight: outputSize[0], inWidth: outputSize[1], outHeight: inputSize[0], outWidth: inputSize[1],
            kernelHeight: kernel[0], kernelWidth: kernel[1], strideH: stride[0], strideW: stride[1],
            padH: padding[0], padW: padding[1], dilationH: dilation[0], dilationW: dilation[1], groups: groups)
        var y = convolution2dInputGradient(x, weight, geometry: geometry)
        if let bias { y = y + bias.reshaped([1, outChannels, 1, 1]) }
        return batched ? y : y.squeezed(0)
    }
}

// MARK: - The three primitives

extension Tensor {
    /// Runs `body` on float32 or float64 copies of `operands` (contiguous), converting 16-bit
    /// floats to float32 and the result back to `dtype`. No graph is recorded here.
    private static func convolutionKernel(_ operands: [Tensor], resultShape: [Int], dtype: DType,
                                          _ body: ([Tensor], Tensor) -> Void) -> Tensor {
        let compute: DType = dtype == .float64 ? .float64 : .float32
        return withoutGrad {
            let ready = operands.map { $0.to(compute).contiguous() }
            let result = Tensor(uninitializedShape: resultShape, dtype: compute)
            if result.count > 0 { body(ready, result) }
            return compute == dtype ? result : result.to(dtype)
        }
    }

    /// [N, C, H, W] ⋆ [O, C / groups, kH, kW] (+ bias [O]) -> [N, O, outH, outW].
    static func convolution2d(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, geometry: ConvolutionGeometry) -> Tensor {
        Dispatch.apply([input, weight] + (bias.map { [$0] } ?? []), { _ in .conv2d(geometry) }) {
            convolution2dUntraced(input, weight, bias, geometry: geometry)
        }
    }

    private static func convolution2dUntraced(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, geometry: ConvolutionGeometry) -> Tensor {
        let shape = [input.shape[0], weight.shape[0], geometry.outHeight, geometry.outWidth]
        let operands = [input, weight] + (bias.map { [$0] } ?? [])
        let result = convolutionKernel(operands, resultShape: shape, dtype: input.dtype) { ready, output in
            if input.count == 0 || weight.count == 0 {
                withoutGrad { _ = output.fill_(0.0) }
                if let bias = ready.count > 2 ? ready[2] : nil { withoutGrad { _ = output.copy_(output + bias.reshaped([1, -1, 1, 1])) } }
                return
            }
            if output.dtype == .float64 {
                ConvolutionKernel.forward(Double.self, input: ready[0], weight: ready[1], bias: ready.count > 2 ? ready[2] : nil, output: output, geometry: geometry)
            } else {
                ConvolutionKernel.forward(Float.self, input: ready[0], weight: ready[1], bias: ready.count > 2 ? ready[2] : nil, output: output, geometry: geometry)
            }
        }
        return result
    }

    /// `convolution2d` of float32 or float64 operands of one dtype written into `output`, with
    /// `epilogue` called on each chunk of finished images (what a compiled plan runs: its
    /// buffer, and the pointwise group after the convolution while the images are in cache).
    /// No autograd. False, with nothing written, for operands it does not take.
    static func convolution2d(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, geometry: ConvolutionGeometry,
                              into output: Tensor, epilogue: ((Range<Int>) -> Void)?) -> Bool {
        let dtype = input.dtype
        guard dtype == .float32 || dtype == .float64, weight.dtype == dtype, bias.map({ $0.dtype == dtype }) ?? true,
              output.dtype == dtype, output.isContiguous,
              output.shape == [input.shape[0], weight.shape[0], geometry.outHeight, geometry.outWidth],
              input.count > 0, weight.count > 0 else { return false }
        withoutGrad {
            let (x, w, b) = (input.contiguous(), weight.contiguous(), bias?.contiguous())
            if dtype == .float64 {
                ConvolutionKernel.forward(Double.self, input: x, weight: w, bias: b, output: output, geometry: geometry, epilogue: epilogue)
            } else {
                ConvolutionKernel.forward(Float.self, input: x, weight: w, bias: b, output: output, geometry: geometry, epilogue: epilogue)
            }
        }
        return true
    }

    /// The gradient of `convolution2d` with respect to its input, for output gradient
    /// `gradOutput` [N, O, outH, outW]: [N, C, H, W] (the transposed convolution).
    static func convolution2dInputGradient(_ gradOutput: Tensor, _ weight: Tensor, geometry: ConvolutionGeometry) -> Tensor {
        Dispatch.apply(gradOutput, weight, { _ in .conv2dInputGradient(geometry) }, name: "conv_transpose2d") {
            convolution2dInputGradientUntraced(gradOutput, weight, geometry: geometry)
        }
    }

    private static func convolution2dInputGradientUntraced(_ gradOutput: Tensor, _ weight: Tensor, geometry: ConvolutionGeometry) -> Tensor {
        let shape = [gradOutput.shape[0], weight.shape[1] * geometry.groups, geometry.inHeight, geometry.inWidth]
        let result = convolutionKernel([gradOutput, weight], resultShape: shape, dtype: gradOutput.dtype) { ready, output in
            if gradOutput.count == 0 || weight.count == 0 { withoutGrad { _ = output.fill_(0.0) }; return }
            if output.dtype == .float64 {
                ConvolutionKernel.inputGradient(Double.self, gradOutput: ready[0], weight: ready[1], gradInput: output, geometry: geometry)
            } else {
                ConvolutionKernel.inputGradient(Float.self, gradOutput: ready[0], weight: ready[1], gradInput: output, geometry: geometry)
            }
        }
        return result
    }

    /// The gradient of `convolution2d` with respect to its weight: [O, C / groups, kH, kW].
    static func convolution2dWeightGradient(_ input: Tensor, _ gradOutput: Tensor, geometry: ConvolutionGeometry) -> Tensor {
        Dispatch.apply(input, gradOutput, { _ in .conv2dWeightGradient(geometry) }, name: "conv2d_weight_backward") {
            convolution2dWeightGradientUntraced(input, gradOutput, geometry: geometry)
        }
    }

    private static func convolution2dWeightGradientUntraced(_ input: Tensor, _ gradOutput: Tensor, geometry: ConvolutionGeometry) -> Tensor {
        let shape = [gradOutput.shape[1], input.shape[1] / geometry.groups, geometry.kernelHeight, geometry.kernelWidth]
        let result = convolutionKernel([input, gradOutput], resultShape: shape, dtype: input.dtype) { ready, output in
            if input.count == 0 || gradOutput.count == 0 { withoutGrad { _ = output.fill_(0.0) }; return }
            if output.dtype == .float64 {
                ConvolutionKernel.weightGradient(Double.self, input: ready[0], gradOutput: ready[1], gradWeight: output, geometry: geometry)
            } else {
                ConvolutionKernel.weightGradient(Float.self, input: ready[0], gradOutput: ready[1], gradWeight: output, geometry: geometry)
            }
        }
        return result
    }
}
