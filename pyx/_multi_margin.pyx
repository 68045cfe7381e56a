"""Kernels of the multi-class margin loss (PyTorch's ``MultiMarginLoss``).

For one sample with scores ``x`` (``n_classes`` = C of them), target class
``y``, margin ``m``, class weight ``w`` and power ``p`` in {1, 2}::

    z_i     = (m - x[y]) + x[i]                      rounded in the input dtype
    loss    = w[y] / C * sum_{i != y, z_i > 0} z_i ** p
    dloss_i = w[y] / C * p * z_i ** (p - 1)           i != y and z_i > 0, else 0
    dloss_y = -sum_{i != y} dloss_i

computed as ``coef = scale * w[y]`` (``scale`` = 1/C, or 1/(N C) for the
mean), ``gradient_i = (coef * p * z_i ** (p-1)) * grad_output``, and
``gradient_y = (0 - coef * p * sum_{i != y} max(0, z_i) ** (p-1)) *
grad_output``.  Everything after ``z_i`` is float64, rounded to the input
dtype once.  A NaN term or ``x[y]`` makes the row's loss and gradient NaN.
The layouts (class blocks, row blocks) and the order of every sum are in
docs/design.md, "Kernels"; each keeps the bits of the others.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t

include "_rows.pxi"
include "_row_blocks.pxi"
include "_target_range.pxi"

cdef extern from "_class_lanes.h" nogil:
    enum:
        # 1 in the AVX-512 build: a float32 row's class blocks as vectors
        CLASS_VECTORS "ML_CLASS_VECTORS"
    double lane_sum_f64 "ml_lane_sum_f64"(f64v lanes)
    int mask_count "ml_mask_count"(maskv m)
    f64v add_where_f64 "ml_add_where_f64"(f64v acc, maskv m, f64v value)
    void columns_f64 "ml_columns_f64"(const double* x, int32_t stride, int32_t n, f64v* out)

cdef enum:
    # Classes per block: lane k of a block adds into its own float64 partial
    # sums.  With 16 GCC vectorises the lane loop whole (8 or fewer it would
    # unroll first and then leave scalar).
    LANES = 16

cdef extern from *:
    """
    #ifndef ML_ROW_BLOCK_MAX_CLASSES
    #define ML_ROW_BLOCK_MAX_CLASSES 31
    #endif
    #ifndef ML_SCATTER_MIN_CLASSES
    #define ML_SCATTER_MIN_CLASSES 16
    #endif
    #ifndef ML_COLUMN_GRADIENT
    #define ML_COLUMN_GRADIENT 1
    #endif
    #ifndef ML_PREFETCH_BLOCKS
    #define ML_PREFETCH_BLOCKS 1
    #endif
    """
    enum:
        # float32 rows of up to this many classes take the row blocks (wider
        # rows: the class blocks; float64: below LANES); docs/design.md has
        # the measurements.
        ROW_BLOCK_MAX_CLASSES "ML_ROW_BLOCK_MAX_CLASSES"
        # row blocks of at least this many classes write gradient[y] by a scatter
        SCATTER_MIN_CLASSES "ML_SCATTER_MIN_CLASSES"
        PREFETCH_BLOCKS "ML_PREFETCH_BLOCKS"
        # p = 2 row blocks of fewer than LANES classes (AVX-512) write the
        # gradient from the columns (0: by the flat pass, for measurements)
        COLUMN_GRADIENT "ML_COLUMN_GRADIENT"


cdef inline double _sum_lanes(const double* lanes) noexcept nogil:
    """sum of the LANES partial sums, as a fixed pairwise tree: halves 8, 4, 2, 1.

    Written out in locals: as a loop over a stack array the last levels went
    through memory, each scalar add waiting on a store-forward of a vector
    store (about a fifth of a 50-class row's time)."""
    cdef double a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3
    a0 = lanes[0] + lanes[8]
    a1 = lanes[1] + lanes[9]
    a2 = lanes[2] + lanes[10]
    a3 = lanes[3] + lanes[11]
    a4 = lanes[4] + lanes[12]
    a5 = lanes[5] + lanes[13]
    a6 = lanes[6] + lanes[14]
    a7 = lanes[7] + lanes[15]
    b0 = a0 + a4
    b1 = a1 + a5
    b2 = a2 + a6
    b3 = a3 + a7
    return (b0 + b2) + (b1 + b3)


cdef inline int _lane_of(Py_ssize_t y, Py_ssize_t base) noexcept nogil:
    """The lane of class y in the block starting at class base, or -1."""
    if y >= base and y < base + LANES:
        return <int> (y - base)
    return -1


cdef inline void _block(
    const floating* x,
    floating* gradient,
    int y_lane,
    int first,
    int stop,
    floating shift,
    int p,
    bint masked,
    bint with_gradient,
    floating active_value,
    floating inactive_value,
    double twice_coef,
    double grad_output,
    double* lane_loss,
    double* lane_slope,
    int32_t* lane_count,
) noexcept nogil:
    """lane_loss[k] += max(0, z_k) ** p for the kept lanes of one block of LANES classes.

    z_k = shift + x[k] in the input dtype; a lane is kept when first <= k <
    stop and k != y_lane (every lane when ``masked`` is false).  ``0 if 0 > z
    else z`` keeps a NaN z.  Branch-free: every lane computes, the mask
    selects.  With the gradient, gradient[k] = (coef * p * z_k ** (p-1) if
    z_k > 0 else 0) * grad_output (active_value = coef * grad_output,
    inactive_value = 0 * grad_output), and the kept lanes' active counts
    (p=1: lane_count for float32, lane_slope for float64) or max(0, z_k)
    (p=2: lane_slope) add up; lanes outside [first, stop) get the value the
    block that kept them wrote, the caller overwrites lane y_lane.
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
        if with_gradient:
            if p == 1:
                # the active count in int32 lanes for float32; for float64 GCC
                # vectorises the loop only with the flag held as a double
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
        if p == 1:
            lane_loss[k] += <double> zp
        else:
            lane_loss[k] += <double> zp * zp
            if with_gradient:
                lane_slope[k] += <double> zp


cdef inline double _span(
    const floating* x,
    floating* gradient,
    Py_ssize_t start,
    Py_ssize_t stop,
    floating shift,
    int p,
    bint with_gradient,
    double coef,
    double grad_output,
    double* gradient_sum,
) noexcept nogil:
    """sum over start <= i < stop of max(0, z_i) ** p, z_i = shift + x[i]; NaN-propagating.

    The float64 loop for rows of fewer than LANES classes (GCC compiles the
    max as maxsd, branch-free).  With the gradient, gradient[i] = (coef * p *
    z_i ** (p-1) if z_i > 0 else 0) * grad_output, and gradient_sum[0] adds
    the unscaled terms one by one."""
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
        # max(0, z) keeping NaN, written as x86's maxss/maxsd compute it
        z = 0 if 0 > z else z
        if p == 1:
            total += z
        else:
            total += <double> z * z
        if with_gradient:
            if p == 1:
                dloss = coef if active else 0.0
            else:
                dloss = 2.0 * coef * z if active else 0.0
            # grad_output multiplies last: an inactive term gives 0 * grad_output
            gradient[i] = <floating> (dloss * grad_output)
            dsum += dloss
    if with_gradient:
        gradient_sum[0] += dsum
    return total


cdef inline double _short_row(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating shift,
    int p,
    bint with_gradient,
    double coef,
    floating active_value,
    floating inactive_value,
    double grad_output,
    double* gradient_sum,
) noexcept nogil:
    """The row sum of a float32 row of fewer than LANES classes: one scalar loop.

    Branch-free (random scores make ``z > 0`` unpredictable): each select is
    a two-entry table lookup, and a NaN z is tracked by a flag instead of
    riding through the sum.  With the gradient, gradient[i] for every i as
    _block writes it, and gradient_sum[0] = coef * p * sum_{i != y} max(0,
    z_i) ** (p-1) (the caller writes gradient[y])."""
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
        if with_gradient:
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
    if with_gradient:
        if p == 1:
            gradient_sum[0] = coef * slope
        else:
            gradient_sum[0] = 2.0 * coef * slope
    return NAN if seen_nan else total


cdef inline void _vector_block(
    const float* x,
    float* gradient,
    maskv keep,
    f32v shift,
    int p,
    bint with_gradient,
    f32v active_value,
    f32v inactive_value,
    f64v twice_coef,
    f64v grad_output,
    f64v* lane_loss,
    f64v* lane_slope,
    int* count,
) noexcept nogil:
    """_block with the block's LANES classes in one vector (lane k: class k).

    The same operations on the same values: z_k = shift + x[k] in float32,
    max(0, z_k) keeping NaN, lane_loss += max(0, z_k) ** p (as float64) for
    the kept lanes (+0 for the others), the gradient of every lane, and the
    kept lanes' active count (p=1) or max(0, z_k) (p=2, lane_slope)."""
    cdef:
        f32v z = add_f32(shift, load_f32(x))
        f32v zp = max0_nan_f32(z)
        maskv active = gt_f32(z, set1_f32(0))
        f64v term
    if with_gradient:
        if p == 1:
            store_f32(gradient, select_f32(active, active_value, inactive_value))
            count[0] += mask_count(and_mask(active, keep))
        else:
            store_f32(gradient, select_f32(
                active, cvt_f32(mul_f64(mul_f64(twice_coef, cvt_f64(zp)), grad_output)),
                inactive_value))
    term = cvt_f64(zero_unless_f32(keep, zp))
    if p == 1:
        lane_loss[0] = add_f64(lane_loss[0], term)
    else:
        lane_loss[0] = add_f64(lane_loss[0], mul_f64(term, term))
        if with_gradient:
            lane_slope[0] = add_f64(lane_slope[0], term)


cdef inline double _vector_row(
    const float* x,
    float* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    float shift,
    int p,
    bint with_gradient,
    double coef,
    float active_value,
    float inactive_value,
    double grad_output,
    double* gradient_sum,
) noexcept nogil:
    """_row's class blocks (n_classes >= LANES) of a float32 row, each block one
    vector (the AVX-512 build): the row sum, and with the gradient the
    gradient of every class but y and gradient_sum[0] = coef * p * sum_{i != y}
    max(0, z_i) ** (p - 1).  Lane k adds the classes k, k + LANES, ..., then
    the last block's (ending at the last class) where its class is new; the
    LANES lane sums are added by _sum_lanes' tree: _row's order, so its bits.
    The block holding y is not a branch: every block masks the lane of y."""
    cdef:
        Py_ssize_t base = 0, i
        int count = 0
        i32v lane = iota_times(1)  # lane k: k
        f32v shift_v = set1_f32(shift)
        f32v active_v = set1_f32(active_value)
        f32v inactive_v = set1_f32(inactive_value)
        f64v twice_coef = set1_f64(2.0 * coef)
        f64v go = set1_f64(grad_output)
        f64v lane_loss = set1_f64(0.0)
        f64v lane_slope = set1_f64(0.0)
        maskv keep
    while base + LANES <= n_classes:
        _vector_block(x + base, gradient + base, neq_i32(lane, set1_i32(_lane_of(y, base))),
                      shift_v, p, with_gradient, active_v, inactive_v, twice_coef, go,
                      &lane_loss, &lane_slope, &count)
        base += LANES
    if base < n_classes:
        i = n_classes - LANES
        # the lanes of classes not yet seen: k >= base - i
        keep = and_mask(neq_i32(lane, set1_i32(_lane_of(y, i))),
                        lt_i32(set1_i32(<int32_t> (base - i - 1)), lane))
        _vector_block(x + i, gradient + i, keep, shift_v, p, with_gradient, active_v,
                      inactive_v, twice_coef, go, &lane_loss, &lane_slope, &count)
    if with_gradient:
        if p == 1:
            gradient_sum[0] = coef * <double> count
        else:
            gradient_sum[0] = (2.0 * coef) * lane_sum_f64(lane_slope)
    return lane_sum_f64(lane_loss)


cdef inline double _row(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    floating shift,
    int p,
    bint with_gradient,
    double coef,
    double grad_output,
) noexcept nogil:
    """sum_{i != y} max(0, z_i) ** p with z_i = shift + x[i]; NaN if a term or x[y] is.

    Full blocks of LANES classes, then one block ending at the last class that
    keeps only the classes not yet seen; a row shorter than LANES takes the
    scalar loop.  With the gradient, writes the row's gradient times
    grad_output (NaN for a NaN row):

    gradient[i] = (coef * p * z_i ** (p-1) if z_i > 0 else 0) * grad_output, i != y
    gradient[y] = (0 - sum_{i != y} coef * p * z_i ** (p-1)) * grad_output
    """
    cdef:
        Py_ssize_t base = 0, i
        int k
        # grad_output multiplies last: an inactive term gives 0 * grad_output
        # (a signed zero, or NaN for an infinite grad_output)
        floating active_value = <floating> (coef * grad_output)
        floating inactive_value = <floating> (0.0 * grad_output)
        double twice_coef = 2.0 * coef
        double lane_loss[LANES]
        double lane_slope[LANES]
        int32_t lane_count[LANES]
        int64_t count
        double total, slope = 0.0, gradient_sum = 0.0
    if n_classes < LANES:
        if floating is double:
            total = (_span(x, gradient, 0, y, shift, p, with_gradient, coef, grad_output,
                           &gradient_sum)
                     + _span(x, gradient, y + 1, n_classes, shift, p, with_gradient, coef,
                             grad_output, &gradient_sum))
        else:
            total = _short_row(x, gradient, n_classes, y, shift, p, with_gradient, coef,
                               active_value, inactive_value, grad_output, &gradient_sum)
    elif floating is float and CLASS_VECTORS:
        total = _vector_row(x, gradient, n_classes, y, shift, p, with_gradient, coef,
                            active_value, inactive_value, grad_output, &gradient_sum)
    else:
        for k in range(LANES):
            lane_loss[k] = 0.0
            if with_gradient:
                lane_slope[k] = 0.0
                lane_count[k] = 0
        while base + LANES <= n_classes:
            if y >= base and y < base + LANES:
                _block(x + base, gradient + base, <int> (y - base), 0, LANES, shift, p, True,
                       with_gradient, active_value, inactive_value, twice_coef, grad_output,
                       lane_loss, lane_slope, lane_count)
            else:
                _block(x + base, gradient + base, -1, 0, LANES, shift, p, False,
                       with_gradient, active_value, inactive_value, twice_coef, grad_output,
                       lane_loss, lane_slope, lane_count)
            base += LANES
        if base < n_classes:
            i = n_classes - LANES
            _block(x + i, gradient + i, _lane_of(y, i), <int> (base - i), LANES, shift, p,
                   True, with_gradient, active_value, inactive_value, twice_coef,
                   grad_output, lane_loss, lane_slope, lane_count)
        total = _sum_lanes(lane_loss)
        if with_gradient:
            if p == 1 and floating is float:
                # an exact integer sum, converted once (16 conversions and a
                # chain of float64 additions cost about 60 cycles a row)
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
    if total != total or x[y] != x[y]:
        if with_gradient:
            _fill_nan(gradient, n_classes)
        return NAN
    if with_gradient:
        # 0.0 - sum, not -sum: +0 when no term is active, as PyTorch's 0 - ... - 0
        gradient[y] = <floating> ((0.0 - gradient_sum) * grad_output)
    return total


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
    """loss_out[0] = w[y] / C * _row(...), and with the gradient the row's gradient."""
    cdef double w = weight[y * weight_stride]
    # 0.0 + ...: +0 for a row with no active term, even with a negative weight
    loss_out[0] = 0.0 + _row(x, gradient, n_classes, y, margin - x[y], p, with_gradient,
                             scale * w, grad_output) * w / n_classes


cdef inline f64v _tree(f64v* lanes) noexcept nogil:
    """_sum_lanes of LANES lane vectors: the same pairwise tree (8, 4, 2, 1)."""
    return add_f64(
        add_f64(add_f64(add_f64(lanes[0], lanes[8]), add_f64(lanes[4], lanes[12])),
                add_f64(add_f64(lanes[2], lanes[10]), add_f64(lanes[6], lanes[14]))),
        add_f64(add_f64(add_f64(lanes[1], lanes[9]), add_f64(lanes[5], lanes[13])),
                add_f64(add_f64(lanes[3], lanes[11]), add_f64(lanes[7], lanes[15]))))


cdef inline void _column(
    f32v column,
    i32v y,
    int i,
    f32v shift,
    int p,
    bint with_gradient,
    f64v* total,
    f64v* slope,
    i32v* count,
    bint first,
) noexcept nogil:
    """Class i of the ROWS rows (``column``): total += max(0, z_i) ** p for i != y (as
    float64), and the active count (p=1) or slope += max(0, z_i) (p=2).

    ``first``: the sums' first term, which sets them instead of adding to +0.
    That differs only for a -0 term (+0 + -0 is +0), and no row sum ends up
    -0 either way: the sums into which the lane of y adds its +0 (every
    row's, in class order or by the pairwise tree of the lanes) are -0 only
    if all their terms are, so the same bits."""
    cdef:
        f32v z = add_f32(shift, column)  # z_i = (m - x[y]) + x[i]
        maskv kept = neq_i32(y, set1_i32(i))
        # max(0, z_i) keeping NaN: a NaN term makes the row sum NaN (a -0 term
        # adds nothing: every sum starts at +0)
        f64v term = cvt_f64(zero_unless_f32(kept, max0_nan_f32(z)))
    if p == 1:
        if with_gradient:
            count[0] = count_mask(count[0], and_mask(gt_f32(z, set1_f32(0)), kept))
    else:
        if with_gradient:
            slope[0] = term if first else add_f64(slope[0], term)
        term = mul_f64(term, term)
    total[0] = term if first else add_f64(total[0], term)


ctypedef struct _Call:
    # A call's arguments as the row blocks take them: the same for every
    # block (the block's own rows: x, gradient, target, grad_output, loss_out).
    Py_ssize_t n_classes
    const double* weight
    Py_ssize_t weight_stride  # 0: no weight (a stride-0 view of ones)
    double margin  # already rounded to the input dtype: exact as float
    double scale
    Py_ssize_t grad_output_stride  # 0: a scalar grad_output
    const int32_t* row_of  # _row_tables
    const int32_t* class_of


# Tags of the class counts that get a copy of _row_block with C fixed at
# compile time (its class loops unrolled, its masks and the division by C
# constants); _classes_any: C at run time.
ctypedef struct _classes_4:
    char unused
ctypedef struct _classes_10:
    char unused
ctypedef struct _classes_16:
    char unused
ctypedef struct _classes_any:
    char unused
ctypedef fused classes:
    _classes_4
    _classes_10
    _classes_16
    _classes_any
# and of p and with_gradient: a copy per case
ctypedef struct _power_1:
    char unused
ctypedef struct _power_2:
    char unused
ctypedef fused power:
    _power_1
    _power_2
ctypedef struct _loss_only:
    char unused
ctypedef struct _with_gradient:
    char unused
ctypedef fused fused_gradient:
    _loss_only
    _with_gradient


cdef inline bint _row_block(
    classes* fixed,
    power* fixed_p,
    fused_gradient* fixed_gradient,
    const float* x,
    float* gradient,
    const int64_t* target,
    const double* grad_output,
    double* loss_out,
    _Call call,
) noexcept nogil:
    """ROWS float32 rows at once, one row a vector lane: _row's formulas, term
    by term in its order, so the same bits.

    Rows of fewer than LANES classes (``wide`` false) sum their terms in class
    order, as _short_row; wider rows (``wide``) as _row's class blocks: lane k
    of the class blocks adds the classes k, k + LANES, ... (then the last,
    overlapping block's class if it is new), and the LANES lane sums are
    added by _sum_lanes' tree.  Pass 1 transposes the block (class i of the
    ROWS rows: a column) and adds the row sums and active counts.  Pass 2
    walks the block's ROWS x C scores as contiguous vectors, recomputes z and
    writes the gradient, each position's row parameters taken from the row
    lanes by a permutation (``row_of[j]``, ``class_of[j]``: the row and class
    of position j; none for a parameter that is the same in every row: no
    weight, a scalar grad_output), then one scatter writes gradient[y] (or,
    with few classes, a select where the class is the row's target).
    Returns False and writes nothing when a target is out of range or a score
    is not finite (the caller takes the row loop, which gives such rows NaN).
    ``target`` is read once: the checked lanes feed every gather and store.
    The types of the NULL pointers ``fixed``, ``fixed_p`` and
    ``fixed_gradient`` pick the copy: C (4, 10, 16 or any), p and
    with_gradient fixed at compile time.
    """
    cdef:
        int32_t n_classes = <int32_t> call.n_classes
        const double* weight = call.weight
        int32_t weight_stride = <int32_t> call.weight_stride
        float margin = <float> call.margin
        double scale = call.scale
        int32_t grad_output_stride = <int32_t> call.grad_output_stride
        const int32_t* row_of = call.row_of
        const int32_t* class_of = call.class_of
        int p
        bint with_gradient, wide, same_weight, same_go, scatter_y
        int valid, i, k, b, n_full, tail_start
        maskv is_y
        i32v y, rows, count, row_index
        f32v shift, z, zero32, active_value, inactive_value, value, gradient_y, xy
        f64v zero, total, slope, w, coef, twice_coef, go, lane, lane_slope_k
        f64v lane_total[LANES]
        f64v lane_slope[LANES]
        f32v cols[ROW_BLOCK_MAX_CLASSES]
        f32v xy_part[4]
    # (a C above ROW_BLOCK_MAX_CLASSES, which CFLAGS may lower, never comes here)
    if classes is _classes_4:
        n_classes = 4 if ROW_BLOCK_MAX_CLASSES >= 4 else n_classes
    elif classes is _classes_10:
        n_classes = 10 if ROW_BLOCK_MAX_CLASSES >= 10 else n_classes
    elif classes is _classes_16:
        n_classes = 16 if ROW_BLOCK_MAX_CLASSES >= 16 else n_classes
    if power is _power_1:
        p = 1
    else:
        p = 2
    if fused_gradient is _loss_only:
        with_gradient = False
    else:
        with_gradient = True
    # rows of LANES classes or more sum as _row's class blocks
    wide = n_classes >= LANES
    # a parameter the same in every row needs no permutation (GCC takes
    # these tests out of the loop: one copy of pass 2 per case)
    same_weight = weight_stride == 0
    same_go = grad_output_stride == 0
    # gradient[y]: one scatter a block, or with fewer than
    # SCATTER_MIN_CLASSES classes a select in each of the block's C vectors
    # (cheaper than 16 scattered stores)
    scatter_y = n_classes >= SCATTER_MIN_CLASSES
    y = targets(target, n_classes, &valid)
    if not valid:
        return False
    if PREFETCH_BLOCKS:
        prefetch(x, 2 * ROWS * n_classes * 4, ROWS * n_classes * 4)  # two blocks ahead
    zero32 = set1_f32(0)
    zero = set1_f64(0.0)
    rows = iota_times(n_classes)
    # the columns of the block
    for b in range((n_classes + LANES - 1) // LANES):
        columns(x, n_classes, b * LANES, n_classes - b * LANES, &cols[b * LANES])
    # x[y]: picked from the columns by compares (a gather costs more up to
    # LANES): each lane's y is one class of [0, C), so exactly one column
    # survives its mask; four independent ORs of the masked columns (one
    # chain of selects would make each column wait for the one before)
    if n_classes <= LANES:
        xy_part[0] = xy_part[1] = xy_part[2] = xy_part[3] = zero32
        for i in range(n_classes):
            xy_part[i & 3] = or_f32(xy_part[i & 3],
                                    zero_unless_f32(eq_i32(y, set1_i32(i)), cols[i]))
        xy = or_f32(or_f32(xy_part[0], xy_part[1]), or_f32(xy_part[2], xy_part[3]))
    else:
        xy = gather_f32(x, add_i32(rows, y))
    shift = sub_f32(set1_f32(margin), xy)  # m - x[y]
    if weight_stride == 0:  # no weight: a stride-0 view of ones
        w = set1_f64(weight[0])
    else:
        w = gather_f64(weight, y)
    total = zero
    slope = zero
    count = set1_i32(0)
    if not wide:
        for i in range(n_classes):
            _column(cols[i], y, i, shift, p, with_gradient, &total, &slope, &count, i == 0)
    else:
        n_full = n_classes // LANES
        tail_start = n_classes - LANES
        for k in range(LANES):
            lane = zero
            lane_slope_k = zero
            for b in range(n_full):
                _column(cols[b * LANES + k], y, b * LANES + k, shift, p, with_gradient,
                        &lane, &lane_slope_k, &count, b == 0)
            if tail_start + k >= n_full * LANES:  # new in the overlapping block
                _column(cols[tail_start + k], y, tail_start + k, shift, p, with_gradient,
                        &lane, &lane_slope_k, &count, False)
            lane_total[k] = lane
            lane_slope[k] = lane_slope_k
        total = _tree(lane_total)
        if p == 2 and with_gradient:
            slope = _tree(lane_slope)
    # A row with a NaN term or a NaN x[y] (the row loop's NaN rows): the
    # whole block takes the row loop, before anything is written.  An
    # infinite score gives the row loop's values here too (its terms add up
    # in the same order; a sum of terms >= 0 is never NaN).
    if mask_bits(or_mask(isnan_f32(xy), isnan_f64(total))):
        return False
    # 0.0 + ...: +0 for a row with no active term, even with a negative weight
    total = mul_f64(total, w)
    if (n_classes & (n_classes - 1)) == 0:
        # / C as * (1 / C) for C a power of two: both round the same exact value
        total = mul_f64(total, set1_f64(1.0 / n_classes))
    else:
        total = div_f64(total, set1_f64(<double> n_classes))
    store_f64(loss_out, add_f64(zero, total))
    if not with_gradient:
        return True
    if PREFETCH_BLOCKS:
        prefetch_write(gradient, 2 * ROWS * n_classes * 4, ROWS * n_classes * 4)
    coef = mul_f64(set1_f64(scale), w)
    twice_coef = mul_f64(set1_f64(2.0), coef)
    if grad_output_stride == 0:
        go = set1_f64(grad_output[0])
    else:
        go = load_f64(grad_output)
    # grad_output multiplies last, as in the row loop
    active_value = cvt_f32(mul_f64(coef, go))
    inactive_value = cvt_f32(mul_f64(zero, go))
    # gradient[y] = (0.0 - coef * p * sum_{i != y} max(0, z_i) ** (p - 1)) * grad_output
    if p == 1:
        slope = mul_f64(coef, cvt_i32_f64(count))
    else:
        slope = mul_f64(twice_coef, slope)
    gradient_y = cvt_f32(mul_f64(sub_f64(zero, slope), go))
    if (COLUMN_GRADIENT and p == 2 and ROWS == 16 and not wide and n_classes >= 8
            and not (same_weight and same_go)):
        # p = 2 in the AVX-512 build, a weight or grad_output that differs
        # between rows: the gradient in columns, where every row parameter is
        # already in its lane (no permutes of float64 pairs), then transposed
        # back and stored row by row; the same operations on the same values
        # as below (measured slower below 8 classes, and without the permutes)
        for i in range(n_classes):
            z = add_f32(shift, cols[i])
            value = cvt_f32(mul_f64(mul_f64(twice_coef, cvt_f64(z)), go))
            value = select_f32(gt_f32(z, zero32), value, inactive_value)
            cols[i] = select_f32(eq_i32(y, set1_i32(i)), gradient_y, value)
        store_columns(gradient, n_classes, n_classes, cols)
        return True
    for i in range(n_classes):
        row_index = load_i32(&row_of[i * ROWS])
        z = add_f32(permute_f32(row_index, shift), load_f32(&x[i * ROWS]))
        if p == 1:
            value = (active_value if same_weight and same_go
                     else permute_f32(row_index, active_value))
        else:
            value = cvt_f32(mul_f64(mul_f64(twice_coef if same_weight
                                            else permute_f64(row_index, twice_coef),
                                            cvt_f64(z)),
                                    go if same_go else permute_f64(row_index, go)))
        value = select_f32(gt_f32(z, zero32), value,
                           inactive_value if same_go
                           else permute_f32(row_index, inactive_value))
        if not scatter_y:  # the position of each row's target gets gradient[y]
            is_y = eq_i32(permute_i32(row_index, y), load_i32(&class_of[i * ROWS]))
            value = select_f32(is_y, permute_f32(row_index, gradient_y), value)
        store_f32(&gradient[i * ROWS], value)
    if scatter_y:
        scatter_f32(gradient, add_i32(rows, y), gradient_y)
    return True


cdef inline bint _row_block64(
    const double* x,
    double* gradient,
    const int64_t* target,
    const double* grad_output,
    double* loss_out,
    _Call call,
    int p,
    bint with_gradient,
) noexcept nogil:
    """_row_block for float64 rows: each lane sums its row as _span does, the
    classes before y and after y apart from +0 in class order, then adds the
    two (also the terms of gradient[y], one by one: coef + coef + ...)."""
    cdef:
        int32_t n_classes = <int32_t> call.n_classes
        const double* weight = call.weight
        int32_t weight_stride = <int32_t> call.weight_stride
        double margin = call.margin
        double scale = call.scale
        int32_t grad_output_stride = <int32_t> call.grad_output_stride
        const int32_t* row_of = call.row_of
        const int32_t* class_of = call.class_of
        int valid, i
        i32v y = targets(target, n_classes, &valid)
        i32v rows, row_index, class_i
        f64v zero, shift, z, term, before, after, dsum_before, dsum_after, dloss
        f64v w, coef, twice_coef, go, active_value, inactive_value, value, gradient_y
        maskv first_span, second_span, active, non_finite, is_y
        f64v cols[LANES - 1]
    if not valid:
        return False
    prefetch(x, 2 * ROWS * n_classes * 8, ROWS * n_classes * 8)  # two blocks ahead
    zero = set1_f64(0.0)
    rows = iota_times(n_classes)
    columns_f64(x, n_classes, n_classes, cols)  # class i of the ROWS rows: cols[i]
    shift = sub_f64(set1_f64(margin), gather_f64(x, add_i32(rows, y)))  # m - x[y]
    if weight_stride == 0:  # no weight: a stride-0 view of ones
        w = set1_f64(weight[0])
    else:
        w = gather_f64(weight, y)
    coef = mul_f64(set1_f64(scale), w)
    twice_coef = mul_f64(set1_f64(2.0), coef)
    before = after = dsum_before = dsum_after = zero
    for i in range(n_classes):
        # z_i = (m - x[y]) + x[i]; the term max(0, z_i) ** p, the spans i < y and i > y
        z = add_f64(shift, cols[i])
        class_i = set1_i32(i)
        first_span = lt_i32(class_i, y)
        second_span = lt_i32(y, class_i)
        term = max0_nan_f64(z)  # keeps a NaN z (and -0: the sums start at +0)
        # each sum adds its span's terms and skips the others (adding +0
        # would give the same: no sum is ever -0, they start at +0)
        if with_gradient:
            active = gt_f64(z, zero)
            if p == 1:
                dloss = coef
            else:
                dloss = mul_f64(twice_coef, term)
            dsum_before = add_where_f64(dsum_before, and_mask(first_span, active), dloss)
            dsum_after = add_where_f64(dsum_after, and_mask(second_span, active), dloss)
        if p == 2:
            term = mul_f64(term, term)
        before = add_where_f64(before, first_span, term)
        after = add_where_f64(after, second_span, term)
    # a NaN term or x[y] (NaN rows): the row loop, before anything is written
    non_finite = or_mask(isnan_f64(shift), or_mask(isnan_f64(before), isnan_f64(after)))
    if mask_bits(non_finite):
        return False
    # 0.0 + ...: +0 for a row with no active term, even with a negative weight
    store_f64(loss_out, add_f64(zero, div_f64(mul_f64(add_f64(before, after), w),
                                              set1_f64(<double> n_classes))))
    if not with_gradient:
        return True
    prefetch_write(gradient, 2 * ROWS * n_classes * 8, ROWS * n_classes * 8)
    if grad_output_stride == 0:
        go = set1_f64(grad_output[0])
    else:
        go = load_f64(grad_output)
    # grad_output multiplies last, as in the row loop
    active_value = mul_f64(coef, go)
    inactive_value = mul_f64(zero, go)
    # gradient[y] = (0.0 - ((0 + dsum_before) + dsum_after)) * grad_output
    gradient_y = mul_f64(sub_f64(zero, add_f64(add_f64(zero, dsum_before), dsum_after)), go)
    for i in range(n_classes):
        row_index = load_i32(&row_of[i * ROWS])
        z = add_f64(permute_f64(row_index, shift), load_f64(&x[i * ROWS]))
        active = gt_f64(z, zero)
        if p == 1:
            value = permute_f64(row_index, active_value)
        else:
            value = mul_f64(mul_f64(permute_f64(row_index, twice_coef), z),
                            permute_f64(row_index, go))
        value = select_f64(active, value, permute_f64(row_index, inactive_value))
        is_y = eq_i32(permute_i32(row_index, y), load_i32(&class_of[i * ROWS]))
        store_f64(&gradient[i * ROWS], select_f64(is_y, permute_f64(row_index, gradient_y),
                                                  value))
    return True


cdef inline bint _row_block_fixed(
    classes* fixed,
    const float* x,
    float* gradient,
    const int64_t* target,
    const double* grad_output,
    double* loss_out,
    _Call call,
    int p,
    bint with_gradient,
) noexcept nogil:
    """_row_block's copy for these C, p and with_gradient."""
    if with_gradient:
        if p == 1:
            return _row_block(fixed, <_power_1*> NULL, <_with_gradient*> NULL, x, gradient,
                              target, grad_output, loss_out, call)
        return _row_block(fixed, <_power_2*> NULL, <_with_gradient*> NULL, x, gradient,
                          target, grad_output, loss_out, call)
    if p == 1:
        return _row_block(fixed, <_power_1*> NULL, <_loss_only*> NULL, x, gradient, target,
                          grad_output, loss_out, call)
    return _row_block(fixed, <_power_2*> NULL, <_loss_only*> NULL, x, gradient, target,
                      grad_output, loss_out, call)


cdef inline bint _rows_at_once(
    const floating* x,
    floating* gradient,
    const int64_t* target,
    const double* grad_output,
    double* loss_out,
    _Call call,
    int p,
    bint with_gradient,
) noexcept nogil:
    """_row_block or _row_block64, by dtype; float32 rows of 4, 10 or 16
    classes take a copy of _row_block with C fixed at compile time (the
    ``classes`` tags)."""
    if floating is float:
        if call.n_classes == 4:
            return _row_block_fixed(<_classes_4*> NULL, x, gradient, target, grad_output,
                                    loss_out, call, p, with_gradient)
        if call.n_classes == 10:
            return _row_block_fixed(<_classes_10*> NULL, x, gradient, target, grad_output,
                                    loss_out, call, p, with_gradient)
        if call.n_classes == 16:
            return _row_block_fixed(<_classes_16*> NULL, x, gradient, target, grad_output,
                                    loss_out, call, p, with_gradient)
        return _row_block_fixed(<_classes_any*> NULL, x, gradient, target, grad_output,
                                loss_out, call, p, with_gradient)
    else:
        return _row_block64(x, gradient, target, grad_output, loss_out, call, p,
                            with_gradient)


cdef inline void _row_tables(int32_t* row_of, int32_t* class_of,
                             int32_t n_classes) noexcept nogil:
    """The row and the class of each position j of a block's ROWS x C scores."""
    cdef int32_t j
    for j in range(n_classes * ROWS):
        row_of[j] = j // n_classes
        class_of[j] = j % n_classes


cdef inline void _block_or_rows(
    const floating* x,
    floating* gradient,
    const int64_t* target,
    const double* grad_output,
    double* loss_out,
    _Call call,
    int p,
    bint with_gradient,
) noexcept nogil:
    """ROWS rows: _rows_at_once, or the row loop where it declines."""
    cdef:
        Py_ssize_t n
        Py_ssize_t n_classes = call.n_classes
        floating margin = <floating> call.margin
    if _rows_at_once(x, gradient, target, grad_output, loss_out, call, p, with_gradient):
        return
    for n in range(ROWS):
        if with_gradient:
            _checked_sample(x + n * n_classes, gradient + n * n_classes, n_classes, target[n],
                            call.weight, call.weight_stride, margin, p, True, call.scale,
                            grad_output[n * call.grad_output_stride], &loss_out[n])
        else:
            _checked_sample(x + n * n_classes, NULL, n_classes, target[n], call.weight,
                            call.weight_stride, margin, p, False, call.scale, 0.0,
                            &loss_out[n])


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
    """The whole blocks of ROWS rows (a build with row blocks; float32 rows of
    at most ROW_BLOCK_MAX_CLASSES classes, float64 rows of fewer than LANES);
    return how many rows they hold (0 otherwise)."""
    cdef:
        Py_ssize_t b, n_blocks
        Py_ssize_t rows = ROWS
        # the offsets of block b: its rows' scores and gradient, its samples
        Py_ssize_t size = ROWS * n_classes
        Py_ssize_t go_size = ROWS * grad_output_stride
        Py_ssize_t max_classes = ROW_BLOCK_MAX_CLASSES if floating is float else LANES - 1
        int32_t row_of[ROW_BLOCK_MAX_CLASSES * ROWS]
        int32_t class_of[ROW_BLOCK_MAX_CLASSES * ROWS]
        _Call call
    if not (ROWS >= 8 and 1 <= n_classes <= max_classes
            and 0 <= weight_stride <= 1 and 0 <= grad_output_stride <= 1):
        return 0
    n_blocks = n_samples // rows
    _row_tables(row_of, class_of, <int32_t> n_classes)
    call.n_classes = n_classes
    call.weight = weight
    call.weight_stride = weight_stride
    call.margin = margin
    call.scale = scale
    call.grad_output_stride = grad_output_stride
    call.row_of = row_of
    call.class_of = class_of
    # p and with_gradient as literals: each loop inlines its own copy
    if with_gradient:
        if p == 1:
            for b in prange(n_blocks, schedule="static", nogil=True, num_threads=n_threads):
                _block_or_rows(x + b * size, gradient + b * size, &target[b * rows],
                               grad_output + b * go_size, &loss_out[b * rows], call, 1, True)
        else:
            for b in prange(n_blocks, schedule="static", nogil=True, num_threads=n_threads):
                _block_or_rows(x + b * size, gradient + b * size, &target[b * rows],
                               grad_output + b * go_size, &loss_out[b * rows], call, 2, True)
    else:
        if p == 1:
            for b in prange(n_blocks, schedule="static", nogil=True, num_threads=n_threads):
                _block_or_rows(x + b * size, NULL, &target[b * rows], NULL, &loss_out[b * rows],
                               call, 1, False)
        else:
            for b in prange(n_blocks, schedule="static", nogil=True, num_threads=n_threads):
                _block_or_rows(x + b * size, NULL, &target[b * rows], NULL, &loss_out[b * rows],
                               call, 2, False)
    return n_blocks * rows


include "_class_entry.pxi"

include "_pointer_entry.pxi"
