// Entry points of the reductions (ember_reduce.h): dtype and instruction-set dispatch, the
// integer and bool kernels, and the softmax family built on the float kernels.
#include <math.h>
#include <stdlib.h>
#include "ember_reduce.h"
#include "ember_elementwise.h"

// The float kernels, one set per variant (reduce_impl.h).
#define DECLARE_VARIANT(V)                                                                         \
    float ember_row_reduce_f32_##V(ember_reduce_op, const float *, int64_t);                       \
    double ember_row_reduce_f64_##V(ember_reduce_op, const double *, int64_t);                     \
    void ember_column_tile_f32_##V(ember_reduce_op, const float *, int64_t, int64_t, int64_t, float *); \
    void ember_column_tile_f64_##V(ember_reduce_op, const double *, int64_t, int64_t, int64_t, double *); \
    int64_t ember_arg_row_f32_##V(int, const float *, int64_t);                                    \
    int64_t ember_arg_row_f64_##V(int, const double *, int64_t);                                    \
    void ember_segment_sums_f32_##V(const float *, const int64_t *, int64_t, float *);             \
    void ember_segment_sums_f64_##V(const double *, const int64_t *, int64_t, double *);           \
    void ember_segment_sum_squares_f32_##V(const float *, const int64_t *, int64_t, float *);      \
    void ember_segment_sum_squares_f64_##V(const double *, const int64_t *, int64_t, double *);
DECLARE_VARIANT(generic)
DECLARE_VARIANT(avx2)

#if defined(__x86_64__)
#define USE_AVX2 (ember_cpu_level() >= 1)
#else
#define USE_AVX2 0
#define ember_row_reduce_f32_avx2 ember_row_reduce_f32_generic
#define ember_row_reduce_f64_avx2 ember_row_reduce_f64_generic
#define ember_column_tile_f32_avx2 ember_column_tile_f32_generic
#define ember_column_tile_f64_avx2 ember_column_tile_f64_generic
#define ember_arg_row_f32_avx2 ember_arg_row_f32_generic
#define ember_arg_row_f64_avx2 ember_arg_row_f64_generic
#define ember_segment_sums_f32_avx2 ember_segment_sums_f32_generic
#define ember_segment_sums_f64_avx2 ember_segment_sums_f64_generic
#define ember_segment_sum_squares_f32_avx2 ember_segment_sum_squares_f32_generic
#define ember_segment_sum_squares_f64_avx2 ember_segment_sum_squares_f64_generic
#endif

static float row_f32(ember_reduce_op op, const float *x, int64_t n) {
    return USE_AVX2 ? ember_row_reduce_f32_avx2(op, x, n) : ember_row_reduce_f32_generic(op, x, n);
}
static double row_f64(ember_reduce_op op, const double *x, int64_t n) {
    return USE_AVX2 ? ember_row_reduce_f64_avx2(op, x, n) : ember_row_reduce_f64_generic(op, x, n);
}

ember_dtype ember_reduce_output_dtype(ember_reduce_op op, ember_dtype dtype) {
    switch (op) {
    case EMBER_REDUCE_ANY:
    case EMBER_REDUCE_ALL: return EMBER_BOOL;
    case EMBER_REDUCE_SUM:
    case EMBER_REDUCE_PROD:
        return (dtype == EMBER_FLOAT32 || dtype == EMBER_FLOAT64) ? dtype : EMBER_INT64;
    default: return dtype == EMBER_BOOL ? EMBER_UINT8 : dtype;
    }
}

// MARK: integer and bool kernels (clang vectorises these loops; integer sums are exact)

#define INTEGER_ROW(T)                                                                             \
    do {                                                                                           \
        const T *x = (const T *)row;                                                               \
        switch (op) {                                                                              \
        case EMBER_REDUCE_SUM: {                                                                   \
            uint64_t s = 0; /* unsigned: wraps like PyTorch, without undefined behaviour */        \
            for (int64_t i = 0; i < n; i++) s += (uint64_t)(int64_t)x[i];                          \
            *(int64_t *)out = (int64_t)s;                                                          \
            break;                                                                                 \
        }                                                                                          \
        case EMBER_REDUCE_PROD: {                                                                  \
            uint64_t p = 1;                                                                        \
            for (int64_t i = 0; i < n; i++) p *= (uint64_t)(int64_t)x[i];                          \
            *(int64_t *)out = (int64_t)p;                                                          \
            break;                                                                                 \
        }                                                                                          \
        case EMBER_REDUCE_MAX: {                                                                   \
            T m = n > 0 ? x[0] : 0;                                                                \
            for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;                               \
            *(T *)out = m;                                                                         \
            break;                                                                                 \
        }                                                                                          \
        case EMBER_REDUCE_MIN: {                                                                   \
            T m = n > 0 ? x[0] : 0;                                                                \
            for (int64_t i = 1; i < n; i++) m = x[i] < m ? x[i] : m;                               \
            *(T *)out = m;                                                                         \
            break;                                                                                 \
        }                                                                                          \
        default: break;                                                                            \
        }                                                                                          \
    } while (0)

static size_t dtype_size(ember_dtype dtype) {
    switch (dtype) {
    case EMBER_FLOAT64: case EMBER_INT64: return 8;
    case EMBER_FLOAT32: case EMBER_INT32: return 4;
    case EMBER_FLOAT16: case EMBER_BFLOAT16: return 2;
    default: return 1;
    }
}

/// any/all of one strided vector: non-zero is true (NaN is non-zero).
static bool any_all(bool all, ember_dtype dtype, const void *row, int64_t n, int64_t stride) {
#define ANY_ALL(T)                                                                                 \
    do {                                                                                           \
        const T *x = (const T *)row;                                                               \
        for (int64_t i = 0; i < n; i++) {                                                          \
            if ((x[i * stride] != 0) != all) return !all;                                          \
        }                                                                                          \
        return all;                                                                                \
    } while (0)
    switch (dtype) {
    case EMBER_FLOAT32: ANY_ALL(float);
    case EMBER_FLOAT64: ANY_ALL(double);
    case EMBER_INT32: ANY_ALL(int32_t);
    case EMBER_INT64: ANY_ALL(int64_t);
    default: ANY_ALL(uint8_t);
    }
#undef ANY_ALL
}

/// One row of any dtype; `out` points at one element of the output dtype.
static void reduce_one_row(ember_reduce_op op, ember_dtype dtype, const void *row, int64_t n, void *out) {
    if (op == EMBER_REDUCE_ANY || op == EMBER_REDUCE_ALL) {
        *(bool *)out = any_all(op == EMBER_REDUCE_ALL, dtype, row, n, 1);
        return;
    }
    switch (dtype) {
    case EMBER_FLOAT32: *(float *)out = row_f32(op, (const float *)row, n); break;
    case EMBER_FLOAT64: *(double *)out = row_f64(op, (const double *)row, n); break;
    case EMBER_INT32: INTEGER_ROW(int32_t); break;
    case EMBER_INT64: INTEGER_ROW(int64_t); break;
    case EMBER_UINT8: case EMBER_BOOL: INTEGER_ROW(uint8_t); break;
    default: break;
    }
}

void ember_reduce_rows(ember_reduce_op op, ember_dtype dtype, const void *in, int64_t rows, int64_t n,
                       void *out) {
    const size_t in_size = dtype_size(dtype);
    const size_t out_size = dtype_size(ember_reduce_output_dtype(op, dtype));
    for (int64_t r = 0; r < rows; r++) {
        reduce_one_row(op, dtype, (const char *)in + (size_t)(r * n) * in_size, n,
                       (char *)out + (size_t)r * out_size);
    }
}

void ember_reduce_segment_sums(ember_reduce_op op, ember_dtype dtype, const void *in, const int64_t *bounds,
                               int64_t count, void *out) {
    if (count > EMBER_MAX_SEGMENTS) count = EMBER_MAX_SEGMENTS;
    const int squares = op == EMBER_REDUCE_SUM_SQUARES;
    if (op != EMBER_REDUCE_SUM && !squares) return;
    if (dtype == EMBER_FLOAT32) {
        const float *x = (const float *)in;
        if (squares) (USE_AVX2 ? ember_segment_sum_squares_f32_avx2 : ember_segment_sum_squares_f32_generic)(x, bounds, count, (float *)out);
        else (USE_AVX2 ? ember_segment_sums_f32_avx2 : ember_segment_sums_f32_generic)(x, bounds, count, (float *)out);
    } else if (dtype == EMBER_FLOAT64) {
        const double *x = (const double *)in;
        if (squares) (USE_AVX2 ? ember_segment_sum_squares_f64_avx2 : ember_segment_sum_squares_f64_generic)(x, bounds, count, (double *)out);
        else (USE_AVX2 ? ember_segment_sums_f64_avx2 : ember_segment_sums_f64_generic)(x, bounds, count, (double *)out);
    }
}

void ember_reduce_column_tile(ember_reduce_op op, ember_dtype dtype, const void *in, int64_t n,
                              int64_t row_stride, int64_t count, void *out) {
    if (dtype == EMBER_FLOAT32 && op != EMBER_REDUCE_ANY && op != EMBER_REDUCE_ALL) {
        (USE_AVX2 ? ember_column_tile_f32_avx2 : ember_column_tile_f32_generic)(
            op, (const float *)in, n, row_stride, count, (float *)out);
        return;
    }
    if (dtype == EMBER_FLOAT64 && op != EMBER_REDUCE_ANY && op != EMBER_REDUCE_ALL) {
        (USE_AVX2 ? ember_column_tile_f64_avx2 : ember_column_tile_f64_generic)(
            op, (const double *)in, n, row_stride, count, (double *)out);
        return;
    }
    // Integers, bool, any/all: one strided column at a time (simple; these are rare and small).
    const size_t in_size = dtype_size(dtype);
    for (int64_t i = 0; i < count; i++) {
        const char *column = (const char *)in + (size_t)i * in_size;
        if (op == EMBER_REDUCE_ANY || op == EMBER_REDUCE_ALL) {
            ((bool *)out)[i] = any_all(op == EMBER_REDUCE_ALL, dtype, column, n, row_stride);
            continue;
        }
#define INTEGER_COLUMN(T, OUT_T, INIT, EXPR)                                                       \
        do {                                                                                       \
            const T *x = (const T *)column;                                                        \
            OUT_T acc = n > 0 ? (INIT) : 0;                                                        \
            for (int64_t k = (op == EMBER_REDUCE_SUM || op == EMBER_REDUCE_PROD) ? 0 : 1; k < n; k++) { \
                const T v = x[k * row_stride];                                                     \
                acc = (EXPR);                                                                      \
            }                                                                                      \
            ((OUT_T *)out)[i] = acc;                                                               \
        } while (0)
#define INTEGER_COLUMN_OPS(T)                                                                      \
        switch (op) {                                                                              \
        case EMBER_REDUCE_SUM: INTEGER_COLUMN(T, int64_t, 0, (int64_t)((uint64_t)acc + (uint64_t)(int64_t)v)); break; \
        case EMBER_REDUCE_PROD: INTEGER_COLUMN(T, int64_t, 1, (int64_t)((uint64_t)acc * (uint64_t)(int64_t)v)); break; \
        case EMBER_REDUCE_MAX: INTEGER_COLUMN(T, T, x[0], v > acc ? v : acc); break;              \
        case EMBER_REDUCE_MIN: INTEGER_COLUMN(T, T, x[0], v < acc ? v : acc); break;              \
        default: break;                                                                            \
        }
        if (n == 0 && op == EMBER_REDUCE_PROD) { ((int64_t *)out)[i] = 1; continue; }
        switch (dtype) {
        case EMBER_INT32: INTEGER_COLUMN_OPS(int32_t); break;
        case EMBER_INT64: INTEGER_COLUMN_OPS(int64_t); break;
        case EMBER_UINT8: case EMBER_BOOL: INTEGER_COLUMN_OPS(uint8_t); break;
        default: break;
        }
#undef INTEGER_COLUMN_OPS
#undef INTEGER_COLUMN
    }
}

void ember_reduce_columns(ember_reduce_op op, ember_dtype dtype, const void *in, int64_t outer,
                          int64_t n, int64_t inner, void *out) {
    if (inner == 1) {
        ember_reduce_rows(op, dtype, in, outer, n, out);
        return;
    }
    const size_t in_size = dtype_size(dtype);
    const size_t out_size = dtype_size(ember_reduce_output_dtype(op, dtype));
    for (int64_t o = 0; o < outer; o++) {
        ember_reduce_column_tile(op, dtype, (const char *)in + (size_t)(o * n * inner) * in_size, n, inner,
                                 inner, (char *)out + (size_t)(o * inner) * out_size);
    }
}

// MARK: argmax / argmin

/// First index of the extreme of a strided vector, for the integer types and the column case.
#define ARG_STRIDED(T)                                                                             \
    do {                                                                                           \
        const T *x = (const T *)data;                                                              \
        int64_t best = 0;                                                                          \
        T value = n > 0 ? x[0] : 0;                                                                \
        for (int64_t k = 1; k < n; k++) {                                                          \
            const T v = x[k * stride];                                                             \
            /* NaN wins over numbers; the first NaN or the first extreme is kept. */             \
            const int better = is_max ? (v > value || (v != v && value == value))                  \
                                      : (v < value || (v != v && value == value));                 \
            if (better) { best = k; value = v; }                                                   \
        }                                                                                          \
        return best;                                                                               \
    } while (0)

static int64_t arg_strided(bool is_max, ember_dtype dtype, const void *data, int64_t n, int64_t stride) {
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wtautological-compare"
    switch (dtype) {
    case EMBER_FLOAT32: ARG_STRIDED(float);
    case EMBER_FLOAT64: ARG_STRIDED(double);
    case EMBER_INT32: ARG_STRIDED(int32_t);
    case EMBER_INT64: ARG_STRIDED(int64_t);
    default: ARG_STRIDED(uint8_t);
    }
#pragma clang diagnostic pop
}

void ember_arg_reduce_rows(bool is_max, ember_dtype dtype, const void *in, int64_t rows, int64_t n,
                           int64_t *out) {
    const size_t size = dtype_size(dtype);
    for (int64_t r = 0; r < rows; r++) {
        const void *row = (const char *)in + (size_t)(r * n) * size;
        if (dtype == EMBER_FLOAT32) {
            out[r] = (USE_AVX2 ? ember_arg_row_f32_avx2 : ember_arg_row_f32_generic)(is_max, (const float *)row, n);
        } else if (dtype == EMBER_FLOAT64) {
            out[r] = (USE_AVX2 ? ember_arg_row_f64_avx2 : ember_arg_row_f64_generic)(is_max, (const double *)row, n);
        } else {
            out[r] = arg_strided(is_max, dtype, row, n, 1);
        }
    }
}

void ember_arg_reduce_columns(bool is_max, ember_dtype dtype, const void *in, int64_t outer, int64_t n,
                              int64_t inner, int64_t *out) {
    const size_t size = dtype_size(dtype);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            out[o * inner + i] = arg_strided(is_max, dtype, (const char *)in + (size_t)(o * n * inner + i) * size,
                                             n, inner);
        }
    }
}

// MARK: softmax, log_softmax, logsumexp

/// Row softmax / log_softmax in float32: max, x - max, vector exp, pairwise sum, then scale.
static void softmax_row_f32(ember_softmax_op op, const float *x, float *y, int64_t n) {
    const float m = row_f32(EMBER_REDUCE_MAX, x, n);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] - m;
    if (op == EMBER_SOFTMAX) {
        ember_unary_f32(EMBER_EXP, y, y, n, 0, 0);
        const float s = row_f32(EMBER_REDUCE_SUM, y, n);
        for (int64_t i = 0; i < n; i++) y[i] = y[i] / s;
    } else {
        // exp(x - m) only to sum it: in chunks through a stack buffer, y keeps x - m.
        double s = 0;
        float chunk[1024];
        for (int64_t start = 0; start < n; start += 1024) {
            const int64_t count = n - start < 1024 ? n - start : 1024;
            ember_unary_f32(EMBER_EXP, y + start, chunk, count, 0, 0);
            s += row_f32(EMBER_REDUCE_SUM, chunk, count);
        }
        const float log_s = logf((float)s);
        for (int64_t i = 0; i < n; i++) y[i] = y[i] - log_s;
    }
}

static void softmax_row_f64(ember_softmax_op op, const double *x, double *y, int64_t n) {
    const double m = row_f64(EMBER_REDUCE_MAX, x, n);
    if (op == EMBER_SOFTMAX) {
        for (int64_t i = 0; i < n; i++) y[i] = exp(x[i] - m);
        const double s = row_f64(EMBER_REDUCE_SUM, y, n);
        for (int64_t i = 0; i < n; i++) y[i] = y[i] / s;
    } else {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += exp(x[i] - m);
        const double log_s = log(s);
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) - log_s;
    }
}

void ember_softmax_rows(ember_softmax_op op, ember_dtype dtype, const void *in, int64_t rows, int64_t n,
                        void *out) {
    for (int64_t r = 0; r < rows; r++) {
        if (dtype == EMBER_FLOAT32) {
            softmax_row_f32(op, (const float *)in + r * n, (float *)out + r * n, n);
        } else if (dtype == EMBER_FLOAT64) {
            softmax_row_f64(op, (const double *)in + r * n, (double *)out + r * n, n);
        }
    }
}

void ember_logsumexp_rows(ember_dtype dtype, const void *in, int64_t rows, int64_t n, void *out) {
    for (int64_t r = 0; r < rows; r++) {
        if (dtype == EMBER_FLOAT32) {
            const float *x = (const float *)in + r * n;
            float m = row_f32(EMBER_REDUCE_MAX, x, n);
            // An infinite maximum is not subtracted (inf - inf would be NaN): all -inf sums
            // exp(-inf) = 0 to give -inf, and +inf gives +inf.
            if (isinf(m)) m = 0;
            double s = 0;
            float chunk[1024];
            for (int64_t start = 0; start < n; start += 1024) {
                const int64_t count = n - start < 1024 ? n - start : 1024;
                for (int64_t i = 0; i < count; i++) chunk[i] = x[start + i] - m;
                ember_unary_f32(EMBER_EXP, chunk, chunk, count, 0, 0);
                s += row_f32(EMBER_REDUCE_SUM, chunk, count);
            }
            ((float *)out)[r] = (float)(log(s) + m);
        } else if (dtype == EMBER_FLOAT64) {
            const double *x = (const double *)in + r * n;
            double m = row_f64(EMBER_REDUCE_MAX, x, n);
            if (isinf(m)) m = 0;
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += exp(x[i] - m);
            ((double *)out)[r] = log(s) + m;
        }
    }
}

/// Column softmax of one [n, inner] slab: per-column max and sum kept in double-size buffers.
#define SOFTMAX_COLUMNS(T, EXP, LOG)                                                               \
    do {                                                                                           \
        const T *x = (const T *)in + o * n * inner;                                                \
        T *y = (T *)out + o * n * inner;                                                           \
        T *m = (T *)scratch;                                                                       \
        double *s = (double *)scratch + inner;                                                     \
        ember_reduce_column_tile(EMBER_REDUCE_MAX, dtype, x, n, inner, inner, m);                  \
        for (int64_t i = 0; i < inner; i++) s[i] = 0;                                              \
        for (int64_t k = 0; k < n; k++) {                                                          \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                const T e = EXP(x[k * inner + i] - m[i]);                                          \
                s[i] += e;                                                                         \
                if (op == EMBER_SOFTMAX) y[k * inner + i] = e;                                     \
            }                                                                                      \
        }                                                                                          \
        for (int64_t k = 0; k < n; k++) {                                                          \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                if (op == EMBER_SOFTMAX) y[k * inner + i] = (T)(y[k * inner + i] / s[i]);          \
                else y[k * inner + i] = (x[k * inner + i] - m[i]) - (T)LOG(s[i]);                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

void ember_softmax_columns(ember_softmax_op op, ember_dtype dtype, const void *in, int64_t outer,
                           int64_t n, int64_t inner, void *out) {
    if (inner == 1) {
        ember_softmax_rows(op, dtype, in, outer, n, out);
        return;
    }
    double *scratch = malloc(sizeof(double) * 2 * (size_t)inner);
    if (!scratch) return;
    for (int64_t o = 0; o < outer; o++) {
        if (dtype == EMBER_FLOAT32) SOFTMAX_COLUMNS(float, expf, log);
        else if (dtype == EMBER_FLOAT64) SOFTMAX_COLUMNS(double, exp, log);
    }
    free(scratch);
}
