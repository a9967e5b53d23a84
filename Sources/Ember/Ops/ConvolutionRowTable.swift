import EmberKernels

/// The forward pass and both gradients of unit-stride convolutions, multiplying by the input's
/// windows read in place: no im2col matrix is written and no panel of it is packed.
///
/// With unit strides, the window tap (channel c, ky, kx) of the output positions of one output
/// row oy is a contiguous run of the padded input: row oy + ky·dilationH of channel c, from
/// column kx·dilationW on. So the im2col matrix of one output row, [C·kh·kw, outW], is a table
/// of row starts into the padded image, the same table for every output row (shifted by
/// oy·paddedWidth). The forward pass multiplies the weight [O, C·kh·kw] by it
/// (`GEMM.multiply(…, bRowOffsets:rowBias:…)`, the bias added in the register tiles); the
/// weight gradient multiplies it, as A, by the transposed output gradient
/// (`GEMM.multiply(…, aRowOffsets:…)`); the input gradient is itself a unit-stride
/// convolution of the output gradient with the flipped weight.
///
/// Why: the implicit-im2col GEMM spent a quarter of a 64 → 64 channel 3x3 convolution at 56x56
/// packing B (each input element copied kh·kw times; an output row of 56 is not a multiple of
/// the 16-column panel, so most panels took the packer's slow path), the forward pass filled its
/// output with the bias in a pass of its own (18% of a 3 → 64 channel one at 224x224), and the
/// weight gradient wrote an im2col matrix and packed it again (23% of LeNet's training step).
/// Measured on the AVX2 machine, one thread, same binaries alternating, median of each run's
/// fastest time: 3 → 64 at 224x224 forward 3.50 → 2.40 ms; 64 → 64 at 56x56, 8 images, forward
/// 25.2 → 22.9 ms; the weight gradient alone: 64 → 64 forward + backward 82.9 → 74.4 ms and
/// LeNet's training step 8.0 → 5.9 ms; all of it, LeNet's step 9.4 → 7.4 ms in another run
/// (see docs/Benchmarks.md for the comparison with PyTorch). Rejected: a flat formulation over
/// all rows at once (outW + kw - 1 columns per row, the extra ones computed and thrown away):
/// it needs a compaction pass over the output, and in the weight gradient the extra columns
/// would multiply real neighbours by zero, turning an infinity there into NaN. Tried without a
/// gain: rows of the padded image aligned to 64 bytes, and prefetching C in the tiles.
///
/// The input is copied once into a zero-padded buffer (chunks of images that fit in
/// `columnBudget`), unless it has no padding, in which case it is read where it is.
///
/// Strided convolutions keep the im2col path: a version that split each padded row into
/// stride phases (so that a strided output row's windows were contiguous again) was correct but
/// no faster, e.g. 32 → 64 channels at 56x56, stride 2: 4.7 against 4.6 ms forward, 15.8 against
/// 14.3 ms forward + backward, one thread.
extension ConvolutionKernel {
    /// Whether the forward pass and the gradients of `geometry` may run on row tables: unit
    /// strides (any padding, dilation and groups) and a kernel larger than 1x1 (a pointwise one
    /// is a plain product already). Each pass also asks `rowTableFits`; the input gradient needs
    /// `rowTableMinimumGradientChannels` input channels per group, and the weight gradient fewer
    /// output channels per group than its depth. A task-local switch lets tests compare these
    /// paths with the im2col ones.
    static func takesRowTable(_ geometry: ConvolutionGeometry) -> Bool {
        usesRowTable && geometry.strideH == 1 && geometry.strideW == 1 && !geometry.isPointwise
    }

    /// Whether a row-table product with `channels` rows of the weight (output channels per group;
    /// input channels per group for the input gradient) over output rows `width` wide beats the
    /// im2col GEMM: when the channels are at most 64, or the rows at least 64 wide.
    ///
    /// Why: the im2col path pays for packing (or writing) its column matrix once per use by
    /// every channel, so its overhead falls as the channels grow; the row table pays for rows
    /// narrower than its 16-column strips (masked, half-empty tiles) and, in the weight
    /// gradient, for a depth loop only `width` long. Measured on the AVX2 machine, one thread,
    /// 8 images, forward (forward + backward), row table against im2col: 64 channels at 56x56
    /// 23 against 25 ms; 128 at 28x28 27 against 24 (85 against 82); 256 at 14x14 33 against 25
    /// (96 against 79); 512 at 7x7 53 against 27. LeNet's channels (6 and 16, rows 24 and 8
    /// wide) gain.
    static func rowTableFits(channels: Int, width: Int) -> Bool {
        channels <= 64 || width >= 64
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
                                                        output: Tensor, geometry g: ConvolutionGeometry,
                                                        epilogue: ((Range<Int>) -> Void)? = nil) {
        let channels = input.shape[1], outChannels = weight.shape[0]
        let groupChannels = channels / g.groups, groupOut = outChannels / g.groups
        let windows = WindowRows(geometry: g, channels: channels)
        let depth = windows.rowStarts.count, outPlane = g.outHeight * g.outWidth
        let w = UnsafePointer(weight.baseAddress.assumingMemoryBound(to: T.self))
        let b = bias.map { UnsafePointer($0.baseAddress.assumingMemoryBound(to: T.self)) }
        let y = output.baseAddress.assumingMemoryBound(to: T.self)
        // Output rows per thread below which the loop runs inline (one row is groupOut·outW·depth
        // multiply-adds).
        let rowGrain = max(1, 65_536 / max(1, groupOut * g.outWidth * depth))
        windows.rowStarts.withUnsafeBufferPointer { rows in
            windows.forEachChunk(T.self, of: input, geometry: g) { first, images, source in
                // One task per output row of one group of one image, handed out in pieces of two
                // rows to whichever thread is free: a core slowed by another process takes fewer
                // rows instead of holding up the call.
                ParallelLoop.runBalanced(count: images * g.groups * g.outHeight, grain: rowGrain, piece: 2) { range in
                    for task in range {
                        let oy = task % g.outHeight, imageGroup = task / g.outHeight
                        let group = imageGroup % g.groups, image = imageGroup / g.groups
                        let out = y + ((first + image) * outChannels + group * groupOut) * outPlane + oy * g.outWidth
                        T.gemm(m: groupOut, n: g.outWidth, k: depth, a: w + group * groupOut * depth,
                               aRowStride: depth, aColumnStride: 1,
                               b: windows.outputRow(oy, image: image, channel: group * groupChannels, in: source),
                               bRowOffsets: rows.baseAddress!, rowBias: b.map { $0 + group * groupOut },
                               c: out, cRowStride: outPlane)
                    }
                }
                epilogue?(first..<first + images)
            }
        }
    }

    /// gradWeight[o] = Σ over images and output positions of gradOutput[n, o] · the window, for
    /// unit strides. Per output row, the transposed gradient of one group is a product with A
    /// read through the row table: gradWeightᵀ [depth, O/groups] += windows [depth, outW] ·
    /// gradOutputᵀ [outW, O/groups], where row p of the windows is the padded image's run for
    /// tap p (`GEMM.multiply(…, aRowOffsets:…)`). So no im2col matrix is written and none is
    /// packed. Threads split the depth (whole register tiles of rows), so each owns its rows of
    /// the result and no partial sums need adding up.
    ///
    /// What it writes instead is the transposed output gradient, [positions, O/groups], where the
    /// im2col path writes [C·kh·kw, positions]; so `weightGradient` takes this path only when
    /// O/groups < C·kh·kw. The 3 → 64 channel layer at 224x224 (64 against 27) was 35% slower
    /// here (17 → 23 ms forward + backward, one thread): transposing its 12.8 MB gradient cost
    /// more than the im2col it saved.
    static func weightGradientByRowTable<T: ConvolutionScalar>(_ type: T.Type, input: Tensor, gradOutput: Tensor,
                                                               gradWeight: Tensor, geometry g: ConvolutionGeometry) {
        let batch = input.shape[0], channels = input.shape[1], outChannels = gradWeight.shape[0]
        let groupChannels = channels / g.groups, groupOut = outChannels / g.groups
        let windows = WindowRows(geometry: g, channels: channels)
        let depth = windows.rowStarts.count, outPlane = g.outHeight * g.outWidth
        let gradient = UnsafePointer(gradOutput.baseAddress.assumingMemoryBound(to: T.self))
        let dw = gradWeight.baseAddress.assumingMemoryBound(to: T.self)
        // The output gradient is transposed in chunks of images that fit in the column budget.
        let gradientImage = outChannels * outPlane
        let gradientChunk = max(1, min(batch, columnBudget / max(1, gradientImage * MemoryLayout<T>.stride)))
        // Threads split the depth in whole 6-row register tiles (the AVX2 and NEON small
        // kernels'), so that no tile is cut between two threads.
        let tileRows = 6
        let tiles = (depth + tileRows - 1) / tileRows
        let tileGrain = max(1, 65_536 / max(1, tileRows * groupOut * outPlane * gradientChunk))
        windows.rowStarts.withUnsafeBufferPointer { rows in
        withColumnBuffer(T.self, count: g.groups * depth * groupOut) { transposed in
        withColumnBuffer(T.self, count: gradientChunk * gradientImage) { gradientT in
            windows.forEachChunk(T.self, of: input, geometry: g) { first, images, source in
                var part = 0
                while part < images {
                    let count = min(gradientChunk, images - part)
                    // These images' output gradient as [image, group, outPlane, groupOut]: B's rows.
                    // Transposed in blocks of 64 positions, whose [64, groupOut] target stays in
                    // L1 while every channel writes its column (one channel at a time over the
                    // whole plane wrote a new cache line per element).
                    let blocks = (outPlane + 63) / 64, planes = count * g.groups
                    ParallelLoop.run(count: planes * blocks, grain: max(1, 512 / max(1, groupOut))) { range in
                        for task in range {
                            let plane = task / blocks, q0 = task % blocks * 64, q1 = min(outPlane, q0 + 64)
                            let image = plane / g.groups, group = plane % g.groups
                            let from = gradient + ((first + part + image) * outChannels + group * groupOut) * outPlane
                            let to = gradientT + plane * outPlane * groupOut
                            for o in 0..<groupOut {
                                let row = from + o * outPlane
                                for q in q0..<q1 { to[q * groupOut + o] = row[q] }
                            }
                        }
                    }
                    ParallelLoop.run(count: tiles, grain: tileGrain) { tileRange in
                        let p0 = tileRange.lowerBound * tileRows, p1 = min(depth, tileRange.upperBound * tileRows)
                        for image in 0..<count {
                            for group in 0..<g.groups {
                                for oy in 0..<g.outHeight {
                                    let accumulate = first + part + image > 0 || oy > 0
                                    T.gemm(m: p1 - p0, n: groupOut, k: g.outWidth,
                                           a: windows.outputRow(oy, image: part + image, channel: group * groupChannels,
                                                                in: source),
                                           aRowOffsets: rows.baseAddress! + p0,
                                           b: gradientT + ((image * g.groups + group) * outPlane + oy * g.outWidth) * groupOut,
                                           bRowStride: groupOut, accumulate: accumulate,
                                           c: transposed + (group * depth + p0) * groupOut, cRowStride: groupOut)
                                }
                            }
                        }
                    }
                    part += count
                }
            }
            for group in 0..<g.groups {
                for o in 0..<groupOut {
                    let row = dw + (group * groupOut + o) * depth, column = transposed + group * depth * groupOut + o
                    for p in 0..<depth { row[p] = column[p * groupOut] }
                }
            }
        }
        }
        }
    }

    /// Copies `planes` planes [inHeight, inWidth] into zero-padded planes [height, width], with
    /// `padH` rows and `padW` columns before each (what lies past the input on the other sides
    /// is zero too; rows and columns the windows never read are dropped).
    static func pad<T: ConvolutionScalar>(_ input: UnsafePointer<T>, planes: Int, geometry g: ConvolutionGeometry,
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

/// Where the windows of a unit-stride convolution are: the buffer the row tables index (a
/// zero-padded copy of the input, or the input itself when it has no padding) and the table of
/// row starts for one group's channels.
struct WindowRows {
    /// Rows and columns of one plane of the buffer: exactly those the windows read.
    let height: Int, width: Int
    /// The input is read where it is (no padding), with its own plane size.
    let readsInPlace: Bool
    /// Channels of one image (all groups).
    let channels: Int
    /// Row p = (c, ky, kx) of one output row's im2col matrix starts here, relative to the
    /// group's first channel and the output row's first element (`outputRow`).
    let rowStarts: [Int]

    var plane: Int { height * width }

    init(geometry g: ConvolutionGeometry, channels: Int) {
        let groupChannels = channels / g.groups
        self.channels = channels
        height = g.outHeight + (g.kernelHeight - 1) * g.dilationH
        width = g.outWidth + (g.kernelWidth - 1) * g.dilationW
        readsInPlace = height == g.inHeight && width == g.inWidth && g.padH == 0 && g.padW == 0
        var starts = [Int](repeating: 0, count: groupChannels * g.kernelHeight * g.kernelWidth)
        for c in 0..<groupChannels {
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    starts[(c * g.kernelHeight + ky) * g.kernelWidth + kx] =
                        c * height * width + ky * g.dilationH * width + kx * g.dilationW
                }
            }
        }
        rowStarts = starts
    }

    /// The start of output row `oy`'s windows for `image` of a chunk, from input channel `channel`.
    func outputRow<T>(_ oy: Int, image: Int, channel: Int, in source: UnsafePointer<T>) -> UnsafePointer<T> {
        source + (image * channels + channel) * plane + oy * width
    }

    /// Images per padded chunk: as many as fit in `ConvolutionKernel.columnBudget`.
    func imagesPerChunk<T>(_ type: T.Type, batch: Int) -> Int {
        readsInPlace ? batch : max(1, min(batch, ConvolutionKernel.columnBudget / max(1, channels * plane * MemoryLayout<T>.stride)))
    }

    /// Calls `body(first, images, source)` for chunks of `input`'s images, `source` holding
    /// images first..<first + images laid out for the row tables.
    func forEachChunk<T: ConvolutionScalar>(_ type: T.Type, of input: Tensor, geometry g: ConvolutionGeometry,
                                            _ body: (Int, Int, UnsafePointer<T>) -> Void) {
        let batch = input.shape[0], inPlane = g.inHeight * g.inWidth
        let x = UnsafePointer(input.baseAddress.assumingMemoryBound(to: T.self))
        let chunk = imagesPerChunk(T.self, batch: batch)
        ConvolutionKernel.withColumnBuffer(T.self, count: readsInPlace ? 0 : chunk * channels * plane) { padded in
            var first = 0
            while first < batch {
                let images = min(chunk, batch - first)
                if readsInPlace {
                    body(first, images, x + first * channels * inPlane)
                } else {
                    ConvolutionKernel.pad(x + first * channels * inPlane, planes: images * channels, geometry: g,
                                          height: height, width: width, into: padded)
                    body(first, images, UnsafePointer(padded))
                }
                first += images
            }
        }
    }
}
