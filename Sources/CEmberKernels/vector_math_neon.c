// NEON float32 math: exp, log, tanh, erf and the activations built from them, four lanes at a
// time (aarch64 only). Chosen by vector_math.c when `ember_cpu_level() == 3`, i.e. always on
// aarch64 unless a test forces the scalar loop with level 0.
//
// The algorithms, polynomial coefficients and accuracy (2-3 ulp over the whole float range,
// denormals included; NaN, infinities, signed zeros and overflow as in unary_impl.h) are those
// of vector_math_avx2.c, whose header explains each reduction; this file only spells them with
// NEON operations, in the same order, so that both variants give the same bits for the same
// input (scripts/check-arm64.sh compares them). A change of method or coefficients belongs in
// both files.
//
// Where the two instruction sets differ:
// - min/max: x86's minps/maxps return their second operand when the comparison fails (NaN
//   included), and the AVX2 code relies on it (clamping a NaN to a constant, clamp ignoring a NaN
//   bound, the sign of zero). NEON's FMIN/FMAX propagate NaN and FMINNM/FMAXNM order -0 below
//   +0, so MIN and MAX here are a compare and a select with the x86 meaning.
// - No masked loads or stores: the last n % 4 elements go through a zero-padded stack vector.
// - The rest maps one to one: FMLA/FMLS for the fused multiply-adds, FRINTN/FRINTM/FRINTP/FRINTZ
//   for the roundings, FDIV and FSQRT (correctly rounded, like divps and sqrtps), FCVTN for the
//   double-to-float narrowing of gelu_tanh. Rejected, as on x86: the estimate instructions
//   (FRECPE, FRSQRTE: 8 bits, and still 1-2 ulp off after Newton steps).
#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>
#include <string.h>
#include "vector_math_internal.h"

typedef float32x4_t V;
typedef int32x4_t VI;
typedef uint32x4_t VM; // lane masks: all ones or all zeros

#define C(value) vdupq_n_f32(value)
#define CI(value) vdupq_n_s32(value)
#define ADD vaddq_f32
#define SUB vsubq_f32
#define MUL vmulq_f32
#define DIV vdivq_f32
#define ZERO vdupq_n_f32(0.0f)

static inline V FMA(V a, V b, V c) { return vfmaq_f32(c, a, b); }       // a * b + c, one rounding
static inline V FNMA(V a, V b, V c) { return vfmsq_f32(c, a, b); }      // c - a * b, one rounding
static inline V FMS(V a, V b, V c) { return vnegq_f32(vfmsq_f32(c, a, b)); } // a * b - c, one rounding
static inline V SELECT(VM mask, V if_true, V if_false) { return vbslq_f32(mask, if_true, if_false); }
static inline VM LT(V a, V b) { return vcltq_f32(a, b); }
static inline VM GT(V a, V b) { return vcgtq_f32(a, b); }
static inline VM LE(V a, V b) { return vcleq_f32(a, b); }
static inline VM EQ(V a, V b) { return vceqq_f32(a, b); }
/// x86 semantics (see the header): `a < b ? a : b`, so NaN in either gives `b`.
static inline V MIN(V a, V b) { return SELECT(LT(a, b), a, b); }
static inline V MAX(V a, V b) { return SELECT(GT(a, b), a, b); }

static inline VM bits(V x) { return vreinterpretq_u32_f32(x); }
static inline V from_bits(VM x) { return vreinterpretq_f32_u32(x); }
static inline V or_v(V a, V b) { return from_bits(vorrq_u32(bits(a), bits(b))); }
static inline V xor_v(V a, V b) { return from_bits(veorq_u32(bits(a), bits(b))); }
/// x where the mask is off, +0 where it is on.
static inline V clear_where(VM mask, V x) { return from_bits(vbicq_u32(bits(x), mask)); }
/// x where the mask is on, +0 where it is off.
static inline V keep_where(VM mask, V x) { return from_bits(vandq_u32(bits(x), mask)); }

static const float LN2_HI = 0.693145751953125f;     // 0x3f317200: k * LN2_HI is exact for |k| < 512
static const float LN2_LO = 1.42860676533018570e-6f; // ln 2 - LN2_HI
static const float LOG2E = 1.44269504088896341f;
static const float LOG2E_HI = 1.44269502f;
static const float LOG2E_LO = 1.92596299e-08f;

static inline VM is_nan(V x) { return vmvnq_u32(vceqq_f32(x, x)); }
/// NaN inputs pass through unchanged (payload kept), whatever the clamped math made of them.
static inline V keep_nan(V y, V x) { return SELECT(is_nan(x), x, y); }
static inline V abs_v(V x) { return vabsq_f32(x); }
static inline V sign_bit(V x) { return from_bits(vandq_u32(bits(x), vdupq_n_u32(0x80000000u))); }
static inline V negative_abs(V x) { return or_v(x, C(-0.0f)); } // -|x|
static inline V round_v(V x) { return vrndnq_f32(x); }          // to nearest, ties to even
/// An integral float to int32 (exact; the conversion's rounding never applies).
static inline VI to_int(V x) { return vcvtnq_s32_f32(x); }

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
static inline V pow2i(VI k) { return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(k, CI(127)), 23)); }

/// y * 2^k for k in [-252, 254], rounding once even when the result is denormal.
static inline V scale(V y, VI k) {
    VI k1 = vshrq_n_s32(k, 1); // arithmetic shift: floor(k / 2)
    return MUL(MUL(y, pow2i(k1)), pow2i(vsubq_s32(k, k1)));
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
    // 2^k q + (2^k - 1), both parts exact for k in [-30, 60]; beyond 60 the plain exp formula.
    VI kc = vmaxq_s32(vminq_s32(e.k, CI(60)), CI(-30));
    V t = pow2i(kc);
    V y = FMA(t, e.q, SUB(t, C(1.0f)));
    VM big = vcgtq_s32(e.k, CI(60));
    y = SELECT(big, scale(ADD(C(1.0f), e.q), e.k), y);
    y = SELECT(EQ(x, ZERO), x, y); // keeps the sign of -0
    return keep_nan(y, x);
}

// MARK: log

/// Splits x > 0 (normal or denormal) into x = (1 + f) 2^e with 1 + f in [sqrt(1/2), sqrt(2)).
static inline V log_reduce(V x, V *e) {
    VM tiny = LT(x, C(0x1p-126f));
    V xs = SELECT(tiny, MUL(x, C(0x1p23f)), x);
    VI reduced = vsubq_s32(vreinterpretq_s32_f32(xs), CI(0x3f3504f3));
    VI exponent = vshrq_n_s32(reduced, 23);
    VI mantissa = vaddq_s32(vandq_s32(reduced, CI(0x007fffff)), CI(0x3f3504f3));
    *e = SUB(vcvtq_f32_s32(exponent), keep_where(tiny, C(23.0f)));
    return SUB(vreinterpretq_f32_s32(mantissa), C(1.0f)); // exact
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
    // |x| < 0.5493: x + x^3 P(x^2); otherwise 1 - 2 / (e^2|x| + 1) with the sign of x.
    V x2 = MUL(x, x);
    V p = FMA(C(0.00239818566f), x2, C(-0.00841588993f));
    p = FMA(p, x2, C(0.0217834096f));
    p = FMA(p, x2, C(-0.053959731f));
    p = FMA(p, x2, C(0.133332938f));
    p = FMA(p, x2, C(-0.333333313f));
    V small = FMA(MUL(x2, x), p, x);
    V large = SUB(C(1.0f), DIV(C(2.0f), ADD(exp_clamped(ADD(a, a)), C(1.0f))));
    // Both branches take the sign of x (`small` alone turns -0 into +0).
    return keep_nan(or_v(SELECT(LT(a, C(0.5493f)), small, large), sign_bit(x)), x);
}

static inline V sigmoid_v(V x) {
    // e = exp(-|x|) <= 1; 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0.
    V e = exp_clamped(negative_abs(x));
    V y = DIV(SELECT(LT(x, ZERO), e, C(1.0f)), ADD(C(1.0f), e));
    return keep_nan(y, x);
}

/// x * sigmoid(t) with t = th + tl (tl a small correction), used by silu (t = x) and gelu_tanh;
/// for t < 0 the quotient is scaled by 2^k last, so a denormal result is rounded once.
static inline V x_sigmoid(V x, V th, V tl) {
    VM negative = LT(th, ZERO);
    V h = negative_abs(th);
    V l = SELECT(negative, tl, xor_v(tl, C(-0.0f)));
    VM underflow = LT(h, C(-120.0f));
    h = MAX(h, C(-120.0f));
    l = clear_where(underflow, l);
    exp_parts p = exp_reduce(h, l);
    V one_plus_q = ADD(C(1.0f), p.q);
    V e = scale(one_plus_q, p.k);
    V y = DIV(SELECT(negative, MUL(x, one_plus_q), x), ADD(C(1.0f), e));
    y = SELECT(negative, scale(y, p.k), y);
    y = SELECT(vandq_u32(negative, underflow), MUL(x, ZERO), y);
    return keep_nan(y, x);
}

static inline V silu_v(V x) { return x_sigmoid(x, x, ZERO); }

/// gelu_tanh(x) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), with 2u computed in double
/// (two lanes per vector) and carried as hi + lo.
static inline V gelu_tanh_v(V x) {
    const float64x2_t c1 = vdupq_n_f64(1.5957691216057307117597842397375); // 2 sqrt(2/pi)
    const float64x2_t c3 = vdupq_n_f64(1.5957691216057307117597842397375 * 0.044715);
    float64x2_t x_lo = vcvt_f64_f32(vget_low_f32(x));
    float64x2_t x_hi = vcvt_high_f64_f32(x);
    float64x2_t t_lo = vmulq_f64(x_lo, vfmaq_f64(c1, c3, vmulq_f64(x_lo, x_lo)));
    float64x2_t t_hi = vmulq_f64(x_hi, vfmaq_f64(c1, c3, vmulq_f64(x_hi, x_hi)));
    float32x2_t th_lo = vcvt_f32_f64(t_lo), th_hi = vcvt_f32_f64(t_hi);
    float32x2_t tl_lo = vcvt_f32_f64(vsubq_f64(t_lo, vcvt_f64_f32(th_lo)));
    float32x2_t tl_hi = vcvt_f32_f64(vsubq_f64(t_hi, vcvt_f64_f32(th_hi)));
    V th = vcombine_f32(th_lo, th_hi);
    V tl = vcombine_f32(tl_lo, tl_hi);
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
    exp_parts p = exp_reduce(vnegq_f32(hi), SUB(erfc_log_correction(a), lo));
    return DIV(scale(ADD(C(1.0f), p.q), p.k), a);
}

/// x (C0 + x^2 Q(x^2)) = erf(x) for |x| < 0.5, C0 = 2/sqrt(pi) split in two.
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
    // Both branches take the sign of x, as in tanh.
    return keep_nan(or_v(SELECT(LT(a, C(0.5f)), erf_small(x), large), sign_bit(x)), x);
}

static inline V gelu_v(V x) {
    V z = MUL(x, C(0.707106781186547524f));
    // |z| < 1/2: x/2 (1 + erf(z)).
    V small = MUL(MUL(C(0.5f), x), ADD(C(1.0f), erf_small(z)));
    // |z| >= 1/2: E = x/2 erfc(|z|) = exp(-x^2/2 + G(|z|)) / sqrt 2; gelu = x - E for x > 0 and
    // -E for x < 0, with x^2 carried as hi + lo; beyond |x| = 14.8, E underflows.
    V xc = MIN(MAX(x, C(-14.8f)), C(14.8f));
    V a = MIN(MAX(abs_v(MUL(xc, C(0.707106781186547524f))), C(0.5f)), C(10.5f));
    V hi = MUL(xc, xc);
    V lo = FMS(xc, xc, hi);
    V l = SUB(SUB(erfc_log_correction(a), C(0.346573590279972655f)), MUL(C(0.5f), lo));
    exp_parts p = exp_reduce(MUL(C(-0.5f), hi), l);
    V e = scale(ADD(C(1.0f), p.q), p.k);
    V large = SELECT(GT(x, ZERO), SUB(x, e), vnegq_f32(e));
    V y = SELECT(LT(abs_v(z), C(0.5f)), small, large);
    y = SELECT(EQ(x, C(-INFINITY)), C(NAN), y); // the scalar gives -inf * 0
    return keep_nan(y, x);
}

// MARK: loops

/// The first `count` (< 4) elements of p in a vector, the other lanes 0.
static inline V load_tail(const float *p, int64_t count) {
    float lanes[4] = {0, 0, 0, 0};
    memcpy(lanes, p, (size_t)count * sizeof(float));
    return vld1q_f32(lanes);
}

static inline void store_tail(float *p, V v, int64_t count) {
    float lanes[4];
    vst1q_f32(lanes, v);
    memcpy(p, lanes, (size_t)count * sizeof(float));
}

// One loop per operation so that the math inlines; the tail (n % 4) runs the same formula on a
// zero-padded vector.
#define DEFINE_LOOP(NAME, EXPR)                                                                    \
    static void NAME##_loop(const float *in, float *out, int64_t n, V a, V b) {                     \
        (void)a; (void)b;                                                                          \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= n; i += 4) {                                                               \
            V x = vld1q_f32(in + i);                                                               \
            vst1q_f32(out + i, (EXPR));                                                            \
        }                                                                                          \
        if (i < n) {                                                                               \
            V x = load_tail(in + i, n - i);                                                        \
            store_tail(out + i, (EXPR), n - i);                                                    \
        }                                                                                          \
    }

DEFINE_LOOP(neg, vnegq_f32(x))
DEFINE_LOOP(abs, abs_v(x))
DEFINE_LOOP(exp, exp_v(x))
DEFINE_LOOP(exp2, exp2_v(x))
DEFINE_LOOP(expm1, expm1_v(x))
DEFINE_LOOP(log, log_v(x))
DEFINE_LOOP(log2, log2_v(x))
DEFINE_LOOP(log1p, log1p_v(x))
DEFINE_LOOP(sqrt, vsqrtq_f32(x))
DEFINE_LOOP(rsqrt, DIV(C(1.0f), vsqrtq_f32(x)))
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
DEFINE_LOOP(floor, vrndmq_f32(x))
DEFINE_LOOP(ceil, vrndpq_f32(x))
DEFINE_LOOP(round, round_v(x)) // half to even, like nearbyint and torch.round
DEFINE_LOOP(trunc, vrndq_f32(x))
// sign: 1, -1, or the input itself for 0, -0 and NaN.
DEFINE_LOOP(sign, SELECT(GT(x, ZERO), C(1.0f), SELECT(LT(x, ZERO), C(-1.0f), x)))
// clamp: NaN stays NaN; a NaN bound is ignored (MIN and MAX return their second operand on NaN).
DEFINE_LOOP(clamp, keep_nan(MIN(b, MAX(a, x)), x))

int ember_unary_f32_neon(ember_unary_op op, const float *x, float *y, int64_t n, double p0, double p1) {
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

void ember_lstm_cell_forward_f32_neon(const float *ig, const float *hg, const float *cp, float *h, float *c,
                                      float *saved, int64_t rows, int64_t H) {
    for (int64_t r = 0; r < rows; r++) {
        const float *a = ig + r * 4 * H, *b = hg ? hg + r * 4 * H : 0;
        const float *cr = cp + r * H;
        float *hr = h + r * H, *ccr = c + r * H, *s = saved ? saved + r * 5 * H : 0;
        for (int64_t j = 0; j < H; j += 4) {
            const int64_t count = H - j < 4 ? H - j : 4;
#define LOAD(p) (count == 4 ? vld1q_f32(p) : load_tail((p), count))
#define STORE(p, v) (count == 4 ? vst1q_f32((p), (v)) : store_tail((p), (v), count))
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

#endif
