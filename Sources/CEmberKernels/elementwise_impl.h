// Binary, comparison and select kernels, written once and compiled per instruction set:
// a variant file defines EMBER_VARIANT (the name suffix) and wraps this include in a
// `#pragma clang attribute push(target(...))`, so clang vectorises the contiguous inner
// loops for that instruction set without any compiler flag.
#include <math.h>
#include "ember_elementwise.h"
#include "strided_loop.h"

// The integer macros test `y == -1` and signs; for uint8 those tests are constant, on purpose.
#pragma clang diagnostic ignored "-Wtautological-constant-out-of-range-compare"
#pragma clang diagnostic ignored "-Wtautological-unsigned-zero-compare"

#define EMBER_CAT_(a, b) a##_##b
#define EMBER_CAT(a, b) EMBER_CAT_(a, b)
#define VARIANT(name) EMBER_CAT(name, EMBER_VARIANT)

// One inner loop per operation; the contiguous case is a separate loop so that it vectorises,
// and a broadcast scalar on either side gets its own loop too.
#define BINARY_LOOPS(EXPR)                                                                      \
    if (os == 1 && as == 1 && bs == 1) {                                                        \
        for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; out[i] = (EXPR); }              \
    } else if (os == 1 && as == 1 && bs == 0) {                                                 \
        const T y = *b;                                                                         \
        for (int64_t i = 0; i < n; i++) { T x = a[i]; out[i] = (EXPR); }                        \
    } else if (os == 1 && as == 0 && bs == 1) {                                                 \
        const T x = *a;                                                                         \
        for (int64_t i = 0; i < n; i++) { T y = b[i]; out[i] = (EXPR); }                        \
    } else {                                                                                    \
        for (int64_t i = 0; i < n; i++) { T x = a[i * as], y = b[i * bs]; out[i * os] = (EXPR); } \
    }

// NaN-propagating maximum and minimum, as PyTorch's.
#define FMAXIMUM(x, y) ((x) != (x) ? (x) : ((y) != (y) ? (y) : ((x) > (y) ? (x) : (y))))
#define FMINIMUM(x, y) ((x) != (x) ? (x) : ((y) != (y) ? (y) : ((x) < (y) ? (x) : (y))))

#define DEFINE_FLOAT_INNER(TYPE, SUFFIX, POW, FMOD, FLOOR, ATAN2)                                  \
    static void VARIANT(binary_inner_##SUFFIX)(ember_binary_op op, int64_t n, TYPE *out, int64_t os, \
                                               const TYPE *a, int64_t as, const TYPE *b, int64_t bs) { \
        typedef TYPE T;                                                                         \
        switch (op) {                                                                           \
        case EMBER_ADD: BINARY_LOOPS(x + y) break;                                              \
        case EMBER_SUB: BINARY_LOOPS(x - y) break;                                              \
        case EMBER_MUL: BINARY_LOOPS(x * y) break;                                              \
        case EMBER_DIV: BINARY_LOOPS(x / y) break;                                              \
        case EMBER_MAXIMUM: BINARY_LOOPS(FMAXIMUM(x, y)) break;                                 \
        case EMBER_MINIMUM: BINARY_LOOPS(FMINIMUM(x, y)) break;                                 \
        case EMBER_POW: BINARY_LOOPS(POW(x, y)) break;                                          \
        case EMBER_REMAINDER:                                                                   \
            BINARY_LOOPS(({ T r_ = FMOD(x, y); (r_ != 0 && ((r_ < 0) != (y < 0))) ? r_ + y : r_; })) \
            break;                                                                              \
        case EMBER_FLOOR_DIVIDE: BINARY_LOOPS(FLOOR(x / y)) break;                              \
        case EMBER_ATAN2: BINARY_LOOPS(ATAN2(x, y)) break;                                      \
        default: break;                                                                         \
        }                                                                                       \
    }

DEFINE_FLOAT_INNER(float, f32, powf, fmodf, floorf, atan2f)
DEFINE_FLOAT_INNER(double, f64, pow, fmod, floor, atan2)

// Integer arithmetic wraps like PyTorch's (done in unsigned types to stay defined in C);
// division by zero gives 0 instead of trapping.
#define WRAP(T, U, e) ((T)(U)(e))
#define INT_POW(T, x, y)                                                                         \
    ({ T base_ = (x), result_ = 1; int64_t e_ = (int64_t)(y);                                   \
       if (e_ < 0) result_ = (base_ == 1) ? 1 : (base_ == -1 ? ((e_ & 1) ? -1 : 1) : 0);        \
       else while (e_ > 0) { if (e_ & 1) result_ = (T)(result_ * base_); base_ = (T)(base_ * base_); e_ >>= 1; } \
       result_; })
#define INT_FLOORDIV(T, x, y)                                                                    \
    ({ T q_ = 0; if ((y) == 0) q_ = 0; else if ((y) == -1) q_ = (T)(0 - (x));                   \
       else { q_ = (T)((x) / (y)); if (((x) % (y) != 0) && (((x) < 0) != ((y) < 0))) q_ -= 1; }  \
       q_; })
#define INT_REMAINDER(T, x, y)                                                                   \
    ({ T r_ = 0; if ((y) != 0 && (y) != -1) { r_ = (T)((x) % (y));                              \
       if (r_ != 0 && ((r_ < 0) != ((y) < 0))) r_ = (T)(r_ + (y)); } r_; })

#define DEFINE_INT_INNER(TYPE, U, SUFFIX)                                                          \
    static void VARIANT(binary_inner_##SUFFIX)(ember_binary_op op, int64_t n, TYPE *out, int64_t os, \
                                               const TYPE *a, int64_t as, const TYPE *b, int64_t bs) { \
        typedef TYPE T;                                                                         \
        switch (op) {                                                                           \
        case EMBER_ADD: BINARY_LOOPS(WRAP(T, U, (U)x + (U)y)) break;                            \
        case EMBER_SUB: BINARY_LOOPS(WRAP(T, U, (U)x - (U)y)) break;                            \
        case EMBER_MUL: BINARY_LOOPS(WRAP(T, U, (U)x * (U)y)) break;                            \
        case EMBER_DIV: BINARY_LOOPS(INT_FLOORDIV(T, x, y)) break;                              \
        case EMBER_MAXIMUM: BINARY_LOOPS(x > y ? x : y) break;                                  \
        case EMBER_MINIMUM: BINARY_LOOPS(x < y ? x : y) break;                                  \
        case EMBER_POW: BINARY_LOOPS(INT_POW(T, x, y)) break;                                   \
        case EMBER_REMAINDER: BINARY_LOOPS(INT_REMAINDER(T, x, y)) break;                       \
        case EMBER_FLOOR_DIVIDE: BINARY_LOOPS(INT_FLOORDIV(T, x, y)) break;                     \
        case EMBER_LOGICAL_AND: BINARY_LOOPS((T)(x & y)) break;                                 \
        case EMBER_LOGICAL_OR: BINARY_LOOPS((T)(x | y)) break;                                  \
        case EMBER_LOGICAL_XOR: BINARY_LOOPS((T)(x ^ y)) break;                                 \
        default: break;                                                                         \
        }                                                                                       \
    }

DEFINE_INT_INNER(int32_t, uint32_t, i32)
DEFINE_INT_INNER(int64_t, uint64_t, i64)
DEFINE_INT_INNER(uint8_t, uint8_t, u8)

// bool: + is or, * is and, as in PyTorch; the logical operations act on bools.
static void VARIANT(binary_inner_b8)(ember_binary_op op, int64_t n, bool *out, int64_t os,
                                     const bool *a, int64_t as, const bool *b, int64_t bs) {
    typedef bool T;
    switch (op) {
    case EMBER_ADD: case EMBER_MAXIMUM: case EMBER_LOGICAL_OR: BINARY_LOOPS(x | y) break;
    case EMBER_MUL: case EMBER_MINIMUM: case EMBER_LOGICAL_AND: BINARY_LOOPS(x & y) break;
    case EMBER_SUB: case EMBER_LOGICAL_XOR: BINARY_LOOPS(x ^ y) break;
    default: break;
    }
}

#define RUN_BINARY(T, SUFFIX)                                                                   \
    do {                                                                                        \
        T *o_ = (T *)out; const T *a_ = (const T *)a; const T *b_ = (const T *)b;               \
        EMBER_STRIDED_LOOP3(ndim, shape, T, o_, out_strides, const T, a_, a_strides, const T,   \
                            b_, b_strides, INNER_##SUFFIX);                                      \
    } while (0)
#define INNER_f32(n, o, os, x, xs, y, ys) VARIANT(binary_inner_f32)(op, n, o, os, x, xs, y, ys)
#define INNER_f64(n, o, os, x, xs, y, ys) VARIANT(binary_inner_f64)(op, n, o, os, x, xs, y, ys)
#define INNER_i32(n, o, os, x, xs, y, ys) VARIANT(binary_inner_i32)(op, n, o, os, x, xs, y, ys)
#define INNER_i64(n, o, os, x, xs, y, ys) VARIANT(binary_inner_i64)(op, n, o, os, x, xs, y, ys)
#define INNER_u8(n, o, os, x, xs, y, ys) VARIANT(binary_inner_u8)(op, n, o, os, x, xs, y, ys)
#define INNER_b8(n, o, os, x, xs, y, ys) VARIANT(binary_inner_b8)(op, n, o, os, x, xs, y, ys)

void VARIANT(ember_binary)(ember_binary_op op, ember_dtype dtype, int ndim, const int64_t *shape,
                           void *out, const int64_t *out_strides, const void *a,
                           const int64_t *a_strides, const void *b, const int64_t *b_strides) {
    switch (dtype) {
    case EMBER_FLOAT32: RUN_BINARY(float, f32); break;
    case EMBER_FLOAT64: RUN_BINARY(double, f64); break;
    case EMBER_INT32: RUN_BINARY(int32_t, i32); break;
    case EMBER_INT64: RUN_BINARY(int64_t, i64); break;
    case EMBER_UINT8: RUN_BINARY(uint8_t, u8); break;
    case EMBER_BOOL: RUN_BINARY(bool, b8); break;
    default: break; // 16-bit floats are computed in float32 by the caller
    }
}

// Comparisons write bools; the operands share a dtype.
#define COMPARE_LOOPS(T, EXPR)                                                                  \
    if (os == 1 && as == 1 && bs == 1) {                                                        \
        for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; out[i] = (EXPR); }              \
    } else {                                                                                    \
        for (int64_t i = 0; i < n; i++) { T x = a[i * as], y = b[i * bs]; out[i * os] = (EXPR); } \
    }
#define DEFINE_COMPARE_INNER(T, SUFFIX)                                                         \
    static void VARIANT(compare_inner_##SUFFIX)(ember_compare_op op, int64_t n, bool *out,      \
                                                int64_t os, const T *a, int64_t as, const T *b,  \
                                                int64_t bs) {                                    \
        switch (op) {                                                                           \
        case EMBER_EQ: COMPARE_LOOPS(T, x == y) break;                                          \
        case EMBER_NE: COMPARE_LOOPS(T, x != y) break;                                          \
        case EMBER_LT: COMPARE_LOOPS(T, x < y) break;                                           \
        case EMBER_LE: COMPARE_LOOPS(T, x <= y) break;                                          \
        case EMBER_GT: COMPARE_LOOPS(T, x > y) break;                                           \
        case EMBER_GE: COMPARE_LOOPS(T, x >= y) break;                                          \
        }                                                                                       \
    }
DEFINE_COMPARE_INNER(float, f32)
DEFINE_COMPARE_INNER(double, f64)
DEFINE_COMPARE_INNER(int32_t, i32)
DEFINE_COMPARE_INNER(int64_t, i64)
DEFINE_COMPARE_INNER(uint8_t, u8)
DEFINE_COMPARE_INNER(bool, b8)

#define RUN_COMPARE(T, SUFFIX)                                                                  \
    do {                                                                                        \
        const T *a_ = (const T *)a; const T *b_ = (const T *)b;                                 \
        EMBER_STRIDED_LOOP3(ndim, shape, bool, out, out_strides, const T, a_, a_strides,        \
                            const T, b_, b_strides, CMP_##SUFFIX);                               \
    } while (0)
#define CMP_f32(n, o, os, x, xs, y, ys) VARIANT(compare_inner_f32)(op, n, o, os, x, xs, y, ys)
#define CMP_f64(n, o, os, x, xs, y, ys) VARIANT(compare_inner_f64)(op, n, o, os, x, xs, y, ys)
#define CMP_i32(n, o, os, x, xs, y, ys) VARIANT(compare_inner_i32)(op, n, o, os, x, xs, y, ys)
#define CMP_i64(n, o, os, x, xs, y, ys) VARIANT(compare_inner_i64)(op, n, o, os, x, xs, y, ys)
#define CMP_u8(n, o, os, x, xs, y, ys) VARIANT(compare_inner_u8)(op, n, o, os, x, xs, y, ys)
#define CMP_b8(n, o, os, x, xs, y, ys) VARIANT(compare_inner_b8)(op, n, o, os, x, xs, y, ys)

void VARIANT(ember_compare)(ember_compare_op op, ember_dtype dtype, int ndim, const int64_t *shape,
                            bool *out, const int64_t *out_strides, const void *a,
                            const int64_t *a_strides, const void *b, const int64_t *b_strides) {
    switch (dtype) {
    case EMBER_FLOAT32: RUN_COMPARE(float, f32); break;
    case EMBER_FLOAT64: RUN_COMPARE(double, f64); break;
    case EMBER_INT32: RUN_COMPARE(int32_t, i32); break;
    case EMBER_INT64: RUN_COMPARE(int64_t, i64); break;
    case EMBER_UINT8: RUN_COMPARE(uint8_t, u8); break;
    case EMBER_BOOL: RUN_COMPARE(bool, b8); break;
    default: break;
    }
}

// y += alpha * x over n contiguous float32 or float64 elements: `add_(other, alpha:)` in one
// pass (the optimizers' parameter and momentum updates), instead of writing alpha * x to a
// temporary and adding it. alpha is rounded to the element type and the product is rounded
// before the sum (no fused multiply-add), so the bits are those of the two-op form on every
// instruction set.
void VARIANT(ember_axpy)(ember_dtype dtype, int64_t n, double alpha, const void *x, void *y) {
#pragma clang fp contract(off)
    if (dtype == EMBER_FLOAT32) {
        const float a = (float)alpha;
        const float *restrict xs = x;
        float *restrict ys = y;
        for (int64_t i = 0; i < n; i++) ys[i] = ys[i] + a * xs[i];
    } else if (dtype == EMBER_FLOAT64) {
        const double *restrict xs = x;
        double *restrict ys = y;
        for (int64_t i = 0; i < n; i++) ys[i] = ys[i] + alpha * xs[i];
    }
}
