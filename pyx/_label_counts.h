/* Groups of LC_GROUP = 16 classes: the few vector operations of the multi-label
 * counting pass (_multilabel_margin.pyx, float32 scores) that Cython cannot
 * write (compare masks, their counts, converts).  Each function is one or two
 * intrinsics; the arithmetic and its order are in the .pyx.
 *
 *   lc_f32  16 floats     lc_i32  16 int32     lc_f64  16 doubles
 *
 * Every build has the same 16 lanes, so the same lane sums in the same order:
 * AVX-512 (F, BW, DQ, VL) holds a group in one register (two for doubles),
 * AVX2 in two (four), other targets in plain C arrays.  Every operation
 * rounds as its scalar C form.  The one fused multiply-add, lc_fmadd_f64, is
 * called with exact products only (a count times a float32 score), so it
 * rounds once, as mul + add does: the same bits with or without FMA.
 */
#ifndef MARGINLOSS_LABEL_COUNTS_H
#define MARGINLOSS_LABEL_COUNTS_H

#include <stdint.h>
#include <string.h>

#define LC_GROUP 16
/* entries of a lc_store_lookup table */
#define LC_TABLE 32

/* lc_lanes_total: the compensated sum of the 16 lanes (total[l], error[l]):
 * for w = 8, 4, 2, 1, lane l < w takes lane l + w by TwoSum,
 *     s = t[l] + t[l+w];  b = s - t[l];
 *     e[l] = e[l] + (e[l+w] + ((t[l] - (s - b)) + (t[l+w] - b)));  t[l] = s;
 * then t[0] + e[0]: the same operations, lane for lane, in every build. */
#define LC_FOLD(add, sub, t, e, a, ea, s, b) do {                             \
        s = add(t, a);                                                      \
        b = sub(s, t);                                                      \
        e = add(e, add(ea, add(sub(t, sub(s, b)), sub(a, b))));             \
        t = s;                                                              \
    } while (0)
#define LC_ADD_SD(x, y) ((x) + (y))
#define LC_SUB_SD(x, y) ((x) - (y))

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) \
    && defined(__AVX512VL__)
#include <immintrin.h>
typedef __m512 lc_f32;
typedef __m512i lc_i32;
typedef struct { __m512d lo, hi; } lc_f64;

static inline lc_f32 lc_load_f32(const float *p) { return _mm512_loadu_ps(p); }
static inline lc_i32 lc_zero_i32(void) { return _mm512_setzero_si512(); }
typedef __mmask16 lc_mask;
static inline lc_mask lc_gt(lc_f32 v, float t) {
    /* lane l: v[l] > t */
    return _mm512_cmp_ps_mask(v, _mm512_set1_ps(t), _CMP_GT_OQ);
}
static inline lc_i32 lc_add_mask(lc_i32 count, lc_mask m) {
    /* count[l] + m[l] */
    return _mm512_mask_sub_epi32(count, m, count, _mm512_set1_epi32(-1));
}
static inline lc_mask lc_gt_where(lc_f32 v, float t, lc_mask where) {
    /* lane l: where[l] and v[l] > t */
    return _mm512_mask_cmp_ps_mask(where, v, _mm512_set1_ps(t), _CMP_GT_OQ);
}
static inline lc_mask lc_unflagged(const unsigned char *flag) {
    /* lane l: flag[l] == 0 */
    __m128i f = _mm_loadu_si128((const __m128i *)flag);
    return _mm_testn_epi8_mask(f, f);
}
static inline int lc_mask_count(lc_mask m) { return __builtin_popcount(_cvtmask16_u32(m)); }
static inline int lc_beyond(lc_f32 v, float bound) {
    /* whether a lane is NaN or |v| > bound */
    __m512 a = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v),
                                                    _mm512_set1_epi32(0x7FFFFFFF)));
    return _mm512_cmp_ps_mask(a, _mm512_set1_ps(bound), _CMP_LE_OQ) != 0xFFFF;
}
static inline lc_i32 lc_zero_where(lc_i32 a, const unsigned char *flag) {
    /* a[l], or 0 where flag[l] != 0 */
    __mmask16 m = _mm_test_epi8_mask(_mm_loadu_si128((const __m128i *)flag),
                                     _mm_set1_epi8(-1));
    return _mm512_maskz_mov_epi32((__mmask16)~m, a);
}
static inline lc_f64 lc_cvt_i32_f64(lc_i32 a) {
    lc_f64 r;
    r.lo = _mm512_cvtepi32_pd(_mm512_castsi512_si256(a));
    r.hi = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(a, 1));
    return r;
}
static inline lc_f64 lc_cvt_f32_f64(lc_f32 a) {
    lc_f64 r;
    r.lo = _mm512_cvtps_pd(_mm512_castps512_ps256(a));
    r.hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    return r;
}
static inline lc_f64 lc_set1_f64(double a) {
    lc_f64 r;
    r.lo = r.hi = _mm512_set1_pd(a);
    return r;
}
static inline lc_f64 lc_add_f64(lc_f64 a, lc_f64 b) {
    lc_f64 r;
    r.lo = _mm512_add_pd(a.lo, b.lo);
    r.hi = _mm512_add_pd(a.hi, b.hi);
    return r;
}
static inline lc_f64 lc_sub_f64(lc_f64 a, lc_f64 b) {
    lc_f64 r;
    r.lo = _mm512_sub_pd(a.lo, b.lo);
    r.hi = _mm512_sub_pd(a.hi, b.hi);
    return r;
}
static inline lc_f64 lc_mul_f64(lc_f64 a, lc_f64 b) {
    lc_f64 r;
    r.lo = _mm512_mul_pd(a.lo, b.lo);
    r.hi = _mm512_mul_pd(a.hi, b.hi);
    return r;
}
static inline lc_f64 lc_fmadd_f64(lc_f64 a, lc_f64 b, lc_f64 c) {
    /* a * b + c for exact products a * b: rounded once, the bits of mul + add */
    lc_f64 r;
    r.lo = _mm512_fmadd_pd(a.lo, b.lo, c.lo);
    r.hi = _mm512_fmadd_pd(a.hi, b.hi, c.hi);
    return r;
}
static inline lc_i32 lc_max_abs_bits(lc_i32 m, lc_f32 v) {
    /* max(m[l], the bits of |v[l]|): ordered as |v| (NaN above inf) */
    return _mm512_max_epi32(m, _mm512_and_si512(_mm512_castps_si512(v),
                                                _mm512_set1_epi32(0x7FFFFFFF)));
}
static inline int32_t lc_max_lane(lc_i32 m) { return _mm512_reduce_max_epi32(m); }
static inline double lc_lanes_sum(lc_f64 t) {
    /* plain fold: for w = 8, 4, 2, 1, lane l < w adds lane l + w */
    __m512d t8 = _mm512_add_pd(t.lo, t.hi);
    __m256d t4 = _mm256_add_pd(_mm512_castpd512_pd256(t8), _mm512_extractf64x4_pd(t8, 1));
    __m128d t2 = _mm_add_pd(_mm256_castpd256_pd128(t4), _mm256_extractf128_pd(t4, 1));
    return _mm_cvtsd_f64(t2) + _mm_cvtsd_f64(_mm_unpackhi_pd(t2, t2));
}
static inline void lc_store_f64(double *p, lc_f64 a) {
    _mm512_storeu_pd(p, a.lo);
    _mm512_storeu_pd(p + 8, a.hi);
}
static inline lc_f64 lc_load_f64(const double *p) {
    lc_f64 r;
    r.lo = _mm512_loadu_pd(p);
    r.hi = _mm512_loadu_pd(p + 8);
    return r;
}
static inline lc_f64 lc_with_lane(lc_f64 a, int lane, double value) {
    /* a with lane `lane` set to value */
    if (lane < 8)
        a.lo = _mm512_mask_broadcastsd_pd(a.lo, (__mmask8)(1u << lane), _mm_set_sd(value));
    else
        a.hi = _mm512_mask_broadcastsd_pd(a.hi, (__mmask8)(1u << (lane - 8)), _mm_set_sd(value));
    return a;
}
/* one fold step (below) on registers of any width */
static inline double lc_lanes_total(lc_f64 total, lc_f64 error) {
    __m512d t8 = total.lo, e8 = error.lo, s8, b8;
    __m256d t4, e4, a4, ea4, s4, b4;
    __m128d t2, e2, a2, ea2, s2, b2;
    double t1, e1, a1, ea1, s1, b1;
    LC_FOLD(_mm512_add_pd, _mm512_sub_pd, t8, e8, total.hi, error.hi, s8, b8);
    t4 = _mm512_castpd512_pd256(t8);
    e4 = _mm512_castpd512_pd256(e8);
    a4 = _mm512_extractf64x4_pd(t8, 1);
    ea4 = _mm512_extractf64x4_pd(e8, 1);
    LC_FOLD(_mm256_add_pd, _mm256_sub_pd, t4, e4, a4, ea4, s4, b4);
    t2 = _mm256_castpd256_pd128(t4);
    e2 = _mm256_castpd256_pd128(e4);
    a2 = _mm256_extractf128_pd(t4, 1);
    ea2 = _mm256_extractf128_pd(e4, 1);
    LC_FOLD(_mm_add_pd, _mm_sub_pd, t2, e2, a2, ea2, s2, b2);
    t1 = _mm_cvtsd_f64(t2);
    e1 = _mm_cvtsd_f64(e2);
    a1 = _mm_cvtsd_f64(_mm_unpackhi_pd(t2, t2));
    ea1 = _mm_cvtsd_f64(_mm_unpackhi_pd(e2, e2));
    LC_FOLD(LC_ADD_SD, LC_SUB_SD, t1, e1, a1, ea1, s1, b1);
    return t1 + e1;
}
static inline void lc_store_f32(float *p, lc_f64 a) {
    /* the 16 doubles rounded to float */
    _mm256_storeu_ps(p, _mm512_cvtpd_ps(a.lo));
    _mm256_storeu_ps(p + 8, _mm512_cvtpd_ps(a.hi));
}
static inline void lc_store_lookup(float *p, const float *table, lc_i32 index) {
    /* p[l] = table[index[l]], index[l] < LC_TABLE */
    _mm512_storeu_ps(p, _mm512_permutex2var_ps(_mm512_loadu_ps(table), index,
                                               _mm512_loadu_ps(table + 16)));
}
static inline uint64_t lc_nonzero_bytes(const unsigned char *p) {
    /* bit b: p[b] != 0, for 64 bytes */
    __m512i v = _mm512_loadu_si512((const void *)p);
    return (uint64_t)_mm512_test_epi8_mask(v, v);
}

#elif defined(__AVX2__)
#include <immintrin.h>
typedef struct { __m256 a, b; } lc_f32;
typedef struct { __m256i a, b; } lc_i32;
typedef struct { __m256d a, b, c, d; } lc_f64;

static inline lc_f32 lc_load_f32(const float *p) {
    lc_f32 r;
    r.a = _mm256_loadu_ps(p);
    r.b = _mm256_loadu_ps(p + 8);
    return r;
}
static inline lc_i32 lc_zero_i32(void) {
    lc_i32 r;
    r.a = r.b = _mm256_setzero_si256();
    return r;
}
typedef struct { __m256 a, b; } lc_mask;  /* true lanes all ones */
static inline lc_mask lc_gt(lc_f32 v, float t) {
    __m256 s = _mm256_set1_ps(t);
    lc_mask m;
    m.a = _mm256_cmp_ps(v.a, s, _CMP_GT_OQ);
    m.b = _mm256_cmp_ps(v.b, s, _CMP_GT_OQ);
    return m;
}
static inline lc_i32 lc_add_mask(lc_i32 count, lc_mask m) {
    count.a = _mm256_sub_epi32(count.a, _mm256_castps_si256(m.a));  /* true lanes are -1 */
    count.b = _mm256_sub_epi32(count.b, _mm256_castps_si256(m.b));
    return count;
}
static inline int lc_mask_count(lc_mask m) {
    return __builtin_popcount((unsigned)(_mm256_movemask_ps(m.a)
                                         | (_mm256_movemask_ps(m.b) << 8)));
}
static inline lc_mask lc_unflagged(const unsigned char *flag) {
    __m128i f = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)flag), _mm_setzero_si128());
    lc_mask m;  /* f: 0xFF where the flag is 0; widened to 32-bit lanes */
    m.a = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(f));
    m.b = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(f, 8)));
    return m;
}
static inline lc_mask lc_gt_where(lc_f32 v, float t, lc_mask where) {
    lc_mask m = lc_gt(v, t);
    m.a = _mm256_and_ps(m.a, where.a);
    m.b = _mm256_and_ps(m.b, where.b);
    return m;
}
static inline int lc_beyond(lc_f32 v, float bound) {
    __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 s = _mm256_set1_ps(bound);
    __m256 ok = _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(v.a, abs_mask), s, _CMP_LE_OQ),
                              _mm256_cmp_ps(_mm256_and_ps(v.b, abs_mask), s, _CMP_LE_OQ));
    return _mm256_movemask_ps(ok) != 0xFF;
}
static inline lc_i32 lc_zero_where(lc_i32 a, const unsigned char *flag) {
    __m128i f = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)flag), _mm_setzero_si128());
    lc_i32 r;  /* f: 0xFF where the flag is 0; widened to 32-bit lanes */
    r.a = _mm256_and_si256(a.a, _mm256_cvtepi8_epi32(f));
    r.b = _mm256_and_si256(a.b, _mm256_cvtepi8_epi32(_mm_srli_si128(f, 8)));
    return r;
}
static inline lc_f64 lc_cvt_i32_f64(lc_i32 a) {
    lc_f64 r;
    r.a = _mm256_cvtepi32_pd(_mm256_castsi256_si128(a.a));
    r.b = _mm256_cvtepi32_pd(_mm256_extracti128_si256(a.a, 1));
    r.c = _mm256_cvtepi32_pd(_mm256_castsi256_si128(a.b));
    r.d = _mm256_cvtepi32_pd(_mm256_extracti128_si256(a.b, 1));
    return r;
}
static inline lc_f64 lc_cvt_f32_f64(lc_f32 a) {
    lc_f64 r;
    r.a = _mm256_cvtps_pd(_mm256_castps256_ps128(a.a));
    r.b = _mm256_cvtps_pd(_mm256_extractf128_ps(a.a, 1));
    r.c = _mm256_cvtps_pd(_mm256_castps256_ps128(a.b));
    r.d = _mm256_cvtps_pd(_mm256_extractf128_ps(a.b, 1));
    return r;
}
static inline lc_f64 lc_set1_f64(double a) {
    lc_f64 r;
    r.a = r.b = r.c = r.d = _mm256_set1_pd(a);
    return r;
}
static inline lc_f64 lc_add_f64(lc_f64 x, lc_f64 y) {
    lc_f64 r;
    r.a = _mm256_add_pd(x.a, y.a);
    r.b = _mm256_add_pd(x.b, y.b);
    r.c = _mm256_add_pd(x.c, y.c);
    r.d = _mm256_add_pd(x.d, y.d);
    return r;
}
static inline lc_f64 lc_sub_f64(lc_f64 x, lc_f64 y) {
    lc_f64 r;
    r.a = _mm256_sub_pd(x.a, y.a);
    r.b = _mm256_sub_pd(x.b, y.b);
    r.c = _mm256_sub_pd(x.c, y.c);
    r.d = _mm256_sub_pd(x.d, y.d);
    return r;
}
static inline lc_f64 lc_mul_f64(lc_f64 x, lc_f64 y) {
    lc_f64 r;
    r.a = _mm256_mul_pd(x.a, y.a);
    r.b = _mm256_mul_pd(x.b, y.b);
    r.c = _mm256_mul_pd(x.c, y.c);
    r.d = _mm256_mul_pd(x.d, y.d);
    return r;
}
static inline lc_f64 lc_fmadd_f64(lc_f64 x, lc_f64 y, lc_f64 z) {
    /* x * y + z for exact products x * y: rounded once, fused or not (-mfma) */
    lc_f64 r;
#if defined(__FMA__)
    r.a = _mm256_fmadd_pd(x.a, y.a, z.a);
    r.b = _mm256_fmadd_pd(x.b, y.b, z.b);
    r.c = _mm256_fmadd_pd(x.c, y.c, z.c);
    r.d = _mm256_fmadd_pd(x.d, y.d, z.d);
#else
    r.a = _mm256_add_pd(_mm256_mul_pd(x.a, y.a), z.a);
    r.b = _mm256_add_pd(_mm256_mul_pd(x.b, y.b), z.b);
    r.c = _mm256_add_pd(_mm256_mul_pd(x.c, y.c), z.c);
    r.d = _mm256_add_pd(_mm256_mul_pd(x.d, y.d), z.d);
#endif
    return r;
}
static inline lc_i32 lc_max_abs_bits(lc_i32 m, lc_f32 v) {
    __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
    m.a = _mm256_max_epi32(m.a, _mm256_and_si256(_mm256_castps_si256(v.a), abs_mask));
    m.b = _mm256_max_epi32(m.b, _mm256_and_si256(_mm256_castps_si256(v.b), abs_mask));
    return m;
}
static inline int32_t lc_max_lane(lc_i32 m) {
    __m256i a = _mm256_max_epi32(m.a, m.b);
    __m128i b = _mm_max_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    b = _mm_max_epi32(b, _mm_shuffle_epi32(b, _MM_SHUFFLE(1, 0, 3, 2)));
    b = _mm_max_epi32(b, _mm_shuffle_epi32(b, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(b);
}
static inline double lc_lanes_sum(lc_f64 x) {
    __m256d t4 = _mm256_add_pd(_mm256_add_pd(x.a, x.c), _mm256_add_pd(x.b, x.d));
    __m128d t2 = _mm_add_pd(_mm256_castpd256_pd128(t4), _mm256_extractf128_pd(t4, 1));
    return _mm_cvtsd_f64(t2) + _mm_cvtsd_f64(_mm_unpackhi_pd(t2, t2));
}
static inline void lc_store_f64(double *p, lc_f64 x) {
    _mm256_storeu_pd(p, x.a);
    _mm256_storeu_pd(p + 4, x.b);
    _mm256_storeu_pd(p + 8, x.c);
    _mm256_storeu_pd(p + 12, x.d);
}
static inline lc_f64 lc_load_f64(const double *p) {
    lc_f64 r;
    r.a = _mm256_loadu_pd(p);
    r.b = _mm256_loadu_pd(p + 4);
    r.c = _mm256_loadu_pd(p + 8);
    r.d = _mm256_loadu_pd(p + 12);
    return r;
}
static inline lc_f64 lc_with_lane(lc_f64 x, int lane, double value) {
    __m256d v = _mm256_set1_pd(value);
    __m256d at = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_setr_epi64x(0, 1, 2, 3),
                                                         _mm256_set1_epi64x(lane & 3)));
    switch (lane >> 2) {
    case 0: x.a = _mm256_blendv_pd(x.a, v, at); break;
    case 1: x.b = _mm256_blendv_pd(x.b, v, at); break;
    case 2: x.c = _mm256_blendv_pd(x.c, v, at); break;
    default: x.d = _mm256_blendv_pd(x.d, v, at); break;
    }
    return x;
}

static inline double lc_lanes_total(lc_f64 total, lc_f64 error) {
    __m256d t4 = total.a, e4 = error.a, t4b = total.b, e4b = error.b, s4, b4;
    __m128d t2, e2, a2, ea2, s2, b2;
    double t1, e1, a1, ea1, s1, b1;
    LC_FOLD(_mm256_add_pd, _mm256_sub_pd, t4, e4, total.c, error.c, s4, b4);    /* lanes 0-3 */
    LC_FOLD(_mm256_add_pd, _mm256_sub_pd, t4b, e4b, total.d, error.d, s4, b4);  /* lanes 4-7 */
    LC_FOLD(_mm256_add_pd, _mm256_sub_pd, t4, e4, t4b, e4b, s4, b4);
    t2 = _mm256_castpd256_pd128(t4);
    e2 = _mm256_castpd256_pd128(e4);
    a2 = _mm256_extractf128_pd(t4, 1);
    ea2 = _mm256_extractf128_pd(e4, 1);
    LC_FOLD(_mm_add_pd, _mm_sub_pd, t2, e2, a2, ea2, s2, b2);
    t1 = _mm_cvtsd_f64(t2);
    e1 = _mm_cvtsd_f64(e2);
    a1 = _mm_cvtsd_f64(_mm_unpackhi_pd(t2, t2));
    ea1 = _mm_cvtsd_f64(_mm_unpackhi_pd(e2, e2));
    LC_FOLD(LC_ADD_SD, LC_SUB_SD, t1, e1, a1, ea1, s1, b1);
    return t1 + e1;
}
static inline void lc_store_f32(float *p, lc_f64 x) {
    _mm256_storeu_ps(p, _mm256_setr_m128(_mm256_cvtpd_ps(x.a), _mm256_cvtpd_ps(x.b)));
    _mm256_storeu_ps(p + 8, _mm256_setr_m128(_mm256_cvtpd_ps(x.c), _mm256_cvtpd_ps(x.d)));
}
static inline void lc_store_lookup(float *p, const float *table, lc_i32 index) {
    _mm256_storeu_ps(p, _mm256_i32gather_ps(table, index.a, 4));
    _mm256_storeu_ps(p + 8, _mm256_i32gather_ps(table, index.b, 4));
}
static inline uint64_t lc_nonzero_bytes(const unsigned char *p) {
    __m256i zero = _mm256_setzero_si256();
    uint32_t lo = (uint32_t)_mm256_movemask_epi8(
        _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)p), zero));
    uint32_t hi = (uint32_t)_mm256_movemask_epi8(
        _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + 32)), zero));
    return ~(((uint64_t)hi << 32) | lo);
}

#else
/* plain C, 16 lanes in arrays (GCC vectorises the loops for the baseline ISA) */
typedef struct { float v[LC_GROUP]; } lc_f32;
typedef struct { int32_t v[LC_GROUP]; } lc_i32;
typedef struct { double v[LC_GROUP]; } lc_f64;

static inline lc_f32 lc_load_f32(const float *p) {
    lc_f32 r;
    int l;
    for (l = 0; l < LC_GROUP; l++) r.v[l] = p[l];
    return r;
}
static inline lc_i32 lc_zero_i32(void) {
    lc_i32 r;
    int l;
    for (l = 0; l < LC_GROUP; l++) r.v[l] = 0;
    return r;
}
typedef struct { int32_t v[LC_GROUP]; } lc_mask;  /* 0 or 1 a lane */
static inline lc_mask lc_gt(lc_f32 v, float t) {
    lc_mask m;
    int l;
    for (l = 0; l < LC_GROUP; l++) m.v[l] = v.v[l] > t;
    return m;
}
static inline lc_i32 lc_add_mask(lc_i32 count, lc_mask m) {
    int l;
    for (l = 0; l < LC_GROUP; l++) count.v[l] += m.v[l];
    return count;
}
static inline int lc_mask_count(lc_mask m) {
    int l, n = 0;
    for (l = 0; l < LC_GROUP; l++) n += m.v[l];
    return n;
}
static inline lc_mask lc_unflagged(const unsigned char *flag) {
    lc_mask m;
    int l;
    for (l = 0; l < LC_GROUP; l++) m.v[l] = flag[l] == 0;
    return m;
}
static inline lc_mask lc_gt_where(lc_f32 v, float t, lc_mask where) {
    lc_mask m;
    int l;
    for (l = 0; l < LC_GROUP; l++) m.v[l] = where.v[l] & (v.v[l] > t);
    return m;
}
static inline int lc_beyond(lc_f32 v, float bound) {
    int l, beyond = 0;
    for (l = 0; l < LC_GROUP; l++)
        beyond |= !(v.v[l] <= bound && -v.v[l] <= bound);
    return beyond;
}
static inline lc_i32 lc_zero_where(lc_i32 a, const unsigned char *flag) {
    int l;
    for (l = 0; l < LC_GROUP; l++) a.v[l] = flag[l] ? 0 : a.v[l];
    return a;
}
static inline lc_f64 lc_cvt_i32_f64(lc_i32 a) {
    lc_f64 r;
    int l;
    for (l = 0; l < LC_GROUP; l++) r.v[l] = (double)a.v[l];
    return r;
}
static inline lc_f64 lc_cvt_f32_f64(lc_f32 a) {
    lc_f64 r;
    int l;
    for (l = 0; l < LC_GROUP; l++) r.v[l] = (double)a.v[l];
    return r;
}
static inline lc_f64 lc_set1_f64(double a) {
    lc_f64 r;
    int l;
    for (l = 0; l < LC_GROUP; l++) r.v[l] = a;
    return r;
}
static inline lc_f64 lc_add_f64(lc_f64 x, lc_f64 y) {
    int l;
    for (l = 0; l < LC_GROUP; l++) x.v[l] = x.v[l] + y.v[l];
    return x;
}
static inline lc_f64 lc_sub_f64(lc_f64 x, lc_f64 y) {
    int l;
    for (l = 0; l < LC_GROUP; l++) x.v[l] = x.v[l] - y.v[l];
    return x;
}
static inline lc_f64 lc_mul_f64(lc_f64 x, lc_f64 y) {
    int l;
    for (l = 0; l < LC_GROUP; l++) x.v[l] = x.v[l] * y.v[l];
    return x;
}
static inline lc_f64 lc_fmadd_f64(lc_f64 x, lc_f64 y, lc_f64 z) {
    int l;
    double product;
    for (l = 0; l < LC_GROUP; l++) {
        product = x.v[l] * y.v[l];
        x.v[l] = product + z.v[l];
    }
    return x;
}
static inline lc_i32 lc_max_abs_bits(lc_i32 m, lc_f32 v) {
    int l;
    uint32_t bits;
    for (l = 0; l < LC_GROUP; l++) {
        memcpy(&bits, &v.v[l], 4);
        bits &= 0x7FFFFFFFu;
        m.v[l] = m.v[l] > (int32_t)bits ? m.v[l] : (int32_t)bits;
    }
    return m;
}
static inline int32_t lc_max_lane(lc_i32 m) {
    int l;
    int32_t r = m.v[0];
    for (l = 1; l < LC_GROUP; l++) r = r > m.v[l] ? r : m.v[l];
    return r;
}
static inline double lc_lanes_sum(lc_f64 t) {
    int l, width;
    for (width = LC_GROUP / 2; width >= 1; width /= 2)
        for (l = 0; l < width; l++) t.v[l] = t.v[l] + t.v[l + width];
    return t.v[0];
}
static inline void lc_store_f64(double *p, lc_f64 x) {
    int l;
    for (l = 0; l < LC_GROUP; l++) p[l] = x.v[l];
}
static inline lc_f64 lc_load_f64(const double *p) {
    lc_f64 r;
    int l;
    for (l = 0; l < LC_GROUP; l++) r.v[l] = p[l];
    return r;
}
static inline lc_f64 lc_with_lane(lc_f64 x, int lane, double value) {
    x.v[lane] = value;
    return x;
}
static inline double lc_lanes_total(lc_f64 total, lc_f64 error) {
    int l, width;
    double a, s, b;
    for (width = LC_GROUP / 2; width >= 1; width /= 2) {
        for (l = 0; l < width; l++) {
            a = total.v[l + width];
            s = total.v[l] + a;
            b = s - total.v[l];
            error.v[l] = error.v[l] + (error.v[l + width] + ((total.v[l] - (s - b)) + (a - b)));
            total.v[l] = s;
        }
    }
    return total.v[0] + error.v[0];
}
static inline void lc_store_f32(float *p, lc_f64 x) {
    int l;
    for (l = 0; l < LC_GROUP; l++) p[l] = (float)x.v[l];
}
static inline void lc_store_lookup(float *p, const float *table, lc_i32 index) {
    int l;
    for (l = 0; l < LC_GROUP; l++) p[l] = table[index.v[l]];
}
static inline uint64_t lc_nonzero_bytes(const unsigned char *p) {
    uint64_t bits = 0;
    int b;
    for (b = 0; b < 64; b++) bits |= (uint64_t)(p[b] != 0) << b;
    return bits;
}
#endif

#if defined(__GNUC__)
static inline int lc_lowest_bit(uint64_t bits) { return __builtin_ctzll(bits); }
static inline void lc_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
#else
static inline int lc_lowest_bit(uint64_t bits) {
    int b = 0;
    while (!(bits & 1)) { bits >>= 1; b++; }
    return b;
}
static inline void lc_prefetch(const void *p) { (void)p; }
#endif

#endif
