# The sorted path of the multi-label kernels (included by _multilabel_margin.pyx):
# rows with many labels (or infinite scores).  The shifts a_i = margin - x[j_i]
# sorted descending, their prefix sums P, and for each non-label class d the
# number m_d of shifts it violates (a prefix):
#
#     loss    = sum_{d in D} (P[m_d] + m_d * x[d])
#     dloss_d = m_d,   dloss_c = -sum_{i: j_i = c} #{d : m_d > i}
#
# (times 1 / C).  docs/design.md, "Kernels", has the reasoning.


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
