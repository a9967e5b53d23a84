// AVX2+FMA float32 math, eight lanes at a time: the primitives vector_math_impl.h is written
// over, spelled with AVX2 intrinsics (the functions, loops and method notes are all there).
// Chosen at run time by vector_math.c when `ember_cpu_level() >= 1`; defines
// ember_unary_f32_avx2 and ember_lstm_cell_forward_f32_avx2. vector_math_neon.c spells the same
// primitives for aarch64, and scripts/check-arm64.sh checks that both give the same bits.
//
// What is particular to x86:
// - A comparison yields a float vector with all bits set in the true lanes, so the mask type is
//   V itself and the bit operations on masks are the float ones (and, andnot).
// - No sign instructions: negation and |x| flip or clear the sign bit with a -0.0f mask.
// - minps/maxps already have the meaning the shared code wants (the second operand on NaN).
// - Partial vectors are masked loads and stores (vmaskmovps): masked-off lanes read 0 and are
//   never touched, so the tail cannot fault past the end of a buffer.
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include "vector_math_internal.h"

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

#define EMBER_VARIANT avx2
#define LANES 8

typedef __m256 V;
typedef __m256i VI;
typedef __m256 VM; // compare results: all ones or all zeros per lane
typedef __m256d VD;

#define C(value) _mm256_set1_ps(value)
#define CI(value) _mm256_set1_epi32(value)
#define ADD _mm256_add_ps
#define SUB _mm256_sub_ps
#define MUL _mm256_mul_ps
#define DIV _mm256_div_ps
#define FMA _mm256_fmadd_ps   // a * b + c, one rounding
#define FNMA _mm256_fnmadd_ps // c - a * b, one rounding
#define FMS _mm256_fmsub_ps   // a * b - c, one rounding
#define MIN _mm256_min_ps     // returns the second operand when either is NaN
#define MAX _mm256_max_ps
#define SELECT(mask, if_true, if_false) _mm256_blendv_ps(if_false, if_true, mask)
#define LT(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define GT(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define LE(a, b) _mm256_cmp_ps(a, b, _CMP_LE_OQ)
#define EQ(a, b) _mm256_cmp_ps(a, b, _CMP_EQ_OQ)

static inline VM is_nan(V x) { return _mm256_cmp_ps(x, x, _CMP_UNORD_Q); }
static inline VM mask_and(VM a, VM b) { return _mm256_and_ps(a, b); }
static inline V keep_where(VM mask, V x) { return _mm256_and_ps(mask, x); }
static inline V clear_where(VM mask, V x) { return _mm256_andnot_ps(mask, x); }
static inline V or_v(V a, V b) { return _mm256_or_ps(a, b); }
static inline V neg_v(V x) { return _mm256_xor_ps(x, C(-0.0f)); }
static inline V abs_v(V x) { return _mm256_andnot_ps(C(-0.0f), x); }
static inline V sign_bit(V x) { return _mm256_and_ps(C(-0.0f), x); }

static inline V sqrt_v(V x) { return _mm256_sqrt_ps(x); }
static inline V round_v(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline V floor_v(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
static inline V ceil_v(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }
static inline V trunc_v(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }

static inline VI to_int(V x) { return _mm256_cvtps_epi32(x); } // exact for the integral x it gets
static inline V to_float(VI k) { return _mm256_cvtepi32_ps(k); }
static inline VI as_int(V x) { return _mm256_castps_si256(x); }
static inline V as_float(VI k) { return _mm256_castsi256_ps(k); }
#define ADD_I _mm256_add_epi32
#define SUB_I _mm256_sub_epi32
#define AND_I _mm256_and_si256
#define MIN_I _mm256_min_epi32
#define MAX_I _mm256_max_epi32
#define GT_I(a, b) _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, b))
#define SHIFT_LEFT_I _mm256_slli_epi32
#define SHIFT_RIGHT_I _mm256_srai_epi32 // arithmetic

#define CD(value) _mm256_set1_pd(value)
#define MUL_D _mm256_mul_pd
#define SUB_D _mm256_sub_pd
#define FMA_D _mm256_fmadd_pd // a * b + c
static inline VD widen_low(V x) { return _mm256_cvtps_pd(_mm256_castps256_ps128(x)); }
static inline VD widen_high(V x) { return _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)); }
static inline V narrow_join(VD low, VD high) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(low)), _mm256_cvtpd_ps(high), 1);
}

#define load_v _mm256_loadu_ps
#define store_v _mm256_storeu_ps
/// Lanes i < count set, for masked loads and stores.
static inline VI tail_mask(int64_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline V load_partial(const float *p, int64_t count) { return _mm256_maskload_ps(p, tail_mask(count)); }
static inline void store_partial(float *p, V v, int64_t count) { _mm256_maskstore_ps(p, tail_mask(count), v); }

#include "vector_math_impl.h"

#pragma clang attribute pop
#endif
