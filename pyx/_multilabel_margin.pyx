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
