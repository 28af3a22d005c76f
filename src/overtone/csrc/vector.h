/*
 * Vector helpers shared by the native kernels (GCC / Clang vector types): LANES floats per
 * vector (one AVX-512 register, two AVX2 ones), unaligned loads and stores, zero-padded partial
 * vectors, and stores that bypass the cache for outputs larger than it.
 */
#ifndef OVERTONE_VECTOR_H
#define OVERTONE_VECTOR_H

#include <stdint.h>
#include <string.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#define LANES 16

typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vi __attribute__((vector_size(4 * LANES)));

static inline vf splat(float value) { return (vf){0} + value; }

/* mask ? a : b lane by lane (mask: all ones or zero, as a vector comparison gives). */
static inline vf select(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }

/* max(a, b) lane by lane; b where either is NaN (x86's rule: pass the NaN as b to keep it). */
static inline vf vmax(vf a, vf b) {
#if defined(__AVX512F__)
    return (vf)_mm512_max_ps((__m512)a, (__m512)b);
#else
    return select(a > b, a, b);
#endif
}

/* acc + (a > b ? v : 0) lane by lane (AVX-512: a compare into a mask register, a masked add). */
static inline vf add_where_greater(vf acc, vf a, vf b, vf v) {
#if defined(__AVX512F__)
    __mmask16 mask = _mm512_cmp_ps_mask((__m512)a, (__m512)b, _CMP_GT_OQ);
    return (vf)_mm512_mask_add_ps((__m512)acc, mask, (__m512)acc, (__m512)v);
#else
    return acc + select(a > b, v, splat(0.0f));
#endif
}

static inline vf load(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* A store that bypasses the cache (p 64-byte aligned): an output larger than the caches is not
 * read in before being overwritten (a third of the traffic of a one-in, one-out pass). */
static inline void stream(float *p, vf v) {
#if defined(__AVX512F__)
    _mm512_stream_ps(p, (__m512)v);
#elif defined(__AVX__)
    _mm256_stream_ps(p, (__m256){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]});
    _mm256_stream_ps(p + 8, (__m256){v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]});
#else
    store(p, v);
#endif
}

/* Orders the streamed stores before whatever the caller does next (another thread reads them). */
static inline void stream_fence(void) {
#if defined(__AVX__)
    _mm_sfence();
#endif
}

/* stream() where p is aligned, else store(). */
static inline void put(float *p, vf v) {
    if ((uintptr_t)p % sizeof(vf) == 0)
        stream(p, v);
    else
        store(p, v);
}

/* Elements before p reaches a 64-byte boundary, at most n. */
static inline int64_t until_aligned(const float *p, int64_t n) {
    int64_t misaligned = (int64_t)(((uintptr_t)p / sizeof(float)) % LANES);
    int64_t head = misaligned ? LANES - misaligned : 0;
    return head < n ? head : n;
}

/* The first n < LANES values of p, zero-padded. */
static inline vf load_part(const float *p, int64_t n) {
    float buffer[LANES] = {0};
    memcpy(buffer, p, (size_t)n * sizeof(float));
    return load(buffer);
}

static inline void store_part(float *p, vf v, int64_t n) {
    float buffer[LANES];
    store(buffer, v);
    memcpy(p, buffer, (size_t)n * sizeof(float));
}

/* dst[0, n) = src[0, n), the aligned full vectors streamed. */
static inline void stream_copy(float *dst, const float *src, int64_t n) {
    int64_t i = until_aligned(dst, n);
    memcpy(dst, src, (size_t)i * sizeof(float));
    for (; i + LANES <= n; i += LANES) stream(dst + i, load(src + i));
    memcpy(dst + i, src + i, (size_t)(n - i) * sizeof(float));
}

#endif
