// Portable variant of the elementwise kernels, and the entry points that pick a variant.
#define EMBER_VARIANT generic
#include "elementwise_impl.h"

void ember_binary_avx2(ember_binary_op, ember_dtype, int, const int64_t *, void *, const int64_t *,
                       const void *, const int64_t *, const void *, const int64_t *);
void ember_compare_avx2(ember_compare_op, ember_dtype, int, const int64_t *, bool *,
                        const int64_t *, const void *, const int64_t *, const void *,
                        const int64_t *);

void ember_axpy_avx2(ember_dtype, int64_t, double, const void *, void *);

void ember_binary(ember_binary_op op, ember_dtype dtype, int ndim, const int64_t *shape, void *out,
                  const int64_t *out_strides, const void *a, const int64_t *a_strides,
                  const void *b, const int64_t *b_strides) {
#if defined(__x86_64__)
    if (ember_cpu_level() >= 1) {
        ember_binary_avx2(op, dtype, ndim, shape, out, out_strides, a, a_strides, b, b_strides);
        return;
    }
#endif
    ember_binary_generic(op, dtype, ndim, shape, out, out_strides, a, a_strides, b, b_strides);
}

void ember_compare(ember_compare_op op, ember_dtype dtype, int ndim, const int64_t *shape, bool *out,
                   const int64_t *out_strides, const void *a, const int64_t *a_strides,
                   const void *b, const int64_t *b_strides) {
#if defined(__x86_64__)
    if (ember_cpu_level() >= 1) {
        ember_compare_avx2(op, dtype, ndim, shape, out, out_strides, a, a_strides, b, b_strides);
        return;
    }
#endif
    ember_compare_generic(op, dtype, ndim, shape, out, out_strides, a, a_strides, b, b_strides);
}

void ember_axpy(ember_dtype dtype, int64_t n, double alpha, const void *x, void *y) {
#if defined(__x86_64__)
    if (ember_cpu_level() >= 1) {
        ember_axpy_avx2(dtype, n, alpha, x, y);
        return;
    }
#endif
    ember_axpy_generic(dtype, n, alpha, x, y);
}
