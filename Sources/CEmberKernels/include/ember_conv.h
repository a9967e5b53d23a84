#ifndef EMBER_CONV_H
#define EMBER_CONV_H

#include <stdint.h>

// Kernels behind convolution and pooling (single-threaded; the Swift drivers split the work).
//
// Geometry of one 2-D window operation, shared by im2col/col2im and the pooling kernels:
// input planes are [height, width] contiguous, output planes [out_height, out_width]; the
// window at output (oy, ox) reads input rows oy*stride_h - pad_h + ky*dilation_h (and the same
// for columns), positions outside the input read as zero (convolution) or are skipped (pooling).
typedef struct {
    int64_t height, width;
    int64_t out_height, out_width;
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t pad_h, pad_w;
    int64_t dilation_h, dilation_w;
} ember_window_geometry;

// im2col: writes rows [row_begin, row_end) of `columns` ([channels*kh*kw, images*out_h*out_w],
// row r at columns + r*column_stride) for `images` images of [channels, height, width], image i
// at input + i*image_stride; row c*kh*kw + ky*kw + kx holds the input under kernel tap (ky, kx)
// of channel c for every output position of every image (image i's block starts at column
// i*out_h*out_w). Rows are independent, so threads split them.
void ember_im2col_f32(const float *input, int64_t images, int64_t image_stride,
                      const ember_window_geometry *g, int64_t row_begin, int64_t row_end,
                      float *columns, int64_t column_stride);
void ember_im2col_f64(const double *input, int64_t images, int64_t image_stride,
                      const ember_window_geometry *g, int64_t row_begin, int64_t row_end,
                      double *columns, int64_t column_stride);

// col2im: the adjoint of im2col (same layouts); adds the rows of `columns` for channels
// [channel_begin, channel_end) of every image into `input` (which the caller zeroes first).
void ember_col2im_f32(const float *columns, int64_t column_stride, int64_t images, int64_t image_stride,
                      const ember_window_geometry *g, int64_t channel_begin, int64_t channel_end, float *input);
void ember_col2im_f64(const double *columns, int64_t column_stride, int64_t images, int64_t image_stride,
                      const ember_window_geometry *g, int64_t channel_begin, int64_t channel_end, double *input);

// Max pooling over planes [plane_begin, plane_end): output values and flat indices
// (y*width + x within the plane, as PyTorch). NaN wins, as in PyTorch.
void ember_max_pool2d_f32(const float *input, const ember_window_geometry *g,
                          int64_t plane_begin, int64_t plane_end, float *output, int64_t *indices);
void ember_max_pool2d_f64(const double *input, const ember_window_geometry *g,
                          int64_t plane_begin, int64_t plane_end, double *output, int64_t *indices);

// Max pooling's backward over planes [plane_begin, plane_end): zeroes each input-sized plane
// of `grad_input` and adds grad_output[p, j] at indices[p, j] (flat within the plane).
void ember_max_pool2d_backward_f32(const float *grad_output, const int64_t *indices, int64_t in_plane,
                                   int64_t out_plane, int64_t plane_begin, int64_t plane_end, float *grad_input);
void ember_max_pool2d_backward_f64(const double *grad_output, const int64_t *indices, int64_t in_plane,
                                   int64_t out_plane, int64_t plane_begin, int64_t plane_end, double *grad_input);

// Separable window averages over planes [plane_begin, plane_end): output (oy, ox) is the sum of
// input rows [row_start[oy], row_end[oy]) x columns [col_start[ox], col_end[ox]) times
// row_scale[oy] * col_scale[ox]. Average and adaptive-average pooling both reduce to this.
// `transpose` = 1 runs the adjoint: adds each output-sized value, scaled, over its window of
// `input`-sized planes (which the caller zeroes first); then `source` is output-sized.
void ember_window_average_f32(const float *source, int64_t height, int64_t width,
                              int64_t out_height, int64_t out_width,
                              const int64_t *row_start, const int64_t *row_end, const double *row_scale,
                              const int64_t *col_start, const int64_t *col_end, const double *col_scale,
                              int64_t plane_begin, int64_t plane_end, int transpose, float *destination);
void ember_window_average_f64(const double *source, int64_t height, int64_t width,
                              int64_t out_height, int64_t out_width,
                              const int64_t *row_start, const int64_t *row_end, const double *row_scale,
                              const int64_t *col_start, const int64_t *col_end, const double *col_scale,
                              int64_t plane_begin, int64_t plane_end, int transpose, double *destination);

#endif
