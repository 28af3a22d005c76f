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
 * Elements go LANES at a time in GCC / Clang vector types with the degree loop innermost, so
 * the recurrence, the slope and the d + 1 sums stay in registers (the degree is a compile-time
 * constant up to MAX_UNROLLED, a run-time loop above). The input is viewed as (outer, C, inner),
 * coefficients as (2, K, C) row-major (c_k, then s_k with s_d = 0; K = d + 1). "runs" kernels
 * cover flat elements [start, end) (any inner; shared coefficients are outer = C = 1); "rows"
 * kernels cover rows [row0, row1) of a channels-last input (inner = 1), vectorized across
 * channels. Backward kernels add sum g He_k into acc (K, C) in float64: float32 partial sums
 * of FLUSH vectors per lane go into per-lane float64 ones, reduced across lanes at the end of
 * a run or channel block; the caller scales them by 1/sqrt(k!).
 */
#include "vector.h"

#define FLUSH 16 /* vectors per float32 partial sum */
#define MAX_UNROLLED 16

/* Coefficient k for this vector: one value for every lane (runs) or one per lane (rows). */
#define COEF(table, k) (per_lane ? load((table) + (k) * stride) : splat((table)[(k) * stride]))

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
static inline __attribute__((always_inline)) vf backward_vector(vf x, vf g, const float *s,
                                                                int64_t stride, int per_lane,
                                                                const int64_t K, vf *sums) {
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

/* Adds the float32 partial sums into per-lane float64 ones (vector conversions) and clears them. */
static inline void flush(vf *sums, int64_t K, double (*wide)[LANES]) {
    for (int64_t k = 0; k < K; k++) {
        for (int64_t l = 0; l < LANES; l++) wide[k][l] += sums[k][l];
        sums[k] = splat(0.0f);
    }
}

static inline void clear(vf *sums, double (*wide)[LANES], int64_t K) {
    for (int64_t k = 0; k < K; k++) {
        sums[k] = splat(0.0f);
        for (int64_t l = 0; l < LANES; l++) wide[k][l] = 0.0;
    }
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---------------------------------------------------------------- runs (one channel per run) */

static inline __attribute__((always_inline)) void forward_runs(
    const float *x, float *y, int64_t start, int64_t end, int64_t C, int64_t inner,
    const float *coef, const int64_t K) {
    int64_t pos = start;
    while (pos < end) {
        int64_t run = pos / inner, c = run % C, stop = min64((run + 1) * inner, end);
        const float *cc = coef + c;
        int64_t i = pos, head = until_aligned(y + pos, stop - pos);
        if (head) store_part(y + i, clenshaw(load_part(x + i, head), cc, C, 0, K), head);
        for (i += head; i + LANES <= stop; i += LANES)
            stream(y + i, clenshaw(load(x + i), cc, C, 0, K));
        if (i < stop) store_part(y + i, clenshaw(load_part(x + i, stop - i), cc, C, 0, K), stop - i);
        pos = stop;
    }
}

static inline __attribute__((always_inline)) void backward_runs(
    const float *g, const float *x, float *dx, int64_t start, int64_t end, int64_t C,
    int64_t inner, const float *coef, double *acc, const int64_t K) {
    vf sums[K];
    double wide[K][LANES];
    const float *s = coef + K * C;
    int64_t pos = start;
    while (pos < end) {
        int64_t run = pos / inner, c = run % C, stop = min64((run + 1) * inner, end);
        int64_t i = pos, count = 0, head = until_aligned(dx + pos, stop - pos);
        clear(sums, wide, K);
        if (head) {
            vf d = backward_vector(load_part(x + i, head), load_part(g + i, head), s + c, C, 0,
                                   K, sums);
            store_part(dx + i, d, head);
        }
        for (i += head; i + LANES <= stop; i += LANES) {
            stream(dx + i, backward_vector(load(x + i), load(g + i), s + c, C, 0, K, sums));
            if (++count == FLUSH) {
                flush(sums, K, wide);
                count = 0;
            }
        }
        if (i < stop) {
            int64_t n = stop - i;
            vf d = backward_vector(load_part(x + i, n), load_part(g + i, n), s + c, C, 0, K, sums);
            store_part(dx + i, d, n);
        }
        flush(sums, K, wide);
        for (int64_t k = 0; k < K; k++) {
            double total = 0.0;
            for (int64_t l = 0; l < LANES; l++) total += wide[k][l];
            acc[k * C + c] += total;
        }
        pos = stop;
    }
}

/* ---------------------------------------------------------------- rows (channels last) */

static inline __attribute__((always_inline)) void forward_rows(const float *x, float *y,
                                                               int64_t row0, int64_t row1,
                                                               int64_t C, const float *coef,
                                                               const int64_t K) {
    for (int64_t r = row0; r < row1; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        int64_t c = 0;
        for (; c + LANES <= C; c += LANES) put(yr + c, clenshaw(load(xr + c), coef + c, C, 1, K));
        if (c < C) { /* the channel tail: one lane per channel, coefficients broadcast */
            for (; c < C; c++) yr[c] = clenshaw(splat(xr[c]), coef + c, C, 0, K)[0];
        }
    }
}

static inline __attribute__((always_inline)) void backward_rows(
    const float *g, const float *x, float *dx, int64_t row0, int64_t row1, int64_t C,
    const float *coef, double *acc, const int64_t K) {
    vf sums[K];
    double wide[K][LANES];
    const float *s = coef + K * C;
    int64_t c = 0;
    for (; c + LANES <= C; c += LANES) { /* a block of channels down every row */
        clear(sums, wide, K);
        for (int64_t r = row0, count = 0; r < row1; r++) {
            const int64_t at = r * C + c;
            put(dx + at, backward_vector(load(x + at), load(g + at), s + c, C, 1, K, sums));
            if (++count == FLUSH) {
                flush(sums, K, wide);
                count = 0;
            }
        }
        flush(sums, K, wide);
        for (int64_t k = 0; k < K; k++)
            for (int64_t l = 0; l < LANES; l++) acc[k * C + c + l] += wide[k][l];
    }
    for (; c < C; c++) { /* the channel tail: LANES rows of one channel at a time */
        clear(sums, wide, K);
        for (int64_t r = row0, count = 0; r < row1; r += LANES) {
            float xs[LANES] = {0}, gs[LANES] = {0}, ds[LANES];
            const int64_t n = min64(LANES, row1 - r);
            for (int64_t l = 0; l < n; l++) {
                xs[l] = x[(r + l) * C + c];
                gs[l] = g[(r + l) * C + c];
            }
            store(ds, backward_vector(load(xs), load(gs), s + c, C, 0, K, sums));
            for (int64_t l = 0; l < n; l++) dx[(r + l) * C + c] = ds[l];
            if (++count == FLUSH) {
                flush(sums, K, wide);
                count = 0;
            }
        }
        flush(sums, K, wide);
        for (int64_t k = 0; k < K; k++) {
            double total = 0.0;
            for (int64_t l = 0; l < LANES; l++) total += wide[k][l];
            acc[k * C + c] += total;
        }
    }
}

/* ---------------------------------------------------------------- entry points */

/* K = d + 1 as a compile-time constant for d < MAX_UNROLLED (registers), else at run time. */
#define DISPATCH(CALL)                                                                       \
    switch (K) {                                                                             \
    case 1: CALL(1); break;                                                                  \
    case 2: CALL(2); break;                                                                  \
    case 3: CALL(3); break;                                                                  \
    case 4: CALL(4); break;                                                                  \
    case 5: CALL(5); break;                                                                  \
    case 6: CALL(6); break;                                                                  \
    case 7: CALL(7); break;                                                                  \
    case 8: CALL(8); break;                                                                  \
    case 9: CALL(9); break;                                                                  \
    case 10: CALL(10); break;                                                                \
    case 11: CALL(11); break;                                                                \
    case 12: CALL(12); break;                                                                \
    case 13: CALL(13); break;                                                                \
    case 14: CALL(14); break;                                                                \
    case 15: CALL(15); break;                                                                \
    case 16: CALL(16); break;                                                                \
    default: CALL(K); break;                                                                 \
    }

void hermite_forward_runs(const float *x, float *y, int64_t start, int64_t end, int64_t C,
                          int64_t inner, int64_t K, const float *coef) {
#define CALL(n) forward_runs(x, y, start, end, C, inner, coef, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void hermite_backward_runs(const float *g, const float *x, float *dx, int64_t start, int64_t end,
                           int64_t C, int64_t inner, int64_t K, const float *coef, double *acc) {
#define CALL(n) backward_runs(g, x, dx, start, end, C, inner, coef, acc, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void hermite_forward_rows(const float *x, float *y, int64_t row0, int64_t row1, int64_t C,
                          int64_t K, const float *coef) {
#define CALL(n) forward_rows(x, y, row0, row1, C, coef, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}

void hermite_backward_rows(const float *g, const float *x, float *dx, int64_t row0, int64_t row1,
                           int64_t C, int64_t K, const float *coef, double *acc) {
#define CALL(n) backward_rows(g, x, dx, row0, row1, C, coef, acc, n)
    DISPATCH(CALL)
#undef CALL
    stream_fence();
}
