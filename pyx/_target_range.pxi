# The whole-target range check, included by both kernel modules so that it is
# built for each ISA (the wide builds read the target at memory speed).
#
#     count_outside(target, low, high) = #{i : not low <= target[i] < high}
#
# The Python layer runs it before the kernel, over every entry (PyTorch checks
# a whole multi-label target too, also after its first -1), and raises the
# error that names the first entry outside when the count is not zero.

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint64_t

ctypedef fused range_index_t:
    int32_t
    int64_t


cdef inline Py_ssize_t _count_outside(const range_index_t* target, Py_ssize_t n,
                                      Py_ssize_t low, Py_ssize_t high) noexcept nogil:
    """#{i : not low <= target[i] < high}, one unsigned compare an entry (an
    entry below low wraps around to a large offset), branch-free."""
    cdef:
        Py_ssize_t i, count = 0
        uint64_t first, span
    if range_index_t is int32_t:
        # bounds beyond int32's range exclude nothing more of it
        low = max(low, <Py_ssize_t> -0x80000000)
        high = min(high, <Py_ssize_t> 0x80000000)
    if high <= low:
        return n
    first = <uint64_t> low
    span = <uint64_t> high - first
    for i in range(n):
        count += <uint64_t> (<int64_t> target[i]) - first >= span
    return count


def count_outside(const range_index_t[::1] target, Py_ssize_t low, Py_ssize_t high,
                  int n_threads):
    """How many entries of ``target`` lie outside [low, high): the Python layer's
    check of a multi-class target (threads over blocks of 2**14 entries, the
    rest on the calling thread; an integer count, the same for any number of
    threads)."""
    cdef:
        Py_ssize_t n_entries = target.shape[0], n, count = 0
        Py_ssize_t block = 1 << 14, n_blocks = n_entries >> 14
    if n_entries == 0:
        return 0
    if n_threads == 1 or n_blocks < 2:
        with nogil:
            count = _count_outside(&target[0], n_entries, low, high)
        return count
    for n in prange(n_blocks, schedule="static", nogil=True, num_threads=n_threads):
        count += _count_outside(&target[n * block], block, low, high)
    with nogil:
        count += _count_outside(&target[n_blocks * block], n_entries - n_blocks * block,
                                low, high)
    return count


def count_outside_rows(const range_index_t[:, ::1] target, Py_ssize_t low, Py_ssize_t high,
                       int n_threads):
    """How many entries of the C-contiguous matrix ``target`` lie outside [low,
    high): the Python layer's check of a whole multi-label index target
    (threads over rows)."""
    cdef Py_ssize_t n_rows = target.shape[0], n_columns = target.shape[1], n, count = 0
    if n_rows == 0 or n_columns == 0:
        return 0
    if n_threads == 1:
        with nogil:
            count = _count_outside(&target[0, 0], n_rows * n_columns, low, high)
        return count
    for n in prange(n_rows, schedule="static", nogil=True, num_threads=n_threads):
        count += _count_outside(&target[n, 0], n_columns, low, high)
    return count
