// Layer normalisation: the portable variant, the AVX2 variant (x86_64) and the entry points
// that pick one at run time. On aarch64 the portable variant is compiled with NEON.
#include <math.h>
#include "include/ember_norm.h"

#define EMBER_VARIANT generic
#include "layer_norm_impl.h"
#undef EMBER_VARIANT

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define EMBER_VARIANT avx2
#include "layer_norm_impl.h"
#undef EMBER_VARIANT
#pragma clang attribute pop
#endif

void ember_layer_norm_f32(const float *x, float *y, int64_t rows, int64_t n,
                          const float *weight, const float *bias, double eps) {
#if defined(__x86_64__)
    if (ember_cpu_level() >= 1) { ember_layer_norm_f32_avx2(x, y, rows, n, weight, bias, eps); return; }
#endif
    ember_layer_norm_f32_generic(x, y, rows, n, weight, bias, eps);
}

void ember_layer_norm_f64(const double *x, double *y, int64_t rows, int64_t n,
                          const double *weight, const double *bias, double eps) {
#if defined(__x86_64__)
    if (ember_cpu_level() >= 1) { ember_layer_norm_f64_avx2(x, y, rows, n, weight, bias, eps); return; }
#endif
    ember_layer_norm_f64_generic(x, y, rows, n, weight, bias, eps);
}
