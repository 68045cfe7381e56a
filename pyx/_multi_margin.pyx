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

cdef extern from "_row_blocks.h" nogil:
    # Vectors of ROWS rows, one row a lane (see the header).
    enum:
        ROWS "ML_ROWS"
    ctypedef struct f32v "ml_f32":
        pass
    ctypedef struct f64v "ml_f64":
        pass
    ctypedef struct i32v "ml_i32":
        pass
    ctypedef struct maskv "ml_mask":
        pass
    i32v targets "ml_targets"(const int64_t* t, int64_t n_classes, int* valid)
    i32v iota_times "ml_iota_times"(int32_t c)
    i32v set1_i32 "ml_set1_i32"(int32_t a)
    i32v add_i32 "ml_add_i32"(i32v a, i32v b)
    i32v mul_i32 "ml_mul_i32"(i32v a, i32v b)
    i32v load_i32 "ml_load_i32"(const int32_t* p)
    void store_i32 "ml_store_i32"(int32_t* p, i32v a)
    f32v gather_f32 "ml_gather_f32"(const float* base, i32v idx)
    f64v gather_f64 "ml_gather_f64"(const double* base, i32v idx)
    f32v set1_f32 "ml_set1_f32"(float a)
    f32v add_f32 "ml_add_f32"(f32v a, f32v b)
    f32v sub_f32 "ml_sub_f32"(f32v a, f32v b)
    f32v max0_f32 "ml_max0_f32"(f32v z)
    f32v load_f32 "ml_load_f32"(const float* p)
    f32v permute_f32 "ml_permute_f32"(i32v idx, f32v table)
    f64v permute_f64 "ml_permute_f64"(i32v idx, f64v table)
    f32v select_f32 "ml_select_f32"(maskv m, f32v a, f32v b)
    f32v zero_unless_f32 "ml_zero_unless_f32"(maskv m, f32v a)
    void store_f32 "ml_store_f32"(float* p, f32v a)
    maskv gt_f32 "ml_gt_f32"(f32v a, f32v b)
    maskv isnan_f32 "ml_isnan_f32"(f32v a)
    maskv neq_i32 "ml_neq_i32"(i32v a, i32v b)
    maskv or_mask "ml_or"(maskv a, maskv b)
    maskv and_mask "ml_and"(maskv a, maskv b)
    int mask_bits "ml_bits"(maskv a)
    i32v count_mask "ml_count"(i32v n, maskv m)
    f64v set1_f64 "ml_set1_f64"(double a)
    f64v add_f64 "ml_add_f64"(f64v a, f64v b)
    f64v sub_f64 "ml_sub_f64"(f64v a, f64v b)
    f64v mul_f64 "ml_mul_f64"(f64v a, f64v b)
    f64v div_f64 "ml_div_f64"(f64v a, f64v b)
    f64v select_f64 "ml_select_f64"(maskv m, f64v a, f64v b)
    f64v cvt_f64 "ml_cvt_f64"(f32v a)
    f64v cvt_i32_f64 "ml_cvt_i32_f64"(i32v a)
    f32v cvt_f32 "ml_cvt_f32"(f64v a)
    f64v load_f64 "ml_load_f64"(const double* p)
    void store_f64 "ml_store_f64"(double* p, f64v a)
    void prefetch "ml_prefetch"(const void* p, int n_bytes)
    void prefetch_write "ml_prefetch_write"(void* p, int n_bytes)

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


cdef inline bint _row_block(
    const float* x,
    const int64_t* target,
    int32_t n_classes,
    const double* weight,
    int32_t weight_stride,
    float margin,
    int p,
    bint with_gradient,
    double scale,
    const double* grad_output,
    int32_t grad_output_stride,
    const int32_t* row_of,
    double* loss_out,
    float* gradient,
) noexcept nogil:
    """ROWS float32 rows of fewer than LANES classes at once, one row a vector
    lane: _row_loss_gradient's formulas, term by term in its order (each
    lane sums its row in class order), so the same bits.

    Pass 1 gathers class i of the ROWS rows (a column of the block) and adds
    the row sums and active counts.  Pass 2 walks the block's ROWS x C scores
    as contiguous vectors, recomputes z and writes the gradient, each
    position's row parameters taken from the row lanes by a permutation
    (``row_of[j]``: the row of position j); then gradient[y] of each row.
    Returns False and writes nothing when a target is out of range or a
    score is not finite (the caller takes the row loop, which gives such
    rows NaN).  ``target`` is
    read once: the checked lanes feed every gather and store.
    """
    cdef:
        int valid, i, r
        i32v y = targets(target, n_classes, &valid)
        i32v rows, count, row_index
        f32v shift, z, zero32, active_value, inactive_value, value
        f64v zero, total, slope, term, w, coef, twice_coef, go
        maskv kept, active, non_finite
        float gradient_y[ROWS]
        int32_t y_lanes[ROWS]
    if not valid:
        return False
    prefetch(x + 2 * ROWS * n_classes, ROWS * n_classes * 4)  # two blocks ahead
    # A block with an inf or NaN score takes the row loop (which handles
    # NaN rows); the contiguous pass also brings the block into L1.
    zero32 = set1_f32(0)
    non_finite = isnan_f32(zero32)
    for i in range(n_classes):
        z = load_f32(&x[i * ROWS])
        non_finite = or_mask(non_finite, isnan_f32(sub_f32(z, z)))
    if mask_bits(non_finite):
        return False
    zero = set1_f64(0.0)
    rows = iota_times(n_classes)
    shift = sub_f32(set1_f32(margin), gather_f32(x, add_i32(rows, y)))  # m - x[y]
    w = gather_f64(weight, mul_i32(y, set1_i32(weight_stride)))
    total = zero
    slope = zero
    count = set1_i32(0)
    for i in range(n_classes):
        # z_i = (m - x[y]) + x[i]; the term max(0, z_i) ** p for i != y
        z = add_f32(shift, gather_f32(x + i, rows))
        kept = neq_i32(y, set1_i32(i))
        term = cvt_f64(zero_unless_f32(kept, max0_f32(z)))
        if p == 1:
            if with_gradient:
                count = count_mask(count, and_mask(gt_f32(z, zero32), kept))
        else:
            if with_gradient:
                slope = add_f64(slope, term)
            term = mul_f64(term, term)
        total = add_f64(total, term)
    # 0.0 + ...: +0 for a row with no active term, even with a negative weight
    store_f64(loss_out, add_f64(zero, div_f64(mul_f64(total, w), set1_f64(<double> n_classes))))
    if not with_gradient:
        return True
    prefetch_write(gradient + 2 * ROWS * n_classes, ROWS * n_classes * 4)
    coef = mul_f64(set1_f64(scale), w)
    twice_coef = mul_f64(set1_f64(2.0), coef)
    go = gather_f64(grad_output, iota_times(grad_output_stride))
    # grad_output multiplies last, as in the row loop
    active_value = cvt_f32(mul_f64(coef, go))
    inactive_value = cvt_f32(mul_f64(zero, go))
    for i in range(n_classes):
        row_index = load_i32(&row_of[i * ROWS])
        z = add_f32(permute_f32(row_index, shift), load_f32(&x[i * ROWS]))
        active = gt_f32(z, zero32)
        if p == 1:
            value = permute_f32(row_index, active_value)
        else:
            value = cvt_f32(mul_f64(mul_f64(permute_f64(row_index, twice_coef), cvt_f64(z)),
                                    permute_f64(row_index, go)))
        store_f32(&gradient[i * ROWS],
                  select_f32(active, value, permute_f32(row_index, inactive_value)))
    # gradient[y] = (0.0 - coef * p * sum_{i != y} max(0, z_i) ** (p - 1)) * grad_output
    if p == 1:
        slope = mul_f64(coef, cvt_i32_f64(count))
    else:
        slope = mul_f64(twice_coef, slope)
    store_f32(gradient_y, cvt_f32(mul_f64(sub_f64(zero, slope), go)))
    store_i32(y_lanes, y)
    for r in range(ROWS):
        gradient[r * n_classes + y_lanes[r]] = gradient_y[r]
    return True


cdef inline bint _use_row_blocks(Py_ssize_t n_classes, Py_ssize_t weight_stride,
                                 Py_ssize_t grad_output_stride) noexcept nogil:
    """Whether rows of this many classes go ROWS at a time (float32, SIMD builds)."""
    return (ROWS >= 8 and 1 <= n_classes < LANES
            and 0 <= weight_stride <= 1 and 0 <= grad_output_stride <= 1)


cdef inline void _row_table(int32_t* row_of, int32_t n_classes) noexcept nogil:
    """row_of[j] = the row of position j of a block's ROWS x C scores."""
    cdef int32_t j
    for j in range(n_classes * ROWS):
        row_of[j] = j // n_classes


cdef inline void _loss_row(
    const floating* x,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    const double* weight,
    Py_ssize_t weight_stride,
    floating margin,
    int p,
    double* loss_out,
) noexcept nogil:
    """loss_out[0] = w[y] / C * sum_{i != y} max(0, z_i) ** p for one row."""
    cdef double row_sum
    if y < 0 or y >= n_classes:  # see the design note: memory safety only
        loss_out[0] = NAN
        return
    if x[y] != x[y]:
        row_sum = NAN
    elif p == 1:
        row_sum = _row_loss(x, n_classes, y, margin - x[y], 1)
    else:
        row_sum = _row_loss(x, n_classes, y, margin - x[y], 2)
    # 0.0 + ...: +0 for a row with no active term, even with a negative weight
    loss_out[0] = 0.0 + row_sum * weight[y * weight_stride] / n_classes


cdef inline void _loss_gradient_row(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    const double* weight,
    Py_ssize_t weight_stride,
    floating margin,
    int p,
    double scale,
    double grad_output,
    double* loss_out,
) noexcept nogil:
    """_loss_row, and the row's gradient (see loss_gradient)."""
    cdef double coef, row_sum
    if y < 0 or y >= n_classes:  # see the design note: memory safety only
        loss_out[0] = NAN
        _fill_nan(gradient, n_classes)
        return
    coef = scale * weight[y * weight_stride]
    if p == 1:
        row_sum = _row_loss_gradient(x, gradient, n_classes, y, margin - x[y], 1, coef,
                                     grad_output)
    else:
        row_sum = _row_loss_gradient(x, gradient, n_classes, y, margin - x[y], 2, coef,
                                     grad_output)
    loss_out[0] = 0.0 + row_sum * weight[y * weight_stride] / n_classes


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
        Py_ssize_t n, b, n_blocks = 0
        floating margin_in_dtype = <floating> margin
        bint done
        # raw pointers: an empty dimension has no element to point at
        const floating* x = &input[0, 0] if n_samples > 0 and n_classes > 0 else NULL
        const double* w = &weight[0] if weight.shape[0] > 0 else NULL
        Py_ssize_t w_stride = weight.strides[0] // 8
    if floating is float:
        if _use_row_blocks(n_classes, w_stride, 0):
            n_blocks = n_samples // ROWS
    for b in prange(n_blocks, schedule="static", nogil=True, num_threads=n_threads):
        if floating is float:
            if p == 1:
                done = _row_block(x + b * ROWS * n_classes, &target[b * ROWS], <int32_t> n_classes,
                                  w, <int32_t> (w_stride),
                                  margin_in_dtype, 1, False, 0.0, NULL, 0, NULL,
                                  &loss_out[b * ROWS], NULL)
            else:
                done = _row_block(x + b * ROWS * n_classes, &target[b * ROWS], <int32_t> n_classes,
                                  w, <int32_t> (w_stride),
                                  margin_in_dtype, 2, False, 0.0, NULL, 0, NULL,
                                  &loss_out[b * ROWS], NULL)
            if not done:
                for n in range(b * ROWS, b * ROWS + ROWS):
                    _loss_row(x + n * n_classes, n_classes, target[n], w, w_stride, margin_in_dtype, p,
                              &loss_out[n])
    for n in prange(n_blocks * ROWS, n_samples, schedule="static", nogil=True,
                    num_threads=n_threads):
        _loss_row(x + n * n_classes, n_classes, target[n], w, w_stride, margin_in_dtype, p, &loss_out[n])


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
        Py_ssize_t n, b, n_blocks = 0
        floating margin_in_dtype = <floating> margin
        bint done
        int32_t row_of[LANES * ROWS]
        const floating* x = &input[0, 0] if n_samples > 0 and n_classes > 0 else NULL
        floating* g = &gradient_out[0, 0] if n_samples > 0 and n_classes > 0 else NULL
        const double* w = &weight[0] if weight.shape[0] > 0 else NULL
        Py_ssize_t w_stride = weight.strides[0] // 8
    if floating is float:
        if _use_row_blocks(n_classes, w_stride, grad_output_stride):
            n_blocks = n_samples // ROWS
            _row_table(row_of, <int32_t> n_classes)
    for b in prange(n_blocks, schedule="static", nogil=True, num_threads=n_threads):
        if floating is float:
            if p == 1:
                done = _row_block(x + b * ROWS * n_classes, &target[b * ROWS], <int32_t> n_classes,
                                  w, <int32_t> (w_stride),
                                  margin_in_dtype, 1, True, scale,
                                  &grad_output[b * ROWS * grad_output_stride],
                                  <int32_t> grad_output_stride, row_of,
                                  &loss_out[b * ROWS], g + b * ROWS * n_classes)
            else:
                done = _row_block(x + b * ROWS * n_classes, &target[b * ROWS], <int32_t> n_classes,
                                  w, <int32_t> (w_stride),
                                  margin_in_dtype, 2, True, scale,
                                  &grad_output[b * ROWS * grad_output_stride],
                                  <int32_t> grad_output_stride, row_of,
                                  &loss_out[b * ROWS], g + b * ROWS * n_classes)
            if not done:
                for n in range(b * ROWS, b * ROWS + ROWS):
                    _loss_gradient_row(x + n * n_classes, g + n * n_classes, n_classes, target[n],
                                       w, w_stride, margin_in_dtype, p, scale,
                                       grad_output[n * grad_output_stride], &loss_out[n])
    for n in prange(n_blocks * ROWS, n_samples, schedule="static", nogil=True,
                    num_threads=n_threads):
        _loss_gradient_row(x + n * n_classes, g + n * n_classes, n_classes, target[n], w,
                           w_stride, margin_in_dtype, p, scale, grad_output[n * grad_output_stride],
                           &loss_out[n])
