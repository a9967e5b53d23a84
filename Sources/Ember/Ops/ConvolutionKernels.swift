import CEmberKernels
import EmberKernels

/// The sizes of one 2-D convolution, fixed for its forward op and for the two ops of its
/// backward pass, which all read the same geometry: input [N, groups·Cg, inHeight, inWidth],
/// weight [O, Cg, kernelHeight, kernelWidth], output [N, O, outHeight, outWidth].
///
/// `padH`/`padW` are the padding before the first row and column; the padding after them is
/// whatever the output size implies, so asymmetric padding (`padding: .same` with an even
/// kernel) needs no padded copy of the input.
///
/// Public as the attribute of the graph's convolution primitives.
public struct ConvolutionGeometry: Hashable, Sendable {
    public var inHeight: Int, inWidth: Int
    public var outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var dilationH: Int, dilationW: Int
    public var groups: Int

    /// The thirteen sizes in declaration order (how graphs store them).
    var values: [Int] {
        [inHeight, inWidth, outHeight, outWidth, kernelHeight, kernelWidth, strideH, strideW, padH, padW, dilationH, dilationW, groups]
    }

    /// The sizes as given; the primitives' type rules refuse inconsistent ones (an output size
    /// the input, kernel, stride, padding and dilation do not give).
    public init(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int, kernelHeight: Int, kernelWidth: Int,
                strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int, groups: Int) {
        (self.inHeight, self.inWidth, self.outHeight, self.outWidth) = (inHeight, inWidth, outHeight, outWidth)
        (self.kernelHeight, self.kernelWidth, self.strideH, self.strideW) = (kernelHeight, kernelWidth, strideH, strideW)
        (self.padH, self.padW, self.dilationH, self.dilationW, self.groups) = (padH, padW, dilationH, dilationW, groups)
    }

    /// The geometry `values` wrote, if the sizes are consistent (the output size follows from
    /// the input, kernel, stride, padding and dilation).
    init?(values: [Int]) {
        guard values.count == 13, values.allSatisfy({ $0 >= 0 && $0 < 1 << 32 }) else { return nil }
        self.init(inHeight: values[0], inWidth: values[1], outHeight: values[2], outWidth: values[3],
                  kernelHeight: values[4], kernelWidth: values[5], strideH: values[6], strideW: values[7],
                  padH: values[8], padW: values[9], dilationH: values[10], dilationW: values[11], groups: values[12])
        guard isConsistent else { return nil }
    }

    var isConsistent: Bool {
        // Sizes from a file or a caller: bounded first, so the arithmetic below cannot overflow.
        guard values.allSatisfy({ $0 >= 0 && $0 < 1 << 32 }) else { return false }
        guard strideH >= 1, strideW >= 1, dilationH >= 1, dilationW >= 1, groups >= 1, kernelHeight >= 1, kernelWidth >= 1 else { return false }
        let h = inHeight + 2 * padH - dilationH * (kernelHeight - 1) - 1
        let w = inWidth + 2 * padW - dilationW * (kernelWidth - 1) - 1
        // The padding after may be one more than before (`padding: .same` with an even kernel).
        let rowsOK = h >= 0 && (outHeight == h / strideH + 1 || outHeight == (h + 1) / strideH + 1)
        let columnsOK = w >= 0 && (outWidth == w / strideW + 1 || outWidth == (w + 1) / strideW + 1)
        return rowsOK && columnsOK && outHeight >= 1 && outWidth >= 1
    }

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
    /// `gemm` with B the implicit im2col matrix of n / outPlane images, `imageStride` elements
    /// apart (`GEMM.multiply(…, im2colOf:…)`).
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Self>, aRowStride: Int,
                     im2colOf image: UnsafePointer<Self>, _ window: UnsafePointer<ember_window_geometry>,
                     imageStride: Int, accumulate: Bool, c: UnsafeMutablePointer<Self>, cRowStride: Int)
    /// `gemm` with B's row p at `b + bRowOffsets[p]` and `rowBias[i]` added to row i, on the
    /// calling thread (`GEMM.multiply(…, bRowOffsets:…)`).
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Self>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Self>, bRowOffsets: UnsafePointer<Int>, rowBias: UnsafePointer<Self>?,
                     c: UnsafeMutablePointer<Self>, cRowStride: Int)
    /// `gemm` with A's row i at `a + aRowOffsets[i]`, on the calling thread
    /// (`GEMM.multiply(…, aRowOffsets:…)`).
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Self>, aRowOffsets: UnsafePointer<Int>,
                     b: UnsafePointer<Self>, bRowStride: Int, accumulate: Bool,
                     c: UnsafeMutablePointer<Self>, cRowStride: Int)
    static func im2col(_ input: UnsafePointer<Self>, images: Int, imageStride: Int,
                       _ geometry: UnsafePointer<ember_window_geometry>, _ begin: Int64, _ end: Int64,
                       _ columns: UnsafeMutablePointer<Self>, columnStride: Int)
    static func col2im(_ columns: UnsafePointer<Self>, columnStride: Int, images: Int, imageStride: Int,
                       _ geometry: UnsafePointer<ember_window_geometry>, _ begin: Int64, _ end: Int64,
                       _ input: UnsafeMutablePointer<Self>)
}

extension Float: ConvolutionScalar {
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Float>, bRowStride: Int, bColumnStride: Int,
                     accumulate: Bool, c: UnsafeMutablePointer<Float>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                      b: b, bRowStride: bRowStride, bColumnStride: bColumnStride,
                      beta: accumulate ? 1 : 0, c: c, cRowStride: cRowStride)
    }
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowStride: Int,
                     im2colOf image: UnsafePointer<Float>, _ window: UnsafePointer<ember_window_geometry>,
                     imageStride: Int, accumulate: Bool, c: UnsafeMutablePointer<Float>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: 1,
                      im2colOf: image, window: window, imageStride: imageStride, beta: accumulate ? 1 : 0,
                      c: c, cRowStride: cRowStride)
    }
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Float>, bRowOffsets: UnsafePointer<Int>, rowBias: UnsafePointer<Float>?,
                     c: UnsafeMutablePointer<Float>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                      b: b, bRowOffsets: bRowOffsets, rowBias: rowBias, beta: 0, c: c, cRowStride: cRowStride)
    }
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowOffsets: UnsafePointer<Int>,
                     b: UnsafePointer<Float>, bRowStride: Int, accumulate: Bool,
                     c: UnsafeMutablePointer<Float>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowOffsets: aRowOffsets, b: b, bRowStride: bRowStride,
                      beta: accumulate ? 1 : 0, c: c, cRowStride: cRowStride)
    }
    static func im2col(_ input: UnsafePointer<Float>, images: Int, imageStride: Int,
                       _ geometry: UnsafePointer<ember_window_geometry>, _ begin: Int64, _ end: Int64,
                       _ columns: UnsafeMutablePointer<Float>, columnStride: Int) {
        ember_im2col_f32(input, Int64(images), Int64(imageStride), geometry, begin, end, columns, Int64(columnStride))
    }
    static func col2im(_ columns: UnsafePointer<Float>, columnStride: Int, images: Int, imageStride: Int,
                       _ geometry: UnsafePointer<ember_window_geometry>, _ begin: Int64, _ end: Int64,
                       _ input: UnsafeMutablePointer<Float>) {
        ember_col2im_f32(columns, Int64(columnStride), Int64(images), Int64(imageStride), geometry, begin, end, input)
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
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Double>, aRowStride: Int,
                     im2colOf image: UnsafePointer<Double>, _ window: UnsafePointer<ember_window_geometry>,
                     imageStride: Int, accumulate: Bool, c: UnsafeMutablePointer<Double>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: 1,
                      im2colOf: image, window: window, imageStride: imageStride, beta: accumulate ? 1 : 0,
                      c: c, cRowStride: cRowStride)
    }
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Double>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Double>, bRowOffsets: UnsafePointer<Int>, rowBias: UnsafePointer<Double>?,
                     c: UnsafeMutablePointer<Double>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                      b: b, bRowOffsets: bRowOffsets, rowBias: rowBias, beta: 0, c: c, cRowStride: cRowStride)
    }
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Double>, aRowOffsets: UnsafePointer<Int>,
                     b: UnsafePointer<Double>, bRowStride: Int, accumulate: Bool,
                     c: UnsafeMutablePointer<Double>, cRowStride: Int) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowOffsets: aRowOffsets, b: b, bRowStride: bRowStride,
                      beta: accumulate ? 1 : 0, c: c, cRowStride: cRowStride)
    }
    static func im2col(_ input: UnsafePointer<Double>, images: Int, imageStride: Int,
                       _ geometry: UnsafePointer<ember_window_geometry>, _ begin: Int64, _ end: Int64,
                       _ columns: UnsafeMutablePointer<Double>, columnStride: Int) {
        ember_im2col_f64(input, Int64(images), Int64(imageStride), geometry, begin, end, columns, Int64(columnStride))
    }
    static func col2im(_ columns: UnsafePointer<Double>, columnStride: Int, images: Int, imageStride: Int,
                       _ geometry: UnsafePointer<ember_window_geometry>, _ begin: Int64, _ end: Int64,
                       _ input: UnsafeMutablePointer<Double>) {
        ember_col2im_f64(columns, Int64(columnStride), Int64(images), Int64(imageStride), geometry, begin, end, input)
    }
}

/// The three convolution kernels: forward, gradient with respect to the input, gradient with
/// respect to the weight. Each runs, per chunk of images and per group, ONE GEMM, with an im2col
/// before it (the weight gradient; the forward pass's is implicit, see below) or a col2im after
/// it (the input gradient); GEMM threads internally and im2col/col2im are split across threads here.
///
/// Why chunks of images: a small image makes a small GEMM (LeNet's first layer is 6x784x25 per
/// image), where packing and the call overhead cost more than the arithmetic, and the weight
/// gradient summed image by image re-reads and re-writes the weight gradient N times. So the
/// column matrices of as many images as fit in `columnBudget` bytes sit side by side,
/// [C·kh·kw, images·outH·outW], and one GEMM covers them all; the product [O, images·outH·outW]
/// is then copied to (or the gradient gathered from) the [N, O, outH, outW] layout, which GEMM's
/// single row stride of C cannot express. Large images (224x224, or 64 channels at 56x56) fill
/// the budget with one image, and then the chunk is one image and the GEMM writes the output in
/// place, as the per-image kernel did; the budget keeps the column matrix of an ImageNet batch
/// (hundreds of MB) from being materialised.
/// The forward pass never writes the column matrix: GEMM packs its panels of B straight from the
/// chunk's images (`GEMM.multiply(…, im2colOf:…, imageStride:…)`, an implicit im2col; column j
/// is output position j % outPlane of image j / outPlane), which saves writing the column matrix
/// and reading it back. Measured on the AVX2 machine: 64→64 at 56x56, one image per chunk, one
/// thread: 40 → 34 ms for 8 images (im2col plus the packing of B were a third of the time);
/// LeNet's 64-image chunks: packing B for both layers' forward products 1.68 → 1.25 ms alone,
/// one thread; the training step's fastest runs about 3% faster on one thread (9.06 → 8.76 ms,
/// medians within this VM's noise): its forward im2col and B packing, 19% of the profile,
/// became an implicit packing of 17%.
/// The backward kernels still materialise it: col2im needs it written, and the weight gradient
/// packs it as A.
/// Unit-stride convolutions (most of them) take none of these paths: they read their windows
/// through a table of rows into the padded image (Ops/ConvolutionRowTable.swift), for the
/// forward pass, the weight gradient (when it has fewer output channels per group than its
/// depth C·kh·kw) and, with 6 or more input channels per group, the input gradient, as long as
/// the product is narrow (`rowTableFits`: at most 64 channels, or rows at least 64 wide). What
/// is here serves strided convolutions, 1x1 kernels, and the rest.
/// Rejected: direct (non-im2col) convolution kernels per kernel size — much more code, and
/// GEMM is the part we have tuned.
enum ConvolutionKernel {
    /// im2col rows (or col2im channels) per thread below which the loop runs inline.
    static func grain(rowLength: Int) -> Int { max(1, 32_768 / max(rowLength, 1)) }

    /// Bytes the column matrix of one chunk of images may take. A task-local value so tests can
    /// shrink it (`ConvolutionKernel.$columnBudget.withValue(…)`) to run the several-chunk path
    /// with small tensors without affecting convolutions running concurrently elsewhere. The
    /// forward pass, which writes no column matrix, chunks the same way: its one-image chunks
    /// write the output in place, and larger chunks bound its product scratch.
    @TaskLocal static var columnBudget = 8 << 20

    /// Images per chunk: as many as fit in `columnBudget`, at least one; one for pointwise
    /// kernels, whose column matrix is the image itself.
    static func imagesPerChunk<T>(_ type: T.Type, batch: Int, depth: Int, outPlane: Int, geometry: ConvolutionGeometry) -> Int {
        if geometry.isPointwise { return 1 }
        let perImage = max(1, depth * outPlane * MemoryLayout<T>.stride)
        return max(1, min(batch, columnBudget / perImage))
    }

    /// Output[n, o] = Σ weight[o] ⋆ input[n] (+ bias[o]). All operands contiguous.
    /// `epilogue` runs on each chunk of finished images (their range), while they are in cache.
    static func forward<T: ConvolutionScalar>(_ type: T.Type, input: Tensor, weight: Tensor, bias: Tensor?,
                                              output: Tensor, geometry: ConvolutionGeometry,
                                              epilogue: ((Range<Int>) -> Void)? = nil) {
        if takesRowTable(geometry), rowTableFits(channels: weight.shape[0] / geometry.groups, width: geometry.outWidth) {
            forwardByRowTable(T.self, input: input, weight: weight, bias: bias, output: output, geometry: geometry, epilogue: epilogue)
            return
        }
        let batch = input.shape[0], channels = input.shape[1], outChannels = weight.shape[0]
        let groups = geometry.groups, groupChannels = channels / groups, groupOut = outChannels / groups
        let depth = groupChannels * geometry.kernelHeight * geometry.kernelWidth
        let inPlane = geometry.inHeight * geometry.inWidth, outPlane = geometry.outHeight * geometry.outWidth
        let x = UnsafePointer(input.baseAddress.assumingMemoryBound(to: T.self))
        let w = UnsafePointer(weight.baseAddress.assumingMemoryBound(to: T.self))
        let b = bias.map { UnsafePointer($0.baseAddress.assumingMemoryBound(to: T.self)) }
        let y = output.baseAddress.assumingMemoryBound(to: T.self)
        var window = geometry.window
        let chunk = imagesPerChunk(T.self, batch: batch, depth: depth, outPlane: outPlane, geometry: geometry)
        withColumnBuffer(T.self, count: chunk > 1 ? groupOut * chunk * outPlane : 0) { product in
            var first = 0
            while first < batch {
                let images = min(chunk, batch - first), span = images * outPlane
                for group in 0..<groups {
                    let image = x + (first * channels + group * groupChannels) * inPlane
                    let weights = w + group * groupOut * depth
                    if images == 1 {
                        let out = y + (first * outChannels + group * groupOut) * outPlane
                        if let b {
                            for o in 0..<groupOut {
                                (out + o * outPlane).initialize(repeating: b[group * groupOut + o], count: outPlane)
                            }
                        }
                        if geometry.isPointwise {
                            T.gemm(m: groupOut, n: outPlane, k: depth, a: weights, aRowStride: depth, aColumnStride: 1,
                                   b: image, bRowStride: outPlane, bColumnStride: 1,
                                   accumulate: b != nil, c: out, cRowStride: outPlane)
                        } else {
                            T.gemm(m: groupOut, n: outPlane, k: depth, a: weights, aRowStride: depth,
                                   im2colOf: image, &window, imageStride: 0, accumulate: b != nil,
                                   c: out, cRowStride: outPlane)
                        }
                        continue
                    }
                    // [groupOut, images·outPlane] with B packed straight from the images, then one
                    // pass to [images, groupOut, outPlane] (+ bias).
                    T.gemm(m: groupOut, n: span, k: depth, a: weights, aRowStride: depth,
                           im2colOf: image, &window, imageStride: channels * inPlane, accumulate: false,
                           c: product, cRowStride: span)
                    for i in 0..<images {
                        for o in 0..<groupOut {
                            let source = UnsafePointer(product + o * span + i * outPlane)
                            let target = y + ((first + i) * outChannels + group * groupOut + o) * outPlane
                            if let b {
                                let shift = b[group * groupOut + o]
                                for p in 0..<outPlane { target[p] = source[p] + shift }
                            } else {
                                target.update(from: source, count: outPlane)
                            }
                        }
                    }
                }
                epilogue?(first..<first + images)
                first += images
            }
        }
    }

    /// gradInput[n] = col2im(weightᵀ · gradOutput[n]): the transposed convolution.
    static func inputGradient<T: ConvolutionScalar>(_ type: T.Type, gradOutput: Tensor, weight: Tensor,
                                                    gradInput: Tensor, geometry: ConvolutionGeometry) {
        if takesRowTable(geometry), weight.shape[1] >= rowTableMinimumGradientChannels,
           rowTableFits(channels: weight.shape[1], width: geometry.inWidth) {
            inputGradientByRowTable(T.self, gradOutput: gradOutput, weight: weight, gradInput: gradInput, geometry: geometry)
            return
        }
        let batch = gradInput.shape[0], channels = gradInput.shape[1], outChannels = weight.shape[0]
        let groups = geometry.groups, groupChannels = channels / groups, groupOut = outChannels / groups
        let area = geometry.kernelHeight * geometry.kernelWidth
        let depth = groupChannels * area
        let inPlane = geometry.inHeight * geometry.inWidth, outPlane = geometry.outHeight * geometry.outWidth
        let g = UnsafePointer(gradOutput.baseAddress.assumingMemoryBound(to: T.self))
        let w = UnsafePointer(weight.baseAddress.assumingMemoryBound(to: T.self))
        let dx = gradInput.baseAddress.assumingMemoryBound(to: T.self)
        var window = geometry.window
        if !geometry.isPointwise { dx.initialize(repeating: 0, count: gradInput.count) }
        let chunk = imagesPerChunk(T.self, batch: batch, depth: depth, outPlane: outPlane, geometry: geometry)
        withColumnBuffer(T.self, count: geometry.isPointwise ? 0 : depth * chunk * outPlane) { columns in
        withColumnBuffer(T.self, count: chunk > 1 ? groupOut * chunk * outPlane : 0) { gathered in
            var first = 0
            while first < batch {
                let images = min(chunk, batch - first), span = images * outPlane
                for group in 0..<groups {
                    let image = dx + (first * channels + group * groupChannels) * inPlane
                    let target = geometry.isPointwise ? image : columns
                    let gradient = gatherGradient(g, into: gathered, first: first, images: images, group: group,
                                                  groupOut: groupOut, outChannels: outChannels, outPlane: outPlane)
                    // [depth, span] = weight_groupᵀ [depth, groupOut] · gradOutput [groupOut, span]
                    T.gemm(m: depth, n: span, k: groupOut,
                           a: w + group * groupOut * depth, aRowStride: 1, aColumnStride: depth,
                           b: gradient, bRowStride: span, bColumnStride: 1,
                           accumulate: false, c: target, cRowStride: span)
                    if geometry.isPointwise { continue }
                    // col2im writes whole channel planes, so channels are what threads split.
                    ParallelLoop.run(count: groupChannels, grain: grain(rowLength: span * area)) { range in
                        T.col2im(columns, columnStride: span, images: images, imageStride: channels * inPlane, &window,
                                 Int64(range.lowerBound), Int64(range.upperBound), image)
                    }
                }
                first += images
            }
        }
        }
    }

    /// gradWeight = Σ over chunks of gradOutput[chunk] · im2col(input[chunk])ᵀ.
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
        if takesRowTable(geometry), groupOut < depth, rowTableFits(channels: groupOut, width: geometry.outWidth) {
            weightGradientByRowTable(T.self, input: input, gradOutput: gradOutput, gradWeight: gradWeight, geometry: geometry)
            return
        }
        let chunk = imagesPerChunk(T.self, batch: batch, depth: depth, outPlane: outPlane, geometry: geometry)
        withColumnBuffer(T.self, count: geometry.isPointwise ? 0 : depth * chunk * outPlane) { columns in
        withColumnBuffer(T.self, count: chunk > 1 ? groupOut * chunk * outPlane : 0) { gathered in
        withColumnBuffer(T.self, count: depth * groupOut) { transposed in
            var first = 0
            while first < batch {
                let images = min(chunk, batch - first), span = images * outPlane
                for group in 0..<groups {
                    let image = x + (first * channels + group * groupChannels) * inPlane
                    let matrix: UnsafePointer<T>
                    if geometry.isPointwise {
                        matrix = image
                    } else {
                        ParallelLoop.run(count: depth, grain: grain(rowLength: span)) { rows in
                            T.im2col(image, images: images, imageStride: channels * inPlane, &window,
                                     Int64(rows.lowerBound), Int64(rows.upperBound), columns, columnStride: span)
                        }
                        matrix = UnsafePointer(columns)
                    }
                    let gradient = gatherGradient(g, into: gathered, first: first, images: images, group: group,
                                                  groupOut: groupOut, outChannels: outChannels, outPlane: outPlane)
                    // gradWeightᵀ [depth, groupOut] = columns [depth, span] · gradOutputᵀ [span, groupOut], then
                    // transposed into (or added to) [groupOut, depth]. Why transposed: GEMM packs the
                    // column matrix, the big operand, as A (row-major: a fast pack); as B of the
                    // direct form, [groupOut, span] · columnsᵀ, it took the transposed pack of B,
                    // which was 14% of a LeNet training step.
                    T.gemm(m: depth, n: groupOut, k: span,
                           a: matrix, aRowStride: span, aColumnStride: 1,
                           b: gradient, bRowStride: 1, bColumnStride: span,
                           accumulate: false, c: transposed, cRowStride: groupOut)
                    let target = dw + group * groupOut * depth
                    for o in 0..<groupOut {
                        let row = target + o * depth
                        if first == 0 {
                            for d in 0..<depth { row[d] = transposed[d * groupOut + o] }
                        } else {
                            for d in 0..<depth { row[d] += transposed[d * groupOut + o] }
                        }
                    }
                }
                first += images
            }
        }
        }
        }
    }

    /// The output gradient of `images` images from `first`, one group's channels, as a
    /// [groupOut, images·outPlane] matrix (row stride images·outPlane): in place for one image,
    /// otherwise copied into `buffer`.
    private static func gatherGradient<T>(_ g: UnsafePointer<T>, into buffer: UnsafeMutablePointer<T>, first: Int, images: Int,
                                          group: Int, groupOut: Int, outChannels: Int, outPlane: Int) -> UnsafePointer<T> {
        let start = g + (first * outChannels + group * groupOut) * outPlane
        if images == 1 { return start }
        let span = images * outPlane
        for i in 0..<images {
            for o in 0..<groupOut {
                (buffer + o * span + i * outPlane).update(from: start + (i * outChannels + o) * outPlane, count: outPlane)
            }
        }
        return UnsafePointer(buffer)
    }

    /// Lends a scratch buffer of `count` elements from the caching allocator.
    static func withColumnBuffer<T>(_ type: T.Type, count: Int, _ body: (UnsafeMutablePointer<T>) -> Void) {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        let raw = CachingAllocator.shared.allocate(bytes: bytes)
        defer { CachingAllocator.shared.deallocate(raw, bytes: bytes) }
        body(raw.bindMemory(to: T.self, capacity: max(count, 1)))
    }
}
