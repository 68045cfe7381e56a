/* Vectors of ML_ROWS rows, one row a lane: the few instructions the row-block
 * kernel of _multi_margin.pyx needs that Cython cannot write (gathers, masks,
 * converts).  Each function is one or two intrinsics; the arithmetic and its
 * order are in the .pyx.
 *
 *   ml_f32  ML_ROWS floats        ml_f64  ML_ROWS doubles (two registers)
 *   ml_i32  ML_ROWS int32         ml_mask ML_ROWS booleans
 *
 * AVX-512 (F, BW, DQ, VL): 16 rows; AVX2: 8 rows; otherwise one row of plain
 * C (the kernel does not use blocks then, but the code compiles).  Every
 * operation rounds as its scalar C form (no fused multiply-adds).
 * ml_max0_f32(z) is x86's max(z, +0): +0 for z = -0 and for a NaN z;
 * ml_max0_nan_f32(z) is max(+0, z): z for z = -0 and for a NaN z.
 */
#ifndef MARGINLOSS_ROW_BLOCKS_H
#define MARGINLOSS_ROW_BLOCKS_H

#include <stdint.h>

/* For ml_columns' 4-class case: left to itself GCC called the whole of
 * ml_columns out of line (it is large), the four columns going through
 * memory. */
#if defined(__GNUC__)
#define ML_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ML_ALWAYS_INLINE static inline
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) \
    && defined(__AVX512VL__)
#include <immintrin.h>
#define ML_ROWS 16
typedef __m512 ml_f32;
typedef __m512i ml_i32;
typedef struct { __m512d lo, hi; } ml_f64;
typedef __mmask16 ml_mask;

static inline ml_i32 ml_targets(const int64_t *t, int64_t n_classes, int *valid) {
    /* the 16 targets as int32 lanes; *valid: all in [0, n_classes) (one
     * unsigned compare each) */
    __m512i lo = _mm512_loadu_si512((const void *)t);
    __m512i hi = _mm512_loadu_si512((const void *)(t + 8));
    __m512i c = _mm512_set1_epi64(n_classes);
    __mmask8 ok = _mm512_cmplt_epu64_mask(lo, c) & _mm512_cmplt_epu64_mask(hi, c);
    *valid = ok == 0xFF;
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)),
                              _mm512_cvtepi64_epi32(hi), 1);
}
static inline ml_i32 ml_iota_times(int32_t c) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                13, 14, 15), _mm512_set1_epi32(c));
}
ML_ALWAYS_INLINE void ml_columns_rows(const float *x, int32_t stride, int32_t first, int32_t n,
                                     ml_f32 *out) {
    /* out[k] = x[r * stride + first + k] in lane r (the block's 16 rows), for
     * k < min(n, 16): 16 masked row loads and a 16 x 16 transpose (64
     * shuffles), instead of one gather per column */
    __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    __m512 r[16], t[16], u[16];
    int g, e;
    for (g = 0; g < 16; g++)
        r[g] = _mm512_maskz_loadu_ps(m, x + (intptr_t)g * stride + first);
    for (g = 0; g < 16; g += 2) {  /* in each 128-bit lane: pairs of rows */
        t[g] = _mm512_unpacklo_ps(r[g], r[g + 1]);
        t[g + 1] = _mm512_unpackhi_ps(r[g], r[g + 1]);
    }
    for (g = 0; g < 16; g += 4) {  /* u[g + e]: element e of each lane, rows g..g+3 */
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
    }
    for (e = 0; e < 4; e++) {  /* column 4L + e: lane L of u[e], u[4 + e], u[8 + e], u[12 + e] */
        __m512 a_lo = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x44);
        __m512 a_hi = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xEE);
        __m512 b_lo = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x44);
        __m512 b_hi = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xEE);
        if (e < n) out[e] = _mm512_shuffle_f32x4(a_lo, b_lo, 0x88);
        if (4 + e < n) out[4 + e] = _mm512_shuffle_f32x4(a_lo, b_lo, 0xDD);
        if (8 + e < n) out[8 + e] = _mm512_shuffle_f32x4(a_hi, b_hi, 0x88);
        if (12 + e < n) out[12 + e] = _mm512_shuffle_f32x4(a_hi, b_hi, 0xDD);
    }
}
ML_ALWAYS_INLINE void ml_columns(const float *x, int32_t stride, int32_t first, int32_t n,
                                ml_f32 *out) {
    /* ml_columns_rows, or for rows of 4 classes (stride 4, first 0): the
     * block is 4 vectors of 4 rows each; a 4 x 4 transpose in each 128-bit
     * lane leaves row 4j + L of column e at position 4L + j, which one
     * permute puts at position 4j + L */
    if (stride == 4 && first == 0) {
        __m512 r[4], t[4], u[4];
        int g, e;
        const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14,
                                                3, 7, 11, 15);
        for (g = 0; g < 4; g++)
            r[g] = _mm512_loadu_ps(x + 16 * g);
        t[0] = _mm512_unpacklo_ps(r[0], r[1]);
        t[1] = _mm512_unpackhi_ps(r[0], r[1]);
        t[2] = _mm512_unpacklo_ps(r[2], r[3]);
        t[3] = _mm512_unpackhi_ps(r[2], r[3]);
        u[0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[0]), _mm512_castps_pd(t[2])));
        u[1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[0]), _mm512_castps_pd(t[2])));
        u[2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[1]), _mm512_castps_pd(t[3])));
        u[3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[1]), _mm512_castps_pd(t[3])));
        for (e = 0; e < 4; e++)
            out[e] = _mm512_permutexvar_ps(order, u[e]);
        return;
    }
    ml_columns_rows(x, stride, first, n, out);
}
ML_ALWAYS_INLINE void ml_store_columns(float *x, int32_t stride, int32_t n,
                                      const ml_f32 *cols) {
    /* x[r * stride + k] = cols[k][r] for the 16 rows r and k < n <= 16: the
     * transpose of ml_columns_rows (a 16 x 16 transpose is its own inverse:
     * the same 64 shuffles, the missing columns zero) and 16 masked row stores */
    __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    __m512 r[16], t[16], u[16];
    int g, e;
    for (g = 0; g < 16; g++)
        r[g] = g < n ? cols[g] : _mm512_setzero_ps();
    for (g = 0; g < 16; g += 2) {
        t[g] = _mm512_unpacklo_ps(r[g], r[g + 1]);
        t[g + 1] = _mm512_unpackhi_ps(r[g], r[g + 1]);
    }
    for (g = 0; g < 16; g += 4) {
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
    }
    for (e = 0; e < 4; e++) {  /* row 4L + e: lane L of u[e], u[4 + e], u[8 + e], u[12 + e] */
        __m512 a_lo = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x44);
        __m512 a_hi = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xEE);
        __m512 b_lo = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x44);
        __m512 b_hi = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xEE);
        _mm512_mask_storeu_ps(x + (intptr_t)e * stride, m, _mm512_shuffle_f32x4(a_lo, b_lo, 0x88));
        _mm512_mask_storeu_ps(x + (intptr_t)(4 + e) * stride, m, _mm512_shuffle_f32x4(a_lo, b_lo, 0xDD));
        _mm512_mask_storeu_ps(x + (intptr_t)(8 + e) * stride, m, _mm512_shuffle_f32x4(a_hi, b_hi, 0x88));
        _mm512_mask_storeu_ps(x + (intptr_t)(12 + e) * stride, m, _mm512_shuffle_f32x4(a_hi, b_hi, 0xDD));
    }
}
static inline ml_i32 ml_set1_i32(int32_t a) { return _mm512_set1_epi32(a); }
static inline ml_i32 ml_add_i32(ml_i32 a, ml_i32 b) { return _mm512_add_epi32(a, b); }
static inline ml_i32 ml_mul_i32(ml_i32 a, ml_i32 b) { return _mm512_mullo_epi32(a, b); }
static inline ml_i32 ml_load_i32(const int32_t *p) { return _mm512_loadu_si512((const void *)p); }
static inline void ml_store_i32(int32_t *p, ml_i32 a) { _mm512_storeu_si512((void *)p, a); }
static inline ml_f32 ml_gather_f32(const float *base, ml_i32 idx) {
    return _mm512_i32gather_ps(idx, base, 4);
}
static inline ml_f64 ml_gather_f64(const double *base, ml_i32 idx) {
    ml_f64 r;
    r.lo = _mm512_i32gather_pd(_mm512_castsi512_si256(idx), base, 8);
    r.hi = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(idx, 1), base, 8);
    return r;
}
static inline ml_f32 ml_set1_f32(float a) { return _mm512_set1_ps(a); }
static inline ml_f32 ml_add_f32(ml_f32 a, ml_f32 b) { return _mm512_add_ps(a, b); }
static inline ml_f32 ml_sub_f32(ml_f32 a, ml_f32 b) { return _mm512_sub_ps(a, b); }
static inline ml_f32 ml_max0_f32(ml_f32 z) { return _mm512_max_ps(z, _mm512_setzero_ps()); }
/* max(0, z) keeping a NaN z (x86 returns the second operand when one is NaN),
 * and -0 for z = -0, as the row loop's ``0 if 0 > z else z`` */
static inline ml_f32 ml_max0_nan_f32(ml_f32 z) { return _mm512_max_ps(_mm512_setzero_ps(), z); }
static inline ml_f32 ml_select_f32(ml_mask m, ml_f32 a, ml_f32 b) {
    return _mm512_mask_blend_ps(m, b, a);
}
static inline ml_f32 ml_zero_unless_f32(ml_mask m, ml_f32 a) { return _mm512_maskz_mov_ps(m, a); }
static inline void ml_store_f32(float *p, ml_f32 a) { _mm512_storeu_ps(p, a); }
static inline void ml_scatter_f32(float *base, ml_i32 idx, ml_f32 a) {
    /* base[idx[k]] = a[k] */
    _mm512_i32scatter_ps(base, idx, a, 4);
}
static inline ml_mask ml_gt_f32(ml_f32 a, ml_f32 b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline ml_mask ml_isnan_f32(ml_f32 a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
static inline ml_mask ml_isnan_f64(ml_f64 a) {
    return (ml_mask)(_mm512_cmp_pd_mask(a.lo, a.lo, _CMP_UNORD_Q)
                     | (_mm512_cmp_pd_mask(a.hi, a.hi, _CMP_UNORD_Q) << 8));
}
static inline ml_f32 ml_or_f32(ml_f32 a, ml_f32 b) { return _mm512_or_ps(a, b); }
static inline ml_mask ml_neq_i32(ml_i32 a, ml_i32 b) { return _mm512_cmpneq_epi32_mask(a, b); }
static inline ml_mask ml_eq_i32(ml_i32 a, ml_i32 b) { return _mm512_cmpeq_epi32_mask(a, b); }
static inline ml_i32 ml_permute_i32(ml_i32 idx, ml_i32 table) {
    return _mm512_permutexvar_epi32(idx, table);
}
static inline ml_mask ml_or(ml_mask a, ml_mask b) { return a | b; }
static inline ml_mask ml_and(ml_mask a, ml_mask b) { return a & b; }
static inline int ml_bits(ml_mask a) { return (int)a; }
static inline ml_i32 ml_count(ml_i32 n, ml_mask m) {
    return _mm512_mask_sub_epi32(n, m, n, _mm512_set1_epi32(-1));
}
static inline ml_f64 ml_set1_f64(double a) {
    ml_f64 r; r.lo = r.hi = _mm512_set1_pd(a); return r;
}
static inline ml_f64 ml_add_f64(ml_f64 a, ml_f64 b) {
    ml_f64 r; r.lo = _mm512_add_pd(a.lo, b.lo); r.hi = _mm512_add_pd(a.hi, b.hi); return r;
}
static inline ml_f64 ml_sub_f64(ml_f64 a, ml_f64 b) {
    ml_f64 r; r.lo = _mm512_sub_pd(a.lo, b.lo); r.hi = _mm512_sub_pd(a.hi, b.hi); return r;
}
static inline ml_f64 ml_mul_f64(ml_f64 a, ml_f64 b) {
    ml_f64 r; r.lo = _mm512_mul_pd(a.lo, b.lo); r.hi = _mm512_mul_pd(a.hi, b.hi); return r;
}
static inline ml_f64 ml_div_f64(ml_f64 a, ml_f64 b) {
    ml_f64 r; r.lo = _mm512_div_pd(a.lo, b.lo); r.hi = _mm512_div_pd(a.hi, b.hi); return r;
}
static inline ml_f64 ml_cvt_f64(ml_f32 a) {
    ml_f64 r;
    r.lo = _mm512_cvtps_pd(_mm512_castps512_ps256(a));
    r.hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    return r;
}
static inline ml_f64 ml_cvt_i32_f64(ml_i32 a) {
    ml_f64 r;
    r.lo = _mm512_cvtepi32_pd(_mm512_castsi512_si256(a));
    r.hi = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(a, 1));
    return r;
}
static inline ml_f32 ml_cvt_f32(ml_f64 a) {
    return _mm512_castpd_ps(_mm512_insertf64x4(
        _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(a.lo))),
        _mm256_castps_pd(_mm512_cvtpd_ps(a.hi)), 1));
}
static inline ml_f64 ml_load_f64(const double *p) {
    ml_f64 r; r.lo = _mm512_loadu_pd(p); r.hi = _mm512_loadu_pd(p + 8); return r;
}
static inline void ml_store_f64(double *p, ml_f64 a) {
    _mm512_storeu_pd(p, a.lo); _mm512_storeu_pd(p + 8, a.hi);
}
static inline ml_f32 ml_load_f32(const float *p) { return _mm512_loadu_ps(p); }
/* float64 rows: ML_ROWS doubles, the mask bits split over the two halves */
static inline ml_mask ml_gt_f64(ml_f64 a, ml_f64 b) {
    return (ml_mask)(_mm512_cmp_pd_mask(a.lo, b.lo, _CMP_GT_OQ)
                     | (_mm512_cmp_pd_mask(a.hi, b.hi, _CMP_GT_OQ) << 8));
}
static inline ml_mask ml_nonfinite_f64(ml_f64 a) {
    __m512d lo = _mm512_sub_pd(a.lo, a.lo), hi = _mm512_sub_pd(a.hi, a.hi);
    return (ml_mask)(_mm512_cmp_pd_mask(lo, lo, _CMP_UNORD_Q)
                     | (_mm512_cmp_pd_mask(hi, hi, _CMP_UNORD_Q) << 8));
}
static inline ml_f64 ml_max0_f64(ml_f64 z) {
    ml_f64 r;
    r.lo = _mm512_max_pd(z.lo, _mm512_setzero_pd());
    r.hi = _mm512_max_pd(z.hi, _mm512_setzero_pd());
    return r;
}
static inline ml_f64 ml_max0_nan_f64(ml_f64 z) {
    ml_f64 r;
    r.lo = _mm512_max_pd(_mm512_setzero_pd(), z.lo);
    r.hi = _mm512_max_pd(_mm512_setzero_pd(), z.hi);
    return r;
}
static inline ml_f64 ml_select_f64(ml_mask m, ml_f64 a, ml_f64 b) {
    ml_f64 r;
    r.lo = _mm512_mask_blend_pd((__mmask8)m, b.lo, a.lo);
    r.hi = _mm512_mask_blend_pd((__mmask8)(m >> 8), b.hi, a.hi);
    return r;
}
static inline ml_mask ml_lt_i32(ml_i32 a, ml_i32 b) { return _mm512_cmplt_epi32_mask(a, b); }
static inline ml_f32 ml_permute_f32(ml_i32 idx, ml_f32 table) {
    /* lane k: table[idx[k]] */
    return _mm512_permutexvar_ps(idx, table);
}
static inline ml_f64 ml_permute_f64(ml_i32 idx, ml_f64 table) {
    ml_f64 r;
    r.lo = _mm512_permutex2var_pd(table.lo, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(idx)),
                                  table.hi);
    r.hi = _mm512_permutex2var_pd(table.lo, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(idx, 1)),
                                  table.hi);
    return r;
}

#elif defined(__AVX2__)
#include <immintrin.h>
#define ML_ROWS 8
typedef __m256 ml_f32;
typedef __m256i ml_i32;
typedef struct { __m256d lo, hi; } ml_f64;
typedef __m256i ml_mask;  /* all ones or all zeros per 32-bit lane */

static inline ml_i32 ml_targets(const int64_t *t, int64_t n_classes, int *valid) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)t);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(t + 4));
    __m256i c = _mm256_set1_epi64x(n_classes), minus_one = _mm256_set1_epi64x(-1);
    __m256i ok = _mm256_and_si256(
        _mm256_and_si256(_mm256_cmpgt_epi64(lo, minus_one), _mm256_cmpgt_epi64(c, lo)),
        _mm256_and_si256(_mm256_cmpgt_epi64(hi, minus_one), _mm256_cmpgt_epi64(c, hi)));
    __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    *valid = _mm256_movemask_epi8(ok) == -1;
    return _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm256_castsi256_si128(_mm256_permutevar8x32_epi32(lo, low_halves))),
        _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(hi, low_halves)), 1);
}
static inline ml_i32 ml_iota_times(int32_t c) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(c));
}
static inline void ml_columns8(const float *x, int32_t stride, int32_t first, int32_t n,
                               ml_f32 *out) {
    /* out[k] = x[r * stride + first + k] in lane r (8 rows), k < min(n, 8):
     * 8 masked row loads and an 8 x 8 transpose */
    __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n < 8 ? n : 8),
                                   _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 r[8], t[8], u[8];
    int g, e;
    for (g = 0; g < 8; g++)
        r[g] = _mm256_maskload_ps(x + (intptr_t)g * stride + first, m);
    for (g = 0; g < 8; g += 2) {
        t[g] = _mm256_unpacklo_ps(r[g], r[g + 1]);
        t[g + 1] = _mm256_unpackhi_ps(r[g], r[g + 1]);
    }
    for (g = 0; g < 8; g += 4) {
        u[g] = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t[g]), _mm256_castps_pd(t[g + 2])));
        u[g + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t[g]), _mm256_castps_pd(t[g + 2])));
        u[g + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t[g + 1]), _mm256_castps_pd(t[g + 3])));
        u[g + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t[g + 1]), _mm256_castps_pd(t[g + 3])));
    }
    for (e = 0; e < 4; e++) {  /* column 4L + e: lane L of u[e] and of u[4 + e] */
        if (e < n) out[e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x20);
        if (4 + e < n) out[4 + e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x31);
    }
}
static inline void ml_columns(const float *x, int32_t stride, int32_t first, int32_t n,
                              ml_f32 *out) {
    /* as the AVX-512 version, 16 columns as two 8 x 8 transposes */
    ml_columns8(x, stride, first, n, out);
    if (n > 8)
        ml_columns8(x, stride, first + 8, n - 8, out + 8);
}
static inline void ml_store_lanes(float *p, ml_f32 a) { _mm256_storeu_ps(p, a); }
static inline void ml_store_columns(float *x, int32_t stride, int32_t n,
                                    const ml_f32 *cols) {
    /* x[r * stride + k] = cols[k][r] for the ML_ROWS rows r and k < n (the
     * kernel uses it only in the AVX-512 build; plain stores here) */
    float lanes[ML_ROWS];
    int r, k;
    for (k = 0; k < n; k++) {
        ml_store_lanes(lanes, cols[k]);
        for (r = 0; r < ML_ROWS; r++)
            x[(intptr_t)r * stride + k] = lanes[r];
    }
}
static inline ml_i32 ml_set1_i32(int32_t a) { return _mm256_set1_epi32(a); }
static inline ml_i32 ml_add_i32(ml_i32 a, ml_i32 b) { return _mm256_add_epi32(a, b); }
static inline ml_i32 ml_mul_i32(ml_i32 a, ml_i32 b) { return _mm256_mullo_epi32(a, b); }
static inline ml_i32 ml_load_i32(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline void ml_store_i32(int32_t *p, ml_i32 a) { _mm256_storeu_si256((__m256i *)p, a); }
static inline ml_f32 ml_gather_f32(const float *base, ml_i32 idx) {
    return _mm256_i32gather_ps(base, idx, 4);
}
static inline ml_f64 ml_gather_f64(const double *base, ml_i32 idx) {
    ml_f64 r;
    r.lo = _mm256_i32gather_pd(base, _mm256_castsi256_si128(idx), 8);
    r.hi = _mm256_i32gather_pd(base, _mm256_extracti128_si256(idx, 1), 8);
    return r;
}
static inline ml_f32 ml_set1_f32(float a) { return _mm256_set1_ps(a); }
static inline ml_f32 ml_add_f32(ml_f32 a, ml_f32 b) { return _mm256_add_ps(a, b); }
static inline ml_f32 ml_sub_f32(ml_f32 a, ml_f32 b) { return _mm256_sub_ps(a, b); }
static inline ml_f32 ml_max0_f32(ml_f32 z) { return _mm256_max_ps(z, _mm256_setzero_ps()); }
static inline ml_f32 ml_max0_nan_f32(ml_f32 z) { return _mm256_max_ps(_mm256_setzero_ps(), z); }
static inline ml_f32 ml_select_f32(ml_mask m, ml_f32 a, ml_f32 b) {
    return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m));
}
static inline ml_f32 ml_zero_unless_f32(ml_mask m, ml_f32 a) {
    return _mm256_and_ps(_mm256_castsi256_ps(m), a);
}
static inline void ml_store_f32(float *p, ml_f32 a) { _mm256_storeu_ps(p, a); }
static inline void ml_scatter_f32(float *base, ml_i32 idx, ml_f32 a) {
    /* base[idx[k]] = a[k]: AVX2 has no scatter, 8 scalar stores */
    int32_t i[8];
    float v[8];
    int k;
    _mm256_storeu_si256((__m256i *)i, idx);
    _mm256_storeu_ps(v, a);
    for (k = 0; k < 8; k++)
        base[i[k]] = v[k];
}
static inline ml_mask ml_gt_f32(ml_f32 a, ml_f32 b) {
    return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ));
}
static inline ml_mask ml_isnan_f32(ml_f32 a) {
    return _mm256_castps_si256(_mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}
static inline ml_f32 ml_or_f32(ml_f32 a, ml_f32 b) { return _mm256_or_ps(a, b); }
static inline ml_mask ml_neq_i32(ml_i32 a, ml_i32 b) {
    return _mm256_xor_si256(_mm256_cmpeq_epi32(a, b), _mm256_set1_epi32(-1));
}
static inline ml_mask ml_eq_i32(ml_i32 a, ml_i32 b) { return _mm256_cmpeq_epi32(a, b); }
static inline ml_i32 ml_permute_i32(ml_i32 idx, ml_i32 table) {
    return _mm256_permutevar8x32_epi32(table, idx);
}
static inline ml_mask ml_or(ml_mask a, ml_mask b) { return _mm256_or_si256(a, b); }
static inline ml_mask ml_and(ml_mask a, ml_mask b) { return _mm256_and_si256(a, b); }
static inline int ml_bits(ml_mask a) { return _mm256_movemask_ps(_mm256_castsi256_ps(a)); }
static inline ml_i32 ml_count(ml_i32 n, ml_mask m) { return _mm256_sub_epi32(n, m); }
static inline ml_f64 ml_set1_f64(double a) {
    ml_f64 r; r.lo = r.hi = _mm256_set1_pd(a); return r;
}
static inline ml_f64 ml_add_f64(ml_f64 a, ml_f64 b) {
    ml_f64 r; r.lo = _mm256_add_pd(a.lo, b.lo); r.hi = _mm256_add_pd(a.hi, b.hi); return r;
}
static inline ml_f64 ml_sub_f64(ml_f64 a, ml_f64 b) {
    ml_f64 r; r.lo = _mm256_sub_pd(a.lo, b.lo); r.hi = _mm256_sub_pd(a.hi, b.hi); return r;
}
static inline ml_f64 ml_mul_f64(ml_f64 a, ml_f64 b) {
    ml_f64 r; r.lo = _mm256_mul_pd(a.lo, b.lo); r.hi = _mm256_mul_pd(a.hi, b.hi); return r;
}
static inline ml_f64 ml_div_f64(ml_f64 a, ml_f64 b) {
    ml_f64 r; r.lo = _mm256_div_pd(a.lo, b.lo); r.hi = _mm256_div_pd(a.hi, b.hi); return r;
}
static inline ml_f64 ml_cvt_f64(ml_f32 a) {
    ml_f64 r;
    r.lo = _mm256_cvtps_pd(_mm256_castps256_ps128(a));
    r.hi = _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1));
    return r;
}
static inline ml_f64 ml_cvt_i32_f64(ml_i32 a) {
    ml_f64 r;
    r.lo = _mm256_cvtepi32_pd(_mm256_castsi256_si128(a));
    r.hi = _mm256_cvtepi32_pd(_mm256_extracti128_si256(a, 1));
    return r;
}
static inline ml_f32 ml_cvt_f32(ml_f64 a) {
    return _mm256_set_m128(_mm256_cvtpd_ps(a.hi), _mm256_cvtpd_ps(a.lo));
}
static inline ml_f64 ml_load_f64(const double *p) {
    ml_f64 r; r.lo = _mm256_loadu_pd(p); r.hi = _mm256_loadu_pd(p + 4); return r;
}
static inline void ml_store_f64(double *p, ml_f64 a) {
    _mm256_storeu_pd(p, a.lo); _mm256_storeu_pd(p + 4, a.hi);
}
static inline ml_f32 ml_load_f32(const float *p) { return _mm256_loadu_ps(p); }
/* float64 rows: ML_ROWS doubles; a mask of 32-bit lanes widens to 64-bit halves */
static inline ml_mask ml_join_f64_masks(__m256d lo, __m256d hi) {
    __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    return _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm256_castsi256_si128(
            _mm256_permutevar8x32_epi32(_mm256_castpd_si256(lo), low_halves))),
        _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(hi), low_halves)),
        1);
}
static inline ml_mask ml_gt_f64(ml_f64 a, ml_f64 b) {
    return ml_join_f64_masks(_mm256_cmp_pd(a.lo, b.lo, _CMP_GT_OQ),
                             _mm256_cmp_pd(a.hi, b.hi, _CMP_GT_OQ));
}
static inline ml_mask ml_nonfinite_f64(ml_f64 a) {
    __m256d lo = _mm256_sub_pd(a.lo, a.lo), hi = _mm256_sub_pd(a.hi, a.hi);
    return ml_join_f64_masks(_mm256_cmp_pd(lo, lo, _CMP_UNORD_Q),
                             _mm256_cmp_pd(hi, hi, _CMP_UNORD_Q));
}
static inline ml_mask ml_isnan_f64(ml_f64 a) {
    return ml_join_f64_masks(_mm256_cmp_pd(a.lo, a.lo, _CMP_UNORD_Q),
                             _mm256_cmp_pd(a.hi, a.hi, _CMP_UNORD_Q));
}
static inline ml_f64 ml_max0_f64(ml_f64 z) {
    ml_f64 r;
    r.lo = _mm256_max_pd(z.lo, _mm256_setzero_pd());
    r.hi = _mm256_max_pd(z.hi, _mm256_setzero_pd());
    return r;
}
static inline ml_f64 ml_max0_nan_f64(ml_f64 z) {
    ml_f64 r;
    r.lo = _mm256_max_pd(_mm256_setzero_pd(), z.lo);
    r.hi = _mm256_max_pd(_mm256_setzero_pd(), z.hi);
    return r;
}
static inline ml_f64 ml_select_f64(ml_mask m, ml_f64 a, ml_f64 b) {
    ml_f64 r;
    r.lo = _mm256_blendv_pd(b.lo, a.lo, _mm256_castsi256_pd(
        _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m))));
    r.hi = _mm256_blendv_pd(b.hi, a.hi, _mm256_castsi256_pd(
        _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1))));
    return r;
}
static inline ml_mask ml_lt_i32(ml_i32 a, ml_i32 b) { return _mm256_cmpgt_epi32(b, a); }
static inline ml_f32 ml_permute_f32(ml_i32 idx, ml_f32 table) {
    return _mm256_permutevar8x32_ps(table, idx);
}
static inline __m256d ml_permute_half_f64(__m128i idx, ml_f64 table) {
    /* four doubles table[idx[k]] of eight: each double is two 32-bit
     * halves, permuted from both table registers and blended */
    __m256i v = _mm256_cvtepi32_epi64(idx);
    __m256i e = _mm256_slli_epi64(_mm256_and_si256(v, _mm256_set1_epi64x(3)), 1);
    __m256i pair = _mm256_add_epi64(
        e, _mm256_slli_epi64(_mm256_add_epi64(e, _mm256_set1_epi64x(1)), 32));
    __m256 from_lo = _mm256_permutevar8x32_ps(_mm256_castpd_ps(table.lo), pair);
    __m256 from_hi = _mm256_permutevar8x32_ps(_mm256_castpd_ps(table.hi), pair);
    __m256i high = _mm256_cmpgt_epi64(v, _mm256_set1_epi64x(3));
    return _mm256_blendv_pd(_mm256_castps_pd(from_lo), _mm256_castps_pd(from_hi),
                            _mm256_castsi256_pd(high));
}
static inline ml_f64 ml_permute_f64(ml_i32 idx, ml_f64 table) {
    ml_f64 r;
    r.lo = ml_permute_half_f64(_mm256_castsi256_si128(idx), table);
    r.hi = ml_permute_half_f64(_mm256_extracti128_si256(idx, 1), table);
    return r;
}

#else
/* One row of plain C.  The kernel takes its row loop on such a build; these
 * only make the block code compile (and are correct, for one row). */
#define ML_ROWS 1
typedef float ml_f32;
typedef int32_t ml_i32;
typedef struct { double lo, hi; } ml_f64;  /* hi unused */
typedef int ml_mask;

static inline ml_i32 ml_targets(const int64_t *t, int64_t n_classes, int *valid) {
    *valid = (uint64_t)t[0] < (uint64_t)n_classes;
    return (int32_t)t[0];
}
static inline ml_i32 ml_iota_times(int32_t c) { (void)c; return 0; }
static inline void ml_columns(const float *x, int32_t stride, int32_t first, int32_t n,
                              ml_f32 *out) {
    int k;
    (void)stride;
    for (k = 0; k < n && k < 16; k++)
        out[k] = x[first + k];
}
static inline void ml_store_lanes(float *p, ml_f32 a) { *p = a; }
static inline void ml_store_columns(float *x, int32_t stride, int32_t n,
                                    const ml_f32 *cols) {
    /* x[r * stride + k] = cols[k][r] for the ML_ROWS rows r and k < n (the
     * kernel uses it only in the AVX-512 build; plain stores here) */
    float lanes[ML_ROWS];
    int r, k;
    for (k = 0; k < n; k++) {
        ml_store_lanes(lanes, cols[k]);
        for (r = 0; r < ML_ROWS; r++)
            x[(intptr_t)r * stride + k] = lanes[r];
    }
}
static inline ml_i32 ml_set1_i32(int32_t a) { return a; }
static inline ml_i32 ml_add_i32(ml_i32 a, ml_i32 b) { return a + b; }
static inline ml_i32 ml_mul_i32(ml_i32 a, ml_i32 b) { return a * b; }
static inline ml_i32 ml_load_i32(const int32_t *p) { return *p; }
static inline void ml_store_i32(int32_t *p, ml_i32 a) { *p = a; }
static inline ml_f32 ml_gather_f32(const float *base, ml_i32 idx) { return base[idx]; }
static inline ml_f64 ml_gather_f64(const double *base, ml_i32 idx) {
    ml_f64 r; r.lo = r.hi = base[idx]; return r;
}
static inline ml_f32 ml_set1_f32(float a) { return a; }
static inline ml_f32 ml_add_f32(ml_f32 a, ml_f32 b) { return a + b; }
static inline ml_f32 ml_sub_f32(ml_f32 a, ml_f32 b) { return a - b; }
static inline ml_f32 ml_max0_f32(ml_f32 z) { return z > 0.0f ? z : 0.0f; }
static inline ml_f32 ml_max0_nan_f32(ml_f32 z) { return 0.0f > z ? 0.0f : z; }
static inline ml_f32 ml_select_f32(ml_mask m, ml_f32 a, ml_f32 b) { return m ? a : b; }
static inline ml_f32 ml_zero_unless_f32(ml_mask m, ml_f32 a) { return m ? a : 0.0f; }
static inline void ml_store_f32(float *p, ml_f32 a) { *p = a; }
static inline void ml_scatter_f32(float *base, ml_i32 idx, ml_f32 a) { base[idx] = a; }
static inline ml_mask ml_gt_f32(ml_f32 a, ml_f32 b) { return a > b; }
static inline ml_mask ml_isnan_f32(ml_f32 a) { return a != a; }
static inline ml_mask ml_isnan_f64(ml_f64 a) { return a.lo != a.lo; }
static inline ml_f32 ml_or_f32(ml_f32 a, ml_f32 b) {
    union { float f; uint32_t u; } x, y;
    x.f = a; y.f = b; x.u |= y.u;
    return x.f;
}
static inline ml_mask ml_neq_i32(ml_i32 a, ml_i32 b) { return a != b; }
static inline ml_mask ml_eq_i32(ml_i32 a, ml_i32 b) { return a == b; }
static inline ml_i32 ml_permute_i32(ml_i32 idx, ml_i32 table) { (void)idx; return table; }
static inline ml_mask ml_or(ml_mask a, ml_mask b) { return a | b; }
static inline ml_mask ml_and(ml_mask a, ml_mask b) { return a & b; }
static inline int ml_bits(ml_mask a) { return a; }
static inline ml_i32 ml_count(ml_i32 n, ml_mask m) { return n + (m != 0); }
static inline ml_f64 ml_set1_f64(double a) { ml_f64 r; r.lo = r.hi = a; return r; }
static inline ml_f64 ml_add_f64(ml_f64 a, ml_f64 b) { a.lo += b.lo; return a; }
static inline ml_f64 ml_sub_f64(ml_f64 a, ml_f64 b) { a.lo -= b.lo; return a; }
static inline ml_f64 ml_mul_f64(ml_f64 a, ml_f64 b) { a.lo *= b.lo; return a; }
static inline ml_f64 ml_div_f64(ml_f64 a, ml_f64 b) { a.lo /= b.lo; return a; }
static inline ml_f64 ml_cvt_f64(ml_f32 a) { ml_f64 r; r.lo = r.hi = a; return r; }
static inline ml_f64 ml_cvt_i32_f64(ml_i32 a) { ml_f64 r; r.lo = r.hi = a; return r; }
static inline ml_f32 ml_cvt_f32(ml_f64 a) { return (float)a.lo; }
static inline ml_f64 ml_load_f64(const double *p) { ml_f64 r; r.lo = r.hi = *p; return r; }
static inline void ml_store_f64(double *p, ml_f64 a) { *p = a.lo; }
static inline ml_f32 ml_load_f32(const float *p) { return *p; }
static inline ml_mask ml_gt_f64(ml_f64 a, ml_f64 b) { return a.lo > b.lo; }
static inline ml_mask ml_nonfinite_f64(ml_f64 a) { return (a.lo - a.lo) != (a.lo - a.lo); }
static inline ml_f64 ml_max0_f64(ml_f64 z) { z.lo = z.lo > 0.0 ? z.lo : 0.0; return z; }
static inline ml_f64 ml_max0_nan_f64(ml_f64 z) { z.lo = 0.0 > z.lo ? 0.0 : z.lo; return z; }
static inline ml_f64 ml_select_f64(ml_mask m, ml_f64 a, ml_f64 b) { return m ? a : b; }
static inline ml_mask ml_lt_i32(ml_i32 a, ml_i32 b) { return a < b; }
static inline ml_f32 ml_permute_f32(ml_i32 idx, ml_f32 table) { (void)idx; return table; }
static inline ml_f64 ml_permute_f64(ml_i32 idx, ml_f64 table) { (void)idx; return table; }
#endif

/* Ask for the cache lines of [base + offset, base + offset + n_bytes), to read
 * (a later block's scores) or to write (its gradient).  The address is formed
 * in integer arithmetic: a block two ahead may lie past the array's end, where
 * pointer arithmetic would be undefined; a prefetch of any address never faults. */
static inline void ml_prefetch(const void *base, intptr_t offset, int n_bytes) {
    uintptr_t address = (uintptr_t)base + (uintptr_t)offset;
    int i;
    for (i = 0; i < n_bytes; i += 64)
        __builtin_prefetch((const void *)(address + (uintptr_t)i), 0, 3);
}
static inline void ml_prefetch_write(void *base, intptr_t offset, int n_bytes) {
    uintptr_t address = (uintptr_t)base + (uintptr_t)offset;
    int i;
    for (i = 0; i < n_bytes; i += 64)
        __builtin_prefetch((void *)(address + (uintptr_t)i), 1, 3);
}

#endif
