#ifndef CEMBER_KERNELS_H
#define CEMBER_KERNELS_H

// Umbrella header: the C layer of Ember. Each header holds one family of kernels.
#include "ember_types.h"
#include "ember_elementwise.h"
#include "ember_reduce.h"
#include "ember_gemm.h"
#include "ember_conv.h"
#include "ember_compress.h"
#include "ember_recurrent.h"
#include "ember_atomic.h"
#include "ember_norm.h"

#endif
