// AVX-512 variant of the GEMM kernels (x86_64 only), chosen at run time.
//
// Micro-tiles: 12 x 32 floats and 12 x 16 doubles, i.e. 12 rows of two 512-bit vectors: 24
// accumulators plus two vectors of B and one broadcast of A out of the 32 zmm registers, the
// shape OpenBLAS uses on Skylake-X. The tile loops below are over constant bounds, so clang
// unrolls them fully and keeps the accumulator array in registers.
//
// Not benchmarked on the development machine (it has no AVX-512); it shares the packing,
// macro-kernel and edge handling of the AVX2 variant and the tests run it wherever the CPU
// supports it.
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), apply_to = function)

#define GEMM_VARIANT avx512
#define GEMM_MR_F32 12
#define GEMM_NR_F32 32
#define GEMM_MR_F64 12
#define GEMM_NR_F64 16

#define DEFINE_AVX512_MICRO(T, SUFFIX, VEC, W, ZERO, LOAD, STORE, SET1, FMADD, MUL)                  \
    static inline __attribute__((always_inline)) void gemm_micro_##SUFFIX(                           \
        int64_t kc, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc, T alpha,   \
        T beta) {                                                                                    \
        VEC acc[12][2];                                                                              \
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) {                            \
            acc[i][0] = ZERO();                                                                      \
            acc[i][1] = ZERO();                                                                      \
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);                                  \
            _mm_prefetch((const char *)(c + i * ldc + 2 * W - 1), _MM_HINT_T0);                      \
        }                                                                                            \
        for (int64_t p = 0; p < kc; p++) {                                                           \
            const VEC b0 = LOAD(b), b1 = LOAD(b + W);                                                \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) {                        \
                const VEC ai = SET1(a[i]);                                                           \
                acc[i][0] = FMADD(ai, b0, acc[i][0]);                                                \
                acc[i][1] = FMADD(ai, b1, acc[i][1]);                                                \
            }                                                                                        \
            a += 12;                                                                                 \
            b += 2 * W;                                                                              \
        }                                                                                            \
        const VEC va = SET1(alpha);                                                                  \
        if (beta == 0) {                                                                             \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) {                        \
                STORE(c + i * ldc, MUL(va, acc[i][0]));                                              \
                STORE(c + i * ldc + W, MUL(va, acc[i][1]));                                          \
            }                                                                                        \
        } else {                                                                                     \
            const VEC vb = SET1(beta);                                                               \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) {                        \
                STORE(c + i * ldc, FMADD(va, acc[i][0], MUL(vb, LOAD(c + i * ldc))));                \
                STORE(c + i * ldc + W, FMADD(va, acc[i][1], MUL(vb, LOAD(c + i * ldc + W))));        \
            }                                                                                        \
        }                                                                                            \
    }

DEFINE_AVX512_MICRO(float, f32, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps,
                    _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps)
DEFINE_AVX512_MICRO(double, f64, __m512d, 8, _mm512_setzero_pd, _mm512_loadu_pd, _mm512_storeu_pd,
                    _mm512_set1_pd, _mm512_fmadd_pd, _mm512_mul_pd)

#include "gemm_impl.h"

#pragma clang attribute pop
#endif
