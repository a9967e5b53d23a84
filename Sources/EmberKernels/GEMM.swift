import CEmberKernels

/// General matrix multiplication on the CPU: `C = alpha * A·B + beta * C`, row-major, with
/// arbitrary strides on A and B so that transposed and sliced views multiply without a copy.
///
///     // C (2x2) = A (2x3) · B (3x2), all contiguous
///     GEMM.multiply(m: 2, n: 2, k: 3, alpha: 1, a: a, aRowStride: 3, aColumnStride: 1,
///                   b: b, bRowStride: 2, bColumnStride: 1, beta: 0, c: c, cRowStride: 2)
///
/// How it works (Goto/BLIS): the driver here cuts the problem into cache-sized blocks and
/// threads; the C layer (`ember_gemm.h`) packs blocks of A and B into contiguous panels and runs
/// a register-blocked micro-kernel (6x16 floats / 6x8 doubles with AVX2+FMA, 12x32 / 12x16 with
/// AVX-512, a portable C one elsewhere) over them. Small products (up to 64³ multiply-adds, or
/// up to 32 rows with a B of up to 64K elements) whose B has contiguous columns skip packing and run register
/// tiles directly on A and B (`ember_gemm_small_*`); other tiny ones run a direct loop, so a
/// 1x1x1 product costs about as much as a function call.
///
/// Threading: large products split C into one rectangle per thread along its longer side, and
/// each thread packs and multiplies its rectangle independently, with no synchronisation until
/// the end. The cost is that every thread packs all of A (or B): at 2048 on two cores, packing
/// A is about 3% of the time. Not done (yet): BLIS's shared panel of B with a parallel `ic` loop,
/// which avoids that duplicate packing but needs a barrier per block.
///
/// A platform BLAS (`PlatformBLAS.active`, off by default) takes the large products instead.
/// Work that `GEMM.multiply` runs on each finished block of C while it is still in cache,
/// `epilogue(rows, columns)` in C's coordinates, on the thread that computed the block: a bias,
/// an activation or a residual added to the product (epilogue fusion). The blocks of one call
/// are disjoint and together cover C once.
public typealias GEMMEpilogue = (_ rows: Range<Int>, _ columns: Range<Int>) -> Void

public enum GEMM {
    /// `C[i, j] = alpha * sum_p A[i, p] * B[p, j] + beta * C[i, j]` for `i < m`, `j < n`, `p < k`.
    ///
    /// A element `(i, p)` is at `a[i * aRowStride + p * aColumnStride]`, B element `(p, j)` at
    /// `b[p * bRowStride + j * bColumnStride]`, C element `(i, j)` at `c[i * cRowStride + j]`.
    /// When `beta == 0`, C is only written, never read (it may hold NaN or garbage); when
    /// `alpha == 0` or `k == 0`, A and B are not read and C becomes `beta * C`. C must not
    /// overlap A or B. Runs on up to `ParallelLoop.threadCount` threads.
    public static func multiply(
        m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
        b: UnsafePointer<Float>, bRowStride: Int, bColumnStride: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, cRowStride: Int, packedPanels: PackedPanels? = nil,
        epilogue: GEMMEpilogue? = nil
    ) {
        var problem = GEMMProblem(
            m: m, n: n, k: k, alpha: alpha, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
            b: b, bRowStride: bRowStride, bColumnStride: bColumnStride, beta: beta, c: c, cRowStride: cRowStride)
        problem.packedPanels = packedPanels
        problem.epilogue = epilogue
        run(problem, kernels: Float32GEMMKernels.self, level: -1, threads: ParallelLoop.threadCount,
            blas: PlatformBLAS.active)
    }

    /// The double-precision `multiply`, with the same layout and contract.
    ///
    ///     GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: k, aColumnStride: 1,
    ///                   b: b, bRowStride: n, bColumnStride: 1, beta: 0, c: c, cRowStride: n)
    public static func multiply(
        m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, aRowStride: Int, aColumnStride: Int,
        b: UnsafePointer<Double>, bRowStride: Int, bColumnStride: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, cRowStride: Int, packedPanels: PackedPanels? = nil,
        epilogue: GEMMEpilogue? = nil
    ) {
        var problem = GEMMProblem(
            m: m, n: n, k: k, alpha: alpha, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
            b: b, bRowStride: bRowStride, bColumnStride: bColumnStride, beta: beta, c: c, cRowStride: cRowStride)
        problem.packedPanels = packedPanels
        problem.epilogue = epilogue
        run(problem, kernels: Float64GEMMKernels.self, level: -1, threads: ParallelLoop.threadCount,
            blas: PlatformBLAS.active)
    }

    /// `multiply` with B the im2col matrix of one or more images, `[C·kh·kw, images·outH·outW]` as
    /// `ember_im2col_f32` would write it for `window`, without writing it: GEMM packs its panels
    /// of B straight from the `[C, H, W]` images, image i at `image + i * imageStride` (k must be
    /// C·kh·kw, n images·outH·outW; `imageStride` is not read for one image). This saves a
    /// convolution the round trip of its column matrix through memory (7 MB per image for 64
    /// channels at 56x56, written by im2col and read back by the packing).
    ///
    ///     GEMM.multiply(m: outChannels, n: images * outH * outW, k: channels * kh * kw, alpha: 1,
    ///                   a: weight, aRowStride: k, aColumnStride: 1, im2colOf: input, window: &window,
    ///                   imageStride: channels * H * W, beta: 0, c: product, cRowStride: n)
    public static func multiply(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
        im2colOf image: UnsafePointer<Float>, window: UnsafePointer<ember_window_geometry>, imageStride: Int = 0,
        beta: Float, c: UnsafeMutablePointer<Float>, cRowStride: Int
    ) {
        let problem = GEMMProblem(
            m: m, n: n, k: k, alpha: alpha, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
            b: image, bRowStride: n, bColumnStride: 1, beta: beta, c: c, cRowStride: cRowStride,
            window: window, imageStride: imageStride)
        run(problem, kernels: Float32GEMMKernels.self, level: -1, threads: ParallelLoop.threadCount,
            blas: PlatformBLAS.active)
    }

    /// The double-precision `multiply(…, im2colOf:window:…)`, with the same contract.
    public static func multiply(
        m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, aRowStride: Int, aColumnStride: Int,
        im2colOf image: UnsafePointer<Double>, window: UnsafePointer<ember_window_geometry>, imageStride: Int = 0,
        beta: Double, c: UnsafeMutablePointer<Double>, cRowStride: Int
    ) {
        let problem = GEMMProblem(
            m: m, n: n, k: k, alpha: alpha, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
            b: image, bRowStride: n, bColumnStride: 1, beta: beta, c: c, cRowStride: cRowStride,
            window: window, imageStride: imageStride)
        run(problem, kernels: Float64GEMMKernels.self, level: -1, threads: ParallelLoop.threadCount,
            blas: PlatformBLAS.active)
    }

    /// `C = alpha * A·B + beta * C` with B given as a table of rows: element `(p, j)` of B is at
    /// `b[bRowOffsets[p] + j]` (`bRowOffsets` has k entries). A convolution with unit strides
    /// multiplies its weight by the windows of its input this way, without writing (or packing)
    /// an im2col matrix: the row of B for depth index (channel, ky, kx) and the output positions
    /// of one output row is a run of the padded image, `channel * plane + ky * width + kx` from the
    /// row's start. `rowBias`, when given (m values), is added to each row of the result, so that
    /// a convolution's bias costs no pass of its own. Runs the unpacked register tiles of the
    /// small kernel on the calling thread only: callers split the work (a convolution splits its
    /// output rows). Same contract as `multiply` otherwise (beta == 0 never reads C).
    ///
    ///     // C [m, n] = A [m, 3] · B, whose rows are b[0...], b[10...] and b[20...]
    ///     let rows: [Int] = [0, 10, 20]
    ///     GEMM.multiply(m: m, n: n, k: 3, alpha: 1, a: a, aRowStride: 3, aColumnStride: 1,
    ///                   b: b, bRowOffsets: rows, beta: 0, c: c, cRowStride: n)
    public static func multiply(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
        b: UnsafePointer<Float>, bRowOffsets: UnsafePointer<Int>, rowBias: UnsafePointer<Float>? = nil, beta: Float,
        c: UnsafeMutablePointer<Float>, cRowStride: Int
    ) {
        Float32GEMMKernels.rowTable(Float32GEMMKernels.config(level: -1), m: m, n: n, k: k, alpha: alpha,
                                    a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                                    b: b, bRowOffsets: bRowOffsets, rowBias: rowBias, beta: beta,
                                    c: c, cRowStride: cRowStride)
    }

    /// The double-precision `multiply(…, bRowOffsets:…)`, with the same contract.
    public static func multiply(
        m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, aRowStride: Int, aColumnStride: Int,
        b: UnsafePointer<Double>, bRowOffsets: UnsafePointer<Int>, rowBias: UnsafePointer<Double>? = nil, beta: Double,
        c: UnsafeMutablePointer<Double>, cRowStride: Int
    ) {
        Float64GEMMKernels.rowTable(Float64GEMMKernels.config(level: -1), m: m, n: n, k: k, alpha: alpha,
                                    a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                                    b: b, bRowOffsets: bRowOffsets, rowBias: rowBias, beta: beta,
                                    c: c, cRowStride: cRowStride)
    }

    /// `C = alpha * A·B + beta * C` with A given as a table of rows: element `(i, p)` of A is at
    /// `a[aRowOffsets[i] + p]` (`aRowOffsets` has m entries), B with unit column stride. A
    /// convolution's weight gradient multiplies the windows of one output row (the im2col matrix
    /// of that row, read in place from the padded image) by the output gradient this way. Runs
    /// on the calling thread only, like `multiply(…, bRowOffsets:…)`.
    ///
    ///     // C [2, n] = A · B [3, n], A's rows being a[0..<3] and a[10..<13]
    ///     let rows: [Int] = [0, 10]
    ///     GEMM.multiply(m: 2, n: n, k: 3, alpha: 1, a: a, aRowOffsets: rows, b: b, bRowStride: n,
    ///                   beta: 0, c: c, cRowStride: n)
    public static func multiply(
        m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, aRowOffsets: UnsafePointer<Int>,
        b: UnsafePointer<Float>, bRowStride: Int, beta: Float, c: UnsafeMutablePointer<Float>, cRowStride: Int
    ) {
        Float32GEMMKernels.aRowTable(Float32GEMMKernels.config(level: -1), m: m, n: n, k: k, alpha: alpha, a: a,
                                     aRowOffsets: aRowOffsets, b: b, bRowStride: bRowStride, beta: beta,
                                     c: c, cRowStride: cRowStride)
    }

    /// The double-precision `multiply(…, aRowOffsets:…)`, with the same contract.
    public static func multiply(
        m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, aRowOffsets: UnsafePointer<Int>,
        b: UnsafePointer<Double>, bRowStride: Int, beta: Double, c: UnsafeMutablePointer<Double>, cRowStride: Int
    ) {
        Float64GEMMKernels.aRowTable(Float64GEMMKernels.config(level: -1), m: m, n: n, k: k, alpha: alpha, a: a,
                                     aRowOffsets: aRowOffsets, b: b, bRowStride: bRowStride, beta: beta,
                                     c: c, cRowStride: cRowStride)
    }

    /// Products of at most this many multiply-adds (`m * n * k`) run the direct loop: below it,
    /// packing and the scratch tiles at the edges cost more than they save.
    static let directLimit = 16 * 16 * 16

    /// Products of fewer multiply-adds than this run on the calling thread only: handing work to
    /// another core costs some microseconds, about what one core does with this many.
    static let parallelLimit = 96 * 96 * 96

    /// The driver for both element types. `level` picks the instruction set (-1: the best this
    /// machine has) and `threads` caps the threads; tests pass each level and thread count to
    /// check every variant without touching global state. With a `blas` library, products of at
    /// least `PlatformBLAS.minimumWork` multiply-adds whose operands CBLAS can express go to it.
    static func run<Kernels: GEMMKernels>(
        _ problem: GEMMProblem<Kernels.Scalar>, kernels: Kernels.Type, level: Int32, threads: Int,
        blas: PlatformBLAS? = nil
    ) {
        precondition(problem.m >= 0 && problem.n >= 0 && problem.k >= 0, "GEMM: negative size")
        if problem.m == 0 || problem.n == 0 { return }
        let work = problem.m * problem.n * problem.k
        let path = route(problem, work: work, blas: blas)
        // Only the blocked path packs B, so only it can read images as an implicit im2col
        // matrix; the others get the column matrix written out (k == 0 or alpha == 0 read no B).
        if problem.window != nil, problem.k > 0, problem.alpha != 0, path != .blocked {
            runMaterialized(problem, kernels: kernels, level: level, threads: threads, blas: blas)
            return
        }
        if path == .platformBLAS, let blas, let call = problem.cblasCall {
            Kernels.callCBLAS(blas, call, problem)
            problem.finish()
            return
        }
        let config = Kernels.config(level: level)
        let threads = work < parallelLimit ? 1 : threads
        switch path {
        case .direct, .platformBLAS:
            split(problem, threads: threads, columnTile: 8, rowTile: 1) { Kernels.direct(config, $0); $0.finish() }
        case .small:
            split(problem, threads: threads, columnTile: 16, rowTile: 6) { Kernels.small(config, $0); $0.finish() }
        case .blocked:
            split(problem, threads: threads, columnTile: Int(config.nr), rowTile: Int(config.mr)) {
                multiplyBlocked($0, config: config, kernels: kernels)
            }
        }
    }

    /// Where `run` sends a product, decided in one place.
    enum Route { case platformBLAS, direct, small, blocked }

    /// The route of `p`: the platform BLAS when there is one and CBLAS can express a large enough
    /// product; the direct loop when C is only scaled (k == 0 or alpha == 0: it reads neither A
    /// nor B), for vectors and for tiny products; the unpacked small kernel; else the blocked path.
    static func route<Scalar: BinaryFloatingPoint>(_ p: GEMMProblem<Scalar>, work: Int, blas: PlatformBLAS?) -> Route {
        if blas != nil, work >= PlatformBLAS.minimumWork, p.alpha != 0, p.cblasCall != nil { return .platformBLAS }
        if p.k == 0 || p.alpha == 0 || isVectorShaped(p) { return .direct }
        if isSmallShaped(p, work: work) { return .small }
        return work <= directLimit ? .direct : .blocked
    }

    /// A product whose B is an implicit im2col matrix but whose shape takes an unpacked path (or
    /// the platform BLAS): writes the column matrix once, as the convolution did before, and runs
    /// the ordinary product on it. Such products are small (or rare), so the copy is cheap.
    /// im2col writes whole images, so the matrix covers every image that the product's columns
    /// (`firstColumn..<firstColumn + n`) touch, and B starts inside it.
    static func runMaterialized<Kernels: GEMMKernels>(
        _ problem: GEMMProblem<Kernels.Scalar>, kernels: Kernels.Type, level: Int32, threads: Int, blas: PlatformBLAS?
    ) {
        guard let window = problem.window else { return }
        let plane = Int(window.pointee.out_height * window.pointee.out_width)
        let firstImage = problem.firstColumn / plane
        let images = (problem.firstColumn + problem.n + plane - 1) / plane - firstImage
        let width = images * plane, count = problem.k * width, bytes = count * MemoryLayout<Kernels.Scalar>.stride
        let columns = CachingAllocator.shared.allocate(bytes: bytes).bindMemory(to: Kernels.Scalar.self, capacity: count)
        defer { CachingAllocator.shared.deallocate(UnsafeMutableRawPointer(columns), bytes: bytes) }
        let image = problem.b + firstImage * problem.imageStride, imageStride = problem.imageStride
        ParallelLoop.run(count: problem.k, grain: max(1, 32_768 / max(width, 1))) { rows in
            Kernels.im2col(image, images: images, imageStride: imageStride, window, rows, columns, columnStride: width)
        }
        var explicit = problem
        explicit.window = nil
        explicit.firstColumn = 0
        explicit.imageStride = 0
        explicit.b = UnsafePointer(columns) + (problem.firstColumn - firstImage * plane)
        explicit.bRowStride = width
        explicit.bColumnStride = 1
        run(explicit, kernels: kernels, level: level, threads: threads, blas: blas)
    }

    /// Products of at most this many multiply-adds whose B has unit column stride run the unpacked
    /// small kernel (`ember_gemm_small_*`): packing B and A costs more than it saves.
    static let smallLimit = 64 * 64 * 64

    /// Short products (at most this many rows of C, B of at most `smallBLimit` elements) with a
    /// unit column stride in B also run unpacked: each k x 16 strip of B is read once and stays
    /// in L1 while the few row tiles of A pass over it (an LSTM step's backward product,
    /// [16, 512] · [512, 128]). Measured on the AVX2 machine (float, single thread): 16x512x128
    /// 65 GFLOP/s unpacked vs 51 packed, 64³ 82 vs 65, 48³ 88 vs 74; but 32x1024x128 44 vs 50,
    /// 32x4096x512 25 vs 41, 128³ 54 vs 68 (A transposed), so larger B and larger products pack.
    static let smallRowLimit = 32
    static let smallBLimit = 64 * 1024

    /// Whether the unpacked small kernel runs the product (B's columns contiguous, and the
    /// product small or short; k >= 1 and alpha != 0, which the caller has routed already).
    static func isSmallShaped<Scalar>(_ p: GEMMProblem<Scalar>, work: Int) -> Bool {
        p.bColumnStride == 1 && (work <= smallLimit || (p.m <= smallRowLimit && p.k * p.n <= smallBLimit))
    }

    /// Matrix-vector products (one or two rows or columns of C) whose strides let the direct loop
    /// stream B once at memory speed; packing B would double that traffic for no reuse.
    static func isVectorShaped<Scalar>(_ p: GEMMProblem<Scalar>) -> Bool {
        let contiguousDots = p.aColumnStride == 1 && p.bRowStride == 1
        return (p.m <= 2 && (p.bColumnStride == 1 || contiguousDots)) || (p.n <= 2 && contiguousDots)
    }

    /// Runs `body` on one rectangle of C per thread, cut along whole tiles of C's longer side
    /// (columns when C is at least as wide as tall). Each rectangle is a full-depth product.
    static func split<Scalar>(
        _ problem: GEMMProblem<Scalar>, threads: Int, columnTile: Int, rowTile: Int,
        _ body: (GEMMProblem<Scalar>) -> Void
    ) {
        let splitColumns = problem.n >= problem.m
        let tile = splitColumns ? columnTile : rowTile
        let length = splitColumns ? problem.n : problem.m
        let tiles = (length + tile - 1) / tile
        let parts = min(threads, tiles)
        if parts <= 1 {
            body(problem)
            return
        }
        ParallelLoop.run(count: parts, grain: 1) { chunk in
            for part in chunk {
                let range = min(tiles * part / parts * tile, length)..<min(tiles * (part + 1) / parts * tile, length)
                body(splitColumns
                    ? problem.block(rows: 0..<problem.m, columns: range)
                    : problem.block(rows: range, columns: 0..<problem.n))
            }
        }
    }

    /// The three cache-blocking loops of Goto's algorithm on one thread: columns of C in steps
    /// of nc (B panel in L3), depth in steps of kc (B micro-panel in L1), rows in steps of mc
    /// (A block in L2). The steps are evened out (300 = 150 + 150 rather than 256 + 44) so that
    /// no block is a thin remainder.
    static func multiplyBlocked<Kernels: GEMMKernels>(
        _ problem: GEMMProblem<Kernels.Scalar>, config: ember_gemm_config, kernels: Kernels.Type
    ) {
        let (m, n, k) = (problem.m, problem.n, problem.k)
        let mr = Int(config.mr), nr = Int(config.nr)
        let kc = evenStep(k, limit: Int(config.kc), multiple: 1)
        let mc = evenStep(m, limit: Int(config.mc), multiple: mr)
        let nc = evenStep(n, limit: Int(config.nc), multiple: nr)

        let size = MemoryLayout<Kernels.Scalar>.stride
        let bytesA = mc * kc * size, bytesB = kc * nc * size
        let packedA = CachingAllocator.shared.allocate(bytes: bytesA).bindMemory(to: Kernels.Scalar.self, capacity: mc * kc)
        let packedB = CachingAllocator.shared.allocate(bytes: bytesB).bindMemory(to: Kernels.Scalar.self, capacity: kc * nc)
        defer {
            CachingAllocator.shared.deallocate(UnsafeMutableRawPointer(packedA), bytes: bytesA)
            CachingAllocator.shared.deallocate(UnsafeMutableRawPointer(packedB), bytes: bytesB)
        }

        var column = 0
        while column < n {
            let width = min(nc, n - column)
            var depth = 0
            while depth < k {
                let thickness = min(kc, k - depth)
                // Only the first depth block applies beta; the later ones accumulate.
                let beta = depth == 0 ? problem.beta : 1
                var panel = UnsafePointer(packedB)
                if problem.window == nil, let cache = problem.packedPanels {
                    let source = problem.b + depth * problem.bRowStride + column * problem.bColumnStride
                    panel = cache.panel(source, depth: thickness, width: width, rowStride: problem.bRowStride,
                                        columnStride: problem.bColumnStride, config: config, bytes: bytesB) { destination in
                        Kernels.packB(config, thickness, width, source, problem.bRowStride, problem.bColumnStride, destination)
                    }
                } else if let window = problem.window {
                    Kernels.packIm2col(config, thickness, width, problem.b, problem.imageStride, window,
                                       depth, problem.firstColumn + column, packedB)
                } else {
                    Kernels.packB(config, thickness, width,
                                  problem.b + depth * problem.bRowStride + column * problem.bColumnStride,
                                  problem.bRowStride, problem.bColumnStride, packedB)
                }
                var row = 0
                while row < m {
                    let height = min(mc, m - row)
                    Kernels.packA(config, height, thickness,
                                  problem.a + row * problem.aRowStride + depth * problem.aColumnStride,
                                  problem.aRowStride, problem.aColumnStride, packedA)
                    Kernels.macro(config, height, width, thickness, problem.alpha, packedA, panel, beta,
                                  problem.c + row * problem.cRowStride + column, problem.cRowStride)
                    if depth + thickness == k, let epilogue = problem.epilogue {
                        epilogue(problem.rowOffset + row..<problem.rowOffset + row + height,
                                 problem.columnOffset + column..<problem.columnOffset + column + width)
                    }
                    row += height
                }
                depth += thickness
            }
            column += width
        }
    }

    /// The block size for `total` elements: at most `limit`, a multiple of `multiple`, and as
    /// even as possible across the blocks.
    @inline(__always)
    static func evenStep(_ total: Int, limit: Int, multiple: Int) -> Int {
        let blocks = (total + limit - 1) / limit
        let step = (total + blocks - 1) / blocks
        return min(limit, (step + multiple - 1) / multiple * multiple)
    }
}

/// One GEMM call's operands, as pointers and strides. The threads of one call share it: they
/// write disjoint rectangles of C, only read A and B, and the call waits for them all.
struct GEMMProblem<Scalar> {
    var m: Int, n: Int, k: Int
    var alpha: Scalar
    var a: UnsafePointer<Scalar>, aRowStride: Int, aColumnStride: Int
    var b: UnsafePointer<Scalar>, bRowStride: Int, bColumnStride: Int
    var beta: Scalar
    var c: UnsafeMutablePointer<Scalar>, cRowStride: Int
    /// When set, B is not a matrix in memory but the im2col matrix of the images at `b`, image i
    /// at `b + i * imageStride` (`ember_im2col_*` with this geometry, columns from `firstColumn`
    /// on, so column j is output position j % (outH·outW) of image j / (outH·outW)), packed
    /// straight from the images; `bRowStride` and `bColumnStride` then describe the matrix im2col
    /// would write (n and 1), which the unpacked paths get when the product is too small to pack.
    var window: UnsafePointer<ember_window_geometry>? = nil
    var imageStride = 0
    var firstColumn = 0
    /// When set, packed panels of B are kept here between calls (B stays the same).
    var packedPanels: PackedPanels? = nil
    /// Runs on each finished block of C; `rowOffset`/`columnOffset` place this (sub)problem's C
    /// in the caller's.
    var epilogue: GEMMEpilogue? = nil
    var rowOffset = 0, columnOffset = 0

    /// The epilogue over this problem's whole C.
    func finish() { epilogue?(rowOffset..<rowOffset + m, columnOffset..<columnOffset + n) }

    /// The same product restricted to a rectangle of C (full depth).
    func block(rows: Range<Int>, columns: Range<Int>) -> GEMMProblem {
        var block = self
        block.m = rows.count
        block.n = columns.count
        block.a = a + rows.lowerBound * aRowStride
        if window == nil {
            block.b = b + columns.lowerBound * bColumnStride
        } else {
            block.firstColumn = firstColumn + columns.lowerBound
        }
        block.c = c + rows.lowerBound * cRowStride + columns.lowerBound
        block.rowOffset = rowOffset + rows.lowerBound
        block.columnOffset = columnOffset + columns.lowerBound
        return block
    }
}

/// The C kernels of one element type, so that the driver is written once and specialised.
protocol GEMMKernels {
    associatedtype Scalar: BinaryFloatingPoint
    static func config(level: Int32) -> ember_gemm_config
    static func packA(_ config: ember_gemm_config, _ mc: Int, _ kc: Int, _ a: UnsafePointer<Scalar>,
                      _ rowStride: Int, _ columnStride: Int, _ packed: UnsafeMutablePointer<Scalar>)
    static func packB(_ config: ember_gemm_config, _ kc: Int, _ nc: Int, _ b: UnsafePointer<Scalar>,
                      _ rowStride: Int, _ columnStride: Int, _ packed: UnsafeMutablePointer<Scalar>)
    /// `packB` of rows `k0..<k0+kc`, columns `j0..<j0+nc` of the implicit im2col matrix of the
    /// images at `image`, `imageStride` elements apart.
    static func packIm2col(_ config: ember_gemm_config, _ kc: Int, _ nc: Int, _ image: UnsafePointer<Scalar>,
                           _ imageStride: Int, _ window: UnsafePointer<ember_window_geometry>, _ k0: Int, _ j0: Int,
                           _ packed: UnsafeMutablePointer<Scalar>)
    /// Rows `rows` of the im2col matrix of `images` images, `imageStride` elements apart, written
    /// with row stride `columnStride`.
    static func im2col(_ image: UnsafePointer<Scalar>, images: Int, imageStride: Int,
                       _ window: UnsafePointer<ember_window_geometry>, _ rows: Range<Int>,
                       _ columns: UnsafeMutablePointer<Scalar>, columnStride: Int)
    static func macro(_ config: ember_gemm_config, _ mc: Int, _ nc: Int, _ kc: Int, _ alpha: Scalar,
                      _ packedA: UnsafePointer<Scalar>, _ packedB: UnsafePointer<Scalar>, _ beta: Scalar,
                      _ c: UnsafeMutablePointer<Scalar>, _ cRowStride: Int)
    static func direct(_ config: ember_gemm_config, _ problem: GEMMProblem<Scalar>)
    /// The unpacked small kernel; B must have unit column stride.
    static func small(_ config: ember_gemm_config, _ problem: GEMMProblem<Scalar>)
    /// The unpacked small kernel with A's row i at `a + aRowOffsets[i]` (`ember_gemm_a_row_table_*`).
    static func aRowTable(_ config: ember_gemm_config, m: Int, n: Int, k: Int, alpha: Scalar,
                          a: UnsafePointer<Scalar>, aRowOffsets: UnsafePointer<Int>, b: UnsafePointer<Scalar>,
                          bRowStride: Int, beta: Scalar, c: UnsafeMutablePointer<Scalar>, cRowStride: Int)
    /// The unpacked small kernel with B's row p at `b + bRowOffsets[p]`, plus `rowBias[i]` on row i
    /// when given (`ember_gemm_row_table_*`).
    static func rowTable(_ config: ember_gemm_config, m: Int, n: Int, k: Int, alpha: Scalar,
                         a: UnsafePointer<Scalar>, aRowStride: Int, aColumnStride: Int,
                         b: UnsafePointer<Scalar>, bRowOffsets: UnsafePointer<Int>, rowBias: UnsafePointer<Scalar>?,
                         beta: Scalar, c: UnsafeMutablePointer<Scalar>, cRowStride: Int)
    /// Runs `problem` through the platform library's GEMM of this element type.
    static func callCBLAS(_ blas: PlatformBLAS, _ call: CBLASCall, _ problem: GEMMProblem<Scalar>)
}

enum Float32GEMMKernels: GEMMKernels {
    typealias Scalar = Float
    static func callCBLAS(_ blas: PlatformBLAS, _ call: CBLASCall, _ p: GEMMProblem<Float>) {
        blas.sgemm(CBLASOperand.rowMajor, call.transposeA, call.transposeB, call.m, call.n, call.k,
                   p.alpha, p.a, call.lda, p.b, call.ldb, p.beta, p.c, call.ldc)
    }
    @inline(__always) static func config(level: Int32) -> ember_gemm_config { ember_gemm_config_f32(level) }
    @inline(__always)
    static func packA(_ config: ember_gemm_config, _ mc: Int, _ kc: Int, _ a: UnsafePointer<Float>,
                      _ rowStride: Int, _ columnStride: Int, _ packed: UnsafeMutablePointer<Float>) {
        ember_gemm_pack_a_f32(config, Int64(mc), Int64(kc), a, Int64(rowStride), Int64(columnStride), packed)
    }
    @inline(__always)
    static func packB(_ config: ember_gemm_config, _ kc: Int, _ nc: Int, _ b: UnsafePointer<Float>,
                      _ rowStride: Int, _ columnStride: Int, _ packed: UnsafeMutablePointer<Float>) {
        ember_gemm_pack_b_f32(config, Int64(kc), Int64(nc), b, Int64(rowStride), Int64(columnStride), packed)
    }
    @inline(__always)
    static func packIm2col(_ config: ember_gemm_config, _ kc: Int, _ nc: Int, _ image: UnsafePointer<Float>,
                           _ imageStride: Int, _ window: UnsafePointer<ember_window_geometry>, _ k0: Int, _ j0: Int,
                           _ packed: UnsafeMutablePointer<Float>) {
        ember_gemm_pack_im2col_f32(config, Int64(kc), Int64(nc), image, Int64(imageStride), window,
                                   Int64(k0), Int64(j0), packed)
    }
    static func im2col(_ image: UnsafePointer<Float>, images: Int, imageStride: Int,
                       _ window: UnsafePointer<ember_window_geometry>, _ rows: Range<Int>,
                       _ columns: UnsafeMutablePointer<Float>, columnStride: Int) {
        ember_im2col_f32(image, Int64(images), Int64(imageStride), window, Int64(rows.lowerBound), Int64(rows.upperBound),
                         columns, Int64(columnStride))
    }
    @inline(__always)
    static func macro(_ config: ember_gemm_config, _ mc: Int, _ nc: Int, _ kc: Int, _ alpha: Float,
                      _ packedA: UnsafePointer<Float>, _ packedB: UnsafePointer<Float>, _ beta: Float,
                      _ c: UnsafeMutablePointer<Float>, _ cRowStride: Int) {
        ember_gemm_macro_f32(config, Int64(mc), Int64(nc), Int64(kc), alpha, packedA, packedB, beta, c, Int64(cRowStride))
    }
    @inline(__always)
    static func direct(_ config: ember_gemm_config, _ p: GEMMProblem<Float>) {
        ember_gemm_direct_f32(config, Int64(p.m), Int64(p.n), Int64(p.k), p.alpha, p.a, Int64(p.aRowStride), Int64(p.aColumnStride),
                              p.b, Int64(p.bRowStride), Int64(p.bColumnStride), p.beta, p.c, Int64(p.cRowStride))
    }
    @inline(__always)
    static func small(_ config: ember_gemm_config, _ p: GEMMProblem<Float>) {
        ember_gemm_small_f32(config, Int64(p.m), Int64(p.n), Int64(p.k), p.alpha, p.a, Int64(p.aRowStride), Int64(p.aColumnStride),
                             p.b, Int64(p.bRowStride), p.beta, p.c, Int64(p.cRowStride))
    }
    static func aRowTable(_ config: ember_gemm_config, m: Int, n: Int, k: Int, alpha: Float,
                          a: UnsafePointer<Float>, aRowOffsets: UnsafePointer<Int>, b: UnsafePointer<Float>,
                          bRowStride: Int, beta: Float, c: UnsafeMutablePointer<Float>, cRowStride: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative size")
        if m == 0 || n == 0 { return }
        aRowOffsets.withMemoryRebound(to: Int64.self, capacity: m) { rows in
            ember_gemm_a_row_table_f32(config, Int64(m), Int64(n), Int64(k), alpha, a, rows, b, Int64(bRowStride),
                                       beta, c, Int64(cRowStride))
        }
    }
    static func rowTable(_ config: ember_gemm_config, m: Int, n: Int, k: Int, alpha: Float,
                         a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
                         b: UnsafePointer<Float>, bRowOffsets: UnsafePointer<Int>, rowBias: UnsafePointer<Float>?,
                         beta: Float, c: UnsafeMutablePointer<Float>, cRowStride: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative size")
        if m == 0 || n == 0 { return }
        // Int and Int64 have one layout on the 64-bit platforms Ember builds for.
        bRowOffsets.withMemoryRebound(to: Int64.self, capacity: k) { rows in
            ember_gemm_row_table_f32(config, Int64(m), Int64(n), Int64(k), alpha, a, Int64(aRowStride), Int64(aColumnStride),
                                     b, rows, rowBias, beta, c, Int64(cRowStride))
        }
    }
}

enum Float64GEMMKernels: GEMMKernels {
    typealias Scalar = Double
    static func callCBLAS(_ blas: PlatformBLAS, _ call: CBLASCall, _ p: GEMMProblem<Double>) {
        blas.dgemm(CBLASOperand.rowMajor, call.transposeA, call.transposeB, call.m, call.n, call.k,
                   p.alpha, p.a, call.lda, p.b, call.ldb, p.beta, p.c, call.ldc)
    }
    @inline(__always) static func config(level: Int32) -> ember_gemm_config { ember_gemm_config_f64(level) }
    @inline(__always)
    static func packA(_ config: ember_gemm_config, _ mc: Int, _ kc: Int, _ a: UnsafePointer<Double>,
                      _ rowStride: Int, _ columnStride: Int, _ packed: UnsafeMutablePointer<Double>) {
        ember_gemm_pack_a_f64(config, Int64(mc), Int64(kc), a, Int64(rowStride), Int64(columnStride), packed)
    }
    @inline(__always)
    static func packB(_ config: ember_gemm_config, _ kc: Int, _ nc: Int, _ b: UnsafePointer<Double>,
                      _ rowStride: Int, _ columnStride: Int, _ packed: UnsafeMutablePointer<Double>) {
        ember_gemm_pack_b_f64(config, Int64(kc), Int64(nc), b, Int64(rowStride), Int64(columnStride), packed)
    }
    @inline(__always)
    static func packIm2col(_ config: ember_gemm_config, _ kc: Int, _ nc: Int, _ image: UnsafePointer<Double>,
                           _ imageStride: Int, _ window: UnsafePointer<ember_window_geometry>, _ k0: Int, _ j0: Int,
                           _ packed: UnsafeMutablePointer<Double>) {
        ember_gemm_pack_im2col_f64(config, Int64(kc), Int64(nc), image, Int64(imageStride), window,
                                   Int64(k0), Int64(j0), packed)
    }
    static func im2col(_ image: UnsafePointer<Double>, images: Int, imageStride: Int,
                       _ window: UnsafePointer<ember_window_geometry>, _ rows: Range<Int>,
                       _ columns: UnsafeMutablePointer<Double>, columnStride: Int) {
        ember_im2col_f64(image, Int64(images), Int64(imageStride), window, Int64(rows.lowerBound), Int64(rows.upperBound),
                         columns, Int64(columnStride))
    }
    @inline(__always)
    static func macro(_ config: ember_gemm_config, _ mc: Int, _ nc: Int, _ kc: Int, _ alpha: Double,
                      _ packedA: UnsafePointer<Double>, _ packedB: UnsafePointer<Double>, _ beta: Double,
                      _ c: UnsafeMutablePointer<Double>, _ cRowStride: Int) {
        ember_gemm_macro_f64(config, Int64(mc), Int64(nc), Int64(kc), alpha, packedA, packedB, beta, c, Int64(cRowStride))
    }
    @inline(__always)
    static func direct(_ config: ember_gemm_config, _ p: GEMMProblem<Double>) {
        ember_gemm_direct_f64(config, Int64(p.m), Int64(p.n), Int64(p.k), p.alpha, p.a, Int64(p.aRowStride), Int64(p.aColumnStride),
                              p.b, Int64(p.bRowStride), Int64(p.bColumnStride), p.beta, p.c, Int64(p.cRowStride))
    }
    @inline(__always)
    static func small(_ config: ember_gemm_config, _ p: GEMMProblem<Double>) {
        ember_gemm_small_f64(config, Int64(p.m), Int64(p.n), Int64(p.k), p.alpha, p.a, Int64(p.aRowStride), Int64(p.aColumnStride),
                             p.b, Int64(p.bRowStride), p.beta, p.c, Int64(p.cRowStride))
    }
    static func aRowTable(_ config: ember_gemm_config, m: Int, n: Int, k: Int, alpha: Double,
                          a: UnsafePointer<Double>, aRowOffsets: UnsafePointer<Int>, b: UnsafePointer<Double>,
                          bRowStride: Int, beta: Double, c: UnsafeMutablePointer<Double>, cRowStride: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative size")
        if m == 0 || n == 0 { return }
        aRowOffsets.withMemoryRebound(to: Int64.self, capacity: m) { rows in
            ember_gemm_a_row_table_f64(config, Int64(m), Int64(n), Int64(k), alpha, a, rows, b, Int64(bRowStride),
                                       beta, c, Int64(cRowStride))
        }
    }
    static func rowTable(_ config: ember_gemm_config, m: Int, n: Int, k: Int, alpha: Double,
                         a: UnsafePointer<Double>, aRowStride: Int, aColumnStride: Int,
                         b: UnsafePointer<Double>, bRowOffsets: UnsafePointer<Int>, rowBias: UnsafePointer<Double>?,
                         beta: Double, c: UnsafeMutablePointer<Double>, cRowStride: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative size")
        if m == 0 || n == 0 { return }
        // Int and Int64 have one layout on the 64-bit platforms Ember builds for.
        bRowOffsets.withMemoryRebound(to: Int64.self, capacity: k) { rows in
            ember_gemm_row_table_f64(config, Int64(m), Int64(n), Int64(k), alpha, a, Int64(aRowStride), Int64(aColumnStride),
                                     b, rows, rowBias, beta, c, Int64(cRowStride))
        }
    }
}
