// Vector math: every float32 unary operation of the vector kernels (NEON on aarch64, AVX2 on
// x86_64) and the scalar libm loop, against libm in double, on the inputs of
// Tests/EmberKernelsTests/VectorMathTests.swift (edge values, a sweep of bit patterns over the
// whole range, denormals included, dense sweeps where the formulas switch). Reports the largest
// error in ulp of the correctly rounded result and asserts the same bounds as the Swift test;
// also checks that a result does not depend on where its element sits (tails of n % 4 and n % 8
// run through padded vectors), and that the fused LSTM forward equals the unfused ops.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#if defined(__aarch64__)
int ember_unary_f32_neon(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1);
#endif

static double sigmoid(double t) { return 1 / (1 + exp(-t)); }

static double ref_exp(double x, double a, double b) { (void)a; (void)b; return exp(x); }
static double ref_exp2(double x, double a, double b) { (void)a; (void)b; return exp2(x); }
static double ref_expm1(double x, double a, double b) { (void)a; (void)b; return expm1(x); }
static double ref_log(double x, double a, double b) { (void)a; (void)b; return log(x); }
static double ref_log2(double x, double a, double b) { (void)a; (void)b; return log2(x); }
static double ref_log1p(double x, double a, double b) { (void)a; (void)b; return log1p(x); }
static double ref_tanh(double x, double a, double b) { (void)a; (void)b; return tanh(x); }
static double ref_sigmoid(double x, double a, double b) { (void)a; (void)b; return sigmoid(x); }
static double ref_silu(double x, double a, double b) { (void)a; (void)b; return x * sigmoid(x); }
static double ref_gelu(double x, double a, double b) {
    (void)a; (void)b;
    return 0.5 * x * erfc(-x * 0.70710678118654752440);
}
static double ref_gelu_tanh(double x, double a, double b) {
    (void)a; (void)b;
    return x * sigmoid(2 * 0.79788456080286535588 * (x + 0.044715 * x * x * x));
}
static double ref_erf(double x, double a, double b) { (void)a; (void)b; return erf(x); }
static double ref_softplus(double x, double beta, double threshold) {
    return beta * x > threshold ? x : log1p(exp(beta * x)) / beta;
}
static double ref_elu(double x, double alpha, double b) { (void)b; return x > 0 ? x : alpha * expm1(x); }
static double ref_neg(double x, double a, double b) { (void)a; (void)b; return -x; }
static double ref_abs(double x, double a, double b) { (void)a; (void)b; return fabs(x); }
static double ref_sqrt(double x, double a, double b) { (void)a; (void)b; return sqrt(x); }
static double ref_rsqrt(double x, double a, double b) { (void)a; (void)b; return 1 / sqrt(x); }
static double ref_reciprocal(double x, double a, double b) { (void)a; (void)b; return 1 / x; }
static double ref_square(double x, double a, double b) { (void)a; (void)b; return x * x; }
static double ref_relu(double x, double a, double b) { (void)a; (void)b; return x <= 0 ? 0 : x; }
static double ref_leaky_relu(double x, double slope, double b) {
    (void)b;
    return x > 0 ? x : (double)(float)slope * x;
}
static double ref_clamp(double x, double lo, double hi) { return x != x ? x : fmin(fmax(x, lo), hi); }
static double ref_floor(double x, double a, double b) { (void)a; (void)b; return floor(x); }
static double ref_ceil(double x, double a, double b) { (void)a; (void)b; return ceil(x); }
static double ref_round(double x, double a, double b) { (void)a; (void)b; return nearbyint(x); }
static double ref_trunc(double x, double a, double b) { (void)a; (void)b; return trunc(x); }
static double ref_sign(double x, double a, double b) { (void)a; (void)b; return x > 0 ? 1 : (x < 0 ? -1 : x); }

typedef struct {
    ember_unary_op op;
    const char *name;
    double p0, p1;
    double max_ulp; ///< allowed error of the vector kernel (0.5: correctly rounded)
    double (*reference)(double, double, double);
} unary_case;

/// The op table of VectorMathTests.swift: every operation the vector kernels handle.
static const unary_case cases[] = {
    {EMBER_EXP, "exp", 0, 0, 2, ref_exp},
    {EMBER_EXP2, "exp2", 0, 0, 2, ref_exp2},
    {EMBER_EXPM1, "expm1", 0, 0, 2, ref_expm1},
    {EMBER_LOG, "log", 0, 0, 2, ref_log},
    {EMBER_LOG2, "log2", 0, 0, 2, ref_log2},
    {EMBER_LOG1P, "log1p", 0, 0, 2, ref_log1p},
    {EMBER_TANH, "tanh", 0, 0, 2, ref_tanh},
    {EMBER_SIGMOID, "sigmoid", 0, 0, 2, ref_sigmoid},
    {EMBER_SILU, "silu", 0, 0, 3, ref_silu},
    {EMBER_GELU, "gelu", 0, 0, 3, ref_gelu},
    {EMBER_GELU_TANH, "gelu_tanh", 0, 0, 3, ref_gelu_tanh},
    {EMBER_ERF, "erf", 0, 0, 2, ref_erf},
    {EMBER_SOFTPLUS, "softplus", 1, 20, 2, ref_softplus},
    {EMBER_SOFTPLUS, "softplus(beta 2, threshold 10)", 2, 10, 2, ref_softplus},
    {EMBER_ELU, "elu", 1, 0, 2, ref_elu},
    {EMBER_NEG, "neg", 0, 0, 0.5, ref_neg},
    {EMBER_ABS, "abs", 0, 0, 0.5, ref_abs},
    {EMBER_SQRT, "sqrt", 0, 0, 0.5, ref_sqrt},
    {EMBER_RSQRT, "rsqrt", 0, 0, 1.5, ref_rsqrt},
    {EMBER_RECIPROCAL, "reciprocal", 0, 0, 0.5, ref_reciprocal},
    {EMBER_SQUARE, "square", 0, 0, 0.5, ref_square},
    {EMBER_RELU, "relu", 0, 0, 0.5, ref_relu},
    {EMBER_LEAKY_RELU, "leaky_relu", 0.01, 0, 0.5, ref_leaky_relu},
    {EMBER_CLAMP, "clamp", -1, 2, 0.5, ref_clamp},
    {EMBER_CLAMP, "clamp(0, 6)", 0, 6, 0.5, ref_clamp}, // a bound at 0 meets -0 and +0
    {EMBER_FLOOR, "floor", 0, 0, 0.5, ref_floor},
    {EMBER_CEIL, "ceil", 0, 0, 0.5, ref_ceil},
    {EMBER_ROUND, "round", 0, 0, 0.5, ref_round},
    {EMBER_TRUNC, "trunc", 0, 0, 0.5, ref_trunc},
    {EMBER_SIGN, "sign", 0, 0, 0.5, ref_sign},
};

/// Error of `value` in ulp of the correctly rounded float result of `exact` (as the Swift test).
static double ulp_error(float value, double exact) {
    if (isnan(exact)) return isnan(value) ? 0 : INFINITY;
    const float rounded = (float)exact;
    if (isinf(rounded)) return value == rounded ? 0 : INFINITY;
    if (isnan(value) || isinf(value)) return INFINITY;
    int exponent;
    frexpf(fabsf(rounded), &exponent);
    double ulp = ldexp(1, exponent - 24);
    if (rounded == 0 || ulp < 0x1p-149) ulp = 0x1p-149;
    return fabs((double)value - exact) / ulp;
}

static float *inputs;
static int64_t input_count;

static void add_input(float x) { inputs[input_count++] = x; }

static void make_inputs(void) {
    static const float edges[] = {
        0, -0.0f, INFINITY, -INFINITY, NAN, 1, -1, 0.5f, -0.5f, 2, -2, 0x1p-149f, -0x1p-149f, FLT_MIN, -FLT_MIN,
        FLT_MAX, -FLT_MAX, 1e-30f, -1e-30f, 1e30f, -1e30f, 88.72283f, 88.72284f, 88.7f, 89, 89.5f, -87.33654f,
        -87.4f, -103.97f, -103.98f, -104, -110, -120, -121, -150, 127.99f, 128, 128.01f, -126, -149, -149.5f,
        -150.1f, 20, 20.001f, 9, 9.1f, 0.5493f, -0.5493f, 0.70710677f, -0.70710677f, 3.92f, -3.92f, 4.5f, -5.66f,
        -10, -14, -14.9f, -15, 1e12f, -1e12f, 1e13f, -1e13f,
    };
    // Every (0x7a3b * 2)-th bit pattern (4x denser than the Swift test): ~33,000 magnitudes per sign.
    const uint32_t step = 0x7a3b * 2;
    inputs = malloc(sizeof(float) * (sizeof edges / sizeof *edges + 2 * (0x7f800000u / step + 1) + 5000));
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) add_input(edges[i]);
    for (uint32_t bits = 1; bits < 0x7f800000u; bits += step) {
        float x;
        memcpy(&x, &bits, sizeof x);
        add_input(x);
        add_input(-x);
    }
    for (int i = 0; i <= 4000; i++) add_input(-20 + 40 * (float)i / 4000);
    for (int i = 0; i <= 400; i++) add_input(1 + (float)(i - 200) * 0x1p-20f); // log near 1
    for (int i = 0; i <= 400; i++) add_input(-1 + (float)i * 0x1p-12f);       // log1p near -1
}

static void run(const unary_case *c, int level, const float *x, float *y, int64_t n) {
    ember_set_cpu_level(level);
    ember_unary_f32(c->op, x, y, n, c->p0, c->p1);
    ember_set_cpu_level(-1);
}

static void check_lstm(int level);

void check_vector_math(void) {
    make_inputs();
    const int best = check_levels[check_level_count - 1];
    float *vector = malloc(sizeof(float) * (size_t)input_count);
    float *scalar = malloc(sizeof(float) * (size_t)input_count);
    float *part = malloc(sizeof(float) * 16);
    printf("  %lld inputs; error in ulp of the correctly rounded result, vector level %d (%s) and scalar\n",
           (long long)input_count, best, check_level_name(best));
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const unary_case *c = &cases[ci];
        run(c, best, inputs, vector, input_count);
        run(c, 0, inputs, scalar, input_count);
        double worst_vector = 0, worst_scalar = 0;
        float worst_input = 0;
        long zero_sign_mismatches = 0;
        uint64_t hash = 0xcbf29ce484222325ull;
        for (int64_t i = 0; i < input_count; i++) {
            const double exact = c->reference((double)inputs[i], c->p0, c->p1);
            const double error_vector = ulp_error(vector[i], exact);
            const double error_scalar = ulp_error(scalar[i], exact);
            if (error_vector > worst_vector) { worst_vector = error_vector; worst_input = inputs[i]; }
            if (error_scalar > worst_scalar) worst_scalar = error_scalar;
            // Except for clamp: C's fmax/fmin leave the sign of max(-0, +0) open (x86's glibc gives
            // -0, aarch64's FMAXNM +0); the vector kernels give x86's everywhere, which the
            // comparison of NEON and AVX2 bits checks.
            const int zeros = vector[i] == 0 && scalar[i] == 0;
            if (zeros && signbit(vector[i]) != signbit(scalar[i]) && c->op != EMBER_CLAMP) zero_sign_mismatches++;
            hash = check_hash(hash, check_bits_f32(vector[i]));
        }
        printf("  %-31s %6.3f ulp (bound %.1f, worst at %.9g), scalar %6.3f ulp", c->name, worst_vector, c->max_ulp,
               (double)worst_input, worst_scalar);
        if (zero_sign_mismatches) printf(", %ld zeros signed unlike the scalar", zero_sign_mismatches);
        printf("\n");
        if (best > 0) {
            CHECK(worst_vector <= c->max_ulp, "%s: %.3f ulp at x = %.9g exceeds the bound %.1f", c->name,
                  worst_vector, (double)worst_input, c->max_ulp);
            // The scalar loop is the specification of signed zeros (ulp errors cannot see them).
            CHECK(zero_sign_mismatches == 0, "%s: %ld zero results with the other sign than the scalar loop",
                  c->name, zero_sign_mismatches);
        }
        // Positions and tails: every length 1...11 from several offsets gives the full run's bits.
        for (int64_t n = 1; n <= 11; n++) {
            for (int64_t start = 0; start + n <= input_count; start += 997 * n + 13) {
                run(c, best, inputs + start, part, n);
                int same = 1;
                for (int64_t i = 0; i < n; i++)
                    same &= check_bits_f32(part[i]) == check_bits_f32(vector[start + i]);
                CHECK(same, "%s: %lld elements from %lld differ from the same elements of the full run", c->name,
                      (long long)n, (long long)start);
            }
        }
#if defined(__aarch64__)
        // The dispatch must route to the NEON kernels.
        memset(part, 0, sizeof(float) * 16);
        CHECK(ember_unary_f32_neon(c->op, inputs, part, 16, c->p0, c->p1) == 1, "%s: NEON does not handle it",
              c->name);
        int same = 1;
        for (int i = 0; i < 16; i++) same &= check_bits_f32(part[i]) == check_bits_f32(vector[i]);
        CHECK(same, "%s: ember_unary_f32 did not run the NEON kernel", c->name);
#endif
        // Compared by scripts/check-arm64.sh between the NEON run and an AVX2 run.
        printf("bits %016llx %s\n", (unsigned long long)hash, c->name);
    }
    free(vector);
    free(scalar);
    free(part);
    free(inputs);
    for (int li = 0; li < check_level_count; li++) check_lstm(check_levels[li]);
}

/// The fused LSTM forward equals the unfused ops of the same level bit for bit (products
/// rounded one at a time), for hidden sizes with and without a vector tail.
static void check_lstm(int level) {
    static const int64_t sizes[] = {1, 3, 4, 5, 8, 13};
    const int64_t rows = 3;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        const int64_t H = sizes[si];
        for (int with_hidden = 0; with_hidden <= 1; with_hidden++) {
            const size_t gates = sizeof(float) * (size_t)(rows * 4 * H), states = sizeof(float) * (size_t)(rows * H);
            float *ig = malloc(gates), *hg = malloc(gates), *z = malloc(gates), *act = malloc(gates);
            float *cp = malloc(states), *h = malloc(states), *cell = malloc(states), *saved = malloc(5 * states);
            for (int64_t i = 0; i < rows * 4 * H; i++) {
                ig[i] = (float)check_uniform(-6, 6);
                hg[i] = (float)check_uniform(-3, 3);
                z[i] = with_hidden ? ig[i] + hg[i] : ig[i];
            }
            for (int64_t i = 0; i < rows * H; i++) cp[i] = (float)check_uniform(-2, 2);
            ember_set_cpu_level(level);
            ember_lstm_cell_forward(EMBER_FLOAT32, ig, with_hidden ? hg : NULL, cp, h, cell, saved, rows, H);
            // Unfused: sigmoid of the i, f, o blocks, tanh of g, at the same level.
            for (int64_t r = 0; r < rows; r++) {
                const float *zr = z + r * 4 * H;
                float *ar = act + r * 4 * H;
                ember_unary_f32(EMBER_SIGMOID, zr, ar, 2 * H, 0, 0);
                ember_unary_f32(EMBER_TANH, zr + 2 * H, ar + 2 * H, H, 0, 0);
                ember_unary_f32(EMBER_SIGMOID, zr + 3 * H, ar + 3 * H, H, 0, 0);
            }
            int same = 1;
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t j = 0; j < H; j++) {
                    const float *ar = act + r * 4 * H;
                    const float i = ar[j], f = ar[H + j], g = ar[2 * H + j], o = ar[3 * H + j];
                    const float fc = f * cp[r * H + j];
                    const float ig_ = i * g;
                    const float c_new = fc + ig_;
                    float tc;
                    ember_unary_f32(EMBER_TANH, &c_new, &tc, 1, 0, 0);
                    const float h_new = o * tc;
                    same &= check_bits_f32(cell[r * H + j]) == check_bits_f32(c_new);
                    same &= check_bits_f32(h[r * H + j]) == check_bits_f32(h_new);
                    const float *s = saved + r * 5 * H;
                    same &= s[j] == i && s[H + j] == f && s[2 * H + j] == g && s[3 * H + j] == o;
                    same &= s[4 * H + j] == tc;
                }
            }
            ember_set_cpu_level(-1);
            CHECK(same, "lstm forward level %d, H %lld, hidden gates %d: differs from the unfused ops", level,
                  (long long)H, with_hidden);
            free(ig); free(hg); free(cp); free(h); free(cell); free(saved); free(z); free(act);
        }
    }
}
