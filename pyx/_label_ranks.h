/* Loads and stores of the int32 lanes of _label_counts.h (lc_i32, LC_GROUP =
 * 16 classes), a load of the float64 lanes, and the high part of each lane
 * (its low 31 significand bits cleared, as _add_product splits a value): the
 * sorted path of the multi-label kernels (_sorted_labels.pxi) reads each
 * 16-class group's m_d, found by the search, and 16 labels' columns as one
 * vector.  One or a few intrinsics each, for every build (AVX-512, AVX2,
 * plain C), the same bits on each.
 */
#ifndef MARGINLOSS_LABEL_RANKS_H
#define MARGINLOSS_LABEL_RANKS_H

#include <stdint.h>
#include <string.h>
#include "_label_counts.h"

/* LR_GROUPS: whether the sorted path forms its products in these groups (the
 * builds with vector registers of 8 or 16 lanes); the baseline build keeps its
 * class-by-class loops, which GCC vectorises better there (the same bits). */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) \
    && defined(__AVX512VL__)
#define LR_GROUPS 1
static inline lc_i32 lr_load_i32(const int32_t *p) {
    return _mm512_loadu_si512((const void *)p);
}
static inline void lr_store_i32(int32_t *p, lc_i32 a) { _mm512_storeu_si512((void *)p, a); }
static inline lc_f64 lr_high_f64(lc_f64 a) {
    const __m512i keep = _mm512_set1_epi64((long long)~((1ULL << 31) - 1));
    a.lo = _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(a.lo), keep));
    a.hi = _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(a.hi), keep));
    return a;
}

#elif defined(__AVX2__)
#define LR_GROUPS 1
static inline lc_i32 lr_load_i32(const int32_t *p) {
    lc_i32 r;
    r.a = _mm256_loadu_si256((const __m256i *)p);
    r.b = _mm256_loadu_si256((const __m256i *)(p + 8));
    return r;
}
static inline void lr_store_i32(int32_t *p, lc_i32 a) {
    _mm256_storeu_si256((__m256i *)p, a.a);
    _mm256_storeu_si256((__m256i *)(p + 8), a.b);
}
static inline lc_f64 lr_high_f64(lc_f64 x) {
    const __m256d keep = _mm256_castsi256_pd(
        _mm256_set1_epi64x((long long)~((1ULL << 31) - 1)));
    x.a = _mm256_and_pd(x.a, keep);
    x.b = _mm256_and_pd(x.b, keep);
    x.c = _mm256_and_pd(x.c, keep);
    x.d = _mm256_and_pd(x.d, keep);
    return x;
}

#else
#define LR_GROUPS 0
static inline lc_i32 lr_load_i32(const int32_t *p) {
    lc_i32 r;
    int l;
    for (l = 0; l < LC_GROUP; l++) r.v[l] = p[l];
    return r;
}
static inline void lr_store_i32(int32_t *p, lc_i32 a) {
    int l;
    for (l = 0; l < LC_GROUP; l++) p[l] = a.v[l];
}
static inline lc_f64 lr_high_f64(lc_f64 x) {
    int l;
    for (l = 0; l < LC_GROUP; l++) {
        uint64_t bits;
        memcpy(&bits, &x.v[l], 8);
        bits &= ~((1ULL << 31) - 1);
        memcpy(&x.v[l], &bits, 8);
    }
    return x;
}
#endif
#endif
