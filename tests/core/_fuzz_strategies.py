"""Hypothesis strategies for tests/core/test_fuzz.py: arbitrary calls of the public API.

A drawn call is a plain dict of keyword arguments plus the entry point to use.
Arrays come in every NumPy dtype kind (bool, signed and unsigned integers,
float16/32/64, longdouble, complex, object, strings, non-native byte order),
0-4 dimensions with sizes 0, 1 and small, values mixing ordinary numbers,
ties and specials (NaN, +-inf, huge, subnormal, signed zeros), and layouts
C, Fortran, strided, reversed, read-only, list and Python scalar.  Most
draws are valid, so that the value oracle runs often; each argument is
sometimes wrong on its own.

Shapes and targets also come from the edges of every kernel path
(docs/design.md, "Kernels"): C around the multi-class blocks of 16 classes,
N around the row blocks of 8 and 16 rows, multi-label rows whose label
counts sit at the direct / counting / binary-search thresholds and around
the radix-sort threshold, every class a label, no label, repeated labels.
``multi_margin_path_calls`` and ``multilabel_margin_path_calls`` draw only
valid calls there.
"""

import numpy as np
from hypothesis import strategies as st

from marginloss import _kernels, _multilabel_margin

LONGDOUBLE_HUGE = np.longdouble("1e4000") if np.finfo(np.longdouble).max > 1e400 else None

INPUT_DTYPES = (
    [np.dtype(np.float64)] * 6 + [np.dtype(np.float32)] * 5
    + [np.dtype(t) for t in (np.float16, np.longdouble, ">f8", ">f4", bool, np.int8,
                             np.int32, np.int64, np.uint8, np.uint64, ">i4")]
    + [np.dtype(t) for t in (np.complex128, np.complex64, object, "<U3", "S2")]
)
TARGET_DTYPES = (
    [np.dtype(np.int64)] * 6
    + [np.dtype(t) for t in (np.int32, np.int8, np.int16, np.uint8, np.uint16, np.uint64, ">i4")]
)
INDICATOR_DTYPES = (
    [np.dtype(bool)] * 3 + [np.dtype(np.int64)] * 2
    + [np.dtype(t) for t in (np.uint8, np.int32, np.int8, np.uint64, ">i4")]
)
REAL_DTYPES = [np.dtype(t) for t in (np.float64, np.float64, np.float32, np.int64, bool,
                                     np.longdouble, ">f8", np.float16, np.uint8)]
OTHER_DTYPES = [np.dtype(t) for t in (np.complex128, object, "<U3")]

SPECIALS = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300, 3e38, -3e38, 3.5e38, 1e200,
                     5e-324, -5e-324, 1e-45, 1e-310, 0.0, -0.0, 1.0, -1.0, 65504.0, 7e4])
NOT_ARRAYS = [None, "abc", object(), {"a": 1}, b"xy"]

ABSENT = "<left out>"  # an argument not passed at all

SIZES = st.sampled_from([0, 1, 1, 2, 3, 3, 4, 5])

# The edges of the kernels' paths (docs/design.md, "Kernels"); the multi-label
# thresholds are read from the compiled module where it exposes them.
# Multi-class: blocks of LANES = 16 classes (rows of C >= 16; the last block
# overlaps), and rows of fewer than 16 classes in blocks of 8 (AVX2) or 16
# (AVX-512) rows with a tail of N mod 8 or N mod 16 rows.
MM_LANES = getattr(_kernels.multi_margin, "LANES", 16)
ROW_BLOCKS = (8, 16)
# Multi-label: the direct loop up to DIRECT_MAX_LABELS labels, counting up to
# COUNT_MAX_LABELS (the non-target classes 8 at a time), binary search above;
# rank (float32) or insertion (float64) sort below RADIX_MIN_FLOAT32 /
# RADIX_MIN_FLOAT64 labels, radix sort at or above.
DIRECT_MAX_LABELS = _multilabel_margin.DIRECT_MAX_LABELS
COUNT_MAX_LABELS = _multilabel_margin.COUNT_MAX_LABELS
RADIX_MIN_FLOAT32 = _multilabel_margin.RADIX_MIN_FLOAT32
RADIX_MIN_FLOAT64 = _multilabel_margin.RADIX_MIN_FLOAT64
ML_LANES = 8


def _around(*values, low=0):
    """Each value and its neighbours (v - 1, v, v + 1), at least ``low``, sorted."""
    return sorted({v + d for v in values for d in (-1, 0, 1) if v + d >= low})


# N: below, at and above one and two row blocks (and a few rows)
BOUNDARY_SAMPLES = st.sampled_from(_around(*ROW_BLOCKS, 2 * ROW_BLOCKS[1], 1))
# C: block widths +-1, and a few more labels than the multi-label thresholds
MM_PATH_CLASSES = sorted(set(range(1, MM_LANES + 3))  # each C < 16: a build may specialise it
                         | set(_around(2 * MM_LANES, 3 * MM_LANES, 4 * MM_LANES)) | {100})
ML_PATH_CLASSES = (_around(1, 2, ML_LANES, 2 * ML_LANES, 3 * ML_LANES, COUNT_MAX_LABELS,
                           low=1)
                   + _around(RADIX_MIN_FLOAT32 + 1, RADIX_MIN_FLOAT64 + 1))
BOUNDARY_CLASSES = st.sampled_from(sorted(set(MM_PATH_CLASSES + ML_PATH_CLASSES)))
# k: labels before the first -1, at every path's edge
LABEL_COUNTS = _around(0, 1, DIRECT_MAX_LABELS, COUNT_MAX_LABELS, RADIX_MIN_FLOAT32,
                       RADIX_MIN_FLOAT64)


# ----------------------------------------------------------------- values
def float_values(rng, size, style):
    """float64 values: 'normal', 'ties' (a few distinct values: kinks and ties),
    'special' (many specials), 'sparse' (one or two NaN or infinities), 'positive'."""
    if style == "ties":
        return rng.integers(-3, 4, size) / 2.0
    if style == "positive":
        return rng.uniform(0.0, 3.0, size)
    if style == "sparse":
        # a few specials in ties and normal values: most blocks of rows or
        # classes stay finite, the one with the special falls back
        values = np.where(rng.random(size) < 0.5, rng.integers(-3, 4, size) / 2.0,
                          rng.normal(scale=2.0, size=size))
        if size:
            where = rng.integers(0, size, rng.integers(1, 3))
            values[where] = rng.choice(SPECIALS[:3], where.size)
        return values
    values = rng.normal(scale=2.0, size=size)
    if style == "special" and size:
        where = rng.random(size) < 0.4
        values[where] = rng.choice(SPECIALS, where.sum())
    return values


def cast(values, dtype, rng, style):
    """values (float64) as an array of dtype, with the extremes of integer dtypes."""
    kind = dtype.kind
    with np.errstate(all="ignore"):
        if kind == "b":
            return values > 0
        if kind in "iu":
            small = np.isfinite(values) & (np.abs(values) < 1000)
            result = np.where(small, np.round(values), 0).astype(np.int64).astype(dtype)
            info = np.iinfo(dtype)
            result[~small & (values > 0)] = info.max
            result[~small & ~(values > 0)] = info.min
            return result
        if kind == "f":
            result = values.astype(dtype)
            if dtype == np.longdouble and LONGDOUBLE_HUGE is not None and style == "special":
                flat = result.reshape(-1)
                if flat.size and rng.random() < 0.3:
                    flat[rng.integers(flat.size)] = LONGDOUBLE_HUGE * rng.choice([-1, 1])
            return result
        if kind == "c":
            return values.astype(dtype) + 1j * rng.integers(0, 2, values.shape)
        if kind == "O":
            return np.array(values.tolist(), dtype=object).reshape(values.shape)
        return values.astype(dtype)  # strings


def apply_layout(array, layout):
    """array in the given layout (the same values); lists and scalars leave NumPy."""
    array = np.asarray(array)
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided":
        if array.ndim == 0:
            return array
        return np.stack([array, array], axis=-1)[..., 0]
    if layout == "reversed":
        if array.ndim == 0:
            return array
        return np.ascontiguousarray(array[::-1])[::-1]
    if layout == "readonly":
        array = array.copy()
        array.flags.writeable = False
        return array
    if layout == "list":
        return array.tolist()
    if layout == "scalar" and array.ndim == 0:
        return array.item()
    return np.ascontiguousarray(array)


LAYOUTS = st.sampled_from(["C"] * 6 + ["F", "strided", "reversed", "readonly", "list",
                                       "scalar"])


@st.composite
def arrays(draw, shape, dtypes, *, styles=("normal", "ties", "special")):
    """An array-like of the given shape, drawn dtype, values and layout."""
    dtype = draw(st.sampled_from(dtypes))
    style = draw(st.sampled_from(styles))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = float_values(rng, int(np.prod(shape)), style).reshape(shape)
    return apply_layout(cast(values, dtype, rng, style), draw(LAYOUTS))


@st.composite
def index_arrays(draw, shape, low, high, dtypes=TARGET_DTYPES, bad_value=False):
    """Integer-valued arrays, mostly in [low, high), sometimes just out of it or absurd."""
    dtype = draw(st.sampled_from(dtypes))
    size = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(low, max(high, low + 1), size).astype(np.float64)
    if size and bad_value:
        values[rng.integers(size)] = draw(st.sampled_from(
            [low - 1, high, high + 3, -2.0**31, 2.0**40, 2.0**63, np.nan, 0.5]))
    values = values.reshape(shape)
    if dtype.kind in "iu":
        with np.errstate(all="ignore"):
            finite = np.where(np.isfinite(values), values, 0)
            array = finite.astype(np.int64).astype(dtype)  # wraps, as the caller's would
    else:
        array = cast(values, dtype, rng, "normal")
    return apply_layout(array, draw(LAYOUTS))


def maybe_not_array(draw, strategy, chance=12):
    if draw(st.integers(0, chance)) == 0:
        return draw(st.sampled_from(NOT_ARRAYS))
    return draw(strategy)


def wrong_shapes(shape):
    """Shapes near ``shape`` that differ from it."""
    shape = tuple(shape)
    candidates = {(), (0,), (1,), (2,), shape + (1,), (1,) + shape, (3, 2)}
    if shape:
        candidates.add(shape[:-1] + (shape[-1] + 1,))
        candidates.add(shape[::-1])
    candidates.discard(shape)
    return sorted(candidates)


# ---------------------------------------------------------------- shapes
@st.composite
def input_shapes(draw, wrong):
    """(N, C), (C,) or (); when wrong, 3-D, 4-D or with C = 0."""
    if wrong:
        ndim = draw(st.sampled_from([1, 2, 3, 4]))
        if ndim <= 2:
            return (draw(SIZES),) * (ndim - 1) + (0,)
        return tuple(draw(SIZES) for _ in range(ndim - 1)) + (draw(SIZES),)
    ndim = draw(st.sampled_from([2] * 6 + [1, 1, 0]))
    if draw(st.integers(0, 40)) == 0 and ndim == 2:
        return (draw(st.sampled_from([1700, 2100])), 10)  # enough work for a thread team
    if draw(st.integers(0, 40)) == 0 and ndim == 2:
        return (draw(st.sampled_from([1, 3])), 200)  # 64+ labels: the radix-sorted path
    if draw(st.integers(0, 3)) == 0 and ndim == 2:
        return (draw(st.one_of(BOUNDARY_SAMPLES, SIZES)), draw(BOUNDARY_CLASSES))
    if draw(st.integers(0, 5)) == 0 and ndim == 1:
        return (draw(BOUNDARY_CLASSES),)
    n_classes = draw(st.sampled_from([1, 2, 3, 4, 5, 7]))
    if ndim == 0:
        return ()
    if ndim == 1:
        return (n_classes,)
    return (draw(SIZES), n_classes)


def logical_shape(shape):
    """(N, C) as the package documents it, for shapes it accepts."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return shape[0], shape[-1]


def computation_dtype(input):
    """The documented computation dtype of a valid input (float64 otherwise)."""
    try:
        dtype = np.asarray(input).dtype
    except Exception:  # noqa: BLE001
        return np.dtype(np.float64)
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


# ---------------------------------------------------------------- settings
def choose(draw, wrong, valid, invalid):
    """A valid value, or an invalid one when ``wrong``."""
    return draw(st.sampled_from(invalid if wrong else valid))


P_VALID = [1, 2, 2.0, 1.0, np.int64(2), np.float32(1.0)]
P_INVALID = [True, 0, 3, 1.5, -1, float("nan"), "1", None, [1]]
MARGIN_VALID = [1.0, 1.0, 0.0, -0.0, 0.5, -2.5, 1, 2, np.float32(0.1), np.float64(3.0),
                np.array(0.25), 1e300, 3.4e38, 3.5e38, 1e-320, np.int8(-3)]
MARGIN_INVALID = [float("nan"), float("inf"), -float("inf"), True, "1", None, np.array([1.0]),
                  complex(1, 0), 10**400]
REDUCTION_VALID = ["mean", "sum", "none", "mean", "sum", "none", "elementwise_mean"]
REDUCTION_INVALID = ["Mean", "", "max", None, 1, b"sum"]
LEGACY_VALID = [None] * 20 + [True, False, 0, 1, np.bool_(False)]
LEGACY_INVALID = ["yes", 0.5, np.float64(1.0)]
N_THREADS_VALID = [None, None, 1, 2, 3, -1, -2, 4, 2**70, -(2**70), np.int8(2)]
N_THREADS_INVALID = [0, True, 1.5, "2", np.float64(2.0)]
MULTI_CLASS_VALID = ["weston_watkins", "crammer_singer"]
MULTI_CLASS_INVALID = ["", "crammer-singer", None, 1, ("weston_watkins",)]
TARGET_FORMAT_VALID = ["indices", "indicator"]
TARGET_FORMAT_INVALID = ["Indices", "", None, 0, b"indicator"]


@st.composite
def real_arrays(draw, shape, *, wrong, positive=False):
    """weights, sample weights, grad_output: real arrays of ``shape``, or wrong ones."""
    if not wrong:
        styles = ("positive",) if positive else ("normal", "ties", "positive", "special")
        return draw(arrays(shape, REAL_DTYPES, styles=styles))
    choice = draw(st.sampled_from(["shape", "dtype", "not_array", "values"]))
    if choice == "not_array":
        return draw(st.sampled_from(NOT_ARRAYS[1:]))
    if choice == "shape":
        return draw(arrays(draw(st.sampled_from(wrong_shapes(shape))), REAL_DTYPES))
    if choice == "dtype":
        return draw(arrays(shape, OTHER_DTYPES))
    return draw(arrays(shape, REAL_DTYPES, styles=("special", "normal")))  # NaN, negative


@st.composite
def outs(draw, input, shape, wrong, alias=False):
    """An ``out`` buffer: None, right, or the input itself; when wrong, of the wrong
    shape or dtype, non-contiguous, read-only, or not an array."""
    if alias:
        return input
    if wrong:
        choice = draw(st.sampled_from(["wrong_shape", "wrong_dtype", "F", "strided",
                                       "readonly", "list"]))
    else:
        choice = draw(st.sampled_from(["none", "none", "right", "right", "input"]))
    if choice == "none":
        return None
    if choice == "input":
        return input
    if choice == "list":
        return [0.0] * 3
    dtype = computation_dtype(input)
    if choice == "wrong_dtype":
        dtype = draw(st.sampled_from([np.dtype(t) for t in (np.float16, np.int64, ">f8",
                                                            np.longdouble, np.complex128,
                                                            np.float32, np.float64)]))
    if choice == "wrong_shape":
        shape = draw(st.sampled_from(wrong_shapes(shape)))
    out = np.full(shape, np.nan, dtype=dtype) if dtype.kind in "fc" else np.zeros(shape, dtype)
    if choice in ("F", "strided", "readonly"):
        out = apply_layout(out, choice)
    return out


@st.composite
def wrong_arguments(draw, names):
    """Most calls are valid; some have one or two wrong arguments."""
    if draw(st.integers(0, 9)) < 5:
        return set()
    return set(draw(st.lists(st.sampled_from(names), min_size=1, max_size=2)))


@st.composite
def inputs(draw, wrong):
    """(input, shape, alias): alias for some valid calls, a float array that ``out``
    will be."""
    if "input" not in wrong and "out" not in wrong and draw(st.integers(0, 7)) == 0:
        shape = draw(input_shapes(wrong=False))
        dtype = draw(st.sampled_from([np.float64, np.float32]))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        style = draw(st.sampled_from(["normal", "ties", "special", "sparse"]))
        values = float_values(rng, int(np.prod(shape)), style).reshape(shape)
        with np.errstate(all="ignore"):
            return np.array(values, dtype=dtype), shape, True
    if "input" in wrong:
        kind = draw(st.sampled_from(["shape", "dtype", "not_array"]))
        if kind == "not_array":
            return draw(st.sampled_from(NOT_ARRAYS)), (), False
        shape = draw(input_shapes(wrong=kind == "shape"))
        dtypes = INPUT_DTYPES[-5:] if kind == "dtype" else INPUT_DTYPES[:-5]
        return draw(arrays(shape, dtypes)), shape, False
    shape = draw(input_shapes(wrong=False))
    styles = ("normal", "ties", "special", "special", "sparse")
    return draw(arrays(shape, INPUT_DTYPES[:-5], styles=styles)), shape, False


@st.composite
def targets(draw, shape, low, high, dtypes, wrong):
    """Index arrays of ``shape`` in [low, high); when wrong, of the wrong dtype, shape
    or values, or not an array."""
    if not wrong:
        return draw(index_arrays(shape, low, high, dtypes, bad_value=False))
    kind = draw(st.sampled_from(["shape", "dtype", "value", "not_array"]))
    if kind == "not_array":
        return draw(st.sampled_from(NOT_ARRAYS))
    if kind == "shape":
        shape = draw(st.sampled_from(wrong_shapes(shape)))
    if kind == "dtype":
        return draw(arrays(shape, [np.dtype(t) for t in (np.float64, object, "<U3",
                                                         np.complex128, np.float16)]))
    return draw(index_arrays(shape, low, high, dtypes, bad_value=kind == "value"))


@st.composite
def label_targets(draw, shape, indicator, dtypes):
    """A valid multi-label target of shape (N, C) whose rows have k labels drawn
    from the paths' edges (LABEL_COUNTS, and C - 1, C: every class a label),
    in a scrambled order; index rows sometimes list a label twice, and hold
    arbitrary entries in [-1, C) after their first -1."""
    n_samples, n_classes = shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    counts = [k for k in LABEL_COUNTS if k <= n_classes] + [n_classes - 1, n_classes]
    counts = [k for k in counts if k >= 0]
    repeat = draw(st.booleans())
    target = np.full(shape, -1, dtype=np.int64)
    for n in range(n_samples):
        k = draw(st.sampled_from(counts))
        labels = rng.permutation(n_classes)[:k]
        if indicator:
            target[n] = 0
            target[n, labels] = 1
            continue
        if repeat and 0 < k < n_classes:
            labels = np.insert(labels, rng.integers(0, k + 1), labels[rng.integers(k)])
        target[n, :labels.size] = labels
        if labels.size + 1 < n_classes:
            rest = n_classes - labels.size - 1
            target[n, labels.size + 1:] = rng.integers(-1, n_classes, rest)
    # a dtype that holds -1 and every class (unsigned ones only for indicators)
    dtypes = [d for d in dtypes if indicator or (d.kind == "i" and np.iinfo(d).max >= n_classes)]
    dtype = draw(st.sampled_from(dtypes))
    return apply_layout(target.astype(dtype), draw(st.sampled_from(["C"] * 4 + ["F"])))


# ------------------------------------------------------------------- calls
FUNCTION_FORMS = ["loss", "grad", "both"]
CLASS_FORMS = ["call", "forward", "gradient", "loss_and_gradient"]
SETTINGS = ["margin", "reduction", "n_threads", "size_average", "reduce"]
ARRAYS = ["input", "target", "sample_weight", "grad_output", "out"]


def _common(draw, wrong, input, shape, alias, loss_shape):
    reduction = choose(draw, "reduction" in wrong, REDUCTION_VALID, REDUCTION_INVALID)
    go_shape = loss_shape if reduction == "none" and draw(st.booleans()) else ()
    grad_output = (ABSENT if "grad_output" not in wrong and draw(st.integers(0, 3)) == 0
                   else draw(real_arrays(go_shape, wrong="grad_output" in wrong)))
    sample_weight = (None if "sample_weight" not in wrong and draw(st.booleans())
                     else draw(real_arrays(loss_shape, wrong="sample_weight" in wrong,
                                           positive=True)))
    return dict(
        via=draw(st.sampled_from(FUNCTION_FORMS + CLASS_FORMS)),
        margin=choose(draw, "margin" in wrong, MARGIN_VALID, MARGIN_INVALID),
        reduction=reduction,
        n_threads=choose(draw, "n_threads" in wrong, N_THREADS_VALID, N_THREADS_INVALID),
        size_average=choose(draw, "size_average" in wrong, LEGACY_VALID, LEGACY_INVALID),
        reduce=choose(draw, "reduce" in wrong, LEGACY_VALID, LEGACY_INVALID),
        sample_weight=sample_weight, grad_output=grad_output,
        out=draw(outs(input, shape, "out" in wrong, alias)),
    )


@st.composite
def multi_margin_calls(draw):
    """Arguments of one multi-class call: a dict with the entry point under 'via'."""
    wrong = draw(wrong_arguments(SETTINGS + ARRAYS + ["p", "weight", "multi_class"]))
    input, shape, alias = draw(inputs(wrong))
    n_samples, n_classes = logical_shape(shape)
    target_shape = (n_samples,) if n_samples != 1 or draw(st.booleans()) else ()
    target = draw(targets(target_shape, 0, n_classes, TARGET_DTYPES, "target" in wrong))
    call = dict(family="multi_margin", input=input, target=target,
                p=choose(draw, "p" in wrong, P_VALID, P_INVALID),
                multi_class=choose(draw, "multi_class" in wrong, MULTI_CLASS_VALID,
                                   MULTI_CLASS_INVALID),
                weight=(None if "weight" not in wrong and draw(st.booleans())
                        else draw(real_arrays((n_classes,), wrong="weight" in wrong))),
                **_common(draw, wrong, input, shape, alias, target_shape))
    return call


@st.composite
def multilabel_margin_calls(draw):
    wrong = draw(wrong_arguments(SETTINGS + ARRAYS + ["target_format"]))
    input, shape, alias = draw(inputs(wrong))
    n_samples, n_classes = logical_shape(shape)
    target_format = choose(draw, "target_format" in wrong, TARGET_FORMAT_VALID,
                           TARGET_FORMAT_INVALID)
    target_shape = shape if len(shape) != 0 else draw(st.sampled_from([(1,), ()]))
    if target_format == "indicator":
        target = targets(target_shape, 0, 2, INDICATOR_DTYPES, "target" in wrong)
    else:
        target = targets(target_shape, -1, n_classes, TARGET_DTYPES, "target" in wrong)
    if (len(shape) == 2 and "target" not in wrong and target_format in TARGET_FORMAT_VALID
            and draw(st.booleans())):
        target = label_targets(shape, target_format == "indicator",
                               INDICATOR_DTYPES if target_format == "indicator"
                               else TARGET_DTYPES)
    loss_shape = (n_samples,) if len(shape) == 2 else ()
    call = dict(family="multilabel_margin", input=input, target=draw(target),
                target_format=target_format,
                **_common(draw, wrong, input, shape, alias, loss_shape))
    return call


# ------------------------------------------- valid calls at the kernels' edges
@st.composite
def path_inputs(draw, shape):
    """Valid float32 or float64 scores of ``shape``: plain, tied, or with one or two
    specials (so that one block falls back)."""
    dtype = draw(st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    style = draw(st.sampled_from(["normal", "ties", "ties", "sparse", "positive"]))
    values = float_values(rng, int(np.prod(shape)), style).reshape(shape)
    n_samples, n_classes = shape
    if n_samples and draw(st.integers(0, 3)) == 0:
        # a special at the first or the last score of a block of rows (8 or 16)
        # or of a block of classes: the ends of the kernels' scans
        rows = sorted({r for block in ROW_BLOCKS for b in range(0, n_samples, block)
                       for r in (b, min(b + block, n_samples) - 1)})
        columns = sorted({0, n_classes - 1} | {c for c in (MM_LANES - 1, MM_LANES)
                                                if c < n_classes})
        values[draw(st.sampled_from(rows)), draw(st.sampled_from(columns))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf]))
    return np.ascontiguousarray(values.astype(dtype))


@st.composite
def multi_margin_path_calls(draw):
    """Valid multi-class calls whose shapes sit at the kernels' edges: C around the
    class blocks and below 16, N around the row blocks."""
    shape = (draw(BOUNDARY_SAMPLES), draw(st.sampled_from(MM_PATH_CLASSES)))
    n_samples, n_classes = shape
    input = draw(path_inputs(shape))
    target = draw(index_arrays((n_samples,), 0, n_classes, TARGET_DTYPES))
    return dict(family="multi_margin", input=input, target=target,
                p=draw(st.sampled_from([1, 2])),
                multi_class=draw(st.sampled_from(["weston_watkins"] * 4 + ["crammer_singer"])),
                weight=(None if draw(st.booleans())  # finite: valid
                        else draw(arrays((n_classes,), REAL_DTYPES,
                                         styles=("normal", "ties", "positive")))),
                **_common(draw, set(), input, shape, False, (n_samples,)))


@st.composite
def multilabel_margin_path_calls(draw):
    """Valid multi-label calls whose rows have label counts at the paths' edges."""
    n_classes = draw(st.sampled_from(ML_PATH_CLASSES))
    n_samples = draw(st.sampled_from([1, 2, 3, 8, 9]) if n_classes > 60 else BOUNDARY_SAMPLES)
    shape = (n_samples, n_classes)
    input = draw(path_inputs(shape))
    target_format = draw(st.sampled_from(TARGET_FORMAT_VALID))
    indicator = target_format == "indicator"
    target = draw(label_targets(shape, indicator,
                                INDICATOR_DTYPES if indicator else TARGET_DTYPES))
    return dict(family="multilabel_margin", input=input, target=target,
                target_format=target_format,
                **_common(draw, set(), input, shape, False, (n_samples,)))


# ------------------------------------------------------ marginloss.sklearn
LABEL_SETS = {
    "int": [3, 0, 7, 1],
    "str": ["cat", "dog", "emu", "yak"],
    "float": [0.5, -1.0, 2.0, 7.25],
}


@st.composite
def labelled_samples(draw, wrong, kinds=("float", "int", "str"), min_classes=1):
    """(y_true, classes): n_samples labels covering every class (so that the classes
    found in y_true are the classes); when wrong, 2-D, an unknown or mixed label."""
    kind = draw(st.sampled_from(kinds))
    n_classes = draw(st.integers(min_classes, 4))
    classes = LABEL_SETS[kind][:n_classes]
    n_samples = n_classes + draw(st.integers(0, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y_true = classes + [classes[i] for i in rng.integers(0, n_classes, n_samples - n_classes)]
    y_true = [y_true[i] for i in rng.permutation(n_samples)]
    if wrong:
        how = draw(st.sampled_from(["2d", "unknown", "mixed", "none"]))
        if how == "2d":
            return np.array(y_true).reshape(1, -1), classes
        y_true[0] = {"unknown": "zebra" if kind != "str" else 99, "mixed": None,
                     "none": None}[how]
        if how == "none":
            y_true = None
    if y_true is not None and draw(st.booleans()):
        y_true = np.array(y_true, dtype=object if None in y_true else None)
    return y_true, classes


@st.composite
def metric_calls(draw):
    wrong = draw(wrong_arguments(["y_true", "y_score", "labels", "sample_weight", "p",
                                  "margin", "class_weight", "multi_class"]))
    y_true, classes = draw(labelled_samples("y_true" in wrong))
    n_samples, n_classes = len(classes) if y_true is None else len(y_true), len(classes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    labels = None
    if draw(st.booleans()) or "labels" in wrong:
        labels = [classes[i] for i in rng.permutation(n_classes)]
        if "labels" in wrong:
            labels = draw(st.sampled_from([labels + labels[:1], labels[1:], [labels]]))
    shape = (n_samples,) if n_classes == 2 and draw(st.booleans()) else (n_samples, n_classes)
    if "y_score" in wrong:
        y_score = draw(st.one_of(
            arrays(draw(st.sampled_from([(), (n_samples, n_classes, 1), (n_samples + 1,),
                                         (n_samples, 0)])), INPUT_DTYPES[:-5]),
            arrays(shape, INPUT_DTYPES[-5:]),
            st.sampled_from(NOT_ARRAYS)))
    else:
        y_score = draw(arrays(shape, INPUT_DTYPES[:-5]))
    return dict(
        family="multi_margin", y_true=y_true, y_score=y_score, labels=labels,
        sample_weight=(None if "sample_weight" not in wrong and draw(st.booleans())
                       else draw(real_arrays((n_samples,), wrong="sample_weight" in wrong,
                                             positive=True))),
        p=choose(draw, "p" in wrong, P_VALID, P_INVALID),
        margin=choose(draw, "margin" in wrong, MARGIN_VALID, MARGIN_INVALID),
        class_weight=(None if "class_weight" not in wrong and draw(st.booleans())
                      else draw(real_arrays((n_classes,), wrong="class_weight" in wrong))),
        multi_class=choose(draw, "multi_class" in wrong, MULTI_CLASS_VALID,
                           MULTI_CLASS_INVALID),
    )


@st.composite
def multilabel_metric_calls(draw):
    wrong = draw(wrong_arguments(["y_true", "y_score", "sample_weight", "margin"]))
    n_samples, n_classes = draw(SIZES), draw(st.integers(1, 5))
    if "y_score" in wrong:
        y_score, shape, _ = draw(inputs({"input"}))
    else:
        y_score = draw(arrays((n_samples, n_classes), INPUT_DTYPES[:-5]))
        shape = (n_samples, n_classes)
    n_samples, _ = logical_shape(shape)
    y_true = draw(targets(shape, 0, 2, INDICATOR_DTYPES, "y_true" in wrong))
    return dict(
        family="multilabel_margin", y_true=y_true, y_score=y_score,
        sample_weight=(None if "sample_weight" not in wrong and draw(st.booleans())
                       else draw(real_arrays((n_samples,) if len(shape) == 2 else (),
                                             wrong="sample_weight" in wrong, positive=True))),
        margin=choose(draw, "margin" in wrong, MARGIN_VALID, MARGIN_INVALID),
    )


@st.composite
def classifier_fits(draw):
    """MultiMarginClassifier settings and small training data (few examples: each fits)."""
    wrong = draw(wrong_arguments(["X", "p", "margin", "multi_class", "alpha", "max_iter",
                                  "class_weight", "n_threads", "sample_weight"]))
    y, _ = draw(labelled_samples(False, ("int", "str"), 2))  # float labels: regression
    n_samples = len(y)
    n_features = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.normal(size=(n_samples, n_features))
    if "X" in wrong:
        X = draw(st.sampled_from([X.ravel(), np.where(X > 0, np.nan, X), X.astype(complex),
                                  X.astype(str)]))
    params = dict(
        p=choose(draw, "p" in wrong, P_VALID, P_INVALID),
        margin=choose(draw, "margin" in wrong, [1.0, 0.5, 2], [float("nan"), "1"]),
        multi_class=choose(draw, "multi_class" in wrong, MULTI_CLASS_VALID,
                           MULTI_CLASS_INVALID),
        alpha=choose(draw, "alpha" in wrong, [1e-4, 0.1, 0.0], [-1.0, float("nan"), "a"]),
        max_iter=choose(draw, "max_iter" in wrong, [50, 200], [0, 1.5]),
        class_weight=choose(draw, "class_weight" in wrong, [None, "balanced"],
                            ["heavy", {"no such class": 2.0}]),
        n_threads=choose(draw, "n_threads" in wrong, N_THREADS_VALID, N_THREADS_INVALID),
    )
    sample_weight = None
    if "sample_weight" in wrong:
        sample_weight = draw(st.sampled_from([np.ones(n_samples + 1), -np.ones(n_samples),
                                              np.full(n_samples, np.nan)]))
    elif draw(st.booleans()):
        sample_weight = rng.uniform(0.5, 2.0, n_samples)
    return dict(X=X, y=y, sample_weight=sample_weight, params=params, wrong=wrong)
