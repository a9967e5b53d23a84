// Strided copies with dtype conversion: the kernel behind contiguous(), to(dtype:) and copy_.
#include <string.h>
#include "ember_elementwise.h"
#include "strided_loop.h"

// Every element goes through double except same-dtype copies, which move bits. Integers
// above 2^53 only lose precision when converted to a float type, where they must anyway.
static inline double load_as_double(ember_dtype dtype, const char *p) {
    switch (dtype) {
    case EMBER_FLOAT32: return *(const float *)p;
    case EMBER_FLOAT64: return *(const double *)p;
    case EMBER_FLOAT16: return ember_half_to_float(*(const uint16_t *)p);
    case EMBER_BFLOAT16: return ember_bfloat16_to_float(*(const uint16_t *)p);
    case EMBER_INT32: return *(const int32_t *)p;
    case EMBER_INT64: return (double)*(const int64_t *)p;
    case EMBER_UINT8: return *(const uint8_t *)p;
    case EMBER_BOOL: return *(const bool *)p ? 1.0 : 0.0;
    }
    return 0;
}

static inline int64_t saturating_int64(double v) {
    if (v != v) return 0;
    if (v >= 9.2233720368547758e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)v;
}

static inline void store_from_double(ember_dtype dtype, char *p, double v) {
    switch (dtype) {
    case EMBER_FLOAT32: *(float *)p = (float)v; break;
    case EMBER_FLOAT64: *(double *)p = v; break;
    case EMBER_FLOAT16: *(uint16_t *)p = ember_float_to_half((float)v); break;
    case EMBER_BFLOAT16: *(uint16_t *)p = ember_float_to_bfloat16((float)v); break;
    // Out-of-range float to integer casts are undefined in C; wrap through int64 like
    // PyTorch does on x86 instead of trapping.
    case EMBER_INT32: *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)saturating_int64(v); break;
    case EMBER_INT64: *(int64_t *)p = saturating_int64(v); break;
    case EMBER_UINT8: *(uint8_t *)p = (uint8_t)(uint64_t)saturating_int64(v); break;
    case EMBER_BOOL: *(bool *)p = v != 0; break;
    }
}

static size_t element_size(ember_dtype dtype) {
    switch (dtype) {
    case EMBER_FLOAT64: case EMBER_INT64: return 8;
    case EMBER_FLOAT32: case EMBER_INT32: return 4;
    case EMBER_FLOAT16: case EMBER_BFLOAT16: return 2;
    case EMBER_UINT8: case EMBER_BOOL: return 1;
    }
    return 1;
}

#define SAME_TYPE_INNER(T)                                                                       \
    static void copy_inner_##T(int64_t n, T *d, int64_t ds, const T *s, int64_t ss) {            \
        if (ds == 1 && ss == 1) { memcpy(d, s, (size_t)n * sizeof(T)); return; }                \
        if (ss == 0) { T v = *s; for (int64_t i = 0; i < n; i++) d[i * ds] = v; return; }        \
        for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];                                   \
    }
SAME_TYPE_INNER(uint8_t)
SAME_TYPE_INNER(uint16_t)
SAME_TYPE_INNER(uint32_t)
SAME_TYPE_INNER(uint64_t)

// The strided loop hands three operands to its inner body; copies use two, so the third
// repeats the source and is ignored.
#define COPY_SAME(T)                                                                             \
    do {                                                                                         \
        T *d = (T *)dst;                                                                         \
        const T *s = (const T *)src;                                                             \
        EMBER_STRIDED_LOOP3(ndim, shape, T, d, dst_strides, const T, s, src_strides, const T,    \
                            s, src_strides, COPY_INNER_##T);                                      \
    } while (0)
#define COPY_INNER_uint8_t(n, d, ds, s, ss, u, us) copy_inner_uint8_t(n, d, ds, s, ss)
#define COPY_INNER_uint16_t(n, d, ds, s, ss, u, us) copy_inner_uint16_t(n, d, ds, s, ss)
#define COPY_INNER_uint32_t(n, d, ds, s, ss, u, us) copy_inner_uint32_t(n, d, ds, s, ss)
#define COPY_INNER_uint64_t(n, d, ds, s, ss, u, us) copy_inner_uint64_t(n, d, ds, s, ss)

// Mixed dtypes: byte pointers advanced by byte strides, one conversion per element.
#define CONVERT_INNER(n, dp, dstride, sp, sstride, u, us)                                         \
    for (int64_t i_ = 0; i_ < (n); i_++)                                                         \
        store_from_double(dst_dtype, (dp) + i_ * (dstride), load_as_double(src_dtype, (sp) + i_ * (sstride)))

// Typed loops for the conversions that sit on hot paths (masks to floats in backward rules,
// float32 <-> float64, integers to floats): one plain cast per element, which clang
// vectorises, instead of the per-element dtype switch of the general path. Float-to-integer
// conversions are excluded: they need the saturating path, since out-of-range casts are
// undefined behaviour in C.
#define FAST_CONVERT_LOOP(DT, ST)                                                                 \
    do {                                                                                         \
        DT *d_ = (DT *)dst;                                                                      \
        const ST *s_ = (const ST *)src;                                                          \
        if (ds == 1 && ss == 1) { for (int64_t i = 0; i < n; i++) d_[i] = (DT)s_[i]; }           \
        else { for (int64_t i = 0; i < n; i++) d_[i * ds] = (DT)s_[i * ss]; }                    \
    } while (0)
#define FAST_CONVERT_FROM(ST)                                                                    \
    switch (dst_dtype) {                                                                         \
    case EMBER_FLOAT32: FAST_CONVERT_LOOP(float, ST); return 1;                                  \
    case EMBER_FLOAT64: FAST_CONVERT_LOOP(double, ST); return 1;                                 \
    default: return 0;                                                                           \
    }

static int fast_convert_1d(ember_dtype dst_dtype, ember_dtype src_dtype, int64_t n, void *dst,
                           int64_t ds, const void *src, int64_t ss) {
    switch (src_dtype) {
    case EMBER_FLOAT32: FAST_CONVERT_FROM(float)
    case EMBER_FLOAT64: FAST_CONVERT_FROM(double)
    case EMBER_INT32: FAST_CONVERT_FROM(int32_t)
    case EMBER_INT64: FAST_CONVERT_FROM(int64_t)
    case EMBER_UINT8: FAST_CONVERT_FROM(uint8_t)
    case EMBER_BOOL: FAST_CONVERT_FROM(uint8_t)   // bools are stored as 0 or 1
    default: return 0;
    }
}

void ember_copy(ember_dtype dst_dtype, ember_dtype src_dtype, int ndim, const int64_t *shape,
                void *dst, const int64_t *dst_strides, const void *src, const int64_t *src_strides) {
    if (ndim == 1 && dst_dtype != src_dtype &&
        fast_convert_1d(dst_dtype, src_dtype, shape[0], dst, dst_strides[0], src, src_strides[0])) {
        return;
    }
    if (dst_dtype == src_dtype) {
        switch (element_size(dst_dtype)) {
        case 1: COPY_SAME(uint8_t); return;
        case 2: COPY_SAME(uint16_t); return;
        case 4: COPY_SAME(uint32_t); return;
        default: COPY_SAME(uint64_t); return;
        }
    }
    const int64_t dsize = (int64_t)element_size(dst_dtype);
    const int64_t ssize = (int64_t)element_size(src_dtype);
    int64_t dst_bytes[EMBER_MAX_DIMS], src_bytes[EMBER_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        dst_bytes[i] = dst_strides[i] * dsize;
        src_bytes[i] = src_strides[i] * ssize;
    }
    char *d = (char *)dst;
    const char *s = (const char *)src;
    EMBER_STRIDED_LOOP3(ndim, shape, char, d, dst_bytes, const char, s, src_bytes, const char,
                        s, src_bytes, CONVERT_INNER);
}

void ember_fill(ember_dtype dtype, void *dst, int64_t count, double value) {
    char scratch[8];
    store_from_double(dtype, scratch, value);
    switch (element_size(dtype)) {
    case 1: memset(dst, scratch[0], (size_t)count); break;
    case 2: { uint16_t v; memcpy(&v, scratch, 2); for (int64_t i = 0; i < count; i++) ((uint16_t *)dst)[i] = v; break; }
    case 4: { uint32_t v; memcpy(&v, scratch, 4); for (int64_t i = 0; i < count; i++) ((uint32_t *)dst)[i] = v; break; }
    default: { uint64_t v; memcpy(&v, scratch, 8); for (int64_t i = 0; i < count; i++) ((uint64_t *)dst)[i] = v; break; }
    }
}
