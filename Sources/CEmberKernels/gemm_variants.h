// Declarations of the per-instruction-set GEMM kernels that gemm_generic.c dispatches to.
#ifndef EMBER_GEMM_VARIANTS_H
#define EMBER_GEMM_VARIANTS_H
#include <stdint.h>
#include "ember_conv.h"

#define GEMM_DECLARE_VARIANT(T, SUFFIX, VARIANT)                                                      \
    void ember_gemm_pack_a_##SUFFIX##_##VARIANT(int64_t, int64_t, const T *, int64_t, int64_t, T *); \
    void ember_gemm_pack_b_##SUFFIX##_##VARIANT(int64_t, int64_t, const T *, int64_t, int64_t, T *); \
    void ember_gemm_pack_im2col_##SUFFIX##_##VARIANT(int64_t, int64_t, const T *, int64_t,            \
                                                     const ember_window_geometry *, int64_t, int64_t, T *); \
    void ember_gemm_macro_##SUFFIX##_##VARIANT(int64_t, int64_t, int64_t, T, const T *, const T *, T, \
                                               T *, int64_t);                                        \
    void ember_gemm_direct_##SUFFIX##_##VARIANT(int64_t, int64_t, int64_t, T, const T *, int64_t,     \
                                                int64_t, const T *, int64_t, int64_t, T, T *, int64_t);

GEMM_DECLARE_VARIANT(float, f32, avx2)
GEMM_DECLARE_VARIANT(double, f64, avx2)
void ember_gemm_small_f32_avx2(int64_t, int64_t, int64_t, float, const float *, int64_t, int64_t,
                               const float *, int64_t, float, float *, int64_t);
void ember_gemm_small_f64_avx2(int64_t, int64_t, int64_t, double, const double *, int64_t, int64_t,
                               const double *, int64_t, double, double *, int64_t);
void ember_gemm_row_table_f32_avx2(int64_t, int64_t, int64_t, float, const float *, int64_t, int64_t,
                                   const float *, const int64_t *, const float *, float, float *,
                                   int64_t);
void ember_gemm_row_table_f64_avx2(int64_t, int64_t, int64_t, double, const double *, int64_t, int64_t,
                                   const double *, const int64_t *, const double *, double,
                                   double *, int64_t);
void ember_gemm_a_row_table_f32_avx2(int64_t, int64_t, int64_t, float, const float *, const int64_t *,
                                     const float *, int64_t, float, float *, int64_t);
void ember_gemm_a_row_table_f64_avx2(int64_t, int64_t, int64_t, double, const double *, const int64_t *,
                                     const double *, int64_t, double, double *, int64_t);
GEMM_DECLARE_VARIANT(float, f32, avx512)
GEMM_DECLARE_VARIANT(double, f64, avx512)
GEMM_DECLARE_VARIANT(float, f32, neon)
GEMM_DECLARE_VARIANT(double, f64, neon)
void ember_gemm_small_f32_neon(int64_t, int64_t, int64_t, float, const float *, int64_t, int64_t,
                               const float *, int64_t, float, float *, int64_t);
void ember_gemm_small_f64_neon(int64_t, int64_t, int64_t, double, const double *, int64_t, int64_t,
                               const double *, int64_t, double, double *, int64_t);
void ember_gemm_row_table_f32_neon(int64_t, int64_t, int64_t, float, const float *, int64_t, int64_t,
                                   const float *, const int64_t *, const float *, float, float *,
                                   int64_t);
void ember_gemm_row_table_f64_neon(int64_t, int64_t, int64_t, double, const double *, int64_t, int64_t,
                                   const double *, const int64_t *, const double *, double,
                                   double *, int64_t);
void ember_gemm_a_row_table_f32_neon(int64_t, int64_t, int64_t, float, const float *, const int64_t *,
                                     const float *, int64_t, float, float *, int64_t);
void ember_gemm_a_row_table_f64_neon(int64_t, int64_t, int64_t, double, const double *, const int64_t *,
                                     const double *, int64_t, double, double *, int64_t);

#endif
