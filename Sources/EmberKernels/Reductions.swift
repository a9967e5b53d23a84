import CEmberKernels

/// A reduction the C kernels implement; raw values match `ember_reduce_op`.
///
/// Output dtypes: `sum` and `prod` keep float32/float64 and write int64 for integers and bool;
/// `max`/`min` keep the input dtype; `sumOfSquares` is float-only; `any`/`all` write bool.
/// `Reductions.outputDType(_:for:)` answers this for the engine.
public enum ReductionOp: UInt32, Sendable, CaseIterable {
    case sum = 0, prod, max, min, sumOfSquares, any, all

    @usableFromInline var c: ember_reduce_op { ember_reduce_op(rawValue: rawValue) }

    /// How per-thread partial results of this reduction are combined.
    @usableFromInline var combining: ReductionOp { self == .sumOfSquares ? .sum : self }
}

/// softmax or log_softmax.
public enum SoftmaxOp: UInt32, Sendable {
    case softmax = 0, logSoftmax

    @usableFromInline var c: ember_softmax_op { ember_softmax_op(rawValue: rawValue) }
}

/// Threaded drivers for the C reduction kernels (`ember_reduce.h`) over two contiguous shapes:
/// *rows* `[rows, n] -> [rows]` and *columns* `[outer, n, inner] -> [outer, inner]`. The engine
/// makes its tensor contiguous with the reduced dimensions grouped, then calls one of these.
///
/// Work is split with `ParallelLoop`: by rows when there are enough of them, otherwise one long
/// row is cut into per-thread chunks whose partial results are combined (pairwise for sums) by
/// the same kernel; column reductions split by `outer` and by tiles of `inner`. Inputs below
/// `grain` elements run on the calling thread. Float sums and sums of squares of rows of at
/// least 2 × `grain` elements are cut into `sumSegments` fixed segments instead, read several at
/// a time by each thread (see `ember_reduce_segment_sums`): faster when memory-bound, and the
/// same bits for any thread count.
///
///     Reductions.rows(.sum, dtype: EMBER_FLOAT32, input: x, rows: 1, count: n, output: &total)
public enum Reductions {
    /// Elements per thread below which a reduction stays on one thread (~30 us of work).
    public static let grain = 65_536

    /// The dtype that `op` writes for an input of `dtype`.
    @inlinable
    public static func outputDType(_ op: ReductionOp, for dtype: ember_dtype) -> ember_dtype {
        ember_reduce_output_dtype(op.c, dtype)
    }

    /// Bytes of one element of `dtype`.
    @inlinable
    public static func elementSize(_ dtype: ember_dtype) -> Int {
        switch dtype {
        case EMBER_FLOAT64, EMBER_INT64: return 8
        case EMBER_FLOAT32, EMBER_INT32: return 4
        case EMBER_FLOAT16, EMBER_BFLOAT16: return 2
        default: return 1
        }
    }

    /// `output[r] = op(input[r, 0..<n])` for a contiguous `[rows, n]` input.
    /// `output` holds `rows` elements of `outputDType(op, for: dtype)`.
    public static func rows(_ op: ReductionOp, dtype: ember_dtype, input: UnsafeRawPointer,
                            rows: Int, count n: Int, output: UnsafeMutableRawPointer) {
        let inSize = elementSize(dtype)
        let outDType = outputDType(op, for: dtype)
        let outSize = elementSize(outDType)
        let threads = ParallelLoop.threadCount
        if op == .sum || op == .sumOfSquares, dtype == EMBER_FLOAT32 || dtype == EMBER_FLOAT64, n >= 2 * grain {
            segmentedSums(op, dtype: dtype, input: input, rows: rows, count: n, output: output)
            return
        }
        if rows >= threads || n < 2 * grain || threads <= 1 {
            ParallelLoop.run(count: rows, grain: Swift.max(1, grain / Swift.max(n, 1))) { range in
                ember_reduce_rows(op.c, dtype, input + range.lowerBound * n * inSize, Int64(range.count),
                                  Int64(n), output + range.lowerBound * outSize)
            }
            return
        }
        // Few long rows: each row is cut into chunks reduced in parallel, then combined.
        let chunks = Swift.min(threads, n / grain)
        withUnsafeTemporaryAllocation(byteCount: chunks * 8, alignment: 8) { partials in
            let base = partials.baseAddress!
            for r in 0..<rows {
                let row = input + r * n * inSize
                ParallelLoop.run(count: chunks, grain: 1) { range in
                    for c in range {
                        let start = n * c / chunks, end = n * (c + 1) / chunks
                        ember_reduce_rows(op.c, dtype, row + start * inSize, 1, Int64(end - start),
                                          base + c * outSize)
                    }
                }
                ember_reduce_rows(op.combining.c, outDType, base, 1, Int64(chunks), output + r * outSize)
            }
        }
    }

    /// Segments a long float row is cut into for its sum (`ember_reduce_segment_sums`).
    static let sumSegments = Int(EMBER_MAX_SEGMENTS)

    /// Float sums (and sums of squares) of long rows: each row is cut into `sumSegments` fixed
    /// segments, runs of which go to the threads; each thread reads its segments in lockstep
    /// (several streams of memory reads in flight), and the segment results are combined
    /// pairwise. The segments, not the threads, fix the order of additions, so the result has
    /// the same bits for any thread count.
    private static func segmentedSums(_ op: ReductionOp, dtype: ember_dtype, input: UnsafeRawPointer, rows: Int,
                                      count n: Int, output: UnsafeMutableRawPointer) {
        let size = elementSize(dtype), segments = sumSegments
        var bounds = [Int64](repeating: 0, count: segments + 1)
        for s in 0...segments { bounds[s] = Int64(n * s / segments) }
        withUnsafeTemporaryAllocation(byteCount: segments * 8, alignment: 8) { partials in
            let base = partials.baseAddress!
            bounds.withUnsafeBufferPointer { bounds in
                let boundsBase = bounds.baseAddress!
                for r in 0..<rows {
                    let row = input + r * n * size
                    ParallelLoop.run(count: segments, grain: 1) { range in
                        ember_reduce_segment_sums(op.c, dtype, row, boundsBase + range.lowerBound, Int64(range.count),
                                                  base + range.lowerBound * size)
                    }
                    ember_reduce_rows(op.combining.c, dtype, base, 1, Int64(segments), output + r * size)
                }
            }
        }
    }

    /// `output[o, i] = op over k of input[o, k, i]` for a contiguous `[outer, n, inner]` input.
    /// `output` holds `outer * inner` elements of `outputDType(op, for: dtype)`.
    public static func columns(_ op: ReductionOp, dtype: ember_dtype, input: UnsafeRawPointer,
                               outer: Int, count n: Int, inner: Int, output: UnsafeMutableRawPointer) {
        if inner == 1 {
            rows(op, dtype: dtype, input: input, rows: outer, count: n, output: output)
            return
        }
        let inSize = elementSize(dtype)
        let outSize = elementSize(outputDType(op, for: dtype))
        // Work items: (outer index, tile of `inner`); tiles of at least 64 columns.
        let tilesPerSlab = Swift.max(1, Swift.min(ParallelLoop.threadCount, inner / 64))
        let items = outer * tilesPerSlab
        let perItem = Swift.max(1, n * inner / tilesPerSlab)
        ParallelLoop.run(count: items, grain: Swift.max(1, grain / perItem)) { range in
            for item in range {
                let o = item / tilesPerSlab, tile = item % tilesPerSlab
                let start = inner * tile / tilesPerSlab, end = inner * (tile + 1) / tilesPerSlab
                ember_reduce_column_tile(op.c, dtype, input + (o * n * inner + start) * inSize, Int64(n),
                                         Int64(inner), Int64(end - start), output + (o * inner + start) * outSize)
            }
        }
    }

    /// Index of the first maximum (`max: true`) or minimum of each row of `[rows, n]`; NaN counts
    /// as the extreme and its first index wins, as in PyTorch.
    public static func argRows(max isMax: Bool, dtype: ember_dtype, input: UnsafeRawPointer, rows: Int,
                               count n: Int, output: UnsafeMutablePointer<Int64>) {
        let inSize = elementSize(dtype)
        let threads = ParallelLoop.threadCount
        if rows >= threads || n < 2 * grain || threads <= 1 {
            ParallelLoop.run(count: rows, grain: Swift.max(1, grain / Swift.max(n, 1))) { range in
                ember_arg_reduce_rows(isMax, dtype, input + range.lowerBound * n * inSize, Int64(range.count),
                                      Int64(n), output + range.lowerBound)
            }
            return
        }
        let chunks = Swift.min(threads, n / grain)
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: chunks) { partials in
            let base = partials.baseAddress!
            for r in 0..<rows {
                let row = input + r * n * inSize
                ParallelLoop.run(count: chunks, grain: 1) { range in
                    for c in range {
                        let start = n * c / chunks, end = n * (c + 1) / chunks
                        ember_arg_reduce_rows(isMax, dtype, row + start * inSize, 1, Int64(end - start), base + c)
                        base[c] += Int64(start)
                    }
                }
                // The chunk winners in order: gather their values and pick the first extreme.
                var best = base[0]
                for c in 1..<chunks where better(isMax, dtype, row, base[c], than: best) { best = base[c] }
                output[r] = best
            }
        }
    }

    /// Whether element `i` of `row` beats element `j` (NaN beats numbers; ties keep `j`).
    private static func better(_ isMax: Bool, _ dtype: ember_dtype, _ row: UnsafeRawPointer,
                               _ i: Int64, than j: Int64) -> Bool {
        func compare<T: Comparable>(_ type: T.Type, isNaN: (T) -> Bool) -> Bool {
            let a = row.load(fromByteOffset: Int(i) * MemoryLayout<T>.stride, as: T.self)
            let b = row.load(fromByteOffset: Int(j) * MemoryLayout<T>.stride, as: T.self)
            if isNaN(b) { return false }
            if isNaN(a) { return true }
            return isMax ? a > b : a < b
        }
        switch dtype {
        case EMBER_FLOAT32: return compare(Float.self) { $0.isNaN }
        case EMBER_FLOAT64: return compare(Double.self) { $0.isNaN }
        case EMBER_INT32: return compare(Int32.self) { _ in false }
        case EMBER_INT64: return compare(Int64.self) { _ in false }
        default: return compare(UInt8.self) { _ in false }
        }
    }

    /// Index along the middle axis of `[outer, n, inner]` of the first maximum or minimum.
    public static func argColumns(max isMax: Bool, dtype: ember_dtype, input: UnsafeRawPointer, outer: Int,
                                  count n: Int, inner: Int, output: UnsafeMutablePointer<Int64>) {
        let inSize = elementSize(dtype)
        ParallelLoop.run(count: outer, grain: Swift.max(1, grain / Swift.max(n * inner, 1))) { range in
            ember_arg_reduce_columns(isMax, dtype, input + range.lowerBound * n * inner * inSize,
                                     Int64(range.count), Int64(n), Int64(inner), output + range.lowerBound * inner)
        }
    }

    /// softmax or log_softmax over the last axis of `[rows, n]` (float32 or float64); `output`
    /// may be `input`.
    public static func softmaxRows(_ op: SoftmaxOp, dtype: ember_dtype, input: UnsafeRawPointer, rows: Int,
                                   count n: Int, output: UnsafeMutableRawPointer) {
        let size = elementSize(dtype)
        ParallelLoop.run(count: rows, grain: Swift.max(1, grain / 4 / Swift.max(n, 1))) { range in
            ember_softmax_rows(op.c, dtype, input + range.lowerBound * n * size, Int64(range.count), Int64(n),
                               output + range.lowerBound * n * size)
        }
    }

    /// softmax or log_softmax over the middle axis of `[outer, n, inner]` (float32 or float64).
    public static func softmaxColumns(_ op: SoftmaxOp, dtype: ember_dtype, input: UnsafeRawPointer, outer: Int,
                                      count n: Int, inner: Int, output: UnsafeMutableRawPointer) {
        let size = elementSize(dtype)
        ParallelLoop.run(count: outer, grain: Swift.max(1, grain / 4 / Swift.max(n * inner, 1))) { range in
            ember_softmax_columns(op.c, dtype, input + range.lowerBound * n * inner * size, Int64(range.count),
                                  Int64(n), Int64(inner), output + range.lowerBound * n * inner * size)
        }
    }

    /// `output[r] = log(sum(exp(input[r, :])))` for `[rows, n]` (float32 or float64).
    public static func logSumExpRows(dtype: ember_dtype, input: UnsafeRawPointer, rows: Int, count n: Int,
                                     output: UnsafeMutableRawPointer) {
        let size = elementSize(dtype)
        ParallelLoop.run(count: rows, grain: Swift.max(1, grain / 4 / Swift.max(n, 1))) { range in
            ember_logsumexp_rows(dtype, input + range.lowerBound * n * size, Int64(range.count), Int64(n),
                                 output + range.lowerBound * size)
        }
    }
}
