#ifndef EMBER_REDUCE_H
#define EMBER_REDUCE_H

#include "ember_types.h"

// Reductions over contiguous data in two shapes. The engine makes a tensor contiguous with the
// reduced dimensions grouped, so every reduction is one of:
//   rows:    input [rows, n]         -> out[rows]          (reduce the last axis)
//   columns: input [outer, n, inner] -> out[outer, inner]  (reduce the middle axis; vectorised
//                                                            along `inner`, e.g. sum over dim 0)
// The kernels are single-threaded and stateless; the Swift `Reductions` enum (EmberKernels)
// splits the work across threads and, for one huge row, combines per-thread partial results
// with the same kernels. All sizes count elements; n = 0 is allowed everywhere (sum -> 0,
// prod -> 1, any -> false, all -> true; max/min/argmax of nothing is the caller's error, the
// kernels write -inf/+inf/0 rather than crash).

/// Reduction operations.
/// - SUM, PROD: float32 -> float32, float64 -> float64; int32, int64, uint8 and bool -> int64
///   (integers accumulate in int64, wrapping on overflow like PyTorch). float32 sums are
///   pairwise (blocks of 64 independent lanes, combined as a binary tree), so the error grows
///   with log(n), not n; float32 column sums and products accumulate in double.
/// - MAX, MIN: same dtype out as in (bool as uint8); NaN propagates (any NaN gives NaN).
/// - SUM_SQUARES: sum of x*x, float32 and float64 only (for norms).
/// - ANY, ALL: bool out for every dtype (non-zero is true; NaN is true).
typedef enum {
    EMBER_REDUCE_SUM = 0,
    EMBER_REDUCE_PROD,
    EMBER_REDUCE_MAX,
    EMBER_REDUCE_MIN,
    EMBER_REDUCE_SUM_SQUARES,
    EMBER_REDUCE_ANY,
    EMBER_REDUCE_ALL,
} ember_reduce_op;

/// The dtype `op` writes for input `dtype` (see `ember_reduce_op`).
ember_dtype ember_reduce_output_dtype(ember_reduce_op op, ember_dtype dtype);

/// out[r] = op(in[r, 0..<n]) for r in 0..<rows.
///
///     float x[6] = {1, 2, 3, 4, 5, 6}, s[2];
///     ember_reduce_rows(EMBER_REDUCE_SUM, EMBER_FLOAT32, x, 2, 3, s); // s = {6, 15}
void ember_reduce_rows(ember_reduce_op op, ember_dtype dtype, const void *in, int64_t rows, int64_t n,
                       void *out);

/// The most segments `ember_reduce_segment_sums` takes in one call.
#define EMBER_MAX_SEGMENTS 16

/// out[s] = the sum (op SUM) or the sum of squares (op SUM_SQUARES) of in[bounds[s] ..< bounds[s + 1]]
/// for s in 0..<count (count <= 16), float32 or float64, reading the segments in lockstep so that
/// several streams of memory reads are in flight. Each result is that segment's pairwise sum and
/// does not depend on the other segments of the call, nor on the instruction-set variant: a
/// caller that cuts a long row into fixed segments and hands runs of them to its threads gets
/// the same bits whatever the thread count. Other ops and dtypes write nothing.
void ember_reduce_segment_sums(ember_reduce_op op, ember_dtype dtype, const void *in, const int64_t *bounds,
                               int64_t count, void *out);

/// out[o, i] = op over k of in[o, k, i], for the contiguous [outer, n, inner] input.
void ember_reduce_columns(ember_reduce_op op, ember_dtype dtype, const void *in, int64_t outer,
                          int64_t n, int64_t inner, void *out);

/// One tile of a column reduction, for callers that split `inner` across threads:
/// out[i] = op over k in 0..<n of in[k * row_stride + i], for i in 0..<count.
void ember_reduce_column_tile(ember_reduce_op op, ember_dtype dtype, const void *in, int64_t n,
                              int64_t row_stride, int64_t count, void *out);

/// Index (int64) of the first maximum (`is_max`) or minimum of each row. NaN counts as the
/// extreme and its first index wins, as in PyTorch. float32, float64, int32, int64, uint8, bool.
void ember_arg_reduce_rows(bool is_max, ember_dtype dtype, const void *in, int64_t rows, int64_t n,
                           int64_t *out);

/// Index along the middle axis of [outer, n, inner] of the first maximum or minimum.
void ember_arg_reduce_columns(bool is_max, ember_dtype dtype, const void *in, int64_t outer, int64_t n,
                              int64_t inner, int64_t *out);

typedef enum { EMBER_SOFTMAX = 0, EMBER_LOG_SOFTMAX } ember_softmax_op;

/// softmax or log_softmax over the last axis of [rows, n] (float32 or float64; out may alias in).
/// Numerically stable (the row maximum is subtracted first). Like PyTorch, a row that is all
/// -inf, contains +inf, or contains NaN gives NaN.
void ember_softmax_rows(ember_softmax_op op, ember_dtype dtype, const void *in, int64_t rows, int64_t n,
                        void *out);

/// softmax or log_softmax over the middle axis of [outer, n, inner] (float32 or float64).
void ember_softmax_columns(ember_softmax_op op, ember_dtype dtype, const void *in, int64_t outer,
                           int64_t n, int64_t inner, void *out);

/// out[r] = log(sum exp(in[r, :])) (float32 or float64). All -inf (or n = 0) gives -inf, any +inf
/// gives +inf, NaN gives NaN.
void ember_logsumexp_rows(ember_dtype dtype, const void *in, int64_t rows, int64_t n, void *out);

#endif
