// Instantiates conv_impl.h (im2col, col2im, max and average pooling) for float and double.
// Instruction-set variants only for max pooling's inner loop (see max_row in conv_impl.h): the
// other loops are bound by memory, and the baseline build already vectorises the unit-stride
// copies; the arithmetic of convolution runs in GEMM.
#include <math.h>
#include <string.h>
#include "ember_conv.h"
#include "ember_types.h"

#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)

#define SCALAR float
#define SCALAR_BITS int32_t
#define SUFFIX f32
#include "conv_impl.h"
#undef SCALAR
#undef SCALAR_BITS
#undef SUFFIX

#define SCALAR double
#define SCALAR_BITS int64_t
#define SUFFIX f64
#include "conv_impl.h"
#undef SCALAR
#undef SCALAR_BITS
#undef SUFFIX
