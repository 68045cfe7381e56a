"""Kernels of the Crammer–Singer multi-class hinge loss.

For one sample with scores ``x`` (C classes), target class ``y``, margin
``m``, class weight ``w`` and power ``p`` in {1, 2}, the rival ``r`` is the
first class ``i != y`` with the largest score, and::

    z       = (m - x[y]) + x[r]                      rounded in the input dtype
    loss    = w[y] * max(0, z) ** p                  (no division by C)
    dloss_r =  w[y] * p * z ** (p - 1)               if z > 0, else 0
    dloss_y = -dloss_r,   dloss_i = 0 for every other i

This is ``multi_class="crammer_singer"`` of the multi-class margin loss: with
p=1, m=1 and the mean over samples it is ``sklearn.metrics.hinge_loss`` of
the decision values, and per sample optax's ``multiclass_hinge_loss``.  At a
tie for the largest rival score the gradient goes to the first such class
(one subgradient of the max).  A NaN score in a row makes its loss and
gradient row NaN, as for the Weston–Watkins form; a row of one class has no
rival and loss 0.

The gradient is ``(scale * w[y] * p * z ** (p-1)) * grad_output`` at the
rival, its negative at y and ``0 * grad_output`` elsewhere; ``scale`` is 1
(or 1/N for the mean).  docs/design.md, "Kernels", has the layout.
"""

from cython cimport floating
from libc.stdint cimport int64_t

include "_rows.pxi"


cdef inline double _row_term(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating margin,
    int p,
    Py_ssize_t* rival,
) noexcept nogil:
    """max(0, z) ** p with z = (m - x[y]) + x[rival]; sets rival[0] (-1 for C = 1).

    NaN if any score of the row is NaN, or z is (inf - inf).
    """
    cdef:
        Py_ssize_t i, best_index = -1
        floating best = 0, value, z
        bint seen_nan = x[y] != x[y]
    for i in range(n_classes):
        if i == y:
            continue
        value = x[i]
        seen_nan |= value != value
        if best_index < 0 or value > best:
            best = value
            best_index = i
    rival[0] = best_index
    if seen_nan:
        return NAN
    if best_index < 0:
        return 0.0
    z = (margin - x[y]) + best
    if z != z:
        return NAN
    if not z > 0:
        return 0.0
    if p == 1:
        return z
    return <double> z * z



cdef inline void _sample(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    const double* weight,
    Py_ssize_t weight_stride,
    floating margin,
    int p,
    bint with_gradient,
    double scale,
    double grad_output,
    double* loss_out,
) noexcept nogil:
    """loss_out[0] = w[y] * max(0, z) ** p, and with the gradient the row's
    gradient: one scalar pass finds the rival, then the row is written once
    (``0 * grad_output`` everywhere, the two active entries overwritten)."""
    cdef:
        Py_ssize_t i, rival = -1
        double w = weight[y * weight_stride]
        double term = _row_term(x, n_classes, y, margin, p, &rival)
        double slope
        floating inactive
    # 0.0 + ...: +0 for an inactive row, even with a negative weight
    loss_out[0] = 0.0 + term * w
    if not with_gradient:
        return
    if term != term:
        _fill_nan(gradient, n_classes)
        return
    inactive = <floating> (0.0 * grad_output)
    for i in range(n_classes):
        gradient[i] = inactive
    if term > 0:
        if p == 1:
            slope = scale * w
        else:
            # p * z ** (p-1) = 2 z, with z rounded as _row_term rounds it
            slope = scale * w * 2.0 * <double> ((margin - x[y]) + x[rival])
        gradient[rival] = <floating> (slope * grad_output)
        gradient[y] = <floating> ((0.0 - slope) * grad_output)


cdef Py_ssize_t _blocks(
    const floating* x,
    floating* gradient,
    const int64_t* target,
    Py_ssize_t n_samples,
    Py_ssize_t n_classes,
    const double* weight,
    Py_ssize_t weight_stride,
    floating margin,
    int p,
    bint with_gradient,
    double scale,
    const double* grad_output,
    Py_ssize_t grad_output_stride,
    double* loss_out,
    int n_threads,
) noexcept:
    """No row blocks: every row takes the row loop."""
    return 0


include "_class_entry.pxi"
