#ifndef EMBER_GEMM_H
#define EMBER_GEMM_H

#include "ember_types.h"

#endif
