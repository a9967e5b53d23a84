import CEmberKernels
import EmberKernels
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reductions (ember_reduce.h and `Reductions`) against naive Double loops, for both float
/// types, the generic and AVX2 variants, one and two threads, and the edge cases.
@Suite(.serialized) struct ReductionTests {
    /// Deterministic values in [-2, 2) (a small LCG, so failures reproduce).
    static func values(_ count: Int, seed: UInt64 = 1) -> [Double] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 40) / Double(1 << 24) * 4 - 2
        }
    }

    static func reference(_ op: ReductionOp, _ x: ArraySlice<Double>) -> Double {
        switch op {
        case .sum: return x.reduce(0, +)
        case .prod: return x.reduce(1, *)
        case .sumOfSquares: return x.reduce(0) { $0 + $1 * $1 }
        case .max: return x.contains { $0.isNaN } ? .nan : x.reduce(-.infinity) { Swift.max($0, $1) }
        case .min: return x.contains { $0.isNaN } ? .nan : x.reduce(.infinity) { Swift.min($0, $1) }
        case .any: return x.contains { $0 != 0 } ? 1 : 0
        case .all: return x.allSatisfy { $0 != 0 } ? 1 : 0
        }
    }

    /// Runs `body` with the generic and the detected instruction set, and one and two threads.
    static func eachVariant(_ body: (String) -> Void) {
        let threads = ParallelLoop.threadCount
        defer { ember_set_cpu_level(-1); ParallelLoop.threadCount = threads }
        for level: Int32 in [0, -1] {
            for t in [1, 2] {
                ember_set_cpu_level(level)
                ParallelLoop.threadCount = t
                body("level \(level == 0 ? "generic" : "detected"), \(t) thread(s)")
            }
        }
    }

    static func close(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        if a.isInfinite || b.isInfinite { return a == b }
        return abs(a - b) <= tolerance * Swift.max(1, abs(b))
    }

    static let floatOps: [ReductionOp] = [.sum, .prod, .max, .min, .sumOfSquares, .any, .all]

    @Test(arguments: [0, 1, 7, 63, 64, 65, 1000, 4099])
    func rowsMatchDouble(_ n: Int) async {
        // Sets the process-wide instruction set and thread count: runs in a process of its own.
        await #expect(processExitsWith: .success) { [n] in
            let rows = 3
            let data = Self.values(rows * n).map { $0 * 0.9 + 0.05 } // products stay finite
            let f32 = data.map { Float($0) }
            Self.eachVariant { label in
                for op in Self.floatOps {
                    var out32 = [Float](repeating: -7, count: rows), out64 = [Double](repeating: -7, count: rows)
                    var outBool = [Bool](repeating: false, count: rows)
                    let boolOut = op == .any || op == .all
                    f32.withUnsafeBytes { b in
                        if boolOut {
                            outBool.withUnsafeMutableBytes { Reductions.rows(op, dtype: EMBER_FLOAT32, input: b.baseAddress!, rows: rows, count: n, output: $0.baseAddress!) }
                        } else {
                            out32.withUnsafeMutableBytes { Reductions.rows(op, dtype: EMBER_FLOAT32, input: b.baseAddress!, rows: rows, count: n, output: $0.baseAddress!) }
                        }
                    }
                    data.withUnsafeBytes { b in
                        out64.withUnsafeMutableBytes { Reductions.rows(op, dtype: EMBER_FLOAT64, input: b.baseAddress!, rows: rows, count: n, output: $0.baseAddress!) }
                    }
                    for r in 0..<rows {
                        let slice32 = f32[(r * n)..<(r * n + n)].map { Double($0) }
                        let expected32 = Self.reference(op, slice32[...])
                        let expected64 = Self.reference(op, data[(r * n)..<(r * n + n)])
                        if boolOut {
                            #expect((outBool[r] ? 1 : 0) == expected32, "\(op) n=\(n) \(label)")
                        } else {
                            #expect(Self.close(Double(out32[r]), expected32, 2e-6), "\(op) f32 n=\(n) r=\(r) \(label): \(out32[r]) vs \(expected32)")
                            #expect(Self.close(out64[r], expected64, 1e-13), "\(op) f64 n=\(n) r=\(r) \(label): \(out64[r]) vs \(expected64)")
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: [[1, 5, 3], [2, 0, 4], [3, 17, 65], [2, 300, 130], [1, 9, 1]])
    func columnsMatchDouble(_ shape: [Int]) async {
        // Sets the process-wide instruction set and thread count: runs in a process of its own.
        await #expect(processExitsWith: .success) { [shape] in
            let (outer, n, inner) = (shape[0], shape[1], shape[2])
            let data = Self.values(outer * n * inner, seed: 7).map { $0 * 0.9 + 0.05 }
            let f32 = data.map { Float($0) }
            Self.eachVariant { label in
                for op in Self.floatOps where op != .any && op != .all {
                    var out32 = [Float](repeating: -7, count: outer * inner), out64 = [Double](repeating: -7, count: outer * inner)
                    f32.withUnsafeBytes { b in out32.withUnsafeMutableBytes {
                        Reductions.columns(op, dtype: EMBER_FLOAT32, input: b.baseAddress!, outer: outer, count: n, inner: inner, output: $0.baseAddress!)
                    } }
                    data.withUnsafeBytes { b in out64.withUnsafeMutableBytes {
                        Reductions.columns(op, dtype: EMBER_FLOAT64, input: b.baseAddress!, outer: outer, count: n, inner: inner, output: $0.baseAddress!)
                    } }
                    for o in 0..<outer {
                        for i in 0..<inner {
                            let column = (0..<n).map { data[(o * n + $0) * inner + i] }
                            let column32 = (0..<n).map { Double(f32[(o * n + $0) * inner + i]) }
                            let e32 = Self.reference(op, column32[...]), e64 = Self.reference(op, column[...])
                            #expect(Self.close(Double(out32[o * inner + i]), e32, 2e-6), "\(op) f32 \(shape) \(label)")
                            #expect(Self.close(out64[o * inner + i], e64, 1e-13), "\(op) f64 \(shape) \(label)")
                        }
                    }
                }
            }
        }
    }

    @Test func emptyReductionsGiveIdentities() {
        let x: [Float] = []
        var out: [Float] = [-1, -1]
        for (op, identity) in [(ReductionOp.sum, Float(0)), (.prod, 1)] {
            x.withUnsafeBytes { b in out.withUnsafeMutableBytes { o in
                // baseAddress of an empty array may be nil: any valid pointer will do.
                let p = b.baseAddress ?? UnsafeRawPointer(o.baseAddress!)
                Reductions.rows(op, dtype: EMBER_FLOAT32, input: p, rows: 2, count: 0, output: o.baseAddress!)
            } }
            #expect(out == [identity, identity], "\(op)")
        }
        var m: Float = 0
        withUnsafeBytes(of: 0) { b in Reductions.rows(.max, dtype: EMBER_FLOAT32, input: b.baseAddress!, rows: 1, count: 0, output: &m) }
        #expect(m == -.infinity) // not an error here; the caller rejects max of nothing
    }

    @Test func nanAndInfinity() async {
        // Sets the process-wide instruction set and thread count: runs in a process of its own.
        await #expect(processExitsWith: .success) {
            let x: [Float] = [1, .infinity, 3, .nan, -.infinity, .nan, 2]
            func run(_ op: ReductionOp, _ v: [Float]) -> Float {
                var out: Float = 0
                v.withUnsafeBytes { Reductions.rows(op, dtype: EMBER_FLOAT32, input: $0.baseAddress!, rows: 1, count: v.count, output: &out) }
                return out
            }
            Self.eachVariant { label in
                #expect(run(.max, x).isNaN && run(.min, x).isNaN && run(.sum, x).isNaN, "\(label)")
                #expect(run(.max, [1, .infinity, 2]) == .infinity && run(.min, [1, -.infinity]) == -.infinity)
                #expect(run(.sum, [1, .infinity, -.infinity]).isNaN)
                let long = [Float](repeating: 1, count: 999) + [.nan] + [Float](repeating: 5, count: 1000)
                #expect(run(.max, long).isNaN && run(.min, long).isNaN, "\(label)")
            }
        }
    }

    /// 10M float32 ones sum to exactly 1e7; 10M of 0.1f within 1e-6 of the Double sum.
    @Test func largeSumIsAccurate() async {
        // Sets the process-wide instruction set and thread count: runs in a process of its own.
        await #expect(processExitsWith: .success) {
            let n = 10_000_000
            for (value, tolerance) in [(Float(1), 0.0), (Float(0.1), 1e-6)] {
                let x = [Float](repeating: value, count: n)
                Self.eachVariant { label in
                    var out: Float = 0
                    x.withUnsafeBytes { Reductions.rows(.sum, dtype: EMBER_FLOAT32, input: $0.baseAddress!, rows: 1, count: n, output: &out) }
                    let exact = Double(value) * Double(n)
                    #expect(abs(Double(out) - exact) <= tolerance * exact, "\(value) \(label): \(out)")
                }
            }
        }
    }

    @Test(arguments: [1, 7, 65, 300_000])
    func argMaxFirstIndexAndNaN(_ n: Int) async {
        // Sets the process-wide instruction set and thread count: runs in a process of its own.
        await #expect(processExitsWith: .success) { [n] in
            var x = Self.values(n, seed: 3).map { Float($0) }
            func run(_ isMax: Bool, _ v: [Float]) -> Int64 {
                var out: Int64 = -1
                v.withUnsafeBytes { Reductions.argRows(max: isMax, dtype: EMBER_FLOAT32, input: $0.baseAddress!, rows: 1, count: v.count, output: &out) }
                return out
            }
            func firstIndex(_ isMax: Bool, _ v: [Float]) -> Int64 {
                if let i = v.firstIndex(where: { $0.isNaN }) { return Int64(i) }
                let target = isMax ? v.max()! : v.min()!
                return Int64(v.firstIndex(of: target)!)
            }
            if n > 10 { x[n / 2] = 5; x[n - 3] = 5; x[n / 3] = -5; x[n - 2] = -5 } // ties: first wins
            Self.eachVariant { label in
                #expect(run(true, x) == firstIndex(true, x), "\(label)")
                #expect(run(false, x) == firstIndex(false, x), "\(label)")
                if n > 10 {
                    var withNaN = x
                    withNaN[n - 4] = .nan; withNaN[n - 1] = .nan
                    #expect(run(true, withNaN) == Int64(n - 4) && run(false, withNaN) == Int64(n - 4), "\(label)")
                }
            }
            // Columns: [2, n', 3] with n' small, against the same rule per column.
            let m = Swift.min(n, 50), inner = 3
            var c = Self.values(2 * m * inner, seed: 5).map { Float($0) }
            c[inner + 1] = .nan
            var out = [Int64](repeating: -1, count: 2 * inner)
            c.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer {
                Reductions.argColumns(max: true, dtype: EMBER_FLOAT32, input: b.baseAddress!, outer: 2, count: m, inner: inner, output: $0.baseAddress!)
            } }
            for o in 0..<2 {
                for i in 0..<inner {
                    let column = (0..<m).map { c[(o * m + $0) * inner + i] }
                    #expect(out[o * inner + i] == firstIndex(true, column), "column \(o), \(i)")
                }
            }
        }
    }

    @Test func integerSumsAccumulateInInt64() {
        let x: [Int32] = [Int32.max, Int32.max, -5, 7]
        var out: [Int64] = [0, 0]
        x.withUnsafeBytes { b in out.withUnsafeMutableBytes {
            Reductions.rows(.sum, dtype: EMBER_INT32, input: b.baseAddress!, rows: 1, count: 4, output: $0.baseAddress!)
            Reductions.columns(.sum, dtype: EMBER_INT32, input: b.baseAddress!, outer: 1, count: 2, inner: 2, output: $0.baseAddress!)
        } }
        #expect(out == [Int64(Int32.max) - 5, Int64(Int32.max) + 7])
        let bytes: [UInt8] = [1, 0, 1, 1]
        var anyAll = [Bool](repeating: false, count: 2)
        var maximum: UInt8 = 0
        bytes.withUnsafeBytes { b in
            anyAll.withUnsafeMutableBytes { o in
                Reductions.rows(.any, dtype: EMBER_BOOL, input: b.baseAddress!, rows: 1, count: 4, output: o.baseAddress!)
                Reductions.rows(.all, dtype: EMBER_BOOL, input: b.baseAddress!, rows: 1, count: 4, output: o.baseAddress! + 1)
            }
            Reductions.rows(.max, dtype: EMBER_UINT8, input: b.baseAddress!, rows: 1, count: 4, output: &maximum)
        }
        #expect(anyAll == [true, false] && maximum == 1)
        let longs: [Int64] = [3, -4, 9, 9, -4]
        var arg: [Int64] = [0, 0]
        longs.withUnsafeBytes { b in
            Reductions.argRows(max: true, dtype: EMBER_INT64, input: b.baseAddress!, rows: 1, count: 5, output: &arg[0])
            Reductions.argRows(max: false, dtype: EMBER_INT64, input: b.baseAddress!, rows: 1, count: 5, output: &arg[1])
        }
        #expect(arg == [2, 1])
    }

    static func softmaxReference(_ row: [Double], log takeLog: Bool) -> [Double] {
        let m = row.max()!
        let s = row.reduce(0) { $0 + exp($1 - m) }
        let logSum = log(s)
        return row.map { takeLog ? ($0 - m) - logSum : exp($0 - m) / s }
    }

    @Test(arguments: [1, 5, 9, 1030])
    func softmaxFamily(_ n: Int) async {
        // Sets the process-wide instruction set and thread count: runs in a process of its own.
        await #expect(processExitsWith: .success) { [n] in
            let rows = 3
            let data = Self.values(rows * n, seed: 11).map { $0 * 20 }
            let f32 = data.map { Float($0) }
            Self.eachVariant { label in
                for op in [SoftmaxOp.softmax, .logSoftmax] {
                    var y32 = [Float](repeating: 0, count: rows * n), y64 = [Double](repeating: 0, count: rows * n)
                    f32.withUnsafeBytes { b in y32.withUnsafeMutableBytes { Reductions.softmaxRows(op, dtype: EMBER_FLOAT32, input: b.baseAddress!, rows: rows, count: n, output: $0.baseAddress!) } }
                    data.withUnsafeBytes { b in y64.withUnsafeMutableBytes { Reductions.softmaxRows(op, dtype: EMBER_FLOAT64, input: b.baseAddress!, rows: rows, count: n, output: $0.baseAddress!) } }
                    for r in 0..<rows {
                        let e32 = Self.softmaxReference(f32[(r * n)..<(r * n + n)].map { Double($0) }, log: op == .logSoftmax)
                        let e64 = Self.softmaxReference(Array(data[(r * n)..<(r * n + n)]), log: op == .logSoftmax)
                        for j in 0..<n {
                            #expect(abs(Double(y32[r * n + j]) - e32[j]) <= 1e-6 * Swift.max(1, abs(e32[j])), "\(op) f32 \(label)")
                            #expect(abs(y64[r * n + j] - e64[j]) <= 1e-13 * Swift.max(1, abs(e64[j])), "\(op) f64 \(label)")
                        }
                    }
                    // Over the middle axis of [2, n, 3]: the same values as rows of the transpose.
                    let inner = 3, outer = 2
                    let cols = Self.values(outer * n * inner, seed: 13).map { Float($0 * 20) }
                    do {
                        var yc = [Float](repeating: 0, count: cols.count)
                        cols.withUnsafeBytes { b in yc.withUnsafeMutableBytes { Reductions.softmaxColumns(op, dtype: EMBER_FLOAT32, input: b.baseAddress!, outer: outer, count: n, inner: inner, output: $0.baseAddress!) } }
                        for o in 0..<outer {
                            for i in 0..<inner {
                                let column = (0..<n).map { Double(cols[(o * n + $0) * inner + i]) }
                                let expected = Self.softmaxReference(column, log: op == .logSoftmax)
                                for k in 0..<n {
                                    #expect(abs(Double(yc[(o * n + k) * inner + i]) - expected[k]) <= 1e-6 * Swift.max(1, abs(expected[k])), "\(op) columns \(label)")
                                }
                            }
                        }
                    }
                }
                var lse: [Float] = [0, 0, 0]
                f32.withUnsafeBytes { b in lse.withUnsafeMutableBytes { Reductions.logSumExpRows(dtype: EMBER_FLOAT32, input: b.baseAddress!, rows: rows, count: n, output: $0.baseAddress!) } }
                for r in 0..<rows {
                    let row = f32[(r * n)..<(r * n + n)].map { Double($0) }
                    let m = row.max()!
                    let expected = m + log(row.reduce(0) { $0 + exp($1 - m) })
                    #expect(abs(Double(lse[r]) - expected) <= 1e-6 * Swift.max(1, abs(expected)), "logsumexp \(label)")
                }
            }
        }
    }

    @Test func softmaxEdgeCases() {
        func softmax(_ x: [Float], _ op: SoftmaxOp = .softmax) -> [Float] {
            var y = [Float](repeating: 0, count: x.count)
            x.withUnsafeBytes { b in y.withUnsafeMutableBytes { Reductions.softmaxRows(op, dtype: EMBER_FLOAT32, input: b.baseAddress!, rows: 1, count: x.count, output: $0.baseAddress!) } }
            return y
        }
        func lse(_ x: [Float]) -> Float {
            var out: Float = 0
            x.withUnsafeBytes { Reductions.logSumExpRows(dtype: EMBER_FLOAT32, input: $0.baseAddress!, rows: 1, count: x.count, output: &out) }
            return out
        }
        #expect(softmax([-.infinity, -.infinity]).allSatisfy { $0.isNaN })
        #expect(softmax([.infinity, 1]).allSatisfy { $0.isNaN })
        #expect(softmax([1, -.infinity]) == [1, 0])
        #expect(softmax([1000, 1000]) == [0.5, 0.5])
        #expect(softmax([0, -.infinity], .logSoftmax) == [0, -.infinity])
        #expect(lse([-.infinity, -.infinity]) == -.infinity)
        #expect(lse([.infinity, 1]) == .infinity)
        #expect(lse([1, .nan]).isNaN)
        #expect(abs(lse([1000, 1000]) - (1000 + log(2))) < 1e-3)
    }
}
