// Reductions, softmax and the binary/compare kernels against scalar loops, on every level, with
// NaN, infinities and signed zeros in the data and lengths on both sides of every vector width.
// On aarch64 the portable templates are what runs (clang compiles them to NEON), so these are
// the checks of that code generation. Written once for float32 and float64: data lives in a
// buffer of the dtype and the references work on the same values widened to double.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

static const int64_t lengths[] = {0,  1,  2,  3,  4,  5,   7,    8,    9,    15,   16,
                                  17, 31, 33, 63, 64, 65, 127, 1000, 1023, 1025, 4099};
#define LENGTH_COUNT ((int)(sizeof lengths / sizeof *lengths))

static const ember_dtype float_types[] = {EMBER_FLOAT32, EMBER_FLOAT64};

static const char *type_name(ember_dtype dtype) { return dtype == EMBER_FLOAT32 ? "f32" : "f64"; }
static double eps_of(ember_dtype dtype) { return dtype == EMBER_FLOAT32 ? 0x1p-24 : 0x1p-53; }
/// The smallest denormal: the absolute error of a result that passes through the denormal range.
static double tiny_of(ember_dtype dtype) { return dtype == EMBER_FLOAT32 ? 0x1p-149 : 0x1p-1074; }

static void *new_buffer(ember_dtype dtype, int64_t count) {
    return malloc((dtype == EMBER_FLOAT32 ? sizeof(float) : sizeof(double)) * (size_t)(count + 1));
}
static double get(ember_dtype dtype, const void *p, int64_t i) {
    return dtype == EMBER_FLOAT32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static void put(ember_dtype dtype, void *p, int64_t i, double value) {
    if (dtype == EMBER_FLOAT32) ((float *)p)[i] = (float)value;
    else ((double *)p)[i] = value;
}

/// Fills x with values mostly uniform in [lo, hi), with `specials` also NaN, +-inf, +-0 and
/// denormals at a few places, stores them in `data` (of `dtype`) and keeps in x the stored values.
static void fill(ember_dtype dtype, double *x, void *data, int64_t n, double lo, double hi, int specials) {
    for (int64_t i = 0; i < n; i++) x[i] = check_uniform(lo, hi);
    static const double values[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e-310, -1e-40};
    for (int s = 0; specials && n > 0 && s < 3; s++) {
        x[(int64_t)check_uniform(0, (double)n)] = values[(int)check_uniform(0, 7)];
    }
    for (int64_t i = 0; i < n; i++) {
        put(dtype, data, i, x[i]);
        x[i] = get(dtype, data, i);
    }
}

static void store(ember_dtype dtype, const double *x, void *data, int64_t n) {
    for (int64_t i = 0; i < n; i++) put(dtype, data, i, x[i]);
}

// MARK: reductions

static const char *reduce_names[] = {"sum", "prod", "max", "min", "sum_squares", "any", "all"};

/// The reference of one strided row: long double sums, NaN-propagating max/min.
static double reference_row(ember_reduce_op op, const double *x, int64_t n, int64_t stride, double *magnitude) {
    long double sum = 0, abs_sum = 0, prod = 1;
    double best = op == EMBER_REDUCE_MAX ? -INFINITY : INFINITY;
    int any = 0, all = 1, nan = 0;
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i * stride];
        const double term = op == EMBER_REDUCE_SUM_SQUARES ? v * v : v;
        sum += term;
        abs_sum += fabsl((long double)term);
        prod *= v;
        if (v != v) nan = 1;
        else if (op == EMBER_REDUCE_MAX ? v > best : v < best) best = v;
        any |= v != 0;
        all &= v != 0;
    }
    *magnitude = (double)abs_sum;
    switch (op) {
    case EMBER_REDUCE_SUM: case EMBER_REDUCE_SUM_SQUARES: return (double)sum;
    case EMBER_REDUCE_PROD: *magnitude = fabs((double)prod); return (double)prod;
    case EMBER_REDUCE_MAX: case EMBER_REDUCE_MIN: return nan ? NAN : best;
    case EMBER_REDUCE_ANY: return any;
    default: return all;
    }
}

/// Exact for max/min/any/all; sums within a pairwise-summation bound, products within n eps,
/// plus n denormal steps for results that pass through the denormal range.
static int reduction_matches(ember_dtype dtype, ember_reduce_op op, double got, double expected, double magnitude,
                             int64_t n) {
    if (expected != expected || got != got) return expected != expected && got != got;
    if (isinf(expected) || isinf(got)) return got == expected;
    const double eps = eps_of(dtype), tiny = (double)(n + 1) * tiny_of(dtype);
    switch (op) {
    case EMBER_REDUCE_SUM: case EMBER_REDUCE_SUM_SQUARES: return fabs(got - expected) <= 64 * eps * magnitude + tiny;
    case EMBER_REDUCE_PROD: return fabs(got - expected) <= 2 * (double)(n + 2) * eps * magnitude + tiny;
    default: return got == expected;
    }
}

/// Reads result r of a reduction: bools for any/all, the dtype otherwise.
static double result(ember_dtype dtype, ember_reduce_op op, const void *out, int64_t r) {
    return op >= EMBER_REDUCE_ANY ? (double)((const bool *)out)[r] : get(dtype, out, r);
}

/// Row and column reductions of one [rows, n] block, with and without special values.
static void check_reduce_ops(ember_dtype dtype, int level, int64_t n, int specials, double *x, void *data) {
    const int64_t rows = 3;
    void *out = new_buffer(dtype, n + rows);
    for (ember_reduce_op op = EMBER_REDUCE_SUM; op <= EMBER_REDUCE_ALL; op++) {
        // Products of values near 1 stay finite; any/all also see zeros.
        if (op == EMBER_REDUCE_PROD) fill(dtype, x, data, rows * n, 0.95, 1.05, specials);
        else fill(dtype, x, data, rows * n, -2, 2, specials);
        if (op >= EMBER_REDUCE_ANY && n > 2) {
            x[1] = x[n + 1] = 0;
            store(dtype, x, data, rows * n);
        }
        ember_set_cpu_level(level);
        ember_reduce_rows(op, dtype, data, rows, n, out);
        ember_set_cpu_level(-1);
        for (int64_t r = 0; r < rows; r++) {
            double magnitude;
            const double expected = reference_row(op, x + r * n, n, 1, &magnitude), got = result(dtype, op, out, r);
            CHECK(reduction_matches(dtype, op, got, expected, magnitude, n), "%s %s row, level %d, n %lld%s: %.9g, "
                  "expected %.9g", type_name(dtype), reduce_names[op], level, (long long)n,
                  specials ? " with NaN/inf/zeros" : "", got, expected);
        }
        // Columns: the same data as [1, rows, n] reduced over the middle axis.
        if (n == 0 || n > 1025) continue;
        ember_set_cpu_level(level);
        ember_reduce_columns(op, dtype, data, 1, rows, n, out);
        ember_set_cpu_level(-1);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) {
            double magnitude;
            const double expected = reference_row(op, x + i, rows, n, &magnitude);
            ok &= reduction_matches(dtype, op, result(dtype, op, out, i), expected, magnitude, rows);
        }
        CHECK(ok, "%s %s columns, level %d, inner %lld", type_name(dtype), reduce_names[op], level, (long long)n);
    }
    free(out);
}

/// argmax / argmin of rows: the first extreme, or the first NaN if there is one.
static void check_arg_reduce(ember_dtype dtype, int level, int64_t n, int specials, double *x, void *data) {
    const int64_t rows = 3;
    fill(dtype, x, data, rows * n, -2, 2, specials);
    if (n > 5) {
        x[n + 5] = x[n + 2] = 3; // a tie in row 1: the first index wins
        store(dtype, x, data, rows * n);
    }
    for (int is_max = 0; is_max <= 1; is_max++) {
        int64_t index[3];
        ember_set_cpu_level(level);
        ember_arg_reduce_rows(is_max, dtype, data, rows, n, index);
        ember_set_cpu_level(-1);
        for (int64_t r = 0; r < rows; r++) {
            const double *row = x + r * n;
            int64_t expected = 0;
            for (int64_t i = 0; i < n && row[expected] == row[expected]; i++) {
                if (row[i] != row[i] || (is_max ? row[i] > row[expected] : row[i] < row[expected])) expected = i;
            }
            CHECK(index[r] == expected, "%s arg%s row %lld, level %d, n %lld: %lld, expected %lld", type_name(dtype),
                  is_max ? "max" : "min", (long long)r, level, (long long)n, (long long)index[r], (long long)expected);
        }
    }
}

/// softmax, log_softmax and logsumexp of finite rows against double (long double sums).
static void check_softmax(ember_dtype dtype, int level, int64_t n, double *x, void *data) {
    const int64_t rows = 3;
    const double eps = eps_of(dtype);
    fill(dtype, x, data, rows * n, -30, 30, 0);
    void *y = new_buffer(dtype, rows * n), *lse = new_buffer(dtype, rows);
    for (ember_softmax_op op = EMBER_SOFTMAX; op <= EMBER_LOG_SOFTMAX; op++) {
        ember_set_cpu_level(level);
        ember_softmax_rows(op, dtype, data, rows, n, y);
        ember_logsumexp_rows(dtype, data, rows, n, lse);
        ember_set_cpu_level(-1);
        // The kernel's sum of n exponentials is off by about sqrt(n) eps (plus 16 eps for the
        // rounding of exp and of the division); x - m is rounded to the dtype first, and exp
        // turns that into a relative error of |x - m| eps. `worst` is error / tolerance.
        const double allowance = 16 + 4 * sqrt((double)n);
        double worst = 0;
        for (int64_t r = 0; r < rows; r++) {
            const double *row = x + r * n;
            double m = -INFINITY;
            long double sum = 0;
            for (int64_t i = 0; i < n; i++) m = row[i] > m ? row[i] : m;
            for (int64_t i = 0; i < n; i++) sum += expl((long double)(row[i] - m));
            const double s = (double)sum;
            for (int64_t i = 0; i < n; i++) {
                const double d = row[i] - m;
                const double e = op == EMBER_SOFTMAX ? exp(d) / s : d - log(s);
                const double tolerance = op == EMBER_SOFTMAX ? (allowance + fabs(d)) * eps * e + 1e-300
                                                             : (allowance + 2 * fabs(d) + fabs(e)) * eps;
                worst = fmax(worst, fabs(get(dtype, y, r * n + i) - e) / tolerance);
            }
            const double lse_tolerance = (allowance + fabs(m) + log(s)) * eps;
            worst = fmax(worst, fabs(get(dtype, lse, r) - (m + log(s))) / lse_tolerance);
        }
        CHECK(worst <= 1, "%s %s and logsumexp, level %d, n %lld: error %.2f x the tolerance", type_name(dtype),
              op == EMBER_SOFTMAX ? "softmax" : "log_softmax", level, (long long)n, worst);
    }
    free(y);
    free(lse);
}

void check_reductions(void) {
    for (int li = 0; li < check_level_count; li++) {
        const int level = check_levels[li];
        const long before = check_failures;
        for (int t = 0; t < 2; t++) {
            const ember_dtype dtype = float_types[t];
            for (int l = 0; l < LENGTH_COUNT; l++) {
                const int64_t n = lengths[l];
                double *x = malloc(sizeof(double) * (size_t)(3 * n + 1));
                void *data = new_buffer(dtype, 3 * n);
                for (int specials = 0; specials <= 1; specials++) {
                    check_reduce_ops(dtype, level, n, specials, x, data);
                    if (n > 0) check_arg_reduce(dtype, level, n, specials, x, data);
                }
                if (n > 0) check_softmax(dtype, level, n, x, data);
                free(x);
                free(data);
            }
        }
        printf("  level %d (%s): %s\n", level, check_level_name(level),
               check_failures == before ? "rows, columns, arg, softmax and logsumexp match" : "MISMATCHES");
    }
}

// MARK: elementwise

static const char *binary_names[] = {"add", "sub", "mul", "div", "maximum", "minimum", "pow", "remainder",
                                     "floor_divide", "atan2"};

/// The scalar definition of each float binary op (elementwise_impl.h's, written out again). For
/// float32, an operation done in double and rounded once gives the float result: double has
/// more than 2 x 24 + 2 bits, so the double rounding is innocuous.
static double binary_reference(ember_binary_op op, double x, double y, int is_float) {
#define ROUND(v) (is_float ? (double)(float)(v) : (v))
    switch (op) {
    case EMBER_ADD: return ROUND(x + y);
    case EMBER_SUB: return ROUND(x - y);
    case EMBER_MUL: return ROUND(x * y);
    case EMBER_DIV: return ROUND(x / y);
    case EMBER_MAXIMUM: return x != x ? x : (y != y ? y : (x > y ? x : y));
    case EMBER_MINIMUM: return x != x ? x : (y != y ? y : (x < y ? x : y));
    case EMBER_POW: return is_float ? (double)powf((float)x, (float)y) : pow(x, y);
    case EMBER_REMAINDER: {
        const double r = is_float ? (double)fmodf((float)x, (float)y) : fmod(x, y);
        return (r != 0 && ((r < 0) != (y < 0))) ? ROUND(r + y) : r;
    }
    case EMBER_FLOOR_DIVIDE: return is_float ? (double)floorf((float)x / (float)y) : floor(x / y);
    case EMBER_ATAN2: return is_float ? (double)atan2f((float)x, (float)y) : atan2(x, y);
    default: return NAN;
    }
#undef ROUND
}

static const char *compare_names[] = {"eq", "ne", "lt", "le", "gt", "ge"};

static int compare_reference(ember_compare_op op, double x, double y) {
    switch (op) {
    case EMBER_EQ: return x == y;
    case EMBER_NE: return x != y;
    case EMBER_LT: return x < y;
    case EMBER_LE: return x <= y;
    case EMBER_GT: return x > y;
    default: return x >= y;
    }
}

/// Equal bits, except that any NaN equals any NaN.
static int same_value(double a, double b) { return (a != a && b != b) || (a == b && signbit(a) == signbit(b)); }

/// Operand layouts: contiguous, a scalar broadcast on either side (stride 0), every other element.
typedef struct {
    int64_t out, a, b;
    const char *name;
} strides;
static const strides layouts[] = {
    {1, 1, 1, "contiguous"}, {1, 1, 0, "b broadcast"}, {1, 0, 1, "a broadcast"}, {2, 2, 2, "stride 2"}};

static void check_binary_ops(ember_dtype dtype, int level, int64_t n) {
    const int64_t size = 2 * n + 1;
    double *xa = malloc(sizeof(double) * (size_t)size), *xb = malloc(sizeof(double) * (size_t)size);
    void *a = new_buffer(dtype, size), *b = new_buffer(dtype, size), *out = new_buffer(dtype, size);
    bool *flags = malloc((size_t)size);
    fill(dtype, xa, a, size, -3, 3, 1);
    fill(dtype, xb, b, size, -3, 3, 1);
    if (size > 4) { // equal values and opposite signs
        xb[3] = xa[3];
        xb[4] = -xa[4];
        store(dtype, xb, b, size);
    }
    for (size_t l = 0; l < sizeof layouts / sizeof *layouts; l++) {
        const int64_t shape[1] = {n}, os[1] = {layouts[l].out}, as[1] = {layouts[l].a}, bs[1] = {layouts[l].b};
        for (ember_binary_op op = EMBER_ADD; op <= EMBER_ATAN2; op++) {
            for (int64_t i = 0; i < size; i++) put(dtype, out, i, -7);
            ember_set_cpu_level(level);
            ember_binary(op, dtype, 1, shape, out, os, a, as, b, bs);
            ember_set_cpu_level(-1);
            int ok = 1;
            for (int64_t i = 0; i < n; i++) {
                const double expected = binary_reference(op, xa[i * as[0]], xb[i * bs[0]], dtype == EMBER_FLOAT32);
                ok &= same_value(get(dtype, out, i * os[0]), expected);
                if (os[0] == 2) ok &= get(dtype, out, i * 2 + 1) == -7; // the gaps are untouched
            }
            CHECK(ok, "%s %s, %s, level %d, n %lld", type_name(dtype), binary_names[op], layouts[l].name, level,
                  (long long)n);
        }
        for (ember_compare_op op = EMBER_EQ; op <= EMBER_GE; op++) {
            ember_set_cpu_level(level);
            ember_compare(op, dtype, 1, shape, flags, os, a, as, b, bs);
            ember_set_cpu_level(-1);
            int ok = 1;
            for (int64_t i = 0; i < n; i++)
                ok &= flags[i * os[0]] == compare_reference(op, xa[i * as[0]], xb[i * bs[0]]);
            CHECK(ok, "%s compare %s, %s, level %d, n %lld", type_name(dtype), compare_names[op], layouts[l].name,
                  level, (long long)n);
        }
    }
    free(xa); free(xb); free(a); free(b); free(out); free(flags);
}

/// int32 arithmetic wraps and divides by flooring, 0 for division by zero (elementwise_impl.h).
static void check_int32_ops(int level, int64_t n) {
    int32_t *a = malloc(sizeof(int32_t) * (size_t)(n + 1)), *b = malloc(sizeof(int32_t) * (size_t)(n + 1));
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) {
        a[i] = i % 7 == 0 ? INT32_MAX - (int32_t)i : (int32_t)check_uniform(-1000, 1000);
        b[i] = i % 5 == 0 ? 0 : (int32_t)check_uniform(-50, 50);
    }
    const int64_t shape[1] = {n}, unit[1] = {1};
    static const ember_binary_op ops[] = {EMBER_ADD, EMBER_SUB, EMBER_MUL, EMBER_FLOOR_DIVIDE, EMBER_MAXIMUM};
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
        ember_set_cpu_level(level);
        ember_binary(ops[o], EMBER_INT32, 1, shape, out, unit, a, unit, b, unit);
        ember_set_cpu_level(-1);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) {
            const int64_t x = a[i], y = b[i];
            int64_t e;
            switch (ops[o]) {
            case EMBER_ADD: e = (int32_t)(uint32_t)(x + y); break;
            case EMBER_SUB: e = (int32_t)(uint32_t)(x - y); break;
            case EMBER_MUL: e = (int32_t)(uint32_t)(x * y); break;
            case EMBER_FLOOR_DIVIDE: e = y == 0 ? 0 : (int64_t)floor((double)x / (double)y); break;
            default: e = x > y ? x : y; break;
            }
            ok &= out[i] == e;
        }
        CHECK(ok, "i32 %s, level %d, n %lld", binary_names[ops[o]], level, (long long)n);
    }
    free(a); free(b); free(out);
}

void check_elementwise(void) {
    for (int li = 0; li < check_level_count; li++) {
        const int level = check_levels[li];
        const long before = check_failures;
        for (int l = 0; l < LENGTH_COUNT; l++) {
            check_binary_ops(EMBER_FLOAT32, level, lengths[l]);
            check_binary_ops(EMBER_FLOAT64, level, lengths[l]);
            check_int32_ops(level, lengths[l]);
        }
        printf("  level %d (%s): %s\n", level, check_level_name(level),
               check_failures == before ? "binary and compare ops match" : "MISMATCHES");
    }
}
