import CEmberKernels
import Testing
@testable import EmberKernels

/// How a test matrix sits in memory. Every layout is checked against the same Double reference,
/// so a kernel that ignores a stride, or packs the wrong element, fails.
enum TestMatrixLayout: CaseIterable, CustomStringConvertible {
    case rowMajor, transposed, paddedRows, strided

    /// Row stride, column stride and the elements the storage needs.
    func strides(rows: Int, columns: Int) -> (row: Int, column: Int, count: Int) {
        switch self {
        case .rowMajor: return (columns, 1, max(1, rows * columns))
        case .transposed: return (1, rows, max(1, rows * columns))
        case .paddedRows: return (columns + 3, 1, max(1, rows * (columns + 3)))
        case .strided:
            // Every other column, rows padded too: a view like x[:, ::2] of a wider tensor.
            let rowStride = 2 * columns + 1
            return (rowStride, 2, max(1, rows * rowStride))
        }
    }

    var description: String {
        switch self {
        case .rowMajor: return "row-major"
        case .transposed: return "transposed"
        case .paddedRows: return "padded rows"
        case .strided: return "strided"
        }
    }
}

/// Which route through the driver a check takes.
enum GEMMTestPath: CustomStringConvertible {
    /// `GEMM.multiply`, as Ember calls it.
    case publicAPI
    /// The driver at one instruction-set level with a thread cap (level 2 falls back where the
    /// CPU lacks AVX-512).
    case driver(level: Int32, threads: Int)
    /// The packed, blocked path at one level, even for sizes the driver would send to the direct loop.
    case blocked(level: Int32)
    /// The unpacked small kernel at one level, whatever the size (B must have unit column stride).
    case small(level: Int32)
    /// The driver with a platform BLAS library, as `PlatformBLAS.active` would route it.
    case blas(PlatformBLAS)

    var description: String {
        switch self {
        case .publicAPI: return "public"
        case .driver(let level, let threads): return "driver(level \(level), \(threads) threads)"
        case .blocked(let level): return "blocked(level \(level))"
        case .small(let level): return "small(level \(level))"
        case .blas(let blas): return "blas(\(blas.path))"
        }
    }
}

/// A reproducible generator (SplitMix64), so a failure names inputs that can be rerun.
struct TestRandom {
    var state: UInt64
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) * 2 - 1
    }
}

/// Multiplies random matrices in the given layouts through `path` and compares every element of
/// C (and the padding around it, which must stay untouched) with a triple loop in Double.
func checkGEMM<Kernels: GEMMKernels>(
    _ kernels: Kernels.Type, m: Int, n: Int, k: Int, alpha: Double = 1, beta: Double = 0,
    a aLayout: TestMatrixLayout = .rowMajor, b bLayout: TestMatrixLayout = .rowMajor,
    path: GEMMTestPath = .publicAPI, nanC: Bool = false, seed: UInt64 = 1,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    typealias T = Kernels.Scalar
    var random = TestRandom(state: seed &+ UInt64(m * 1_000_003 + n * 1009 + k))
    let (ars, acs, aCount) = aLayout.strides(rows: m, columns: k)
    let (brs, bcs, bCount) = bLayout.strides(rows: k, columns: n)
    let crs = n + 2   // two padding elements per row of C, which must survive
    let cCount = max(1, m * crs)
    let a = UnsafeMutablePointer<T>.allocate(capacity: aCount)
    let b = UnsafeMutablePointer<T>.allocate(capacity: bCount)
    let c = UnsafeMutablePointer<T>.allocate(capacity: cCount)
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    // Values outside the matrices are NaN, so reading past a view poisons the result.
    a.initialize(repeating: .nan, count: aCount)
    b.initialize(repeating: .nan, count: bCount)
    for i in 0..<m { for p in 0..<k { a[i * ars + p * acs] = T(random.next()) } }
    for p in 0..<k { for j in 0..<n { b[p * brs + j * bcs] = T(random.next()) } }
    let padding = T(12345)
    for index in 0..<cCount { c[index] = padding }
    for i in 0..<m { for j in 0..<n { c[i * crs + j] = nanC ? .nan : T(random.next()) } }
    let original = Array(UnsafeBufferPointer(start: c, count: cCount))

    let problem = GEMMProblem(
        m: m, n: n, k: k, alpha: T(alpha), a: UnsafePointer(a), aRowStride: ars, aColumnStride: acs,
        b: UnsafePointer(b), bRowStride: brs, bColumnStride: bcs, beta: T(beta), c: c, cRowStride: crs)
    switch path {
    case .publicAPI: callPublicGEMM(problem)
    case .driver(let level, let threads): GEMM.run(problem, kernels: kernels, level: level, threads: threads)
    case .blocked(let level): GEMM.multiplyBlocked(problem, config: Kernels.config(level: level), kernels: kernels)
    case .small(let level): Kernels.small(Kernels.config(level: level), problem)
    case .blas(let blas): GEMM.run(problem, kernels: kernels, level: -1, threads: 1, blas: blas)
    }

    // The reference works on contiguous Double copies: generic element access is slow in debug builds.
    var aDouble = [Double](repeating: 0, count: m * k), bDouble = [Double](repeating: 0, count: k * n)
    for i in 0..<m { for p in 0..<k { aDouble[i * k + p] = Double(a[i * ars + p * acs]) } }
    for p in 0..<k { for j in 0..<n { bDouble[p * n + j] = Double(b[p * brs + j * bcs]) } }
    let epsilon = Double(T.ulpOfOne)
    var failures = 0
    var sums = [Double](repeating: 0, count: n), magnitudes = [Double](repeating: 0, count: n)
    for i in 0..<m {
        for j in 0..<n { sums[j] = 0; magnitudes[j] = 0 }
        for p in 0..<k {
            let x = aDouble[i * k + p]
            for j in 0..<n {
                let product = x * bDouble[p * n + j]
                sums[j] += product
                magnitudes[j] += abs(product)
            }
        }
        for j in 0..<n {
            // beta == 0 ignores the old C, NaN included.
            let scaledOld = beta == 0 ? 0 : beta * Double(original[i * crs + j])
            let expected = alpha * sums[j] + scaledOld
            let tolerance = 4 * epsilon * (Double(k + 2) * abs(alpha) * magnitudes[j] + abs(scaledOld)) + 1e-30
            let actual = Double(c[i * crs + j])
            if !(abs(actual - expected) <= tolerance) {
                failures += 1
                if failures <= 3 {
                    Issue.record("\(T.self) \(m)x\(n)x\(k) A \(aLayout) B \(bLayout) alpha \(alpha) beta \(beta) \(path): C[\(i), \(j)] = \(actual), expected \(expected)",
                                 sourceLocation: sourceLocation)
                }
            }
        }
        for j in n..<crs where c[i * crs + j] != padding {
            Issue.record("\(T.self) \(m)x\(n)x\(k) \(path): wrote past row \(i) of C", sourceLocation: sourceLocation)
        }
    }
    if failures > 3 {
        Issue.record("\(failures) wrong elements in all", sourceLocation: sourceLocation)
    }
}

/// Calls the public entry point of the problem's element type.
func callPublicGEMM<T>(_ problem: GEMMProblem<T>) {
    if T.self == Float.self {
        let p = unsafeBitCast(problem, to: GEMMProblem<Float>.self)
        GEMM.multiply(m: p.m, n: p.n, k: p.k, alpha: p.alpha, a: p.a, aRowStride: p.aRowStride,
                      aColumnStride: p.aColumnStride, b: p.b, bRowStride: p.bRowStride,
                      bColumnStride: p.bColumnStride, beta: p.beta, c: p.c, cRowStride: p.cRowStride)
    } else {
        let p = unsafeBitCast(problem, to: GEMMProblem<Double>.self)
        GEMM.multiply(m: p.m, n: p.n, k: p.k, alpha: p.alpha, a: p.a, aRowStride: p.aRowStride,
                      aColumnStride: p.aColumnStride, b: p.b, bRowStride: p.bRowStride,
                      bColumnStride: p.bColumnStride, beta: p.beta, c: p.c, cRowStride: p.cRowStride)
    }
}

/// Shapes around the micro-tiles of every variant (generic 4x8 / 4x4, AVX2 6x16 / 6x8, AVX-512
/// 12x32 / 12x16), vectors, and odd sizes.
let tileEdgeShapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (1, 17, 1), (1, 1, 33), (1, 40, 40), (40, 1, 40), (5, 7, 3), (4, 8, 5), (6, 16, 8),
    (7, 17, 9), (5, 15, 3), (12, 32, 4), (11, 31, 6), (13, 33, 20), (37, 53, 71),
]

/// Shapes of the unpacked small kernel (6x16 / 6x8 AVX2 tiles, 4x8 / 4x4 generic): single
/// elements, partial row tiles and masked column strips, exact tiles, and an LSTM-step shape.
let smallShapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (5, 7, 3), (16, 16, 16), (17, 33, 9), (32, 32, 32), (16, 512, 128), (3, 4, 1),
    (6, 16, 5), (7, 9, 40), (12, 20, 2), (11, 3, 17), (31, 24, 64),
]

/// Every instruction-set level; those the CPU lacks fall back to the best it has.
let allLevels: [Int32] = [0, 1, 2]

@Suite("GEMM")
struct GEMMTests {
    @Test("tile-edge shapes on every variant, packed and direct", arguments: tileEdgeShapes.indices)
    func tileEdges(shapeIndex: Int) {
        let (m, n, k) = tileEdgeShapes[shapeIndex]
        for level in allLevels {
            checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, path: .blocked(level: level))
            checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, path: .blocked(level: level))
            checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: 1.5, beta: -0.5, path: .driver(level: level, threads: 1))
            checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: 1.5, beta: -0.5, path: .driver(level: level, threads: 1))
        }
        checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k)
        checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k)
    }

    @Test("transposed, padded and strided operands", arguments: TestMatrixLayout.allCases)
    func layouts(aLayout: TestMatrixLayout) {
        for bLayout in TestMatrixLayout.allCases {
            for (m, n, k) in [(1, 1, 1), (3, 5, 2), (37, 53, 71), (13, 33, 20)] {
                for level in allLevels {
                    checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, a: aLayout, b: bLayout, path: .blocked(level: level))
                    checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, a: aLayout, b: bLayout, path: .blocked(level: level))
                }
                checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, a: aLayout, b: bLayout)
                checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, a: aLayout, b: bLayout)
            }
        }
    }

    @Test("alpha and beta combinations, blocked and direct")
    func alphaBeta() {
        let pairs: [(Double, Double)] = [(1, 0), (2.5, 0), (1, 1), (-0.5, 0.75), (0, 2), (0, 0), (3, -1)]
        for (alpha, beta) in pairs {
            for (m, n, k) in [(2, 3, 4), (19, 21, 23)] {
                for level in allLevels {
                    checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta, path: .blocked(level: level))
                    checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta, path: .blocked(level: level))
                }
                checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta)
                checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta)
            }
        }
    }

    @Test("beta = 0 overwrites a NaN-filled C without reading it")
    func betaZeroIgnoresNaN() {
        for (m, n, k) in [(1, 1, 1), (3, 4, 5), (13, 33, 20), (37, 53, 71)] {
            for level in allLevels {
                checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: 2, path: .blocked(level: level), nanC: true)
                checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: 2, path: .blocked(level: level), nanC: true)
            }
            checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, nanC: true)
            checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, nanC: true)
            checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: 0, nanC: true)   // C = 0, not NaN
        }
    }

    @Test("k = 0 scales C by beta; m = 0 or n = 0 does nothing")
    func emptyDimensions() {
        for beta in [0.0, 1, 0.5] {
            checkGEMM(Float32GEMMKernels.self, m: 5, n: 7, k: 0, beta: beta)
            checkGEMM(Float64GEMMKernels.self, m: 5, n: 7, k: 0, beta: beta)
        }
        checkGEMM(Float32GEMMKernels.self, m: 0, n: 7, k: 3)
        checkGEMM(Float32GEMMKernels.self, m: 5, n: 0, k: 3)
        checkGEMM(Float64GEMMKernels.self, m: 0, n: 0, k: 0)
    }

    @Test("alpha = 0 reads neither A nor B (NaN there does not leak into C)")
    func alphaZeroIgnoresOperands() {
        let a = [Float](repeating: .nan, count: 64 * 64), b = a
        var c = [Float](repeating: 2, count: 64 * 64)
        GEMM.multiply(m: 64, n: 64, k: 64, alpha: 0, a: a, aRowStride: 64, aColumnStride: 1,
                      b: b, bRowStride: 64, bColumnStride: 1, beta: 0.5, c: &c, cRowStride: 64)
        #expect(c.allSatisfy { $0 == 1 })
    }

    @Test("blocks of depth, rows and columns larger than one cache block")
    func cacheBlocks() {
        // k crosses kc (256): beta must apply once, on the first depth block only.
        checkGEMM(Float32GEMMKernels.self, m: 14, n: 20, k: 300, beta: 0.5, path: .blocked(level: -1))
        checkGEMM(Float64GEMMKernels.self, m: 14, n: 20, k: 300, beta: 0.5, path: .blocked(level: -1))
        checkGEMM(Float32GEMMKernels.self, m: 14, n: 20, k: 300, beta: 0.5, path: .blocked(level: 0))
        // m crosses mc (168 with AVX2, 128 generic), n crosses nc (4080 / 2040).
        checkGEMM(Float32GEMMKernels.self, m: 170, n: 9, k: 5, beta: 1, path: .blocked(level: -1))
        checkGEMM(Float64GEMMKernels.self, m: 170, n: 9, k: 5, beta: 1, path: .blocked(level: 0))
        checkGEMM(Float32GEMMKernels.self, m: 3, n: 4100, k: 3, path: .blocked(level: -1))
        checkGEMM(Float64GEMMKernels.self, m: 3, n: 4100, k: 3, path: .blocked(level: -1))
        checkGEMM(Float64GEMMKernels.self, m: 3, n: 2100, k: 3, path: .blocked(level: 0))
    }

    @Test("two threads split columns or rows and agree with the reference")
    func threaded() {
        // Above the parallel threshold (96^3 multiply-adds); wide C splits columns, tall C rows.
        checkGEMM(Float32GEMMKernels.self, m: 100, n: 130, k: 70, alpha: 1.25, beta: 0.5, path: .driver(level: -1, threads: 2))
        checkGEMM(Float64GEMMKernels.self, m: 100, n: 130, k: 70, path: .driver(level: -1, threads: 2))
        checkGEMM(Float32GEMMKernels.self, m: 130, n: 41, k: 170, a: .transposed, b: .strided, path: .driver(level: -1, threads: 2))
        checkGEMM(Float64GEMMKernels.self, m: 130, n: 41, k: 170, path: .driver(level: 0, threads: 3))
    }

    @Test("matrix-vector shapes (direct loop, axpy and dot forms) in every layout", arguments: TestMatrixLayout.allCases)
    func vectorShapes(bLayout: TestMatrixLayout) {
        for aLayout in TestMatrixLayout.allCases {
            for (m, n, k) in [(1, 150, 100), (2, 64, 33), (150, 1, 100), (77, 2, 65)] {
                for level in allLevels {
                    checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: 0.5, beta: 1, a: aLayout, b: bLayout,
                              path: .driver(level: level, threads: 1))
                }
                checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, a: aLayout, b: bLayout, nanC: true)
            }
        }
        // Above the parallel threshold: the direct loop splits columns, or rows, across threads.
        if bLayout == .rowMajor {
            checkGEMM(Float32GEMMKernels.self, m: 1, n: 1800, k: 500, path: .driver(level: -1, threads: 2))
        } else if bLayout == .transposed {
            checkGEMM(Float64GEMMKernels.self, m: 1800, n: 1, k: 500, b: bLayout, path: .driver(level: -1, threads: 2))
        }
    }

    @Test("the unpacked small kernel: edges, layouts of A, padded B, alpha and beta", arguments: smallShapes.indices)
    func smallKernel(shapeIndex: Int) {
        let (m, n, k) = smallShapes[shapeIndex]
        for level in allLevels {
            for aLayout in TestMatrixLayout.allCases {
                for bLayout in [TestMatrixLayout.rowMajor, .paddedRows] {
                    checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, a: aLayout, b: bLayout, path: .small(level: level))
                    checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, a: aLayout, b: bLayout, path: .small(level: level))
                }
            }
            for (alpha, beta) in [(1.5, -0.5), (-2.0, 1.0), (0.5, 0.0)] {
                checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta, path: .small(level: level),
                          nanC: beta == 0)
                checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta, b: .paddedRows,
                          path: .small(level: level), nanC: beta == 0)
            }
            // k = 0 in the kernel itself: C = beta * C, and 0 (not NaN) when beta is 0.
            checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: 0, beta: 0.5, path: .small(level: level))
            checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: 0, path: .small(level: level), nanC: true)
        }
    }

    @Test("the driver on small shapes: all four transpositions, strides, alpha and beta", arguments: smallShapes.indices)
    func smallShapesThroughDriver(shapeIndex: Int) {
        let (m, n, k) = smallShapes[shapeIndex]
        for level in allLevels {
            for aLayout in TestMatrixLayout.allCases {
                for bLayout in TestMatrixLayout.allCases {
                    checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: 1.5, beta: -0.5, a: aLayout, b: bLayout,
                              path: .driver(level: level, threads: 1))
                }
                checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, a: aLayout, path: .driver(level: level, threads: 1), nanC: true)
            }
            checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: 0, beta: 2, path: .driver(level: level, threads: 1))
        }
        checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, b: .transposed, nanC: true)
        checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: 0.25, beta: 1)
    }

    @Test("a larger product through the public API")
    func larger() {
        checkGEMM(Float32GEMMKernels.self, m: 300, n: 200, k: 150, alpha: 0.5, beta: 2)
        checkGEMM(Float64GEMMKernels.self, m: 300, n: 200, k: 150, a: .transposed, b: .transposed)
    }

    /// The level is process-wide and other suites run concurrently, so this does not assert which
    /// variant ran; the `level: 0` paths above check the portable kernels deterministically.
    @Test("the public API on the portable kernels, forced with ember_set_cpu_level(0)")
    func forcedGenericLevel() async {
        // Sets the process-wide instruction set: runs in a process of its own.
        await #expect(processExitsWith: .success) {
            ember_set_cpu_level(0)
            defer { ember_set_cpu_level(-1) }
            checkGEMM(Float32GEMMKernels.self, m: 37, n: 53, k: 71, alpha: 2, beta: 1, a: .transposed)
            checkGEMM(Float64GEMMKernels.self, m: 37, n: 53, k: 71, b: .strided, nanC: true)
        }
    }
}
