// im2col, col2im and pooling written once over SCALAR and instantiated by conv.c for float and
// double (the SUFFIX names them). Memory-bound loops: the valid column range of each kernel
// offset is computed once, so the inner loop is a plain (often unit-stride) copy that the
// compiler vectorises, with no bounds test per element.

// First output column ox whose input column ox*stride - pad + offset is >= 0, and one past the
// last whose input column is < width.
static inline void CONCAT(valid_range, SUFFIX)(int64_t offset, int64_t stride, int64_t pad, int64_t size,
                                               int64_t out_size, int64_t *begin, int64_t *end) {
    int64_t shift = offset - pad;  // input = ox*stride + shift
    int64_t lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
    int64_t hi = size - shift <= 0 ? 0 : (size - shift + stride - 1) / stride;
    if (hi > out_size) hi = out_size;
    if (lo > hi) lo = hi;
    *begin = lo;
    *end = hi;
}

void CONCAT(ember_im2col_, SUFFIX)(const SCALAR *input, const ember_window_geometry *g,
                                   int64_t row_begin, int64_t row_end, SCALAR *columns) {
    const int64_t oh = g->out_height, ow = g->out_width, plane = oh * ow;
    const int64_t area = g->kernel_h * g->kernel_w;
    for (int64_t r = row_begin; r < row_end; r++) {
        const int64_t c = r / area, ky = (r % area) / g->kernel_w, kx = r % g->kernel_w;
        const SCALAR *image = input + c * g->height * g->width;
        {
            {
                SCALAR *row = columns + r * plane;
                int64_t x0, x1;
                CONCAT(valid_range, SUFFIX)(kx * g->dilation_w, g->stride_w, g->pad_w, g->width, ow, &x0, &x1);
                const int64_t shift = kx * g->dilation_w - g->pad_w;
                for (int64_t oy = 0; oy < oh; oy++) {
                    SCALAR *out = row + oy * ow;
                    const int64_t iy = oy * g->stride_h - g->pad_h + ky * g->dilation_h;
                    if (iy < 0 || iy >= g->height) {
                        for (int64_t ox = 0; ox < ow; ox++) out[ox] = 0;
                        continue;
                    }
                    const SCALAR *in = image + iy * g->width + shift;
                    for (int64_t ox = 0; ox < x0; ox++) out[ox] = 0;
                    if (g->stride_w == 1) {
                        for (int64_t ox = x0; ox < x1; ox++) out[ox] = in[ox];
                    } else {
                        const int64_t s = g->stride_w;
                        for (int64_t ox = x0; ox < x1; ox++) out[ox] = in[ox * s];
                    }
                    for (int64_t ox = x1; ox < ow; ox++) out[ox] = 0;
                }
            }
        }
    }
}

void CONCAT(ember_col2im_, SUFFIX)(const SCALAR *columns, const ember_window_geometry *g,
                                   int64_t channel_begin, int64_t channel_end, SCALAR *input) {
    const int64_t oh = g->out_height, ow = g->out_width, plane = oh * ow;
    for (int64_t c = channel_begin; c < channel_end; c++) {
        SCALAR *image = input + c * g->height * g->width;
        for (int64_t ky = 0; ky < g->kernel_h; ky++) {
            for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                const SCALAR *row = columns + ((c * g->kernel_h + ky) * g->kernel_w + kx) * plane;
                int64_t x0, x1;
                CONCAT(valid_range, SUFFIX)(kx * g->dilation_w, g->stride_w, g->pad_w, g->width, ow, &x0, &x1);
                const int64_t shift = kx * g->dilation_w - g->pad_w;
                for (int64_t oy = 0; oy < oh; oy++) {
                    const int64_t iy = oy * g->stride_h - g->pad_h + ky * g->dilation_h;
                    if (iy < 0 || iy >= g->height) continue;
                    const SCALAR *src = row + oy * ow;
                    SCALAR *in = image + iy * g->width + shift;
                    if (g->stride_w == 1) {
                        for (int64_t ox = x0; ox < x1; ox++) in[ox] += src[ox];
                    } else {
                        const int64_t s = g->stride_w;
                        for (int64_t ox = x0; ox < x1; ox++) in[ox * s] += src[ox];
                    }
                }
            }
        }
    }
}

void CONCAT(ember_max_pool2d_, SUFFIX)(const SCALAR *input, const ember_window_geometry *g,
                                       int64_t plane_begin, int64_t plane_end, SCALAR *output, int64_t *indices) {
    const int64_t h = g->height, w = g->width, oh = g->out_height, ow = g->out_width;
    for (int64_t p = plane_begin; p < plane_end; p++) {
        const SCALAR *image = input + p * h * w;
        SCALAR *out = output + p * oh * ow;
        int64_t *idx = indices + p * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            int64_t y0 = oy * g->stride_h - g->pad_h;
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t x0 = ox * g->stride_w - g->pad_w;
                SCALAR best = 0;
                int64_t best_index = -1;
                for (int64_t ky = 0; ky < g->kernel_h; ky++) {
                    int64_t iy = y0 + ky * g->dilation_h;
                    if (iy < 0 || iy >= h) continue;
                    for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                        int64_t ix = x0 + kx * g->dilation_w;
                        if (ix < 0 || ix >= w) continue;
                        SCALAR v = image[iy * w + ix];
                        if (best_index < 0 || v > best || v != v) {
                            best = v;
                            best_index = iy * w + ix;
                        }
                    }
                }
                out[oy * ow + ox] = best_index < 0 ? -(SCALAR)INFINITY : best;
                idx[oy * ow + ox] = best_index < 0 ? 0 : best_index;
            }
        }
    }
}

void CONCAT(ember_window_average_, SUFFIX)(const SCALAR *source, int64_t height, int64_t width,
                                           int64_t out_height, int64_t out_width,
                                           const int64_t *row_start, const int64_t *row_end, const double *row_scale,
                                           const int64_t *col_start, const int64_t *col_end, const double *col_scale,
                                           int64_t plane_begin, int64_t plane_end, int transpose, SCALAR *destination) {
    const int64_t in_plane = height * width, out_plane = out_height * out_width;
    for (int64_t p = plane_begin; p < plane_end; p++) {
        for (int64_t oy = 0; oy < out_height; oy++) {
            for (int64_t ox = 0; ox < out_width; ox++) {
                const SCALAR scale = (SCALAR)(row_scale[oy] * col_scale[ox]);
                if (!transpose) {
                    const SCALAR *image = source + p * in_plane;
                    SCALAR sum = 0;
                    for (int64_t iy = row_start[oy]; iy < row_end[oy]; iy++)
                        for (int64_t ix = col_start[ox]; ix < col_end[ox]; ix++) sum += image[iy * width + ix];
                    destination[p * out_plane + oy * out_width + ox] = sum * scale;
                } else {
                    SCALAR *image = destination + p * in_plane;
                    const SCALAR value = source[p * out_plane + oy * out_width + ox] * scale;
                    for (int64_t iy = row_start[oy]; iy < row_end[oy]; iy++)
                        for (int64_t ix = col_start[ox]; ix < col_end[ox]; ix++) image[iy * width + ix] += value;
                }
            }
        }
    }
}
