import CEmberKernels
import Testing
@testable import EmberKernels

/// `GEMM.multiply(…, bRowOffsets:…)` (`ember_gemm_row_table_*`) and `GEMM.multiply(…,
/// aRowOffsets:…)` (`ember_gemm_a_row_table_*`). For B: B's rows come from a table of
/// offsets. Here the rows sit in a shuffled order, with gaps of NaN between them, so a kernel that
/// reads rows in order, ignores the table, or reads past a row's `n` columns fails; every level
/// (generic, AVX2 and what AVX-512 falls back to), partial row tiles and column strips, depths
/// past one depth block (192), alpha, beta, a bias per row (added once, not once per depth block)
/// and k = 0 are checked against a loop in Double.
@Suite struct RowTableGEMMTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (5, 7, 3), (6, 16, 9), (7, 17, 40), (13, 56, 27), (64, 24, 193), (11, 3, 400), (4, 8, 0),
    ]

    /// Offsets of `count` rows placed in shuffled slots `slot` elements apart.
    static func shuffledRows(_ count: Int, slot: Int, _ random: inout TestRandom) -> [Int] {
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, Int((random.next() + 1) / 2 * Double(i + 1)) % (i + 1))
        }
        return order.map { $0 * slot }
    }

    /// A C of m x n with two padding elements per row (12345), random or NaN (when beta is 0).
    static func matrixC<T: BinaryFloatingPoint>(_ type: T.Type, m: Int, n: Int, beta: Double,
                                                _ random: inout TestRandom) -> [T] {
        var c = [T](repeating: 12345, count: max(1, m * (n + 2)))
        for i in 0..<m { for j in 0..<n { c[i * (n + 2) + j] = beta == 0 ? .nan : T(random.next()) } }
        return c
    }

    /// Compares C (row stride n + 2) with alpha·Σ_p a(i, p)·b(p, j) + beta·C₀ + bias(i), in
    /// Double, and checks that the row padding is untouched.
    static func verify<T: BinaryFloatingPoint>(_ c: [T], original: [T], m: Int, n: Int, k: Int, alpha: Double, beta: Double,
                                               a: (Int, Int) -> Double, b: (Int, Int) -> Double, bias: (Int) -> Double,
                                               _ context: String, sourceLocation: SourceLocation) {
        let epsilon = Double(T.ulpOfOne), crs = n + 2
        var failures = 0
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let product = a(i, p) * b(p, j)
                    sum += product
                    magnitude += abs(product)
                }
                let old = (beta == 0 ? 0 : beta * Double(original[i * crs + j])) + bias(i)
                let expected = alpha * sum + old
                let tolerance = 4 * epsilon * (Double(k + 2) * abs(alpha) * magnitude + abs(old)) + 1e-30
                let actual = Double(c[i * crs + j])
                if !(abs(actual - expected) <= tolerance) {
                    failures += 1
                    if failures <= 3 {
                        Issue.record("\(context): C[\(i), \(j)] = \(actual), expected \(expected)", sourceLocation: sourceLocation)
                    }
                }
            }
            for j in n..<crs where c[i * crs + j] != 12345 {
                Issue.record("\(context): wrote past row \(i)", sourceLocation: sourceLocation)
            }
        }
        #expect(failures <= 3, "\(context): \(failures) wrong elements in all", sourceLocation: sourceLocation)
    }

    /// `GEMM.multiply(…, bRowOffsets:rowBias:…)`: B's rows in shuffled slots n + 3 apart, the 3
    /// between them NaN.
    func check<Kernels: GEMMKernels>(_ kernels: Kernels.Type, m: Int, n: Int, k: Int, alpha: Double, beta: Double,
                                     bias: Bool, level: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
        typealias T = Kernels.Scalar
        var random = TestRandom(state: UInt64(m * 7919 + n * 131 + k))
        let slot = n + 3
        let rows = Self.shuffledRows(k, slot: slot, &random)
        var b = [T](repeating: .nan, count: max(1, k * slot))
        for p in 0..<k { for j in 0..<n { b[rows[p] + j] = T(random.next()) } }
        let a = (0..<(m * k)).map { _ in T(random.next()) }
        let rowBias = bias ? (0..<m).map { _ in T(random.next()) } : []
        var c = Self.matrixC(T.self, m: m, n: n, beta: beta, &random)
        let original = c
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                rows.withUnsafeBufferPointer { rows in
                    rowBias.withUnsafeBufferPointer { rowBias in
                        c.withUnsafeMutableBufferPointer { c in
                            Kernels.rowTable(Kernels.config(level: level), m: m, n: n, k: k, alpha: T(alpha),
                                             a: a.baseAddress!, aRowStride: k, aColumnStride: 1, b: b.baseAddress!,
                                             bRowOffsets: rows.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                                             rowBias: bias ? rowBias.baseAddress : nil, beta: T(beta),
                                             c: c.baseAddress!, cRowStride: n + 2)
                        }
                    }
                }
            }
        }
        Self.verify(c, original: original, m: m, n: n, k: k, alpha: alpha, beta: beta,
                    a: { Double(a[$0 * k + $1]) }, b: { Double(b[rows[$0] + $1]) },
                    bias: { bias ? Double(rowBias[$0]) : 0 },
                    "\(T.self) level \(level) \(m)x\(n)x\(k) alpha \(alpha) beta \(beta) bias \(bias)",
                    sourceLocation: sourceLocation)
    }

    /// `GEMM.multiply(…, aRowOffsets:…)`: A's rows in shuffled slots k + 3 apart with NaN gaps,
    /// B with padded rows.
    func checkRowsOfA<Kernels: GEMMKernels>(_ kernels: Kernels.Type, m: Int, n: Int, k: Int, alpha: Double, beta: Double,
                                            level: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
        typealias T = Kernels.Scalar
        var random = TestRandom(state: UInt64(m * 104_729 + n * 313 + k))
        let slot = k + 3
        let rows = Self.shuffledRows(m, slot: slot, &random)
        var a = [T](repeating: .nan, count: max(1, m * slot))
        for i in 0..<m { for p in 0..<k { a[rows[i] + p] = T(random.next()) } }
        let brs = n + 1
        var b = [T](repeating: .nan, count: max(1, k * brs))
        for p in 0..<k { for j in 0..<n { b[p * brs + j] = T(random.next()) } }
        var c = Self.matrixC(T.self, m: m, n: n, beta: beta, &random)
        let original = c
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                rows.withUnsafeBufferPointer { rows in
                    c.withUnsafeMutableBufferPointer { c in
                        Kernels.aRowTable(Kernels.config(level: level), m: m, n: n, k: k, alpha: T(alpha), a: a.baseAddress!,
                                          aRowOffsets: rows.baseAddress ?? UnsafePointer(bitPattern: 8)!, b: b.baseAddress!,
                                          bRowStride: brs, beta: T(beta), c: c.baseAddress!, cRowStride: n + 2)
                    }
                }
            }
        }
        Self.verify(c, original: original, m: m, n: n, k: k, alpha: alpha, beta: beta,
                    a: { Double(a[rows[$0] + $1]) }, b: { Double(b[$0 * brs + $1]) }, bias: { _ in 0 },
                    "\(T.self) level \(level) \(m)x\(n)x\(k) alpha \(alpha) beta \(beta)",
                    sourceLocation: sourceLocation)
    }

    @Test("A's rows from a shuffled table, every level, alpha and beta", arguments: shapes.indices)
    func shuffledRowsOfA(shapeIndex: Int) {
        let (m, n, k) = Self.shapes[shapeIndex]
        for level in allLevels {
            for (alpha, beta) in [(1.0, 0.0), (1.5, -0.5), (-2.0, 1.0)] {
                checkRowsOfA(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta, level: level)
                checkRowsOfA(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta, level: level)
            }
        }
    }

    @Test("rows from a shuffled table, every level, alpha, beta and a bias per row", arguments: shapes.indices)
    func shuffledRows(shapeIndex: Int) {
        let (m, n, k) = Self.shapes[shapeIndex]
        for level in allLevels {
            for (alpha, beta) in [(1.0, 0.0), (1.5, -0.5), (-2.0, 1.0)] {
                for bias in [false, true] {
                    check(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta, bias: bias, level: level)
                    check(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: alpha, beta: beta, bias: bias, level: level)
                }
            }
        }
    }
}
