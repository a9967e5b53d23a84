// AVX2+FMA variant of the float reduction kernels (x86_64 only), chosen at run time.
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define EMBER_VARIANT avx2
#include "reduce_impl.h"
#pragma clang attribute pop
#endif
