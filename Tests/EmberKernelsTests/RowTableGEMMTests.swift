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

    func check<Kernels: GEMMKernels>(_ kernels: Kernels.Type, m: Int, n: Int, k: Int, alpha: Double, beta: Double,
                                     bias: Bool, level: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
        typealias T = Kernels.Scalar
        var random = TestRandom(state: UInt64(m * 7919 + n * 131 + k))
        // Row p of B lives in slot order[p]; slots are n + 3 apart, the 3 between them NaN.
        let slot = n + 3
        var order = Array(0..<k)
        for p in stride(from: k - 1, to: 0, by: -1) { order.swapAt(p, Int((random.next() + 1) / 2 * Double(p + 1)) % (p + 1)) }
        let rows = order.map { $0 * slot }
        let b = [T](unsafeUninitializedCapacity: max(1, k * slot)) { buffer, count in
            buffer.initialize(repeating: .nan)
            for p in 0..<k { for j in 0..<n { buffer[rows[p] + j] = T(random.next()) } }
            count = max(1, k * slot)
        }
        let a = (0..<(m * k)).map { _ in T(random.next()) }
        let rowBias = bias ? (0..<m).map { _ in T(random.next()) } : []
        let crs = n + 2, padding = T(12345)
        var c = [T](repeating: padding, count: max(1, m * crs))
        for i in 0..<m { for j in 0..<n { c[i * crs + j] = beta == 0 ? .nan : T(random.next()) } }
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
                                             c: c.baseAddress!, cRowStride: crs)
                        }
                    }
                }
            }
        }

        let epsilon = Double(T.ulpOfOne)
        var failures = 0
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let product = Double(a[i * k + p]) * Double(b[rows[p] + j])
                    sum += product
                    magnitude += abs(product)
                }
                let old = (beta == 0 ? 0 : beta * Double(original[i * crs + j])) + (bias ? Double(rowBias[i]) : 0)
                let expected = alpha * sum + old
                let tolerance = 4 * epsilon * (Double(k + 2) * abs(alpha) * magnitude + abs(old)) + 1e-30
                let actual = Double(c[i * crs + j])
                if !(abs(actual - expected) <= tolerance) {
                    failures += 1
                    if failures <= 3 {
                        Issue.record("\(T.self) level \(level) \(m)x\(n)x\(k) alpha \(alpha) beta \(beta): C[\(i), \(j)] = \(actual), expected \(expected)",
                                     sourceLocation: sourceLocation)
                    }
                }
            }
            for j in n..<crs {
                #expect(c[i * crs + j] == padding, "\(T.self) level \(level) \(m)x\(n)x\(k): wrote past row \(i)",
                        sourceLocation: sourceLocation)
            }
        }
        #expect(failures <= 3, "\(failures) wrong elements in all", sourceLocation: sourceLocation)
    }

    /// `GEMM.multiply(…, aRowOffsets:…)`: A's rows in a shuffled order with NaN gaps, B and C
    /// with padded rows.
    func checkRowsOfA<Kernels: GEMMKernels>(_ kernels: Kernels.Type, m: Int, n: Int, k: Int, alpha: Double, beta: Double,
                                            level: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
        typealias T = Kernels.Scalar
        var random = TestRandom(state: UInt64(m * 104_729 + n * 313 + k))
        let slot = k + 3
        var order = Array(0..<m)
        for i in stride(from: m - 1, to: 0, by: -1) { order.swapAt(i, Int((random.next() + 1) / 2 * Double(i + 1)) % (i + 1)) }
        let rows = order.map { $0 * slot }
        var a = [T](repeating: .nan, count: max(1, m * slot))
        for i in 0..<m { for p in 0..<k { a[rows[i] + p] = T(random.next()) } }
        let brs = n + 1
        var b = [T](repeating: .nan, count: max(1, k * brs))
        for p in 0..<k { for j in 0..<n { b[p * brs + j] = T(random.next()) } }
        let crs = n + 2, padding = T(12345)
        var c = [T](repeating: padding, count: max(1, m * crs))
        for i in 0..<m { for j in 0..<n { c[i * crs + j] = beta == 0 ? .nan : T(random.next()) } }
        let original = c
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                rows.withUnsafeBufferPointer { rows in
                    c.withUnsafeMutableBufferPointer { c in
                        Kernels.aRowTable(Kernels.config(level: level), m: m, n: n, k: k, alpha: T(alpha), a: a.baseAddress!,
                                          aRowOffsets: rows.baseAddress ?? UnsafePointer(bitPattern: 8)!, b: b.baseAddress!,
                                          bRowStride: brs, beta: T(beta), c: c.baseAddress!, cRowStride: crs)
                    }
                }
            }
        }
        let epsilon = Double(T.ulpOfOne)
        var failures = 0
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let product = Double(a[rows[i] + p]) * Double(b[p * brs + j])
                    sum += product
                    magnitude += abs(product)
                }
                let old = beta == 0 ? 0 : beta * Double(original[i * crs + j])
                let expected = alpha * sum + old
                let tolerance = 4 * epsilon * (Double(k + 2) * abs(alpha) * magnitude + abs(old)) + 1e-30
                if !(abs(Double(c[i * crs + j]) - expected) <= tolerance) { failures += 1 }
            }
            for j in n..<crs where c[i * crs + j] != padding { failures += 1 }
        }
        #expect(failures == 0, "\(T.self) level \(level) \(m)x\(n)x\(k) alpha \(alpha) beta \(beta): \(failures) wrong elements",
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
