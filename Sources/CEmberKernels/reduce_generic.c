// Portable variant of the float reduction kernels (see reduce_impl.h); entry points in reduce.c.
#define EMBER_VARIANT generic
#include "reduce_impl.h"
