# The multi-label kernel at raw addresses, for marginloss.torch's eager path
# (included at the end of _multilabel_margin.pyx).
#
# ``loss_gradient`` takes thirteen typed-memoryview arguments, a buffer
# request each: at (32, 10) they cost several times the rows' own work.
# ``total_at`` runs the same rows (``_row_loss_gradient`` / ``_row_loss``,
# so the same bits) on one thread for tensors the caller has checked
# (C-contiguous (N, C) float32/float64 input, a contiguous int64 (N, C)
# index target, N, C > 0), with its scratch in
# one allocation, and returns the sum of the per-sample losses in NumPy's
# pairwise order, or NaN (nothing computed) when a target entry lies outside
# [-1, C): the caller's general path then raises the error that names it.  See docs/design.md, "PyTorch integration".

from libc.stdlib cimport calloc, free
include "_pairwise.pxi"


cdef double _total_at(const floating* x, const int64_t* target, floating* gradient,
                      Py_ssize_t n_samples, Py_ssize_t n_classes, double scale,
                      char* scratch) noexcept nogil:
    # The scratch rows of ``loss_gradient`` (one thread), zeroed, then the
    # per-sample losses.
    cdef Py_ssize_t n, offset
    cdef Py_ssize_t* index = <Py_ssize_t*> scratch
    cdef double* prefix = <double*> (index + 2 * n_classes)
    cdef double* count = prefix + 3 * (n_classes + 1)
    cdef double* loss_out = count + n_classes
    cdef floating* shift = <floating*> (loss_out + n_samples)
    cdef unsigned char* is_target = <unsigned char*> (shift + 2 * n_classes)
    cdef floating margin = 1.0
    if _count_outside(target, n_samples * n_classes, -1, n_classes):
        return NAN  # the whole target's range first
    for n in range(n_samples):
        offset = n * n_classes
        if gradient != NULL:
            loss_out[n] = _row_loss_gradient(
                x + offset, target + offset, gradient + offset, n_classes, scale, 1.0,
                index, is_target, shift, prefix, count, margin, False) / n_classes
        else:
            loss_out[n] = _row_loss(x + offset, target + offset, n_classes, index, is_target,
                                    shift, prefix, margin, False) / n_classes
    return _pairwise_at(loss_out, n_samples)


def total_at(size_t input, size_t target, size_t gradient_out, Py_ssize_t n_samples,
             Py_ssize_t n_classes, bint float64, double scale):
    """Sum of the per-sample losses (NumPy's pairwise order) of the (N, C) scores
    at address ``input`` (float64 or float32) for the int64 -1-padded index
    target at ``target`` (margin 1, one thread); with ``gradient_out``
    (non-zero) the gradient times ``scale`` written there, as
    ``loss_gradient`` with grad_output 1.  NaN (and nothing written) when
    a target entry lies outside [-1, C)."""
    cdef double total
    cdef size_t size = (2 * n_classes * sizeof(Py_ssize_t)
                        + (3 * (n_classes + 1) + n_classes + n_samples + 2 * n_classes)
                        * sizeof(double) + n_classes)
    cdef char* scratch = <char*> calloc(size, 1)
    if scratch == NULL:
        raise MemoryError()
    if float64:
        total = _total_at(<const double*> input, <const int64_t*> target,
                          <double*> gradient_out, n_samples, n_classes, scale, scratch)
    else:
        total = _total_at(<const float*> input, <const int64_t*> target,
                          <float*> gradient_out, n_samples, n_classes, scale, scratch)
    free(scratch)
    return total
