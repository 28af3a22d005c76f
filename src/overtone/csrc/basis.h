/*
 * The drivers shared by the basis activations' native kernels (hermite.c, tropical.c).
 *
 * A family supplies two per-vector functions: forward(x, table, stride, per_lane, K) -> f(x),
 * and backward(x, g, table, stride, per_lane, K, sums) -> dL/dx, adding its S per-element
 * terms into the float32 vector sums. "table" points at channel c of the family's parameter
 * table (rows of C floats, row k at k * stride); COEF reads row k for every lane (per_lane 0:
 * one channel per vector) or one channel per lane (per_lane 1). The drivers are always
 * inlined with constant functions and a constant K (DISPATCH), so the degree loops unroll
 * and the sums stay in registers.
 *
 * The input is viewed as (outer, C, inner). "runs" drivers cover flat elements [start, end)
 * (any inner; shared coefficients are outer = C = 1), their outputs streamed past the cache
 * from the first 64-byte boundary; "rows" drivers cover rows [row0, row1) of a channels-last
 * input (inner = 1), vectorized across channels. Backward drivers add the S sums into acc
 * (S, C) in float64: float32 partial sums of FLUSH vectors per lane go into per-lane float64
 * ones, reduced across lanes at the end of a run or channel block.
 */
#ifndef OVERTONE_BASIS_H
#define OVERTONE_BASIS_H

#include "vector.h"

#define FLUSH 16 /* vectors per float32 partial sum */

/* Row k of the parameter table for this vector. */
#define COEF(table, k) (per_lane ? load((table) + (k) * stride) : splat((table)[(k) * stride]))

typedef vf (*forward_fn)(vf x, const float *table, int64_t stride, int per_lane, int64_t K);
typedef vf (*backward_fn)(vf x, vf g, const float *table, int64_t stride, int per_lane,
                          int64_t K, vf *sums);

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

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


/* ---------------------------------------------------------------- runs (one channel per run) */

static inline __attribute__((always_inline)) void forward_runs(
    forward_fn forward, const float *x, float *y, int64_t start, int64_t end, int64_t C, int64_t inner,
    const float *coef, const int64_t K) {
    int64_t pos = start;
    while (pos < end) {
        int64_t run = pos / inner, c = run % C, stop = min64((run + 1) * inner, end);
        const float *cc = coef + c;
        int64_t i = pos, head = until_aligned(y + pos, stop - pos);
        if (head) store_part(y + i, forward(load_part(x + i, head), cc, C, 0, K), head);
        for (i += head; i + LANES <= stop; i += LANES)
            stream(y + i, forward(load(x + i), cc, C, 0, K));
        if (i < stop) store_part(y + i, forward(load_part(x + i, stop - i), cc, C, 0, K), stop - i);
        pos = stop;
    }
}

static inline __attribute__((always_inline)) void backward_runs(
    backward_fn backward, const int64_t S, const float *g, const float *x, float *dx, int64_t start, int64_t end, int64_t C,
    int64_t inner, const float *coef, double *acc, const int64_t K) {
    vf sums[S];
    double wide[S][LANES];
    int64_t pos = start;
    while (pos < end) {
        int64_t run = pos / inner, c = run % C, stop = min64((run + 1) * inner, end);
        int64_t i = pos, count = 0, head = until_aligned(dx + pos, stop - pos);
        clear(sums, wide, S);
        if (head) {
            vf d = backward(load_part(x + i, head), load_part(g + i, head), coef + c, C, 0,
                                   K, sums);
            store_part(dx + i, d, head);
        }
        for (i += head; i + LANES <= stop; i += LANES) {
            stream(dx + i, backward(load(x + i), load(g + i), coef + c, C, 0, K, sums));
            if (++count == FLUSH) {
                flush(sums, S, wide);
                count = 0;
            }
        }
        if (i < stop) {
            int64_t n = stop - i;
            vf d = backward(load_part(x + i, n), load_part(g + i, n), coef + c, C, 0, K, sums);
            store_part(dx + i, d, n);
        }
        flush(sums, S, wide);
        for (int64_t k = 0; k < S; k++) {
            double total = 0.0;
            for (int64_t l = 0; l < LANES; l++) total += wide[k][l];
            acc[k * C + c] += total;
        }
        pos = stop;
    }
}

/* ---------------------------------------------------------------- rows (channels last) */

static inline __attribute__((always_inline)) void forward_rows(forward_fn forward,
                                                               const float *x, float *y,
                                                               int64_t row0, int64_t row1,
                                                               int64_t C, const float *coef,
                                                               const int64_t K) {
    for (int64_t r = row0; r < row1; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        int64_t c = 0;
        for (; c + LANES <= C; c += LANES) put(yr + c, forward(load(xr + c), coef + c, C, 1, K));
        if (c < C) { /* the channel tail: one lane per channel, coefficients broadcast */
            for (; c < C; c++) yr[c] = forward(splat(xr[c]), coef + c, C, 0, K)[0];
        }
    }
}

static inline __attribute__((always_inline)) void backward_rows(
    backward_fn backward, const int64_t S, const float *g, const float *x, float *dx, int64_t row0, int64_t row1, int64_t C,
    const float *coef, double *acc, const int64_t K) {
    vf sums[S];
    double wide[S][LANES];
    int64_t c = 0;
    for (; c + LANES <= C; c += LANES) { /* a block of channels down every row */
        clear(sums, wide, S);
        for (int64_t r = row0, count = 0; r < row1; r++) {
            const int64_t at = r * C + c;
            put(dx + at, backward(load(x + at), load(g + at), coef + c, C, 1, K, sums));
            if (++count == FLUSH) {
                flush(sums, S, wide);
                count = 0;
            }
        }
        flush(sums, S, wide);
        for (int64_t k = 0; k < S; k++)
            for (int64_t l = 0; l < LANES; l++) acc[k * C + c + l] += wide[k][l];
    }
    for (; c < C; c++) { /* the channel tail: LANES rows of one channel at a time */
        clear(sums, wide, S);
        for (int64_t r = row0, count = 0; r < row1; r += LANES) {
            float xs[LANES] = {0}, gs[LANES] = {0}, ds[LANES];
            const int64_t n = min64(LANES, row1 - r);
            for (int64_t l = 0; l < n; l++) {
                xs[l] = x[(r + l) * C + c];
                gs[l] = g[(r + l) * C + c];
            }
            store(ds, backward(load(xs), load(gs), coef + c, C, 0, K, sums));
            for (int64_t l = 0; l < n; l++) dx[(r + l) * C + c] = ds[l];
            if (++count == FLUSH) {
                flush(sums, S, wide);
                count = 0;
            }
        }
        flush(sums, S, wide);
        for (int64_t k = 0; k < S; k++) {
            double total = 0.0;
            for (int64_t l = 0; l < LANES; l++) total += wide[k][l];
            acc[k * C + c] += total;
        }
    }
}

/* K = d + 1 as a compile-time constant up to 16 (registers), else at run time. */
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

#endif
