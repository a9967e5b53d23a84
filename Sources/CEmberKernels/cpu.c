// Run-time instruction-set detection. Kernels are compiled once per instruction set with
// `#pragma clang attribute` (no compiler flags, so the package needs no unsafeFlags) and
// the public entry points pick a variant from this level.
//
// Levels name one instruction set each: 0 portable C, 1 AVX2+FMA and 2 AVX-512 on x86_64,
// 3 NEON on aarch64. NEON (Advanced SIMD) is part of the ARMv8-A base, so every aarch64 CPU has
// it and the NEON files need neither a check nor a target attribute. It gets its own number
// rather than reusing 1 so that a level (and `KernelInstructionSet` in Swift) never means two
// instruction sets; the cost is that x86_64 code tests `>= 1` and aarch64 code tests `== 3`.
#include "ember_types.h"

static int detected_level = -1;
static int forced_level = -1;

static int detect(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma")) {
        return 2;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        return 1;
    }
#elif defined(__aarch64__)
    return 3;
#endif
    return 0;
}

int ember_cpu_level(void) {
    if (forced_level >= 0) return forced_level;
    if (detected_level < 0) detected_level = detect();
    return detected_level;
}

void ember_set_cpu_level(int level) {
#if defined(__aarch64__)
    // Only 0 and NEON exist here; the x86 levels 1 and 2 mean "the best there is", as a level
    // above the machine's does on x86_64.
    forced_level = level == 0 ? 0 : -1;
#else
    int best = detect();
    forced_level = (level < 0 || level > best) ? -1 : level;
#endif
}
