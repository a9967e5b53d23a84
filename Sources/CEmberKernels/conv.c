// Instantiates conv_impl.h (im2col, col2im, max and average pooling) for float and double.
// No instruction-set variants: these loops are bound by memory, and the baseline build already
// vectorises the unit-stride copies; the arithmetic of convolution runs in GEMM.
#include <math.h>
#include "ember_conv.h"

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)

#define SCALAR float
#define SUFFIX f32
#include "conv_impl.h"
#undef SCALAR
#undef SUFFIX

#define SCALAR double
#define SUFFIX f64
#include "conv_impl.h"
#undef SCALAR
#undef SUFFIX
