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
- No argument is checked here: the Python layer (``marginloss._validation``)
  guarantees shapes, ``0 <= target < n_classes``, finite weights and a margin
  representable in the input dtype.  The one exception is memory safety: each
  target is read once into a local and bounds-checked, because a caller's
  thread may change the target array between validation and the kernel (the
  kernels read it in place).  Such a row gets a NaN loss and gradient; a
  validated target never trips the check.
- Speed: each row is one pass that reads ``x`` once and writes the gradient
  once.  A row of C >= LANES classes is cut into blocks of LANES; lane ``k``
  of every block adds into its own float64 partial sums (loss, and the active
  count or ``sum z_i``), so GCC vectorises the block loop (packed adds,
  compares, selects and float32 -> float64 converts) without reordering any
  floating-point sum; the lanes are added by a fixed pairwise tree at the end
  of the row.  The block holding ``y`` and a last block that overlaps the
  previous one (ending at class C-1) run the same arithmetic with a lane
  mask.  ``-fno-trapping-math`` (see setup.py) lets GCC if-convert the
  selects; ``p`` and the mask switch are constants in each inlined copy.
  Rows of fewer than LANES classes take a branch-free scalar loop (for
  float32 with table lookups in place of selects, which GCC compiles as
  branches; float64 gets maxsd from the plain form).
- The active count (p=1) and ``sum z_i`` (p=2) give ``dloss_y`` with one
  rounding instead of a chain of additions.
- Results do not depend on the number of threads or the schedule: each row's
  arithmetic is fixed, and the Python layer reduces ``loss_out`` in order.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport NAN
from libc.stdint cimport int32_t, int64_t

cdef enum:
    # Classes per block: lane k of a block adds into its own float64 partial
    # sums.  With 16 GCC vectorises the lane loop whole (8 or fewer it would
    # unroll first and then leave scalar).
    LANES = 16


cdef inline void _fill_nan(floating* row, Py_ssize_t n_classes) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n_classes):
        row[i] = NAN


cdef inline double _sum_lanes(double* lanes) noexcept nogil:
    """sum of the LANES partial sums, as a fixed pairwise tree (overwrites lanes)."""
    cdef int k, half = LANES // 2
    while half > 0:
        for k in range(half):
            lanes[k] += lanes[k + half]
        half //= 2
    return lanes[0]


cdef inline int _lane_of(Py_ssize_t y, Py_ssize_t base) noexcept nogil:
    """The lane of class y in the block starting at class base, or -1."""
    if y >= base and y < base + LANES:
        return <int> (y - base)
    return -1


cdef inline void _block_loss(
    const floating* x,
    int y_lane,
    int first,
    int stop,
    floating shift,
    int p,
    bint masked,
    double* lane_loss,
) noexcept nogil:
    """lane_loss[k] += max(0, z_k) ** p for the kept lanes of one block.

    z_k = shift + x[k] in the input dtype; a lane is kept when first <= k <
    stop and k != y_lane (every lane when ``masked`` is false, a constant in
    each inlined copy).  ``0 if 0 > z else z`` keeps a NaN z.  Branch-free:
    every lane computes, the mask selects.
    """
    cdef:
        int k, keep
        floating z, zp, zero = 0
    for k in range(LANES):
        z = shift + x[k]
        zp = zero if zero > z else z
        if masked:
            keep = (k != y_lane) & (k >= first) & (k < stop)
        else:
            keep = 1
        zp = zp if keep else zero
        if p == 1:
            lane_loss[k] += <double> zp
        else:
            lane_loss[k] += <double> zp * zp


cdef inline void _block_loss_gradient(
    const floating* x,
    floating* gradient,
    int y_lane,
    int first,
    int stop,
    floating shift,
    int p,
    bint masked,
    floating active_value,
    floating inactive_value,
    double twice_coef,
    double grad_output,
    double* lane_loss,
    double* lane_slope,
    int32_t* lane_count,
) noexcept nogil:
    """_block_loss, and the gradient of every lane of the block:

    gradient[k] = (coef * p * z_k ** (p-1) if z_k > 0 else 0) * grad_output,
    with active_value = coef * grad_output and inactive_value = 0 * grad_output.
    lane_slope[k] adds the kept lane's active count (p=1) or max(0, z_k) (p=2).
    Lanes outside [first, stop) get the same gradient value they had from the
    block that kept them; the caller overwrites lane y_lane.
    """
    cdef:
        int k, keep, active
        double counted
        floating z, zp, zero = 0
    for k in range(LANES):
        z = shift + x[k]
        zp = zero if zero > z else z
        active = z > zero
        if masked:
            keep = (k != y_lane) & (k >= first) & (k < stop)
        else:
            keep = 1
        if p == 1:
            if masked:
                zp = zp if keep else zero
            lane_loss[k] += <double> zp
            # The active count in int32 lanes for float32.  For float64 GCC
            # vectorises the loop only with the flag held as a double.
            if floating is float:
                gradient[k] = active_value if active else inactive_value
                lane_count[k] += active & keep
            else:
                counted = z > zero
                gradient[k] = active_value if counted else inactive_value
                if masked:
                    counted = (z > zero) & keep
                lane_slope[k] += counted
        else:
            gradient[k] = (<floating> ((twice_coef * zp) * grad_output)
                           if active else inactive_value)
            zp = zp if keep else zero
            lane_loss[k] += <double> zp * zp
            lane_slope[k] += <double> zp


cdef inline double _span_loss(
    const floating* x,
    Py_ssize_t start,
    Py_ssize_t stop,
    floating shift,
    int p,
) noexcept nogil:
    """sum over start <= i < stop of max(0, z_i) ** p, z_i = shift + x[i]; NaN-propagating.

    The float64 loop for rows of fewer than LANES classes (GCC compiles the
    float64 max as maxsd, branch-free)."""
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


cdef inline double _short_row_loss(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating shift,
    int p,
) noexcept nogil:
    """_row_loss for a float32 row of fewer than LANES classes: one scalar loop.

    Branch-free (random scores make ``z > 0`` unpredictable): max(0, z) is
    read from a two-entry table indexed by the test, and a NaN z is tracked
    by a flag instead of riding through the sum.
    """
    cdef:
        Py_ssize_t i
        int active
        bint seen_nan = False
        floating z
        floating choice[2]
        double total = 0.0
    choice[0] = 0
    for i in range(n_classes):
        z = shift + x[i]
        seen_nan |= (z != z) & (i != y)
        choice[1] = z
        active = (z > 0) & (i != y)
        if p == 1:
            total += <double> choice[active]
        else:
            total += <double> choice[active] * choice[active]
    return NAN if seen_nan else total


cdef inline double _short_row_loss_gradient(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating shift,
    int p,
    double coef,
    floating active_value,
    floating inactive_value,
    double grad_output,
    double* gradient_sum,
) noexcept nogil:
    """_short_row_loss, and gradient[i] for i != y as the blocks write it;
    gradient_sum[0] gets sum_{i != y} coef * p * max(0, z_i) ** (p-1) over
    the active terms (the caller writes gradient[y]).  Branch-free as
    _short_row_loss: every select is a two-entry table lookup."""
    cdef:
        Py_ssize_t i
        int active
        bint seen_nan = False
        floating z
        floating term[2]
        floating value[2]
        double total = 0.0, slope = 0.0
    term[0] = 0
    value[0] = inactive_value
    value[1] = active_value
    for i in range(n_classes):
        z = shift + x[i]
        seen_nan |= (z != z) & (i != y)
        term[1] = z
        active = z > 0
        if p == 2:
            value[1] = <floating> ((2.0 * coef * z) * grad_output)
        gradient[i] = value[active]
        active = active & (i != y)
        if p == 1:
            total += <double> term[active]
            slope += active
        else:
            total += <double> term[active] * term[active]
            slope += <double> term[active]
    if p == 1:
        gradient_sum[0] = coef * slope
    else:
        gradient_sum[0] = 2.0 * coef * slope
    return NAN if seen_nan else total


cdef inline double _row_loss(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating shift,
    int p,
) noexcept nogil:
    """sum_{i != y} max(0, z_i) ** p with z_i = shift + x[i]; NaN-propagating.

    Full blocks of LANES classes, then one block ending at the last class that
    keeps only the classes not yet seen; a row shorter than LANES takes the
    scalar loop.
    """
    cdef:
        Py_ssize_t base = 0, i
        int k
        double lane_loss[LANES]
    if n_classes < LANES:
        if floating is double:
            return (_span_loss(x, 0, y, shift, p)
                    + _span_loss(x, y + 1, n_classes, shift, p))
        else:
            return _short_row_loss(x, n_classes, y, shift, p)
    for k in range(LANES):
        lane_loss[k] = 0.0
    while base + LANES <= n_classes:
        if y >= base and y < base + LANES:
            _block_loss(x + base, <int> (y - base), 0, LANES, shift, p, True, lane_loss)
        else:
            _block_loss(x + base, -1, 0, LANES, shift, p, False, lane_loss)
        base += LANES
    if base < n_classes:
        i = n_classes - LANES
        _block_loss(x + i, _lane_of(y, i), <int> (base - i), LANES, shift, p, True,
                    lane_loss)
    return _sum_lanes(lane_loss)


cdef inline double _row_loss_gradient(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating shift,
    int p,
    double coef,
    double grad_output,
) noexcept nogil:
    """Row loss as _row_loss; writes the row's gradient times grad_output:

    gradient[i] = (coef * p * z_i ** (p-1) if z_i > 0 else 0) * grad_output, i != y
    gradient[y] = (0 - sum_{i != y} coef * p * z_i ** (p-1)) * grad_output
    """
    cdef:
        Py_ssize_t base = 0, i
        int k
        # grad_output multiplies last, as in PyTorch: an inactive term gives
        # 0 * grad_output (a signed zero, or NaN for an infinite grad_output).
        floating active_value = <floating> (coef * grad_output)
        floating inactive_value = <floating> (0.0 * grad_output)
        double twice_coef = 2.0 * coef
        double lane_loss[LANES]
        double lane_slope[LANES]
        int32_t lane_count[LANES]
        int64_t count
        double total, slope = 0.0, gradient_sum
    if n_classes < LANES:
        if floating is double:
            gradient_sum = 0.0
            total = (_span_loss_gradient(x, gradient, 0, y, shift, p, coef, grad_output,
                                         &gradient_sum)
                     + _span_loss_gradient(x, gradient, y + 1, n_classes, shift, p, coef,
                                           grad_output, &gradient_sum))
        else:
            total = _short_row_loss_gradient(x, gradient, n_classes, y, shift, p, coef,
                                             active_value, inactive_value, grad_output,
                                             &gradient_sum)
    else:
        for k in range(LANES):
            lane_loss[k] = 0.0
            lane_slope[k] = 0.0
            lane_count[k] = 0
        while base + LANES <= n_classes:
            if y >= base and y < base + LANES:
                _block_loss_gradient(x + base, gradient + base, <int> (y - base), 0, LANES,
                                     shift, p, True, active_value, inactive_value,
                                     twice_coef, grad_output, lane_loss, lane_slope,
                                     lane_count)
            else:
                _block_loss_gradient(x + base, gradient + base, -1, 0, LANES,
                                     shift, p, False, active_value, inactive_value,
                                     twice_coef, grad_output, lane_loss, lane_slope,
                                     lane_count)
            base += LANES
        if base < n_classes:
            i = n_classes - LANES
            _block_loss_gradient(x + i, gradient + i, _lane_of(y, i), <int> (base - i),
                                 LANES, shift, p, True, active_value, inactive_value,
                                 twice_coef, grad_output, lane_loss, lane_slope, lane_count)
        total = _sum_lanes(lane_loss)
        if p == 1 and floating is float:
            # an exact integer sum, converted once (16 conversions and a chain
            # of float64 additions cost about 60 cycles a row)
            count = 0
            for k in range(LANES):
                count += lane_count[k]
            slope = <double> count
        else:
            slope = _sum_lanes(lane_slope)
        if p == 1:
            gradient_sum = coef * slope
        else:
            gradient_sum = twice_coef * slope
    # 0.0 - sum, not -sum: +0 when no term is active, as PyTorch's 0 - ... - 0.
    gradient[y] = <floating> ((0.0 - gradient_sum) * grad_output)
    if total != total or x[y] != x[y]:
        _fill_nan(gradient, n_classes)
        return NAN
    return total

def loss(
    const floating[:, ::1] input,
    const int64_t[::1] target,
    const double[:] weight,  # strided: ones are a stride-0 view
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
            if input[n, y] != input[n, y]:
                row_sum = NAN
            elif p == 1:
                row_sum = _row_loss(&input[n, 0], n_classes, y, margin_in_dtype - input[n, y], 1)
            else:
                row_sum = _row_loss(&input[n, 0], n_classes, y, margin_in_dtype - input[n, y], 2)
            # 0.0 + ...: +0 for a row with no active term, even with a negative weight
            loss_out[n] = 0.0 + row_sum * weight[y] / n_classes


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
                                             y, margin_in_dtype - input[n, y], 1, coef,
                                             grad_output_n)
            else:
                row_sum = _row_loss_gradient(&input[n, 0], &gradient_out[n, 0], n_classes,
                                             y, margin_in_dtype - input[n, y], 2, coef,
                                             grad_output_n)
            loss_out[n] = 0.0 + row_sum * weight[y] / n_classes
