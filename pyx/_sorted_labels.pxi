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


cdef inline void _rank_sort(
    float* key, Py_ssize_t* label, Py_ssize_t n,
    float* key_buffer, Py_ssize_t* label_buffer,
) noexcept nogil:
    """Sort key[:n] descending (n <= RANK_SORT_MAX), moving label along: key i
    goes to its rank #{j : b_j < b_i} + #{j < i : b_j == b_i} with b =
    _descending_bits (a total order of the bit patterns, so the ranks are a
    permutation whatever the keys), through the buffers.  O(n**2) compares,
    no branch: GCC vectorises the counts."""
    cdef:
        uint32_t bits[RANK_SORT_MAX]
        uint32_t b
        Py_ssize_t i, j, rank
    for i in range(n):
        bits[i] = <uint32_t> _descending_bits(key[i])
    for i in range(n):
        b = bits[i]
        rank = 0
        for j in range(n):
            rank += bits[j] < b
        for j in range(i):
            rank += bits[j] == b
        key_buffer[rank] = key[i]
        label_buffer[rank] = label[i]
    memcpy(key, key_buffer, n * sizeof(float))
    memcpy(label, label_buffer, n * sizeof(Py_ssize_t))


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
    if floating is float and n < radix_min:
        _rank_sort(key, label, n, key_buffer, label_buffer)
    elif n < radix_min:
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
    floating margin,
) noexcept nogil:
    """shift[i] = margin - x[labels[i]] sorted descending (labels moved along).
    The sort uses shift[n_classes:] and labels[n_classes:] as buffers."""
    cdef Py_ssize_t i
    for i in range(n_listed):
        shift[i] = margin - x[labels[i]]
    _sort_descending(shift, labels, n_listed, shift + n_classes, labels + n_classes)


cdef inline void _prefix_sums(
    const floating* shift,
    Py_ssize_t n_listed,
    double* prefix,
    double* prefix_error,
) noexcept nogil:
    """prefix[m] + prefix_error[m] = sum_{i < m} shift[i] (TwoSum), for the
    class-by-class sums only (a row of infinite or huge scores)."""
    cdef:
        Py_ssize_t i
        double total = 0.0, error = 0.0, a, s, b
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


cdef extern from "_label_search.h" nogil:
    # m[d] = _n_active(shift, n_listed, x[d]) for the leading whole vectors
    # of classes, many a vector; returns how many classes it did (0 without AVX2).
    # bounded: the row's |x[d]| <= FLT_MAX / 4 and |a_i| <= FLT_MAX / 2 (no
    # NaN): then not (a_i + x[d] <= 0) is exactly x[d] > -a_i, one compare
    Py_ssize_t _n_active_vectors_f32 "ml_n_active_f32" (
        const float* shift, Py_ssize_t n_listed, const float* x, Py_ssize_t n_classes,
        int32_t* m, bint bounded)
    Py_ssize_t _n_active_vectors_f64 "ml_n_active_f64" (
        const double* shift, Py_ssize_t n_listed, const double* x, Py_ssize_t n_classes,
        int32_t* m)


cdef inline void _n_active_lanes(
    const floating* shift,
    Py_ssize_t n_listed,
    const floating* x,
    int32_t* m,
) noexcept nogil:
    """m[l] = _n_active(shift, n_listed, x[l]) for LANES classes, the searches
    interleaved step by step so that their latencies overlap."""
    cdef:
        floating score[LANES]
        Py_ssize_t i, l, half, n = n_listed
        int32_t counted[LANES]
    for l in range(LANES):
        score[l] = x[l]
        counted[l] = 0
    if n <= SEARCH_COUNT_MAX:
        # few labels: count the active ones (the same m: the test is monotone
        # in the sorted shifts), LANES classes a vector, no dependent loads
        for i in range(n):
            for l in range(LANES):
                counted[l] += not (shift[i] + score[l] <= 0)
        for l in range(LANES):
            m[l] = counted[l]
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


cdef inline float _largest_magnitude(const float* x, Py_ssize_t n_classes) noexcept nogil:
    """max_d |x[d]| (NaN if a score is NaN), GROUP classes a step."""
    cdef:
        Py_ssize_t g, l, n_whole = n_classes - n_classes % GROUP
        lc_i32 magnitude = zero_i32()
        float x_rest[GROUP]
        float largest
        int32_t largest_bits
    for g in range(n_whole // GROUP):
        magnitude = max_abs_bits(magnitude, load_f32(x + g * GROUP))
    for l in range(GROUP):
        x_rest[l] = x[n_whole + l] if n_whole + l < n_classes else 0.0
    # the bits of a float >= 0 order as its value (NaN above inf)
    largest_bits = max_lane(max_abs_bits(magnitude, load_f32(x_rest)))
    memcpy(&largest, &largest_bits, 4)
    return largest


cdef inline float _active_counts(
    const floating* shift,
    Py_ssize_t n_listed,
    const floating* x,
    Py_ssize_t n_classes,
    int32_t* m,
) noexcept nogil:
    """m[d] = _n_active(shift, n_listed, x[d]) for every class d (labels too):
    whole vectors by _label_search.h where the build has them, then LANES
    classes at a time, then one by one.  Returns max_d |x[d]| for float32
    scores (NaN if a score is NaN), 0 for float64 ones."""
    cdef:
        Py_ssize_t d
        bint bounded
        float largest = 0
    if floating is float:
        # (a rounded sum of two floats is 0 only when they cancel exactly, and
        # within these bounds it cannot overflow)
        largest = _largest_magnitude(x, n_classes)
        bounded = (n_listed > 0 and largest <= FLT_MAX / 4
                   and fabs(shift[0]) <= FLT_MAX / 2 and fabs(shift[n_listed - 1]) <= FLT_MAX / 2)
        d = _n_active_vectors_f32(shift, n_listed, x, n_classes, m, bounded)
    else:
        d = _n_active_vectors_f64(shift, n_listed, x, n_classes, m)
    while d + LANES <= n_classes:
        _n_active_lanes(shift, n_listed, x + d, m + d)
        d += LANES
    while d < n_classes:
        m[d] = <int32_t> _n_active(shift, n_listed, x[d])
        d += 1
    return largest


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


cdef inline void _two_sum_lane(double* total, double* error, double a) noexcept nogil:
    """total + error += a (TwoSum: the rounding error of total + a goes to error)."""
    cdef double s = total[0] + a, b = s - total[0]
    error[0] += (total[0] - (s - b)) + (a - b)
    total[0] = s


cdef inline bint _class_product(
    const floating* x,
    int32_t* m,
    const unsigned char* is_target,
    floating* gradient,
    double coef,
    double grad_output,
    floating bound,
    bint split,
    double* total,
    double* error,
    Py_ssize_t d,
    bint with_gradient,
) noexcept nogil:
    """m[d] = cnt_d (m_d for d in D, 0 for a label); adds cnt_d * x[d] to the
    compensated sum total + error: one exact product, or (split) x's high part
    (low 31 significand bits cleared: exact for any cnt_d < 2**31) and its
    rest, one TwoSum each.  with_gradient: gradient[d] = cnt_d * coef *
    grad_output.  Returns whether x[d] is beyond bound (or NaN)."""
    cdef:
        int32_t counted = m[d] * (not is_target[d])
        double count = counted
        floating score = x[d]
        double value = score, high
        uint64_t bits
    m[d] = counted
    if with_gradient:
        # grad_output multiplies last, as in PyTorch (0 * grad_output where
        # inactive); the labels' entries are rewritten afterwards
        gradient[d] = <floating> (count * coef * grad_output)
    if not split:
        _two_sum_lane(total, error, count * value)                # exact
    else:
        memcpy(&bits, &value, 8)
        bits &= ~((<uint64_t> 1 << 31) - 1)
        memcpy(&high, &bits, 8)
        _two_sum_lane(total, error, count * high)                 # exact
        _two_sum_lane(total, error, count * (value - high))
    return not (fabs(score) <= bound)


cdef inline bint _class_products(
    const floating* x,
    Py_ssize_t n_classes,
    int32_t* m,
    const unsigned char* is_target,
    floating* gradient,
    double coef,
    double grad_output,
    floating bound,
    bint split,
    double* total,
    double* error,
    bint with_gradient,
) noexcept nogil:
    """_class_product of class d into lane d % SUM_LANES, for every class (the
    lanes as in _two_sum_lanes, so that GCC vectorises them).  Returns whether a
    score is beyond bound (or NaN): then the lanes are to be discarded."""
    cdef:
        Py_ssize_t i, l, n_whole = n_classes - n_classes % SUM_LANES
        bint beyond = False
    for i in range(n_whole // SUM_LANES):
        for l in range(SUM_LANES):
            beyond |= _class_product(x, m, is_target, gradient, coef, grad_output, bound,
                                     split, &total[l], &error[l], i * SUM_LANES + l,
                                     with_gradient)
    for l in range(n_classes - n_whole):
        beyond |= _class_product(x, m, is_target, gradient, coef, grad_output, bound, split,
                                 &total[l], &error[l], n_whole + l, with_gradient)
    return beyond


cdef extern from "_label_ranks.h" nogil:
    # whether this build forms the float32 products in groups (a constant)
    bint VECTOR_GROUPS "LR_GROUPS"
    # (load_i32, store_i32: _label_ranks_count.pxi)
    lc_f64 high_f64 "lr_high_f64"(lc_f64 a)


cdef inline bint _ranked_group(
    const float* x,
    int32_t* m,
    const unsigned char* is_target,
    float* gradient,
    lc_f64* total,
    lc_f64* error,
    double coef,
    double grad_output,
    const float* gradient_table,
    int32_t* lane_histogram,
    float bound,
    bint with_gradient,
) noexcept nogil:
    """GROUP classes d of a float32 row, one a lane: cnt_d = m[d], 0 for a
    label's class (written back to m, and counted in lane_histogram when
    given: lane l's histogram, entry cnt_d * GROUP + l); cnt_d * x[d] (exact
    in float64) added to the lane sums by TwoSum; gradient[d] = cnt_d * coef
    * grad_output (gradient_table[cnt_d] when given).  _class_product's
    arithmetic, lane by lane.  Returns whether a score is beyond bound (or NaN)."""
    cdef:
        lc_f32 v = load_f32(x)
        lc_i32 count = zero_where(load_i32(m), is_target)
        lc_f64 product, s, b
        Py_ssize_t l
    store_i32(m, count)
    if lane_histogram != NULL:
        # scalar increments, overlapping the vector work below
        for l in range(GROUP):
            lane_histogram[m[l] * GROUP + l] += 1
    product = mul_f64(cvt_i32_f64(count), cvt_f32_f64(v))      # exact
    s = add_f64(total[0], product)
    b = sub_f64(s, total[0])
    error[0] = add_f64(error[0], add_f64(sub_f64(total[0], sub_f64(s, b)), sub_f64(product, b)))
    total[0] = s
    if with_gradient:
        if gradient_table != NULL:   # the same values, looked up by count
            store_lookup(gradient, gradient_table, count)
        else:
            # grad_output multiplies last, as in PyTorch (0 * grad_output where
            # inactive); the labels' entries are rewritten afterwards
            store_f32(gradient, mul_f64(mul_f64(cvt_i32_f64(count), set1_f64(coef)),
                                        set1_f64(grad_output)))
    return beyond_f32(v, bound)


cdef inline bint _ranked_groups(
    const float* x,
    Py_ssize_t n_classes,
    int32_t* m,
    const unsigned char* is_target,
    float* gradient,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    int32_t* lane_histogram,
    float bound,
    double* total,
    double* error,
    bint with_gradient,
) noexcept nogil:
    """_ranked_group over a float32 row (class d in lane d % GROUP, the lanes
    of _class_products: the same bits), the last group padded with zero
    scores and counts (adding +0 leaves a lane's bits); the lane sums to
    total[:SUM_LANES], error[:SUM_LANES].  Returns whether a score is beyond
    bound (or NaN): then the lanes are to be discarded."""
    cdef:
        Py_ssize_t g, l, n_whole = n_classes - n_classes % GROUP
        lc_f64 lane_total = set1_f64(0.0), lane_error = set1_f64(0.0)
        float x_rest[GROUP]
        float gradient_rest[GROUP]
        int32_t m_rest[GROUP]
        unsigned char is_target_rest[GROUP]
        float table[TABLE]
        float* gradient_table = NULL
        bint beyond = False
    if with_gradient and n_listed < TABLE:
        # each count's gradient, computed once a row (the same expression)
        gradient_table = table
        for l in range(TABLE):
            table[l] = <float> (<double> l * coef * grad_output) if l <= n_listed else 0
    for g in range(n_whole // GROUP):
        beyond |= _ranked_group(x + g * GROUP, m + g * GROUP, is_target + g * GROUP,
                                gradient + g * GROUP, &lane_total, &lane_error, coef,
                                grad_output, gradient_table, lane_histogram, bound,
                                with_gradient)
    if n_whole < n_classes:
        for l in range(GROUP):
            if n_whole + l < n_classes:
                x_rest[l] = x[n_whole + l]
                m_rest[l] = m[n_whole + l]
                is_target_rest[l] = is_target[n_whole + l]
            else:
                x_rest[l] = 0.0
                m_rest[l] = 0
                is_target_rest[l] = 1
        # (the padding's counts 0 go to histogram row 0, which no column reads)
        beyond |= _ranked_group(x_rest, m_rest, is_target_rest, gradient_rest, &lane_total,
                                &lane_error, coef, grad_output, gradient_table, lane_histogram,
                                bound, with_gradient)
        for l in range(n_classes - n_whole):
            m[n_whole + l] = m_rest[l]
            if with_gradient:
                gradient[n_whole + l] = gradient_rest[l]
    store_f64(total, lane_total)
    store_f64(error, lane_error)
    return beyond


cdef inline void _two_sum_group(lc_f64* total, lc_f64* error, lc_f64 a) noexcept nogil:
    """total + error += a, lane by lane (_two_sum_lane)."""
    cdef lc_f64 s = add_f64(total[0], a), b = sub_f64(s, total[0])
    error[0] = add_f64(error[0], add_f64(sub_f64(total[0], sub_f64(s, b)), sub_f64(a, b)))
    total[0] = s


cdef inline void _label_products(
    const float* shift,
    const int32_t* column,
    Py_ssize_t n_listed,
    double* total,
    double* error,
) noexcept nogil:
    """_add_product(total, error, column[i], shift[i], i) for every label i,
    GROUP labels a step (label i in lane i % GROUP, as there; the last group
    padded with zero columns and shifts: adding +0 leaves a lane's bits)."""
    cdef:
        Py_ssize_t g, l, n_whole = n_listed - n_listed % GROUP
        lc_f64 lane_total = load_f64(total), lane_error = load_f64(error)
        lc_f64 count, value, high
        float shift_rest[GROUP]
        int32_t column_rest[GROUP]
    for g in range(n_whole // GROUP + (n_whole < n_listed)):
        if g * GROUP < n_whole:
            count = cvt_i32_f64(load_i32(column + g * GROUP))
            value = cvt_f32_f64(load_f32(shift + g * GROUP))
        else:
            for l in range(GROUP):
                shift_rest[l] = shift[n_whole + l] if n_whole + l < n_listed else 0.0
                column_rest[l] = column[n_whole + l] if n_whole + l < n_listed else 0
            count = cvt_i32_f64(load_i32(column_rest))
            value = cvt_f32_f64(load_f32(shift_rest))
        high = high_f64(value)
        _two_sum_group(&lane_total, &lane_error, mul_f64(count, high))          # exact
        _two_sum_group(&lane_total, &lane_error, mul_f64(count, sub_f64(value, high)))
    store_f64(total, lane_total)
    store_f64(error, lane_error)


from libc.math cimport fmax

# _plain_sum_kept's bound: 2**-52 and 2**-27, exactly
cdef double PLAIN_SUM_UNIT = 2.220446049250313e-16
cdef double PLAIN_SUM_KEEP = 7.450580596923828e-09


cdef inline void _plain_group(
    const float* x,
    const int32_t* m,
    float* gradient,
    lc_f64* total,
    double coef,
    double grad_output,
    const float* gradient_table,
    int32_t* lane_histogram,
    bint with_gradient,
) noexcept nogil:
    """_ranked_group with a plain sum, the labels' m_d already 0: cnt_d * x[d]
    (exact) added to lane d % GROUP (one rounding).  (m is not written: the
    histogram's scalar loads of m[l] would wait for a vector store of the
    group.)"""
    cdef:
        lc_f32 v = load_f32(x)
        lc_i32 count = load_i32(m)
        Py_ssize_t l
    if lane_histogram != NULL:
        for l in range(GROUP):
            lane_histogram[(<uint32_t> m[l]) * GROUP + l] += 1
    total[0] = fmadd_f64(cvt_i32_f64(count), cvt_f32_f64(v), total[0])
    if with_gradient:
        if gradient_table != NULL:
            store_lookup(gradient, gradient_table, count)
        else:
            store_f32(gradient, mul_f64(mul_f64(cvt_i32_f64(count), set1_f64(coef)),
                                        set1_f64(grad_output)))


cdef inline void _plain_groups(
    const float* x,
    Py_ssize_t n_classes,
    const int32_t* m,
    float* gradient,
    double coef,
    double grad_output,
    Py_ssize_t n_listed,
    int32_t* lane_histogram,
    lc_f64* total,
    bint with_gradient,
) noexcept nogil:
    """_ranked_groups with _plain_group (the labels' m_d already 0): the class
    products' plain lane sums to total."""
    cdef:
        Py_ssize_t g, l, n_whole = n_classes - n_classes % GROUP
        lc_f64 lane_total = set1_f64(0.0)
        float x_rest[GROUP]
        float gradient_rest[GROUP]
        int32_t m_rest[GROUP]
        float table[TABLE]
        float* gradient_table = NULL
    if with_gradient and n_listed < TABLE:
        gradient_table = table
        for l in range(TABLE):
            table[l] = <float> (<double> l * coef * grad_output) if l <= n_listed else 0
    for g in range(n_whole // GROUP):
        _plain_group(x + g * GROUP, m + g * GROUP, gradient + g * GROUP, &lane_total, coef,
                     grad_output, gradient_table, lane_histogram, with_gradient)
    if n_whole < n_classes:
        for l in range(GROUP):
            x_rest[l] = x[n_whole + l] if n_whole + l < n_classes else 0.0
            m_rest[l] = m[n_whole + l] if n_whole + l < n_classes else 0
        _plain_group(x_rest, m_rest, gradient_rest, &lane_total, coef,
                     grad_output, gradient_table, lane_histogram, with_gradient)
        if with_gradient:
            for l in range(n_classes - n_whole):
                gradient[n_whole + l] = gradient_rest[l]
    total[0] = lane_total


cdef inline double _plain_labels(
    const float* shift,
    const int32_t* column,
    Py_ssize_t n_listed,
    lc_f64 total,
) noexcept nogil:
    """The plain lane sums total plus col_i * a_i (exact) in lane i % GROUP,
    GROUP labels a step (the last group padded with zeros), folded by
    lanes_sum."""
    cdef:
        Py_ssize_t g, l, n_whole = n_listed - n_listed % GROUP
        float shift_rest[GROUP]
        int32_t column_rest[GROUP]
    for g in range(n_whole // GROUP):
        total = fmadd_f64(cvt_i32_f64(load_i32(column + g * GROUP)),
                          cvt_f32_f64(load_f32(shift + g * GROUP)), total)
    if n_whole < n_listed:
        for l in range(GROUP):
            shift_rest[l] = shift[n_whole + l] if n_whole + l < n_listed else 0.0
            column_rest[l] = column[n_whole + l] if n_whole + l < n_listed else 0
        total = fmadd_f64(cvt_i32_f64(load_i32(column_rest)),
                          cvt_f32_f64(load_f32(shift_rest)), total)
    return lanes_sum(total)


cdef inline bint _plain_sum_kept(
    double loss,
    const int32_t* column,
    Py_ssize_t n_classes,
    Py_ssize_t n_listed,
    float largest_score,
    float largest_shift,
) noexcept nogil:
    """Whether the plain sum loss of _plain_groups and _plain_labels is within
    a quarter float32 ulp of the exact sum (docs/design.md, "The row from the
    m_d"): each of its P = sum_i col_i pairs adds cnt_d * x[d] and col_i * a_i,
    so the terms' magnitudes sum to A <= P * (M + Ma) (M = max |x[d]|, Ma =
    max |a_i|), and a term passes through at most n = ceil(C / 16) + ceil(k /
    16) + 4 additions (its lane, the fold), so the error is at most gamma_n * A
    <= 2 * n * 2**-53 * A (the factor 2 also covers the rounding of this
    bound).  Kept when that is <= 2**-27 * |loss|: then it is below 2**-26 *
    |exact sum|, a quarter ulp of the exact sum in float32."""
    cdef:
        Py_ssize_t i
        int64_t pairs = 0
        double n_adds = <double> ((n_classes + GROUP - 1) // GROUP
                                  + (n_listed + GROUP - 1) // GROUP + 4)
    for i in range(n_listed):
        pairs += column[i]
    return (n_adds * PLAIN_SUM_UNIT) * <double> pairs * (
        <double> largest_score + <double> largest_shift) <= PLAIN_SUM_KEEP * fabs(loss)


cdef inline void _label_columns(
    const int32_t* m,
    Py_ssize_t n_classes,
    Py_ssize_t n_listed,
    int32_t* histogram,
    Py_ssize_t histogram_size,
    int32_t* column,
    bint counted,
) noexcept nogil:
    """column[i] = #{d : m[d] > i} for i < n_listed (m[d] <= n_listed), by the
    suffix sums of a histogram of the m[d] in histogram[:histogram_size].
    When it has room, GROUP histograms, class d counted in the one of its lane
    d % GROUP (no two classes of a group update the same counter, so the
    increments do not wait on each other); else two, even and odd classes.
    counted: the GROUP histograms are already filled (by _ranked_groups)."""
    cdef:
        Py_ssize_t i, l, g, n_whole = n_classes - n_classes % GROUP
        Py_ssize_t n_pairs = n_classes // 2
        int32_t above = 0, row
    if counted:
        pass
    elif GROUP * (n_listed + 1) <= histogram_size:
        memset(histogram, 0, GROUP * (n_listed + 1) * sizeof(int32_t))
        for g in range(n_whole // GROUP):
            for l in range(GROUP):
                histogram[m[g * GROUP + l] * GROUP + l] += 1
        for l in range(n_classes - n_whole):
            histogram[m[n_whole + l] * GROUP + l] += 1
    if GROUP * (n_listed + 1) <= histogram_size:
        for i in range(n_listed - 1, -1, -1):
            row = 0
            for l in range(GROUP):
                row += histogram[(i + 1) * GROUP + l]
            above += row
            column[i] = above
        return
    for i in range(2 * (n_listed + 1)):
        histogram[i] = 0
    for i in range(n_pairs):
        histogram[m[2 * i]] += 1
        histogram[n_listed + 1 + m[2 * i + 1]] += 1
    if n_classes % 2:
        histogram[m[n_classes - 1]] += 1
    for i in range(n_listed - 1, -1, -1):
        above += histogram[i + 1] + histogram[n_listed + 2 + i]
        column[i] = above


cdef inline double _row_sorted(
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
    double* label_count,
    floating margin,
    bint with_gradient,
) noexcept nogil:
    """The row loss from the m_d: sum_{d in D} m_d * x[d] + sum_i col_i * a_i
    with col_i = #{d in D : m_d > i} (the counting path's formula, C + k
    products in SUM_LANES compensated lanes, combined as _lanes_total); for a
    row with a score (or margin) beyond a quarter of the dtype's largest value,
    or a float64 overflow, sum_{d in D} _class_loss(m_d) in class order.
    with_gradient: gradient_d = m_d, gradient_c = -sum_{i: j_i = c} col_i,
    times coef, times grad_output.  index[:n_listed] holds the labels;
    index[n_classes:] and shift[n_classes:] are scratch (after the sort)."""
    cdef:
        floating bound = (FLT_MAX if floating is float else DBL_MAX) / 4
        Py_ssize_t* labels = index
        int32_t* m = <int32_t*> (index + n_classes)          # m_d, every class
        double* prefix_error = prefix + n_classes + 1
        int32_t* column = <int32_t*> (shift + n_classes)      # col_i
        # the histograms of the m_d (_label_columns), 2 * (C + 1) int32
        int32_t* histogram = <int32_t*> (prefix + 2 * (n_classes + 1))
        double total[SUM_LANES]
        double error[SUM_LANES]
        Py_ssize_t i, d
        double loss
        bint split = floating is double or n_listed >= (1 << 29), beyond
        bint lanes_fit = GROUP * (n_listed + 1) <= 2 * (n_classes + 1)
        # float32 rows first try the plain sums (exact products: col_i < 2**29)
        bint plain = floating is float and n_classes < (1 << 29)
        lc_f64 sums = set1_f64(0.0)
        float largest = 0
    _sorted_shifts(x, n_classes, n_listed, labels, shift, margin)
    largest = _active_counts(shift, n_listed, x, n_classes, m)    # max |x[d]| (float32)
    for i in range(SUM_LANES):
        total[i] = 0.0
        error[i] = 0.0
    if floating is float and plain:
        for i in range(n_listed):
            m[labels[i]] = 0
        if lanes_fit:
            memset(histogram, 0, GROUP * (n_listed + 1) * sizeof(int32_t))
        _plain_groups(x, n_classes, m, gradient, coef, grad_output, n_listed,
                      histogram if lanes_fit else NULL, &sums, with_gradient)
        beyond = not (largest <= bound)
    elif split:  # (a literal flag: each call inlined for its case)
        beyond = _class_products(x, n_classes, m, is_target, gradient, coef, grad_output,
                                 bound, True, total, error, with_gradient)
    elif floating is float and VECTOR_GROUPS:
        if lanes_fit:
            memset(histogram, 0, GROUP * (n_listed + 1) * sizeof(int32_t))
            beyond = _ranked_groups(x, n_classes, m, is_target, gradient, coef, grad_output,
                                    n_listed, histogram, bound, total, error, with_gradient)
        else:
            beyond = _ranked_groups(x, n_classes, m, is_target, gradient, coef, grad_output,
                                    n_listed, NULL, bound, total, error, with_gradient)
    else:
        beyond = _class_products(x, n_classes, m, is_target, gradient, coef, grad_output,
                                 bound, False, total, error, with_gradient)
    # m[d] is now 0 for the labels' classes
    _label_columns(m, n_classes, n_listed, histogram, 2 * (n_classes + 1), column,
                   lanes_fit and (plain or (floating is float and VECTOR_GROUPS and not split)))
    loss = NAN
    if not beyond and fabs(margin) <= bound:
        if floating is float and plain:
            loss = _plain_labels(shift, column, n_listed, sums)
            if not _plain_sum_kept(loss, column, n_classes, n_listed, largest,
                                   fmax(fabs(shift[0]), fabs(shift[n_listed - 1]))
                                   if n_listed > 0 else 0.0):
                # the terms may cancel: the compensated lanes (the m_d are
                # final, the gradient and the columns written)
                if VECTOR_GROUPS:
                    _ranked_groups(x, n_classes, m, is_target, gradient, coef, grad_output,
                                   n_listed, NULL, bound, total, error, False)
                    _label_products(shift, column, n_listed, total, error)
                else:
                    _class_products(x, n_classes, m, is_target, gradient, coef, grad_output,
                                    bound, False, total, error, False)
                    for i in range(n_listed):
                        _add_product(total, error, <double> column[i], shift[i], i)
                loss = _lanes_total(total, error)
        elif floating is float and VECTOR_GROUPS:
            _label_products(shift, column, n_listed, total, error)
            loss = _lanes_total(total, error)
        else:
            for i in range(n_listed):
                _add_product(total, error, <double> column[i], shift[i], i)
            loss = _lanes_total(total, error)
    if not (loss - loss == 0):
        # infinite terms, NaN (inf - inf) or a float64 overflow: class by class
        _prefix_sums(shift, n_listed, prefix, prefix_error)
        loss = 0.0
        for d in range(n_classes):
            loss += _class_loss(shift, prefix, prefix_error, m[d], x[d])
    if with_gradient:
        for i in range(n_listed):
            label_count[labels[i]] -= column[i]
        for i in range(n_listed):
            gradient[labels[i]] = <floating> (label_count[labels[i]] * coef * grad_output)
        for i in range(n_listed):
            label_count[labels[i]] = 0
    return loss


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
    """_row_sorted's loss.  index[:n_listed] holds the labels."""
    return _row_sorted(x, NULL, n_classes, 0.0, 0.0, n_listed, index, is_target, shift,
                       prefix, NULL, margin, False)


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
    """_row_sorted's loss and gradient (times coef, times grad_output)."""
    return _row_sorted(x, gradient, n_classes, coef, grad_output, n_listed, index, is_target,
                       shift, prefix, count, margin, True)
