/* Lane operations of _multi_margin.pyx beyond _row_blocks.h.  A float32
 * row's block of 16 classes as one vector (the class blocks, lane k a class)
 * needs the two lane reductions below; only the AVX-512 build, where ml_f32
 * holds 16 floats and ml_f64 16 doubles, takes that path (ML_CLASS_VECTORS is
 * 1 there; the other builds get stubs that only make the code compile).  The
 * float64 row blocks (every wide build) take the last two.
 *
 *   ml_lane_sum_f64(l)  the 16 doubles added by the fixed pairwise tree of
 *                       _sum_lanes: l[k] + l[k + 8], then halves 4, 2, 1
 *   ml_mask_count(m)    the number of set bits of a 16-lane mask
 *   ml_add_where_f64(acc, m, v)  acc + v in the lanes of m, acc in the others
 *                       (all builds; the float64 row blocks' span sums)
 *   ml_columns_f64(x, stride, n, out)  the columns of a block of float64 rows
 *                       (class k of every row, row r in lane r), k < n < 16:
 *                       transposes of row loads (AVX-512), gathers (others)
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
ML_ALWAYS_INLINE void ml_transpose8_f64(const double *x, intptr_t stride, __mmask8 m,
                                        __m512d *col) {
    /* col[c] = (x[r * stride + c], r = 0..7) for the classes c of m (the
     * others zero): 8 masked row loads and an 8 x 8 transpose (24 shuffles) */
    __m512d r[8], t[8], u[8];
    int e;
    for (e = 0; e < 8; e++)
        r[e] = _mm512_maskz_loadu_pd(m, x + e * stride);
    for (e = 0; e < 8; e += 2) {  /* 128-bit lane L: rows e, e + 1 of class 2L (lo) or 2L + 1 (hi) */
        t[e] = _mm512_unpacklo_pd(r[e], r[e + 1]);
        t[e + 1] = _mm512_unpackhi_pd(r[e], r[e + 1]);
    }
    for (e = 0; e < 2; e++) {  /* e = 0: the even classes, 1: the odd */
        u[4 * e] = _mm512_shuffle_f64x2(t[e], t[2 + e], 0x44);
        u[4 * e + 1] = _mm512_shuffle_f64x2(t[e], t[2 + e], 0xEE);
        u[4 * e + 2] = _mm512_shuffle_f64x2(t[4 + e], t[6 + e], 0x44);
        u[4 * e + 3] = _mm512_shuffle_f64x2(t[4 + e], t[6 + e], 0xEE);
        col[e] = _mm512_shuffle_f64x2(u[4 * e], u[4 * e + 2], 0x88);
        col[2 + e] = _mm512_shuffle_f64x2(u[4 * e], u[4 * e + 2], 0xDD);
        col[4 + e] = _mm512_shuffle_f64x2(u[4 * e + 1], u[4 * e + 3], 0x88);
        col[6 + e] = _mm512_shuffle_f64x2(u[4 * e + 1], u[4 * e + 3], 0xDD);
    }
}
ML_ALWAYS_INLINE __m512d ml_pairs8_f64(const double *x, intptr_t stride, int c) {
    /* (x[r * stride + c], r = 0..7) for the rows' two doubles at x: class c (0
     * or 1) of the 128-bit loads, interleaved pairwise and put side by side */
    __m128d p[4];
    int e;
    for (e = 0; e < 4; e++) {
        __m128d a = _mm_loadu_pd(x + 2 * e * stride), b = _mm_loadu_pd(x + (2 * e + 1) * stride);
        p[e] = c ? _mm_unpackhi_pd(a, b) : _mm_unpacklo_pd(a, b);
    }
    return _mm512_insertf64x4(
        _mm512_castpd256_pd512(_mm256_insertf128_pd(_mm256_castpd128_pd256(p[0]), p[1], 1)),
        _mm256_insertf128_pd(_mm256_castpd128_pd256(p[2]), p[3], 1), 1);
}
ML_ALWAYS_INLINE void ml_columns_f64(const double *x, int32_t stride, int32_t n, ml_f64 *out) {
    /* out[k] = x[r * stride + k] in lane r (the block's 16 rows), k < n < 16:
     * classes 0-7 by two 8 x 8 transposes of masked row loads; 8 and 9, when
     * they are the last, from 128-bit loads (cheaper than a transpose);
     * otherwise 8 to n - 1 by two more transposes */
    __m512d lo[8], hi[8];
    int c, first = n < 8 ? n : 8;
    __mmask8 m = (__mmask8)((1u << first) - 1);
    ml_transpose8_f64(x, stride, m, lo);
    ml_transpose8_f64(x + 8 * (intptr_t)stride, stride, m, hi);
    for (c = 0; c < first; c++) {
        out[c].lo = lo[c];
        out[c].hi = hi[c];
    }
    if (n == 10) {
        for (c = 0; c < 2; c++) {
            out[8 + c].lo = ml_pairs8_f64(x + 8, stride, c);
            out[8 + c].hi = ml_pairs8_f64(x + 8 * (intptr_t)stride + 8, stride, c);
        }
    } else if (n > 8) {
        m = (__mmask8)((1u << (n - 8)) - 1);
        ml_transpose8_f64(x + 8, stride, m, lo);
        ml_transpose8_f64(x + 8 * (intptr_t)stride + 8, stride, m, hi);
        for (c = 0; c < n - 8; c++) {
            out[8 + c].lo = lo[c];
            out[8 + c].hi = hi[c];
        }
    }
}
#else
#define ML_CLASS_VECTORS 0
static inline double ml_lane_sum_f64(ml_f64 l) { (void)l; return 0.0; }
static inline int ml_mask_count(ml_mask m) { (void)m; return 0; }
static inline void ml_columns_f64(const double *x, int32_t stride, int32_t n, ml_f64 *out) {
    /* one gather a column */
    int k;
    ml_i32 rows = ml_iota_times(stride);
    for (k = 0; k < n; k++)
        out[k] = ml_gather_f64(x + k, rows);
}
static inline ml_f64 ml_add_where_f64(ml_f64 acc, ml_mask m, ml_f64 v) {
    /* acc + (v where m, else +0): the same values as a masked add for any acc
     * but -0, which the float64 row blocks' sums never are */
    return ml_add_f64(acc, ml_select_f64(m, v, ml_set1_f64(0.0)));
}
#endif

#endif
