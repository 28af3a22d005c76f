/*
 * Dominant DFT bin of each element's gradient history, float32 CPU kernels
 * (overtone/sparsity/spectra.py, dominant_frequency).
 *
 * The history is a ring (N, E) row-major: step t of element e at t * E + e, either float32 or
 * int8 codes with one float32 scale per step (value = code * scale[t]). For every element e in
 * [start, end) the kernel writes the bin k in 1..N/2 with the largest power
 *
 *   P_k = (sum_t x_t cos(2 pi k t / N))^2 + (sum_t x_t sin(2 pi k t / N))^2
 *
 * (the first such k on ties, as torch.argmax). The caller passes the cos and sin tables
 * (N/2, N) row-major, bins 1..N/2. For even N, with h = N/2 and w^(kh) = (-1)^k, even bins
 * are the h-point sums over s_t = x_t + x_(t+h) and odd bins over d_t = x_t - x_(t+h)
 * (t < h): N^2 / 4 multiply-adds per element instead of N^2 / 2.
 *
 * Elements go BLOCK = GROUP x LANES at a time in GCC / Clang vector types (one AVX-512 register, or two AVX2
 * ones): their N values are loaded once into registers / L1, every bin is accumulated there
 * and only the running argmax is kept, so the history is read once and no spectrum is written.
 */
#include "vector.h"

#define GROUP 4 /* vectors per block */
#define BLOCK (LANES * GROUP)
#define MAX_N 128 /* buffers on the stack: 64 KiB per call */

/* x: N rows of GROUP vectors (GROUP * LANES elements); writes m bins to out. GROUP independent
 * accumulator pairs hide the multiply-add latency. */
static void bins_of_block(vf (*x)[GROUP], int64_t N, const float *cosb, const float *sinb,
                          int64_t m, int64_t *out) {
    vf even[MAX_N / 2][GROUP], odd[MAX_N / 2][GROUP];
    const int64_t h = N / 2, split = (N % 2) == 0;
    if (split) {
        for (int64_t t = 0; t < h; t++) {
            for (int g = 0; g < GROUP; g++) {
                even[t][g] = x[t][g] + x[t + h][g];
                odd[t][g] = x[t][g] - x[t + h][g];
            }
        }
    }
    vf best[GROUP];
    vi bin[GROUP];
    for (int g = 0; g < GROUP; g++) {
        best[g] = splat(-1.0f);
        bin[g] = (vi){0} + 1;
    }
    for (int64_t k = 1; k <= h; k++) {
        const float *c = cosb + (k - 1) * N, *s = sinb + (k - 1) * N;
        vf(*src)[GROUP] = split ? ((k % 2) ? odd : even) : x;
        const int64_t terms = split ? h : N;
        vf re[GROUP], im[GROUP];
        for (int g = 0; g < GROUP; g++) re[g] = im[g] = splat(0.0f);
        for (int64_t t = 0; t < terms; t++) {
            const float ct = c[t], st = s[t];
            for (int g = 0; g < GROUP; g++) {
                re[g] += ct * src[t][g];
                im[g] += st * src[t][g];
            }
        }
        for (int g = 0; g < GROUP; g++) {
            const vf power = re[g] * re[g] + im[g] * im[g];
            const vi better = power > best[g];
            best[g] = (vf)(((vi)power & better) | ((vi)best[g] & ~better));
            bin[g] = (((vi){0} + (int32_t)k) & better) | (bin[g] & ~better);
        }
    }
    for (int64_t i = 0; i < m; i++) out[i] = bin[i / LANES][i % LANES];
}

/* Returns 0, or -1 when N is outside [4, MAX_N]. */
int dominant_bins_f32(const float *history, int64_t N, int64_t E, int64_t start, int64_t end,
                      const float *cosb, const float *sinb, int64_t *out) {
    if (N < 4 || N > MAX_N) return -1;
    vf x[MAX_N][GROUP];
    for (int64_t b = start; b < end; b += BLOCK) {
        const int64_t m = end - b < BLOCK ? end - b : BLOCK;
        for (int64_t t = 0; t < N; t++) {
            if (m == BLOCK) {
                memcpy(x[t], history + t * E + b, sizeof(x[t]));
            } else {
                float *row = (float *)x[t];
                for (int64_t i = 0; i < BLOCK; i++) row[i] = i < m ? history[t * E + b + i] : 0.0f;
            }
        }
        bins_of_block(x, N, cosb, sinb, m, out + (b - start));
    }
    return 0;
}

int dominant_bins_i8(const int8_t *codes, const float *scales, int64_t N, int64_t E,
                     int64_t start, int64_t end, const float *cosb, const float *sinb,
                     int64_t *out) {
    if (N < 4 || N > MAX_N) return -1;
    vf x[MAX_N][GROUP];
    for (int64_t b = start; b < end; b += BLOCK) {
        const int64_t m = end - b < BLOCK ? end - b : BLOCK;
        for (int64_t t = 0; t < N; t++) {
            const int8_t *codes_t = codes + t * E + b;
            float *row = (float *)x[t];
            for (int64_t i = 0; i < BLOCK; i++) row[i] = i < m ? (float)codes_t[i] * scales[t] : 0.0f;
        }
        bins_of_block(x, N, cosb, sinb, m, out + (b - start));
    }
    return 0;
}
