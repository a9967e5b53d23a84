import EmberKernels

/// The forward pass and the input gradient of unit-stride convolutions, multiplying the weight by
/// the input's windows read in place: no im2col matrix is written and no panel of it is packed.
///
/// With unit strides, the window tap (channel c, ky, kx) of the output positions of one output
/// row oy is a contiguous run of the padded input: row oy + ky·dilationH of channel c, from
/// column kx·dilationW on. So the im2col matrix of one output row, [C·kh·kw, outW], is a table
/// of row starts into the padded image, the same table for every output row (shifted by
/// oy·paddedWidth), and `GEMM.multiply(…, bRowOffsets:…)` multiplies the weight [O, C·kh·kw] by
/// it with its register tiles loading B's rows straight from the image.
///
/// Why: the implicit-im2col GEMM spent a quarter of a 64 → 64 channel 3x3 convolution at 56x56
/// packing B (each input element copied kh·kw times), and an output row of 56 is not a multiple
/// of the 16-column panel, so most panels took the packer's slow path. Measured on the AVX2
/// machine, one thread, 8 images: 34.8 → 23 ms (see docs/Benchmarks.md for the comparison with
/// PyTorch). Rejected: packing the padded image into panels (the copy is what costs), and a
/// flat formulation over all rows at once (outW + kw - 1 columns per row, the extra ones
/// computed and thrown away), which needs a compaction pass over the output.
///
/// The input is copied once into a zero-padded buffer (chunks of images that fit in
/// `columnBudget`), unless it has no padding, in which case it is read where it is.
extension ConvolutionKernel {
    /// Whether the forward pass and the input gradient of `geometry` run on row tables: unit
    /// strides (any padding, dilation and groups) and a kernel larger than 1x1 (a pointwise one
    /// is a plain product already). A task-local switch lets tests compare this path with the
    /// im2col one.
    static func takesRowTable(_ geometry: ConvolutionGeometry) -> Bool {
        usesRowTable && geometry.strideH == 1 && geometry.strideW == 1 && !geometry.isPointwise
    }

    /// Switches the row-table paths off (tests compare them with the im2col ones).
    @TaskLocal static var usesRowTable = true

    /// Input channels per group below which the input gradient keeps the GEMM + col2im path: the
    /// row-table GEMM's M is then the input's channels, and with fewer rows than one register
    /// tile (6 on AVX2 and NEON) each broadcast of the weight feeds too few FMAs. Measured on the
    /// AVX2 machine, forward + backward of a 3 -> 64 channel 3x3 convolution at 224x224, two
    /// threads: 10.0 ms on the old path, 12.8 with the row table for the input gradient; LeNet's
    /// training step (6 channels into its second convolution) was faster with it (best 4.6 ms
    /// against 5.1), and 64 channels at 56x56 about the same (the two paths are both near the
    /// forward pass's rate there).
    static let rowTableMinimumGradientChannels = 6

    /// gradInput = the transposed convolution of gradOutput, for unit strides. It is itself a
    /// unit-stride convolution: of gradOutput [N, O, outH, outW] with the weight flipped in both
    /// spatial dimensions and its two channel dimensions swapped ([C, O / groups, kh, kw] per
    /// group), padded by the kernel's extent minus the forward padding, so it runs on row tables
    /// too instead of a GEMM into an im2col-shaped matrix and a col2im that scatters it back.
    /// A negative padding (forward padding wider than the kernel's extent) crops gradOutput.
    static func inputGradientByRowTable<T: ConvolutionScalar>(_ type: T.Type, gradOutput: Tensor, weight: Tensor,
                                                              gradInput: Tensor, geometry g: ConvolutionGeometry) {
        let outChannels = weight.shape[0], groupChannels = weight.shape[1]
        let groupOut = outChannels / g.groups, area = g.kernelHeight * g.kernelWidth
        let flipped = Tensor(uninitializedShape: [g.groups * groupChannels, groupOut, g.kernelHeight, g.kernelWidth],
                             dtype: weight.dtype)
        let w = UnsafePointer(weight.baseAddress.assumingMemoryBound(to: T.self))
        let target = flipped.baseAddress.assumingMemoryBound(to: T.self)
        for group in 0..<g.groups {
            for c in 0..<groupChannels {
                for o in 0..<groupOut {
                    let from = w + ((group * groupOut + o) * groupChannels + c) * area
                    let to = target + ((group * groupChannels + c) * groupOut + o) * area
                    for tap in 0..<area { to[tap] = from[area - 1 - tap] }
                }
            }
        }
        let transposed = ConvolutionGeometry(
            inHeight: g.outHeight, inWidth: g.outWidth, outHeight: g.inHeight, outWidth: g.inWidth,
            kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth, strideH: 1, strideW: 1,
            padH: (g.kernelHeight - 1) * g.dilationH - g.padH, padW: (g.kernelWidth - 1) * g.dilationW - g.padW,
            dilationH: g.dilationH, dilationW: g.dilationW, groups: g.groups)
        forwardByRowTable(T.self, input: gradOutput, weight: flipped, bias: nil, output: gradInput, geometry: transposed)
    }

    /// Output[n, o] = Σ weight[o] ⋆ input[n] (+ bias[o]) for unit strides. All operands contiguous.
    static func forwardByRowTable<T: ConvolutionScalar>(_ type: T.Type, input: Tensor, weight: Tensor, bias: Tensor?,
                                                        output: Tensor, geometry: ConvolutionGeometry) {
        let g = geometry
        let batch = input.shape[0], channels = input.shape[1], outChannels = weight.shape[0]
        let groupChannels = channels / g.groups, groupOut = outChannels / g.groups
        let depth = groupChannels * g.kernelHeight * g.kernelWidth
        let inPlane = g.inHeight * g.inWidth, outPlane = g.outHeight * g.outWidth
        // The padded image holds exactly the rows and columns the windows read.
        let paddedHeight = g.outHeight + (g.kernelHeight - 1) * g.dilationH
        let paddedWidth = g.outWidth + (g.kernelWidth - 1) * g.dilationW
        let paddedPlane = paddedHeight * paddedWidth
        let readsInPlace = paddedHeight == g.inHeight && paddedWidth == g.inWidth && g.padH == 0 && g.padW == 0

        // Row p = (c, ky, kx) of one output row's im2col matrix starts here in the padded group.
        var rowStarts = [Int](repeating: 0, count: depth)
        for c in 0..<groupChannels {
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    rowStarts[(c * g.kernelHeight + ky) * g.kernelWidth + kx] =
                        c * paddedPlane + ky * g.dilationH * paddedWidth + kx * g.dilationW
                }
            }
        }

        let x = UnsafePointer(input.baseAddress.assumingMemoryBound(to: T.self))
        let w = UnsafePointer(weight.baseAddress.assumingMemoryBound(to: T.self))
        let b = bias.map { UnsafePointer($0.baseAddress.assumingMemoryBound(to: T.self)) }
        let y = output.baseAddress.assumingMemoryBound(to: T.self)
        let paddedImage = channels * paddedPlane
        let chunk = readsInPlace ? batch : max(1, min(batch, columnBudget / max(1, paddedImage * MemoryLayout<T>.stride)))
        // Output rows per thread below which the loop runs inline (one row is groupOut·outW·depth
        // multiply-adds).
        let rowGrain = max(1, 65_536 / max(1, groupOut * g.outWidth * depth))

        rowStarts.withUnsafeBufferPointer { rows in
            withColumnBuffer(T.self, count: readsInPlace ? 0 : chunk * paddedImage) { padded in
                var first = 0
                while first < batch {
                    let images = min(chunk, batch - first)
                    let source: UnsafePointer<T>
                    let sourceImage: Int
                    if readsInPlace {
                        source = x + first * channels * inPlane
                        sourceImage = channels * inPlane
                    } else {
                        pad(x + first * channels * inPlane, planes: images * channels, geometry: g,
                            height: paddedHeight, width: paddedWidth, into: padded)
                        source = UnsafePointer(padded)
                        sourceImage = paddedImage
                    }
                    let sourcePlane = readsInPlace ? inPlane : paddedPlane
                    // One task per output row of one group of one image.
                    let tasks = images * g.groups * g.outHeight
                    ParallelLoop.run(count: tasks, grain: rowGrain) { range in
                        for task in range {
                            let oy = task % g.outHeight, imageGroup = task / g.outHeight
                            let group = imageGroup % g.groups, image = imageGroup / g.groups
                            let out = y + ((first + image) * outChannels + group * groupOut) * outPlane + oy * g.outWidth
                            let windows = source + image * sourceImage + group * groupChannels * sourcePlane
                                + oy * (readsInPlace ? g.inWidth : paddedWidth)
                            T.gemm(m: groupOut, n: g.outWidth, k: depth, a: w + group * groupOut * depth,
                                   aRowStride: depth, aColumnStride: 1, b: windows, bRowOffsets: rows.baseAddress!,
                                   rowBias: b.map { $0 + group * groupOut }, c: out, cRowStride: outPlane)
                        }
                    }
                    first += images
                }
            }
        }
    }

    /// Copies `planes` planes [inHeight, inWidth] into zero-padded planes [height, width], with
    /// `padH` rows and `padW` columns before each (what lies past the input on the other sides
    /// is zero too; rows and columns the windows never read are dropped).
    private static func pad<T: ConvolutionScalar>(_ input: UnsafePointer<T>, planes: Int, geometry g: ConvolutionGeometry,
                                                  height: Int, width: Int, into padded: UnsafeMutablePointer<T>) {
        let inPlane = g.inHeight * g.inWidth, plane = height * width
        // Input columns that land inside the padded row, and where they land.
        let firstColumn = max(0, -g.padW), lastColumn = min(g.inWidth, width - g.padW)
        ParallelLoop.run(count: planes, grain: max(1, 32_768 / max(1, plane))) { range in
            for p in range {
                let target = padded + p * plane, from = input + p * inPlane
                for row in 0..<height {
                    let line = target + row * width
                    let iy = row - g.padH
                    guard iy >= 0, iy < g.inHeight, lastColumn > firstColumn else {
                        line.initialize(repeating: 0, count: width)
                        continue
                    }
                    let start = firstColumn + g.padW, count = lastColumn - firstColumn
                    line.initialize(repeating: 0, count: start)
                    (line + start).initialize(from: from + iy * g.inWidth + firstColumn, count: count)
                    (line + start + count).initialize(repeating: 0, count: width - start - count)
                }
            }
        }
    }
}
