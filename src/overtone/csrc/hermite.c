/*
 * Hermite basis activation, float32 CPU kernels (overtone/activations/hermite_native.py).
 *
 *   f(x) = sum_{k=0..d} c_k He_k(x),   He_0 = 1, He_1 = x, He_{k+1} = x He_k - k He_{k-1}
 *
 * with c_k = a_k / sqrt(k!) (a_k: the module's coefficients on the orthonormal basis).
 *
 * Forward: Clenshaw's recurrence, two multiply-adds per degree and no basis kept:
 *
 *   b_{d+1} = b_{d+2} = 0,   b_k = c_k + x b_{k+1} - (k+1) b_{k+2},   f(x) = b_0.
 *
 * Backward: the three-term recurrence upwards; per element and degree it adds g He_k(x) into
 * the coefficient sums and s_k He_k(x) into the slope f'(x) = sum_k s_k He_k(x),
 * s_k = (k+1) c_{k+1} (He_k' = k He_{k-1}); dx = g f'(x). Four multiply-adds per degree.
 *
 * Elements go LANES at a time with the degree loop innermost, so the recurrence, the slope
 * and the d + 1 sums stay in registers (basis.h: the drivers, layouts and float64 sums). The
 * table is (2, K, C): c_k, then s_k with s_d = 0 (K = d + 1); the backward's K sums are
 * sum g He_k, which the caller scales by 1/sqrt(k!).
 */
#include "basis.h"

static inline __attribute__((always_inline)) vf clenshaw(vf x, const float *c, int64_t stride,
                                                         int per_lane, const int64_t K) {
    vf b1 = splat(0.0f), b2 = splat(0.0f);
    for (int64_t k = K - 1; k >= 0; k--) {
        vf b0 = COEF(c, k) - (float)(k + 1) * b2 + x * b1;
        b2 = b1;
        b1 = b0;
    }
    return b1;
}

/* Adds g He_k(x) to sums[k]; returns g f'(x). */
static inline __attribute__((always_inline)) vf hermite_backward(vf x, vf g, const float *table,
                                                                 int64_t stride, int per_lane,
                                                                 const int64_t K, vf *sums) {
    const float *s = table + K * stride;
    vf slope = COEF(s, 0);
    sums[0] += g;
    if (K > 1) {
        vf prev = splat(1.0f), cur = x;
        sums[1] += g * cur;
        for (int64_t k = 1; k + 1 < K; k++) {
            slope += COEF(s, k) * cur;
            vf next = x * cur - (float)k * prev;
            sums[k + 1] += g * next;
            prev = cur;
            cur = next;
        }
        slope += COEF(s, K - 1) * cur; /* s_d = 0: kept for one code path */
    }
    return g * slope;
}

void hermite_forward_runs(const float *x, float *y, int64_t start, int64_t end, int64_t C,
                          int64_t inner, int64_t K, const float *coef) {
#define CALL(n) forward_runs(clenshaw, x, y, start, end, C, inner, coef, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void hermite_backward_runs(const float *g, const float *x, float *dx, int64_t start, int64_t end,
                           int64_t C, int64_t inner, int64_t K, const float *coef, double *acc) {
#define CALL(n) backward_runs(hermite_backward, n, g, x, dx, start, end, C, inner, coef, acc, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void hermite_forward_rows(const float *x, float *y, int64_t row0, int64_t row1, int64_t C,
                          int64_t K, const float *coef) {
#define CALL(n) forward_rows(clenshaw, x, y, row0, row1, C, coef, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void hermite_backward_rows(const float *g, const float *x, float *dx, int64_t row0, int64_t row1,
                           int64_t C, int64_t K, const float *coef, double *acc) {
#define CALL(n) backward_rows(hermite_backward, n, g, x, dx, row0, row1, C, coef, acc, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}
