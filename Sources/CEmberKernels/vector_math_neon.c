// NEON float32 math, four lanes at a time (aarch64 only): the primitives vector_math_impl.h is
// written over, spelled with NEON intrinsics (the functions, loops and method notes are all
// there). Chosen by vector_math.c when `ember_cpu_level() == 3`, i.e. always on aarch64 unless a
// test forces the scalar loop with level 0; defines ember_unary_f32_neon and
// ember_lstm_cell_forward_f32_neon. The results equal those of vector_math_avx2.c bit for bit
// (scripts/check-arm64.sh compares them), because each primitive here has the x86 meaning.
//
// Where the two instruction sets differ:
// - Masks: comparisons yield uint32x4_t, so the mask type VM is its own type and SELECT, the
//   mask operations and the bit operations on floats go through reinterpretations to it.
// - min/max: x86's minps/maxps return their second operand when the comparison fails (NaN
//   included), and the shared code relies on it (clamping a NaN to a constant, clamp ignoring a
//   NaN bound, the sign of zero). NEON's FMIN/FMAX propagate NaN and FMINNM/FMAXNM order -0
//   below +0, so MIN and MAX here are a compare and a select with the x86 meaning.
// - FMS (a * b - c) has no instruction of its own: it is FMLS (c - a * b) negated, the same
//   rounding.
// - No masked loads or stores: the last n % 4 elements go through a zero-padded stack vector.
// - The rest maps one to one: FMLA/FMLS for the fused multiply-adds, FRINTN/FRINTM/FRINTP/FRINTZ
//   for the roundings, FDIV and FSQRT (correctly rounded, like divps and sqrtps), FCVTL/FCVTN
//   for gelu_tanh's double step, FNEG and FABS for the sign.
#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>
#include <string.h>
#include "vector_math_internal.h"

#define EMBER_VARIANT neon
#define LANES 4

typedef float32x4_t V;
typedef int32x4_t VI;
typedef uint32x4_t VM; // lane masks: all ones or all zeros
typedef float64x2_t VD;

#define C(value) vdupq_n_f32(value)
#define CI(value) vdupq_n_s32(value)
#define ADD vaddq_f32
#define SUB vsubq_f32
#define MUL vmulq_f32
#define DIV vdivq_f32

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
static inline VM is_nan(V x) { return vmvnq_u32(vceqq_f32(x, x)); }
static inline VM mask_and(VM a, VM b) { return vandq_u32(a, b); }
static inline V keep_where(VM mask, V x) { return from_bits(vandq_u32(bits(x), mask)); }
static inline V clear_where(VM mask, V x) { return from_bits(vbicq_u32(bits(x), mask)); }
static inline V or_v(V a, V b) { return from_bits(vorrq_u32(bits(a), bits(b))); }
static inline V neg_v(V x) { return vnegq_f32(x); }
static inline V abs_v(V x) { return vabsq_f32(x); }
static inline V sign_bit(V x) { return from_bits(vandq_u32(bits(x), vdupq_n_u32(0x80000000u))); }

static inline V sqrt_v(V x) { return vsqrtq_f32(x); }
static inline V round_v(V x) { return vrndnq_f32(x); } // to nearest, ties to even
static inline V floor_v(V x) { return vrndmq_f32(x); }
static inline V ceil_v(V x) { return vrndpq_f32(x); }
static inline V trunc_v(V x) { return vrndq_f32(x); }

static inline VI to_int(V x) { return vcvtnq_s32_f32(x); } // exact for the integral x it gets
static inline V to_float(VI k) { return vcvtq_f32_s32(k); }
static inline VI as_int(V x) { return vreinterpretq_s32_f32(x); }
static inline V as_float(VI k) { return vreinterpretq_f32_s32(k); }
#define ADD_I vaddq_s32
#define SUB_I vsubq_s32
#define AND_I vandq_s32
#define MIN_I vminq_s32
#define MAX_I vmaxq_s32
#define GT_I vcgtq_s32
#define SHIFT_LEFT_I vshlq_n_s32
#define SHIFT_RIGHT_I vshrq_n_s32 // arithmetic on signed lanes

#define CD(value) vdupq_n_f64(value)
#define MUL_D vmulq_f64
#define SUB_D vsubq_f64
static inline VD FMA_D(VD a, VD b, VD c) { return vfmaq_f64(c, a, b); } // a * b + c
static inline VD widen_low(V x) { return vcvt_f64_f32(vget_low_f32(x)); }
static inline VD widen_high(V x) { return vcvt_high_f64_f32(x); }
static inline V narrow_join(VD low, VD high) { return vcombine_f32(vcvt_f32_f64(low), vcvt_f32_f64(high)); }

#define load_v vld1q_f32
#define store_v vst1q_f32
static inline V load_partial(const float *p, int64_t count) {
    float lanes[4] = {0, 0, 0, 0};
    memcpy(lanes, p, (size_t)count * sizeof(float));
    return vld1q_f32(lanes);
}
static inline void store_partial(float *p, V v, int64_t count) {
    float lanes[4];
    vst1q_f32(lanes, v);
    memcpy(p, lanes, (size_t)count * sizeof(float));
}

#include "vector_math_impl.h"

#endif
