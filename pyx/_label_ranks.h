/* Loads and stores of the int32 lanes of _label_counts.h (lc_i32, LC_GROUP =
 * 16 classes): the sorted path of the multi-label kernels (_sorted_labels.pxi)
 * reads each 16-class group's m_d, found by the search, as one vector.  One
 * or two intrinsics each, for every build (AVX-512, AVX2, plain C).
 */
#ifndef MARGINLOSS_LABEL_RANKS_H
#define MARGINLOSS_LABEL_RANKS_H

#include <stdint.h>
#include "_label_counts.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) \
    && defined(__AVX512VL__)
static inline lc_i32 lr_load_i32(const int32_t *p) {
    return _mm512_loadu_si512((const void *)p);
}
static inline void lr_store_i32(int32_t *p, lc_i32 a) { _mm512_storeu_si512((void *)p, a); }

#elif defined(__AVX2__)
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

#else
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
#endif
#endif
