/* One float32 row's block of 16 classes as one vector (the class blocks of
 * _multi_margin.pyx, lane k a class): the two lane reductions the row needs
 * beyond _row_blocks.h.  Only the AVX-512 build, where ml_f32 holds 16 floats
 * and ml_f64 16 doubles, takes this path (ML_CLASS_VECTORS is 1 there); the
 * other builds get stubs that only make the code compile.
 *
 *   ml_lane_sum_f64(l)  the 16 doubles added by the fixed pairwise tree of
 *                       _sum_lanes: l[k] + l[k + 8], then halves 4, 2, 1
 *   ml_mask_count(m)    the number of set bits of a 16-lane mask
 *   ml_add_where_f64(acc, m, v)  acc + v in the lanes of m, acc in the others
 *                       (all builds; the float64 row blocks' span sums)
 */
#ifndef MARGINLOSS_CLASS_LANES_H
#define MARGINLOSS_CLASS_LANES_H

#include "_row_blocks.h"

#if ML_ROWS == 16
#define ML_CLASS_VECTORS 1
static inline double ml_lane_sum_f64(ml_f64 l) {
    /* a_k = l_k + l_{k+8} (k < 8); b_k = a_k + a_{k+4} (k < 4);
     * (b_0 + b_2) + (b_1 + b_3) */
    __m512d a = _mm512_add_pd(l.lo, l.hi);
    __m256d b = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
    __m128d c = _mm_add_pd(_mm256_castpd256_pd128(b), _mm256_extractf128_pd(b, 1));
    return _mm_cvtsd_f64(_mm_add_sd(c, _mm_unpackhi_pd(c, c)));
}
static inline int ml_mask_count(ml_mask m) { return __builtin_popcount((unsigned)m); }
static inline ml_f64 ml_add_where_f64(ml_f64 acc, ml_mask m, ml_f64 v) {
    /* acc + v in the lanes of m, acc elsewhere: one masked add a register */
    ml_f64 r;
    r.lo = _mm512_mask_add_pd(acc.lo, (__mmask8)m, acc.lo, v.lo);
    r.hi = _mm512_mask_add_pd(acc.hi, (__mmask8)(m >> 8), acc.hi, v.hi);
    return r;
}
#else
#define ML_CLASS_VECTORS 0
static inline double ml_lane_sum_f64(ml_f64 l) { (void)l; return 0.0; }
static inline int ml_mask_count(ml_mask m) { (void)m; return 0; }
static inline ml_f64 ml_add_where_f64(ml_f64 acc, ml_mask m, ml_f64 v) {
    /* acc + (v where m, else +0): the same values as a masked add for any acc
     * but -0, which the float64 row blocks' sums never are */
    return ml_add_f64(acc, ml_select_f64(m, v, ml_set1_f64(0.0)));
}
#endif

#endif
