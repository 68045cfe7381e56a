# The per-sample pieces every kernel module shares (included, not compiled on
# its own).  docs/design.md, "Kernels", has the reasoning.

from libc.math cimport NAN


cdef inline bint _in_range(Py_ssize_t label, Py_ssize_t n_classes) noexcept nogil:
    """Whether a target entry names a class.

    The Python layer validates every target; the kernels read the target in
    place, and a caller's thread may change it after validation, so each
    entry is read once into a local and checked before it indexes anything
    (memory safety only: a validated target never fails the check).
    """
    return 0 <= label < n_classes


cdef inline void _fill_nan(floating* row, Py_ssize_t n_classes) noexcept nogil:
    """The gradient row of a sample whose loss is NaN."""
    cdef Py_ssize_t i
    for i in range(n_classes):
        row[i] = NAN
