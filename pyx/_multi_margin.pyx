"""Kernels of the multi-class margin loss (PyTorch's ``MultiMarginLoss``).

For one sample with scores ``x`` (``n_classes`` of them), target class ``y``,
margin ``m``, class weight ``w`` and power ``p`` in {1, 2}::

    z_i     = (m - x[y]) + x[i]                      rounded in the input dtype
    loss    = w[y] / C * sum_{i != y, z_i > 0} z_i ** p
    dloss_i = w[y] / C * p * z_i ** (p - 1)           i != y and z_i > 0, else 0
    dloss_y = -sum_{i != y} dloss_i

The semantics are PyTorch's (see ``pytorch-semantics.md`` section 1.1 and 2.1):
the weight multiplies after the power, the test ``z_i > 0`` is strict and the
row is divided by C, not C - 1.

Design
------
- ``z_i`` is computed in the input dtype exactly as PyTorch does, so the same
  terms are active and the gradient has the same pattern of zeros; everything
  after that (the row sum, the weight, the division by C, the gradient
  coefficients) is kept in float64 and converted to the input dtype once, on
  output.  PyTorch keeps the float32 row sum in float32 and builds ``dloss_y``
  by repeated float32 subtraction, so our float32 results are closer to the
  exact values (in float64 both are float64 sums, in different orders).
- A term whose ``z_i`` is NaN makes the row's loss NaN (``not z <= 0`` lets
  NaN through), and a NaN row gets a NaN gradient row; PyTorch drops NaN terms
  silently.
- Per-sample losses go to ``loss_out`` (float64, one per sample) inside the
  parallel loop; the Python layer reduces them afterwards in a fixed order,
  so results are bitwise the same for any number of threads.
- The loop over ``i`` is split at ``y`` instead of testing ``i != y`` for
  every element; the branch on ``p`` is taken once per row, and each inlined
  call sees a constant ``p``.
- No argument is checked here: the Python layer (``marginloss._validation``)
  guarantees shapes, ``0 <= target < n_classes``, finite weights and a margin
  representable in the input dtype.  The one exception is memory safety: each
  target is read once into a local and bounds-checked, because a caller's
  thread may change the target array between validation and the kernel (the
  kernels read it in place).  Such a row gets a NaN loss and gradient; a
  validated target never trips the check.
- Measured on this 2-core machine, (100000, 100) float32, fused loss and
  gradient: 35 ms on one thread, 19 ms on two (PyTorch's serial
  forward+backward: 81 ms).  GCC compiles the ``max(0, z)`` select as a
  branch for float32 (and for p=2), which mispredicts on random scores: about
  2.4 ns a score, against 0.6 ns for the branch-free float64 p=1 loop.
  Vectorised partial sums would remove the branch; that is for the
  benchmark-driven work.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport NAN
from libc.stdint cimport int64_t


cdef inline double _span_loss(
    const floating* x,
    Py_ssize_t start,
    Py_ssize_t stop,
    floating shift,
    int p,
) noexcept nogil:
    """sum over start <= i < stop of max(0, z_i) ** p, z_i = shift + x[i]; NaN-propagating."""
    cdef:
        Py_ssize_t i
        floating z
        double total = 0.0
    for i in range(start, stop):
        z = shift + x[i]
        # max(0, z) keeping NaN, written as x86's maxss/maxsd compute it
        z = 0 if 0 > z else z
        if p == 1:
            total += z
        else:
            total += <double> z * z
    return total


cdef inline double _row_loss(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating margin,
    int p,
) noexcept nogil:
    """sum_{i != y, z_i > 0} z_i ** p for one row (NaN if x[y] or any z_i is NaN)."""
    cdef floating shift = margin - x[y]
    if x[y] != x[y]:
        return NAN
    return (_span_loss(x, 0, y, shift, p)
            + _span_loss(x, y + 1, n_classes, shift, p))


cdef inline void _fill_nan(floating* row, Py_ssize_t n_classes) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n_classes):
        row[i] = NAN


cdef inline double _span_loss_gradient(
    const floating* x,
    floating* gradient,
    Py_ssize_t start,
    Py_ssize_t stop,
    floating shift,
    int p,
    double coef,
    double grad_output,
    double* gradient_sum,
) noexcept nogil:
    """Loss of the span as _span_loss.  Writes
    gradient[i] = (coef * p * z_i ** (p-1) if z_i > 0 else 0) * grad_output
    for start <= i < stop and adds the unscaled terms to gradient_sum[0]."""
    cdef:
        Py_ssize_t i
        floating z
        double total = 0.0
        double dloss
        double dsum = 0.0
        bint active
    for i in range(start, stop):
        z = shift + x[i]
        active = z > 0
        z = 0 if 0 > z else z  # as in _span_loss; a NaN z makes the row NaN
        if p == 1:
            total += z
            dloss = coef if active else 0.0
        else:
            total += <double> z * z
            dloss = 2.0 * coef * z if active else 0.0
        # grad_output multiplies last, as in PyTorch: an inactive term gives
        # 0 * grad_output (a signed zero, or NaN for an infinite grad_output).
        gradient[i] = <floating> (dloss * grad_output)
        dsum += dloss
    gradient_sum[0] += dsum
    return total


cdef inline double _row_loss_gradient(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating margin,
    int p,
    double coef,
    double grad_output,
) noexcept nogil:
    """Row loss as _row_loss; writes the row's gradient times grad_output."""
    cdef:
        floating shift = margin - x[y]
        double gradient_sum = 0.0
        double total
    total = (_span_loss_gradient(x, gradient, 0, y, shift, p, coef, grad_output,
                                 &gradient_sum)
             + _span_loss_gradient(x, gradient, y + 1, n_classes, shift, p, coef,
                                   grad_output, &gradient_sum))
    # 0.0 - sum, not -sum: +0 when no term is active, as PyTorch's 0 - ... - 0.
    gradient[y] = <floating> ((0.0 - gradient_sum) * grad_output)
    if total != total or x[y] != x[y]:
        _fill_nan(gradient, n_classes)
        return NAN
    return total


def loss(
    const floating[:, ::1] input,
    const int64_t[::1] target,
    const double[::1] weight,
    double margin,
    int p,
    double[::1] loss_out,
    int n_threads,
):
    """Per-sample loss: loss_out[n] = w[y_n] / C * sum_{i != y_n} max(0, z_ni) ** p."""
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, y
        floating margin_in_dtype = <floating> margin
        double row_sum
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        y = target[n]
        if y < 0 or y >= n_classes:  # see the design note: memory safety only
            loss_out[n] = NAN
        else:
            if p == 1:
                row_sum = _row_loss(&input[n, 0], n_classes, y, margin_in_dtype, 1)
            else:
                row_sum = _row_loss(&input[n, 0], n_classes, y, margin_in_dtype, 2)
            # 0.0 + ...: +0 for a row with no active term, even with a negative weight
            loss_out[n] = 0.0 + row_sum * weight[y] / n_classes


def loss_gradient(
    const floating[:, ::1] input,
    const int64_t[::1] target,
    const double[::1] weight,
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

    gradient_out[n] = (d row_sum_n / dx_n * scale * w[y_n]) * grad_output[n * stride],
    with ``scale`` = 1/C (or 1/(N*C) for the mean) and ``stride`` 0 for a scalar
    ``grad_output``.
    """
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, y
        floating margin_in_dtype = <floating> margin
        double coef, row_sum, grad_output_n
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        y = target[n]
        if y < 0 or y >= n_classes:  # see the design note: memory safety only
            loss_out[n] = NAN
            _fill_nan(&gradient_out[n, 0], n_classes)
        else:
            coef = scale * weight[y]
            grad_output_n = grad_output[n * grad_output_stride]
            if p == 1:
                row_sum = _row_loss_gradient(&input[n, 0], &gradient_out[n, 0], n_classes,
                                             y, margin_in_dtype, 1, coef, grad_output_n)
            else:
                row_sum = _row_loss_gradient(&input[n, 0], &gradient_out[n, 0], n_classes,
                                             y, margin_in_dtype, 2, coef, grad_output_n)
            loss_out[n] = 0.0 + row_sum * weight[y] / n_classes
