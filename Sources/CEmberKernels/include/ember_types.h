#ifndef EMBER_TYPES_H
#define EMBER_TYPES_H

#include <stdint.h>
#include <stdbool.h>

/// Element types as the C kernels see them. The raw values match Swift's `DType`.
typedef enum {
    EMBER_FLOAT32 = 0,
    EMBER_FLOAT64 = 1,
    EMBER_FLOAT16 = 2,
    EMBER_BFLOAT16 = 3,
    EMBER_INT32 = 4,
    EMBER_INT64 = 5,
    EMBER_UINT8 = 6,
    EMBER_BOOL = 7,
} ember_dtype;

/// The most dimensions a strided kernel accepts (PyTorch allows 64; 25 is plenty here).
#define EMBER_MAX_DIMS 25

/// Instruction-set level picked once at run time: 0 generic C, 1 AVX2+FMA, 2 AVX-512 (x86_64),
/// 3 NEON (aarch64, where it is always there).
int ember_cpu_level(void);

/// Overrides the detected level (for tests that compare variants); -1 restores detection, and so
/// does a level this machine does not have (0 always exists).
void ember_set_cpu_level(int level);

/// Conversions between float and the 16-bit storage types (round to nearest even).
uint16_t ember_float_to_half(float value);
float ember_half_to_float(uint16_t bits);
uint16_t ember_float_to_bfloat16(float value);
float ember_bfloat16_to_float(uint16_t bits);

#endif
