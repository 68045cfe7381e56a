/* Plain (uncompensated) float64 lane sums of the multi-label sorted path
 * (_sorted_labels.pxi, float32 scores), on the 16 lanes of _label_counts.h:
 *
 *   ls_add_product(total, a, b)   total[l] + a[l] * b[l], the product exact
 *                                 (so rounded once: an FMA on AVX-512, a
 *                                 multiply and an add elsewhere, the same bits)
 *   ls_max_abs(bits, v)           the running max of |v[l]| as IEEE bits
 *                                 (unsigned compare of the bits without the
 *                                 sign: a NaN is larger than every number)
 *   ls_max_lane(bits)             the largest of the 16 lanes, as a float
 *   ls_lanes_sum(total)           for w = 8, 4, 2, 1: lane l < w adds lane l + w;
 *                                 then lane 0: the same adds in every build
 *
 * docs/design.md, "Kernels", "The row from the m_d", has the error bound that
 * decides when these sums are kept.
 */
#ifndef MARGINLOSS_LABEL_SUMS_H
#define MARGINLOSS_LABEL_SUMS_H

#include <stdint.h>
#include <string.h>
#include "_label_counts.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) \
    && defined(__AVX512VL__)
static inline lc_f64 ls_add_product(lc_f64 total, lc_f64 a, lc_f64 b) {
    total.lo = _mm512_fmadd_pd(a.lo, b.lo, total.lo);
    total.hi = _mm512_fmadd_pd(a.hi, b.hi, total.hi);
    return total;
}
static inline lc_i32 ls_max_abs(lc_i32 bits, lc_f32 v) {
    return _mm512_max_epu32(bits, _mm512_and_si512(_mm512_castps_si512(v),
                                                   _mm512_set1_epi32(0x7FFFFFFF)));
}
static inline float ls_max_lane(lc_i32 bits) {
    uint32_t top = (uint32_t)_mm512_reduce_max_epu32(bits);
    float value;
    memcpy(&value, &top, 4);
    return value;
}
static inline double ls_lanes_sum(lc_f64 total) {
    __m512d t8 = _mm512_add_pd(total.lo, total.hi);
    __m256d t4 = _mm256_add_pd(_mm512_castpd512_pd256(t8), _mm512_extractf64x4_pd(t8, 1));
    __m128d t2 = _mm_add_pd(_mm256_castpd256_pd128(t4), _mm256_extractf128_pd(t4, 1));
    return _mm_cvtsd_f64(t2) + _mm_cvtsd_f64(_mm_unpackhi_pd(t2, t2));
}

#elif defined(__AVX2__)
static inline lc_f64 ls_add_product(lc_f64 x, lc_f64 a, lc_f64 b) {
    /* no FMA in this build's flags: the exact product, then one rounding */
    x.a = _mm256_add_pd(x.a, _mm256_mul_pd(a.a, b.a));
    x.b = _mm256_add_pd(x.b, _mm256_mul_pd(a.b, b.b));
    x.c = _mm256_add_pd(x.c, _mm256_mul_pd(a.c, b.c));
    x.d = _mm256_add_pd(x.d, _mm256_mul_pd(a.d, b.d));
    return x;
}
static inline lc_i32 ls_max_abs(lc_i32 bits, lc_f32 v) {
    const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF);
    bits.a = _mm256_max_epu32(bits.a, _mm256_and_si256(_mm256_castps_si256(v.a), magnitude));
    bits.b = _mm256_max_epu32(bits.b, _mm256_and_si256(_mm256_castps_si256(v.b), magnitude));
    return bits;
}
static inline float ls_max_lane(lc_i32 bits) {
    uint32_t lanes[8], top = 0;
    float value;
    int l;
    _mm256_storeu_si256((__m256i *)lanes, _mm256_max_epu32(bits.a, bits.b));
    for (l = 0; l < 8; l++) top = lanes[l] > top ? lanes[l] : top;
    memcpy(&value, &top, 4);
    return value;
}
static inline double ls_lanes_sum(lc_f64 x) {
    __m256d t4 = _mm256_add_pd(_mm256_add_pd(x.a, x.c), _mm256_add_pd(x.b, x.d));
    __m128d t2 = _mm_add_pd(_mm256_castpd256_pd128(t4), _mm256_extractf128_pd(t4, 1));
    return _mm_cvtsd_f64(t2) + _mm_cvtsd_f64(_mm_unpackhi_pd(t2, t2));
}

#else
static inline lc_f64 ls_add_product(lc_f64 x, lc_f64 a, lc_f64 b) {
    int l;
    for (l = 0; l < LC_GROUP; l++) x.v[l] = x.v[l] + a.v[l] * b.v[l];
    return x;
}
static inline lc_i32 ls_max_abs(lc_i32 bits, lc_f32 v) {
    int l;
    for (l = 0; l < LC_GROUP; l++) {
        uint32_t b;
        memcpy(&b, &v.v[l], 4);
        b &= 0x7FFFFFFFu;
        bits.v[l] = (uint32_t)bits.v[l] > b ? bits.v[l] : (int32_t)b;
    }
    return bits;
}
static inline float ls_max_lane(lc_i32 bits) {
    uint32_t top = 0;
    float value;
    int l;
    for (l = 0; l < LC_GROUP; l++)
        top = (uint32_t)bits.v[l] > top ? (uint32_t)bits.v[l] : top;
    memcpy(&value, &top, 4);
    return value;
}
static inline double ls_lanes_sum(lc_f64 x) {
    int l, width;
    for (width = LC_GROUP / 2; width >= 1; width /= 2)
        for (l = 0; l < width; l++)
            x.v[l] = x.v[l] + x.v[l + width];
    return x.v[0];
}
#endif
#endif
