// Float reduction kernels, written once and compiled per instruction set (like
// elementwise_impl.h): a variant file defines EMBER_VARIANT and wraps this include in a
// `#pragma clang attribute push(target(...))`.
//
// Vectorisation without intrinsics or -ffast-math: each kernel keeps an array of independent
// accumulators (LANES of them) and adds x[i + j] into acc[j]; clang keeps the array in vector
// registers (8 ymm for AVX2) without needing to reassociate a single sum.
// Accuracy: a row sum is pairwise. A leaf sums at most LEAF elements into the lanes (each lane
// sees LEAF / LANES values) and folds them to one vector's width (PARTIAL lanes). Leaf results
// are combined by a binary counter, as in a pairwise tree: level k holds the combination of 2^k
// leaves, and a new leaf carries upwards through the occupied levels. The error bound is
// O(eps (LEAF / LANES + log2 n)) instead of O(eps n), the same as recursive halving, but the
// partials stay one vector wide until the end: folding every leaf down to a scalar and
// recursing cost 10-25% of a memory-bound sum over 40 MB (1.77 vs 1.41-1.65 ms on one core).
// Rejected: Kahan summation (4 flops per element, half the speed when the data is in cache) and
// double accumulation for float32 rows (halves the lanes per register; pairwise is already
// accurate to ~1e-7 relative on 10M elements).
#include <math.h>
#include <stdint.h>
#include "ember_reduce.h"

#define EMBER_CAT_(a, b) a##_##b
#define EMBER_CAT(a, b) EMBER_CAT_(a, b)
#define VARIANT(name) EMBER_CAT(name, EMBER_VARIANT)

// NaN-propagating maximum and minimum (a NaN accumulator stays NaN; a NaN value replaces it).
#define RED_MAX(acc, v) (((v) > (acc) || (v) != (v)) ? (v) : (acc))
#define RED_MIN(acc, v) (((v) < (acc) || (v) != (v)) ? (v) : (acc))
#define RED_ADD(acc, v) ((acc) + (v))
#define RED_MUL(acc, v) ((acc) * (v))
#define RED_ADD_SQUARE(acc, v) ((acc) + (v) * (v))

#define REDUCE_LEAF 1024

// Defines VARIANT(row_NAME_SUFFIX)(x, n): STEP folds a value into a lane, COMBINE merges lanes.
// PARTIAL lanes (one vector register) carry a leaf's result; 64 levels cover any int64 length.
#define DEFINE_ROW_REDUCE(NAME, T, SUFFIX, LANES, PARTIAL, INIT, STEP, COMBINE)                    \
    static inline __attribute__((always_inline)) void VARIANT(row_leaf_##NAME##_##SUFFIX)(          \
        const T *x, int64_t n, T *restrict out) {                                                  \
        T acc[LANES];                                                                              \
        for (int j = 0; j < LANES; j++) acc[j] = (INIT);                                           \
        int64_t i = 0;                                                                             \
        for (; i + LANES <= n; i += LANES) {                                                       \
            for (int j = 0; j < LANES; j++) acc[j] = STEP(acc[j], x[i + j]);                       \
        }                                                                                          \
        for (int j = 0; i + j < n; j++) acc[j] = STEP(acc[j], x[i + j]);                           \
        for (int width = LANES / 2; width >= PARTIAL; width /= 2) {                                \
            for (int j = 0; j < width; j++) acc[j] = COMBINE(acc[j], acc[j + width]);             \
        }                                                                                          \
        for (int j = 0; j < PARTIAL; j++) out[j] = acc[j];                                         \
    }                                                                                              \
    static T VARIANT(row_##NAME##_##SUFFIX)(const T *x, int64_t n) {                               \
        T levels[64][PARTIAL];                                                                     \
        uint64_t occupied = 0;                                                                     \
        for (int64_t start = 0; start < n || start == 0; start += REDUCE_LEAF) {                   \
            T part[PARTIAL];                                                                       \
            const int64_t length = n - start < REDUCE_LEAF ? n - start : REDUCE_LEAF;              \
            VARIANT(row_leaf_##NAME##_##SUFFIX)(x + start, length, part);                          \
            int level = 0;                                                                         \
            for (; occupied & ((uint64_t)1 << level); level++) {                                   \
                for (int j = 0; j < PARTIAL; j++) part[j] = COMBINE(levels[level][j], part[j]);    \
            }                                                                                      \
            occupied = (occupied >> level << level) ^ ((uint64_t)1 << level);                      \
            for (int j = 0; j < PARTIAL; j++) levels[level][j] = part[j];                          \
            if (n == 0) break;                                                                     \
        }                                                                                          \
        /* What remains is at most one entry per level: combine them, smallest first. */           \
        T acc[PARTIAL];                                                                            \
        int first = 1;                                                                             \
        for (uint64_t bits = occupied; bits; bits &= bits - 1) {                                   \
            const int level = __builtin_ctzll(bits);                                               \
            for (int j = 0; j < PARTIAL; j++) acc[j] = first ? levels[level][j] : COMBINE(levels[level][j], acc[j]); \
            first = 0;                                                                             \
        }                                                                                          \
        for (int width = PARTIAL / 2; width >= 1; width /= 2) {                                    \
            for (int j = 0; j < width; j++) acc[j] = COMBINE(acc[j], acc[j + width]);             \
        }                                                                                          \
        return acc[0];                                                                             \
    }

#define DEFINE_FLOAT_ROWS(T, SUFFIX, LANES, PARTIAL)                                               \
    DEFINE_ROW_REDUCE(sum, T, SUFFIX, LANES, PARTIAL, 0, RED_ADD, RED_ADD)                         \
    DEFINE_ROW_REDUCE(prod, T, SUFFIX, LANES, PARTIAL, 1, RED_MUL, RED_MUL)                        \
    DEFINE_ROW_REDUCE(max, T, SUFFIX, LANES, PARTIAL, -INFINITY, RED_MAX, RED_MAX)                 \
    DEFINE_ROW_REDUCE(min, T, SUFFIX, LANES, PARTIAL, INFINITY, RED_MIN, RED_MIN)                  \
    DEFINE_ROW_REDUCE(sum_squares, T, SUFFIX, LANES, PARTIAL, 0, RED_ADD_SQUARE, RED_ADD)          \
    T VARIANT(ember_row_reduce_##SUFFIX)(ember_reduce_op op, const T *x, int64_t n) {              \
        switch (op) {                                                                              \
        case EMBER_REDUCE_SUM: return VARIANT(row_sum_##SUFFIX)(x, n);                             \
        case EMBER_REDUCE_PROD: return VARIANT(row_prod_##SUFFIX)(x, n);                           \
        case EMBER_REDUCE_MAX: return VARIANT(row_max_##SUFFIX)(x, n);                             \
        case EMBER_REDUCE_MIN: return VARIANT(row_min_##SUFFIX)(x, n);                             \
        case EMBER_REDUCE_SUM_SQUARES: return VARIANT(row_sum_squares_##SUFFIX)(x, n);             \
        default: return 0;                                                                         \
        }                                                                                          \
    }

// 64 float lanes = 8 AVX2 registers, folded to one register (8) per leaf; 32 double lanes likewise (4).
DEFINE_FLOAT_ROWS(float, f32, 64, 8)
DEFINE_FLOAT_ROWS(double, f64, 32, 4)

// Sums (and sums of squares) of several segments of one long row, read in lockstep
// (ember_reduce_segment_sums).
// Why: a single sequential stream leaves memory idle each time the hardware prefetcher restarts
// at a 4 KiB boundary; reading 8 segments a few vectors at a time keeps 8 streams of misses in
// flight. In a C loop over 40 MB on two cores, 8 streams per core ran in 0.73 ms against 0.96
// (median of 5 alternating runs each). Each segment's result is its own pairwise sum (leaves
// of SEGMENT_LEAF elements in LANES lanes, folded to PARTIAL, combined by a binary counter), so
// it does not depend on which segments share a call: the caller's segmentation alone fixes the
// bits, whatever the thread count.
#define SEGMENT_LEAF 256
#define DEFINE_SEGMENT_COUNTER(T, SUFFIX, LANES, PARTIAL)                                          \
    typedef struct {                                                                               \
        T levels[48][PARTIAL];                                                                     \
        uint64_t occupied;                                                                         \
    } VARIANT(segment_counter_##SUFFIX);                                                           \
    static inline __attribute__((always_inline)) void VARIANT(segment_push_##SUFFIX)(              \
        VARIANT(segment_counter_##SUFFIX) *counter, T *restrict acc) {                             \
        for (int width = LANES / 2; width >= PARTIAL; width /= 2) {                                \
            for (int j = 0; j < width; j++) acc[j] += acc[j + width];                              \
        }                                                                                          \
        int level = 0;                                                                             \
        for (; counter->occupied & ((uint64_t)1 << level); level++) {                              \
            for (int j = 0; j < PARTIAL; j++) acc[j] = counter->levels[level][j] + acc[j];         \
        }                                                                                          \
        counter->occupied = (counter->occupied >> level << level) ^ ((uint64_t)1 << level);        \
        for (int j = 0; j < PARTIAL; j++) counter->levels[level][j] = acc[j];                      \
    }

// TERM(v) is what a value adds: v for sums, v * v for sums of squares (norms).
#define DEFINE_SEGMENT_REDUCE(NAME, T, SUFFIX, LANES, PARTIAL, TERM)                                \
    void VARIANT(ember_segment_##NAME##_##SUFFIX)(const T *x, const int64_t *bounds, int64_t count, \
                                                  T *out) {                                        \
        /* No fused multiply-add for the squares: every variant gives the same bits. */           \
        _Pragma("clang fp contract(off)")                                                          \
        VARIANT(segment_counter_##SUFFIX) counters[EMBER_MAX_SEGMENTS];                            \
        T acc[EMBER_MAX_SEGMENTS][LANES];                                                          \
        if (count <= 0) return;                                                                    \
        int64_t shared = INT64_MAX;                                                                \
        for (int64_t s = 0; s < count; s++) {                                                      \
            counters[s].occupied = 0;                                                              \
            const int64_t leaves = (bounds[s + 1] - bounds[s]) / SEGMENT_LEAF;                     \
            if (leaves < shared) shared = leaves;                                                  \
        }                                                                                          \
        /* The leaves every segment has, in lockstep, eight segments at a time: one vector of   */ \
        /* each in turn, the eight accumulators in registers.                                   */ \
        for (int64_t leaf = 0; leaf < shared; leaf++) {                                            \
            for (int64_t g = 0; g < count; g += 8) {                                               \
                const int64_t group = count - g < 8 ? count - g : 8;                               \
                if (group == 8) {                                                                  \
                    const T *p[8];                                                                 \
                    T a[8][LANES];                                                                 \
                    for (int k = 0; k < 8; k++) {                                                  \
                        p[k] = x + bounds[g + k] + leaf * SEGMENT_LEAF;                            \
                        for (int j = 0; j < LANES; j++) a[k][j] = 0;                               \
                    }                                                                              \
                    for (int64_t i = 0; i < SEGMENT_LEAF; i += LANES)                              \
                        for (int k = 0; k < 8; k++)                                                \
                            for (int j = 0; j < LANES; j++) a[k][j] += TERM(p[k][i + j]);                \
                    for (int k = 0; k < 8; k++) VARIANT(segment_push_##SUFFIX)(&counters[g + k], a[k]); \
                    continue;                                                                      \
                }                                                                                  \
                for (int64_t s = g; s < g + group; s++)                                            \
                    for (int j = 0; j < LANES; j++) acc[s][j] = 0;                                 \
                for (int64_t i = 0; i < SEGMENT_LEAF; i += LANES) {                                \
                    for (int64_t s = g; s < g + group; s++) {                                      \
                        const T *restrict q = x + bounds[s] + leaf * SEGMENT_LEAF + i;             \
                        for (int j = 0; j < LANES; j++) acc[s][j] += TERM(q[j]);                         \
                    }                                                                              \
                }                                                                                  \
                for (int64_t s = g; s < g + group; s++) VARIANT(segment_push_##SUFFIX)(&counters[s], acc[s]); \
            }                                                                                      \
        }                                                                                          \
        /* Each segment's remaining leaves (full ones, then a partial one), alone. */              \
        for (int64_t s = 0; s < count; s++) {                                                      \
            const int64_t end = bounds[s + 1];                                                     \
            for (int64_t start = bounds[s] + shared * SEGMENT_LEAF; start < end; start += SEGMENT_LEAF) { \
                const int64_t length = end - start < SEGMENT_LEAF ? end - start : SEGMENT_LEAF;    \
                T *restrict a = acc[s];                                                            \
                for (int j = 0; j < LANES; j++) a[j] = 0;                                          \
                int64_t i = 0;                                                                     \
                for (; i + LANES <= length; i += LANES)                                            \
                    for (int j = 0; j < LANES; j++) a[j] += TERM(x[start + i + j]);                      \
                for (int j = 0; i + j < length; j++) a[j] += TERM(x[start + i + j]);                     \
                VARIANT(segment_push_##SUFFIX)(&counters[s], a);                                   \
            }                                                                                      \
            /* Combine what the counter holds, smallest level first, then fold to a scalar. */     \
            T total[PARTIAL];                                                                      \
            for (int j = 0; j < PARTIAL; j++) total[j] = 0;                                        \
            int first = 1;                                                                         \
            for (uint64_t bits = counters[s].occupied; bits; bits &= bits - 1) {                   \
                const int level = __builtin_ctzll(bits);                                           \
                for (int j = 0; j < PARTIAL; j++)                                                  \
                    total[j] = first ? counters[s].levels[level][j] : counters[s].levels[level][j] + total[j]; \
                first = 0;                                                                         \
            }                                                                                      \
            for (int width = PARTIAL / 2; width >= 1; width /= 2) {                                \
                for (int j = 0; j < width; j++) total[j] += total[j + width];                      \
            }                                                                                      \
            out[s] = total[0];                                                                     \
        }                                                                                          \
    }

#define SEGMENT_VALUE(v) (v)
#define SEGMENT_SQUARE(v) ((v) * (v))
// One AVX2 vector of lanes per segment: 8 floats, 4 doubles (the leaf is already one vector wide).
DEFINE_SEGMENT_COUNTER(float, f32, 8, 8)
DEFINE_SEGMENT_COUNTER(double, f64, 4, 4)
DEFINE_SEGMENT_REDUCE(sums, float, f32, 8, 8, SEGMENT_VALUE)
DEFINE_SEGMENT_REDUCE(sums, double, f64, 4, 4, SEGMENT_VALUE)
DEFINE_SEGMENT_REDUCE(sum_squares, float, f32, 8, 8, SEGMENT_SQUARE)
DEFINE_SEGMENT_REDUCE(sum_squares, double, f64, 4, 4, SEGMENT_SQUARE)

// Column tiles: out[i] = op over k of in[k * stride + i]. The accumulator row (ACC, double for
// float32 sums and products) stays in L1 by working on TILE columns at a time.
#define COLUMN_TILE 512
#define DEFINE_COLUMN_TILE(T, SUFFIX, ACC)                                                         \
    void VARIANT(ember_column_tile_##SUFFIX)(ember_reduce_op op, const T *in, int64_t n,            \
                                             int64_t stride, int64_t count, T *out) {              \
        for (int64_t start = 0; start < count; start += COLUMN_TILE) {                             \
            const int64_t width = count - start < COLUMN_TILE ? count - start : COLUMN_TILE;       \
            const T *base = in + start;                                                            \
            T *o = out + start;                                                                    \
            switch (op) {                                                                          \
            case EMBER_REDUCE_SUM:                                                                 \
            case EMBER_REDUCE_SUM_SQUARES:                                                         \
            case EMBER_REDUCE_PROD: {                                                              \
                ACC acc[COLUMN_TILE];                                                              \
                const ACC init = op == EMBER_REDUCE_PROD ? 1 : 0;                                  \
                for (int64_t i = 0; i < width; i++) acc[i] = init;                                 \
                for (int64_t k = 0; k < n; k++) {                                                  \
                    const T *row = base + k * stride;                                              \
                    if (op == EMBER_REDUCE_SUM) {                                                  \
                        for (int64_t i = 0; i < width; i++) acc[i] += (ACC)row[i];                 \
                    } else if (op == EMBER_REDUCE_PROD) {                                          \
                        for (int64_t i = 0; i < width; i++) acc[i] *= (ACC)row[i];                 \
                    } else {                                                                       \
                        for (int64_t i = 0; i < width; i++) acc[i] += (ACC)row[i] * (ACC)row[i];   \
                    }                                                                              \
                }                                                                                  \
                for (int64_t i = 0; i < width; i++) o[i] = (T)acc[i];                              \
                break;                                                                             \
            }                                                                                      \
            case EMBER_REDUCE_MAX:                                                                 \
            case EMBER_REDUCE_MIN: {                                                               \
                const int is_max = op == EMBER_REDUCE_MAX;                                         \
                for (int64_t i = 0; i < width; i++) o[i] = is_max ? -INFINITY : INFINITY;          \
                for (int64_t k = 0; k < n; k++) {                                                  \
                    const T *row = base + k * stride;                                              \
                    if (is_max) {                                                                  \
                        for (int64_t i = 0; i < width; i++) o[i] = RED_MAX(o[i], row[i]);          \
                    } else {                                                                       \
                        for (int64_t i = 0; i < width; i++) o[i] = RED_MIN(o[i], row[i]);          \
                    }                                                                              \
                }                                                                                  \
                break;                                                                             \
            }                                                                                      \
            default: break;                                                                        \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_COLUMN_TILE(float, f32, double)
DEFINE_COLUMN_TILE(double, f64, double)

// First index of the maximum (or minimum): one vectorised pass for the extreme value, then a
// block-wise search for its first occurrence (a NaN extreme means the first NaN).
#define DEFINE_ARG_ROW(T, SUFFIX)                                                                  \
    int64_t VARIANT(ember_arg_row_##SUFFIX)(int is_max, const T *x, int64_t n) {                   \
        if (n <= 0) return 0;                                                                      \
        const T target = is_max ? VARIANT(row_max_##SUFFIX)(x, n) : VARIANT(row_min_##SUFFIX)(x, n); \
        const int nan = target != target;                                                          \
        int64_t i = 0;                                                                             \
        for (; i + 64 <= n; i += 64) {                                                             \
            int hit = 0;                                                                           \
            if (nan) { for (int j = 0; j < 64; j++) hit |= x[i + j] != x[i + j]; }                 \
            else { for (int j = 0; j < 64; j++) hit |= x[i + j] == target; }                       \
            if (hit) break;                                                                        \
        }                                                                                          \
        for (; i < n; i++) {                                                                       \
            if (nan ? x[i] != x[i] : x[i] == target) return i;                                     \
        }                                                                                          \
        return 0;                                                                                  \
    }

DEFINE_ARG_ROW(float, f32)
DEFINE_ARG_ROW(double, f64)
