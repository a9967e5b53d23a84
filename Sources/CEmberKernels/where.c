// Selection by a bool mask: out = cond ? a : b.
#include <string.h>
#include "ember_elementwise.h"
#include "strided_loop.h"

// `where` has four operands, one more than the shared strided loop carries; it is rare
// enough on hot paths that a plain odometer over all four is the clearer choice.
static size_t size_of(ember_dtype dtype) {
    switch (dtype) {
    case EMBER_FLOAT64: case EMBER_INT64: return 8;
    case EMBER_FLOAT32: case EMBER_INT32: return 4;
    case EMBER_FLOAT16: case EMBER_BFLOAT16: return 2;
    default: return 1;
    }
}

void ember_where(ember_dtype dtype, int ndim, const int64_t *shape, void *out,
                 const int64_t *out_strides, const bool *cond, const int64_t *cond_strides,
                 const void *a, const int64_t *a_strides, const void *b, const int64_t *b_strides) {
    const size_t size = size_of(dtype);
    int64_t index[EMBER_MAX_DIMS] = {0};
    int64_t total = 1;
    for (int d = 0; d < ndim; d++) total *= shape[d];
    for (int64_t i = 0; i < total; i++) {
        int64_t o = 0, c = 0, x = 0, y = 0;
        for (int d = 0; d < ndim; d++) {
            o += index[d] * out_strides[d];
            c += index[d] * cond_strides[d];
            x += index[d] * a_strides[d];
            y += index[d] * b_strides[d];
        }
        const char *source = cond[c] ? (const char *)a + x * (int64_t)size : (const char *)b + y * (int64_t)size;
        memcpy((char *)out + o * (int64_t)size, source, size);
        for (int d = ndim - 1; d >= 0; d--) {
            if (++index[d] < shape[d]) break;
            index[d] = 0;
        }
    }
}
