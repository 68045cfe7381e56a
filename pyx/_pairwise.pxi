# np.add.reduce's summation order in C: marginloss._reductions.pairwise_sum and
# the entry points at raw addresses (_pointer_entry.pxi,
# _multilabel_pointer_entry.pxi) reduce the per-sample losses with it
# (docs/design.md, "What a small call costs").


cdef double _pairwise_at(const double* values, Py_ssize_t n) noexcept nogil:
    """np.add.reduce's order: fewer than
    8 values in order; up to 128 in 8 interleaved partial sums, then the rest;
    longer runs cut in two at n // 2 rounded down to a multiple of 8."""
    cdef Py_ssize_t i, half
    cdef double result, s0, s1, s2, s3, s4, s5, s6, s7
    if n < 8:
        result = 0.0
        for i in range(n):
            result += values[i]
        return result
    if n <= 128:
        s0, s1, s2, s3 = values[0], values[1], values[2], values[3]
        s4, s5, s6, s7 = values[4], values[5], values[6], values[7]
        i = 8
        while i < n - n % 8:
            s0 += values[i]
            s1 += values[i + 1]
            s2 += values[i + 2]
            s3 += values[i + 3]
            s4 += values[i + 4]
            s5 += values[i + 5]
            s6 += values[i + 6]
            s7 += values[i + 7]
            i += 8
        result = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        while i < n:
            result += values[i]
            i += 1
        return result
    half = n // 2
    half -= half % 8
    return _pairwise_at(values, half) + _pairwise_at(values + half, n - half)
