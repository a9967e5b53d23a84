#ifndef EMBER_GEMM_H
#define EMBER_GEMM_H

// Matrix multiplication kernels, the bottom half of Ember's GEMM (the Swift driver in
// EmberKernels/GEMM.swift owns the cache blocking and the threading).
//
// The design is the Goto/BLIS one: the driver cuts C into blocks, packs a KC x NC slice of B
// into column panels NR wide and an MC x KC slice of A into row panels MR tall, then calls the
// macro-kernel, which walks the MR x NR tiles of the block and runs a register-blocked
// micro-kernel on each. Packing makes every micro-kernel load contiguous whatever the strides
// of A and B were (so transposed views need no copy), and the zero padding of the last panels
// lets the micro-kernel always run a full tile.
//
// Tile sizes depend on the instruction set, so the driver asks for a configuration once per
// call and passes it back to every function; a configuration never mixes variants even when
// the level is changed (by tests) between calls.

#include <stdint.h>
#include "ember_types.h"
#include "ember_conv.h"

/// The kernels chosen for one call and their blocking parameters, in elements.
typedef struct {
    int32_t variant; ///< instruction-set level: 0 generic, 1 AVX2+FMA, 2 AVX-512, 3 NEON (aarch64)
    int32_t mr;      ///< micro-tile rows (rows of C per register block)
    int32_t nr;      ///< micro-tile columns (contiguous columns of C per register block)
    int32_t mc;      ///< rows of A packed at once (a multiple of mr; the packed block stays in L2)
    int32_t kc;      ///< depth packed at once (one B micro-panel, kc x nr, stays in L1)
    int32_t nc;      ///< columns of B packed at once (the packed panel stays in L3)
} ember_gemm_config;

/// The kernels of instruction-set `level` (0 generic, 1 AVX2+FMA, 2 AVX-512, 3 NEON) and their
/// blocking. A level this machine lacks (above `ember_cpu_level()`, 1 and 2 on aarch64), or a
/// negative one, means `ember_cpu_level()`: pass -1 for the best kernels of this machine; tests
/// pass 0 to check the portable kernels.
ember_gemm_config ember_gemm_config_f32(int level);
ember_gemm_config ember_gemm_config_f64(int level);

/// Packs rows 0..<mc and depth 0..<kc of A, element (i, p) at a[i * row_stride + p * column_stride],
/// into ceil(mc / mr) panels of kc x mr (panel-major, then depth, then row), zero-padding rows past mc.
/// `packed` holds at least round_up(mc, mr) * kc elements.
void ember_gemm_pack_a_f32(ember_gemm_config config, int64_t mc, int64_t kc, const float *a,
                           int64_t row_stride, int64_t column_stride, float *packed);
void ember_gemm_pack_a_f64(ember_gemm_config config, int64_t mc, int64_t kc, const double *a,
                           int64_t row_stride, int64_t column_stride, double *packed);

/// Packs depth 0..<kc and columns 0..<nc of B, element (p, j) at b[p * row_stride + j * column_stride],
/// into ceil(nc / nr) panels of kc x nr, zero-padding columns past nc.
/// `packed` holds at least kc * round_up(nc, nr) elements.
void ember_gemm_pack_b_f32(ember_gemm_config config, int64_t kc, int64_t nc, const float *b,
                           int64_t row_stride, int64_t column_stride, float *packed);
void ember_gemm_pack_b_f64(ember_gemm_config config, int64_t kc, int64_t nc, const double *b,
                           int64_t row_stride, int64_t column_stride, double *packed);

/// Packs depth k0..<k0+kc and columns j0..<j0+nc of the im2col matrix of `images` images (the
/// column matrix `ember_im2col_*` would write for them: row c*kh*kw + ky*kw + kx, column
/// i*out_height*out_width + oy*out_width + ox) in the layout of `ember_gemm_pack_b_*`, reading the
/// [channels, height, width] images directly, image i at image + i*image_stride, so that a
/// convolution's GEMM never materialises the column matrix. The number of images is implied by
/// the columns asked for; image_stride is not read while they all lie in the first image.
void ember_gemm_pack_im2col_f32(ember_gemm_config config, int64_t kc, int64_t nc, const float *image,
                                int64_t image_stride, const ember_window_geometry *g, int64_t k0,
                                int64_t j0, float *packed);
void ember_gemm_pack_im2col_f64(ember_gemm_config config, int64_t kc, int64_t nc, const double *image,
                                int64_t image_stride, const ember_window_geometry *g, int64_t k0,
                                int64_t j0, double *packed);

/// C[i, j] = alpha * sum_p A[i, p] * B[p, j] + beta * C[i, j] over an mc x nc block, from panels
/// packed with the same configuration (kc >= 1). C has unit column stride; beta == 0 never reads C.
void ember_gemm_macro_f32(ember_gemm_config config, int64_t mc, int64_t nc, int64_t kc, float alpha,
                          const float *packed_a, const float *packed_b, float beta, float *c,
                          int64_t c_row_stride);
void ember_gemm_macro_f64(ember_gemm_config config, int64_t mc, int64_t nc, int64_t kc, double alpha,
                          const double *packed_a, const double *packed_b, double beta, double *c,
                          int64_t c_row_stride);

/// The whole product without packing, for problems too small to repay it (and for k == 0 or
/// alpha == 0, where it only scales C by beta and reads neither A nor B). Same contract as the
/// macro-kernel, on raw strides; only the configuration's variant matters.
void ember_gemm_direct_f32(ember_gemm_config config, int64_t m, int64_t n, int64_t k, float alpha,
                           const float *a, int64_t a_row_stride, int64_t a_column_stride,
                           const float *b, int64_t b_row_stride, int64_t b_column_stride,
                           float beta, float *c, int64_t c_row_stride);
void ember_gemm_direct_f64(ember_gemm_config config, int64_t m, int64_t n, int64_t k, double alpha,
                           const double *a, int64_t a_row_stride, int64_t a_column_stride,
                           const double *b, int64_t b_row_stride, int64_t b_column_stride,
                           double beta, double *c, int64_t c_row_stride);

/// The whole product without packing for small and short ones whose B has unit column stride
/// (element (p, j) at b[p * b_row_stride + j]): register tiles of C (6 x 16 floats / 6 x 8 doubles
/// with AVX2, also on AVX-512 machines, and with NEON) accumulate broadcasts of A times rows of B
/// loaded in place. A may have any strides. Same contract as `ember_gemm_direct_*` otherwise (k == 0 gives
/// beta * C; beta == 0 never reads C); only the configuration's variant matters.
void ember_gemm_small_f32(ember_gemm_config config, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *a, int64_t a_row_stride, int64_t a_column_stride,
                          const float *b, int64_t b_row_stride, float beta, float *c,
                          int64_t c_row_stride);
void ember_gemm_small_f64(ember_gemm_config config, int64_t m, int64_t n, int64_t k, double alpha,
                          const double *a, int64_t a_row_stride, int64_t a_column_stride,
                          const double *b, int64_t b_row_stride, double beta, double *c,
                          int64_t c_row_stride);

/// `ember_gemm_small_*` with B given as a table of rows: element (p, j) at
/// b[rows_of_b[p] + j]. A convolution with unit strides reads its input this way without an
/// im2col matrix: for the depth index p = (channel, ky, kx) and the output positions of one row,
/// B's row is a run of the (padded) image starting at channel · plane + ky · width + kx. When
/// `row_bias` is not NULL, row_bias[i] is added to row i of the result (a convolution's bias),
/// so C is written once. Runs on the calling thread, in depth blocks (see gemm_impl.h); k == 0
/// gives beta * C (+ the bias).
void ember_gemm_row_table_f32(ember_gemm_config config, int64_t m, int64_t n, int64_t k, float alpha,
                              const float *a, int64_t a_row_stride, int64_t a_column_stride,
                              const float *b, const int64_t *rows_of_b, const float *row_bias,
                              float beta, float *c, int64_t c_row_stride);
void ember_gemm_row_table_f64(ember_gemm_config config, int64_t m, int64_t n, int64_t k, double alpha,
                              const double *a, int64_t a_row_stride, int64_t a_column_stride,
                              const double *b, const int64_t *rows_of_b, const double *row_bias,
                              double beta, double *c, int64_t c_row_stride);

/// `ember_gemm_small_*` with A given as a table of rows: element (i, p) at a[rows_of_a[i] + p]
/// (contiguous along k), B with unit column stride. A convolution's weight gradient reads the
/// windows of one output row this way, as A = the im2col matrix of that row. Runs on the
/// calling thread, in depth blocks; k == 0 gives beta * C.
void ember_gemm_a_row_table_f32(ember_gemm_config config, int64_t m, int64_t n, int64_t k, float alpha,
                                const float *a, const int64_t *rows_of_a, const float *b,
                                int64_t b_row_stride, float beta, float *c, int64_t c_row_stride);
void ember_gemm_a_row_table_f64(ember_gemm_config config, int64_t m, int64_t n, int64_t k, double alpha,
                                const double *a, const int64_t *rows_of_a, const double *b,
                                int64_t b_row_stride, double beta, double *c, int64_t c_row_stride);

#endif
