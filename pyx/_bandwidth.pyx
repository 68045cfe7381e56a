"""Memory floors: how fast this machine can copy and read an array.

Neither function computes a loss.  They are the yardsticks the benchmarks
(``python -m marginloss bench``) put next to the kernels: the fused
loss+gradient reads every score once and writes one gradient per score, so
on large arrays it can be no faster than

- ``copy``: read ``n`` values and write ``n`` values of the same dtype, the
  floor of a kernel that reads the scores and writes the gradient, and
- ``read``: read ``n`` values, the floor of a loss-only kernel.

Both split the array into one contiguous block per thread and run the blocks
in an OpenMP ``prange`` with a static schedule, the way the kernels split
samples; without OpenMP the ``prange`` runs serially.  ``copy`` is a
``memcpy`` per block.  ``read`` sums its block with sixteen independent
float64 accumulators, so the adds do not wait on one another and GCC
vectorises them (SSE2 ``cvtps2pd``/``addpd``; with eight, float32 reads are
limited by the add latency, with sixteen they match NumPy's ``sum``), then
adds the per-block sums in block order; the sum is returned so the reads
cannot be optimised away.  The sum is the same for the same ``n_threads``
(other thread counts split it differently); for integer-valued data whose
partial sums stay below 2**53 in magnitude it is exact.

docs/design.md, "Kernels", has the rates measured on the development machine.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

# Block lengths are multiples of 64 values (whole cache lines for both
# dtypes), so in a 64-byte aligned array no line is written by two threads.
cdef enum:
    BLOCK_ALIGN = 64


cdef inline Py_ssize_t _block_size(Py_ssize_t n, Py_ssize_t n_blocks) noexcept nogil:
    """ceil(n / n_blocks) rounded up to a multiple of BLOCK_ALIGN."""
    cdef Py_ssize_t size = (n + n_blocks - 1) // n_blocks
    return (size + BLOCK_ALIGN - 1) // BLOCK_ALIGN * BLOCK_ALIGN


cdef inline double _sum(const floating* x, Py_ssize_t n) noexcept nogil:
    """Sum of x[0:n] in float64, with sixteen partial sums."""
    cdef:
        Py_ssize_t i, j
        Py_ssize_t n_unrolled = n - n % 16
        double partial[16]
        double tail = 0.0
    for j in range(16):
        partial[j] = 0.0
    for i in range(0, n_unrolled, 16):
        for j in range(16):
            partial[j] += x[i + j]
    for i in range(n_unrolled, n):
        tail += x[i]
    for j in range(8):
        partial[j] += partial[j + 8]
    for j in range(4):
        partial[j] += partial[j + 4]
    return ((partial[0] + partial[1]) + (partial[2] + partial[3])) + tail


def copy(const floating[::1] source, floating[::1] destination, int n_threads):
    """Copy ``source`` into ``destination`` (same length) on ``n_threads`` threads."""
    cdef:
        Py_ssize_t n = source.shape[0]
        int team = max(n_threads, 1)
        Py_ssize_t n_blocks = team
        Py_ssize_t size, block, start, stop
    # The one check: a shorter destination would be written out of bounds.
    if destination.shape[0] != n:
        raise ValueError(
            f"destination has {destination.shape[0]} values, source has {n}"
        )
    if n == 0:
        return
    size = _block_size(n, n_blocks)
    for block in prange(n_blocks, schedule="static", nogil=True, num_threads=team):
        start = block * size
        stop = min(start + size, n)
        if start < stop:
            memcpy(&destination[start], &source[start], (stop - start) * sizeof(floating))


def read(const floating[::1] source, int n_threads):
    """Read all of ``source`` on ``n_threads`` threads; return its sum (float64)."""
    cdef:
        Py_ssize_t n = source.shape[0]
        int team = max(n_threads, 1)
        Py_ssize_t n_blocks = team
        Py_ssize_t size, block, start, stop
        double total = 0.0
        double* block_sums
    if n == 0:
        return 0.0
    size = _block_size(n, n_blocks)
    block_sums = <double*> malloc(n_blocks * sizeof(double))
    if block_sums == NULL:
        raise MemoryError()
    try:
        for block in prange(n_blocks, schedule="static", nogil=True, num_threads=team):
            start = block * size
            stop = min(start + size, n)
            if start < stop:
                block_sums[block] = _sum(&source[start], stop - start)
            else:
                block_sums[block] = 0.0
        for block in range(n_blocks):
            total += block_sums[block]
    finally:
        free(block_sums)
    return total
