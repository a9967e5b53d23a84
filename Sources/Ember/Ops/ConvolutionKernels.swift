import CEmberKernels
import EmberKernels

/// The sizes of one 2-D convolution, fixed for its forward op and for the two ops of its
/// backward pass, which all read the same geometry: input [N, groups·Cg, inHeight, inWidth],
/// weight [O, Cg, kernelHeight, kernelWidth], output [N, O, outHeight, outWidth].
///
/// `padH`/`padW` are the padding before the first row and column; the padding after them is
/// whatever the output size implies, so asymmetric padding (`padding: .same` with an even
/// kernel) needs no padded copy of the input.
struct ConvolutionGeometry: Equatable {
    var inHeight: Int, inWidth: Int
    var outHeight: Int, outWidth: Int
    var kernelHeight: Int, kernelWidth: Int
    var strideH: Int, strideW: Int
    var padH: Int, padW: Int
    var dilationH: Int, dilationW: Int
    var groups: Int

    var window: ember_window_geometry {
        ember_window_geometry(height: Int64(inHeight), width: Int64(inWidth),
                              out_height: Int64(outHeight), out_width: Int64(outWidth),
                              kernel_h: Int64(kernelHeight), kernel_w: Int64(kernelWidth),
                              stride_h: Int64(strideH), stride_w: Int64(strideW),
                              pad_h: Int64(padH), pad_w: Int64(padW),
                              dilation_h: Int64(dilationH), dilation_w: Int64(dilationW))
    }

    /// A 1x1 kernel with unit stride and no padding reads the input as it is: the image is
    /// already the column matrix, so im2col and col2im are skipped.
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
            && inHeight == outHeight && inWidth == outWidth
    }
}

/// Element types the convolution kernels run on: GEMM with a beta, im2col and col2im.
protocol ConvolutionScalar: GEMMScalar, BinaryFloatingPoint {
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Self>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Self>, bRowStride: Int, bColumnStride: Int,
                     accumulate: Bool, c: UnsafeMutablePointer<Self>, cRowStride: Int)
    static func im2col(_ input: UnsafePointer<Self>, _ geometry: UnsafePointer<ember_window_geometry>,
                       _ begin: Int64, _ end: Int64, _ columns: UnsafeMutablePointer<Self>)
    static func col2im(_ columns: UnsafePointer<Self>, _ geometry: UnsafePointer<ember_window_geometry>,
                       _ begin: Int64, _ end: Int64, _ input: UnsafeMutablePointer<Self>)
}

extension Float: ConvolutionScalar {
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Float>, bRowStride: Int, bColumnStride: Int,
                     accumulate: Bool, c: UnsafeMutablePointer<Float>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                      b: b, bRowStride: bRowStride, bColumnStride: bColumnStride,
                      beta: accumulate ? 1 : 0, c: c, cRowStride: cRowStride)
    }
    static func im2col(_ input: UnsafePointer<Float>, _ geometry: UnsafePointer<ember_window_geometry>,
                       _ begin: Int64, _ end: Int64, _ columns: UnsafeMutablePointer<Float>) {
        ember_im2col_f32(input, geometry, begin, end, columns)
    }
    static func col2im(_ columns: UnsafePointer<Float>, _ geometry: UnsafePointer<ember_window_geometry>,
                       _ begin: Int64, _ end: Int64, _ input: UnsafeMutablePointer<Float>) {
        ember_col2im_f32(columns, geometry, begin, end, input)
    }
}

extension Double: ConvolutionScalar {
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Double>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Double>, bRowStride: Int, bColumnStride: Int,
                     accumulate: Bool, c: UnsafeMutablePointer<Double>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                      b: b, bRowStride: bRowStride, bColumnStride: bColumnStride,
                      beta: accumulate ? 1 : 0, c: c, cRowStride: cRowStride)
    }
    static func im2col(_ input: UnsafePointer<Double>, _ geometry: UnsafePointer<ember_window_geometry>,
                       _ begin: Int64, _ end: Int64, _ columns: UnsafeMutablePointer<Double>) {
        ember_im2col_f64(input, geometry, begin, end, columns)
    }
    static func col2im(_ columns: UnsafePointer<Double>, _ geometry: UnsafePointer<ember_window_geometry>,
                       _ begin: Int64, _ end: Int64, _ input: UnsafeMutablePointer<Double>) {
        ember_col2im_f64(columns, geometry, begin, end, input)
    }
}

/// The three convolution kernels: forward, gradient with respect to the input, gradient with
/// respect to the weight. Each runs, per image and group, one im2col (or col2im) and one GEMM;
/// GEMM threads internally and im2col/col2im are split across threads here.
///
/// Why per image rather than one im2col of the whole batch followed by one GEMM: the column
/// matrix of a whole batch is kernel-area times the input (hundreds of MB for ImageNet
/// batches) and the result would need a permute from [O, N·L] to [N, O, L]; per image the
/// column buffer stays in cache-friendly sizes and GEMM is already large enough to thread.
/// Rejected: direct (non-im2col) convolution kernels per kernel size — much more code, and
/// GEMM is the part we have tuned.
enum ConvolutionKernel {
    /// im2col rows (or col2im channels) per thread below which the loop runs inline.
    static func grain(rowLength: Int) -> Int { max(1, 32_768 / max(rowLength, 1)) }

    /// Output[n, o] = Σ weight[o] ⋆ input[n] (+ bias[o]). All operands contiguous.
    static func forward<T: ConvolutionScalar>(_ type: T.Type, input: Tensor, weight: Tensor, bias: Tensor?,
                                              output: Tensor, geometry: ConvolutionGeometry) {
        let batch = input.shape[0], channels = input.shape[1], outChannels = weight.shape[0]
        let groups = geometry.groups, groupChannels = channels / groups, groupOut = outChannels / groups
        let kernelArea = geometry.kernelHeight * geometry.kernelWidth
        let depth = groupChannels * kernelArea
        let inPlane = geometry.inHeight * geometry.inWidth, outPlane = geometry.outHeight * geometry.outWidth
        let x = UnsafePointer(input.baseAddress.assumingMemoryBound(to: T.self))
        let w = UnsafePointer(weight.baseAddress.assumingMemoryBound(to: T.self))
        let b = bias.map { UnsafePointer($0.baseAddress.assumingMemoryBound(to: T.self)) }
        let y = output.baseAddress.assumingMemoryBound(to: T.self)
        var window = geometry.window
        withColumnBuffer(T.self, count: geometry.isPointwise ? 0 : depth * outPlane) { columns in
            for n in 0..<batch {
                for group in 0..<groups {
                    let image = x + (n * channels + group * groupChannels) * inPlane
                    let matrix: UnsafePointer<T>
                    if geometry.isPointwise {
                        matrix = image
                    } else {
                        ParallelLoop.run(count: depth, grain: grain(rowLength: outPlane)) { rows in
                            T.im2col(image, &window, Int64(rows.lowerBound), Int64(rows.upperBound), columns)
                        }
                        matrix = UnsafePointer(columns)
                    }
                    let out = y + (n * outChannels + group * groupOut) * outPlane
                    if let b {
                        for o in 0..<groupOut {
                            (out + o * outPlane).initialize(repeating: b[group * groupOut + o], count: outPlane)
                        }
                    }
                    T.gemm(m: groupOut, n: outPlane, k: depth,
                           a: w + group * groupOut * depth, aRowStride: depth, aColumnStride: 1,
                           b: matrix, bRowStride: outPlane, bColumnStride: 1,
                           accumulate: b != nil, c: out, cRowStride: outPlane)
                }
            }
        }
    }

    /// gradInput[n] = col2im(weightᵀ · gradOutput[n]): the transposed convolution.
    static func inputGradient<T: ConvolutionScalar>(_ type: T.Type, gradOutput: Tensor, weight: Tensor,
                                                    gradInput: Tensor, geometry: ConvolutionGeometry) {
        let batch = gradInput.shape[0], channels = gradInput.shape[1], outChannels = weight.shape[0]
        let groups = geometry.groups, groupChannels = channels / groups, groupOut = outChannels / groups
        let depth = groupChannels * geometry.kernelHeight * geometry.kernelWidth
        let inPlane = geometry.inHeight * geometry.inWidth, outPlane = geometry.outHeight * geometry.outWidth
        let g = UnsafePointer(gradOutput.baseAddress.assumingMemoryBound(to: T.self))
        let w = UnsafePointer(weight.baseAddress.assumingMemoryBound(to: T.self))
        let dx = gradInput.baseAddress.assumingMemoryBound(to: T.self)
        var window = geometry.window
        if !geometry.isPointwise { dx.initialize(repeating: 0, count: gradInput.count) }
        withColumnBuffer(T.self, count: geometry.isPointwise ? 0 : depth * outPlane) { columns in
            for n in 0..<batch {
                for group in 0..<groups {
                    let image = dx + (n * channels + group * groupChannels) * inPlane
                    let target = geometry.isPointwise ? image : columns
                    // [depth, outPlane] = weight_groupᵀ [depth, groupOut] · gradOutput [groupOut, outPlane]
                    T.gemm(m: depth, n: outPlane, k: groupOut,
                           a: w + group * groupOut * depth, aRowStride: 1, aColumnStride: depth,
                           b: g + (n * outChannels + group * groupOut) * outPlane, bRowStride: outPlane, bColumnStride: 1,
                           accumulate: false, c: target, cRowStride: outPlane)
                    if geometry.isPointwise { continue }
                    // col2im writes whole channel planes, so channels are what threads split.
                    ParallelLoop.run(count: groupChannels, grain: grain(rowLength: outPlane * geometry.kernelHeight * geometry.kernelWidth)) { range in
                        T.col2im(columns, &window, Int64(range.lowerBound), Int64(range.upperBound), image)
                    }
                }
            }
        }
    }

    /// gradWeight = Σₙ gradOutput[n] · im2col(input[n])ᵀ.
    static func weightGradient<T: ConvolutionScalar>(_ type: T.Type, input: Tensor, gradOutput: Tensor,
                                                     gradWeight: Tensor, geometry: ConvolutionGeometry) {
        let batch = input.shape[0], channels = input.shape[1], outChannels = gradWeight.shape[0]
        let groups = geometry.groups, groupChannels = channels / groups, groupOut = outChannels / groups
        let depth = groupChannels * geometry.kernelHeight * geometry.kernelWidth
        let inPlane = geometry.inHeight * geometry.inWidth, outPlane = geometry.outHeight * geometry.outWidth
        let x = UnsafePointer(input.baseAddress.assumingMemoryBound(to: T.self))
        let g = UnsafePointer(gradOutput.baseAddress.assumingMemoryBound(to: T.self))
        let dw = gradWeight.baseAddress.assumingMemoryBound(to: T.self)
        var window = geometry.window
        if batch == 0 { dw.initialize(repeating: 0, count: gradWeight.count); return }
        withColumnBuffer(T.self, count: geometry.isPointwise ? 0 : depth * outPlane) { columns in
            for n in 0..<batch {
                for group in 0..<groups {
                    let image = x + (n * channels + group * groupChannels) * inPlane
                    let matrix: UnsafePointer<T>
                    if geometry.isPointwise {
                        matrix = image
                    } else {
                        ParallelLoop.run(count: depth, grain: grain(rowLength: outPlane)) { rows in
                            T.im2col(image, &window, Int64(rows.lowerBound), Int64(rows.upperBound), columns)
                        }
                        matrix = UnsafePointer(columns)
                    }
                    // [groupOut, depth] += gradOutput [groupOut, outPlane] · columnsᵀ [outPlane, depth]
                    T.gemm(m: groupOut, n: depth, k: outPlane,
                           a: g + (n * outChannels + group * groupOut) * outPlane, aRowStride: outPlane, aColumnStride: 1,
                           b: matrix, bRowStride: 1, bColumnStride: outPlane,
                           accumulate: n > 0, c: dw + group * groupOut * depth, cRowStride: depth)
                }
            }
        }
    }

    /// Lends a scratch buffer of `count` elements from the caching allocator.
    private static func withColumnBuffer<T>(_ type: T.Type, count: Int, _ body: (UnsafeMutablePointer<T>) -> Void) {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        let raw = CachingAllocator.shared.allocate(bytes: bytes)
        defer { CachingAllocator.shared.deallocate(raw, bytes: bytes) }
        body(raw.bindMemory(to: T.self, capacity: max(count, 1)))
    }
}
