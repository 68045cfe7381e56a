"""Kernels of the multi-label margin loss (PyTorch's ``MultiLabelMarginLoss``).

For one sample with scores ``x`` (``n_classes`` = C of them) and a target row
``t`` of class indices padded with -1, let T be the entries of ``t`` before its
first negative entry (k of them, kept with multiplicity) and D the classes not
in T::

    z_jd    = (m - x[j]) + x[d]                          rounded in the input dtype
    loss    = 1 / C * sum_{j in T} sum_{d in D, z_jd > 0} z_jd
    dloss_d =  1 / C * #{j in T : z_jd > 0}               d in D
    dloss_c = -1 / C * sum_{j in T, j == c} #{d in D : z_jd > 0}     c in T

T may also come from a 0/1 indicator row (``indicator``: the classes whose
entry is nonzero, ascending), read in place.  With the shifts ``a_i = m -
x[j_i]``, for finite terms z_jd > 0 is exactly x[d] > -a_i, so (counting path)::

    loss    = 1 / C * (sum_{d in D} cnt_d * x[d] + sum_i col_i * a_i)
    cnt_d   = #{i : x[d] > -a_i},   col_i = #{d in D : x[d] > -a_i}

(cnt_d is also the number of the sorted thresholds -a_(j) below x[d], and
col_i = #{d in D : cnt_d > #{j : -a_j < -a_i}}: the rank search, AVX-512)

and with the shifts sorted descending, class d violates a prefix of m_d of
them (sorted path, many labels or infinite scores)::

    loss    = 1 / C * sum_{d in D} (P[m_d] + m_d * x[d])    P[m] = sum_{i < m} a_i

A row of at most DIRECT_MAX_LABELS labels takes the direct pair loop.  A NaN
score or term makes the row's loss and gradient NaN.  The algorithm, its
accuracy and its measured crossovers are in docs/design.md, "Kernels".
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.float cimport DBL_MAX, FLT_MAX
from libc.math cimport INFINITY, NAN, fabs
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

import array

include "_rows.pxi"
include "_label_counts.pxi"
include "_label_ranks_count.pxi"

ctypedef fused target_t:
    int32_t
    int64_t
    uint8_t  # indicator targets given as bool or uint8

cpdef enum:
    # The crossovers between the paths (measured; module attributes, so that
    # tests can put examples on each boundary).
    # Rows with at most this many labels use the direct O(k * C) loop.
    DIRECT_MAX_LABELS = 2
    # Rows of bounded finite scores with at most this many labels (and more
    # than DIRECT_MAX_LABELS) take the counting path, other rows the sorted shifts.
    COUNT_MAX_LABELS = 40
    # Fewer labels than this are sorted by rank (float32) or insertion
    # (float64), more by radix sort.
    RADIX_MIN_FLOAT32 = 64
    RADIX_MIN_FLOAT64 = 128
    # Float32 counting rows of at least this many labels (at most RANK_LABELS
    # = 31 and at least GROUP classes) find each class's count as its rank
    # among the sorted thresholds (binary search) and the label columns from
    # the ranks, where the build has the search (RANK_SEARCH: AVX-512;
    # measured: level with the compares from about 24 labels at 1000 classes).
    RANK_MIN_LABELS = 26

cdef enum:
    # Binary searches run this many at a time.
    LANES = 8
    # Up to this many labels the sorted path counts the active labels instead of
    # searching (measured).
    SEARCH_COUNT_MAX = 16
    # Thresholds compared per pass of the counting path over a row (float64).
    BLOCK = 4
    # The most labels the counting path can take (its stack arrays): tests and
    # benchmarks may move its threshold up to here.
    COUNT_CAPACITY = 256
    # Float64 lanes of the compensated sums (fixed: the same bits on every build).
    SUM_LANES = 16
    # The most float32 keys the rank sort takes (RADIX_MIN_FLOAT32 <= this).
    RANK_SORT_MAX = 64

# The thresholds in use; tests move them to run each path on the same rows.
cdef Py_ssize_t direct_max_labels = DIRECT_MAX_LABELS
cdef Py_ssize_t count_max_labels = COUNT_MAX_LABELS
cdef Py_ssize_t rank_min_labels = RANK_MIN_LABELS


def _set_direct_max_labels(Py_ssize_t n_labels):
    """Rows with at most n_labels labels take the direct loop; return the previous
    threshold.  For tests and benchmarks only: not thread-safe."""
    global direct_max_labels
    previous = direct_max_labels
    direct_max_labels = n_labels
    return previous


def _set_count_max_labels(Py_ssize_t n_labels):
    """Rows with at most n_labels labels (and more than the direct loop's; at
    most COUNT_CAPACITY = 256) take the counting path; return the previous
    threshold.  For tests and benchmarks only: not thread-safe."""
    global count_max_labels
    previous = count_max_labels
    count_max_labels = min(n_labels, COUNT_CAPACITY)
    return previous


def _set_rank_min_labels(Py_ssize_t n_labels):
    """Float32 counting rows with at least n_labels labels (and at most
    RANK_LABELS) take the rank search where the build has it (RANK_SEARCH);
    return the previous threshold.  For tests and benchmarks only: not
    thread-safe."""
    global rank_min_labels
    previous = rank_min_labels
    rank_min_labels = n_labels
    return previous


# Whether this build has the rank search (AVX-512), and the most labels it takes.
RANK_SEARCH = bool(RANKS)
RANK_LABELS = RANK_MAX


# ------------------------------------------------------------------ labels


cdef inline Py_ssize_t _collect_labels(
    const target_t* target,
    Py_ssize_t n_classes,
    Py_ssize_t* labels,
    unsigned char* is_target,
) noexcept nogil:
    """Copy the entries before the first negative (or out-of-range) one to
    labels and mark them in is_target; return how many there are."""
    cdef Py_ssize_t n_listed = 0, label
    while n_listed < n_classes:
        label = target[n_listed]
        if not _in_range(label, n_classes):  # -1 ends the list (or a changed entry)
            break
        labels[n_listed] = label
        is_target[label] = 1
        n_listed += 1
    return n_listed


cdef inline Py_ssize_t _collect_indicator(
    const target_t* target,
    Py_ssize_t n_classes,
    Py_ssize_t* labels,
    unsigned char* is_target,
) noexcept nogil:
    """The classes j with target[j] != 0 (a 0/1 indicator row), ascending, to
    labels, marked in is_target; return how many there are.  Any value the
    row holds gives an in-range label, so no bounds check is needed.  A byte
    row is read 64 bytes at a time (a bit mask of the nonzero bytes, walked by
    its lowest set bit); wider entries skip runs of 32 zero bytes four words
    at a time."""
    cdef:
        Py_ssize_t n_listed = 0, j = 0, end, label
        Py_ssize_t per_chunk = 32 // sizeof(target_t)
        uint64_t words[4]
        uint64_t bits
    if target_t is uint8_t:
        while j + 64 <= n_classes:
            bits = nonzero_bytes(<const unsigned char*> &target[j])
            while bits:
                label = j + lowest_bit(bits)
                labels[n_listed] = label
                is_target[label] = 1
                n_listed += 1
                bits &= bits - 1
            j += 64
    while j < n_classes:
        end = n_classes
        if j + per_chunk <= n_classes:
            memcpy(words, &target[j], 32)
            if (words[0] | words[1] | words[2] | words[3]) == 0:
                j += per_chunk
                continue
            end = j + per_chunk
        while j < end:
            if target[j] != 0:
                labels[n_listed] = j
                is_target[j] = 1
                n_listed += 1
            j += 1
    return n_listed


cdef inline void _clear_labels(
    const Py_ssize_t* labels,
    Py_ssize_t n_listed,
    unsigned char* is_target,
) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n_listed):
        is_target[labels[j]] = 0


cdef inline bint _has_nan(const floating* x, Py_ssize_t n_classes) noexcept nogil:
    cdef:
        Py_ssize_t d
        bint found = False
    for d in range(n_classes):
        found = found | (x[d] != x[d])
    return found


include "_sorted_labels.pxi"


# ------------------------------------------------------------------ one row, direct loop


cdef inline double _row_loss_direct(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t n_listed,
    const Py_ssize_t* labels,
    const unsigned char* is_target,
    floating margin,
) noexcept nogil:
    """sum_{j in T} sum_{d in D, z_jd > 0} z_jd, pair by pair."""
    cdef:
        Py_ssize_t j, d
        floating shift, z
        double total = 0.0
    for j in range(n_listed):
        shift = margin - x[labels[j]]
        for d in range(n_classes):
            z = shift + x[d]
            if not is_target[d] and not z <= 0:  # NaN (inf - inf) passes, making total NaN
                total += z
    return total


cdef inline double _row_loss_gradient_direct(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    const Py_ssize_t* labels,
    const unsigned char* is_target,
    double* count,
    floating margin,
) noexcept nogil:
    """Row loss as _row_loss_direct; writes the row's gradient, scaled by coef * grad_output."""
    cdef:
        Py_ssize_t j, d, n_active
        floating shift, z
        double total = 0.0
    for j in range(n_listed):
        shift = margin - x[labels[j]]
        n_active = 0
        for d in range(n_classes):
            z = shift + x[d]
            if not is_target[d] and not z <= 0:  # NaN (inf - inf) passes, making total NaN
                total += z
                count[d] += 1
                n_active += 1
        count[labels[j]] -= n_active
    for d in range(n_classes):
        # grad_output multiplies last, as in PyTorch (0 * grad_output where inactive)
        gradient[d] = <floating> (count[d] * coef * grad_output)
        count[d] = 0
    return total


# ------------------------------------------------------------------ one row, counted pairs


cdef inline bint _count_block(
    const floating* x,
    Py_ssize_t n_classes,
    const floating* threshold,
    int32_t* column,
    floating* count,
    double* product,
    floating* gradient,
    double coef,
    double grad_output,
    floating bound,
    bint first,
    bint last,
    bint with_gradient,
) noexcept nogil:
    """One pass over the row for BLOCK thresholds t_q = -(margin - x[j_q]):
    column[q] += #{d : x[d] > t_q}; count[d] (+)= #{q : x[d] > t_q}.  The last
    pass writes product[d] = count[d] * x[d] (the high part for float64, the
    low part to product[n_classes + d]) and gradient[d] = count[d] * coef *
    grad_output.  The first pass returns whether a score is beyond bound (or
    NaN), which leaves the row to the general paths."""
    cdef:
        floating t0 = threshold[0], t1 = threshold[1], t2 = threshold[2], t3 = threshold[3]
        floating v, c
        int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0
        double high
        uint64_t bits
        bint beyond = False
        Py_ssize_t d
    for d in range(n_classes):
        v = x[d]
        if first:
            beyond = beyond | (not (fabs(v) <= bound))
        c0 += v > t0
        c1 += v > t1
        c2 += v > t2
        c3 += v > t3
        c = <floating> ((v > t0) + (v > t1) + (v > t2) + (v > t3))
        if not first:
            c = c + count[d]
        if not last:
            count[d] = c
        else:
            if floating is float:
                product[d] = <double> c * <double> v           # exact
            else:
                # v = high + (v - high), the low 31 bits of high's significand
                # cleared: c * high is exact (c < 2**31)
                memcpy(&bits, &v, 8)
                bits &= ~((<uint64_t> 1 << 31) - 1)
                memcpy(&high, &bits, 8)
                product[d] = c * high
                product[n_classes + d] = c * (v - high)
            if with_gradient:
                # grad_output multiplies last, as in PyTorch (0 * grad_output where inactive)
                gradient[d] = <floating> (<double> c * coef * grad_output)
    column[0] += c0
    column[1] += c1
    column[2] += c2
    column[3] += c3
    return beyond


cdef inline void _two_sum(lc_f64* total, lc_f64* error, lc_f64 term) noexcept nogil:
    """total += term, lane by lane, by TwoSum: the rounding error to error."""
    cdef lc_f64 s = add_f64(total[0], term)
    cdef lc_f64 b = sub_f64(s, total[0])
    error[0] = add_f64(error[0], add_f64(sub_f64(total[0], sub_f64(s, b)), sub_f64(term, b)))
    total[0] = s


cdef inline void _counted_group(
    const float* x,
    float* gradient,
    const unsigned char* is_target,
    const int32_t* counted,
    Py_ssize_t n_listed,
    const float* threshold,
    int32_t* column,
    lc_f64* total,
    lc_f64* error,
    lc_i32* magnitude,
    double coef,
    double grad_output,
    const float* gradient_table,
    bint compensated,
    bint with_gradient,
) noexcept nogil:
    """GROUP classes d of a float32 row, one a lane: cnt_d = counted[d] (0 when
    NULL) + #{i : x[d] > threshold[i]} for d in D, 0 for a label's class
    (is_target[d] set; counted[d] is 0 there too), and
    column[i] += #{d in D : x[d] > threshold[i]}; cnt_d * x[d] (exact in
    float64) added to the lane sums, plainly (the bits of |x[d]| kept in
    magnitude's running max) or, compensated, by TwoSum; gradient[d] = cnt_d *
    coef * grad_output (gradient_table[cnt_d] when given)."""
    cdef:
        lc_f32 v = load_f32(x)
        lc_mask other = unflagged(is_target)      # the classes in D
        lc_i32 count = zero_i32() if counted == NULL else load_i32(counted)
        lc_mask above, above_next
        Py_ssize_t i = 0
    while i + 2 <= n_listed:   # two thresholds a step: half the loop overhead
        above = gt_where(v, threshold[i], other)
        above_next = gt_where(v, threshold[i + 1], other)
        count = add_mask(add_mask(count, above), above_next)
        column[i] += mask_count(above)
        column[i + 1] += mask_count(above_next)
        i += 2
    if i < n_listed:
        above = gt_where(v, threshold[i], other)
        count = add_mask(count, above)
        column[i] += mask_count(above)
    if compensated:
        _two_sum(total, error, mul_f64(cvt_i32_f64(count), cvt_f32_f64(v)))      # exact
    else:
        # total + cnt_d * x[d], one rounding (the product is exact: fused or not, the same bits)
        total[0] = fmadd_f64(cvt_i32_f64(count), cvt_f32_f64(v), total[0])
        magnitude[0] = max_abs_bits(magnitude[0], v)
    if with_gradient:
        if gradient_table != NULL:   # the same values, looked up by count
            store_lookup(gradient, gradient_table, count)
        else:
            # grad_output multiplies last, as in PyTorch (0 * grad_output where inactive)
            store_f32(gradient, mul_f64(mul_f64(cvt_i32_f64(count), set1_f64(coef)),
                                        set1_f64(grad_output)))


cdef inline lc_i32 _search_ranks(lcr_table table, lc_f32 v, lc_mask other) noexcept nogil:
    """#{j : table[j] < v[l]} for the lanes l in other (0 for the others):
    the binary search over the 32 sorted thresholds (+inf after them), 5
    steps; = #{i : v[l] > threshold[i]}."""
    cdef lc_i32 rank = zero_i32()
    rank = search_step(table, v, rank, 16)
    rank = search_step(table, v, rank, 8)
    rank = search_step(table, v, rank, 4)
    rank = search_step(table, v, rank, 2)
    rank = search_step(table, v, rank, 1)
    return rank_where(rank, other)


cdef inline void _rank_pass(
    const float* x,
    const unsigned char* is_target,
    Py_ssize_t n_groups,
    const float* x_rest,
    const unsigned char* is_target_rest,
    lcr_table table,
    int32_t* counted,
    unsigned char* ranks,
) noexcept nogil:
    """One pass over a row's n_groups groups (the last one x_rest,
    is_target_rest when given): each class's count by _search_ranks, to
    counted (int32) and ranks (a byte each).  The groups' searches are
    independent (no other work between them), so they overlap."""
    cdef:
        Py_ssize_t g
        lc_i32 rank
    for g in range(n_groups):
        if x_rest != NULL and g == n_groups - 1:
            rank = _search_ranks(table, load_f32(x_rest), unflagged(is_target_rest))
        else:
            rank = _search_ranks(table, load_f32(x + g * GROUP), unflagged(is_target + g * GROUP))
        store_i32(counted + g * GROUP, rank)
        store_bytes(ranks + g * GROUP, rank)


cdef inline void _rank_columns(
    const unsigned char* ranks,
    Py_ssize_t n_bytes,
    Py_ssize_t n_listed,
    int32_t* sorted_column,
) noexcept nogil:
    """sorted_column[j] += #{d : ranks[d] > j} for j < n_listed (rounded up to
    8), ranks[:n_bytes] (n_bytes a multiple of 32) read 32 at a time, 8 j's a
    pass, the byte lanes added up every 255 steps (before one could wrap)."""
    cdef:
        Py_ssize_t j, c, end
        lcr_bytes rank, c0, c1, c2, c3, c4, c5, c6, c7
    for j in range(0, n_listed, 8):
        c = 0
        while c < n_bytes:
            end = min(c + 255 * 32, n_bytes)
            c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = zero_bytes()
            while c < end:
                rank = load_bytes(ranks + c)
                c0 = add_above(c0, rank, j)
                c1 = add_above(c1, rank, j + 1)
                c2 = add_above(c2, rank, j + 2)
                c3 = add_above(c3, rank, j + 3)
                c4 = add_above(c4, rank, j + 4)
                c5 = add_above(c5, rank, j + 5)
                c6 = add_above(c6, rank, j + 6)
                c7 = add_above(c7, rank, j + 7)
                c += 32
            sorted_column[j] += sum_bytes(c0)
            sorted_column[j + 1] += sum_bytes(c1)
            sorted_column[j + 2] += sum_bytes(c2)
            sorted_column[j + 3] += sum_bytes(c3)
            sorted_column[j + 4] += sum_bytes(c4)
            sorted_column[j + 5] += sum_bytes(c5)
            sorted_column[j + 6] += sum_bytes(c6)
            sorted_column[j + 7] += sum_bytes(c7)


cdef inline float _counted_pass(
    const float* x,
    float* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    const float* threshold,
    int32_t* column,
    const unsigned char* is_target,
    lc_f64* total,
    lc_f64* error,
    bint compensated,
    bint with_gradient,
    double* scratch,
) noexcept nogil:
    """_counted_group over a float32 row, in groups of GROUP classes (class d
    in lane d % GROUP, the order of _two_sum_lanes), the last group padded
    with classes flagged as labels; the lane sums to total (and error when
    compensated), zeroed here.  With rank_min_labels to RANK_MAX labels (and
    GROUP classes) on a build with the search, _rank_pass first finds every
    class's count (to scratch, 3 * (n_classes + 1) doubles) and the columns
    follow from the counts (_rank_columns); _counted_group then compares no
    thresholds.  A row further on is prefetched on the way.  Returns max_d
    |x[d]| (NaN if a score is NaN) of the plain pass."""
    cdef:
        Py_ssize_t g, l, n_whole = n_classes - n_classes % GROUP
        Py_ssize_t n_groups = (n_classes + GROUP - 1) // GROUP
        Py_ssize_t n_counted = 0       # the thresholds the rank search took
        float x_rest[GROUP]
        float gradient_rest[GROUP]
        unsigned char is_target_rest[GROUP]
        float table[TABLE]
        float* gradient_table = NULL
        int32_t* counted = NULL
        float sorted_threshold[32]
        int32_t position[32]
        int32_t sorted_column[40]
        lcr_table search_table
        unsigned char* ranks = NULL
        Py_ssize_t n_rank_bytes = 0
        # the row prefetched: the next one, or the fourth on for short rows
        Py_ssize_t ahead = n_classes if n_classes >= 256 else 4 * n_classes
        lc_f64 lane_total = set1_f64(0.0), lane_error = set1_f64(0.0)
        lc_i32 magnitude = zero_i32()
        int32_t largest
        float score_max
    if with_gradient and n_listed < TABLE:
        # each count's gradient (counts are at most n_listed), computed once a
        # row (the same expression)
        memset(table, 0, sizeof(table))
        for l in range(n_listed + 1):
            table[l] = <float> (<double> l * coef * grad_output)
        gradient_table = table
    if n_whole < n_classes:
        for l in range(GROUP):
            if n_whole + l < n_classes:
                x_rest[l] = x[n_whole + l]
                is_target_rest[l] = is_target[n_whole + l]
            else:
                x_rest[l] = 0       # flagged: counts 0, product 0
                is_target_rest[l] = 1
    if RANKS and rank_min_labels <= n_listed <= RANK_MAX and n_classes >= GROUP:
        # the thresholds sorted ascending (equal ones by index), +inf after
        # them: threshold i is the sorted table's entry position[i]
        for l in range(32):
            sorted_threshold[l] = INFINITY
        memcpy(sorted_threshold, threshold, n_listed * sizeof(float))
        positions(load_table(sorted_threshold), threshold, n_listed, position)
        for l in range(n_listed):
            sorted_threshold[position[l]] = threshold[l]
        search_table = load_table(sorted_threshold)
        # the counts (int32, 64-byte aligned) and a byte a class after them
        # (n_groups * 16 rounded up to 32), at most 5 * n_classes + 170 bytes
        # of the scratch's 24 * n_classes + 24
        counted = <int32_t*> ((<size_t> scratch + 63) & ~(<size_t> 63))
        ranks = <unsigned char*> (counted + n_groups * GROUP)
        n_rank_bytes = (n_groups * GROUP + 31) // 32 * 32
        n_counted = n_listed
        _rank_pass(x, is_target, n_groups, x_rest if n_whole < n_classes else NULL,
                   is_target_rest, search_table, counted, ranks)
        # the columns from the ranks: col_i = #{d in D : rank_d > position[i]}
        # (x[d] > t_i puts t_i and its equals, position[i] among them, below
        # x[d]; x[d] <= t_i leaves at most #{j : t_j < t_i} <= position[i] below)
        if n_rank_bytes > n_groups * GROUP:
            memset(ranks + n_groups * GROUP, 0, n_rank_bytes - n_groups * GROUP)
        memset(sorted_column, 0, sizeof(sorted_column))
        _rank_columns(ranks, n_rank_bytes, n_listed, sorted_column)
        for l in range(n_listed):
            column[l] += sorted_column[position[l]]
    for g in range(n_whole // GROUP):
        prefetch(x + ahead + g * GROUP)
        _counted_group(x + g * GROUP, gradient + g * GROUP, is_target + g * GROUP,
                       NULL if counted == NULL else counted + g * GROUP, n_listed - n_counted,
                       threshold + n_counted, column + n_counted, &lane_total, &lane_error,
                       &magnitude, coef, grad_output, gradient_table, compensated,
                       with_gradient)
    if n_whole < n_classes:
        _counted_group(x_rest, gradient_rest, is_target_rest,
                       NULL if counted == NULL else counted + n_whole, n_listed - n_counted,
                       threshold + n_counted, column + n_counted, &lane_total, &lane_error,
                       &magnitude, coef, grad_output, gradient_table, compensated,
                       with_gradient)
        if with_gradient:
            for l in range(n_classes - n_whole):
                gradient[n_whole + l] = gradient_rest[l]
    total[0] = lane_total
    error[0] = lane_error
    largest = max_lane(magnitude)   # the bits of a float >= 0 order as its value (NaN above inf)
    memcpy(&score_max, &largest, 4)
    return score_max


cdef inline double _split_high(double value) noexcept nogil:
    """value with the low 31 bits of its significand cleared (count * high is
    exact for a count below 2**31; _add_product's split)."""
    cdef uint64_t bits
    cdef double high
    memcpy(&bits, &value, 8)
    bits &= ~((<uint64_t> 1 << 31) - 1)
    memcpy(&high, &bits, 8)
    return high


cdef inline double _counted_compensated_f32(
    const float* x,
    Py_ssize_t n_classes,
    Py_ssize_t n_listed,
    const float* threshold,
    int32_t* column,
    const unsigned char* is_target,
    double* scratch,
) noexcept nogil:
    """The row loss of _row_counted_f32 summed with compensation, for the rows
    the plain sum's guard rejects: the classes' products by TwoSum
    (_counted_pass), the label terms col_i * a_i in lane 2i + 1 (mod
    SUM_LANES), each as the two exact parts of _add_product, then the lanes
    combined as _lanes_total.  Accurate to about one float64 rounding however
    the terms cancel (docs/design.md, "Multi-label kernel")."""
    cdef:
        lc_f64 total, error, high_part, low_part
        Py_ssize_t i, first_label, lane
        double value, split
    for i in range(n_listed):
        column[i] = 0
    _counted_pass(x, NULL, n_classes, 0.0, 0.0, n_listed, threshold, column, is_target,
                  &total, &error, True, False, scratch)
    # label i's term to lane 2i + 1: 8 labels fill the odd lanes once, so each
    # lane gets its labels' parts in label order (an empty lane adds +0: no change)
    first_label = 0
    while first_label < n_listed:
        high_part = set1_f64(0.0)
        low_part = set1_f64(0.0)
        for i in range(first_label, min(first_label + SUM_LANES // 2, n_listed)):
            value = -threshold[i]
            split = _split_high(value)
            lane = (2 * i + 1) % SUM_LANES
            high_part = with_lane(high_part, lane, <double> column[i] * split)
            low_part = with_lane(low_part, lane, <double> column[i] * (value - split))
        _two_sum(&total, &error, high_part)
        _two_sum(&total, &error, low_part)
        first_label += SUM_LANES // 2
    # the lanes combined pairwise as _lanes_total (the same steps: lanes_total)
    return lanes_total(total, error)


cdef inline uint32_t _magnitude_bits(float value) noexcept nogil:
    """The bits of |value|: ordered as the magnitudes (NaN above inf)."""
    cdef uint32_t bits
    memcpy(&bits, &value, 4)
    return bits & 0x7FFFFFFF


cdef inline bint _row_counted_f32(
    const float* x,
    float* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    const Py_ssize_t* labels,
    unsigned char* is_target,
    double* label_count,
    double* scratch,
    float margin,
    double* row_total,
    bint with_gradient,
    double* probe,
) noexcept nogil:
    """_row_counted for float32 scores, the lane sums in registers: the
    classes' products and the gradient in one pass (_counted_pass), the label
    terms col_i * a_i (exact) added one after another, all in plain float64
    additions; a row whose terms may cancel beyond the plain sum's accuracy
    (the guard below) is summed again with compensation
    (_counted_compensated_f32).  probe (tests; NULL otherwise) gets the plain
    sum, the guard's bound and whether the plain sum was kept."""
    cdef:
        float bound = FLT_MAX / 4
        float threshold[COUNT_CAPACITY]
        int32_t column[COUNT_CAPACITY]
        lc_f64 total, error
        Py_ssize_t i, n_pairs = 0
        float score_max, shift_max
        uint32_t shift_bits = 0
        double label_sum = 0.0, loss, n_additions, guard
    if not (fabs(margin) <= bound):
        return False
    if n_listed <= 0:
        # no labels: loss 0, gradient 0 * grad_output
        if with_gradient:
            for i in range(n_classes):
                gradient[i] = <float> (0.0 * coef * grad_output)
        row_total[0] = 0.0
        return True
    for i in range(n_listed):
        threshold[i] = -(margin - x[labels[i]])
        # max |a_i| by its bits (no branch: the maximum moves at random)
        shift_bits = max(shift_bits, _magnitude_bits(threshold[i]))
        column[i] = 0
    memcpy(&shift_max, &shift_bits, 4)
    score_max = _counted_pass(x, gradient, n_classes, coef, grad_output, n_listed, threshold,
                              column, is_target, &total, &error, False, with_gradient,
                              scratch)
    if not (score_max <= bound):   # an infinite, huge or NaN score
        return False
    for i in range(n_listed):
        label_sum += <double> column[i] * <double> -threshold[i]   # exact: column[i] < 2**29
        n_pairs += column[i]
    loss = lanes_sum(total) + label_sum
    # The guard.  Every active term a_i + x[d] is > 0, so the exact row sum s
    # is > 0 (or 0 without active pairs: then every part is 0 and loss +0).
    # Each exact part goes through at most h = ceil(C / GROUP) + k + 5
    # roundings (its lane's adds, the 4 folds, the label chain, the last add),
    # so |loss - s| <= gamma_h * A (gamma_h = h u / (1 - h u), u = 2**-53;
    # A = sum |parts| <= P * (score_max + shift_max), P = sum_i col_i the
    # active pairs).  The plain sum is kept when loss >= guard = h * 2**-26 * P
    # * (score_max + shift_max), rounded down by at most three roundings:
    # then |loss - s| <= 2**-27 * (1 + 2**-23) * loss <= 2**-26 * s, under a
    # quarter float32 ulp of s (docs/design.md, "Multi-label kernel").
    n_additions = <double> ((n_classes + GROUP - 1) // GROUP + n_listed + 5)
    guard = ((n_additions / 67108864) * <double> n_pairs
             * (<double> score_max + <double> shift_max))    # 67108864 = 2**26
    if probe != NULL:
        probe[0] = loss
        probe[1] = guard
        probe[2] = loss >= guard and n_classes < (1 << 29)
    if not (loss >= guard and n_classes < (1 << 29)):
        loss = _counted_compensated_f32(x, n_classes, n_listed, threshold, column, is_target,
                                        scratch)
    for i in range(n_listed):
        is_target[labels[i]] = 0
    row_total[0] = loss
    if with_gradient:
        for i in range(n_listed):
            label_count[labels[i]] -= column[i]
        for i in range(n_listed):
            gradient[labels[i]] = <float> (label_count[labels[i]] * coef * grad_output)
        for i in range(n_listed):
            label_count[labels[i]] = 0
    return True


cdef inline void _two_sum_lanes(
    double* total, double* error, const double* term, Py_ssize_t n
) noexcept nogil:
    """Adds term[:n] into SUM_LANES running compensated sums: term[i] goes to
    lane i % SUM_LANES (TwoSum; the rounding errors gather in error[lane])."""
    cdef:
        Py_ssize_t i, l, n_whole = n - n % SUM_LANES
        double a, s, b
    for i in range(n_whole // SUM_LANES):
        for l in range(SUM_LANES):
            a = term[i * SUM_LANES + l]
            s = total[l] + a
            b = s - total[l]
            error[l] += (total[l] - (s - b)) + (a - b)
            total[l] = s
    for l in range(n - n_whole):
        a = term[n_whole + l]
        s = total[l] + a
        b = s - total[l]
        error[l] += (total[l] - (s - b)) + (a - b)
        total[l] = s


cdef inline void _add_product(
    double* total, double* error, double count, double value, Py_ssize_t lane
) noexcept nogil:
    """Adds count * value (count < 2**31 an integer) to lane lane % SUM_LANES:
    the product split as in _count_block, both exact parts by TwoSum (so that
    the lane's error gathers rounding errors only)."""
    cdef:
        double high, part, s, b
        uint64_t bits
        int k
    memcpy(&bits, &value, 8)
    bits &= ~((<uint64_t> 1 << 31) - 1)
    memcpy(&high, &bits, 8)
    lane = lane % SUM_LANES
    for k in range(2):
        part = count * high if k == 0 else count * (value - high)
        s = total[lane] + part
        b = s - total[lane]
        error[lane] += (total[lane] - (s - b)) + (part - b)
        total[lane] = s


cdef inline double _lanes_total(double* total, double* error) noexcept nogil:
    """The compensated sum of the lanes: halves added pairwise (TwoSum, lane l
    and l + width), then total[0] + error[0]."""
    cdef:
        Py_ssize_t l, width = SUM_LANES // 2
        double a, s, b
    while width >= 1:
        for l in range(width):
            a = total[l + width]
            s = total[l] + a
            b = s - total[l]
            error[l] += error[l + width] + ((total[l] - (s - b)) + (a - b))
            total[l] = s
        width //= 2
    return total[0] + error[0]


cdef inline bint _row_counted_lanes(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    const Py_ssize_t* labels,
    unsigned char* is_target,
    floating* count,
    double* product,
    double* label_count,
    floating margin,
    double* row_total,
    bint with_gradient,
) noexcept nogil:
    """_row_counted with the per-class counts and products in memory, one pass
    per BLOCK thresholds (_count_block), the lanes in memory (float64 scores)."""
    cdef:
        floating bound = (FLT_MAX if floating is float else DBL_MAX) / 4
        floating threshold[COUNT_CAPACITY + BLOCK]
        int32_t column[COUNT_CAPACITY + BLOCK]
        double total[SUM_LANES]
        double error[SUM_LANES]
        Py_ssize_t n_blocks = (n_listed + BLOCK - 1) // BLOCK
        Py_ssize_t i, q, b, label
        double loss
    if not (fabs(margin) <= bound):
        return False
    for i in range(n_blocks * BLOCK):
        # x[d] > -(margin - x[j]): no score passes the padding's +inf
        threshold[i] = -(margin - x[labels[i]]) if i < n_listed else INFINITY
        column[i] = 0
    if n_blocks == 0:
        # no labels: loss 0, gradient 0 * grad_output
        if with_gradient:
            for i in range(n_classes):
                gradient[i] = <floating> (0.0 * coef * grad_output)
        row_total[0] = 0.0
        return True
    if n_blocks == 1:
        if _count_block(x, n_classes, threshold, column, count, product, gradient, coef,
                        grad_output, bound, True, True, with_gradient):
            return False
    else:
        if _count_block(x, n_classes, threshold, column, count, product, gradient, coef,
                        grad_output, bound, True, False, with_gradient):
            return False
        for b in range(1, n_blocks - 1):
            _count_block(x, n_classes, threshold + b * BLOCK, column + b * BLOCK, count,
                         product, gradient, coef, grad_output, bound, False, False,
                         with_gradient)
        b = n_blocks - 1
        _count_block(x, n_classes, threshold + b * BLOCK, column + b * BLOCK, count, product,
                     gradient, coef, grad_output, bound, False, True, with_gradient)
    # The passes counted every class; take the labels' classes out (each class
    # once: is_target marks it until then): their products leave the sum before
    # it is formed (subtracting them afterwards would cancel, a score of 1e30
    # against terms of 1), their pairs leave the label columns.
    for i in range(n_listed):
        label = labels[i]
        if is_target[label]:
            is_target[label] = 0
            product[label] = 0.0
            if floating is double:  # float32 products are exact: no low parts
                product[n_classes + label] = 0.0
            for q in range(n_listed):
                column[q] -= x[label] > threshold[q]
    for i in range(SUM_LANES):
        total[i] = 0.0
        error[i] = 0.0
    _two_sum_lanes(total, error, product, n_classes)
    if floating is double:  # the products' low parts (_count_block writes them for float64)
        _two_sum_lanes(total, error, product + n_classes, n_classes)
    for i in range(n_listed):
        _add_product(total, error, <double> column[i], -threshold[i], 2 * i + 1)
    loss = _lanes_total(total, error)
    if not (loss - loss == 0):  # a float64 overflow (float64 scores only)
        for i in range(n_listed):
            is_target[labels[i]] = 1
        return False
    row_total[0] = loss
    if with_gradient:
        for i in range(n_listed):
            label_count[labels[i]] -= column[i]
        for i in range(n_listed):
            gradient[labels[i]] = <floating> (label_count[labels[i]] * coef * grad_output)
        for i in range(n_listed):
            label_count[labels[i]] = 0
    return True


cdef inline bint _row_counted(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    const Py_ssize_t* labels,
    unsigned char* is_target,
    floating* count,
    double* product,
    double* label_count,
    floating margin,
    double* row_total,
    bint with_gradient,
) noexcept nogil:
    """The row loss as sum_{d in D} cnt_d * x[d] + sum_i col_i * a_i with
    a_i = margin - x[j_i], cnt_d = #{i : x[d] > -a_i}, col_i = #{d in D : x[d]
    > -a_i} (the pair test (margin - x[j]) + x[d] > 0, exactly, for finite
    terms), to row_total; the gradient cnt_d (d in D), -sum_{i: j_i = c} col_i
    (c in T), times coef, times grad_output.  Returns False, with is_target as
    on entry, for a row whose scores (or margin) may give infinite terms or a
    float64 overflow: the general paths take it.  _row_counted_f32 takes
    float32 scores, _row_counted_lanes float64 ones."""
    if floating is float:
        return _row_counted_f32(x, gradient, n_classes, coef, grad_output, n_listed, labels,
                                is_target, label_count, product, margin, row_total,
                                with_gradient, NULL)
    else:
        return _row_counted_lanes(x, gradient, n_classes, coef, grad_output, n_listed, labels,
                                  is_target, count, product, label_count, margin, row_total,
                                  with_gradient)


def _counted_row_probe(const float[::1] input, const Py_ssize_t[::1] labels,
                       double margin=1.0):
    """For tests: the float32 counting row of ``input`` with the given labels
    (no more than COUNT_CAPACITY), summed as the kernels sum it.  Returns
    ``(loss, plain_sum, guard, kept)``: the row's loss (not divided by C),
    the plain sum, the guard's bound and whether the plain sum was kept (else
    the loss is the compensated sum); None for a row the counting path leaves
    to the others (an infinite, huge or NaN score)."""
    cdef:
        Py_ssize_t n_classes = input.shape[0], n_listed = labels.shape[0], i
        unsigned char[::1] is_target = bytearray(n_classes)
        double[::1] label_count = array.array("d", bytes(8 * n_classes))
        double[::1] scratch = array.array("d", bytes(24 * (n_classes + 1)))
        float[::1] gradient = array.array("f", bytes(4 * n_classes))
        double probe[3]
        double total
        bint counted
    if n_listed > COUNT_CAPACITY or n_classes == 0:
        raise ValueError(f"expected 1 <= n_classes and n_labels <= {COUNT_CAPACITY}")
    for i in range(n_listed):
        if not _in_range(labels[i], n_classes):
            raise ValueError(f"label {labels[i]} is not in [0, {n_classes})")
        is_target[labels[i]] = 1
    probe[0] = probe[1] = probe[2] = NAN
    counted = _row_counted_f32(&input[0], &gradient[0], n_classes, 1.0, 1.0, n_listed,
                               &labels[0] if n_listed else NULL, &is_target[0],
                               &label_count[0], &scratch[0], <float> margin, &total, True,
                               probe)
    if not counted:
        return None
    return total, probe[0], probe[1], bool(probe[2])


# ------------------------------------------------------------------ one row


cdef inline double _labels_loss(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t n_listed,
    Py_ssize_t* labels,
    unsigned char* is_target,
    floating* shift,
    double* prefix,
    floating margin,
) noexcept nogil:
    """sum_{j in T} sum_{d in D, z_jd > 0} z_jd for one row whose labels are
    collected (labels[:n_listed], marked in is_target; cleared on return);
    NaN if x has a NaN.  The counting path, the direct loop for few labels or
    the sorted shifts."""
    cdef double total
    if (direct_max_labels < n_listed <= count_max_labels
            and _row_counted(x, NULL, n_classes, 0.0, 0.0, n_listed, labels, is_target,
                             shift, prefix, NULL, margin, &total, False)):
        return total                # is_target is cleared
    if _has_nan(x, n_classes):
        total = NAN
    elif n_listed <= direct_max_labels:
        total = _row_loss_direct(x, n_classes, n_listed, labels, is_target, margin)
    else:
        total = _row_loss_sorted(x, n_classes, n_listed, labels, is_target, shift, prefix,
                                 margin)
    _clear_labels(labels, n_listed, is_target)
    return total


cdef inline double _labels_loss_gradient(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    Py_ssize_t* labels,
    unsigned char* is_target,
    floating* shift,
    double* prefix,
    double* count,
    floating margin,
) noexcept nogil:
    """Row loss as _labels_loss; writes the row's gradient, scaled by coef *
    grad_output.  is_target is cleared on return."""
    cdef double total
    if (direct_max_labels < n_listed <= count_max_labels
            and _row_counted(x, gradient, n_classes, coef, grad_output, n_listed, labels,
                             is_target, shift, prefix, count, margin, &total, True)):
        return total                # is_target is cleared
    if _has_nan(x, n_classes):
        _clear_labels(labels, n_listed, is_target)
        _fill_nan(gradient, n_classes)
        return NAN
    if n_listed <= direct_max_labels:
        total = _row_loss_gradient_direct(x, gradient, n_classes, coef, grad_output,
                                          n_listed, labels, is_target, count, margin)
    else:
        total = _row_loss_gradient_sorted(x, gradient, n_classes, coef, grad_output,
                                          n_listed, labels, is_target, shift, prefix, count,
                                          margin)
    _clear_labels(labels, n_listed, is_target)
    if total != total:
        _fill_nan(gradient, n_classes)
    return total


cdef inline Py_ssize_t _row_labels(
    const target_t* target,
    Py_ssize_t n_classes,
    Py_ssize_t* labels,
    unsigned char* is_target,
    bint indicator,
) noexcept nogil:
    """The row's labels (an index row or a 0/1 indicator row) to labels, marked
    in is_target; return how many there are.  The start of the index row two
    rows on is prefetched (an index row is read only up to its first -1, so
    the hardware's stream prefetch does not see it)."""
    if indicator:
        return _collect_indicator(target, n_classes, labels, is_target)
    prefetch(target + 2 * n_classes)
    prefetch(<const char*> (target + 2 * n_classes) + 64)
    return _collect_labels(target, n_classes, labels, is_target)


cdef inline double _row_loss(
    const floating* x,
    const target_t* target,
    Py_ssize_t n_classes,
    Py_ssize_t* labels,
    unsigned char* is_target,
    floating* shift,
    double* prefix,
    floating margin,
    bint indicator,
) noexcept nogil:
    """_labels_loss of the row's target."""
    cdef Py_ssize_t n_listed = _row_labels(target, n_classes, labels, is_target, indicator)
    return _labels_loss(x, n_classes, n_listed, labels, is_target, shift, prefix, margin)


cdef inline double _row_loss_gradient(
    const floating* x,
    const target_t* target,
    floating* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t* labels,
    unsigned char* is_target,
    floating* shift,
    double* prefix,
    double* count,
    floating margin,
    bint indicator,
) noexcept nogil:
    """_labels_loss_gradient of the row's target."""
    cdef Py_ssize_t n_listed = _row_labels(target, n_classes, labels, is_target, indicator)
    return _labels_loss_gradient(x, gradient, n_classes, coef, grad_output, n_listed, labels,
                                 is_target, shift, prefix, count, margin)


# ------------------------------------------------------------------ the target's range

include "_target_range.pxi"


# ------------------------------------------------------------------ arrays


def loss(
    const floating[:, ::1] input,
    const target_t[:, ::1] target,
    double[::1] loss_out,
    Py_ssize_t[:, ::1] index_scratch,
    unsigned char[:, ::1] is_target_scratch,
    floating[:, ::1] shift_scratch,
    double[:, ::1] prefix_scratch,
    int n_threads,
    double margin=1.0,
    bint indicator=False,
):
    """Per-sample loss: loss_out[n] = 1/C * sum_{j in T_n} sum_{d in D_n} max(0, z_njd).

    Scratch rows, one per thread: class indices (2C), class mask (C, zeroed
    on entry and left so), shifts (2C), prefix sums (3 * (C + 1)).  With
    ``indicator`` the target is a 0/1 matrix (nonzero = label) read in place.
    """
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, thread
        floating margin_in_dtype = <floating> margin
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        thread = threadid()
        loss_out[n] = _row_loss(
            &input[n, 0], &target[n, 0], n_classes,
            &index_scratch[thread, 0], &is_target_scratch[thread, 0],
            &shift_scratch[thread, 0], &prefix_scratch[thread, 0], margin_in_dtype,
            indicator,
        ) / n_classes


def loss_gradient(
    const floating[:, ::1] input,
    const target_t[:, ::1] target,
    double scale,
    const double[::1] grad_output,
    Py_ssize_t grad_output_stride,
    double[::1] loss_out,
    floating[:, ::1] gradient_out,
    Py_ssize_t[:, ::1] index_scratch,
    unsigned char[:, ::1] is_target_scratch,
    floating[:, ::1] shift_scratch,
    double[:, ::1] prefix_scratch,
    double[:, ::1] count_scratch,
    int n_threads,
    double margin=1.0,
    bint indicator=False,
):
    """Per-sample loss (as ``loss``) and its gradient in one pass over ``input``.

    gradient_out[n] = dloss_n / dx_n * scale * grad_output[n * stride], with
    ``scale`` = 1/C (or 1/(N*C) for the mean) and ``stride`` 0 for a scalar
    ``grad_output``.  ``count_scratch`` must be zeroed on entry (it is left so).
    """
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, thread
        floating margin_in_dtype = <floating> margin
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        thread = threadid()
        loss_out[n] = _row_loss_gradient(
            &input[n, 0], &target[n, 0], &gradient_out[n, 0], n_classes,
            scale, grad_output[n * grad_output_stride],
            &index_scratch[thread, 0], &is_target_scratch[thread, 0],
            &shift_scratch[thread, 0], &prefix_scratch[thread, 0], &count_scratch[thread, 0],
            margin_in_dtype, indicator,
        ) / n_classes


# ------------------------------------------------------------------ sparse targets (CSR rows)
# A sparse 0/1 label matrix, read as it is: the labels of sample n are
# indices[indptr[n]:indptr[n + 1]] (ascending, no repeats: the Python layer
# makes the matrix canonical), collected into the same per-thread scratch as a
# dense row's and passed to _labels_loss / _labels_loss_gradient: a sparse target gives
# the dense indicator's bits.  Nothing of size N x C is read or made for the
# target.  docs/design.md, "Sparse targets".

ctypedef fused csr_index_t:
    int32_t
    int64_t


cdef inline Py_ssize_t _collect_csr_row(
    const csr_index_t* indices,
    Py_ssize_t start,
    Py_ssize_t end,
    Py_ssize_t n_classes,
    Py_ssize_t* labels,
    unsigned char* is_target,
) noexcept nogil:
    """The labels indices[start:end] to labels, marked in is_target; return how
    many.  An entry out of range or repeated is skipped (memory safety only: the
    Python layer checked them, but a caller's thread may change them)."""
    cdef Py_ssize_t n_listed = 0, i, label
    for i in range(start, end):
        label = indices[i]
        if not _in_range(label, n_classes) or is_target[label]:
            continue
        labels[n_listed] = label
        is_target[label] = 1
        n_listed += 1
    return n_listed


cdef inline Py_ssize_t _clamped(Py_ssize_t value, Py_ssize_t low,
                                Py_ssize_t high) noexcept nogil:
    """value clamped to [low, high] (a CSR row's bounds: memory safety only)."""
    return min(max(value, low), high)


def loss_csr(
    const floating[:, ::1] input,
    const csr_index_t[::1] indptr,
    const csr_index_t[::1] indices,
    double[::1] loss_out,
    Py_ssize_t[:, ::1] index_scratch,
    unsigned char[:, ::1] is_target_scratch,
    floating[:, ::1] shift_scratch,
    double[:, ::1] prefix_scratch,
    int n_threads,
    double margin=1.0,
):
    """Per-sample loss as ``loss``, the labels of sample n read from the CSR rows
    ``indices[indptr[n]:indptr[n + 1]]`` (indptr of N + 1 entries).  The same
    per-thread scratch as ``loss``."""
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n_entries = indices.shape[0]
        Py_ssize_t n, thread, start, end, n_listed
        floating margin_in_dtype = <floating> margin
        const csr_index_t* row_ptr = &indptr[0]
        const csr_index_t* column = &indices[0] if n_entries else NULL
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        thread = threadid()
        # assigned here, not through a pointer, so that each thread has its own
        start = _clamped(row_ptr[n], 0, n_entries)
        end = _clamped(row_ptr[n + 1], start, n_entries)
        n_listed = _collect_csr_row(column, start, end, n_classes, &index_scratch[thread, 0],
                                    &is_target_scratch[thread, 0])
        loss_out[n] = _labels_loss(
            &input[n, 0], n_classes, n_listed, &index_scratch[thread, 0],
            &is_target_scratch[thread, 0], &shift_scratch[thread, 0],
            &prefix_scratch[thread, 0], margin_in_dtype,
        ) / n_classes


def loss_gradient_csr(
    const floating[:, ::1] input,
    const csr_index_t[::1] indptr,
    const csr_index_t[::1] indices,
    double scale,
    const double[::1] grad_output,
    Py_ssize_t grad_output_stride,
    double[::1] loss_out,
    floating[:, ::1] gradient_out,
    Py_ssize_t[:, ::1] index_scratch,
    unsigned char[:, ::1] is_target_scratch,
    floating[:, ::1] shift_scratch,
    double[:, ::1] prefix_scratch,
    double[:, ::1] count_scratch,
    int n_threads,
    double margin=1.0,
):
    """Per-sample loss and gradient as ``loss_gradient``, the labels read from CSR
    rows as in ``loss_csr``."""
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n_entries = indices.shape[0]
        Py_ssize_t n, thread, start, end, n_listed
        floating margin_in_dtype = <floating> margin
        const csr_index_t* row_ptr = &indptr[0]
        const csr_index_t* column = &indices[0] if n_entries else NULL
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        thread = threadid()
        # assigned here, not through a pointer, so that each thread has its own
        start = _clamped(row_ptr[n], 0, n_entries)
        end = _clamped(row_ptr[n + 1], start, n_entries)
        n_listed = _collect_csr_row(column, start, end, n_classes, &index_scratch[thread, 0],
                                    &is_target_scratch[thread, 0])
        loss_out[n] = _labels_loss_gradient(
            &input[n, 0], &gradient_out[n, 0], n_classes, scale,
            grad_output[n * grad_output_stride],
            n_listed, &index_scratch[thread, 0], &is_target_scratch[thread, 0],
            &shift_scratch[thread, 0], &prefix_scratch[thread, 0], &count_scratch[thread, 0],
            margin_in_dtype,
        ) / n_classes

include "_multilabel_pointer_entry.pxi"
