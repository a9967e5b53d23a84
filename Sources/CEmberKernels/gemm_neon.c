// NEON variant of the GEMM kernels (aarch64 only). NEON is part of the ARMv8-A base, so this
// file needs no target attribute and gemm_generic.c routes to it whenever ember_cpu_level() is
// 3, which it always is on aarch64 unless a test forces 0.
//
// Micro-tiles: 8 x 12 floats and 8 x 6 doubles, i.e. 8 rows of C by three 128-bit vectors. That
// is 24 accumulators; a depth step loads the 8 elements of A's column (2 vectors of floats, 4 of
// doubles) and the 3 vectors of B's row, so 29 (floats) or 31 (doubles) of the 32 registers
// are live, and it issues 24 FMAs for 5 (or 7) loads. The FMAs take their A operand as a lane
// of a vector register (FMLA by element, vfmaq_laneq), so A needs no broadcasts: the reason
// ARM kernels can afford more rows than x86 ones. BLIS uses 8 x 12 for float on ARMv8-A.
// The two tiles are the same size in bytes (8 rows of 48 bytes), so the blocking in
// gemm_generic.c is the same in bytes for both types.
// Rejected: 12 x 8 (the same register count and FMA/load ratio; it trades column edges for row
// edges, and the small kernel's 16-column strips and the driver's thread split already favour
// wide rows), 16 x 4 (OpenBLAS on Cortex-A57: 4 loads of A per 16 FMAs), and 8 x 8 (16
// accumulators: too few independent FMAs to hide the 4-cycle FMA latency on two pipes).
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#define GEMM_VARIANT neon
#define GEMM_MR_F32 8
#define GEMM_NR_F32 12
#define GEMM_MR_F64 8
#define GEMM_NR_F64 6

// Row r of the tile gains B's row times A[r], lane r % W of A's vector r / W. The lane must be
// a constant, which `r` is: the macro is spelled out once per row below.
#define NEON_FMA_ROW(FMA_LANE, W, NV, r)                                                             \
    for (int v_ = 0; v_ < (NV); v_++) acc[r][v_] = FMA_LANE(acc[r][v_], bv[v_], av[(r) / (W)], (r) % (W));

// VEC is the vector type and W its lanes; NR / W vectors per row. The accumulator array has
// constant bounds and every loop over it is unrolled, so clang keeps it in registers.
#define DEFINE_NEON_MICRO(T, SUFFIX, VEC, W, MR, NR, DUP, LOAD, STORE, FMA_LANE, MUL_N, FMA_N)         \
    static inline __attribute__((always_inline)) void gemm_micro_##SUFFIX(                           \
        int64_t kc, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc, T alpha,   \
        T beta) {                                                                                    \
        enum { NV = (NR) / (W), NA = (MR) / (W) };                                                   \
        VEC acc[MR][NV];                                                                             \
        for (int r = 0; r < (MR); r++)                                                               \
            for (int v = 0; v < NV; v++) acc[r][v] = DUP(0);                                         \
        for (int r = 0; r < (MR); r++) __builtin_prefetch(c + r * ldc, 1);                           \
        for (int64_t p = 0; p < kc; p++, a += (MR), b += (NR)) {                                     \
            VEC av[NA], bv[NV];                                                                      \
            for (int i = 0; i < NA; i++) av[i] = LOAD(a + i * (W));                                  \
            for (int v = 0; v < NV; v++) bv[v] = LOAD(b + v * (W));                                  \
            NEON_FMA_ROW(FMA_LANE, W, NV, 0) NEON_FMA_ROW(FMA_LANE, W, NV, 1)                        \
            NEON_FMA_ROW(FMA_LANE, W, NV, 2) NEON_FMA_ROW(FMA_LANE, W, NV, 3)                        \
            NEON_FMA_ROW(FMA_LANE, W, NV, 4) NEON_FMA_ROW(FMA_LANE, W, NV, 5)                        \
            NEON_FMA_ROW(FMA_LANE, W, NV, 6) NEON_FMA_ROW(FMA_LANE, W, NV, 7)                        \
        }                                                                                            \
        if (beta == 0) {                                                                             \
            for (int r = 0; r < (MR); r++)                                                           \
                for (int v = 0; v < NV; v++) STORE(c + r * ldc + v * (W), MUL_N(acc[r][v], alpha));  \
        } else {                                                                                     \
            /* beta * C first, then one FMA, as the AVX2 kernel rounds it. */                        \
            for (int r = 0; r < (MR); r++)                                                           \
                for (int v = 0; v < NV; v++) {                                                       \
                    T *cv = c + r * ldc + v * (W);                                                   \
                    STORE(cv, FMA_N(MUL_N(LOAD(cv), beta), acc[r][v], alpha));                       \
                }                                                                                    \
        }                                                                                            \
    }

_Static_assert(GEMM_MR_F32 == 8 && GEMM_MR_F64 == 8, "NEON_FMA_ROW is spelled out for 8 rows");

DEFINE_NEON_MICRO(float, f32, float32x4_t, 4, GEMM_MR_F32, GEMM_NR_F32, vdupq_n_f32, vld1q_f32,
                  vst1q_f32, vfmaq_laneq_f32, vmulq_n_f32, vfmaq_n_f32)
DEFINE_NEON_MICRO(double, f64, float64x2_t, 2, GEMM_MR_F64, GEMM_NR_F64, vdupq_n_f64, vld1q_f64,
                  vst1q_f64, vfmaq_laneq_f64, vmulq_n_f64, vfmaq_n_f64)

// The unpacked small-product strip (see gemm_impl.h): tiles of up to 6 rows of C by 4 vectors
// (16 floats, 8 doubles), the tile of the AVX2 kernel and of the driver's thread split. 24 accumulators, 4
// vectors of B's row loaded in place and one broadcast of A (A has arbitrary strides, so it is
// loaded lane by lane with LD1R rather than as a vector). B's row p is at `b + p * brs`, or at
// `b + rows_of_b[p]` when there is a table for B; with a table for A, A's row i is at
// `a + rows_of_a[i]` (contiguous along k); `row_bias`, when there is one, adds row_bias[i] to
// row i of the result. NEON has no masked loads: a partial
// last vector of a strip (cols not a multiple of W) is loaded and stored lane by lane, so B and
// C are never touched past `cols`. `R`, `NV` and `TABLE` are constants after inlining into the
// switches below; `tail` (lanes of the last vector, 0 when it is full) is not, its test is loop-invariant.
#define GEMM_SMALL_MR_F32 6
#define GEMM_SMALL_NR_F32 16
#define GEMM_SMALL_MR_F64 6
#define GEMM_SMALL_NR_F64 8

static inline __attribute__((always_inline)) float32x4_t load_part_f32(const float *p, int64_t count) {
    float32x4_t v = vld1q_lane_f32(p, vdupq_n_f32(0), 0);
    if (count > 1) v = vld1q_lane_f32(p + 1, v, 1);
    if (count > 2) v = vld1q_lane_f32(p + 2, v, 2);
    return v;
}
static inline __attribute__((always_inline)) void store_part_f32(float *p, float32x4_t v, int64_t count) {
    vst1q_lane_f32(p, v, 0);
    if (count > 1) vst1q_lane_f32(p + 1, v, 1);
    if (count > 2) vst1q_lane_f32(p + 2, v, 2);
}
static inline __attribute__((always_inline)) float64x2_t load_part_f64(const double *p, int64_t count) {
    (void)count; // always 1
    return vld1q_lane_f64(p, vdupq_n_f64(0), 0);
}
static inline __attribute__((always_inline)) void store_part_f64(double *p, float64x2_t v, int64_t count) {
    (void)count;
    vst1q_lane_f64(p, v, 0);
}

#define DEFINE_NEON_SMALL(T, SUFFIX, VEC, W, DUP, LOAD, STORE, LOAD_DUP, FMA, MUL_N, FMA_N, ADD)       \
    static inline __attribute__((always_inline)) void small_body_##SUFFIX(                          \
        const int R, const int NV, const int TABLE, int64_t tail, int64_t k, const T *a,             \
        int64_t ars, int64_t acs, const T *b, int64_t brs, const int64_t *rows,                      \
        const T *row_bias, T *c, int64_t ldc, T alpha, T beta) {                                     \
        VEC acc[6][4];                                                                               \
        const T *a_row[6];                                                                           \
        for (int r = 0; r < R; r++) {                                                                \
            for (int v = 0; v < NV; v++) acc[r][v] = DUP(0);                                         \
            a_row[r] = TABLE == 2 ? a + rows[r] : a;                                                 \
        }                                                                                            \
        for (int64_t p = 0; p < k; p++) {                                                            \
            const T *bp = TABLE == 1 ? b + rows[p] : b + p * brs;                                    \
            VEC bv[4];                                                                               \
            for (int v = 0; v < NV - 1; v++) bv[v] = LOAD(bp + v * (W));                             \
            bv[NV - 1] = tail ? load_part_##SUFFIX(bp + (NV - 1) * (W), tail)                        \
                              : LOAD(bp + (NV - 1) * (W));                                           \
            const T *ap = a + p * acs;                                                               \
            for (int r = 0; r < R; r++) {                                                            \
                const VEC ai = LOAD_DUP(TABLE == 2 ? a_row[r] + p : ap + r * ars);                   \
                for (int v = 0; v < NV; v++) acc[r][v] = FMA(acc[r][v], ai, bv[v]);                  \
            }                                                                                        \
        }                                                                                            \
        for (int r = 0; r < R; r++) {                                                                \
            T *cr = c + r * ldc;                                                                     \
            for (int v = 0; v < NV; v++) {                                                           \
                const int partial = v == NV - 1 && tail;                                             \
                VEC out = MUL_N(acc[r][v], alpha);                                                   \
                if (beta != 0) {                                                                     \
                    const VEC old = partial ? load_part_##SUFFIX(cr + v * (W), tail) : LOAD(cr + v * (W)); \
                    out = FMA_N(MUL_N(old, beta), acc[r][v], alpha);                                 \
                }                                                                                    \
                if (row_bias) out = ADD(out, DUP(row_bias[r]));                                      \
                if (partial) store_part_##SUFFIX(cr + v * (W), out, tail);                           \
                else STORE(cr + v * (W), out);                                                       \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* Full 6-row tiles in a loop, then the partial last one: the dispatch on the shape is    */ \
    /* paid once per strip, not per tile, which matters when k is short.                      */ \
    static inline __attribute__((always_inline)) void small_rows_##SUFFIX(                          \
        const int NV, const int TABLE, int64_t tail, int64_t m, int64_t k, const T *a,               \
        int64_t ars, int64_t acs, const T *b, int64_t brs, const int64_t *rows,                      \
        const T *row_bias, T *c, int64_t ldc, T alpha, T beta) {                                     \
        int64_t i = 0;                                                                               \
        for (; i + 6 <= m; i += 6)                                                                   \
            small_body_##SUFFIX(6, NV, TABLE, tail, k, TABLE == 2 ? a : a + i * ars, ars, acs, b,    \
                                brs, TABLE == 2 ? rows + i : rows, row_bias ? row_bias + i : 0,      \
                                c + i * ldc, ldc, alpha, beta);                                      \
        if (TABLE == 2) rows += i; else a += i * ars;                                                \
        c += i * ldc;                                                                                \
        if (row_bias) row_bias += i;                                                                 \
        switch (m - i) {                                                                             \
        case 5: small_body_##SUFFIX(5, NV, TABLE, tail, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        case 4: small_body_##SUFFIX(4, NV, TABLE, tail, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        case 3: small_body_##SUFFIX(3, NV, TABLE, tail, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        case 2: small_body_##SUFFIX(2, NV, TABLE, tail, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        case 1: small_body_##SUFFIX(1, NV, TABLE, tail, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        default: break;                                                                              \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    static inline __attribute__((always_inline)) void small_columns_##SUFFIX(                       \
        const int TABLE, int64_t m, int64_t cols, int64_t k, const T *a, int64_t ars,             \
        int64_t acs, const T *b, int64_t brs, const int64_t *rows, const T *row_bias, T *c,          \
        int64_t ldc, T alpha, T beta) {                                                              \
        const int64_t tail = cols % (W);                                                             \
        switch ((cols + (W) - 1) / (W)) {                                                            \
        case 4: small_rows_##SUFFIX(4, TABLE, tail, m, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        case 3: small_rows_##SUFFIX(3, TABLE, tail, m, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        case 2: small_rows_##SUFFIX(2, TABLE, tail, m, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        default: small_rows_##SUFFIX(1, TABLE, tail, m, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta); break; \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* TABLE (0: none, 1: B's rows, 2: A's rows) is a constant in each call below, so each form   */ \
    /* keeps its own loop.                                                                         */ \
    static void gemm_small_strip_##SUFFIX(int64_t m, int64_t cols, int64_t k, const T *a,           \
                                          int64_t ars, int64_t acs, const int64_t *rows_of_a,       \
                                          const T *b, int64_t brs, const int64_t *rows_of_b,        \
                                          const T *row_bias, T *c, int64_t ldc, T alpha, T beta) {  \
        if (rows_of_b)                                                                               \
            small_columns_##SUFFIX(1, m, cols, k, a, ars, acs, b, 0, rows_of_b, row_bias, c, ldc,    \
                                   alpha, beta);                                                     \
        else if (rows_of_a)                                                                          \
            small_columns_##SUFFIX(2, m, cols, k, a, 0, 1, b, brs, rows_of_a, row_bias, c, ldc,      \
                                   alpha, beta);                                                     \
        else                                                                                         \
            small_columns_##SUFFIX(0, m, cols, k, a, ars, acs, b, brs, 0, row_bias, c, ldc, alpha,   \
                                   beta);                                                            \
    }

// vfmaq(acc, x, y) is acc + x * y; vfmaq_n(acc, x, s) is acc + x * s.
DEFINE_NEON_SMALL(float, f32, float32x4_t, 4, vdupq_n_f32, vld1q_f32, vst1q_f32, vld1q_dup_f32,
                  vfmaq_f32, vmulq_n_f32, vfmaq_n_f32, vaddq_f32)
DEFINE_NEON_SMALL(double, f64, float64x2_t, 2, vdupq_n_f64, vld1q_f64, vst1q_f64, vld1q_dup_f64,
                  vfmaq_f64, vmulq_n_f64, vfmaq_n_f64, vaddq_f64)

#include "gemm_impl.h"

#endif
