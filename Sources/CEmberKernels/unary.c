// Unary kernels: the scalar (libm) definitions for float and double, integer kernels, and
// the entry points. Vectorised float32 variants for the transcendental functions live in
// vector_math*.c and are chosen here when the CPU has them.
#include "ember_elementwise.h"

#define UNARY_FUNCTION_NAME ember_unary_f32_scalar
#define REAL float
#define F(name) name##f
#include "unary_impl.h"
#undef UNARY_FUNCTION_NAME
#undef REAL
#undef F

#define UNARY_FUNCTION_NAME ember_unary_f64
#define REAL double
#define F(name) name
#include "unary_impl.h"
#undef UNARY_FUNCTION_NAME
#undef REAL
#undef F

// Implemented by the vector math files: returns 1 when it handled the operation.
int ember_unary_f32_vector(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1);

void ember_unary_f32(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1) {
    if (ember_unary_f32_vector(op, x, y, n, p0, p1)) return;
    ember_unary_f32_scalar(op, x, y, n, p0, p1);
}

// Converts a clamp bound to the integer type, saturating (infinite bounds mean "none"):
// a plain cast of an out-of-range double is undefined behaviour in C.
#define SATURATE(T, v, lo_limit, hi_limit) ((v) != (v) ? (T)0 : (v) <= (double)(lo_limit) ? (T)(lo_limit) : (v) >= (double)(hi_limit) ? (T)(hi_limit) : (T)(v))

#define INTEGER_UNARY(T, SIGNED, MIN, MAX)                                                       \
    do {                                                                                         \
        const T *in = (const T *)x;                                                              \
        T *out = (T *)y;                                                                         \
        const T lo = SATURATE(T, p0, MIN, MAX), hi = SATURATE(T, p1, MIN, MAX);                  \
        switch (op) {                                                                            \
        case EMBER_NEG: for (int64_t i = 0; i < n; i++) out[i] = (T)(0 - in[i]); break;          \
        case EMBER_ABS: for (int64_t i = 0; i < n; i++) out[i] = (SIGNED && in[i] < 0) ? (T)(0 - in[i]) : in[i]; break; \
        case EMBER_SQUARE: for (int64_t i = 0; i < n; i++) out[i] = (T)(in[i] * in[i]); break;   \
        case EMBER_SIGN: for (int64_t i = 0; i < n; i++) out[i] = (T)((in[i] > 0) - (in[i] < 0)); break; \
        case EMBER_RELU: for (int64_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : 0; break;  \
        case EMBER_CLAMP: for (int64_t i = 0; i < n; i++) { T v = in[i] < lo ? lo : in[i]; out[i] = v > hi ? hi : v; } break; \
        case EMBER_FLOOR: case EMBER_CEIL: case EMBER_ROUND: case EMBER_TRUNC:                   \
            for (int64_t i = 0; i < n; i++) out[i] = in[i]; break;                               \
        default: break;                                                                          \
        }                                                                                        \
    } while (0)

void ember_unary_integer(ember_unary_op op, ember_dtype dtype, const void *x, void *y, int64_t n,
                         double p0, double p1) {
    if (op == EMBER_LOGICAL_NOT) {
        // Any integer type to bool.
        for (int64_t i = 0; i < n; i++) {
            bool zero;
            switch (dtype) {
            case EMBER_INT32: zero = ((const int32_t *)x)[i] == 0; break;
            case EMBER_INT64: zero = ((const int64_t *)x)[i] == 0; break;
            default: zero = ((const uint8_t *)x)[i] == 0; break;
            }
            ((bool *)y)[i] = zero;
        }
        return;
    }
    switch (dtype) {
    case EMBER_INT32: INTEGER_UNARY(int32_t, 1, INT32_MIN, INT32_MAX); break;
    case EMBER_INT64: INTEGER_UNARY(int64_t, 1, INT64_MIN, INT64_MAX); break;
    case EMBER_UINT8: INTEGER_UNARY(uint8_t, 0, 0, UINT8_MAX); break;
    case EMBER_BOOL: INTEGER_UNARY(uint8_t, 0, 0, 1); break;
    default: break;
    }
}
