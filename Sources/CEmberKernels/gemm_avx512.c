// AVX-512 variant of the GEMM kernels (x86_64 only), chosen at run time.
//
// Micro-tiles: 12 x 32 floats and 12 x 16 doubles, i.e. 12 rows of two 512-bit vectors: 24
// accumulators plus two vectors of B and one broadcast of A out of the 32 zmm registers, the
// shape OpenBLAS uses on Skylake-X. The tile loops run over constant bounds, so clang unrolls
// them and keeps the accumulator array in registers.
//
// Written with clang's vector extensions and __builtin_elementwise_fma rather than the
// _mm512 intrinsics, so that the very same source can be compiled for an AVX2 target
// (define GEMM_AVX512_TARGET="avx2,fma") and checked for correctness on machines without
// AVX-512; that is how it was verified, since the development machine has no AVX-512 and so
// it has not been benchmarked. Under the real target the 64-byte vectors map one-to-one onto
// zmm registers and each FMA onto one vfmadd231ps/pd.
#if defined(__x86_64__)
#include <stdint.h>
#include <string.h>

#ifndef GEMM_AVX512_TARGET
#define GEMM_AVX512_TARGET "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"
#endif
#pragma clang attribute push(__attribute__((target(GEMM_AVX512_TARGET))), apply_to = function)

#define GEMM_VARIANT avx512
#define GEMM_MR_F32 12
#define GEMM_NR_F32 32
#define GEMM_MR_F64 12
#define GEMM_NR_F64 16

typedef float gemm_f32x16 __attribute__((ext_vector_type(16)));
typedef double gemm_f64x8 __attribute__((ext_vector_type(8)));

// VEC is a 512-bit vector of T holding W elements; loads and stores go through memcpy, which
// clang turns into unaligned vector moves.
#define DEFINE_AVX512_MICRO(T, SUFFIX, VEC, W)                                                       \
    static inline __attribute__((always_inline)) VEC load_##SUFFIX(const T *p) {                     \
        VEC v;                                                                                       \
        memcpy(&v, p, sizeof v);                                                                     \
        return v;                                                                                    \
    }                                                                                                \
    static inline __attribute__((always_inline)) void store_##SUFFIX(T *p, VEC v) {                  \
        memcpy(p, &v, sizeof v);                                                                     \
    }                                                                                                \
    static inline __attribute__((always_inline)) void gemm_micro_##SUFFIX(                           \
        int64_t kc, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc, T alpha,   \
        T beta) {                                                                                    \
        VEC acc[12][2];                                                                              \
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) {                            \
            acc[i][0] = 0;                                                                           \
            acc[i][1] = 0;                                                                           \
            __builtin_prefetch(c + i * ldc);                                                         \
            __builtin_prefetch(c + i * ldc + 2 * W - 1);                                             \
        }                                                                                            \
        for (int64_t p = 0; p < kc; p++) {                                                           \
            const VEC b0 = load_##SUFFIX(b), b1 = load_##SUFFIX(b + W);                              \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) {                        \
                const VEC ai = a[i];                                                                 \
                acc[i][0] = __builtin_elementwise_fma(ai, b0, acc[i][0]);                            \
                acc[i][1] = __builtin_elementwise_fma(ai, b1, acc[i][1]);                            \
            }                                                                                        \
            a += 12;                                                                                 \
            b += 2 * W;                                                                              \
        }                                                                                            \
        const VEC va = alpha;                                                                        \
        if (beta == 0) {                                                                             \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) {                        \
                store_##SUFFIX(c + i * ldc, va * acc[i][0]);                                         \
                store_##SUFFIX(c + i * ldc + W, va * acc[i][1]);                                     \
            }                                                                                        \
        } else {                                                                                     \
            const VEC vb = beta;                                                                     \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < 12; i++) {                        \
                T *row = c + i * ldc;                                                                \
                store_##SUFFIX(row, __builtin_elementwise_fma(va, acc[i][0], vb * load_##SUFFIX(row)));     \
                store_##SUFFIX(row + W, __builtin_elementwise_fma(va, acc[i][1], vb * load_##SUFFIX(row + W))); \
            }                                                                                        \
        }                                                                                            \
    }

DEFINE_AVX512_MICRO(float, f32, gemm_f32x16, 16)
DEFINE_AVX512_MICRO(double, f64, gemm_f64x8, 8)

#include "gemm_impl.h"

#pragma clang attribute pop
#endif
