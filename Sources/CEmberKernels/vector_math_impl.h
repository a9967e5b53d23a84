// Vectorised float32 math: exp, log, tanh, erf and the activations built from them, the unary
// loops over them and the fused LSTM cell, written once over a small set of per-instruction-set
// primitives and compiled per variant (vector_math_avx2.c, vector_math_neon.c), like the other
// *_impl.h headers. Both variants run the same operations in the same order, so they give the
// same bits for the same input; scripts/check-arm64.sh compares them.
//
// Accuracy target: within 2-3 ulp of the correctly rounded result over the whole float range,
// including denormal inputs and outputs. Edge behaviour (NaN, infinities, signed zeros,
// overflow) matches the scalar definitions in unary_impl.h, which stay the specification.
//
// Method, shared by all functions: classic range reduction plus a short polynomial whose
// coefficients were fitted (weighted least squares, Lawson iterations, coefficients rounded to
// float) with a small numpy/mpmath script kept outside the repo (/work/scratch-math/tools); they
// are not copied from another library.
// - exp(h + l): k = round((h + l) / ln 2), r = h - k ln2_hi - k ln2_lo + l (Cody-Waite, the first
//   step exact), exp(r) - 1 = r + r^2/2 + r^3 P(r) on |r| <= ln2/2, then the scale 2^k is applied
//   as two factors 2^(k/2) 2^(k - k/2), so that k down to -252 gives correctly rounded denormals
//   and k = 128 overflows to inf instead of wrapping the exponent field.
// - log(x): x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) = f - f^2/2 + f^3 P(f), f = m - 1
//   (exact), e ln2 added with ln2 split in two so that the sum rounds once.
// - erf / erfc: |x| < 0.5 uses x P(x^2); beyond, erfc(a) = exp(-a^2 + G(a)) / a where
//   G(a) = log(a erfc(a) e^(a^2)) is smooth and fitted in u = 1/(1 + a) - 0.4 on [0.5, 10.5], and
//   a^2 is carried as hi + lo so the large exponent loses nothing. GELU's negative tail uses
//   the same formula directly, instead of 1 + erf(x) which cancels catastrophically.
// - sigmoid-like functions (sigmoid, silu, gelu_tanh) use e = exp(-|t|) and divide once; the
//   negative side scales by 2^k last, so a tiny result is rounded once.
// Rejected: the hardware approximations (rcp_ps, rsqrt_ps, FRECPE, FRSQRTE: 8-12 bits; Newton
// steps still leave 1-2 ulp errors and wrong results at 0 and inf), and SVML-style table lookups
// (gathers are slow on AMD and the polynomials are already short).
//
// A variant file defines, before including this header (and inside its target attribute):
//   EMBER_VARIANT             the suffix of the exported names (avx2, neon)
//   LANES                     floats per vector
//   V, VI, VM                 float32 vector, int32 vector, lane mask of a comparison (lanes all
//                             ones or all zeros)
//   C(f), CI(i)               a float or int32 constant in every lane
//   ADD SUB MUL DIV           correctly rounded arithmetic, sqrt_v(x) likewise
//   FMA(a, b, c)              a * b + c; FNMA: c - a * b; FMS: a * b - c; one rounding each
//   MIN(a, b), MAX(a, b)      x86's meaning: a < b ? a : b (a > b ? a : b), so a NaN in either
//                             operand gives b; the code below relies on it
//   LT GT LE EQ, is_nan(x)    comparisons giving a VM
//   SELECT(mask, t, f)        t where the mask is on, f elsewhere; mask_and(m1, m2)
//   keep_where(mask, x)       x where the mask is on, +0 elsewhere; clear_where the opposite
//   or_v(a, b), neg_v(x), abs_v(x), sign_bit(x)   bit operations: OR, flip, clear and keep the
//                             sign bit
//   round_v (to nearest, ties to even), floor_v, ceil_v, trunc_v
//   to_int(x)                 an integral float to int32 (exact); to_float(k) the other way
//   as_int(x), as_float(k)    the same bits seen as the other type
//   ADD_I SUB_I AND_I MIN_I MAX_I, GT_I (giving a VM), SHIFT_LEFT_I(k, n), SHIFT_RIGHT_I(k, n)
//                             (arithmetic)  int32 lane operations, n a constant
//   VD, CD(d), MUL_D, FMA_D(a, b, c), SUB_D   double vectors of LANES / 2 lanes, for gelu_tanh
//   widen_low(x), widen_high(x)   the low and high halves of x as doubles (exact)
//   narrow_join(lo, hi)       two double halves rounded to float and joined into one V
//   load_v(p), store_v(p, v)  LANES contiguous floats, no alignment needed
//   load_partial(p, n), store_partial(p, v, n)   the first n < LANES floats; the other lanes
//                             read as 0 and are never written
// and gets VARIANT(ember_unary_f32) and VARIANT(ember_lstm_cell_forward_f32), declared in
// vector_math_internal.h.
#include <math.h>
#include "vector_math_internal.h"

#define EMBER_CAT_(a, b) a##_##b
#define EMBER_CAT(a, b) EMBER_CAT_(a, b)
#define VARIANT(name) EMBER_CAT(name, EMBER_VARIANT)

#define ZERO C(0.0f)

static const float LN2_HI = 0.693145751953125f;     // 0x3f317200: k * LN2_HI is exact for |k| < 512
static const float LN2_LO = 1.42860676533018570e-6f; // ln 2 - LN2_HI
static const float LOG2E = 1.44269504088896341f;
static const float LOG2E_HI = 1.44269502f;
static const float LOG2E_LO = 1.92596299e-08f;

/// NaN inputs pass through unchanged (payload kept), whatever the clamped math made of them.
static inline V keep_nan(V y, V x) { return SELECT(is_nan(x), x, y); }
static inline V negative_abs(V x) { return or_v(x, C(-0.0f)); } // -|x|

// MARK: exp

/// exp(r) - 1 for |r| <= ln2/2 (plus a little slack): r + r^2/2 + r^3 P(r), relative error 1e-9.
static inline V expm1_reduced(V r) {
    V p = FMA(C(0.00019824125f), r, C(0.00139332516f));
    p = FMA(p, r, C(0.00833341945f));
    p = FMA(p, r, C(0.0416664816f));
    p = FMA(p, r, C(0.166666657f));
    return FMA(MUL(r, r), FMA(p, r, C(0.5f)), r);
}

/// 2^k as a float for k in [-126, 127].
static inline V pow2i(VI k) { return as_float(SHIFT_LEFT_I(ADD_I(k, CI(127)), 23)); }

/// y * 2^k for k in [-252, 254], rounding once even when the result is denormal.
static inline V scale(V y, VI k) {
    VI k1 = SHIFT_RIGHT_I(k, 1); // arithmetic shift: floor(k / 2)
    return MUL(MUL(y, pow2i(k1)), pow2i(SUB_I(k, k1)));
}

/// exp(h + l) = (1 + q) 2^k, where l is a small correction to h (|l| <= ~1.5), h in [-170, 89].
typedef struct { V q; VI k; } exp_parts;

static inline exp_parts exp_reduce(V h, V l) {
    V kf = round_v(MUL(ADD(h, l), C(LOG2E)));
    V r = FNMA(kf, C(LN2_HI), h); // exact: k * LN2_HI has few bits and r is small
    r = ADD(FNMA(kf, C(LN2_LO), r), l);
    exp_parts parts = { expm1_reduced(r), to_int(kf) };
    return parts;
}

/// exp(x) for finite x clamped to [-120, 89] (below gives 0, above inf); NaN not handled.
static inline V exp_clamped(V x) {
    x = MIN(MAX(x, C(-120.0f)), C(89.0f));
    exp_parts e = exp_reduce(x, ZERO);
    return scale(ADD(C(1.0f), e.q), e.k);
}

static inline V exp_v(V x) { return keep_nan(exp_clamped(x), x); }

static inline V exp2_v(V x) {
    V xc = MIN(MAX(x, C(-160.0f)), C(129.0f));
    V kf = round_v(xc);
    V r = SUB(xc, kf); // exact, |r| <= 1/2
    V p = FMA(C(1.52527164e-05f), r, C(0.000154613299f));
    p = FMA(p, r, C(0.00133336696f));
    p = FMA(p, r, C(0.00961805694f));
    p = FMA(p, r, C(0.055504106f));
    p = FMA(p, r, C(0.240226507f));
    p = FMA(p, r, C(0.693147182f));
    V y = scale(FMA(p, r, C(1.0f)), to_int(kf));
    return keep_nan(y, x);
}

static inline V expm1_v(V x) {
    V xc = MIN(MAX(x, C(-120.0f)), C(89.0f));
    exp_parts e = exp_reduce(xc, ZERO);
    // expm1 = 2^k q + (2^k - 1): both parts exact for |k| <= 60, one rounding in the fma.
    // Below k = -30 the result rounds to -1 anyway, so k is clamped there; above 60 the -1 is
    // lost in rounding and the plain exp formula (which reaches inf) is used.
    VI kc = MAX_I(MIN_I(e.k, CI(60)), CI(-30));
    V t = pow2i(kc);
    V y = FMA(t, e.q, SUB(t, C(1.0f)));
    VM big = GT_I(e.k, CI(60));
    y = SELECT(big, scale(ADD(C(1.0f), e.q), e.k), y);
    y = SELECT(EQ(x, ZERO), x, y); // keeps the sign of -0
    return keep_nan(y, x);
}

// MARK: log

/// Splits x > 0 (normal or denormal) into x = (1 + f) 2^e with 1 + f in [sqrt(1/2), sqrt(2)).
static inline V log_reduce(V x, V *e) {
    VM tiny = LT(x, C(0x1p-126f));
    V xs = SELECT(tiny, MUL(x, C(0x1p23f)), x);
    VI reduced = SUB_I(as_int(xs), CI(0x3f3504f3));
    VI exponent = SHIFT_RIGHT_I(reduced, 23);
    VI mantissa = ADD_I(AND_I(reduced, CI(0x007fffff)), CI(0x3f3504f3));
    *e = SUB(to_float(exponent), keep_where(tiny, C(23.0f)));
    return SUB(as_float(mantissa), C(1.0f)); // exact
}

/// log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: f - f^2/2 + f^3 P(f), relative error 8e-9.
static inline V log1p_reduced(V f) {
    V p = FMA(C(-0.0763443783f), f, C(0.127615631f));
    p = FMA(p, f, C(-0.131601974f));
    p = FMA(p, f, C(0.142017603f));
    p = FMA(p, f, C(-0.166233554f));
    p = FMA(p, f, C(0.200012267f));
    p = FMA(p, f, C(-0.250008225f));
    p = FMA(p, f, C(0.333333313f));
    V s = FNMA(MUL(C(0.5f), f), f, f); // f - f^2/2 rounded once
    return FMA(MUL(MUL(f, f), f), p, s);
}

/// log's answers for x = 0 (-inf), x < 0 (NaN), x = inf (inf) and NaN (itself).
static inline V log_specials(V y, V x) {
    y = SELECT(EQ(x, C(INFINITY)), C(INFINITY), y);
    y = SELECT(EQ(x, ZERO), C(-INFINITY), y);
    y = SELECT(LT(x, ZERO), C(NAN), y);
    return keep_nan(y, x);
}

static inline V log_v(V x) {
    V e;
    V f = log_reduce(x, &e);
    V y = FMA(e, C(LN2_HI), FMA(e, C(LN2_LO), log1p_reduced(f)));
    return log_specials(y, x);
}

static inline V log2_v(V x) {
    V e;
    V f = log_reduce(x, &e);
    V l = log1p_reduced(f);
    V y = ADD(e, FMA(l, C(LOG2E_HI), MUL(l, C(LOG2E_LO))));
    return log_specials(y, x);
}

static inline V log1p_v(V x) {
    V u = ADD(C(1.0f), x);
    V e;
    V f = log_reduce(u, &e);
    // u = 1 + x lost the low bits of x; (x - (u - 1)) / u adds them back to first order.
    V correction = DIV(SUB(x, SUB(u, C(1.0f))), u);
    V y = FMA(e, C(LN2_HI), FMA(e, C(LN2_LO), ADD(log1p_reduced(f), correction)));
    y = log_specials(y, u);
    y = SELECT(EQ(x, ZERO), x, y); // keeps the sign of -0
    return keep_nan(y, x);
}

// MARK: tanh, sigmoid and friends

static inline V tanh_v(V x) {
    V a = abs_v(x);
    // |x| < 0.5493 (tanh < 1/2): x + x^3 P(x^2).
    V x2 = MUL(x, x);
    V p = FMA(C(0.00239818566f), x2, C(-0.00841588993f));
    p = FMA(p, x2, C(0.0217834096f));
    p = FMA(p, x2, C(-0.053959731f));
    p = FMA(p, x2, C(0.133332938f));
    p = FMA(p, x2, C(-0.333333313f));
    V small = FMA(MUL(x2, x), p, x);
    // Otherwise 1 - 2 / (e^2|x| + 1), which is >= 1/2 so the subtraction loses nothing;
    // e^2|x| = inf gives exactly 1.
    V large = SUB(C(1.0f), DIV(C(2.0f), ADD(exp_clamped(ADD(a, a)), C(1.0f))));
    // Both branches take the sign of x: `large` is positive, and `small` already has it except
    // at x = -0, where x + x^3 P rounds to +0.
    V y = or_v(SELECT(LT(a, C(0.5493f)), small, large), sign_bit(x));
    return keep_nan(y, x);
}

static inline V sigmoid_v(V x) {
    // e = exp(-|x|) <= 1; sigmoid = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, so that
    // huge |x| gives 0 or 1 (never inf / inf) and the negative side keeps its relative accuracy.
    V e = exp_clamped(negative_abs(x));
    V y = DIV(SELECT(LT(x, ZERO), e, C(1.0f)), ADD(C(1.0f), e));
    return keep_nan(y, x);
}

/// x * sigmoid(t) with t = th + tl (tl a small correction), used by silu (t = x) and gelu_tanh.
/// For t < 0 the quotient x (1 + q) / (1 + e) is formed first and scaled by 2^k last, so a
/// result in the denormal range is rounded once. Below t = -120 the sigmoid is 0 and the
/// result is x * 0: -0 for finite x and NaN for x = -inf, like the scalar x / (1 + e^-x).
static inline V x_sigmoid(V x, V th, V tl) {
    VM negative = LT(th, ZERO);
    V h = negative_abs(th);
    V l = SELECT(negative, tl, neg_v(tl));
    VM underflow = LT(h, C(-120.0f));
    h = MAX(h, C(-120.0f));
    l = clear_where(underflow, l);
    exp_parts p = exp_reduce(h, l);
    V one_plus_q = ADD(C(1.0f), p.q);
    V e = scale(one_plus_q, p.k);
    V y = DIV(SELECT(negative, MUL(x, one_plus_q), x), ADD(C(1.0f), e));
    y = SELECT(negative, scale(y, p.k), y);
    y = SELECT(mask_and(negative, underflow), MUL(x, ZERO), y);
    return keep_nan(y, x);
}

static inline V silu_v(V x) { return x_sigmoid(x, x, ZERO); }

/// 2 sqrt(2/pi) (x + 0.044715 x^3) for one half of the lanes, in double.
static inline VD gelu_tanh_argument(VD x) {
    const VD c1 = CD(1.5957691216057307117597842397375); // 2 sqrt(2/pi)
    const VD c3 = CD(1.5957691216057307117597842397375 * 0.044715);
    return MUL_D(x, FMA_D(c3, MUL_D(x, x), c1));
}

/// gelu_tanh(x) = x/2 (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3). The
/// sigmoid form does not cancel for negative x; 2u is computed in double and carried as
/// hi + lo because exp amplifies its rounding error by |2u| in the negative tail.
static inline V gelu_tanh_v(V x) {
    VD t_low = gelu_tanh_argument(widen_low(x)), t_high = gelu_tanh_argument(widen_high(x));
    V th = narrow_join(t_low, t_high);
    V tl = narrow_join(SUB_D(t_low, widen_low(th)), SUB_D(t_high, widen_high(th)));
    // t = +-inf (|x| > ~1.6e12 overflows float) leaves tl = NaN; it only matters when finite.
    tl = clear_where(EQ(abs_v(th), C(INFINITY)), tl);
    return x_sigmoid(x, th, tl);
}

// MARK: erf and gelu

/// G(a) = log(a erfc(a) e^(a^2)) for a in [0.5, 10.5], absolute error 2e-8.
static inline V erfc_log_correction(V a) {
    V u = SUB(DIV(C(1.0f), ADD(a, C(1.0f))), C(0.4f));
    V p = FMA(C(-36.870594f), u, C(-25.6589775f));
    p = FMA(p, u, C(-11.0659962f));
    p = FMA(p, u, C(-8.09437656f));
    p = FMA(p, u, C(-3.83415747f));
    p = FMA(p, u, C(-3.6523993f));
    p = FMA(p, u, C(-3.23582721f));
    p = FMA(p, u, C(-1.33732331f));
    p = FMA(p, u, C(-1.54041719f));
    p = FMA(p, u, C(-2.02017093f));
    p = FMA(p, u, C(-0.986661851f));
    return FMA(p, u, C(-0.729026973f));
}

/// erfc(a) for a in [0.5, 10.5]: exp(-a^2 + G(a)) / a with a^2 carried as hi + lo.
static inline V erfc_large(V a) {
    V hi = MUL(a, a);
    V lo = FMS(a, a, hi);
    exp_parts p = exp_reduce(neg_v(hi), SUB(erfc_log_correction(a), lo));
    return DIV(scale(ADD(C(1.0f), p.q), p.k), a);
}

/// erf(x) for |x| < 0.5: x (C0 + x^2 Q(x^2)) with C0 = 2/sqrt(pi) split in two for a correctly
/// rounded leading term.
static inline V erf_small(V x) {
    V x2 = MUL(x, x);
    V q = FMA(C(-0.000783249445f), x2, C(0.00520859985f));
    q = FMA(q, x2, C(-0.0268648118f));
    q = FMA(q, x2, C(0.112837873f));
    q = FMA(q, x2, C(-0.376126379f));
    return FMA(x, C(1.12837923f), MUL(x, FMA(q, x2, C(-5.86353828e-08f))));
}

static inline V erf_v(V x) {
    V a = abs_v(x);
    V large = SUB(C(1.0f), erfc_large(MAX(MIN(a, C(10.5f)), C(0.5f))));
    // The sign of x for both branches (`erf_small` alone would turn -0 into +0, as in tanh).
    V y = or_v(SELECT(LT(a, C(0.5f)), erf_small(x), large), sign_bit(x));
    return keep_nan(y, x);
}

static inline V gelu_v(V x) {
    V z = MUL(x, C(0.707106781186547524f));
    // |z| < 1/2: x/2 (1 + erf(z)).
    V small = MUL(MUL(C(0.5f), x), ADD(C(1.0f), erf_small(z)));
    // |z| >= 1/2: x/2 erfc(|z|) = exp(-x^2/2 + G(|z|)) / sqrt 2 =: E (x / (2|z|) = 1 / sqrt 2), so
    // gelu = x - E for x > 0 and -E for x < 0: one exp for both sides, and no 1 + erf that
    // cancels on the negative side. x^2 is carried as hi + lo; beyond |x| = 14.8, E underflows.
    V xc = MIN(MAX(x, C(-14.8f)), C(14.8f));
    V a = MIN(MAX(abs_v(MUL(xc, C(0.707106781186547524f))), C(0.5f)), C(10.5f));
    V hi = MUL(xc, xc);
    V lo = FMS(xc, xc, hi);
    V l = SUB(SUB(erfc_log_correction(a), C(0.346573590279972655f)), MUL(C(0.5f), lo));
    exp_parts p = exp_reduce(MUL(C(-0.5f), hi), l);
    V e = scale(ADD(C(1.0f), p.q), p.k);
    V large = SELECT(GT(x, ZERO), SUB(x, e), neg_v(e));
    V y = SELECT(LT(abs_v(z), C(0.5f)), small, large);
    y = SELECT(EQ(x, C(-INFINITY)), C(NAN), y); // the scalar gives -inf * 0
    return keep_nan(y, x);
}

// MARK: loops

// One loop per operation so that the math inlines; the tail (n % LANES) runs the same formula
// on a partial vector (missing lanes read 0 and are not stored).
#define DEFINE_LOOP(NAME, EXPR)                                                                    \
    static void NAME##_loop(const float *in, float *out, int64_t n, V a, V b) {                     \
        (void)a; (void)b;                                                                          \
        int64_t i = 0;                                                                             \
        for (; i + LANES <= n; i += LANES) {                                                       \
            V x = load_v(in + i);                                                                  \
            store_v(out + i, (EXPR));                                                              \
        }                                                                                          \
        if (i < n) {                                                                               \
            V x = load_partial(in + i, n - i);                                                     \
            store_partial(out + i, (EXPR), n - i);                                                 \
        }                                                                                          \
    }

DEFINE_LOOP(neg, neg_v(x))
DEFINE_LOOP(abs, abs_v(x))
DEFINE_LOOP(exp, exp_v(x))
DEFINE_LOOP(exp2, exp2_v(x))
DEFINE_LOOP(expm1, expm1_v(x))
DEFINE_LOOP(log, log_v(x))
DEFINE_LOOP(log2, log2_v(x))
DEFINE_LOOP(log1p, log1p_v(x))
DEFINE_LOOP(sqrt, sqrt_v(x))
DEFINE_LOOP(rsqrt, DIV(C(1.0f), sqrt_v(x)))
DEFINE_LOOP(reciprocal, DIV(C(1.0f), x))
DEFINE_LOOP(square, MUL(x, x))
DEFINE_LOOP(tanh, tanh_v(x))
DEFINE_LOOP(sigmoid, sigmoid_v(x))
// relu: v <= 0 ? 0 : v, so NaN passes through and -0 becomes +0.
DEFINE_LOOP(relu, clear_where(LE(x, ZERO), x))
DEFINE_LOOP(gelu, gelu_v(x))
DEFINE_LOOP(gelu_tanh, gelu_tanh_v(x))
DEFINE_LOOP(silu, silu_v(x))
// softplus: x when beta x > threshold, else log1p(exp(beta x)) / beta (a = beta, b = threshold).
DEFINE_LOOP(softplus, ({ V t_ = MUL(x, a); SELECT(GT(t_, b), x, keep_nan(DIV(log1p_v(exp_clamped(t_)), a), t_)); }))
DEFINE_LOOP(elu, SELECT(GT(x, ZERO), x, MUL(a, expm1_v(x))))
DEFINE_LOOP(leaky_relu, SELECT(GT(x, ZERO), x, MUL(a, x)))
DEFINE_LOOP(erf, erf_v(x))
DEFINE_LOOP(floor, floor_v(x))
DEFINE_LOOP(ceil, ceil_v(x))
DEFINE_LOOP(round, round_v(x)) // half to even, like nearbyint and torch.round
DEFINE_LOOP(trunc, trunc_v(x))
// sign: 1, -1, or the input itself for 0, -0 and NaN.
DEFINE_LOOP(sign, SELECT(GT(x, ZERO), C(1.0f), SELECT(LT(x, ZERO), C(-1.0f), x)))
// clamp: NaN stays NaN; a NaN bound is ignored (MIN and MAX return their second operand on NaN).
DEFINE_LOOP(clamp, keep_nan(MIN(b, MAX(a, x)), x))

int VARIANT(ember_unary_f32)(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1) {
    const V a = C((float)p0), b = C((float)p1);
    switch (op) {
#define CASE(OP, NAME) case OP: NAME##_loop(x, y, n, a, b); return 1
    CASE(EMBER_NEG, neg);
    CASE(EMBER_ABS, abs);
    CASE(EMBER_EXP, exp);
    CASE(EMBER_EXP2, exp2);
    CASE(EMBER_EXPM1, expm1);
    CASE(EMBER_LOG, log);
    CASE(EMBER_LOG2, log2);
    CASE(EMBER_LOG1P, log1p);
    CASE(EMBER_SQRT, sqrt);
    CASE(EMBER_RSQRT, rsqrt);
    CASE(EMBER_RECIPROCAL, reciprocal);
    CASE(EMBER_SQUARE, square);
    CASE(EMBER_TANH, tanh);
    CASE(EMBER_SIGMOID, sigmoid);
    CASE(EMBER_RELU, relu);
    CASE(EMBER_GELU, gelu);
    CASE(EMBER_GELU_TANH, gelu_tanh);
    CASE(EMBER_SILU, silu);
    CASE(EMBER_SOFTPLUS, softplus);
    CASE(EMBER_ELU, elu);
    CASE(EMBER_LEAKY_RELU, leaky_relu);
    CASE(EMBER_ERF, erf);
    CASE(EMBER_FLOOR, floor);
    CASE(EMBER_CEIL, ceil);
    CASE(EMBER_ROUND, round);
    CASE(EMBER_TRUNC, trunc);
    CASE(EMBER_SIGN, sign);
    CASE(EMBER_CLAMP, clamp);
#undef CASE
    default: return 0; // sin, cos, tan, logical not: scalar loop
    }
}

// MARK: fused LSTM cell (lstm.c dispatches here)

void VARIANT(ember_lstm_cell_forward_f32)(const float *ig, const float *hg, const float *cp, float *h,
                                          float *c, float *saved, int64_t rows, int64_t H) {
    for (int64_t r = 0; r < rows; r++) {
        const float *a = ig + r * 4 * H, *b = hg ? hg + r * 4 * H : 0;
        const float *cr = cp + r * H;
        float *hr = h + r * H, *ccr = c + r * H, *s = saved ? saved + r * 5 * H : 0;
        for (int64_t j = 0; j < H; j += LANES) {
            const int64_t count = H - j < LANES ? H - j : LANES;
#define LOAD(p) (count == LANES ? load_v(p) : load_partial((p), count))
#define STORE(p, v) (count == LANES ? store_v((p), (v)) : store_partial((p), (v), count))
            V zi = LOAD(a + j), zf = LOAD(a + H + j), zg = LOAD(a + 2 * H + j), zo = LOAD(a + 3 * H + j);
            if (b) {
                zi = ADD(zi, LOAD(b + j)); zf = ADD(zf, LOAD(b + H + j));
                zg = ADD(zg, LOAD(b + 2 * H + j)); zo = ADD(zo, LOAD(b + 3 * H + j));
            }
            V i = sigmoid_v(zi), f = sigmoid_v(zf), g = tanh_v(zg), o = sigmoid_v(zo);
            V cell = ADD(MUL(f, LOAD(cr + j)), MUL(i, g));
            V tc = tanh_v(cell);
            STORE(ccr + j, cell);
            STORE(hr + j, MUL(o, tc));
            if (s) {
                STORE(s + j, i);
                STORE(s + H + j, f);
                STORE(s + 2 * H + j, g);
                STORE(s + 3 * H + j, o);
                STORE(s + 4 * H + j, tc);
            }
#undef LOAD
#undef STORE
        }
    }
}
