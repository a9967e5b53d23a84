#ifndef EMBER_NORM_H
#define EMBER_NORM_H

#include "ember_types.h"

// Layer normalisation of `rows` contiguous rows of `n` elements:
// y = (x - mean) / sqrt(var + eps) * weight + bias, with the population variance of each row
// computed from the centred values (two passes over a row, which stays in L1), and weight
// and bias of n elements each, or NULL. x and y may be the same buffer.
void ember_layer_norm_f32(const float *x, float *y, int64_t rows, int64_t n,
                          const float *weight, const float *bias, double eps);
void ember_layer_norm_f64(const double *x, double *y, int64_t rows, int64_t n,
                          const double *weight, const double *bias, double eps);

#endif
