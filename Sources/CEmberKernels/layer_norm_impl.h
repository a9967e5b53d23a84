// Layer normalisation, written once and compiled per instruction set (layer_norm.c).
// EMBER_VARIANT names the variant; the 32 fixed accumulator lanes let clang vectorise the
// sums without -ffast-math (four independent 8-float accumulators, so the adds' latency is
// hidden), and fix the order of the additions for every variant. `restrict` tells it the
// output does not alias the inputs, so the last loop vectorises without run-time checks.
#define EMBER_CONCAT2(a, b) a##_##b
#define EMBER_CONCAT(a, b) EMBER_CONCAT2(a, b)
#define EMBER_NAME(name) EMBER_CONCAT(name, EMBER_VARIANT)

#define EMBER_LAYER_NORM(T, SUFFIX)                                                             \
void EMBER_NAME(ember_layer_norm_##SUFFIX)(const T *restrict x, T *restrict y, int64_t rows, int64_t n, \
                                           const T *restrict weight, const T *restrict bias, double eps) { \
    for (int64_t row = 0; row < rows; row++) {                                                   \
        const T *restrict in = x + row * n;                                                      \
        T *restrict out = y + row * n;                                                           \
        T lanes[32];                                                                             \
        for (int l = 0; l < 32; l++) lanes[l] = 0;                                               \
        int64_t i = 0;                                                                           \
        for (; i + 32 <= n; i += 32)                                                             \
            for (int l = 0; l < 32; l++) lanes[l] += in[i + l];                                  \
        T sum = 0;                                                                               \
        for (; i < n; i++) sum += in[i];                                                         \
        for (int l = 0; l < 32; l++) sum += lanes[l];                                            \
        const T mean = sum / (T)n;                                                               \
        for (int l = 0; l < 32; l++) lanes[l] = 0;                                               \
        i = 0;                                                                                   \
        for (; i + 32 <= n; i += 32)                                                             \
            for (int l = 0; l < 32; l++) { T c = in[i + l] - mean; lanes[l] += c * c; }         \
        T squares = 0;                                                                           \
        for (; i < n; i++) { T c = in[i] - mean; squares += c * c; }                            \
        for (int l = 0; l < 32; l++) squares += lanes[l];                                        \
        const T scale = (T)1 / (T)sqrt((double)(squares / (T)n) + eps);                         \
        if (weight && bias) {                                                                    \
            for (i = 0; i < n; i++) out[i] = (in[i] - mean) * scale * weight[i] + bias[i];       \
        } else if (weight) {                                                                     \
            for (i = 0; i < n; i++) out[i] = (in[i] - mean) * scale * weight[i];                 \
        } else if (bias) {                                                                       \
            for (i = 0; i < n; i++) out[i] = (in[i] - mean) * scale + bias[i];                   \
        } else {                                                                                 \
            for (i = 0; i < n; i++) out[i] = (in[i] - mean) * scale;                             \
        }                                                                                        \
    }                                                                                            \
}

EMBER_LAYER_NORM(float, f32)
EMBER_LAYER_NORM(double, f64)

#undef EMBER_LAYER_NORM
#undef EMBER_NAME
#undef EMBER_CONCAT
#undef EMBER_CONCAT2
