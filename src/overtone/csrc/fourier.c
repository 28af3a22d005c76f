/*
 * Fourier basis activation, float32 CPU kernels (overtone/activations/fourier_native.py).
 *
 *   f(x) = a_0 + sum_k A_k cos(theta_k),   theta_k = omega_k x - phi_k,   A_k = a_k / k!
 *
 * Half-angle form: with the phase in turns, t_k = x w_k - p_k (w = omega / 2 pi,
 * p = phi / 2 pi), f = t - rint(t) in [-1/2, 1/2] and h = pi f (theta = 2h mod 2 pi):
 *
 *   cos(theta) = 2 cos^2(h) - 1,   sin(theta) = 2 sin(h) cos(h)
 *
 * so no sign or quadrant logic is needed, and the forward needs cos(h) only. sin(pi f) and
 * cos(pi f) are near-minimax polynomials in z = f^2 on [0, 1/4] (degree 9 and 8, absolute
 * error 3.3e-9 and 5.3e-8 in exact arithmetic, 1.7e-7 for cos evaluated in float32, the size
 * of the float32 rounding of the phase itself; cos(0) = 1 exactly), fitted once in float64 by
 * iteratively reweighted least squares (Lawson). The forward accumulates
 * sum_k amp_k cos^2(h_k) with amp_k = 2 A_k (the caller folds the -A_k into the bias); in the
 * "runs" kernel as u_k^2 with u_k = sqrt|amp_k| cos(h_k), the polynomial's coefficients scaled
 * by sqrt|amp_k|, into one of two accumulators by the sign of amp_k (one multiply-add fewer
 * per frequency). Loops are written for the compiler to vectorize (-O3 -fopenmp-simd); per
 * frequency and vector the forward is 7 multiply-adds and the backward 16, the machine's
 * limit here (AVX-512 on Zen 4 issues one 512-bit multiply-add per cycle).
 *
 * The input is viewed as (outer, C, inner), parameters as (K, C) row-major, bias as (C,).
 * "runs" kernels cover flat elements [start, end) (any inner; shared coefficients are
 * outer = C = 1); "rows" kernels cover rows [row0, row1) of a channels-last input
 * (inner = 1), vectorized across channels. Backward kernels add, into acc (3K + 1, C) in
 * float64: sum g, sum g cos^2(h_k), sum g sin(h_k) cos(h_k), sum g x sin(h_k) cos(h_k); the
 * caller turns these into the gradients. dx = g sum_k M_k sin(theta_k) is accumulated as
 * sum_k M_k (g sin(h_k) cos(h_k)) with M_k = -2 A_k omega_k (the factor 2 of the double angle
 * included), reusing the product the coefficient sums need. "runs" kernels build each block's
 * output in L1 and stream it to memory past the cache (vector.h).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "vector.h"

#define BLOCK 1024
#define ROWS_PER_FLUSH 32
/* elements per float32 partial sum of the "runs" backward before it is added in float64: 16
 * per lane on 8-lane AVX2, where a 1024-element float32 sum was 17x less accurate than torch's
 * cascade sum (the accuracy test failed). The extra horizontal sums cost 20-30% of the Fourier
 * forward + backward there (docs/benchmarks.md) */
#define CHUNK 128

static const float S0 = 3.141592580045601f, S1 = -5.167706878978462f,
                   S2 = 2.550031378100237f, S3 = -0.5980451788359816f,
                   S4 = 0.0772201378936366f;
static const float C1 = -4.934795518047307f, C2 = 4.058451339034593f,
                   C3 = -1.3320938451725644f, C4 = 0.22008060551842268f;

static inline float cos_reduced(float z) {
    return 1.0f + z * (C1 + z * (C2 + z * (C3 + z * C4)));
}

static inline float sin_reduced(float f, float z) {
    return f * (S0 + z * (S1 + z * (S2 + z * (S3 + z * S4))));
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void fourier_forward_runs(const float *x, float *y, int64_t start, int64_t end, int64_t C,
                          int64_t inner, int64_t K, const float *bias, const float *amp,
                          const float *w, const float *p) {
    /* a0 + sum over amp_k > 0 of amp_k cos^2(h_k), and the same over amp_k < 0 of |amp_k| */
    float positive[BLOCK], negative[BLOCK];
    int64_t pos = start;
    while (pos < end) {
        int64_t run = pos / inner, c = run % C, stop = min64((run + 1) * inner, end);
        for (int64_t b = pos; b < stop; b += BLOCK) {
            int64_t m = min64(stop - b, BLOCK);
            const float *xb = x + b;
            float *yb = y + b;
            const float a0 = bias[c];
            for (int64_t i = 0; i < m; i++) {
                positive[i] = a0;
                negative[i] = 0.0f;
            }
            for (int64_t k = 0; k < K; k++) {
                const float A = amp[k * C + c], W = w[k * C + c], P = p[k * C + c];
                /* u = sqrt|A| cos(h): the polynomial scaled by sqrt|A|, then acc += u^2 */
                const float r = sqrtf(fabsf(A)), r1 = r * C1, r2 = r * C2, r3 = r * C3,
                            r4 = r * C4;
                float *acc = A < 0.0f ? negative : positive;
#pragma omp simd
                for (int64_t i = 0; i < m; i++) {
                    float t = xb[i] * W - P, f = t - rintf(t), z = f * f;
                    float u = r + z * (r1 + z * (r2 + z * (r3 + z * r4)));
                    acc[i] += u * u;
                }
            }
#pragma omp simd
            for (int64_t i = 0; i < m; i++) positive[i] -= negative[i];
            stream_copy(yb, positive, m);
        }
        pos = stop;
    }
    stream_fence();
}

void fourier_backward_runs(const float *g, const float *x, float *dx, int64_t start,
                           int64_t end, int64_t C, int64_t inner, int64_t K,
                           const float *slope_coef, const float *w, const float *p,
                           double *acc) {
    float grad_x[BLOCK];
    int64_t pos = start;
    while (pos < end) {
        int64_t run = pos / inner, c = run % C, stop = min64((run + 1) * inner, end);
        for (int64_t b = pos; b < stop; b += BLOCK) {
            int64_t m = min64(stop - b, BLOCK);
            const float *xb = x + b, *gb = g + b;
            double sum_g = 0.0;
            for (int64_t s = 0; s < m; s += CHUNK) {
                const int64_t e = min64(m, s + CHUNK);
                float part_g = 0.0f;
#pragma omp simd reduction(+ : part_g)
                for (int64_t i = s; i < e; i++) {
                    grad_x[i] = 0.0f;
                    part_g += gb[i];
                }
                sum_g += part_g;
            }
            acc[c] += sum_g;
            for (int64_t k = 0; k < K; k++) {
                const float M = slope_coef[k * C + c], W = w[k * C + c], P = p[k * C + c];
                double sum_cos = 0.0, sum_sin = 0.0, sum_xsin = 0.0;
                for (int64_t s = 0; s < m; s += CHUNK) {
                    const int64_t e = min64(m, s + CHUNK);
                    float part_cos = 0.0f, part_sin = 0.0f, part_xsin = 0.0f;
#pragma omp simd reduction(+ : part_cos, part_sin, part_xsin)
                    for (int64_t i = s; i < e; i++) {
                        float t = xb[i] * W - P, f = t - rintf(t), z = f * f;
                        float co = cos_reduced(z), gc = gb[i] * co;
                        float gs = gc * sin_reduced(f, z); /* g sin(h) cos(h) */
                        grad_x[i] += M * gs;
                        part_cos += gc * co;
                        part_sin += gs;
                        part_xsin += gs * xb[i];
                    }
                    sum_cos += part_cos;
                    sum_sin += part_sin;
                    sum_xsin += part_xsin;
                }
                acc[(1 + k) * C + c] += sum_cos;
                acc[(1 + K + k) * C + c] += sum_sin;
                acc[(1 + 2 * K + k) * C + c] += sum_xsin;
            }
            float *db = dx + b;
            stream_copy(db, grad_x, m);
        }
        pos = stop;
    }
    stream_fence();
}

void fourier_forward_rows(const float *x, float *y, int64_t row0, int64_t row1, int64_t C,
                          int64_t K, const float *bias, const float *amp, const float *w,
                          const float *p) {
    for (int64_t r = row0; r < row1; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        for (int64_t c = 0; c < C; c++) yr[c] = bias[c];
        for (int64_t k = 0; k < K; k++) {
            const float *A = amp + k * C, *W = w + k * C, *P = p + k * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                float t = xr[c] * W[c] - P[c], f = t - rintf(t), co = cos_reduced(f * f);
                yr[c] += A[c] * (co * co);
            }
        }
    }
}

/* Returns 0, or -1 when the float32 scratch accumulators cannot be allocated. */
int fourier_backward_rows(const float *g, const float *x, float *dx, int64_t row0,
                          int64_t row1, int64_t C, int64_t K, const float *slope_coef,
                          const float *w, const float *p, double *acc) {
    const int64_t J = 1 + 3 * K;
    float *part = calloc((size_t)(J * C), sizeof(float));
    if (part == NULL) return -1;
    for (int64_t r = row0; r < row1; r++) {
        const float *xr = x + r * C, *gr = g + r * C;
        float *dr = dx + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
            part[c] += gr[c];
            dr[c] = 0.0f;
        }
        for (int64_t k = 0; k < K; k++) {
            const float *M = slope_coef + k * C, *W = w + k * C, *P = p + k * C;
            float *pc = part + (1 + k) * C, *ps = part + (1 + K + k) * C,
                  *pxs = part + (1 + 2 * K + k) * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                float t = xr[c] * W[c] - P[c], f = t - rintf(t), z = f * f;
                float co = cos_reduced(z), gc = gr[c] * co, gs = gc * sin_reduced(f, z);
                dr[c] += M[c] * gs;
                pc[c] += gc * co;
                ps[c] += gs;
                pxs[c] += gs * xr[c];
            }
        }
        if ((r - row0) % ROWS_PER_FLUSH == ROWS_PER_FLUSH - 1 || r == row1 - 1) {
            for (int64_t j = 0; j < J * C; j++) {
                acc[j] += part[j];
                part[j] = 0.0f;
            }
        }
    }
    free(part);
    return 0;
}
