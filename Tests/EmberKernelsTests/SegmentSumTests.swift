import CEmberKernels
@testable import EmberKernels
import Testing

/// The segmented sums of long float rows (`ember_reduce_segment_sums`, `Reductions.rows` for sums
/// and sums of squares of at least 2 × `Reductions.grain` elements): each segment's result does
/// not depend on the segments it is read alongside, so a long sum has the same bits for any
/// thread count and either instruction-set variant; and it stays a pairwise sum, close to a
/// Double reference.
@Suite struct SegmentSumTests {
    /// Segment bounds with lengths around the 256-element leaf: empty, shorter than a leaf,
    /// exactly one, several plus a tail.
    static let lengths = [0, 1, 255, 256, 257, 700, 1024, 2049, 3000, 511, 4096, 33, 999, 1500, 256, 12_345]

    static func bounds(_ lengths: [Int]) -> [Int64] {
        var bounds: [Int64] = [0]
        for length in lengths { bounds.append(bounds.last! + Int64(length)) }
        return bounds
    }

    static func segmentSums<T: BinaryFloatingPoint>(_ op: ReductionOp, _ x: [T], _ bounds: ArraySlice<Int64>,
                                                    dtype: ember_dtype) -> [T] {
        var out = [T](repeating: -7, count: bounds.count - 1)
        x.withUnsafeBytes { input in
            Array(bounds).withUnsafeBufferPointer { b in
                out.withUnsafeMutableBytes { o in
                    ember_reduce_segment_sums(op.c, dtype, input.baseAddress!, b.baseAddress!, Int64(bounds.count - 1),
                                              o.baseAddress!)
                }
            }
        }
        return out
    }

    /// All segments in one call (two lockstep groups of eight), each alone, and in runs of three
    /// (the path for groups of fewer than eight): the same bits, and each close to its exact sum.
    func checkIndependence<T: BinaryFloatingPoint>(_ op: ReductionOp, _ type: T.Type, dtype: ember_dtype, tolerance: Double) {
        let bounds = Self.bounds(Self.lengths)
        var random = TestRandom(state: 17)
        var x = (0..<Int(bounds.last!)).map { _ in T(random.next()) }
        x[Int(bounds[5]) + 3] = .nan   // only segment 5 may turn NaN
        let together = Self.segmentSums(op, x, bounds[...], dtype: dtype)
        let alone = (0..<Self.lengths.count).flatMap { Self.segmentSums(op, x, bounds[$0...($0 + 1)], dtype: dtype) }
        let inThrees = stride(from: 0, to: Self.lengths.count, by: 3).flatMap {
            Self.segmentSums(op, x, bounds[$0...min($0 + 3, Self.lengths.count)], dtype: dtype)
        }
        let same = { (a: [T], b: [T]) in zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) } }
        #expect(same(together, alone), "\(op) \(T.self)")
        #expect(same(together, inThrees), "\(op) \(T.self)")
        for s in 0..<Self.lengths.count {
            let exact = x[Int(bounds[s])..<Int(bounds[s + 1])].reduce(0.0) { $0 + (op == .sum ? Double($1) : Double($1) * Double($1)) }
            if s == 5 {
                #expect(together[s].isNaN)
            } else {
                #expect(abs(Double(together[s]) - exact) <= tolerance * max(1, abs(exact)), "\(op) \(T.self) segment \(s)")
            }
        }
    }

    @Test func segmentResultsDoNotDependOnTheirNeighbours() {
        for op in [ReductionOp.sum, .sumOfSquares] {
            checkIndependence(op, Float.self, dtype: EMBER_FLOAT32, tolerance: 1e-5)
            checkIndependence(op, Double.self, dtype: EMBER_FLOAT64, tolerance: 1e-13)
        }
    }

    @Test func longRowSumsAndSquaresAreTheSameForAnyThreadCountAndVariant() async {
        // Sets the process-wide instruction set and thread count: runs in a process of its own.
        await #expect(processExitsWith: .success) {
            let rows = 2, n = 2 * Reductions.grain * 3 + 17
            var random = TestRandom(state: 5)
            let data = (0..<rows * n).map { _ in random.next() }
            let f32 = data.map { Float($0) }
            for op in [ReductionOp.sum, .sumOfSquares] {
                var results32: [[Float]] = [], results64: [[Double]] = []
                for level: Int32 in [0, -1] {
                    for threads in [1, 2, 3] {
                        ember_set_cpu_level(level)
                        ParallelLoop.threadCount = threads
                        var out32 = [Float](repeating: -7, count: rows), out64 = [Double](repeating: -7, count: rows)
                        f32.withUnsafeBytes { b in out32.withUnsafeMutableBytes {
                            Reductions.rows(op, dtype: EMBER_FLOAT32, input: b.baseAddress!, rows: rows, count: n, output: $0.baseAddress!)
                        } }
                        data.withUnsafeBytes { b in out64.withUnsafeMutableBytes {
                            Reductions.rows(op, dtype: EMBER_FLOAT64, input: b.baseAddress!, rows: rows, count: n, output: $0.baseAddress!)
                        } }
                        results32.append(out32)
                        results64.append(out64)
                    }
                }
                #expect(Set(results32).count == 1, "\(op) \(results32)")
                #expect(Set(results64).count == 1, "\(op) \(results64)")
                let term = { (v: Double) in op == .sum ? v : v * v }
                for r in 0..<rows {
                    let exact32 = f32[r * n..<(r + 1) * n].reduce(0.0) { $0 + term(Double($1)) }
                    let exact64 = data[r * n..<(r + 1) * n].reduce(0.0) { $0 + term($1) }
                    #expect(abs(Double(results32[0][r]) - exact32) <= 1e-5 * max(1, abs(exact32)), "\(op)")
                    #expect(abs(results64[0][r] - exact64) <= 1e-12 * max(1, abs(exact64)), "\(op)")
                }
            }
        }
    }
}
