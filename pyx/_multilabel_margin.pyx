"""Kernels of the multi-label margin loss (PyTorch's ``MultiLabelMarginLoss``).

For one sample with scores ``x`` (``n_classes`` = C of them) and a target row
``t`` of class indices padded with -1, let T be the entries of ``t`` before its
first negative entry (kept with multiplicity) and D the classes not in T::

    z_jd    = (1 - x[j]) + x[d]                          rounded in the input dtype
    loss    = 1 / C * sum_{j in T} sum_{d in D, z_jd > 0} z_jd
    dloss_d =  1 / C * #{j in T : z_jd > 0}               d in D
    dloss_c = -1 / C * sum_{j in T, j == c} #{d in D : z_jd > 0}     c in T

The semantics are PyTorch's (``pytorch-semantics.md`` sections 1.2 and 2.2):
entries after the first -1 are ignored, a class listed twice counts twice, a
target never pairs with another target.

Design
------
- The activity test is PyTorch's floating-point predicate ``(1 - x[j]) + x[d]
  > 0`` in the input dtype, so the active pairs are exactly PyTorch's; sums and
  the per-class pair counts are kept in float64 and each output is rounded
  once (PyTorch adds +-1/C in the input dtype pair by pair).
- Each thread owns one row of ``label_scratch`` (the sample's labels),
  ``is_target_scratch`` (the class mask) and ``count_scratch`` (the signed
  active-pair count of every class), allocated by the Python layer with one
  row per thread: O(C) memory per thread where PyTorch allocates an N x C
  ``is_target`` tensor.  The mask and count rows are left zeroed after every
  sample.
- A NaN anywhere in a sample's scores, or a NaN term (``inf - inf``), makes
  its loss NaN and its gradient row NaN (PyTorch gives 0 silently).
- This is the direct O(k * C) loop for k listed targets per row.
- No argument is checked here: the Python layer guarantees the shapes and
  ``-1 <= target < n_classes``.  The one exception is memory safety: a
  caller's thread may change the target array between validation and the
  kernel (it is read in place), so each entry is read once, bounds-checked and
  copied to ``labels``; an out-of-range entry ends the sample's list like -1.
  A validated target never trips the check.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport NAN
from libc.stdint cimport int32_t, int64_t

ctypedef fused target_t:
    int32_t
    int64_t


cdef inline Py_ssize_t _collect_labels(
    const target_t* target,
    Py_ssize_t n_classes,
    Py_ssize_t* labels,
    unsigned char* is_target,
) noexcept nogil:
    """Copy the entries before the first negative (or out-of-range) one to
    labels and mark them in is_target; return how many there are."""
    cdef Py_ssize_t n_listed = 0, label
    while n_listed < n_classes:
        label = target[n_listed]
        if label < 0 or label >= n_classes:
            break
        labels[n_listed] = label
        is_target[label] = 1
        n_listed += 1
    return n_listed


cdef inline void _clear_labels(
    const Py_ssize_t* labels,
    Py_ssize_t n_listed,
    unsigned char* is_target,
) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n_listed):
        is_target[labels[j]] = 0


cdef inline bint _has_nan(const floating* x, Py_ssize_t n_classes) noexcept nogil:
    cdef:
        Py_ssize_t d
        bint found = False
    for d in range(n_classes):
        found = found | (x[d] != x[d])
    return found


cdef inline double _row_loss(
    const floating* x,
    const target_t* target,
    Py_ssize_t n_classes,
    Py_ssize_t* labels,
    unsigned char* is_target,
) noexcept nogil:
    """sum_{j in T} sum_{d in D, z_jd > 0} z_jd for one row; NaN if x has a NaN."""
    cdef:
        Py_ssize_t n_listed = _collect_labels(target, n_classes, labels, is_target)
        Py_ssize_t j, d
        floating shift, z
        double total = 0.0
    for j in range(n_listed):
        shift = 1 - x[labels[j]]
        for d in range(n_classes):
            z = shift + x[d]
            if not is_target[d] and not z <= 0:  # NaN (inf - inf) passes, making total NaN
                total += z
    _clear_labels(labels, n_listed, is_target)
    if total != total or _has_nan(x, n_classes):
        return NAN
    return total


cdef inline double _row_loss_gradient(
    const floating* x,
    const target_t* target,
    floating* gradient,
    Py_ssize_t n_classes,
    double coef,
    double grad_output,
    Py_ssize_t* labels,
    unsigned char* is_target,
    double* count,
) noexcept nogil:
    """Row loss as _row_loss; writes the row's gradient, scaled by coef * grad_output."""
    cdef:
        Py_ssize_t n_listed = _collect_labels(target, n_classes, labels, is_target)
        Py_ssize_t j, d, n_active
        floating shift, z
        double total = 0.0
    for j in range(n_listed):
        shift = 1 - x[labels[j]]
        n_active = 0
        for d in range(n_classes):
            z = shift + x[d]
            if not is_target[d] and not z <= 0:  # NaN (inf - inf) passes, making total NaN
                total += z
                count[d] += 1
                n_active += 1
        count[labels[j]] -= n_active
    _clear_labels(labels, n_listed, is_target)
    for d in range(n_classes):
        # grad_output multiplies last, as in PyTorch (0 * grad_output where inactive)
        gradient[d] = <floating> (count[d] * coef * grad_output)
        count[d] = 0
    if total != total or _has_nan(x, n_classes):
        for d in range(n_classes):
            gradient[d] = NAN
        return NAN
    return total


def loss(
    const floating[:, ::1] input,
    const target_t[:, ::1] target,
    double[::1] loss_out,
    Py_ssize_t[:, ::1] label_scratch,
    unsigned char[:, ::1] is_target_scratch,
    int n_threads,
):
    """Per-sample loss: loss_out[n] = 1/C * sum_{j in T_n} sum_{d in D_n} max(0, z_njd)."""
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, thread
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        thread = threadid()
        loss_out[n] = _row_loss(
            &input[n, 0], &target[n, 0], n_classes,
            &label_scratch[thread, 0], &is_target_scratch[thread, 0],
        ) / n_classes


def loss_gradient(
    const floating[:, ::1] input,
    const target_t[:, ::1] target,
    double scale,
    const double[::1] grad_output,
    Py_ssize_t grad_output_stride,
    double[::1] loss_out,
    floating[:, ::1] gradient_out,
    Py_ssize_t[:, ::1] label_scratch,
    unsigned char[:, ::1] is_target_scratch,
    double[:, ::1] count_scratch,
    int n_threads,
):
    """Per-sample loss (as ``loss``) and its gradient in one pass over ``input``.

    gradient_out[n] = dloss_n / dx_n * scale * grad_output[n * stride], with
    ``scale`` = 1/C (or 1/(N*C) for the mean) and ``stride`` 0 for a scalar
    ``grad_output``.  ``count_scratch`` must be zeroed on entry (it is left so).
    """
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, thread
    for n in prange(n_samples, schedule="static", nogil=True, num_threads=n_threads):
        thread = threadid()
        loss_out[n] = _row_loss_gradient(
            &input[n, 0], &target[n, 0], &gradient_out[n, 0], n_classes,
            scale, grad_output[n * grad_output_stride],
            &label_scratch[thread, 0], &is_target_scratch[thread, 0], &count_scratch[thread, 0],
        ) / n_classes
