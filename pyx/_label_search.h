/* The binary searches of the multi-label sorted path, many classes a vector:
 * for each class d, m[d] = #{i : not (shift[i] + x[d] <= 0)} over the
 * descending shifts, a prefix (the predicate of _n_active in
 * _sorted_labels.pxi, evaluated in the input dtype, so m is the same integer).
 *
 * ml_n_active_f32 / ml_n_active_f64 fill m for the leading whole vectors of
 * classes and return how many classes they did; the .pxi does the rest (and
 * everything the build has no vector search for: the baseline build, and
 * float64 on the AVX2 build; they return 0 there).  float64 runs
 * _n_active's search: position p = 0, length n; while n > 1, half = n / 2,
 * p += half where shift[p + half] is active, n -= half; then p += whether
 * shift[p] is.  float32 searches the n + 1 answers (no final test).  Every
 * lane takes the same halves, so at step s a lane's position depends only on
 * its s earlier outcomes: the 2**s shifts step s can read are copied to
 * tables once per row, and permutes replace the gathers there (float32:
 * tables up to 256 shifts, float64: the first 5 steps).
 * Compares are _CMP_NLE_UQ, "not (a <= 0)" (true for a NaN sum); on a
 * bounded row (the caller's `bounded`: |x| <= FLT_MAX / 4, |a_i| <= FLT_MAX /
 * 2, no NaN) the float32 tables hold the thresholds -a_i and a table step
 * compares x[d] > -a_i (_CMP_GT_OQ), exactly the same test there: the sum
 * cannot overflow, and a rounded sum of two floats is zero only when they
 * cancel exactly (with gradual underflow: not under flush-to-zero, where the
 * sum's test is kept).
 */
#ifndef MARGINLOSS_LABEL_SEARCH_H
#define MARGINLOSS_LABEL_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) \
    && defined(__AVX512VL__)
#include <immintrin.h>

/* float32: the shifts step s can read (2**s of them, s < 9: up to 16
 * registers) are looked up by permutes of registers
 * loaded from a table built once per row (a permute per 32 entries, then
 * blends on the node's bits 5, 6, 7), gathers beyond; float64: permutes for
 * the steps of 1, 2, 4, 8 (one register) and 16 (two) shifts. */
#define ML_LOOKUP_BITS_F32 8
#define ML_PERMUTE_STEPS_F64 5

static inline __m512 ml_lookup_f32(const float *table, int bits, __m512i node) {
    /* table[node] in each lane, for a table of 2**bits floats (bits <= 8) */
    __m512 v[8];
    int g, b, n;
    if (bits <= 4)
        return _mm512_permutexvar_ps(node, _mm512_load_ps(table));
    n = 1 << (bits - 5);
    for (g = 0; g < n; g++)
        v[g] = _mm512_permutex2var_ps(_mm512_load_ps(table + 32 * g), node,
                                      _mm512_load_ps(table + 32 * g + 16));
    for (b = 5; n > 1; b++, n >>= 1) {
        __mmask16 high = _mm512_test_epi32_mask(node, _mm512_set1_epi32(1 << b));
        for (g = 0; g < n / 2; g++)
            v[g] = _mm512_mask_blend_ps(high, v[2 * g], v[2 * g + 1]);
    }
    return v[0];
}

static inline ptrdiff_t ml_n_active_f32(const float *shift, ptrdiff_t n_listed,
                                        const float *x, ptrdiff_t n_classes, int32_t *m,
                                        int bounded) {
    /* The search over the n_listed + 1 answers: m in [at, at + n - 1], n =
     * n_listed + 1; while n > 1, half = n / 2, at += half where shift[at +
     * half - 1] is active, n -= half (the same m as _n_active, with one test
     * fewer for most n: 8 for 200 labels).  level[s][t]: the shift that step
     * s reads at node t (the outcomes so far, first in the high bit). */
    float level[ML_LOOKUP_BITS_F32 + 1][256] __attribute__((aligned(64)));
    int32_t position[2][256], half[64];
    int n_steps = 0, n_lookup, s, t;
    ptrdiff_t n = n_listed + 1, d, done = n_classes - n_classes % 16;
    if (n_listed < 1)
        return 0;
    /* Under flush-to-zero (or denormals-are-zero), set by the caller's
     * process, a positive sum below FLT_MIN rounds to +0 where x > -a still
     * holds: then the sum's own test, as the other builds and the scalar
     * classes take it. */
    if (_mm_getcsr() & (_MM_FLUSH_ZERO_MASK | _MM_DENORMALS_ZERO_MASK))
        bounded = 0;
    while (n > 1) {
        half[n_steps++] = (int32_t)(n >> 1);
        n -= n >> 1;
    }
    n_lookup = n_steps < ML_LOOKUP_BITS_F32 + 1 ? n_steps : ML_LOOKUP_BITS_F32 + 1;
    position[0][0] = 0;
    for (s = 0; s < n_lookup; s++) {
        int32_t *from = position[s & 1], *to = position[(s + 1) & 1];
        int width = 1 << s;
        for (t = 0; t < width; t++) {
            float a = shift[from[t] + half[s] - 1];
            level[s][t] = bounded ? -a : a;
            if (s + 1 < n_lookup) {
                to[2 * t] = from[t];
                to[2 * t + 1] = from[t] + half[s];
            }
        }
        for (; t < 16; t++)
            level[s][t] = 0.0f;
    }
    const __m512 zero = _mm512_setzero_ps();
    const __m512i one = _mm512_set1_epi32(1);
    /* four vectors of classes a step, then two: their searches' latencies
     * overlap (one step: a look-up, an add, a compare, two masked adds) */
#define ML_STEP_F32(v, score, at, node, active)                                   \
    do {                                                                          \
        active = threshold                                                        \
            ? _mm512_cmp_ps_mask(score, v, _CMP_GT_OQ)                            \
            : _mm512_cmp_ps_mask(_mm512_add_ps(v, score), zero, _CMP_NLE_UQ);     \
        at = _mm512_mask_add_epi32(at, active, at, step);                         \
        node = _mm512_mask_add_epi32(_mm512_add_epi32(node, node), active,        \
                                     _mm512_add_epi32(node, node), one);          \
    } while (0)
    for (d = 0; d + 64 <= done; d += 64) {
        __m512 s0 = _mm512_loadu_ps(x + d), s1 = _mm512_loadu_ps(x + d + 16);
        __m512 s2 = _mm512_loadu_ps(x + d + 32), s3 = _mm512_loadu_ps(x + d + 48);
        __m512 v0, v1, v2, v3;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        __m512i n0 = a0, n1 = a0, n2 = a0, n3 = a0;
        __mmask16 k0, k1, k2, k3;
        for (s = 0; s < n_steps; s++) {
            __m512i step = _mm512_set1_epi32(half[s]);
            int threshold = bounded && s < n_lookup;
            if (s < n_lookup) {
                v0 = ml_lookup_f32(level[s], s, n0);
                v1 = ml_lookup_f32(level[s], s, n1);
                v2 = ml_lookup_f32(level[s], s, n2);
                v3 = ml_lookup_f32(level[s], s, n3);
            } else {
                __m512i back = _mm512_sub_epi32(step, one);
                v0 = _mm512_i32gather_ps(_mm512_add_epi32(a0, back), shift, 4);
                v1 = _mm512_i32gather_ps(_mm512_add_epi32(a1, back), shift, 4);
                v2 = _mm512_i32gather_ps(_mm512_add_epi32(a2, back), shift, 4);
                v3 = _mm512_i32gather_ps(_mm512_add_epi32(a3, back), shift, 4);
            }
            ML_STEP_F32(v0, s0, a0, n0, k0);
            ML_STEP_F32(v1, s1, a1, n1, k1);
            ML_STEP_F32(v2, s2, a2, n2, k2);
            ML_STEP_F32(v3, s3, a3, n3, k3);
        }
        _mm512_storeu_si512((void *)(m + d), a0);
        _mm512_storeu_si512((void *)(m + d + 16), a1);
        _mm512_storeu_si512((void *)(m + d + 32), a2);
        _mm512_storeu_si512((void *)(m + d + 48), a3);
    }
#undef ML_STEP_F32
    for (; d + 32 <= done; d += 32) {
        __m512 score = _mm512_loadu_ps(x + d), score2 = _mm512_loadu_ps(x + d + 16), v, v2;
        __m512i at = _mm512_setzero_si512(), node = _mm512_setzero_si512();
        __m512i at2 = _mm512_setzero_si512(), node2 = _mm512_setzero_si512();
        __mmask16 active, active2;
        for (s = 0; s < n_steps; s++) {
            __m512i step = _mm512_set1_epi32(half[s]);
            if (s < n_lookup) {
                v = ml_lookup_f32(level[s], s, node);
                v2 = ml_lookup_f32(level[s], s, node2);
            } else {
                __m512i back = _mm512_sub_epi32(step, one);
                v = _mm512_i32gather_ps(_mm512_add_epi32(at, back), shift, 4);
                v2 = _mm512_i32gather_ps(_mm512_add_epi32(at2, back), shift, 4);
            }
            if (bounded && s < n_lookup) {
                active = _mm512_cmp_ps_mask(score, v, _CMP_GT_OQ);
                active2 = _mm512_cmp_ps_mask(score2, v2, _CMP_GT_OQ);
            } else {
                active = _mm512_cmp_ps_mask(_mm512_add_ps(v, score), zero, _CMP_NLE_UQ);
                active2 = _mm512_cmp_ps_mask(_mm512_add_ps(v2, score2), zero, _CMP_NLE_UQ);
            }
            at = _mm512_mask_add_epi32(at, active, at, step);
            at2 = _mm512_mask_add_epi32(at2, active2, at2, step);
            node = _mm512_mask_add_epi32(_mm512_add_epi32(node, node), active,
                                         _mm512_add_epi32(node, node), one);
            node2 = _mm512_mask_add_epi32(_mm512_add_epi32(node2, node2), active2,
                                          _mm512_add_epi32(node2, node2), one);
        }
        _mm512_storeu_si512((void *)(m + d), at);
        _mm512_storeu_si512((void *)(m + d + 16), at2);
    }
    for (; d < done; d += 16) {
        __m512 score = _mm512_loadu_ps(x + d), v;
        __m512i at = _mm512_setzero_si512(), node = _mm512_setzero_si512();
        __mmask16 active;
        for (s = 0; s < n_steps; s++) {
            __m512i step = _mm512_set1_epi32(half[s]);
            if (s < n_lookup)
                v = ml_lookup_f32(level[s], s, node);
            else
                v = _mm512_i32gather_ps(_mm512_sub_epi32(_mm512_add_epi32(at, step), one),
                                        shift, 4);
            if (bounded && s < n_lookup)
                active = _mm512_cmp_ps_mask(score, v, _CMP_GT_OQ);
            else
                active = _mm512_cmp_ps_mask(_mm512_add_ps(v, score), zero, _CMP_NLE_UQ);
            at = _mm512_mask_add_epi32(at, active, at, step);
            node = _mm512_mask_add_epi32(_mm512_add_epi32(node, node), active,
                                         _mm512_add_epi32(node, node), one);
        }
        _mm512_storeu_si512((void *)(m + d), at);
    }
    return done;
}

static inline ptrdiff_t ml_n_active_f64(const double *shift, ptrdiff_t n_listed,
                                        const double *x, ptrdiff_t n_classes, int32_t *m) {
    double level[ML_PERMUTE_STEPS_F64][16];
    int32_t half[64];
    __m512d table[ML_PERMUTE_STEPS_F64][2];
    int n_steps = 0, n_permuted, s;
    ptrdiff_t n = n_listed, d, done = n_classes - n_classes % 8;
    if (n_listed < 1)
        return 0;
    while (n > 1) {
        half[n_steps++] = (int32_t)(n >> 1);
        n -= n >> 1;
    }
    n_permuted = n_steps < ML_PERMUTE_STEPS_F64 ? n_steps : ML_PERMUTE_STEPS_F64;
    for (s = 0; s < n_permuted; s++) {
        int t, width = 1 << s;
        for (t = 0; t < 16; t++) {
            int32_t position = 0;
            int b;
            for (b = 0; b < s; b++)
                position += ((t >> (s - 1 - b)) & 1) * half[b];
            level[s][t] = t < width ? shift[position + half[s]] : 0.0;
        }
        table[s][0] = _mm512_loadu_pd(level[s]);
        table[s][1] = _mm512_loadu_pd(level[s] + 8);
    }
    const __m512d zero = _mm512_setzero_pd();
    const __m256i one = _mm256_set1_epi32(1);
    for (d = 0; d < done; d += 8) {
        __m512d score = _mm512_loadu_pd(x + d), v;
        __m256i position = _mm256_setzero_si256(), node = _mm256_setzero_si256();
        __mmask8 active;
        for (s = 0; s < n_steps; s++) {
            __m256i step = _mm256_set1_epi32(half[s]);
            if (s < n_permuted) {
                __m512i index = _mm512_cvtepu32_epi64(node);
                v = s < 4 ? _mm512_permutexvar_pd(index, table[s][0])
                          : _mm512_permutex2var_pd(table[s][0], index, table[s][1]);
            } else {
                v = _mm512_i32gather_pd(_mm256_add_epi32(position, step), shift, 8);
            }
            active = _mm512_cmp_pd_mask(_mm512_add_pd(v, score), zero, _CMP_NLE_UQ);
            position = _mm256_mask_add_epi32(position, active, position, step);
            node = _mm256_mask_add_epi32(_mm256_add_epi32(node, node), active,
                                         _mm256_add_epi32(node, node), one);
        }
        v = _mm512_i32gather_pd(position, shift, 8);
        active = _mm512_cmp_pd_mask(_mm512_add_pd(v, score), zero, _CMP_NLE_UQ);
        position = _mm256_mask_add_epi32(position, active, position, one);
        _mm256_storeu_si256((__m256i *)(m + d), position);
    }
    return done;
}

#elif defined(__AVX2__)
#include <immintrin.h>

/* AVX2, float32 only: the same search over the n + 1 answers, 8 classes a
 * vector, two vectors a step; the shifts of the steps with up to 32 of them
 * are looked up by vpermps from per-row tables (a permute per 8 entries, then
 * blends on the node's bits 3 and 4), a gather a step beyond.  (A gather at
 * every step was slower than the scalar searches: float32 (1024, 4000), 200
 * labels, 41x the copy floor against 34x for the baseline build.)  float64
 * stays with the .pxi's scalar searches. */
#define ML_LOOKUP_BITS_AVX2 5

static inline __m256 ml_lookup8_f32(const float *table, int bits, __m256i node) {
    /* table[node] in each lane, for a table of 2**bits floats (bits <= 5) */
    __m256 v[4];
    int g, b, n;
    if (bits <= 3)
        return _mm256_permutevar8x32_ps(_mm256_load_ps(table), node);
    n = 1 << (bits - 3);
    for (g = 0; g < n; g++)
        v[g] = _mm256_permutevar8x32_ps(_mm256_load_ps(table + 8 * g), node);
    for (b = 3; n > 1; b++, n >>= 1) {
        /* node's bit b moved to the sign bit: blendv's selector */
        __m256 high = _mm256_castsi256_ps(_mm256_sll_epi32(node, _mm_cvtsi32_si128(31 - b)));
        for (g = 0; g < n / 2; g++)
            v[g] = _mm256_blendv_ps(v[2 * g], v[2 * g + 1], high);
    }
    return v[0];
}

static inline ptrdiff_t ml_n_active_f32(const float *shift, ptrdiff_t n_listed,
                                        const float *x, ptrdiff_t n_classes, int32_t *m,
                                        int bounded) {
    float level[ML_LOOKUP_BITS_AVX2 + 1][32] __attribute__((aligned(64)));
    int32_t position[2][32], half[64];
    (void)bounded;
    int n_steps = 0, n_lookup, s, t;
    ptrdiff_t n = n_listed + 1, d, done = n_classes - n_classes % 16;
    if (n_listed < 1)
        return 0;
    while (n > 1) {
        half[n_steps++] = (int32_t)(n >> 1);
        n -= n >> 1;
    }
    n_lookup = n_steps < ML_LOOKUP_BITS_AVX2 + 1 ? n_steps : ML_LOOKUP_BITS_AVX2 + 1;
    position[0][0] = 0;
    for (s = 0; s < n_lookup; s++) {
        int32_t *from = position[s & 1], *to = position[(s + 1) & 1];
        int width = 1 << s;
        for (t = 0; t < width; t++) {
            level[s][t] = shift[from[t] + half[s] - 1];
            if (s + 1 < n_lookup) {
                to[2 * t] = from[t];
                to[2 * t + 1] = from[t] + half[s];
            }
        }
        for (; t < 8; t++)
            level[s][t] = 0.0f;
    }
    const __m256 zero = _mm256_setzero_ps();
    const __m256i one = _mm256_set1_epi32(1);
    for (d = 0; d < done; d += 16) {
        __m256 score = _mm256_loadu_ps(x + d), score2 = _mm256_loadu_ps(x + d + 8), v, v2;
        __m256i at = _mm256_setzero_si256(), node = _mm256_setzero_si256();
        __m256i at2 = _mm256_setzero_si256(), node2 = _mm256_setzero_si256();
        __m256i active, active2;
        for (s = 0; s < n_steps; s++) {
            __m256i step = _mm256_set1_epi32(half[s]);
            if (s < n_lookup) {
                v = ml_lookup8_f32(level[s], s, node);
                v2 = ml_lookup8_f32(level[s], s, node2);
            } else {
                __m256i back = _mm256_sub_epi32(step, one);
                v = _mm256_i32gather_ps(shift, _mm256_add_epi32(at, back), 4);
                v2 = _mm256_i32gather_ps(shift, _mm256_add_epi32(at2, back), 4);
            }
            /* all ones where not (v + score <= 0) */
            active = _mm256_castps_si256(_mm256_cmp_ps(_mm256_add_ps(v, score), zero,
                                                       _CMP_NLE_UQ));
            active2 = _mm256_castps_si256(_mm256_cmp_ps(_mm256_add_ps(v2, score2), zero,
                                                        _CMP_NLE_UQ));
            at = _mm256_add_epi32(at, _mm256_and_si256(active, step));
            at2 = _mm256_add_epi32(at2, _mm256_and_si256(active2, step));
            node = _mm256_sub_epi32(_mm256_add_epi32(node, node), active);
            node2 = _mm256_sub_epi32(_mm256_add_epi32(node2, node2), active2);
        }
        _mm256_storeu_si256((__m256i *)(m + d), at);
        _mm256_storeu_si256((__m256i *)(m + d + 8), at2);
    }
    return done;
}
static inline ptrdiff_t ml_n_active_f64(const double *shift, ptrdiff_t n_listed,
                                        const double *x, ptrdiff_t n_classes, int32_t *m) {
    (void)shift; (void)n_listed; (void)x; (void)n_classes; (void)m;
    return 0;
}

#else

/* Baseline: the .pxi searches every class (8 searches interleaved). */
static inline ptrdiff_t ml_n_active_f32(const float *shift, ptrdiff_t n_listed,
                                        const float *x, ptrdiff_t n_classes, int32_t *m,
                                        int bounded) {
    (void)shift; (void)bounded; (void)n_listed; (void)x; (void)n_classes; (void)m;
    return 0;
}
static inline ptrdiff_t ml_n_active_f64(const double *shift, ptrdiff_t n_listed,
                                        const double *x, ptrdiff_t n_classes, int32_t *m) {
    (void)shift; (void)n_listed; (void)x; (void)n_classes; (void)m;
    return 0;
}

#endif
#endif
