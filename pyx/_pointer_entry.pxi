# The multi-class kernels at raw addresses, for marginloss.torch's eager path
# (included at the end of _multi_margin.pyx, after _class_entry.pxi).
#
# A typed-memoryview argument costs a buffer request per call (about a
# microsecond each on the project's machine), the per-sample loss array and
# its pairwise sum another few: at (32, 10) more than the kernel's own work.
# ``total_at`` takes the addresses of tensors the caller has checked
# (C-contiguous (N, C) float32/float64 input, contiguous int64 (N,) target,
# N, C > 0, no class weight), runs the same row loops as ``loss_gradient``
# (so the same bits) and returns the sum of the per-sample losses in NumPy's
# pairwise order.  See docs/design.md, "PyTorch integration".

from libc.stdlib cimport free, malloc

include "_pairwise.pxi"

cdef double _ONE_AT = 1.0  # the unit class weight and grad_output, stride 0


cdef void _rows_at(const floating* x, floating* gradient, const int64_t* target,
                   Py_ssize_t n_samples, Py_ssize_t n_classes, floating margin, int p,
                   double scale, double* loss_out, int n_threads) noexcept:
    """``loss_gradient``'s loops (``loss``'s when gradient is NULL), unit weight,
    grad_output 1."""
    cdef Py_ssize_t n, done
    cdef bint with_gradient = gradient != NULL
    done = _blocks(x, gradient, target, n_samples, n_classes, &_ONE_AT, 0, margin, p,
                   with_gradient, scale, &_ONE_AT if with_gradient else NULL, 0, loss_out,
                   n_threads)
    if n_threads == 1:  # no OpenMP team, no GIL release for a handful of rows
        for n in range(done, n_samples):
            _checked_sample(x + n * n_classes,
                            gradient + n * n_classes if with_gradient else NULL, n_classes,
                            target[n], &_ONE_AT, 0, margin, p, with_gradient, scale, 1.0,
                            &loss_out[n])
        return
    for n in prange(done, n_samples, schedule="static", nogil=True, num_threads=n_threads):
        _checked_sample(x + n * n_classes, gradient + n * n_classes if with_gradient else NULL,
                        n_classes, target[n], &_ONE_AT, 0, margin, p, with_gradient, scale,
                        1.0, &loss_out[n])


def total_at(size_t input, size_t target, size_t gradient_out, Py_ssize_t n_samples,
             Py_ssize_t n_classes, bint float64, double margin, int p, double scale,
             int n_threads):
    """Sum of the per-sample losses of the (N, C) scores at address ``input``
    (float64 or float32) for the int64 targets at ``target``, in NumPy's
    pairwise order; with ``gradient_out`` (non-zero) the gradient times
    ``scale`` written there, as ``loss_gradient`` with a unit weight and
    grad_output 1.  A target out of range gives a NaN sum."""
    cdef double total
    cdef double* loss_out = <double*> malloc(n_samples * sizeof(double))
    if loss_out == NULL:
        raise MemoryError()
    if float64:
        _rows_at(<const double*> input, <double*> gradient_out, <const int64_t*> target,
                 n_samples, n_classes, <double> margin, p, scale, loss_out, n_threads)
    else:
        _rows_at(<const float*> input, <float*> gradient_out, <const int64_t*> target,
                 n_samples, n_classes, <float> margin, p, scale, loss_out, n_threads)
    total = _pairwise_at(loss_out, n_samples)
    free(loss_out)
    return total
