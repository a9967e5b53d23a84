// Scalar definitions of the floating unary operations, written once for float and double.
// REAL is the element type and F(name) picks the libm function of that precision.
// The caller defines UNARY_FUNCTION_NAME, REAL and F before including this file.
#include <math.h>
#include "ember_elementwise.h"

void UNARY_FUNCTION_NAME(ember_unary_op op, const REAL *x, REAL *y, int64_t n, double p0, double p1) {
    const REAL a = (REAL)p0, b = (REAL)p1;
    switch (op) {
#define LOOP(EXPR) for (int64_t i = 0; i < n; i++) { const REAL v = x[i]; y[i] = (EXPR); } break
    case EMBER_NEG: LOOP(-v);
    case EMBER_ABS: LOOP(F(fabs)(v));
    case EMBER_EXP: LOOP(F(exp)(v));
    case EMBER_EXP2: LOOP(F(exp2)(v));
    case EMBER_LOG: LOOP(F(log)(v));
    case EMBER_LOG2: LOOP(F(log2)(v));
    case EMBER_LOG1P: LOOP(F(log1p)(v));
    case EMBER_EXPM1: LOOP(F(expm1)(v));
    case EMBER_SQRT: LOOP(F(sqrt)(v));
    case EMBER_RSQRT: LOOP(1 / F(sqrt)(v));
    case EMBER_RECIPROCAL: LOOP(1 / v);
    case EMBER_SQUARE: LOOP(v * v);
    case EMBER_SIN: LOOP(F(sin)(v));
    case EMBER_COS: LOOP(F(cos)(v));
    case EMBER_TAN: LOOP(F(tan)(v));
    case EMBER_TANH: LOOP(F(tanh)(v));
    // 1 / (1 + e^-v) overflows gracefully: e^-v = inf gives 0, never NaN.
    case EMBER_SIGMOID: LOOP(1 / (1 + F(exp)(-v)));
    // NaN passes through relu as in PyTorch (v > 0 is false for NaN, so test v <= 0).
    case EMBER_RELU: LOOP(v <= 0 ? 0 : v);
    case EMBER_GELU: LOOP((REAL)0.5 * v * (1 + F(erf)(v * (REAL)0.70710678118654752440)));
    case EMBER_GELU_TANH:
        LOOP((REAL)0.5 * v * (1 + F(tanh)((REAL)0.79788456080286535588 * (v + (REAL)0.044715 * v * v * v))));
    case EMBER_SILU: LOOP(v / (1 + F(exp)(-v)));
    // softplus(v) = log(1 + e^(beta v)) / beta, linear above the threshold (p0 = beta, p1 = threshold).
    case EMBER_SOFTPLUS: LOOP(v * a > b ? v : F(log1p)(F(exp)(v * a)) / a);
    case EMBER_ELU: LOOP(v > 0 ? v : a * F(expm1)(v));
    case EMBER_LEAKY_RELU: LOOP(v > 0 ? v : a * v);
    case EMBER_ERF: LOOP(F(erf)(v));
    case EMBER_FLOOR: LOOP(F(floor)(v));
    case EMBER_CEIL: LOOP(F(ceil)(v));
    case EMBER_ROUND: LOOP(F(nearbyint)(v)); // half to even, as torch.round
    case EMBER_TRUNC: LOOP(F(trunc)(v));
    case EMBER_SIGN: LOOP(v > 0 ? 1 : (v < 0 ? -1 : v)); // keeps 0, -0 and NaN
    // clamp: NaN stays NaN; a NaN bound is ignored by fmax/fmin, so the bounds come as +-inf when absent.
    case EMBER_CLAMP: LOOP(v != v ? v : F(fmin)(F(fmax)(v, a), b));
    case EMBER_LOGICAL_NOT: LOOP(v == 0 ? 1 : 0);
    default: break;
#undef LOOP
    }
}
