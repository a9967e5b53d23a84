// AVX2+FMA variant of the GEMM kernels (x86_64 only), chosen at run time.
//
// Micro-tiles: 6 x 16 floats and 6 x 8 doubles, i.e. 6 rows of two 256-bit vectors. That is 12
// accumulators, plus two vectors of B and one broadcast of A: 15 of the 16 ymm registers. Each
// depth step issues 12 FMAs for 2 loads of B and 6 broadcasts of A, enough to keep both FMA
// pipes busy (BLIS and OpenBLAS use the same shape on Haswell and Zen). Rejected: 8 x 12 / 4 x
// 24 shapes, which need more broadcasts or more B loads per FMA.
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

#define GEMM_VARIANT avx2
#define GEMM_MR_F32 6
#define GEMM_NR_F32 16
#define GEMM_MR_F64 6
#define GEMM_NR_F64 8

// VEC is the vector type, W its width in elements; the macros spell the intrinsics of a type.
#define DEFINE_AVX2_MICRO(T, SUFFIX, VEC, W, ZERO, LOAD, STORE, BROADCAST, FMADD, MUL, SET1)         \
    static inline __attribute__((always_inline)) void gemm_micro_##SUFFIX(                           \
        int64_t kc, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc, T alpha,   \
        T beta) {                                                                                    \
        VEC c00 = ZERO(), c01 = ZERO(), c10 = ZERO(), c11 = ZERO(), c20 = ZERO(), c21 = ZERO();      \
        VEC c30 = ZERO(), c31 = ZERO(), c40 = ZERO(), c41 = ZERO(), c50 = ZERO(), c51 = ZERO();      \
        for (int i = 0; i < 6; i++) {                                                                \
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);                                  \
            _mm_prefetch((const char *)(c + i * ldc + 2 * W - 1), _MM_HINT_T0);                      \
        }                                                                                            \
        for (int64_t p = 0; p < kc; p++) {                                                           \
            const VEC b0 = LOAD(b), b1 = LOAD(b + W);                                                \
            VEC ai;                                                                                  \
            ai = BROADCAST(a + 0); c00 = FMADD(ai, b0, c00); c01 = FMADD(ai, b1, c01);               \
            ai = BROADCAST(a + 1); c10 = FMADD(ai, b0, c10); c11 = FMADD(ai, b1, c11);               \
            ai = BROADCAST(a + 2); c20 = FMADD(ai, b0, c20); c21 = FMADD(ai, b1, c21);               \
            ai = BROADCAST(a + 3); c30 = FMADD(ai, b0, c30); c31 = FMADD(ai, b1, c31);               \
            ai = BROADCAST(a + 4); c40 = FMADD(ai, b0, c40); c41 = FMADD(ai, b1, c41);               \
            ai = BROADCAST(a + 5); c50 = FMADD(ai, b0, c50); c51 = FMADD(ai, b1, c51);               \
            a += 6;                                                                                  \
            b += 2 * W;                                                                              \
        }                                                                                            \
        const VEC va = SET1(alpha);                                                                  \
        if (beta == 0) {                                                                             \
            STORE(c + 0 * ldc, MUL(va, c00)); STORE(c + 0 * ldc + W, MUL(va, c01));                  \
            STORE(c + 1 * ldc, MUL(va, c10)); STORE(c + 1 * ldc + W, MUL(va, c11));                  \
            STORE(c + 2 * ldc, MUL(va, c20)); STORE(c + 2 * ldc + W, MUL(va, c21));                  \
            STORE(c + 3 * ldc, MUL(va, c30)); STORE(c + 3 * ldc + W, MUL(va, c31));                  \
            STORE(c + 4 * ldc, MUL(va, c40)); STORE(c + 4 * ldc + W, MUL(va, c41));                  \
            STORE(c + 5 * ldc, MUL(va, c50)); STORE(c + 5 * ldc + W, MUL(va, c51));                  \
        } else {                                                                                     \
            /* beta * C first, then one FMA: the same rounding as the scratch-tile edge path. */     \
            const VEC vb = SET1(beta);                                                               \
            STORE(c + 0 * ldc, FMADD(va, c00, MUL(vb, LOAD(c + 0 * ldc))));                          \
            STORE(c + 0 * ldc + W, FMADD(va, c01, MUL(vb, LOAD(c + 0 * ldc + W))));                  \
            STORE(c + 1 * ldc, FMADD(va, c10, MUL(vb, LOAD(c + 1 * ldc))));                          \
            STORE(c + 1 * ldc + W, FMADD(va, c11, MUL(vb, LOAD(c + 1 * ldc + W))));                  \
            STORE(c + 2 * ldc, FMADD(va, c20, MUL(vb, LOAD(c + 2 * ldc))));                          \
            STORE(c + 2 * ldc + W, FMADD(va, c21, MUL(vb, LOAD(c + 2 * ldc + W))));                  \
            STORE(c + 3 * ldc, FMADD(va, c30, MUL(vb, LOAD(c + 3 * ldc))));                          \
            STORE(c + 3 * ldc + W, FMADD(va, c31, MUL(vb, LOAD(c + 3 * ldc + W))));                  \
            STORE(c + 4 * ldc, FMADD(va, c40, MUL(vb, LOAD(c + 4 * ldc))));                          \
            STORE(c + 4 * ldc + W, FMADD(va, c41, MUL(vb, LOAD(c + 4 * ldc + W))));                  \
            STORE(c + 5 * ldc, FMADD(va, c50, MUL(vb, LOAD(c + 5 * ldc))));                          \
            STORE(c + 5 * ldc + W, FMADD(va, c51, MUL(vb, LOAD(c + 5 * ldc + W))));                  \
        }                                                                                            \
    }

DEFINE_AVX2_MICRO(float, f32, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps,
                  _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_set1_ps)
DEFINE_AVX2_MICRO(double, f64, __m256d, 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_storeu_pd,
                  _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_mul_pd, _mm256_set1_pd)

// The unpacked small-product strip (see gemm_impl.h): tiles of up to 6 rows of C by two
// vectors, B's rows loaded straight from memory (masked loads and stores for a partial last
// strip), A's elements broadcast through their strides. B's row p is at `b + p * brs`, or at
// `b + rows_of_b[p]` when there is a table for B; with a table for A, A's row i is at
// `a + rows_of_a[i]` (contiguous along k); `row_bias`, when there is one, adds row_bias[i] to
// row i of the result. `R`, `NV` (vectors per row), `MASKED` and `TABLE` are constants after
// inlining into the switches below, so each case keeps its accumulators in registers.
#define GEMM_SMALL_MR_F32 6
#define GEMM_SMALL_NR_F32 16
#define GEMM_SMALL_MR_F64 6
#define GEMM_SMALL_NR_F64 8

#define DEFINE_AVX2_SMALL(T, SUFFIX, VEC, W, ZERO, LOAD, STORE, MLOAD, MSTORE, BROADCAST, FMADD, MUL, \
                          ADD, SET1, MASK_FOR)                                                       \
    static inline __attribute__((always_inline)) void small_body_##SUFFIX(                          \
        const int R, const int NV, const int MASKED, const int TABLE, int64_t k, const T *a,         \
        int64_t ars, int64_t acs, const T *b, int64_t brs, const int64_t *rows,                      \
        const T *row_bias, T *c, int64_t ldc, T alpha, T beta, __m256i m0, __m256i m1) {             \
        VEC acc0[6], acc1[6];                                                                        \
        const T *a_row[6];                                                                           \
        for (int r = 0; r < R; r++) {                                                                \
            acc0[r] = ZERO();                                                                        \
            acc1[r] = ZERO();                                                                        \
            a_row[r] = TABLE == 2 ? a + rows[r] : a;                                                 \
        }                                                                                            \
        for (int64_t p = 0; p < k; p++) {                                                            \
            const T *bp = TABLE == 1 ? b + rows[p] : b + p * brs;                                    \
            const VEC b0 = MASKED && NV == 1 ? MLOAD(bp, m0) : LOAD(bp);                             \
            const VEC b1 = NV == 2 ? (MASKED ? MLOAD(bp + W, m1) : LOAD(bp + W)) : ZERO();           \
            const T *ap = a + p * acs;                                                               \
            for (int r = 0; r < R; r++) {                                                            \
                const VEC ai = BROADCAST(TABLE == 2 ? a_row[r] + p : ap + r * ars);                  \
                acc0[r] = FMADD(ai, b0, acc0[r]);                                                    \
                if (NV == 2) acc1[r] = FMADD(ai, b1, acc1[r]);                                       \
            }                                                                                        \
        }                                                                                            \
        const VEC va = SET1(alpha), vb = SET1(beta);                                                 \
        for (int r = 0; r < R; r++) {                                                                \
            T *cr = c + r * ldc;                                                                     \
            VEC v0 = MUL(va, acc0[r]), v1 = MUL(va, acc1[r]);                                        \
            if (beta != 0) {                                                                         \
                v0 = FMADD(va, acc0[r], MUL(vb, MASKED && NV == 1 ? MLOAD(cr, m0) : LOAD(cr)));      \
                if (NV == 2) v1 = FMADD(va, acc1[r], MUL(vb, MASKED ? MLOAD(cr + W, m1) : LOAD(cr + W))); \
            }                                                                                        \
            if (row_bias) {                                                                          \
                const VEC shift = SET1(row_bias[r]);                                                 \
                v0 = ADD(v0, shift);                                                                 \
                if (NV == 2) v1 = ADD(v1, shift);                                                    \
            }                                                                                        \
            if (MASKED && NV == 1) MSTORE(cr, m0, v0); else STORE(cr, v0);                           \
            if (NV == 2) { if (MASKED) MSTORE(cr + W, m1, v1); else STORE(cr + W, v1); }             \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* Full 6-row tiles in a loop, then the partial last one: the dispatch on the shape is    */ \
    /* paid once per strip, not per tile, which matters when k is short.                      */ \
    static inline __attribute__((always_inline)) void small_rows_##SUFFIX(                          \
        const int NV, const int MASKED, const int TABLE, int64_t m, int64_t k, const T *a,           \
        int64_t ars, int64_t acs, const T *b, int64_t brs, const int64_t *rows,                      \
        const T *row_bias, T *c, int64_t ldc, T alpha, T beta, __m256i m0, __m256i m1) {             \
        int64_t i = 0;                                                                               \
        for (; i + 6 <= m; i += 6)                                                                   \
            small_body_##SUFFIX(6, NV, MASKED, TABLE, k, TABLE == 2 ? a : a + i * ars, ars, acs, b,  \
                                brs, TABLE == 2 ? rows + i : rows, row_bias ? row_bias + i : 0,      \
                                c + i * ldc, ldc, alpha, beta, m0, m1);                              \
        if (TABLE == 2) rows += i; else a += i * ars;                                                \
        c += i * ldc;                                                                                \
        if (row_bias) row_bias += i;                                                                 \
        switch (m - i) {                                                                             \
        case 5: small_body_##SUFFIX(5, NV, MASKED, TABLE, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, m0, m1); break; \
        case 4: small_body_##SUFFIX(4, NV, MASKED, TABLE, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, m0, m1); break; \
        case 3: small_body_##SUFFIX(3, NV, MASKED, TABLE, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, m0, m1); break; \
        case 2: small_body_##SUFFIX(2, NV, MASKED, TABLE, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, m0, m1); break; \
        case 1: small_body_##SUFFIX(1, NV, MASKED, TABLE, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, m0, m1); break; \
        default: break;                                                                              \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    static inline __attribute__((always_inline)) void small_columns_##SUFFIX(                       \
        const int TABLE, int64_t m, int64_t cols, int64_t k, const T *a, int64_t ars,                \
        int64_t acs, const T *b, int64_t brs, const int64_t *rows, const T *row_bias, T *c,          \
        int64_t ldc, T alpha, T beta) {                                                              \
        const __m256i none = _mm256_setzero_si256();                                                 \
        if (cols == 2 * W) {                                                                         \
            small_rows_##SUFFIX(2, 0, TABLE, m, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, none, none); \
        } else if (cols == W) {                                                                      \
            small_rows_##SUFFIX(1, 0, TABLE, m, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, none, none); \
        } else if (cols > W) {                                                                       \
            small_rows_##SUFFIX(2, 1, TABLE, m, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, \
                                MASK_FOR(W), MASK_FOR(cols - W));                                    \
        } else {                                                                                     \
            small_rows_##SUFFIX(1, 1, TABLE, m, k, a, ars, acs, b, brs, rows, row_bias, c, ldc, alpha, beta, \
                                MASK_FOR(cols), none);                                               \
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

// Lane masks: lane l is on when l < count (count in 0...W).
static inline __m256i small_mask_f32(int64_t count) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), lanes);
}
static inline __m256i small_mask_f64(int64_t count) {
    const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), lanes);
}

DEFINE_AVX2_SMALL(float, f32, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps,
                  _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_broadcast_ss, _mm256_fmadd_ps,
                  _mm256_mul_ps, _mm256_add_ps, _mm256_set1_ps, small_mask_f32)
DEFINE_AVX2_SMALL(double, f64, __m256d, 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_storeu_pd,
                  _mm256_maskload_pd, _mm256_maskstore_pd, _mm256_broadcast_sd, _mm256_fmadd_pd,
                  _mm256_mul_pd, _mm256_add_pd, _mm256_set1_pd, small_mask_f64)

#include "gemm_impl.h"

#pragma clang attribute pop
#endif
