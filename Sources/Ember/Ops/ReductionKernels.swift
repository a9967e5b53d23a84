import CEmberKernels
import EmberKernels

/// The reductions the kernels implement; the raw values match `ember_reduce_op`.
enum ReduceOp: UInt32, Sendable {
    case sum = 0, prod, max, min, sumSquares, any, all

    /// The dtype the kernel writes for an input of `dtype` (`ember_reduce_output_dtype`):
    /// integer and bool sums and products are int64, any/all are bool, max/min keep the dtype.
    func outputType(for dtype: DType) -> DType {
        switch self {
        case .any, .all: return .bool
        case .sum, .prod, .sumSquares: return dtype.isFloatingPoint ? dtype : .int64
        case .max, .min: return dtype
        }
    }

    /// The op that combines partial results of this op.
    var combiner: ReduceOp { self == .sumSquares ? .sum : self }
}

/// The one place where Ember calls reduction kernels over contiguous memory, in two shapes:
/// rows `[rows, n] -> [rows]` and columns `[outer, n, inner] -> [outer, inner]`. Everything
/// above (dims, keepDim, dtypes, autograd) is in `Reductions.swift`; everything below is a
/// plain loop over a buffer. Threads are split here.
///
/// The loops below are the first, portable version: float32 accumulates in Double with four
/// independent accumulators, so it is both accurate and quick enough. The vectorised C kernels
/// (`ember_reduce.h`) replace the bodies of `rowsKernel`, `columnTile`, `argKernel` and
/// `softmaxKernel` one for one.
enum ReductionKernel {
    /// Elements per thread below which a reduction runs on the calling thread.
    static let grain = 1 << 16

    /// out[o, i] = op over k of in[o, k, i]; `input` is contiguous `[outer, n, inner]` of
    /// `dtype`, `output` is `[outer, inner]` of `op.outputType(for: dtype)`.
    static func reduce(_ op: ReduceOp, _ dtype: DType, _ input: UnsafeRawPointer, outer: Int, n: Int, inner: Int,
                       _ output: UnsafeMutableRawPointer) {
        let inSize = dtype.byteSize, outSize = op.outputType(for: dtype).byteSize
        let threads = ParallelLoop.threadCount
        let total = outer * n * inner
        if inner == 1 {
            if outer >= threads || total < 2 * grain || threads == 1 {
                ParallelLoop.run(count: outer, grain: max(1, grain / max(n, 1))) { range in
                    rowsKernel(op, dtype, input + range.lowerBound * n * inSize, rows: range.count, n: n,
                               output + range.lowerBound * outSize)
                }
                return
            }
            // Few long rows (e.g. sum() of a big tensor): each thread reduces a chunk of a
            // row, and the partial results are combined with the same kernel.
            let chunks = min(threads, max(1, n / grain))
            let partials = UnsafeMutableRawPointer.allocate(byteCount: chunks * outSize, alignment: 16)
            defer { partials.deallocate() }
            let combineType = op.outputType(for: dtype)
            for row in 0..<outer {
                let base = input + row * n * inSize
                ParallelLoop.run(count: chunks, grain: 1) { range in
                    for chunk in range {
                        let start = n * chunk / chunks, end = n * (chunk + 1) / chunks
                        rowsKernel(op, dtype, base + start * inSize, rows: 1, n: end - start, partials + chunk * outSize)
                    }
                }
                rowsKernel(op.combiner, combineType, partials, rows: 1, n: chunks, output + row * outSize)
            }
            return
        }
        // Columns: split the [outer, inner] outputs into tiles of at least 64 columns.
        let tile = max(64, min(inner, grain / max(n, 1)))
        let tilesPerRow = (inner + tile - 1) / tile
        ParallelLoop.run(count: outer * tilesPerRow, grain: max(1, grain / max(n * tile, 1))) { range in
            for index in range {
                let o = index / tilesPerRow, start = (index % tilesPerRow) * tile
                let count = min(tile, inner - start)
                columnTile(op, dtype, input + (o * n * inner + start) * inSize, n: n, rowStride: inner, count: count,
                           output + (o * inner + start) * outSize)
            }
        }
    }

    /// Index of the first maximum (or minimum) along the middle axis of `[outer, n, inner]`.
    static func argReduce(isMax: Bool, _ dtype: DType, _ input: UnsafeRawPointer, outer: Int, n: Int, inner: Int,
                          _ output: UnsafeMutablePointer<Int64>) {
        let inSize = dtype.byteSize
        ParallelLoop.run(count: outer, grain: max(1, grain / max(n * inner, 1))) { range in
            for o in range {
                argKernel(isMax: isMax, dtype, input + o * n * inner * inSize, n: n, inner: inner, output + o * inner)
            }
        }
    }

    /// softmax or log-softmax along the middle axis of contiguous `[outer, n, inner]`
    /// (float32 or float64); `output` has the same shape.
    static func softmax(log: Bool, _ dtype: DType, _ input: UnsafeRawPointer, outer: Int, n: Int, inner: Int,
                        _ output: UnsafeMutableRawPointer) {
        let size = dtype.byteSize
        ParallelLoop.run(count: outer, grain: max(1, grain / 8 / max(n * inner, 1))) { range in
            for o in range {
                let offset = o * n * inner * size
                switch dtype {
                case .float32:
                    softmaxKernel(log: log, (input + offset).assumingMemoryBound(to: Float.self), n: n, inner: inner,
                                  (output + offset).assumingMemoryBound(to: Float.self))
                default:
                    softmaxKernel(log: log, (input + offset).assumingMemoryBound(to: Double.self), n: n, inner: inner,
                                  (output + offset).assumingMemoryBound(to: Double.self))
                }
            }
        }
    }
}

// MARK: - Portable loops (replaced by the C kernels)

extension ReductionKernel {
    static func rowsKernel(_ op: ReduceOp, _ dtype: DType, _ input: UnsafeRawPointer, rows: Int, n: Int,
                           _ output: UnsafeMutableRawPointer) {
        for row in 0..<rows {
            columnTile(op, dtype, input + row * n * dtype.byteSize, n: n, rowStride: 1, count: 1,
                       output + row * op.outputType(for: dtype).byteSize)
        }
    }

    /// out[i] = op over k in 0..<n of in[k * rowStride + i], for i in 0..<count.
    static func columnTile(_ op: ReduceOp, _ dtype: DType, _ input: UnsafeRawPointer, n: Int, rowStride: Int,
                           count: Int, _ output: UnsafeMutableRawPointer) {
        let outType = op.outputType(for: dtype)
        for i in 0..<count {
            switch dtype {
            case .float32:
                let value = floatLine(op, input.assumingMemoryBound(to: Float.self) + i, n: n, stride: rowStride)
                store(value, outType, output, i)
            case .float64:
                let value = floatLine(op, input.assumingMemoryBound(to: Double.self) + i, n: n, stride: rowStride)
                store(value, outType, output, i)
            case .int64:
                store(integerLine(op, input.assumingMemoryBound(to: Int64.self) + i, n: n, stride: rowStride), outType, output, i)
            case .int32:
                store(integerLine(op, input.assumingMemoryBound(to: Int32.self) + i, n: n, stride: rowStride), outType, output, i)
            case .uint8, .bool:
                store(integerLine(op, input.assumingMemoryBound(to: UInt8.self) + i, n: n, stride: rowStride), outType, output, i)
            case .float16, .bfloat16:
                preconditionFailure("reduction kernels take float32 for 16-bit floats")
            }
        }
    }

    @inline(__always)
    private static func store(_ value: Double, _ type: DType, _ output: UnsafeMutableRawPointer, _ index: Int) {
        switch type {
        case .float32: output.assumingMemoryBound(to: Float.self)[index] = Float(value)
        case .bool: output.assumingMemoryBound(to: Bool.self)[index] = value != 0
        default: output.assumingMemoryBound(to: Double.self)[index] = value
        }
    }

    @inline(__always)
    private static func store(_ value: Int64, _ type: DType, _ output: UnsafeMutableRawPointer, _ index: Int) {
        switch type {
        case .int64: output.assumingMemoryBound(to: Int64.self)[index] = value
        case .int32: output.assumingMemoryBound(to: Int32.self)[index] = Int32(truncatingIfNeeded: value)
        case .bool: output.assumingMemoryBound(to: Bool.self)[index] = value != 0
        default: output.assumingMemoryBound(to: UInt8.self)[index] = UInt8(truncatingIfNeeded: value)
        }
    }

    private static func floatLine<T: BinaryFloatingPoint>(_ op: ReduceOp, _ x: UnsafePointer<T>, n: Int, stride: Int) -> Double {
        switch op {
        case .sum, .sumSquares:
            let squares = op == .sumSquares
            var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
            var k = 0
            while k + 4 <= n {
                var v0 = Double(x[k * stride]), v1 = Double(x[(k + 1) * stride])
                var v2 = Double(x[(k + 2) * stride]), v3 = Double(x[(k + 3) * stride])
                if squares { v0 *= v0; v1 *= v1; v2 *= v2; v3 *= v3 }
                a0 += v0; a1 += v1; a2 += v2; a3 += v3
                k += 4
            }
            while k < n {
                let v = Double(x[k * stride])
                a0 += squares ? v * v : v
                k += 1
            }
            return (a0 + a1) + (a2 + a3)
        case .prod:
            var p = 1.0
            for k in 0..<n { p *= Double(x[k * stride]) }
            return p
        case .max, .min:
            var m = op == .max ? -Double.infinity : Double.infinity
            for k in 0..<n {
                let v = Double(x[k * stride])
                if v.isNaN { return .nan }
                m = op == .max ? Swift.max(m, v) : Swift.min(m, v)
            }
            return m
        case .any:
            for k in 0..<n where x[k * stride] != 0 || x[k * stride].isNaN { return 1 }
            return 0
        case .all:
            for k in 0..<n where x[k * stride] == 0 { return 0 }
            return 1
        }
    }

    private static func integerLine<T: BinaryInteger>(_ op: ReduceOp, _ x: UnsafePointer<T>, n: Int, stride: Int) -> Int64 {
        switch op {
        case .sum, .sumSquares:
            var s: Int64 = 0
            for k in 0..<n { s &+= Int64(x[k * stride]) }
            return s
        case .prod:
            var p: Int64 = 1
            for k in 0..<n { p &*= Int64(x[k * stride]) }
            return p
        case .max, .min:
            guard n > 0 else { return 0 }
            var m = Int64(x[0])
            for k in 1..<Swift.max(n, 1) {
                let v = Int64(x[k * stride])
                m = op == .max ? Swift.max(m, v) : Swift.min(m, v)
            }
            return m
        case .any:
            for k in 0..<n where x[k * stride] != 0 { return 1 }
            return 0
        case .all:
            for k in 0..<n where x[k * stride] == 0 { return 0 }
            return 1
        }
    }

    static func argKernel(isMax: Bool, _ dtype: DType, _ input: UnsafeRawPointer, n: Int, inner: Int,
                          _ output: UnsafeMutablePointer<Int64>) {
        for i in 0..<inner {
            var best = 0
            var bestValue = 0.0
            for k in 0..<n {
                let index = k * inner + i
                let v: Double
                switch dtype {
                case .float32: v = Double(input.assumingMemoryBound(to: Float.self)[index])
                case .float64: v = input.assumingMemoryBound(to: Double.self)[index]
                case .int64: v = Double(input.assumingMemoryBound(to: Int64.self)[index])
                case .int32: v = Double(input.assumingMemoryBound(to: Int32.self)[index])
                default: v = Double(input.assumingMemoryBound(to: UInt8.self)[index])
                }
                if k == 0 { best = 0; bestValue = v; if v.isNaN { break }; continue }
                // NaN is the extreme and its first index wins, as in PyTorch.
                if v.isNaN { best = k; break }
                if isMax ? v > bestValue : v < bestValue { best = k; bestValue = v }
            }
            output[i] = Int64(best)
        }
    }

    static func softmaxKernel<T: BinaryFloatingPoint>(log: Bool, _ x: UnsafePointer<T>, n: Int, inner: Int,
                                                      _ y: UnsafeMutablePointer<T>) {
        for i in 0..<inner {
            var m = -Double.infinity
            for k in 0..<n {
                let v = Double(x[k * inner + i])
                if v.isNaN || v > m { m = v }
                if v.isNaN { break }
            }
            // A row that is all -inf has no finite maximum: softmax is NaN there, as in PyTorch.
            var total = 0.0
            for k in 0..<n { total += libmExp(Double(x[k * inner + i]) - m) }
            let logTotal = libmLog(total)
            for k in 0..<n {
                let shifted = Double(x[k * inner + i]) - m
                y[k * inner + i] = T(log ? shifted - logTotal : libmExp(shifted) / total)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func libmExp(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) func libmLog(_ x: Double) -> Double { Glibc.log(x) }
#else
import Darwin
@inline(__always) func libmExp(_ x: Double) -> Double { Darwin.exp(x) }
@inline(__always) func libmLog(_ x: Double) -> Double { Darwin.log(x) }
#endif
