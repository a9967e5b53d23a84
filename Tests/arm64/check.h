// Shared helpers of the C kernel checks in this folder (scripts/check-arm64.sh builds them with
// every Sources/CEmberKernels/*.c, for aarch64 under qemu and natively). Not a SwiftPM target.
#ifndef EMBER_CHECK_H
#define EMBER_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include "CEmberKernels.h"

/// Counts a check; on failure prints the message (the first few per section) and counts it.
#define CHECK(condition, ...)                                                                      \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(condition)) {                                                                        \
            if (check_failures++ < 20) {                                                           \
                printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                      \
                printf(__VA_ARGS__);                                                               \
                printf("\n");                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

extern long check_count, check_failures;

/// The instruction-set levels this machine can run: 0 and the detected one(s).
extern int check_levels[4];
extern int check_level_count;
const char *check_level_name(int level);

/// Deterministic uniform values in [lo, hi).
double check_uniform(double lo, double hi);

/// Memory whose last byte is followed by an inaccessible page, so that reading or writing one
/// element past the end of an operand faults. Each slot returns the same region every time.
void *check_guarded_end(int slot, size_t bytes);

/// Bits of a float/double with every NaN mapped to one pattern (x86 and ARM make different
/// default NaNs), for comparing results across variants and machines.
uint32_t check_bits_f32(float x);
uint64_t check_bits_f64(double x);
/// FNV-1a over 64-bit words.
uint64_t check_hash(uint64_t hash, uint64_t word);

void check_gemm(void);
void check_vector_math(void);
void check_reductions(void);
void check_elementwise(void);

#endif
