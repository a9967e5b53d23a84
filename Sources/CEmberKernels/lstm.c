// Fused LSTM cell pointwise kernels (ember_recurrent.h). The float32 forward runs the AVX2
// sigmoid/tanh of vector_math_avx2.c when the CPU has them (the NEON ones of vector_math_neon.c
// on aarch64), so it gives the same values as the unfused ops; otherwise (and for float64) the
// scalar formulas of unary_impl.h:
// sigmoid(v) = 1 / (1 + exp(-v)), tanh from libm. Products are rounded one at a time
// (f * c_prev and i * g separately, then added), as the unfused ops round them.
#include <math.h>
#include "ember_recurrent.h"
#include "vector_math_internal.h"

#define DEFINE_LSTM(REAL, SUFFIX, EXP, TANH)                                                        \
    static void lstm_forward_##SUFFIX(const REAL *ig, const REAL *hg, const REAL *cp, REAL *h,     \
                                      REAL *c, REAL *saved, int64_t rows, int64_t H) {              \
        for (int64_t r = 0; r < rows; r++) {                                                        \
            const REAL *a = ig + r * 4 * H, *b = hg ? hg + r * 4 * H : 0;                           \
            REAL *s = saved ? saved + r * 5 * H : 0;                                                \
            for (int64_t j = 0; j < H; j++) {                                                       \
                REAL zi = a[j], zf = a[H + j], zg = a[2 * H + j], zo = a[3 * H + j];               \
                if (b) { zi = zi + b[j]; zf = zf + b[H + j]; zg = zg + b[2 * H + j]; zo = zo + b[3 * H + j]; } \
                REAL i = 1 / (1 + EXP(-zi)), f = 1 / (1 + EXP(-zf)), g = TANH(zg), o = 1 / (1 + EXP(-zo)); \
                REAL fc = f * cp[r * H + j];                                                        \
                REAL ig_ = i * g;                                                                   \
                REAL cell = fc + ig_;                                                               \
                REAL tc = TANH(cell);                                                               \
                c[r * H + j] = cell;                                                                \
                h[r * H + j] = o * tc;                                                              \
                if (s) { s[j] = i; s[H + j] = f; s[2 * H + j] = g; s[3 * H + j] = o; s[4 * H + j] = tc; } \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    static void lstm_backward_##SUFFIX(const REAL *saved, const REAL *cp, const REAL *gh,           \
                                       const REAL *gc, REAL *gg, REAL *gcp, int64_t rows, int64_t H) { \
        for (int64_t r = 0; r < rows; r++) {                                                        \
            const REAL *s = saved + r * 5 * H;                                                      \
            REAL *d = gg + r * 4 * H;                                                               \
            for (int64_t j = 0; j < H; j++) {                                                       \
                REAL i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j], tc = s[4 * H + j]; \
                REAL dh = gh[r * H + j];                                                            \
                REAL dc = gc[r * H + j] + dh * o * (1 - tc * tc);                                   \
                REAL di = dc * g, df = dc * cp[r * H + j], dg = dc * i, dout = dh * tc;            \
                d[j] = di * i * (1 - i);                                                            \
                d[H + j] = df * f * (1 - f);                                                        \
                d[2 * H + j] = dg * (1 - g * g);                                                    \
                d[3 * H + j] = dout * o * (1 - o);                                                  \
                gcp[r * H + j] = dc * f;                                                            \
            }                                                                                       \
        }                                                                                           \
    }

DEFINE_LSTM(float, f32, expf, tanhf)
DEFINE_LSTM(double, f64, exp, tanh)

void ember_lstm_cell_forward(ember_dtype dtype, const void *input_gates, const void *hidden_gates,
                             const void *c_prev, void *h, void *c, void *saved, int64_t rows, int64_t hidden) {
    if (dtype == EMBER_FLOAT64) {
        lstm_forward_f64(input_gates, hidden_gates, c_prev, h, c, saved, rows, hidden);
        return;
    }
#if defined(__x86_64__)
    if (ember_cpu_level() >= 1) {
        ember_lstm_cell_forward_f32_avx2(input_gates, hidden_gates, c_prev, h, c, saved, rows, hidden);
        return;
    }
#elif defined(__aarch64__)
    if (ember_cpu_level() == 3) {
        ember_lstm_cell_forward_f32_neon(input_gates, hidden_gates, c_prev, h, c, saved, rows, hidden);
        return;
    }
#endif
    lstm_forward_f32(input_gates, hidden_gates, c_prev, h, c, saved, rows, hidden);
}

void ember_lstm_cell_backward(ember_dtype dtype, const void *saved, const void *c_prev, const void *grad_h,
                              const void *grad_c, void *grad_gates, void *grad_c_prev, int64_t rows, int64_t hidden) {
    if (dtype == EMBER_FLOAT64) {
        lstm_backward_f64(saved, c_prev, grad_h, grad_c, grad_gates, grad_c_prev, rows, hidden);
    } else {
        lstm_backward_f32(saved, c_prev, grad_h, grad_c, grad_gates, grad_c_prev, rows, hidden);
    }
}
