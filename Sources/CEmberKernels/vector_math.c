// Vectorised float32 transcendental functions. Placeholder dispatcher: no vector kernels yet,
// so every operation falls back to the scalar libm loop.
#include "ember_elementwise.h"

int ember_unary_f32_vector(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1) {
    (void)op; (void)x; (void)y; (void)n; (void)p0; (void)p1;
    return 0;
}
