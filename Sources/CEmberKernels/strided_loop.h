// An N-dimensional loop over up to three strided operands, shared by the elementwise kernels.
// The last dimension is the inner loop, handed to INNER(n, out, os, a, as, b, bs) with
// element pointers; the outer dimensions advance an index counter like an odometer.
// Callers coalesce dimensions first, so most calls arrive as a single contiguous run.
#ifndef EMBER_STRIDED_LOOP_H
#define EMBER_STRIDED_LOOP_H

#include "ember_types.h"

#define EMBER_STRIDED_LOOP3(ndim, shape, TO, out, ostr, TA, a, astr, TB, b, bstr, INNER)          \
    do {                                                                                          \
        if ((ndim) == 0) {                                                                        \
            INNER(1, (out), 0, (a), 0, (b), 0);                                                   \
            break;                                                                                \
        }                                                                                         \
        int64_t index_[EMBER_MAX_DIMS] = {0};                                                     \
        const int last_ = (ndim) - 1;                                                             \
        int64_t rows_ = 1;                                                                        \
        for (int d_ = 0; d_ < last_; d_++) rows_ *= (shape)[d_];                                  \
        if ((shape)[last_] == 0) rows_ = 0;                                                       \
        TO *po_ = (out);                                                                          \
        TA *pa_ = (a);                                                                            \
        TB *pb_ = (b);                                                                            \
        for (int64_t row_ = 0; row_ < rows_; row_++) {                                            \
            INNER((shape)[last_], po_, (ostr)[last_], pa_, (astr)[last_], pb_, (bstr)[last_]);    \
            for (int d_ = last_ - 1; d_ >= 0; d_--) {                                             \
                index_[d_]++;                                                                     \
                po_ += (ostr)[d_];                                                                \
                pa_ += (astr)[d_];                                                                \
                pb_ += (bstr)[d_];                                                                \
                if (index_[d_] < (shape)[d_]) break;                                              \
                po_ -= (ostr)[d_] * (shape)[d_];                                                  \
                pa_ -= (astr)[d_] * (shape)[d_];                                                  \
                pb_ -= (bstr)[d_] * (shape)[d_];                                                  \
                index_[d_] = 0;                                                                   \
            }                                                                                     \
        }                                                                                         \
    } while (0)

#endif
