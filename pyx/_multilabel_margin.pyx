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

include "_rows.pxi"

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
    COUNT_MAX_LABELS = 64
    # Fewer labels than this are sorted by insertion, more by radix sort.
    RADIX_MIN_FLOAT32 = 64
    RADIX_MIN_FLOAT64 = 128

cdef enum:
    # Binary searches run this many at a time.
    LANES = 8
    # Up to this many labels the sorted path counts the active labels instead of
    # searching (measured).
    SEARCH_COUNT_MAX = 16
    # Thresholds compared per pass of the counting path over a row.
    BLOCK = 4
    # Float64 lanes of the compensated sums (fixed: the same bits on every build).
    SUM_LANES = 16

# The thresholds in use; tests move them to run each path on the same rows.
cdef Py_ssize_t direct_max_labels = DIRECT_MAX_LABELS
cdef Py_ssize_t count_max_labels = COUNT_MAX_LABELS


def _set_direct_max_labels(Py_ssize_t n_labels):
    """Rows with at most n_labels labels take the direct loop; return the previous
    threshold.  For tests and benchmarks only: not thread-safe."""
    global direct_max_labels
    previous = direct_max_labels
    direct_max_labels = n_labels
    return previous


def _set_count_max_labels(Py_ssize_t n_labels):
    """Rows with at most n_labels labels (and more than the direct loop's) take
    the counting path; return the previous threshold.  For tests and benchmarks
    only: not thread-safe."""
    global count_max_labels
    previous = count_max_labels
    count_max_labels = min(n_labels, COUNT_MAX_LABELS)
    return previous


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
    row holds gives an in-range label, so no bounds check is needed.  Runs of
    32 zero bytes are skipped four words at a time."""
    cdef:
        Py_ssize_t n_listed = 0, j = 0, end
        Py_ssize_t per_chunk = 32 // sizeof(target_t)
        uint64_t words[4]
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


# ------------------------------------------------------------------ sort (descending shifts)


cdef inline void _insertion_sort(floating* key, Py_ssize_t* label, Py_ssize_t n) noexcept nogil:
    """Sort key[:n] descending, moving label along: O(n**2), for small n."""
    cdef:
        Py_ssize_t i, j, v
        floating k
    for i in range(1, n):
        k = key[i]
        v = label[i]
        j = i
        while j > 0 and key[j - 1] < k:
            key[j] = key[j - 1]
            label[j] = label[j - 1]
            j -= 1
        key[j] = k
        label[j] = v


cdef inline uint64_t _descending_bits(floating value) noexcept nogil:
    """An unsigned integer that orders the floats (not NaN) in descending order:
    the IEEE bits with the sign bit set for negatives (larger magnitude, larger
    key) and all other bits flipped for positives."""
    cdef:
        uint32_t bits32
        uint64_t bits64
    if floating is float:
        memcpy(&bits32, &value, 4)
        return bits32 ^ (((bits32 >> 31) - 1) & 0x7FFFFFFF)
    else:
        memcpy(&bits64, &value, 8)
        return bits64 ^ (((bits64 >> 63) - 1) & (~(<uint64_t> 0) >> 1))


cdef void _radix_sort(
    floating* key, Py_ssize_t* label, Py_ssize_t n,
    floating* key_buffer, Py_ssize_t* label_buffer,
) noexcept nogil:
    """Sort key[:n] descending, moving label along: LSD radix sort on bytes of
    _descending_bits (stable counting passes, skipped where all keys share the
    byte), through the buffers of n elements each."""
    cdef:
        Py_ssize_t counts[8 * 256]
        Py_ssize_t* count
        int n_passes = 4 if floating is float else 8
        int p, shift
        Py_ssize_t i, total, position, digit
        uint64_t bits
        floating* source_key = key
        Py_ssize_t* source_label = label
        floating* target_key = key_buffer
        Py_ssize_t* target_label = label_buffer
        floating* swap_key
        Py_ssize_t* swap_label
    memset(counts, 0, n_passes * 256 * sizeof(Py_ssize_t))
    for i in range(n):
        bits = _descending_bits(key[i])
        for p in range(n_passes):
            counts[p * 256 + ((bits >> (8 * p)) & 255)] += 1
    for p in range(n_passes):
        count = counts + p * 256
        shift = 8 * p
        if count[(_descending_bits(source_key[0]) >> shift) & 255] == n:
            continue
        total = 0
        for digit in range(256):
            position = count[digit]
            count[digit] = total
            total += position
        for i in range(n):
            digit = (_descending_bits(source_key[i]) >> shift) & 255
            position = count[digit]
            count[digit] = position + 1
            target_key[position] = source_key[i]
            target_label[position] = source_label[i]
        swap_key = source_key
        source_key = target_key
        target_key = swap_key
        swap_label = source_label
        source_label = target_label
        target_label = swap_label
    if source_key != key:
        memcpy(key, source_key, n * sizeof(floating))
        memcpy(label, source_label, n * sizeof(Py_ssize_t))


cdef inline void _sort_descending(
    floating* key, Py_ssize_t* label, Py_ssize_t n,
    floating* key_buffer, Py_ssize_t* label_buffer,
) noexcept nogil:
    """Sort key[:n] descending, moving label along (buffers of n elements)."""
    cdef Py_ssize_t radix_min
    if floating is float:
        radix_min = RADIX_MIN_FLOAT32
    else:
        radix_min = RADIX_MIN_FLOAT64
    if n < radix_min:
        _insertion_sort(key, label, n)
    else:
        _radix_sort(key, label, n, key_buffer, label_buffer)


# ------------------------------------------------------------------ one row, sorted shifts


cdef inline void _sorted_shifts(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t n_listed,
    Py_ssize_t* labels,
    floating* shift,
    double* prefix,
    double* prefix_error,
    floating margin,
) noexcept nogil:
    """shift[i] = margin - x[labels[i]] sorted descending (labels moved along);
    prefix[m] + prefix_error[m] = sum_{i < m} shift[i] (TwoSum).  The sort
    uses shift[n_classes:] and labels[n_classes:] as buffers."""
    cdef:
        Py_ssize_t i
        double total = 0.0, error = 0.0, a, s, b
    for i in range(n_listed):
        shift[i] = margin - x[labels[i]]
    _sort_descending(shift, labels, n_listed, shift + n_classes, labels + n_classes)
    prefix[0] = 0.0
    prefix_error[0] = 0.0
    for i in range(n_listed):
        a = shift[i]
        s = total + a
        b = s - total
        error += (total - (s - b)) + (a - b)
        total = s
        prefix[i + 1] = total
        prefix_error[i + 1] = error


cdef inline Py_ssize_t _n_active(
    const floating* shift, Py_ssize_t n_listed, floating score
) noexcept nogil:
    """m = #{i : not (shift[i] + score <= 0)}, a prefix of the descending shifts.

    Branch-free binary search: shift[:lo] are known active, and the first
    inactive index lies in [lo, lo + n]."""
    cdef Py_ssize_t lo = 0, half, n = n_listed
    if n == 0:
        return 0
    while n > 1:
        half = n >> 1
        lo += half & -(<Py_ssize_t> (not (shift[lo + half] + score <= 0)))
        n -= half
    return lo + (not (shift[lo] + score <= 0))


cdef inline Py_ssize_t _search_step(
    const floating* shift, Py_ssize_t position, Py_ssize_t half, floating score
) noexcept nogil:
    """position + half if shift[position + half] is active, else position: one
    step of the branch-free search of _n_active."""
    return position + (half & -(<Py_ssize_t> (not (shift[position + half] + score <= 0))))


cdef inline void _n_active_lanes(
    const floating* shift,
    Py_ssize_t n_listed,
    const floating* x,
    const Py_ssize_t* classes,
    Py_ssize_t* m,
) noexcept nogil:
    """m[l] = _n_active(shift, n_listed, x[classes[l]]) for LANES classes, the
    searches interleaved step by step so that their latencies overlap."""
    cdef:
        floating score[LANES]
        Py_ssize_t i, l, half, n = n_listed
    for l in range(LANES):
        score[l] = x[classes[l]]
        m[l] = 0
    if n <= SEARCH_COUNT_MAX:
        # few labels: count the active ones (the same m: the test is monotone
        # in the sorted shifts), LANES classes a vector, no dependent loads
        for i in range(n):
            for l in range(LANES):
                m[l] += not (shift[i] + score[l] <= 0)
        return
    # The eight positions stay in scalar locals: kept in an array, GCC (AVX-512)
    # packs their updates into a vector whose lanes the next loads read back
    # one by one, through memory (1.5x slower).
    cdef Py_ssize_t m0 = 0, m1 = 0, m2 = 0, m3 = 0, m4 = 0, m5 = 0, m6 = 0, m7 = 0
    while n > 1:
        half = n >> 1
        m0 = _search_step(shift, m0, half, score[0])
        m1 = _search_step(shift, m1, half, score[1])
        m2 = _search_step(shift, m2, half, score[2])
        m3 = _search_step(shift, m3, half, score[3])
        m4 = _search_step(shift, m4, half, score[4])
        m5 = _search_step(shift, m5, half, score[5])
        m6 = _search_step(shift, m6, half, score[6])
        m7 = _search_step(shift, m7, half, score[7])
        n -= half
    m[0] = m0 + (not (shift[m0] + score[0] <= 0))
    m[1] = m1 + (not (shift[m1] + score[1] <= 0))
    m[2] = m2 + (not (shift[m2] + score[2] <= 0))
    m[3] = m3 + (not (shift[m3] + score[3] <= 0))
    m[4] = m4 + (not (shift[m4] + score[4] <= 0))
    m[5] = m5 + (not (shift[m5] + score[5] <= 0))
    m[6] = m6 + (not (shift[m6] + score[6] <= 0))
    m[7] = m7 + (not (shift[m7] + score[7] <= 0))


cdef inline Py_ssize_t _non_targets(
    Py_ssize_t n_classes, const unsigned char* is_target, Py_ssize_t* others
) noexcept nogil:
    """The classes d with is_target[d] == 0, ascending, in others; return how many."""
    cdef Py_ssize_t d, n_others = 0
    for d in range(n_classes):
        others[n_others] = d
        n_others += not is_target[d]
    return n_others


cdef inline double _active_sum(
    const floating* shift,
    const double* prefix,
    const double* prefix_error,
    Py_ssize_t m,
    floating score,
) noexcept nogil:
    """sum_{i < m} (shift[i] + score), the terms of one d, m >= 1: in float64 as
    P[m] + m * score, compensated; NaN if a term is NaN, inf if one is inf."""
    cdef:
        floating first = shift[0] + score
        floating last = shift[m - 1] + score
        double x = score, count = <double> m
        double x_high, product, product_error, s, b, total
        uint64_t bits
        Py_ssize_t i
    # Only the ends of the sorted shifts can be infinite, so only the ends
    # can give an inf or NaN term.
    if first != first or last != last:
        return NAN
    if first == INFINITY:
        return INFINITY
    # x = x_high + x_low with the low 31 bits of x_high's significand cleared:
    # count * x_high is exact for any count < 2**31.  (Bits, not Veltkamp's
    # multiply-and-subtract split, which a compiler contracting into FMA breaks.)
    memcpy(&bits, &x, 8)
    bits &= ~((<uint64_t> 1 << 31) - 1)
    memcpy(&x_high, &bits, 8)
    product = count * x_high                   # exact
    product_error = count * (x - x_high)
    s = prefix[m] + product                    # TwoSum
    b = s - prefix[m]
    total = s + (((prefix[m] - (s - b)) + (product - b)) + (prefix_error[m] + product_error))
    if total - total == 0:                     # finite
        return total
    # A float64 overflow inside the formula: add the terms one by one.
    total = 0.0
    for i in range(m):
        total += <double> (shift[i] + score)
    return total


cdef inline double _class_loss(
    const floating* shift,
    const double* prefix,
    const double* prefix_error,
    Py_ssize_t m,
    floating score,
) noexcept nogil:
    """sum_{i < m} (shift[i] + score): the terms of a non-target class that
    violates m labels (0 if m == 0)."""
    if m == 0:
        return 0.0
    return _active_sum(shift, prefix, prefix_error, m, score)


cdef inline double _row_loss_sorted(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t n_listed,
    Py_ssize_t* index,
    const unsigned char* is_target,
    floating* shift,
    double* prefix,
    floating margin,
) noexcept nogil:
    """sum_{d in D} (P[m_d] + m_d * x[d]).  index[:n_listed] holds the labels."""
    cdef:
        Py_ssize_t* others = index + n_classes
        double* prefix_error = prefix + n_classes + 1
        Py_ssize_t m[LANES]
        Py_ssize_t i, l, n_others
        double total = 0.0
    _sorted_shifts(x, n_classes, n_listed, index, shift, prefix, prefix_error, margin)
    n_others = _non_targets(n_classes, is_target, others)
    i = 0
    while i + LANES <= n_others:
        _n_active_lanes(shift, n_listed, x, others + i, m)
        for l in range(LANES):
            total += _class_loss(shift, prefix, prefix_error, m[l], x[others[i + l]])
        i += LANES
    while i < n_others:
        total += _class_loss(shift, prefix, prefix_error,
                             _n_active(shift, n_listed, x[others[i]]), x[others[i]])
        i += 1
    return total


cdef inline double _class_loss_gradient(
    const floating* x,
    floating* gradient,
    double coef,
    double grad_output,
    const floating* shift,
    const double* prefix,
    const double* prefix_error,
    double* histogram,
    Py_ssize_t m,
    Py_ssize_t d,
) noexcept nogil:
    """_class_loss of class d, violating m labels; writes gradient_d =
    m * coef * grad_output and counts d in histogram[m]."""
    # grad_output multiplies last, as in PyTorch (0 * grad_output where inactive)
    gradient[d] = <floating> (<double> m * coef * grad_output)
    histogram[m] += 1
    return _class_loss(shift, prefix, prefix_error, m, x[d])


cdef inline double _row_loss_gradient_sorted(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    Py_ssize_t* index,
    const unsigned char* is_target,
    floating* shift,
    double* prefix,
    double* count,
    floating margin,
) noexcept nogil:
    """Row loss as _row_loss_sorted; gradient_d = m_d, gradient_c = -sum_{i: j_i = c}
    #{d : m_d > i}, times coef, times grad_output."""
    cdef:
        Py_ssize_t* labels = index
        Py_ssize_t* others = index + n_classes
        double* prefix_error = prefix + n_classes + 1
        double* histogram = prefix + 2 * (n_classes + 1)   # histogram[m] = #{d : m_d = m}
        Py_ssize_t m[LANES]
        Py_ssize_t i, l, n_others
        double total = 0.0, n_above = 0.0
    _sorted_shifts(x, n_classes, n_listed, labels, shift, prefix, prefix_error, margin)
    n_others = _non_targets(n_classes, is_target, others)
    for i in range(n_listed + 1):
        histogram[i] = 0.0
    i = 0
    while i + LANES <= n_others:
        _n_active_lanes(shift, n_listed, x, others + i, m)
        for l in range(LANES):
            total += _class_loss_gradient(x, gradient, coef, grad_output, shift, prefix,
                                          prefix_error, histogram, m[l], others[i + l])
        i += LANES
    while i < n_others:
        total += _class_loss_gradient(x, gradient, coef, grad_output, shift, prefix,
                                      prefix_error, histogram,
                                      _n_active(shift, n_listed, x[others[i]]), others[i])
        i += 1
    for i in range(n_listed - 1, -1, -1):
        n_above += histogram[i + 1]          # #{d : m_d > i}
        count[labels[i]] -= n_above
    for i in range(n_listed):
        gradient[labels[i]] = <floating> (count[labels[i]] * coef * grad_output)
    for i in range(n_listed):
        count[labels[i]] = 0
    return total


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
    Py_ssize_t* column,
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
    float64 overflow: the general paths take it."""
    cdef:
        floating bound = (FLT_MAX if floating is float else DBL_MAX) / 4
        floating threshold[COUNT_MAX_LABELS + BLOCK]
        Py_ssize_t column[COUNT_MAX_LABELS + BLOCK]
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
            if floating is double:
                product[n_classes + label] = 0.0
            for q in range(n_listed):
                column[q] -= x[label] > threshold[q]
    for i in range(SUM_LANES):
        total[i] = 0.0
        error[i] = 0.0
    _two_sum_lanes(total, error, product, n_classes)
    if floating is double:
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


# ------------------------------------------------------------------ one row


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
    """sum_{j in T} sum_{d in D, z_jd > 0} z_jd for one row; NaN if x has a NaN.
    Sorted shifts and binary searches, or the direct loop for few labels."""
    cdef:
        Py_ssize_t n_listed
        double total
    if indicator:
        n_listed = _collect_indicator(target, n_classes, labels, is_target)
    else:
        n_listed = _collect_labels(target, n_classes, labels, is_target)
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
    """Row loss as _row_loss; writes the row's gradient, scaled by coef * grad_output."""
    cdef:
        Py_ssize_t n_listed
        double total
    if indicator:
        n_listed = _collect_indicator(target, n_classes, labels, is_target)
    else:
        n_listed = _collect_labels(target, n_classes, labels, is_target)
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

include "_multilabel_pointer_entry.pxi"
