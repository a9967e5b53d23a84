// float16 and bfloat16 are storage types: values are converted to float for arithmetic.
#include <string.h>
#include "ember_types.h"

static inline uint32_t float_bits(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static inline float bits_float(uint32_t bits) {
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

uint16_t ember_float_to_bfloat16(float value) {
    uint32_t bits = float_bits(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40u); // quiet NaN
    uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);                                // to nearest even
    return (uint16_t)((bits + rounding) >> 16);
}

float ember_bfloat16_to_float(uint16_t bits) { return bits_float((uint32_t)bits << 16); }

uint16_t ember_float_to_half(float value) {
    uint32_t bits = float_bits(value);
    uint32_t sign = (bits >> 16) & 0x8000u;
    uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);      // NaN
    if (magnitude >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);     // overflow to inf
    if (magnitude < 0x38800000u) {                                       // subnormal or zero
        // Scale into the subnormal range and let float addition round to nearest even.
        float scaled = bits_float(magnitude) + 0.5f;
        return (uint16_t)(sign | (float_bits(scaled) - 0x3f000000u));
    }
    uint32_t rounding = 0xfffu + ((magnitude >> 13) & 1u);
    return (uint16_t)(sign | ((magnitude - 0x38000000u + rounding) >> 13));
}

float ember_half_to_float(uint16_t bits) {
    uint32_t sign = (uint32_t)(bits & 0x8000u) << 16;
    uint32_t exponent = (bits >> 10) & 0x1fu;
    uint32_t mantissa = bits & 0x3ffu;
    if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) {
        float value = (float)mantissa * (1.0f / 16777216.0f); // mantissa * 2^-24
        return sign ? -value : value;
    }
    return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}
