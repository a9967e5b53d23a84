// GEMM: every path of the C kernels (packed macro-kernel with the configuration's blocking and
// with tiny blocks, the direct loops, the unpacked small kernel, and the same with B's rows from
// a table plus a bias per row, or with A's rows from a table) on every level, against a
// naive triple loop in double. Operands end right before an inaccessible page and C's row
// padding holds a sentinel, so a kernel that reads or writes past an edge tile faults or fails.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

typedef enum { ROW_MAJOR, TRANSPOSED, PADDED, STRIDED } layout;
static const char *layout_names[] = {"row-major", "transposed", "padded", "strided"};

typedef enum { BLOCKED, BLOCKED_TINY, DIRECT, SMALL, ROW_TABLE, A_ROW_TABLE } path;
static const char *path_names[] = {"blocked", "blocked (tiny blocks)", "direct", "small", "row table", "A row table"};

/// Strides and storage length of a rows x cols operand stored in `l`.
static void layout_strides(layout l, int64_t rows, int64_t cols, int64_t *rs, int64_t *cs, int64_t *length) {
    switch (l) {
    case ROW_MAJOR: *rs = cols; *cs = 1; break;
    case TRANSPOSED: *rs = 1; *cs = rows; break;
    case PADDED: *rs = cols + 3; *cs = 1; break;
    case STRIDED: *rs = 2 * cols + 1; *cs = 2; break;
    }
    *length = rows > 0 && cols > 0 ? (rows - 1) * *rs + (cols - 1) * *cs + 1 : 0;
}

static const double SENTINEL = 1234.5;

/// One GEMM case per type: the problem, the path, the check. The reference and its error bound
/// are computed in double: |C - ref| <= 2 (k + 4) eps (|alpha| sum |a b| + |beta c|) covers the
/// kernel's rounding (k accumulations, alpha and beta) and, for double, the reference's own.
#define DEFINE_GEMM_CASE(T, SUFFIX, EPS)                                                                      \
    static void blocked_##SUFFIX(int level, int tiny, int64_t m, int64_t n, int64_t k, T alpha,               \
                                 const T *a, int64_t ars, int64_t acs, const T *b, int64_t brs,               \
                                 int64_t bcs, T beta, T *c, int64_t crs) {                                    \
        const ember_gemm_config config = ember_gemm_config_##SUFFIX(level);                                   \
        const int64_t mr = config.mr, nr = config.nr;                                                         \
        const int64_t mc = tiny ? 2 * mr : config.mc, kc = tiny ? 5 : config.kc;                              \
        const int64_t nc = tiny ? 2 * nr : config.nc;                                                         \
        T *packed_a = malloc(sizeof(T) * (size_t)(((mc + mr - 1) / mr) * mr * kc));                           \
        T *packed_b = malloc(sizeof(T) * (size_t)(((nc + nr - 1) / nr) * nr * kc));                           \
        for (int64_t jc = 0; jc < n; jc += nc) {                                                              \
            const int64_t nb = n - jc < nc ? n - jc : nc;                                                     \
            for (int64_t pc = 0; pc < k; pc += kc) {                                                          \
                const int64_t kb = k - pc < kc ? k - pc : kc;                                                 \
                ember_gemm_pack_b_##SUFFIX(config, kb, nb, b + pc * brs + jc * bcs, brs, bcs, packed_b);      \
                for (int64_t ic = 0; ic < m; ic += mc) {                                                      \
                    const int64_t mb = m - ic < mc ? m - ic : mc;                                             \
                    ember_gemm_pack_a_##SUFFIX(config, mb, kb, a + ic * ars + pc * acs, ars, acs, packed_a);  \
                    ember_gemm_macro_##SUFFIX(config, mb, nb, kb, alpha, packed_a, packed_b,                  \
                                              pc == 0 ? beta : (T)1, c + ic * crs + jc, crs);                 \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
        free(packed_a);                                                                                       \
        free(packed_b);                                                                                       \
    }                                                                                                         \
                                                                                                              \
    /* Returns 1 when the case passed. */                                                                     \
    static int gemm_case_##SUFFIX(int level, path p, int64_t m, int64_t n, int64_t k, layout la,              \
                                  layout lb, double alpha, double beta, int nan_c, int pad_c) {               \
        int64_t ars, acs, a_length, brs, bcs, b_length;                                                       \
        layout_strides(la, m, k, &ars, &acs, &a_length);                                                      \
        layout_strides(lb, k, n, &brs, &bcs, &b_length);                                                      \
        if ((p == SMALL || p == ROW_TABLE || p == A_ROW_TABLE) && bcs != 1) return 1;                         \
        if (p == A_ROW_TABLE && acs != 1) return 1;                                                           \
        if ((p == BLOCKED || p == BLOCKED_TINY) && k == 0) return 1; /* the driver goes direct */             \
        const int64_t crs = pad_c ? n + 3 : n;                                                                \
        const int64_t c_length = m > 0 && n > 0 ? (m - 1) * crs + n : 0;                                      \
        T *a = check_guarded_end(0, sizeof(T) * (size_t)a_length);                                            \
        T *b = check_guarded_end(1, sizeof(T) * (size_t)b_length);                                            \
        T *c = check_guarded_end(2, sizeof(T) * (size_t)c_length);                                            \
        T *c0 = malloc(sizeof(T) * (size_t)(c_length + 1));                                                   \
        for (int64_t i = 0; i < a_length; i++) a[i] = (T)check_uniform(-1, 1);                                \
        for (int64_t i = 0; i < b_length; i++) b[i] = (T)check_uniform(-1, 1);                                \
        for (int64_t i = 0; i < c_length; i++)                                                                \
            c[i] = i % crs >= n ? (T)SENTINEL : nan_c ? (T)NAN : (T)check_uniform(-1, 1);                     \
        memcpy(c0, c, sizeof(T) * (size_t)c_length);                                                          \
        const T ta = (T)alpha, tb = (T)beta;                                                                  \
        /* The row-table path reads B's row q at rows[q] = q * brs and adds bias[i] to row i. */              \
        int64_t *rows = malloc(sizeof(int64_t) * (size_t)(k + 1));                                            \
        int64_t *a_rows = malloc(sizeof(int64_t) * (size_t)(m + 1));                                          \
        for (int64_t i = 0; i < m; i++) a_rows[i] = i * ars;                                                  \
        T *bias = malloc(sizeof(T) * (size_t)(m + 1));                                                        \
        for (int64_t q = 0; q < k; q++) rows[q] = q * brs;                                                    \
        for (int64_t i = 0; i < m; i++) bias[i] = (T)check_uniform(-1, 1);                                    \
        switch (p) {                                                                                          \
        case BLOCKED:                                                                                         \
        case BLOCKED_TINY:                                                                                    \
            blocked_##SUFFIX(level, p == BLOCKED_TINY, m, n, k, ta, a, ars, acs, b, brs, bcs, tb, c, crs);    \
            break;                                                                                            \
        case DIRECT:                                                                                          \
            ember_gemm_direct_##SUFFIX(ember_gemm_config_##SUFFIX(level), m, n, k, ta, a, ars, acs,           \
                                       b, brs, bcs, tb, c, crs);                                              \
            break;                                                                                            \
        case SMALL:                                                                                           \
            ember_gemm_small_##SUFFIX(ember_gemm_config_##SUFFIX(level), m, n, k, ta, a, ars, acs,            \
                                      b, brs, tb, c, crs);                                                    \
            break;                                                                                            \
        case ROW_TABLE:                                                                                       \
            ember_gemm_row_table_##SUFFIX(ember_gemm_config_##SUFFIX(level), m, n, k, ta, a, ars, acs,        \
                                          b, rows, bias, tb, c, crs);                                         \
            break;                                                                                            \
        case A_ROW_TABLE:                                                                                     \
            ember_gemm_a_row_table_##SUFFIX(ember_gemm_config_##SUFFIX(level), m, n, k, ta, a, a_rows,        \
                                            b, brs, tb, c, crs);                                              \
            break;                                                                                            \
        }                                                                                                     \
        int ok = 1;                                                                                           \
        for (int64_t i = 0; i < m && ok; i++) {                                                               \
            for (int64_t j = 0; j < crs && ok; j++) {                                                         \
                if (i == m - 1 && j >= n) break;                                                              \
                const T got = c[i * crs + j];                                                                 \
                if (j >= n) {                                                                                 \
                    if (got != (T)SENTINEL) {                                                                 \
                        CHECK(0, #SUFFIX " %s level %d %lldx%lldx%lld: row padding (%lld, %lld) overwritten", \
                              path_names[p], level, (long long)m, (long long)n, (long long)k,                 \
                              (long long)i, (long long)j);                                                    \
                        ok = 0;                                                                               \
                    }                                                                                         \
                    continue;                                                                                 \
                }                                                                                             \
                double sum = 0, magnitude = 0;                                                                \
                for (int64_t q = 0; q < k; q++) {                                                             \
                    const double product = (double)a[i * ars + q * acs] * (double)b[q * brs + j * bcs];       \
                    sum += product;                                                                           \
                    magnitude += fabs(product);                                                               \
                }                                                                                             \
                const double old = (double)c0[i * crs + j];                                                   \
                const double shift = p == ROW_TABLE ? (double)bias[i] : 0;                                    \
                const double expected = (double)ta * sum + (tb == 0 ? 0 : (double)tb * old) + shift;          \
                const double bound = fabs((double)ta) * magnitude + (tb == 0 ? 0 : fabs((double)tb * old))    \
                                     + fabs(shift);                                                           \
                const double tolerance = 2 * (double)(k + 4) * (EPS) * bound + 1e-300;                        \
                if (!(fabs((double)got - expected) <= tolerance)) {                                           \
                    CHECK(0, #SUFFIX " %s level %d %lldx%lldx%lld A %s B %s alpha %g beta %g: "               \
                          "C[%lld, %lld] = %.17g, expected %.17g",                                            \
                          path_names[p], level, (long long)m, (long long)n, (long long)k,                     \
                          layout_names[la], layout_names[lb], alpha, beta, (long long)i, (long long)j,        \
                          (double)got, expected);                                                             \
                    ok = 0;                                                                                   \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
        if (ok) CHECK(1, "");                                                                                 \
        free(c0);                                                                                             \
        free(rows);                                                                                           \
        free(a_rows);                                                                                         \
        free(bias);                                                                                           \
        return ok;                                                                                            \
    }

DEFINE_GEMM_CASE(float, f32, 0x1p-24)
DEFINE_GEMM_CASE(double, f64, 0x1p-53)

#define DEFINE_IM2COL_CASE(T, SUFFIX)                                                                        \
    /* The implicit im2col packer against ember_im2col + pack_b, bit for bit, over `images`                  \
    images of group 1 of 3 (every other channel NaN, the last image ending right before an                   \
    inaccessible page), from several depth and column offsets. Returns 1 when it passed. */                  \
    static int im2col_case_##SUFFIX(int level, const ember_window_geometry *g, int64_t channels,             \
                                    int64_t images) {                                                        \
        const ember_gemm_config config = ember_gemm_config_##SUFFIX(level);                                  \
        const int64_t plane = g->height * g->width, stride = 3 * channels * plane;                           \
        const int64_t k = channels * g->kernel_h * g->kernel_w, n = g->out_height * g->out_width;            \
        const int64_t width = images * n, nr = config.nr;                                                    \
        /* The storage ends with group 1 of the last image: a read past it faults. */                        \
        const int64_t length = (images - 1) * stride + 2 * channels * plane;                                 \
        T *storage = check_guarded_end(3, sizeof(T) * (size_t)length);                                       \
        for (int64_t i = 0; i < length; i++) storage[i] = (T)NAN;                                            \
        T *image = storage + channels * plane;                                                               \
        for (int64_t i = 0; i < images; i++)                                                                 \
            for (int64_t q = 0; q < channels * plane; q++) image[i * stride + q] = (T)check_uniform(-1, 1);  \
        T *columns = malloc(sizeof(T) * (size_t)(k * width));                                                \
        ember_im2col_##SUFFIX(image, images, stride, g, 0, k, columns, width);                               \
        const int64_t offsets[][2] = {{0, 0}, {1, 3}, {k / 2, width / 3}, {k - 1, width - 1},                \
                                      {0, n - 1}, {1, n}, {k / 3, n + n / 2}};                               \
        const int count = images > 1 ? 7 : 4;                                                                \
        int ok = 1;                                                                                          \
        for (int o = 0; o < count && ok; o++) {                                                              \
            const int64_t k0 = offsets[o][0], j0 = offsets[o][1], kc = k - k0, nc = width - j0;              \
            const size_t size = (size_t)(kc * ((nc + nr - 1) / nr * nr));                                    \
            T *expected = malloc(sizeof(T) * size), *actual = malloc(sizeof(T) * size);                      \
            ember_gemm_pack_b_##SUFFIX(config, kc, nc, columns + k0 * width + j0, width, 1, expected);       \
            ember_gemm_pack_im2col_##SUFFIX(config, kc, nc, image, stride, g, k0, j0, actual);               \
            for (size_t q = 0; q < size && ok; q++) {                                                        \
                if (check_bits_##SUFFIX(expected[q]) != check_bits_##SUFFIX(actual[q])) {                    \
                    CHECK(0, #SUFFIX " implicit im2col level %d, %lld images %lldx%lldx%lld k%lldx%lld: "    \
                          "rows %lld.., columns %lld.., packed[%zu] = %g, expected %g",                      \
                          level, (long long)images, (long long)channels, (long long)g->height,               \
                          (long long)g->width, (long long)g->kernel_h, (long long)g->kernel_w,               \
                          (long long)k0, (long long)j0, q, (double)actual[q], (double)expected[q]);          \
                    ok = 0;                                                                                  \
                }                                                                                            \
            }                                                                                                \
            free(expected);                                                                                  \
            free(actual);                                                                                    \
        }                                                                                                    \
        if (ok) CHECK(1, "");                                                                                \
        free(columns);                                                                                       \
        return ok;                                                                                           \
    }

DEFINE_IM2COL_CASE(float, f32)
DEFINE_IM2COL_CASE(double, f64)

/// Convolution windows for the implicit im2col checks: padding, stride, dilation, LeNet's two
/// layers, and output widths around the NEON panel widths (12 and 6).
static void check_implicit_im2col(int level) {
    /* height, width, out_height, out_width, kernel, stride, pad, dilation (h then w); channels */
    static const struct { ember_window_geometry g; int64_t channels; } windows[] = {
        {{7, 9, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1}, 3},
        {{11, 13, 6, 7, 5, 3, 2, 2, 2, 1, 1, 1}, 2},
        {{14, 14, 10, 10, 5, 5, 1, 1, 0, 0, 1, 1}, 6},
        {{28, 28, 28, 28, 5, 5, 1, 1, 2, 2, 1, 1}, 1},
        {{8, 40, 4, 38, 3, 3, 2, 1, 1, 1, 1, 2}, 3},
        {{4, 5, 8, 9, 3, 3, 1, 1, 3, 3, 1, 1}, 2},
    };
    for (size_t w = 0; w < sizeof windows / sizeof *windows; w++)
        for (int64_t images = 1; images <= 3; images += 2) {
            im2col_case_f32(level, &windows[w].g, windows[w].channels, images);
            im2col_case_f64(level, &windows[w].g, windows[w].channels, images);
        }
}

static void gemm_case(int level, path p, int64_t m, int64_t n, int64_t k, layout la, layout lb, double alpha,
                      double beta, int nan_c, int pad_c) {
    gemm_case_f32(level, p, m, n, k, la, lb, alpha, beta, nan_c, pad_c);
    gemm_case_f64(level, p, m, n, k, la, lb, alpha, beta, nan_c, pad_c);
}

void check_gemm(void) {
#if defined(__aarch64__)
    // The configuration must name the NEON kernels and their tiles.
    const ember_gemm_config f32 = ember_gemm_config_f32(-1), f64 = ember_gemm_config_f64(-1);
    CHECK(f32.variant == 3 && f32.mr == 8 && f32.nr == 12, "f32 config variant %d %dx%d, expected NEON 8x12",
          f32.variant, f32.mr, f32.nr);
    CHECK(f64.variant == 3 && f64.mr == 8 && f64.nr == 6, "f64 config variant %d %dx%d, expected NEON 8x6",
          f64.variant, f64.mr, f64.nr);
    CHECK(ember_gemm_config_f32(0).variant == 0 && ember_gemm_config_f32(1).variant == 3,
          "level 0 must give the portable kernels and the x86 level 1 the best (NEON)");
#endif
    // Sizes around every variant's tiles: 8x12 / 8x6 NEON, 6x16 / 6x8 AVX2 and small, 12x32 /
    // 12x16 AVX-512, 4x8 / 4x4 portable.
    static const int64_t ms[] = {1, 2, 3, 5, 6, 7, 8, 9, 12, 13, 16, 17};
    static const int64_t ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 16, 17, 24, 25, 33};
    static const int64_t ks[] = {1, 4, 17};
    static const double pairs[][2] = {{1, 0}, {2.5, 0}, {1, 1}, {-0.5, 0.75}, {0, 2}, {0, 0}, {3, -1}};
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 2}, {13, 14, 9}, {37, 53, 71}};
    for (int li = 0; li < check_level_count; li++) {
        const int level = check_levels[li];
        const long level_before = check_failures;
        int index = 0;
        // Every tile edge, every path; beta = 0 over a NaN-filled C on every other case.
        for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
            for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
                for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++, index++)
                    for (path p = BLOCKED; p <= A_ROW_TABLE; p++) {
                        if (p == BLOCKED_TINY) continue;
                        const int nan_c = index % 2;
                        gemm_case(level, p, ms[mi], ns[ni], ks[ki], ROW_MAJOR, ROW_MAJOR, 1.5, nan_c ? 0 : -0.5,
                                  nan_c, index % 3 == 0);
                    }
        // Transposed, padded and strided operands.
        for (layout la = ROW_MAJOR; la <= STRIDED; la++)
            for (layout lb = ROW_MAJOR; lb <= STRIDED; lb++)
                for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
                    for (path p = BLOCKED; p <= A_ROW_TABLE; p++)
                        gemm_case(level, p, shapes[s][0], shapes[s][1], shapes[s][2], la, lb, 0.75, 1.25, 0, s % 2);
        // alpha and beta.
        for (size_t q = 0; q < sizeof pairs / sizeof *pairs; q++)
            for (path p = BLOCKED; p <= A_ROW_TABLE; p++) {
                gemm_case(level, p, 2, 3, 4, ROW_MAJOR, TRANSPOSED, pairs[q][0], pairs[q][1], 0, 0);
                gemm_case(level, p, 19, 21, 23, ROW_MAJOR, ROW_MAJOR, pairs[q][0], pairs[q][1], 0, 1);
                gemm_case(level, p, 17, 25, 9, TRANSPOSED, PADDED, pairs[q][0], pairs[q][1], pairs[q][1] == 0, 0);
            }
        // Several blocks in every direction, and one product larger than the default blocks' kc.
        for (path p = BLOCKED; p <= A_ROW_TABLE; p++) {
            gemm_case(level, p, 37, 53, 71, ROW_MAJOR, ROW_MAJOR, 1, 0, 1, 1);
            gemm_case(level, p, 64, 60, 40, TRANSPOSED, ROW_MAJOR, -1, 0.5, 0, 0);
        }
        gemm_case(level, BLOCKED, 70, 50, 300, ROW_MAJOR, TRANSPOSED, 0.5, 2, 0, 1);
        // The row table's depth blocks (192): the bias is added once, beta applied once.
        gemm_case(level, ROW_TABLE, 13, 21, 400, ROW_MAJOR, PADDED, 0.5, 2, 0, 1);
        gemm_case(level, ROW_TABLE, 7, 33, 193, TRANSPOSED, ROW_MAJOR, 1, 0, 1, 0);
        gemm_case(level, A_ROW_TABLE, 13, 21, 400, PADDED, ROW_MAJOR, 0.5, 2, 0, 1);
        // k = 0 scales C by beta (direct and small kernels; the driver never packs for it).
        for (int nan_c = 0; nan_c <= 1; nan_c++) {
            gemm_case(level, DIRECT, 5, 7, 0, ROW_MAJOR, ROW_MAJOR, 1, nan_c ? 0 : 0.5, nan_c, 1);
            gemm_case(level, SMALL, 5, 7, 0, ROW_MAJOR, ROW_MAJOR, 1, nan_c ? 0 : 0.5, nan_c, 1);
            gemm_case(level, ROW_TABLE, 5, 7, 0, ROW_MAJOR, ROW_MAJOR, 1, nan_c ? 0 : 0.5, nan_c, 1);
            gemm_case(level, A_ROW_TABLE, 5, 7, 0, ROW_MAJOR, ROW_MAJOR, 1, nan_c ? 0 : 0.5, nan_c, 1);
        }
        check_implicit_im2col(level);
        printf("  level %d (%s): %s\n", level, check_level_name(level),
               check_failures == level_before ? "all shapes, layouts and paths match" : "MISMATCHES");
    }
}
