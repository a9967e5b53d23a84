// Packing, macro-kernel and direct kernel of the GEMM, written once and compiled per instruction
// set. A variant file defines, before including this header:
//   GEMM_VARIANT            the suffix of the exported names (generic, avx2, avx512)
//   GEMM_MR_F32, GEMM_NR_F32, GEMM_MR_F64, GEMM_NR_F64   its micro-tile sizes
//   gemm_micro_f32 / gemm_micro_f64(kc, packed_a, packed_b, c, ldc, alpha, beta)
//                           full-tile micro-kernels: C = alpha * A·B + beta * C on an MR x NR tile,
//                           never reading C when beta == 0
// and wraps the include in `#pragma clang attribute push(target(...))` for its instruction set,
// so that the packing copies and the direct loops are vectorised for that set as well.
//
// The tile sizes are compile-time constants here so that the packing loops fully unroll; the
// configuration passed in from the driver only selects which variant runs.
#include <stdint.h>
#include <string.h>
#include "ember_gemm.h"
#include "ember_conv.h"

#define GEMM_CAT_(a, b) a##_##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#define GEMM_NAME(name) GEMM_CAT(name, GEMM_VARIANT)

#define GEMM_INLINE static inline __attribute__((always_inline))

#define GEMM_DEFINE(T, SUFFIX, MR, NR, MICRO)                                                        \
    /* One panel of A: out[p * MR + i] = A[i, p]; rows past `rows` are zero. */                      \
    GEMM_INLINE void pack_a_panel_##SUFFIX(T *restrict out, const T *restrict a, int64_t rows,       \
                                           int64_t kc, int64_t rs, int64_t cs) {                     \
        if (rows == MR && cs == 1) {                                                                 \
            /* Row-major A: MR sequential streams, one element of each per depth step. */            \
            for (int64_t p = 0; p < kc; p++)                                                         \
                for (int64_t i = 0; i < MR; i++) out[p * MR + i] = a[i * rs + p];                    \
        } else if (rows == MR && rs == 1) {                                                          \
            /* Column-major (transposed) A: each depth step is MR contiguous elements. */            \
            for (int64_t p = 0; p < kc; p++)                                                         \
                for (int64_t i = 0; i < MR; i++) out[p * MR + i] = a[p * cs + i];                    \
        } else {                                                                                     \
            for (int64_t p = 0; p < kc; p++) {                                                       \
                for (int64_t i = 0; i < rows; i++) out[p * MR + i] = a[i * rs + p * cs];             \
                for (int64_t i = rows; i < MR; i++) out[p * MR + i] = 0;                             \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    void GEMM_NAME(ember_gemm_pack_a_##SUFFIX)(int64_t mc, int64_t kc, const T *a, int64_t rs,       \
                                               int64_t cs, T *packed) {                              \
        for (int64_t i = 0; i < mc; i += MR) {                                                       \
            const int64_t rows = mc - i < MR ? mc - i : MR;                                          \
            pack_a_panel_##SUFFIX(packed + i * kc, a + i * rs, rows, kc, rs, cs);                    \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* One panel of B: out[p * NR + j] = B[p, j]; columns past `cols` are zero. */                   \
    GEMM_INLINE void pack_b_panel_##SUFFIX(T *restrict out, const T *restrict b, int64_t cols,       \
                                           int64_t kc, int64_t rs, int64_t cs) {                     \
        if (cols == NR && cs == 1) {                                                                 \
            for (int64_t p = 0; p < kc; p++) memcpy(out + p * NR, b + p * rs, NR * sizeof(T));       \
        } else if (cols == NR && rs == 1) {                                                          \
            /* Transposed B: read each column contiguously, write with stride NR. */                 \
            for (int64_t j = 0; j < NR; j++)                                                         \
                for (int64_t p = 0; p < kc; p++) out[p * NR + j] = b[j * cs + p];                    \
        } else {                                                                                     \
            for (int64_t p = 0; p < kc; p++) {                                                       \
                for (int64_t j = 0; j < cols; j++) out[p * NR + j] = b[p * rs + j * cs];             \
                for (int64_t j = cols; j < NR; j++) out[p * NR + j] = 0;                             \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    void GEMM_NAME(ember_gemm_pack_b_##SUFFIX)(int64_t kc, int64_t nc, const T *b, int64_t rs,       \
                                               int64_t cs, T *packed) {                              \
        for (int64_t j = 0; j < nc; j += NR) {                                                       \
            const int64_t cols = nc - j < NR ? nc - j : NR;                                          \
            pack_b_panel_##SUFFIX(packed + j * kc, b + j * cs, cols, kc, rs, cs);                    \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* One panel of the implicit im2col matrix (see ember_im2col_*) of images that start at       */ \
    /* image + i * image_stride: column j0 + j is output position (j0 + j) % out_plane of image   */ \
    /* (j0 + j) / out_plane, and row k0 + p = c*kh*kw + ky*kw + kx holds the input under kernel   */ \
    /* tap (ky, kx) of channel c there, zero outside the image; out[p * NR + j] as pack_b, zero   */ \
    /* past `cols`. The panel's columns are first cut into runs on one output row of one image    */ \
    /* (an image ends where an output row does, so finding the image per run keeps each run       */ \
    /* inside one); a run whose window row lies inside the image (the common case) is a plain     */ \
    /* copy, no test per element.                                                                 */ \
    GEMM_INLINE void pack_im2col_panel_##SUFFIX(T *restrict out, const T *restrict image,            \
                                                int64_t image_stride,                                \
                                                const ember_window_geometry *g,                      \
                                                int64_t k0, int64_t kc, int64_t j0, int64_t cols) {  \
        const int64_t ow = g->out_width, out_plane = g->out_height * ow;                             \
        const int64_t width = g->width, plane = g->height * g->width;                                \
        const int64_t sw = g->stride_w, kw = g->kernel_w, kh = g->kernel_h;                          \
        int64_t run_start[NR], run_length[NR], run_y[NR], run_x[NR];                                 \
        const T *run_image[NR];                                                                      \
        int runs = 0;                                                                                \
        for (int64_t j = 0; j < cols; runs++) {                                                      \
            const int64_t column = j0 + j, position = column % out_plane;                            \
            const int64_t oy = position / ow, ox = position % ow;                                    \
            const int64_t length = cols - j < ow - ox ? cols - j : ow - ox;                          \
            run_start[runs] = j;                                                                     \
            run_length[runs] = length;                                                               \
            run_image[runs] = image + column / out_plane * image_stride;                             \
            run_y[runs] = oy * g->stride_h - g->pad_h;                                               \
            run_x[runs] = ox * sw - g->pad_w;                                                        \
            j += length;                                                                             \
        }                                                                                            \
        int64_t c = k0 / (kh * kw), ky = (k0 / kw) % kh, kx = k0 % kw;                               \
        if (runs == 1 && cols == NR && sw == 1 && run_x[0] >= 0 &&                                   \
            run_x[0] + (kw - 1) * g->dilation_w + NR <= width) {                                     \
            /* The common case: one output row, every tap inside the image's columns; each depth  */ \
            /* step copies NR contiguous elements, or zeros where the window row is padding.      */ \
            for (int64_t p = 0; p < kc; p++) {                                                       \
                T *restrict d = out + p * NR;                                                        \
                const int64_t iy = run_y[0] + ky * g->dilation_h;                                    \
                if (iy >= 0 && iy < g->height) {                                                     \
                    const T *in = run_image[0] + c * plane + iy * width + run_x[0] +                 \
                                  kx * g->dilation_w;                                                \
                    for (int64_t q = 0; q < NR; q++) d[q] = in[q];                                   \
                } else {                                                                             \
                    for (int64_t q = 0; q < NR; q++) d[q] = 0;                                       \
                }                                                                                    \
                if (++kx == kw) {                                                                    \
                    kx = 0;                                                                          \
                    if (++ky == kh) { ky = 0; c++; }                                                 \
                }                                                                                    \
            }                                                                                        \
            return;                                                                                  \
        }                                                                                            \
        for (int64_t p = 0; p < kc; p++) {                                                           \
            T *restrict row_out = out + p * NR;                                                      \
            const int64_t dy = ky * g->dilation_h, dx = kx * g->dilation_w;                          \
            for (int r = 0; r < runs; r++) {                                                         \
                T *restrict d = row_out + run_start[r];                                              \
                const int64_t length = run_length[r], iy = run_y[r] + dy, ix = run_x[r] + dx;        \
                if (iy < 0 || iy >= g->height) {                                                     \
                    for (int64_t q = 0; q < length; q++) d[q] = 0;                                   \
                    continue;                                                                        \
                }                                                                                    \
                const T *in = run_image[r] + c * plane + iy * width;                                 \
                if (ix >= 0 && ix + (length - 1) * sw < width) {                                     \
                    if (sw == 1) {                                                                   \
                        for (int64_t q = 0; q < length; q++) d[q] = in[ix + q];                      \
                    } else {                                                                         \
                        for (int64_t q = 0; q < length; q++) d[q] = in[ix + q * sw];                 \
                    }                                                                                \
                } else {                                                                             \
                    for (int64_t q = 0; q < length; q++) {                                           \
                        const int64_t x = ix + q * sw;                                               \
                        d[q] = x >= 0 && x < width ? in[x] : 0;                                      \
                    }                                                                                \
                }                                                                                    \
            }                                                                                        \
            for (int64_t j = cols; j < NR; j++) row_out[j] = 0;                                      \
            if (++kx == kw) {                                                                        \
                kx = 0;                                                                              \
                if (++ky == kh) { ky = 0; c++; }                                                     \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    void GEMM_NAME(ember_gemm_pack_im2col_##SUFFIX)(int64_t kc, int64_t nc, const T *image,          \
                                                    int64_t image_stride,                            \
                                                    const ember_window_geometry *g, int64_t k0,      \
                                                    int64_t j0, T *packed) {                         \
        for (int64_t j = 0; j < nc; j += NR) {                                                       \
            const int64_t cols = nc - j < NR ? nc - j : NR;                                          \
            pack_im2col_panel_##SUFFIX(packed + j * kc, image, image_stride, g, k0, kc, j0 + j,      \
                                       cols);                                                        \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* Loop order of BLIS: the B micro-panel (kc x NR) stays in L1 while the tiles of A, packed   */ \
    /* together in L2, stream past it. Partial tiles at the block edges go through a scratch tile */ \
    /* so that the micro-kernel itself never needs masks.                                          */ \
    void GEMM_NAME(ember_gemm_macro_##SUFFIX)(int64_t mc, int64_t nc, int64_t kc, T alpha,           \
                                              const T *packed_a, const T *packed_b, T beta, T *c,    \
                                              int64_t ldc) {                                         \
        for (int64_t j = 0; j < nc; j += NR) {                                                       \
            const int64_t cols = nc - j < NR ? nc - j : NR;                                          \
            const T *b = packed_b + j * kc;                                                          \
            for (int64_t i = 0; i < mc; i += MR) {                                                   \
                const int64_t rows = mc - i < MR ? mc - i : MR;                                      \
                const T *a = packed_a + i * kc;                                                      \
                T *tile = c + i * ldc + j;                                                           \
                if (rows == MR && cols == NR) {                                                      \
                    MICRO(kc, a, b, tile, ldc, alpha, beta);                                         \
                    continue;                                                                        \
                }                                                                                    \
                T scratch[MR * NR] __attribute__((aligned(64)));                                     \
                MICRO(kc, a, b, scratch, NR, (T)1, (T)0);                                            \
                for (int64_t r = 0; r < rows; r++)                                                   \
                    for (int64_t q = 0; q < cols; q++) {                                             \
                        const T value = alpha * scratch[r * NR + q];                                 \
                        tile[r * ldc + q] = beta == 0 ? value : value + beta * tile[r * ldc + q];    \
                    }                                                                                \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* Dot product of two contiguous vectors in 32 independent partial sums, so that clang       */ \
    /* vectorises it (a single running sum is a chain of dependent adds it may not reorder).      */ \
    GEMM_INLINE T dot_##SUFFIX(const T *restrict x, const T *restrict y, int64_t k) {                \
        T partial[32] = {0};                                                                         \
        int64_t p = 0;                                                                               \
        for (; p + 32 <= k; p += 32)                                                                 \
            for (int l = 0; l < 32; l++) partial[l] += x[p + l] * y[p + l];                          \
        T sum = 0;                                                                                   \
        for (; p < k; p++) sum += x[p] * y[p];                                                       \
        for (int l = 0; l < 32; l++) sum += partial[l];                                              \
        return sum;                                                                                  \
    }                                                                                                \
                                                                                                     \
    /* Without packing, for tiny products and for matrix-vector shapes, where packing would cost */ \
    /* as much as the multiplication. Each row of C is first scaled by beta (or cleared, never   */ \
    /* read, when beta is 0), then accumulated either as rows of B (axpy, contiguous when B's    */ \
    /* columns are), as contiguous dot products (A row-major with B transposed, the layout of a  */ \
    /* linear layer's x·Wᵀ), or element by element for any other strides.                        */ \
    void GEMM_NAME(ember_gemm_direct_##SUFFIX)(int64_t m, int64_t n, int64_t k, T alpha, const T *a, \
                                               int64_t ars, int64_t acs, const T *b, int64_t brs,    \
                                               int64_t bcs, T beta, T *c, int64_t crs) {             \
        const int use_dot = acs == 1 && brs == 1 && (bcs != 1 || n < 8);                             \
        for (int64_t i = 0; i < m; i++) {                                                            \
            T *restrict row = c + i * crs;                                                           \
            if (beta == 0) {                                                                         \
                for (int64_t j = 0; j < n; j++) row[j] = 0;                                          \
            } else if (beta != 1) {                                                                  \
                for (int64_t j = 0; j < n; j++) row[j] *= beta;                                      \
            }                                                                                        \
            if (k == 0 || alpha == 0) continue;                                                      \
            const T *a_row = a + i * ars;                                                            \
            if (use_dot) {                                                                           \
                for (int64_t j = 0; j < n; j++) row[j] += alpha * dot_##SUFFIX(a_row, b + j * bcs, k); \
            } else if (bcs == 1) {                                                                   \
                for (int64_t p = 0; p < k; p++) {                                                    \
                    const T scale = alpha * a_row[p * acs];                                          \
                    const T *restrict b_row = b + p * brs;                                           \
                    for (int64_t j = 0; j < n; j++) row[j] += scale * b_row[j];                      \
                }                                                                                    \
            } else {                                                                                 \
                for (int64_t j = 0; j < n; j++) {                                                    \
                    const T *b_column = b + j * bcs;                                                 \
                    T sum = 0;                                                                       \
                    for (int64_t p = 0; p < k; p++) sum += a_row[p * acs] * b_column[p * brs];       \
                    row[j] += alpha * sum;                                                           \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }

GEMM_DEFINE(float, f32, GEMM_MR_F32, GEMM_NR_F32, gemm_micro_f32)
GEMM_DEFINE(double, f64, GEMM_MR_F64, GEMM_NR_F64, gemm_micro_f64)

// The unpacked kernels for small and short products whose B has unit column stride, and for
// products whose B is a table of rows, for the variants that define a strip function for them
// before including this header:
//   gemm_small_strip_f32 / _f64(m, cols, k, a, ars, acs, rows_of_a, b, brs, rows_of_b, row_bias,
//                               c, ldc, alpha, beta)
//                           C = alpha * A·B + beta * C (+ row_bias[i] on row i when row_bias is
//                           not NULL) on an m x cols strip (cols <= SMALL_NR) in
//                           register tiles of SMALL_MR rows, reading A through its strides (or
//                           its row i at a + rows_of_a[i], contiguous along k, when rows_of_a is
//                           not NULL) and B's rows directly (row p at b + p * brs, or at
//                           b + rows_of_b[p] when rows_of_b is not NULL; at most one table), never
//                           reading C when beta == 0 nor B past `cols`.
// Column strips of B (k x SMALL_NR) outside, row tiles inside: each strip is read from memory
// once and then stays in L1 while the row tiles of A stream past it.
#if defined(GEMM_SMALL_NR_F32)
#define GEMM_DEFINE_SMALL(T, SUFFIX, NR)                                                             \
    void GEMM_NAME(ember_gemm_small_##SUFFIX)(int64_t m, int64_t n, int64_t k, T alpha, const T *a,  \
                                              int64_t ars, int64_t acs, const T *b, int64_t brs,     \
                                              T beta, T *c, int64_t crs) {                           \
        for (int64_t j = 0; j < n; j += NR) {                                                        \
            const int64_t cols = n - j < NR ? n - j : NR;                                            \
            gemm_small_strip_##SUFFIX(m, cols, k, a, ars, acs, 0, b + j, brs, 0, 0, c + j, crs,      \
                                      alpha, beta);                                                  \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* The same strips with A's or B's rows from a table (at most one), in depth blocks of        */ \
    /* GEMM_ROW_TABLE_KC so that a strip's block of B stays in L1 however deep the product:       */ \
    /* strips outside, then depth, then row tiles. The first block applies beta and the bias,    */ \
    /* later ones accumulate. The bias is added by the tiles, so C is written once (a separate   */ \
    /* pass that filled C with the bias first cost 18% of a 3 -> 64 channel convolution at       */ \
    /* 224x224). Measured on the AVX2 machine for a 64 -> 64 channel 3x3 convolution (k = 576):  */ \
    /* 76 GFLOP/s unblocked, 82-86 with blocks of 128-192, 55-79 with 256 (one thread, noisy).   */ \
    /* A depth block starts depth * acs into A (acs is 1 with a table of A's rows) and           */ \
    /* depth * brs into B, or depth entries into B's table.                                      */ \
    static void table_strips_##SUFFIX(int64_t m, int64_t n, int64_t k, T alpha, const T *a,          \
                                      int64_t ars, int64_t acs, const int64_t *rows_of_a,            \
                                      const T *b, int64_t brs, const int64_t *rows_of_b,             \
                                      const T *row_bias, T beta, T *c, int64_t crs) {                \
        for (int64_t j = 0; j < n; j += NR) {                                                        \
            const int64_t cols = n - j < NR ? n - j : NR;                                            \
            int64_t depth = 0;                                                                       \
            do {                                                                                     \
                const int64_t kc = k - depth < GEMM_ROW_TABLE_KC ? k - depth : GEMM_ROW_TABLE_KC;    \
                gemm_small_strip_##SUFFIX(m, cols, kc, a + depth * acs, ars, acs, rows_of_a,         \
                                          b + depth * brs + j, brs, rows_of_b ? rows_of_b + depth : 0, \
                                          depth == 0 ? row_bias : 0, c + j, crs, alpha,              \
                                          depth == 0 ? beta : (T)1);                                 \
                depth += kc;                                                                         \
            } while (depth < k);                                                                     \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* B's rows from a table: a convolution's forward pass (the windows of one output row). */      \
    void GEMM_NAME(ember_gemm_row_table_##SUFFIX)(int64_t m, int64_t n, int64_t k, T alpha,          \
                                                  const T *a, int64_t ars, int64_t acs, const T *b,  \
                                                  const int64_t *rows_of_b, const T *row_bias,       \
                                                  T beta, T *c, int64_t crs) {                       \
        table_strips_##SUFFIX(m, n, k, alpha, a, ars, acs, 0, b, 0, rows_of_b, row_bias, beta, c,    \
                              crs);                                                                  \
    }                                                                                                \
                                                                                                     \
    /* A's rows from a table: a convolution's weight gradient (row p of the im2col matrix of one */ \
    /* output row is a run of the padded image).                                                 */ \
    void GEMM_NAME(ember_gemm_a_row_table_##SUFFIX)(int64_t m, int64_t n, int64_t k, T alpha,        \
                                                    const T *a, const int64_t *rows_of_a,            \
                                                    const T *b, int64_t brs, T beta, T *c,           \
                                                    int64_t crs) {                                   \
        table_strips_##SUFFIX(m, n, k, alpha, a, 0, 1, rows_of_a, b, brs, 0, 0, beta, c, crs);       \
    }
#define GEMM_ROW_TABLE_KC 192
GEMM_DEFINE_SMALL(float, f32, GEMM_SMALL_NR_F32)
GEMM_DEFINE_SMALL(double, f64, GEMM_SMALL_NR_F64)
#undef GEMM_ROW_TABLE_KC
#endif
