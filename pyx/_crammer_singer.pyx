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

Design
------
- One scalar pass per row finds the rival and checks for NaN; the gradient
  row is then written once (``0 * grad_output`` everywhere, the two active
  entries overwritten).  The form is memory-bound and needs no vector lanes.
- Per-sample losses go to ``loss_out`` in the parallel loop and are reduced
  by the Python layer in a fixed order (bitwise the same for any thread
  count).  grad_output multiplies last, as in the other kernels.
- No argument is checked here except the memory-safety guard on each target
  (a caller's thread may change it after validation): such a row is NaN.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport NAN
from libc.stdint cimport int64_t


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


def loss(
    const floating[:, ::1] input,
    const int64_t[::1] target,
    const double[:] weight,  # strided: ones are a stride-0 view
    double margin,
    int p,
    double[::1] loss_out,
    int n_threads,
):
    """Per-sample loss: loss_out[n] = w[y_n] * max(0, (m - x[n, y_n]) + x[n, r_n]) ** p."""
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, y, rival
        floating margin_in_dtype = <floating> margin
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        y = target[n]
        rival = -1  # assigned in the loop body, so each thread has its own
        if y < 0 or y >= n_classes:  # memory safety only (see the module's note)
            loss_out[n] = NAN
        elif p == 1:
            # 0.0 + ...: +0 for an inactive row, even with a negative weight
            loss_out[n] = 0.0 + _row_term(&input[n, 0], n_classes, y, margin_in_dtype, 1,
                                          &rival) * weight[y]
        else:
            loss_out[n] = 0.0 + _row_term(&input[n, 0], n_classes, y, margin_in_dtype, 2,
                                          &rival) * weight[y]


def loss_gradient(
    const floating[:, ::1] input,
    const int64_t[::1] target,
    const double[:] weight,  # strided: ones are a stride-0 view
    double margin,
    int p,
    double scale,
    const double[::1] grad_output,
    Py_ssize_t grad_output_stride,
    double[::1] loss_out,
    floating[:, ::1] gradient_out,
    int n_threads,
):
    """Per-sample loss (as ``loss``) and its gradient in one pass over ``input``.

    gradient_out[n, r] = (scale * w[y_n] * p * z ** (p-1)) * grad_output[n * stride]
    for the rival r when z > 0, gradient_out[n, y_n] its negative, every other
    entry 0 * grad_output; ``scale`` is 1 (or 1/N for the mean).
    """
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, y, i, rival
        floating margin_in_dtype = <floating> margin
        floating inactive
        double term, slope, go
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        y = target[n]
        rival = -1  # assigned in the loop body, so each thread has its own
        if y < 0 or y >= n_classes:  # memory safety only
            loss_out[n] = NAN
            for i in range(n_classes):
                gradient_out[n, i] = NAN
            continue
        go = grad_output[n * grad_output_stride]
        if p == 1:
            term = _row_term(&input[n, 0], n_classes, y, margin_in_dtype, 1, &rival)
        else:
            term = _row_term(&input[n, 0], n_classes, y, margin_in_dtype, 2, &rival)
        loss_out[n] = 0.0 + term * weight[y]
        if term != term:
            for i in range(n_classes):
                gradient_out[n, i] = NAN
            continue
        inactive = <floating> (0.0 * go)
        for i in range(n_classes):
            gradient_out[n, i] = inactive
        if term > 0:
            if p == 1:
                slope = scale * weight[y]
            else:
                # p * z ** (p-1) = 2 z, with z rounded as _row_term rounds it
                slope = scale * weight[y] * 2.0 * <double> (
                    (margin_in_dtype - input[n, y]) + input[n, rival])
            gradient_out[n, rival] = <floating> (slope * go)
            gradient_out[n, y] = <floating> ((0.0 - slope) * go)
