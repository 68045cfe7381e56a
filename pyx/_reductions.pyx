"""A small pass of the Python layer, compiled to save NumPy's per-call cost.

``pairwise_sum(values)``: the sum of a float64 array in NumPy's pairwise
order, so that it equals ``np.add.reduce(values)`` bit for bit (the order is
in ``_pairwise.pxi``).  It reduces the per-sample losses (docs/design.md,
"Semantics").  A ufunc reduction costs about a microsecond before it reads
anything; this costs a call.  The whole-target range check lives in the
kernel modules (``_target_range.pxi``), built for each ISA.  See
docs/design.md, "Python layer".
"""

include "_pairwise.pxi"


def pairwise_sum(const double[::1] values):
    """The sum of ``values`` in NumPy's pairwise order (``np.add.reduce``'s bits)."""
    cdef double total = 0.0
    if values.shape[0]:
        with nogil:
            total = _pairwise_at(&values[0], values.shape[0])
    return total
