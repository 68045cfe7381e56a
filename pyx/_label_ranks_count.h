/* The rank search of the multi-label counting pass (_multilabel_margin.pyx,
 * float32 scores): each class's count cnt_d = #{i : x[d] > t_i} as the
 * number of the sorted thresholds below x[d], found by binary search in a
 * 32-entry table (up to LCR_MAX thresholds, +inf after them), and the label
 * columns from the counts kept as bytes:
 *
 *   col_i = #{d in D : cnt_d > #{j : t_j < t_i}}
 *
 * (or, with p_i = #{j : t_j < t_i} + #{j < i : t_j == t_i} threshold i's
 * place in the sorted table, lcr_positions, col_i = #{d in D : cnt_d > p_i}).
 * The predicate t_j < x[d] is monotone along the sorted table (ties and
 * signed zeros included), so the search gives the compares' integers.  The
 * masks and vectors are _label_counts.h's; each function is one to a few
 * intrinsics.  The AVX-512 build has the search (LCR_RANKS 1); the other
 * builds have stubs that are never called (LCR_RANKS 0).  The int32 loads
 * and stores of the counts are _label_ranks.h's (lr_load_i32, lr_store_i32).
 */
#ifndef MARGINLOSS_LABEL_RANKS_COUNT_H
#define MARGINLOSS_LABEL_RANKS_COUNT_H

#include <stdint.h>
#include "_label_counts.h"
#include "_label_ranks.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) \
    && defined(__AVX512VL__)
#define LCR_RANKS 1
#define LCR_MAX 31
typedef struct { __m512 lo, hi; } lcr_table;
typedef __m256i lcr_bytes;

static inline lcr_table lcr_load_table(const float *p) {
    lcr_table t;
    t.lo = _mm512_loadu_ps(p);
    t.hi = _mm512_loadu_ps(p + 16);
    return t;
}
static inline lc_i32 lcr_step(lcr_table t, lc_f32 v, lc_i32 rank, int step) {
    /* rank[l] + step where v[l] > table[rank[l] + step - 1] */
    __m512 probe = _mm512_permutex2var_ps(t.lo, _mm512_add_epi32(rank, _mm512_set1_epi32(step - 1)),
                                          t.hi);
    return _mm512_mask_add_epi32(rank, _mm512_cmp_ps_mask(v, probe, _CMP_GT_OQ), rank,
                                 _mm512_set1_epi32(step));
}
static inline lc_i32 lcr_where(lc_i32 rank, lc_mask other) {
    /* rank[l] where other[l], else 0 */
    return _mm512_maskz_mov_epi32(other, rank);
}
static inline void lcr_store_bytes(unsigned char *p, lc_i32 rank) {
    /* the 16 ranks (< 128) as bytes */
    _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(rank));
}
static inline float lcr_down(float t) {
    /* the largest float below t (t finite or +inf): u > lcr_down(t) == u >= t */
    uint32_t b;
    memcpy(&b, &t, 4);
    if (t > 0) b -= 1;
    else if (t < 0) b += 1;
    else b = 0x80000001u;   /* -0 and +0: minus the smallest subnormal */
    memcpy(&t, &b, 4);
    return t;
}
static inline void lcr_positions(lcr_table t, const float *threshold, int n, int32_t *position) {
    /* position[i] = #{j < n : t_j < t_i} + #{j < i : t_j == t_i} for the 32
     * table entries t_i (t_j = threshold[j] = table[j], j < n): each entry's
     * place in the order by value, then index.  One compare a half-table for
     * each j: lanes i > j against lcr_down(t_j) (t_i >= t_j), the others
     * against t_j (t_i > t_j). */
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    int j;
    for (j = 0; j < n; j++) {
        uint32_t after = j >= 31 ? 0u : 0xFFFFFFFFu << (j + 1);   /* lanes i > j */
        __m512 at = _mm512_set1_ps(threshold[j]), down = _mm512_set1_ps(lcr_down(threshold[j]));
        __m512 probe_lo = _mm512_mask_blend_ps((__mmask16)after, at, down);
        __m512 probe_hi = _mm512_mask_blend_ps((__mmask16)(after >> 16), at, down);
        lo = _mm512_mask_add_epi32(lo, _mm512_cmp_ps_mask(t.lo, probe_lo, _CMP_GT_OQ), lo, one);
        hi = _mm512_mask_add_epi32(hi, _mm512_cmp_ps_mask(t.hi, probe_hi, _CMP_GT_OQ), hi, one);
    }
    _mm512_storeu_si512((void *)position, lo);
    _mm512_storeu_si512((void *)(position + 16), hi);
}
static inline lcr_bytes lcr_load_bytes(const unsigned char *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}
static inline lcr_bytes lcr_zero_bytes(void) { return _mm256_setzero_si256(); }
static inline lcr_bytes lcr_add_above(lcr_bytes count, lcr_bytes rank, int j) {
    /* count[l] + (rank[l] > j), 32 byte lanes */
    return _mm256_sub_epi8(count, _mm256_cmpgt_epi8(rank, _mm256_set1_epi8((char)j)));
}
static inline int32_t lcr_sum_bytes(lcr_bytes count) {
    /* the 32 unsigned byte lanes added */
    __m256i s = _mm256_sad_epu8(count, _mm256_setzero_si256());
    __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (int32_t)(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1));
}

#endif


#if !defined(LCR_RANKS)
/* no rank search in this build (LCR_RANKS 0): never called */
#define LCR_RANKS 0
#define LCR_MAX 0
typedef struct { float v[2 * LC_GROUP]; } lcr_table;
typedef struct { unsigned char v[2 * LC_GROUP]; } lcr_bytes;
static inline lcr_table lcr_load_table(const float *p) {
    lcr_table t;
    memset(&t, 0, sizeof(t));
    (void)p;
    return t;
}
static inline lc_i32 lcr_step(lcr_table t, lc_f32 v, lc_i32 rank, int step) {
    (void)t; (void)v; (void)step; return rank;
}
static inline lc_i32 lcr_where(lc_i32 rank, lc_mask other) { (void)other; return rank; }
static inline void lcr_store_bytes(unsigned char *p, lc_i32 rank) { (void)p; (void)rank; }
static inline void lcr_positions(lcr_table t, const float *threshold, int n, int32_t *position) {
    int i;
    (void)t; (void)threshold; (void)n;
    for (i = 0; i < 2 * LC_GROUP; i++) position[i] = 0;
}
static inline lcr_bytes lcr_load_bytes(const unsigned char *p) {
    lcr_bytes b;
    memset(&b, 0, sizeof(b));
    (void)p;
    return b;
}
static inline lcr_bytes lcr_zero_bytes(void) {
    lcr_bytes b;
    memset(&b, 0, sizeof(b));
    return b;
}
static inline lcr_bytes lcr_add_above(lcr_bytes count, lcr_bytes rank, int j) {
    (void)rank; (void)j; return count;
}
static inline int32_t lcr_sum_bytes(lcr_bytes count) { (void)count; return 0; }
#endif

#endif
