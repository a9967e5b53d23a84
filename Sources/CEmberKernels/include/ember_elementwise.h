#ifndef EMBER_ELEMENTWISE_H
#define EMBER_ELEMENTWISE_H

#include "ember_types.h"

/// Strided copy with dtype conversion; shapes and strides count elements.
/// Float to integer conversion truncates toward zero; anything to bool tests for non-zero.
void ember_copy(ember_dtype dst_dtype, ember_dtype src_dtype, int ndim, const int64_t *shape,
                void *dst, const int64_t *dst_strides, const void *src, const int64_t *src_strides);

/// Fills `count` contiguous elements of `dtype` with `value` (converted to the dtype).
void ember_fill(ember_dtype dtype, void *dst, int64_t count, double value);

/// Binary operations; `out`, `a` and `b` share `dtype` (the caller promotes first).
typedef enum {
    EMBER_ADD = 0, EMBER_SUB, EMBER_MUL, EMBER_DIV, EMBER_MAXIMUM, EMBER_MINIMUM, EMBER_POW,
    EMBER_REMAINDER, EMBER_FLOOR_DIVIDE, EMBER_ATAN2, EMBER_LOGICAL_AND, EMBER_LOGICAL_OR,
    EMBER_LOGICAL_XOR,
} ember_binary_op;

void ember_binary(ember_binary_op op, ember_dtype dtype, int ndim, const int64_t *shape,
                  void *out, const int64_t *out_strides,
                  const void *a, const int64_t *a_strides,
                  const void *b, const int64_t *b_strides);

/// y += alpha * x over `n` contiguous float32 or float64 elements (other dtypes: no-op), with
/// alpha rounded to the dtype and the product rounded before the sum, as `y + alpha * x` in two
/// operations would.
void ember_axpy(ember_dtype dtype, int64_t n, double alpha, const void *x, void *y);

typedef enum { EMBER_EQ = 0, EMBER_NE, EMBER_LT, EMBER_LE, EMBER_GT, EMBER_GE } ember_compare_op;

/// Comparisons of two operands of `dtype`, writing bools (one byte each).
void ember_compare(ember_compare_op op, ember_dtype dtype, int ndim, const int64_t *shape,
                   bool *out, const int64_t *out_strides,
                   const void *a, const int64_t *a_strides,
                   const void *b, const int64_t *b_strides);

/// out = cond ? a : b, all strided; `a`, `b` and `out` share `dtype`.
void ember_where(ember_dtype dtype, int ndim, const int64_t *shape,
                 void *out, const int64_t *out_strides,
                 const bool *cond, const int64_t *cond_strides,
                 const void *a, const int64_t *a_strides,
                 const void *b, const int64_t *b_strides);

/// Unary operations. Floating kernels take contiguous input and output of `n` elements;
/// `p0`/`p1` carry parameters (clamp bounds, ELU alpha, leaky slope, softplus beta/threshold).
typedef enum {
    EMBER_NEG = 0, EMBER_ABS, EMBER_EXP, EMBER_EXP2, EMBER_LOG, EMBER_LOG2, EMBER_LOG1P,
    EMBER_EXPM1, EMBER_SQRT, EMBER_RSQRT, EMBER_RECIPROCAL, EMBER_SQUARE, EMBER_SIN, EMBER_COS,
    EMBER_TAN, EMBER_TANH, EMBER_SIGMOID, EMBER_RELU, EMBER_GELU, EMBER_GELU_TANH, EMBER_SILU,
    EMBER_SOFTPLUS, EMBER_ELU, EMBER_LEAKY_RELU, EMBER_ERF, EMBER_FLOOR, EMBER_CEIL, EMBER_ROUND,
    EMBER_TRUNC, EMBER_SIGN, EMBER_CLAMP, EMBER_LOGICAL_NOT, EMBER_UNARY_OP_COUNT,
} ember_unary_op;

void ember_unary_f32(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1);
void ember_unary_f64(ember_unary_op op, const double *x, double *y, int64_t n, double p0, double p1);

/// Integer and bool unary kernels (neg, abs, square, sign, relu, clamp, logical not).
void ember_unary_integer(ember_unary_op op, ember_dtype dtype, const void *x, void *y, int64_t n,
                         double p0, double p1);

#endif
