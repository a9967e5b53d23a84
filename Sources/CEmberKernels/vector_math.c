// Vectorised float32 transcendental and activation functions: the dispatcher.
// `ember_unary_f32` (unary.c) calls this first; a return of 0 means "not handled here", and
// the scalar libm loop in unary_impl.h runs instead. The kernels are written once in
// vector_math_impl.h; the AVX2+FMA variant (vector_math_avx2.c) is chosen at run time from
// CPUID, so the package needs no flags; AVX-512 machines take the AVX2 variant, which is within
// a few percent for these memory-bound loops. On aarch64 the NEON variant of vector_math_neon.c
// runs (NEON is always there).
// Other architectures fall back to the scalar loop.
#include "ember_elementwise.h"
#include "vector_math_internal.h"

int ember_unary_f32_vector(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1) {
#if defined(__x86_64__)
    if (ember_cpu_level() >= 1) return ember_unary_f32_avx2(op, x, y, n, p0, p1);
#elif defined(__aarch64__)
    if (ember_cpu_level() == 3) return ember_unary_f32_neon(op, x, y, n, p0, p1);
#endif
    (void)op; (void)x; (void)y; (void)n; (void)p0; (void)p1;
    return 0;
}
