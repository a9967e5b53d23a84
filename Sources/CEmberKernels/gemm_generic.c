// Portable variant of the GEMM kernels (any CPU), and the entry points that route each call to
// the variant its configuration names (gemm_avx2.c, gemm_avx512.c on x86_64; gemm_neon.c on
// aarch64, where this portable one runs only when a test forces level 0).
//
// The portable micro-kernel is plain C over a small accumulator array; clang keeps it in
// vector registers (SSE2 on x86_64, NEON on arm64). 4 x 8 floats and 4 x 4 doubles are 8
// 128-bit accumulators, which leaves room for the operands in the 16 registers of SSE2.
#include "ember_gemm.h"

#define GEMM_VARIANT generic
#define GEMM_MR_F32 4
#define GEMM_NR_F32 8
#define GEMM_MR_F64 4
#define GEMM_NR_F64 4

#define DEFINE_PORTABLE_MICRO(T, SUFFIX, MR, NR)                                                      \
    static inline __attribute__((always_inline)) void gemm_micro_##SUFFIX(                           \
        int64_t kc, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc, T alpha,   \
        T beta) {                                                                                    \
        T acc[MR][NR] = {{0}};                                                                       \
        for (int64_t p = 0; p < kc; p++, a += MR, b += NR)                                           \
            for (int i = 0; i < MR; i++)                                                             \
                for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];                               \
        for (int i = 0; i < MR; i++)                                                                 \
            for (int j = 0; j < NR; j++)                                                             \
                c[i * ldc + j] = beta == 0 ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j]; \
    }

DEFINE_PORTABLE_MICRO(float, f32, GEMM_MR_F32, GEMM_NR_F32)
DEFINE_PORTABLE_MICRO(double, f64, GEMM_MR_F64, GEMM_NR_F64)

// The unpacked small-product tile (see gemm_impl.h) in plain C: full tiles run with constant
// bounds so that clang keeps the accumulators in vector registers; partial ones loop. B's row p
// is at `b + p * brs`, or at `b + rows_of_b[p]` when there is a table for B; with a table for
// A, A's row i is at `a + rows_of_a[i]` (contiguous along k); `row_bias`, when there is one,
// adds row_bias[i] to row i of the result.
#define GEMM_SMALL_MR_F32 4
#define GEMM_SMALL_NR_F32 8
#define GEMM_SMALL_MR_F64 4
#define GEMM_SMALL_NR_F64 4

#define DEFINE_PORTABLE_SMALL(T, SUFFIX, MR, NR)                                                     \
    static void gemm_small_tile_##SUFFIX(int64_t rows, int64_t cols, int64_t k, const T *a,         \
                                         int64_t ars, int64_t acs, const int64_t *rows_of_a,        \
                                         const T *b, int64_t brs, const int64_t *rows_of_b,         \
                                         const T *row_bias, T *c, int64_t ldc, T alpha, T beta) {   \
        T acc[MR][NR] = {{0}};                                                                       \
        if (rows == MR && cols == NR) {                                                              \
            for (int64_t p = 0; p < k; p++) {                                                        \
                const T *bp = rows_of_b ? b + rows_of_b[p] : b + p * brs;                            \
                for (int i = 0; i < MR; i++) {                                                       \
                    const T ai = rows_of_a ? a[rows_of_a[i] + p] : a[i * ars + p * acs];             \
                    for (int j = 0; j < NR; j++) acc[i][j] += ai * bp[j];                            \
                }                                                                                    \
            }                                                                                        \
        } else {                                                                                     \
            for (int64_t p = 0; p < k; p++) {                                                        \
                const T *bp = rows_of_b ? b + rows_of_b[p] : b + p * brs;                            \
                for (int64_t i = 0; i < rows; i++) {                                                 \
                    const T ai = rows_of_a ? a[rows_of_a[i] + p] : a[i * ars + p * acs];             \
                    for (int64_t j = 0; j < cols; j++) acc[i][j] += ai * bp[j];                      \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
        for (int64_t i = 0; i < rows; i++)                                                           \
            for (int64_t j = 0; j < cols; j++) {                                                     \
                const T value = beta == 0 ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j]; \
                c[i * ldc + j] = row_bias ? value + row_bias[i] : value;                             \
            }                                                                                        \
    }

DEFINE_PORTABLE_SMALL(float, f32, GEMM_SMALL_MR_F32, GEMM_SMALL_NR_F32)
DEFINE_PORTABLE_SMALL(double, f64, GEMM_SMALL_MR_F64, GEMM_SMALL_NR_F64)

#define DEFINE_PORTABLE_SMALL_STRIP(T, SUFFIX, MR)                                                   \
    static void gemm_small_strip_##SUFFIX(int64_t m, int64_t cols, int64_t k, const T *a,           \
                                          int64_t ars, int64_t acs, const int64_t *rows_of_a,       \
                                          const T *b, int64_t brs, const int64_t *rows_of_b,        \
                                          const T *row_bias, T *c, int64_t ldc, T alpha, T beta) {  \
        for (int64_t i = 0; i < m; i += MR)                                                          \
            gemm_small_tile_##SUFFIX(m - i < MR ? m - i : MR, cols, k, rows_of_a ? a : a + i * ars,  \
                                     ars, acs, rows_of_a ? rows_of_a + i : 0, b, brs, rows_of_b,     \
                                     row_bias ? row_bias + i : 0, c + i * ldc, ldc, alpha, beta);    \
    }
DEFINE_PORTABLE_SMALL_STRIP(float, f32, GEMM_SMALL_MR_F32)
DEFINE_PORTABLE_SMALL_STRIP(double, f64, GEMM_SMALL_MR_F64)

#include "gemm_impl.h"
#include "gemm_variants.h"

static int usable_level(int level) {
    const int best = ember_cpu_level();
#if defined(__aarch64__)
    return level == 0 ? 0 : best; // 3 (NEON) is the only other level here; 1 and 2 are x86's
#else
    return level < 0 || level > best ? best : level;
#endif
}

// Blocking {variant, mr, nr, mc, kc, nc}: a kc x nr micro-panel of B stays in the 32 KiB L1
// with room for A's micro-panel (16 KiB for AVX2 floats and doubles, 24 KiB for AVX-512); the
// mc x kc block of A fits in about a third of a 512 KiB L2 (Zen 3; Intel's are larger); the kc x
// nc panel of B sits in the shared L3. The AVX2 float values were measured on a Zen 3 (EPYC)
// against kc 384/512 and mc 72/336: kc 256 / mc 168 was best, within the noise of a shared VM.
// The AVX-512 values follow the same cache arithmetic and have not been measured.
// NEON (8 x 12 floats, 8 x 6 doubles: 48-byte rows for both) assumes the smallest common ARMv8
// caches, a 32 KiB L1 (Cortex-A72; Neoverse N1 and Apple cores have 64-128 KiB) and a 1 MiB L2:
// kc 256 keeps the B micro-panel (12 KiB) and the A micro-panel (8 KiB floats, 16 KiB doubles)
// in L1, and mc 192 / 96 makes the packed A block 192 KiB. Not measured: no ARM machine here.
ember_gemm_config ember_gemm_config_f32(int level) {
    switch (usable_level(level)) {
#if defined(__x86_64__)
    case 2: return (ember_gemm_config){2, 12, 32, 288, 192, 4096};
    case 1: return (ember_gemm_config){1, 6, 16, 168, 256, 4080};
#elif defined(__aarch64__)
    case 3: return (ember_gemm_config){3, 8, 12, 192, 256, 4092};
#endif
    default: return (ember_gemm_config){0, GEMM_MR_F32, GEMM_NR_F32, 128, 256, 4096};
    }
}

ember_gemm_config ember_gemm_config_f64(int level) {
    switch (usable_level(level)) {
#if defined(__x86_64__)
    case 2: return (ember_gemm_config){2, 12, 16, 144, 192, 2048};
    case 1: return (ember_gemm_config){1, 6, 8, 96, 256, 2040};
#elif defined(__aarch64__)
    case 3: return (ember_gemm_config){3, 8, 6, 96, 256, 2046};
#endif
    default: return (ember_gemm_config){0, GEMM_MR_F64, GEMM_NR_F64, 64, 256, 2048};
    }
}

// Each entry point forwards to the variant named by the configuration, so that packing and
// macro-kernel always agree on the tile sizes.
#if defined(__x86_64__)
#define GEMM_DISPATCH(config, name, args)                                                            \
    switch ((config).variant) {                                                                      \
    case 2: name##_avx512 args; return;                                                              \
    case 1: name##_avx2 args; return;                                                                \
    default: name##_generic args; return;                                                            \
    }
#elif defined(__aarch64__)
#define GEMM_DISPATCH(config, name, args)                                                            \
    switch ((config).variant) {                                                                      \
    case 3: name##_neon args; return;                                                                \
    default: name##_generic args; return;                                                            \
    }
#else
#define GEMM_DISPATCH(config, name, args) name##_generic args;
#endif

// The small kernel has no AVX-512 variant: its tiles do not depend on the blocking, and the
// AVX2 one runs on every AVX-512 machine.
#if defined(__x86_64__)
#define GEMM_DISPATCH_SMALL(config, name, args)                                                      \
    switch ((config).variant) {                                                                      \
    case 2:                                                                                          \
    case 1: name##_avx2 args; return;                                                                \
    default: name##_generic args; return;                                                            \
    }
#elif defined(__aarch64__)
#define GEMM_DISPATCH_SMALL(config, name, args) GEMM_DISPATCH(config, name, args)
#else
#define GEMM_DISPATCH_SMALL(config, name, args) name##_generic args;
#endif

#define GEMM_DEFINE_ENTRY_POINTS(T, SUFFIX)                                                         \
    void ember_gemm_pack_a_##SUFFIX(ember_gemm_config config, int64_t mc, int64_t kc, const T *a,   \
                                    int64_t rs, int64_t cs, T *packed) {                            \
        GEMM_DISPATCH(config, ember_gemm_pack_a_##SUFFIX, (mc, kc, a, rs, cs, packed))              \
    }                                                                                               \
    void ember_gemm_pack_b_##SUFFIX(ember_gemm_config config, int64_t kc, int64_t nc, const T *b,   \
                                    int64_t rs, int64_t cs, T *packed) {                            \
        GEMM_DISPATCH(config, ember_gemm_pack_b_##SUFFIX, (kc, nc, b, rs, cs, packed))              \
    }                                                                                               \
    void ember_gemm_pack_im2col_##SUFFIX(ember_gemm_config config, int64_t kc, int64_t nc,          \
                                         const T *image, int64_t image_stride,                      \
                                         const ember_window_geometry *g, int64_t k0, int64_t j0,    \
                                         T *packed) {                                               \
        GEMM_DISPATCH(config, ember_gemm_pack_im2col_##SUFFIX,                                      \
                      (kc, nc, image, image_stride, g, k0, j0, packed))                             \
    }                                                                                               \
    void ember_gemm_macro_##SUFFIX(ember_gemm_config config, int64_t mc, int64_t nc, int64_t kc,    \
                                   T alpha, const T *pa, const T *pb, T beta, T *c, int64_t ldc) {  \
        GEMM_DISPATCH(config, ember_gemm_macro_##SUFFIX, (mc, nc, kc, alpha, pa, pb, beta, c, ldc)) \
    }                                                                                               \
    void ember_gemm_direct_##SUFFIX(ember_gemm_config config, int64_t m, int64_t n, int64_t k,      \
                                    T alpha, const T *a, int64_t ars, int64_t acs, const T *b,      \
                                    int64_t brs, int64_t bcs, T beta, T *c, int64_t crs) {          \
        GEMM_DISPATCH(config, ember_gemm_direct_##SUFFIX,                                           \
                      (m, n, k, alpha, a, ars, acs, b, brs, bcs, beta, c, crs))                     \
    }                                                                                               \
    void ember_gemm_small_##SUFFIX(ember_gemm_config config, int64_t m, int64_t n, int64_t k,       \
                                   T alpha, const T *a, int64_t ars, int64_t acs, const T *b,       \
                                   int64_t brs, T beta, T *c, int64_t crs) {                        \
        GEMM_DISPATCH_SMALL(config, ember_gemm_small_##SUFFIX,                                      \
                            (m, n, k, alpha, a, ars, acs, b, brs, beta, c, crs))                    \
    }                                                                                               \
    void ember_gemm_row_table_##SUFFIX(ember_gemm_config config, int64_t m, int64_t n, int64_t k,   \
                                       T alpha, const T *a, int64_t ars, int64_t acs, const T *b,   \
                                       const int64_t *rows_of_b, const T *row_bias, T beta, T *c,   \
                                       int64_t crs) {                                               \
        GEMM_DISPATCH_SMALL(config, ember_gemm_row_table_##SUFFIX,                                  \
                            (m, n, k, alpha, a, ars, acs, b, rows_of_b, row_bias, beta, c, crs))    \
    }                                                                                               \
    void ember_gemm_a_row_table_##SUFFIX(ember_gemm_config config, int64_t m, int64_t n, int64_t k, \
                                         T alpha, const T *a, const int64_t *rows_of_a, const T *b, \
                                         int64_t brs, T beta, T *c, int64_t crs) {                  \
        GEMM_DISPATCH_SMALL(config, ember_gemm_a_row_table_##SUFFIX,                                \
                            (m, n, k, alpha, a, rows_of_a, b, brs, beta, c, crs))                   \
    }

GEMM_DEFINE_ENTRY_POINTS(float, f32)
GEMM_DEFINE_ENTRY_POINTS(double, f64)
