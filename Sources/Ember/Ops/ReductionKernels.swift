import CEmberKernels
import EmberKernels

extension ReductionOp {
    /// The dtype the kernel writes for an input of `dtype` (`ember_reduce_output_dtype`):
    /// integer and bool sums and products are int64, any/all are bool, max/min keep the dtype
    /// (the kernels write bool max/min as uint8 0/1, which is the same byte as a bool).
    func outputType(for dtype: DType) -> DType {
        switch self {
        case .any, .all: return .bool
        case .sum, .prod, .sumOfSquares: return dtype.isFloatingPoint ? dtype : .int64
        case .max, .min: return dtype
        }
    }
}

/// The one place where the engine calls the reduction kernels, over contiguous
/// `[outer, n, inner]` memory (`ReductionLayout` arranges tensors into it). Threading and the
/// combining of partial results live in the EmberKernels `Reductions` driver.
enum ReductionKernel {
    /// out[o, i] = op over k of in[o, k, i]; `output` holds `[outer, inner]` of `op.outputType(for: dtype)`.
    static func reduce(_ op: ReductionOp, _ dtype: DType, _ input: UnsafeRawPointer, outer: Int, n: Int, inner: Int,
                       _ output: UnsafeMutableRawPointer) {
        Reductions.columns(op, dtype: dtype.cType, input: input, outer: outer, count: n, inner: inner, output: output)
    }

    /// Index of the first maximum (or minimum) along the middle axis of `[outer, n, inner]`.
    static func argReduce(isMax: Bool, _ dtype: DType, _ input: UnsafeRawPointer, outer: Int, n: Int, inner: Int,
                          _ output: UnsafeMutablePointer<Int64>) {
        if inner == 1 {
            Reductions.argRows(max: isMax, dtype: dtype.cType, input: input, rows: outer, count: n, output: output)
        } else {
            Reductions.argColumns(max: isMax, dtype: dtype.cType, input: input, outer: outer, count: n, inner: inner,
                                  output: output)
        }
    }

    /// softmax or log-softmax along the middle axis of contiguous `[outer, n, inner]`
    /// (float32 or float64); `output` has the same shape.
    static func softmax(log: Bool, _ dtype: DType, _ input: UnsafeRawPointer, outer: Int, n: Int, inner: Int,
                        _ output: UnsafeMutableRawPointer) {
        let op: SoftmaxOp = log ? .logSoftmax : .softmax
        if inner == 1 {
            Reductions.softmaxRows(op, dtype: dtype.cType, input: input, rows: outer, count: n, output: output)
        } else {
            Reductions.softmaxColumns(op, dtype: dtype.cType, input: input, outer: outer, count: n, inner: inner,
                                      output: output)
        }
    }

    /// log(sum(exp(in[r, :]))) for contiguous `[rows, n]` (float32 or float64).
    static func logSumExpRows(_ dtype: DType, _ input: UnsafeRawPointer, rows: Int, n: Int, _ output: UnsafeMutableRawPointer) {
        Reductions.logSumExpRows(dtype: dtype.cType, input: input, rows: rows, count: n, output: output)
    }
}
