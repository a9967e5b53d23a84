// Run-time instruction-set detection. Kernels are compiled once per instruction set with
// `#pragma clang attribute` (no compiler flags, so the package needs no unsafeFlags) and
// the public entry points pick a variant from this level.
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
#endif
    return 0;
}

int ember_cpu_level(void) {
    if (forced_level >= 0) return forced_level;
    if (detected_level < 0) detected_level = detect();
    return detected_level;
}

void ember_set_cpu_level(int level) {
    int best = detect();
    forced_level = (level < 0 || level > best) ? -1 : level;
}
