#ifndef EMBER_RECURRENT_H
#define EMBER_RECURRENT_H

#include "ember_types.h"

// Fused LSTM cell pointwise kernels (PyTorch's gate order i, f, g, o), float32 and float64.
// All buffers are contiguous and rows-major; H = hidden.
//
// Forward: gates = input_gates + hidden_gates ([rows, 4H]; hidden_gates may be NULL),
//   i = sigmoid, f = sigmoid, g = tanh, o = sigmoid of the four blocks,
//   c = f * c_prev + i * g, h = o * tanh(c)   (c_prev, h, c: [rows, H]).
//   When `saved` is not NULL it receives [rows, 5H]: i, f, g, o, tanh(c) per row.
// Backward: from `saved`, c_prev and the gradients of h and c ([rows, H]), writes
//   grad_gates ([rows, 4H]) and grad_c_prev ([rows, H]).
void ember_lstm_cell_forward(ember_dtype dtype, const void *input_gates, const void *hidden_gates,
                             const void *c_prev, void *h, void *c, void *saved, int64_t rows, int64_t hidden);
void ember_lstm_cell_backward(ember_dtype dtype, const void *saved, const void *c_prev, const void *grad_h,
                              const void *grad_c, void *grad_gates, void *grad_c_prev, int64_t rows, int64_t hidden);

#endif
