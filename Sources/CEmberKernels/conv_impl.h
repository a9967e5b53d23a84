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

// One row of im2col for one image: kernel tap (ky, kx) of one channel plane, for every output
// position. With unit column stride the valid part of each output row is one contiguous input
// segment (memcpy when long, an inline vectorised loop when short) and the edges are padding;
// no test per element either way.
static inline void CONCAT(im2col_row, SUFFIX)(const SCALAR *image, const ember_window_geometry *g,
                                              int64_t ky, int64_t kx, SCALAR *row) {
    const int64_t oh = g->out_height, ow = g->out_width;
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
        if (g->stride_w == 1 && x1 - x0 >= 256) {
            if (x0 > 0) memset(out, 0, (size_t)x0 * sizeof(SCALAR));
            memcpy(out + x0, in + x0, (size_t)(x1 - x0) * sizeof(SCALAR));
            if (ow > x1) memset(out + x1, 0, (size_t)(ow - x1) * sizeof(SCALAR));
        } else if (g->stride_w == 1) {
            // Short segments (LeNet's rows are 28 wide): a call to memcpy costs more than the copy.
            for (int64_t ox = 0; ox < x0; ox++) out[ox] = 0;
            for (int64_t ox = x0; ox < x1; ox++) out[ox] = in[ox];
            for (int64_t ox = x1; ox < ow; ox++) out[ox] = 0;
        } else {
            const int64_t s = g->stride_w;
            for (int64_t ox = 0; ox < x0; ox++) out[ox] = 0;
            for (int64_t ox = x0; ox < x1; ox++) out[ox] = in[ox * s];
            for (int64_t ox = x1; ox < ow; ox++) out[ox] = 0;
        }
    }
}

void CONCAT(ember_im2col_, SUFFIX)(const SCALAR *input, int64_t images, int64_t image_stride,
                                   const ember_window_geometry *g, int64_t row_begin, int64_t row_end,
                                   SCALAR *columns, int64_t column_stride) {
    const int64_t plane = g->out_height * g->out_width;
    const int64_t area = g->kernel_h * g->kernel_w;
    for (int64_t r = row_begin; r < row_end; r++) {
        const int64_t c = r / area, ky = (r % area) / g->kernel_w, kx = r % g->kernel_w;
        for (int64_t i = 0; i < images; i++) {
            CONCAT(im2col_row, SUFFIX)(input + i * image_stride + c * g->height * g->width, g, ky, kx,
                                       columns + r * column_stride + i * plane);
        }
    }
}

void CONCAT(ember_col2im_, SUFFIX)(const SCALAR *columns, int64_t column_stride, int64_t images,
                                   int64_t image_stride, const ember_window_geometry *g,
                                   int64_t channel_begin, int64_t channel_end, SCALAR *input) {
    const int64_t oh = g->out_height, ow = g->out_width, plane = oh * ow;
    for (int64_t i = 0; i < images; i++) {
        for (int64_t c = channel_begin; c < channel_end; c++) {
            SCALAR *image = input + i * image_stride + c * g->height * g->width;
            for (int64_t ky = 0; ky < g->kernel_h; ky++) {
                for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                    const SCALAR *row = columns + ((c * g->kernel_h + ky) * g->kernel_w + kx) * column_stride + i * plane;
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
}

// One kernel tap across a run of outputs: best[j] and index[j] take in[j*stride] (flat index
// base + j*stride) when it is greater or NaN. Written without branches (selects on the bits):
// a branch on random data mispredicts half the time (the first version spent 55% of max
// pooling on two jumps). Strides 1 and 2 get their own copies because the vectoriser only
// handles a stride known at compile time (a run-time stride is versioned on stride == 1 and
// falls back to scalar code otherwise); the AVX2 copies run 4 outputs per step (the 64-bit
// indices limit the width), the baseline ones 2.
#define EMBER_MAX_ROW_BODY(STRIDE)                                                      \
    for (int64_t j = 0; j < count; j++) {                                               \
        const SCALAR v = in[j * (STRIDE)];                                              \
        const SCALAR b = best[j];                                                       \
        const int64_t take = -(int64_t)((v > b) | (v != v));                            \
        SCALAR_BITS value_bits, best_bits;                                              \
        memcpy(&value_bits, &v, sizeof(SCALAR));                                        \
        memcpy(&best_bits, &b, sizeof(SCALAR));                                         \
        best_bits = (value_bits & (SCALAR_BITS)take) | (best_bits & ~(SCALAR_BITS)take); \
        memcpy(&best[j], &best_bits, sizeof(SCALAR));                                   \
        index[j] = ((base + j * (STRIDE)) & take) | (index[j] & ~take);                 \
    }

#define EMBER_MAX_ROW_VARIANT(NAME, ATTRIBUTE)                                                          \
    ATTRIBUTE static void CONCAT(NAME, SUFFIX)(const SCALAR *restrict in, int64_t stride, int64_t count,  \
                                               int64_t base, SCALAR *restrict best,                     \
                                               int64_t *restrict index) {                               \
        if (stride == 1) {                                                                              \
            EMBER_MAX_ROW_BODY(1)                                                                       \
        } else if (stride == 2) {                                                                       \
            EMBER_MAX_ROW_BODY(2)                                                                       \
        } else {                                                                                        \
            EMBER_MAX_ROW_BODY(stride)                                                                  \
        }                                                                                               \
    }

EMBER_MAX_ROW_VARIANT(max_row_generic_, )
// x86_64 only: elsewhere the baseline copy is the only one (on aarch64 it is already NEON), and
// an avx2 target attribute makes clang warn that it ignores the feature.
#if defined(__x86_64__)
EMBER_MAX_ROW_VARIANT(max_row_avx2_, __attribute__((target("avx2,fma"))))
#endif
#undef EMBER_MAX_ROW_VARIANT
#undef EMBER_MAX_ROW_BODY

// Max pooling, one output row at a time and one kernel tap at a time across that row: each
// tap's valid output columns are computed once (as im2col does), so the inner loop over output
// columns has no bounds test and vectorises (a compare and two selects per element). Every
// output still sees its taps in (ky, kx) order with a strict `>`, so ties keep the first index
// and NaN wins (the last NaN), exactly as the per-window loop and PyTorch.
void CONCAT(ember_max_pool2d_, SUFFIX)(const SCALAR *input, const ember_window_geometry *g,
                                       int64_t plane_begin, int64_t plane_end, SCALAR *output, int64_t *indices) {
    const int64_t h = g->height, w = g->width, oh = g->out_height, ow = g->out_width;
    const int64_t sw = g->stride_w, dw = g->dilation_w;
    void (*max_row)(const SCALAR *restrict, int64_t, int64_t, int64_t, SCALAR *restrict, int64_t *restrict) =
#if defined(__x86_64__)
        ember_cpu_level() >= 1 ? CONCAT(max_row_avx2_, SUFFIX) :
#endif
        CONCAT(max_row_generic_, SUFFIX);
    for (int64_t p = plane_begin; p < plane_end; p++) {
        const SCALAR *image = input + p * h * w;
        for (int64_t oy = 0; oy < oh; oy++) {
            SCALAR *out = output + (p * oh + oy) * ow;
            int64_t *idx = indices + (p * oh + oy) * ow;
            const int64_t y0 = oy * g->stride_h - g->pad_h;
            // First valid row of the window (PyTorch's index when every value is -inf).
            int64_t first_y = -1;
            for (int64_t ky = 0; ky < g->kernel_h; ky++) {
                int64_t iy = y0 + ky * g->dilation_h;
                if (iy >= 0 && iy < h) { first_y = iy; break; }
            }
            for (int64_t ox = 0; ox < ow; ox++) {
                out[ox] = -(SCALAR)INFINITY;
                idx[ox] = 0;
                if (first_y < 0) continue;
                const int64_t x0 = ox * sw - g->pad_w;
                for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                    int64_t ix = x0 + kx * dw;
                    if (ix >= 0 && ix < w) { idx[ox] = first_y * w + ix; break; }
                }
            }
            if (first_y < 0) continue;
            for (int64_t ky = 0; ky < g->kernel_h; ky++) {
                const int64_t iy = y0 + ky * g->dilation_h;
                if (iy < 0 || iy >= h) continue;
                const SCALAR *row = image + iy * w;
                for (int64_t kx = 0; kx < g->kernel_w; kx++) {
                    int64_t a, b;
                    CONCAT(valid_range, SUFFIX)(kx * dw, sw, g->pad_w, w, ow, &a, &b);
                    const int64_t shift = kx * dw - g->pad_w;
                    if (b > a) max_row(row + a * sw + shift, sw, b - a, iy * w + a * sw + shift, out + a, idx + a);
                }
            }
        }
    }
}

// The adjoint of max pooling's selection: adds each output gradient to its plane's argmax.
void CONCAT(ember_max_pool2d_backward_, SUFFIX)(const SCALAR *grad_output, const int64_t *indices,
                                                int64_t in_plane, int64_t out_plane,
                                                int64_t plane_begin, int64_t plane_end, SCALAR *grad_input) {
    for (int64_t p = plane_begin; p < plane_end; p++) {
        SCALAR *dst = grad_input + p * in_plane;
        const SCALAR *src = grad_output + p * out_plane;
        const int64_t *idx = indices + p * out_plane;
        memset(dst, 0, (size_t)in_plane * sizeof(SCALAR));
        for (int64_t j = 0; j < out_plane; j++) dst[idx[j]] += src[j];
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
