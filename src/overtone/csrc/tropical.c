/*
 * Tropical (max-plus) activations, float32 CPU kernels (overtone/activations/tropical_native.py).
 *
 *   polynomial   f(x) = s max_k (c_k + k x),                            k = 0..d
 *   rational     f(x) = s (max_k (c_k + k x) - max_k (e_k + k x))
 *
 * Forward: one multiply-add and one max per degree and polynomial.
 * Backward (as the torch kernels, tropical.py): with the switch points t_k of each polynomial
 * (k* >= k  <=>  x > t_k, k = 1..d, computed by the caller from the coefficients), the argmax
 * is k* = #{k : x > t_k}, so per degree one comparison and one masked add of g give
 * A_k = sum g [x > t_k]; dx = g s (k*_c - k*_e). Sums, per channel: sum g, then A_1..A_d of
 * the numerator (and of the denominator), then sum g k* x (k* the difference for the
 * rational); the caller turns them into the gradients of c, e and s.
 *
 * Table (rows of C floats, basis.h): c_0..c_d, [e_0..e_d], s, then for the backward
 * t_1..t_d of c [and of e].
 */
#include "basis.h"

static inline __attribute__((always_inline)) vf max_plus(vf x, const float *c, int64_t stride,
                                                         int per_lane, const int64_t K) {
    vf best = COEF(c, 0);
    for (int64_t k = 1; k < K; k++) {
        vf term = COEF(c, k) + (float)k * x;
        best = vmax(best, term); /* a NaN term (NaN x) wins */
    }
    return best;
}

/* k* = #{k : x > t_k}; adds g [x > t_k] to sums[k - 1]. */
static inline __attribute__((always_inline)) vf argmax(vf x, vf g, const float *t, int64_t stride,
                                                       int per_lane, const int64_t K, vf *sums) {
    vf arg = splat(0.0f), one = splat(1.0f);
    for (int64_t k = 1; k < K; k++) {
        vf point = COEF(t, k - 1);
        arg = add_where_greater(arg, x, point, one);
        sums[k - 1] = add_where_greater(sums[k - 1], x, point, g);
    }
    return arg;
}

static inline __attribute__((always_inline)) vf polynomial_forward(vf x, const float *table,
                                                                   int64_t stride, int per_lane,
                                                                   const int64_t K) {
    return COEF(table, K) * max_plus(x, table, stride, per_lane, K);
}

static inline __attribute__((always_inline)) vf polynomial_backward(vf x, vf g,
                                                                    const float *table,
                                                                    int64_t stride, int per_lane,
                                                                    const int64_t K, vf *sums) {
    sums[0] += g;
    vf arg = argmax(x, g, table + (K + 1) * stride, stride, per_lane, K, sums + 1);
    sums[K] += g * arg * x;
    return g * COEF(table, K) * arg;
}

static inline __attribute__((always_inline)) vf rational_forward(vf x, const float *table,
                                                                 int64_t stride, int per_lane,
                                                                 const int64_t K) {
    vf numerator = max_plus(x, table, stride, per_lane, K);
    vf denominator = max_plus(x, table + K * stride, stride, per_lane, K);
    return COEF(table, 2 * K) * (numerator - denominator);
}

static inline __attribute__((always_inline)) vf rational_backward(vf x, vf g, const float *table,
                                                                  int64_t stride, int per_lane,
                                                                  const int64_t K, vf *sums) {
    const float *t = table + (2 * K + 1) * stride;
    sums[0] += g;
    vf arg = argmax(x, g, t, stride, per_lane, K, sums + 1);
    arg -= argmax(x, g, t + (K - 1) * stride, stride, per_lane, K, sums + K);
    sums[2 * K - 1] += g * arg * x;
    return g * COEF(table, 2 * K) * arg;
}

/* Sums per channel: 1 + d (+ d) + 1. */
#define POLYNOMIAL_SUMS(n) ((n) + 1)
#define RATIONAL_SUMS(n) (2 * (n))

void tropical_forward_runs(const float *x, float *y, int64_t start, int64_t end, int64_t C,
                           int64_t inner, int64_t K, int rational, const float *table) {
#define CALL(n)                                                                                \
    if (rational)                                                                              \
        forward_runs(rational_forward, x, y, start, end, C, inner, table, n);                  \
    else                                                                                       \
        forward_runs(polynomial_forward, x, y, start, end, C, inner, table, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void tropical_backward_runs(const float *g, const float *x, float *dx, int64_t start,
                            int64_t end, int64_t C, int64_t inner, int64_t K, int rational,
                            const float *table, double *acc) {
#define CALL(n)                                                                                \
    if (rational)                                                                              \
        backward_runs(rational_backward, RATIONAL_SUMS(n), g, x, dx, start, end, C, inner,     \
                      table, acc, n);                                                          \
    else                                                                                       \
        backward_runs(polynomial_backward, POLYNOMIAL_SUMS(n), g, x, dx, start, end, C, inner, \
                      table, acc, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void tropical_forward_rows(const float *x, float *y, int64_t row0, int64_t row1, int64_t C,
                           int64_t K, int rational, const float *table) {
#define CALL(n)                                                                                \
    if (rational)                                                                              \
        forward_rows(rational_forward, x, y, row0, row1, C, table, n);                         \
    else                                                                                       \
        forward_rows(polynomial_forward, x, y, row0, row1, C, table, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void tropical_backward_rows(const float *g, const float *x, float *dx, int64_t row0,
                            int64_t row1, int64_t C, int64_t K, int rational,
                            const float *table, double *acc) {
#define CALL(n)                                                                                \
    if (rational)                                                                              \
        backward_rows(rational_backward, RATIONAL_SUMS(n), g, x, dx, row0, row1, C, table,     \
                      acc, n);                                                                 \
    else                                                                                       \
        backward_rows(polynomial_backward, POLYNOMIAL_SUMS(n), g, x, dx, row0, row1, C,        \
                      table, acc, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}
