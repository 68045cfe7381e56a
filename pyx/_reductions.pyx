"""Two small passes of the Python layer, compiled to save NumPy's per-call cost.

- ``pairwise_sum(values)``: the sum of a float64 array in NumPy's pairwise
  order, so that it equals ``np.add.reduce(values)`` bit for bit: a run of
  fewer than 8 values is added in order from 0.0; up to 128 values go to 8
  partial sums (value i to sum i % 8), added as ((s0+s1)+(s2+s3)) +
  ((s4+s5)+(s6+s7)), then the last n % 8 values in order; a longer run is cut
  in two at n // 2 rounded down to a multiple of 8, and the halves' sums are
  added.  It reduces the per-sample losses (docs/design.md, "Semantics").
- ``count_outside(target, low, high, n_threads)`` (and ``count_outside_rows``
  for a matrix): how many entries of an integer array lie outside
  [low, high); when some do, the Python layer finds the first and raises
  the error that names it.

A ufunc reduction costs about a microsecond before it reads anything; these
cost a call.  See docs/design.md, "Python layer".
"""

from cython.parallel cimport prange
from libc.stdint cimport INT32_MAX, INT32_MIN, int32_t, int64_t, uint32_t, uint64_t

ctypedef fused index_t:
    int32_t
    int64_t


cdef double _pairwise(const double* values, Py_ssize_t n) noexcept nogil:
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
    return _pairwise(values, half) + _pairwise(values + half, n - half)


def pairwise_sum(const double[::1] values):
    """The sum of ``values`` in NumPy's pairwise order (``np.add.reduce``'s bits)."""
    cdef double total = 0.0
    if values.shape[0]:
        with nogil:
            total = _pairwise(&values[0], values.shape[0])
    return total


cdef inline Py_ssize_t _outside(index_t value, index_t low, index_t span) noexcept nogil:
    """1 if value lies outside [low, low + span), else 0: one unsigned compare
    (a value below low wraps around to a large unsigned offset)."""
    if index_t is int32_t:
        return <uint32_t> value - <uint32_t> low >= <uint32_t> span
    else:
        return <uint64_t> value - <uint64_t> low >= <uint64_t> span


cdef Py_ssize_t _count_outside(const index_t* target, Py_ssize_t n, Py_ssize_t low,
                               Py_ssize_t high, int n_threads) noexcept nogil:
    """Branch-free, so that the compiler vectorises the loop."""
    cdef:
        Py_ssize_t i, count = 0
        index_t first, span
    if index_t is int32_t:
        # bounds beyond int32's range exclude nothing more of it
        low = max(low, <Py_ssize_t> INT32_MIN)
        high = min(high, <Py_ssize_t> INT32_MAX + 1)
    if high <= low:
        return n
    if index_t is int32_t and high - low > <Py_ssize_t> 0xFFFFFFFF:
        return 0
    first = <index_t> low
    span = <index_t> (high - low)   # read back as unsigned
    if n_threads == 1:
        for i in range(n):
            count += _outside(target[i], first, span)
    else:
        for i in prange(n, schedule="static", num_threads=n_threads):
            count += _outside(target[i], first, span)
    return count


def count_outside(const index_t[::1] target, Py_ssize_t low, Py_ssize_t high, int n_threads):
    """How many entries of ``target`` lie outside [low, high) (threads over entries)."""
    cdef Py_ssize_t count = 0
    if target.shape[0]:
        with nogil:
            count = _count_outside(&target[0], target.shape[0], low, high, n_threads)
    return count


def count_outside_rows(const index_t[:, ::1] target, Py_ssize_t low, Py_ssize_t high,
                       int n_threads):
    """`count_outside` of a C-contiguous matrix."""
    cdef Py_ssize_t count = 0
    if target.shape[0] and target.shape[1]:
        with nogil:
            count = _count_outside(&target[0, 0], target.shape[0] * target.shape[1], low,
                                   high, n_threads)
    return count
