// Private declarations shared by the vector math files (not part of the public headers).
#ifndef EMBER_VECTOR_MATH_INTERNAL_H
#define EMBER_VECTOR_MATH_INTERNAL_H

#include "ember_elementwise.h"

#if defined(__x86_64__)
/// AVX2+FMA variant of `ember_unary_f32_vector`; call only when `ember_cpu_level() >= 1`.
/// Returns 1 when it handled `op`, 0 for operations it leaves to the scalar loop.
int ember_unary_f32_avx2(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1);
/// AVX2+FMA float32 forward of the fused LSTM cell (ember_recurrent.h); `hg` and `saved` may be NULL.
void ember_lstm_cell_forward_f32_avx2(const float *ig, const float *hg, const float *cp, float *h, float *c,
                                      float *saved, int64_t rows, int64_t H);
#elif defined(__aarch64__)
/// NEON variant of `ember_unary_f32_vector` (vector_math_neon.c), for `ember_cpu_level() == 3`;
/// the same operations as the AVX2 one, with the same results.
int ember_unary_f32_neon(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1);
/// NEON float32 forward of the fused LSTM cell, as `ember_lstm_cell_forward_f32_avx2`.
void ember_lstm_cell_forward_f32_neon(const float *ig, const float *hg, const float *cp, float *h, float *c,
                                      float *saved, int64_t rows, int64_t H);
#endif

#endif
