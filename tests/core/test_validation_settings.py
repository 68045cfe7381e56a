"""Every error path of the public API, and the legacy size_average/reduce mapping.

Each error must be raised by the Python layer before any kernel runs, name the
argument, what was expected and what was given: ValueError for values and
shapes, TypeError for types and dtypes.  Constructors validate at once.
"""

import math
import warnings

import numpy as np
import pytest

from marginloss import (
    MultiLabelMarginLoss,
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

N_SAMPLES, N_CLASSES = 5, 4


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


def _scores(dtype=np.float64):
    return np.random.default_rng(7).standard_normal((N_SAMPLES, N_CLASSES)).astype(dtype)


MM_TARGET = np.array([3, 0, 1, 2, 1])
MLM_TARGET = np.array([[3, 0, -1, 1], [1, -1, -1, -1], [0, 1, 2, 3], [-1, 0, 0, 0], [2, 2, -1, 3]])


# ------------------------------------------------------------------ entry points
# Every public way of computing something, as callable(input, target, **settings).

MM_FUNCTIONS = {
    "multi_margin_loss": multi_margin_loss,
    "multi_margin_loss_grad": multi_margin_loss_grad,
    "multi_margin_loss_and_grad": multi_margin_loss_and_grad,
}
MLM_FUNCTIONS = {
    "multilabel_margin_loss": multilabel_margin_loss,
    "multilabel_margin_loss_grad": multilabel_margin_loss_grad,
    "multilabel_margin_loss_and_grad": multilabel_margin_loss_and_grad,
}

MM_CALLS = {
    **MM_FUNCTIONS,
    "MultiMarginLoss()": lambda x, t, **kw: MultiMarginLoss(**kw)(x, t),
    "MultiMarginLoss.forward": lambda x, t, **kw: MultiMarginLoss(**kw).forward(x, t),
    "MultiMarginLoss.gradient": lambda x, t, **kw: MultiMarginLoss(**kw).gradient(x, t),
    "MultiMarginLoss.loss_and_gradient": (
        lambda x, t, **kw: MultiMarginLoss(**kw).loss_and_gradient(x, t)
    ),
}
MLM_CALLS = {
    **MLM_FUNCTIONS,
    "MultiLabelMarginLoss()": lambda x, t, **kw: MultiLabelMarginLoss(**kw)(x, t),
    "MultiLabelMarginLoss.forward": lambda x, t, **kw: MultiLabelMarginLoss(**kw).forward(x, t),
    "MultiLabelMarginLoss.gradient": (
        lambda x, t, **kw: MultiLabelMarginLoss(**kw).gradient(x, t)
    ),
    "MultiLabelMarginLoss.loss_and_gradient": (
        lambda x, t, **kw: MultiLabelMarginLoss(**kw).loss_and_gradient(x, t)
    ),
}

# Gradient entry points taking grad_output= and out=.
MM_GRAD_CALLS = {
    "multi_margin_loss_grad": multi_margin_loss_grad,
    "multi_margin_loss_and_grad": multi_margin_loss_and_grad,
    "MultiMarginLoss.gradient": (
        lambda x, t, reduction="mean", **kw: MultiMarginLoss(reduction=reduction).gradient(
            x, t, **kw)
    ),
    "MultiMarginLoss.loss_and_gradient": (
        lambda x, t, reduction="mean", **kw: MultiMarginLoss(
            reduction=reduction).loss_and_gradient(x, t, **kw)
    ),
}
MLM_GRAD_CALLS = {
    "multilabel_margin_loss_grad": multilabel_margin_loss_grad,
    "multilabel_margin_loss_and_grad": multilabel_margin_loss_and_grad,
    "MultiLabelMarginLoss.gradient": (
        lambda x, t, reduction="mean", **kw: MultiLabelMarginLoss(
            reduction=reduction).gradient(x, t, **kw)
    ),
    "MultiLabelMarginLoss.loss_and_gradient": (
        lambda x, t, reduction="mean", **kw: MultiLabelMarginLoss(
            reduction=reduction).loss_and_gradient(x, t, **kw)
    ),
}

# (name, callable(input, target, **kw), target) for both losses.
BOTH_CALLS = [(name, f, MM_TARGET) for name, f in MM_CALLS.items()] + [
    (name, f, MLM_TARGET) for name, f in MLM_CALLS.items()
]
BOTH_GRAD_CALLS = [(name, f, MM_TARGET) for name, f in MM_GRAD_CALLS.items()] + [
    (name, f, MLM_TARGET) for name, f in MLM_GRAD_CALLS.items()
]


def _ids(cases):
    return [case[0] for case in cases]


# Settings entry points: the functions (with valid arrays) and the constructors
# (which must raise without being called on anything).
MM_SETTINGS = {
    **{name: (lambda f: lambda **kw: f(_scores(), MM_TARGET, **kw))(f)
       for name, f in MM_FUNCTIONS.items()},
    "MultiMarginLoss": lambda **kw: MultiMarginLoss(**kw),
}
MLM_SETTINGS = {
    **{name: (lambda f: lambda **kw: f(_scores(), MLM_TARGET, **kw))(f)
       for name, f in MLM_FUNCTIONS.items()},
    "MultiLabelMarginLoss": lambda **kw: MultiLabelMarginLoss(**kw),
}
ALL_SETTINGS = {**MM_SETTINGS, **MLM_SETTINGS}


# ------------------------------------------------------------------ p

P_ERRORS = [
    pytest.param(3, ValueError, r"^p must be 1 or 2, got 3$", id="3"),
    pytest.param(0, ValueError, r"^p must be 1 or 2, got 0$", id="0"),
    pytest.param(-1, ValueError, r"^p must be 1 or 2, got -1$", id="-1"),
    pytest.param(1.5, ValueError, r"^p must be 1 or 2, got 1\.5$", id="1.5"),
    pytest.param(math.nan, ValueError, r"^p must be 1 or 2, got nan$", id="nan"),
    pytest.param(math.inf, ValueError, r"^p must be 1 or 2, got inf$", id="inf"),
    pytest.param("2", TypeError, r"^p must be 1 or 2, got str '2'$", id="str"),
    pytest.param(None, TypeError, r"^p must be 1 or 2, got NoneType None$", id="None"),
    pytest.param(True, TypeError, r"^p must be 1 or 2, got bool True$", id="True"),
    pytest.param(np.bool_(True), TypeError, r"^p must be 1 or 2, got bool", id="np.bool_"),
    pytest.param(2j, TypeError, r"^p must be 1 or 2, got complex 2j$", id="complex"),
]


@pytest.mark.parametrize("entry", MM_SETTINGS.values(), ids=MM_SETTINGS.keys())
@pytest.mark.parametrize("p, error, match", P_ERRORS)
def test_p_invalid(entry, p, error, match):
    with pytest.raises(error, match=match):
        entry(p=p)


@pytest.mark.parametrize("p", [1, 2, 1.0, 2.0, np.int64(2), np.float32(1.0)],
                         ids=["1", "2", "1.0", "2.0", "np.int64", "np.float32"])
def test_p_accepted(p):
    assert MultiMarginLoss(p=p).p in (1, 2)
    assert type(MultiMarginLoss(p=p).p) is int
    multi_margin_loss(_scores(), MM_TARGET, p=p)


# ------------------------------------------------------------------ reduction

REDUCTION_ERRORS = [
    pytest.param("abc", ValueError,
                 r"^reduction must be one of 'none', 'mean', 'sum'; got 'abc'$", id="abc"),
    pytest.param("Mean", ValueError, r"got 'Mean'$", id="Mean"),
    pytest.param("", ValueError, r"got ''$", id="empty"),
    pytest.param(None, TypeError,
                 r"^reduction must be a str, one of 'none', 'mean', 'sum'; got NoneType None$",
                 id="None"),
    pytest.param(1, TypeError, r"^reduction must be a str.*got int 1$", id="int"),
    pytest.param(b"mean", TypeError, r"^reduction must be a str.*got bytes b'mean'$",
                 id="bytes"),
    pytest.param(True, TypeError, r"^reduction must be a str.*got bool True$", id="True"),
]


@pytest.mark.parametrize("entry", ALL_SETTINGS.values(), ids=ALL_SETTINGS.keys())
@pytest.mark.parametrize("reduction, error, match", REDUCTION_ERRORS)
def test_reduction_invalid(entry, reduction, error, match):
    with pytest.raises(error, match=match):
        entry(reduction=reduction)


# ------------------------------------------------------------------ margin

MARGIN_ERRORS = [
    pytest.param(math.inf, ValueError, r"^margin must be a finite real number, got inf$",
                 id="inf"),
    pytest.param(-math.inf, ValueError, r"^margin must be a finite real number, got -inf$",
                 id="-inf"),
    pytest.param(math.nan, ValueError, r"^margin must be a finite real number, got nan$",
                 id="nan"),
    pytest.param(10 ** 400, ValueError, r"^margin must be a finite real number, got 1000",
                 id="1e400-int"),
    pytest.param(np.float32(np.inf), ValueError, r"^margin must be a finite real number",
                 id="np.float32-inf"),
    pytest.param(np.array(np.nan), ValueError, r"^margin must be a finite real number",
                 id="0d-array-nan"),
    pytest.param("1", TypeError, r"^margin must be a finite real number, got str '1'$",
                 id="str"),
    pytest.param(None, TypeError, r"^margin must be a finite real number, got NoneType None$",
                 id="None"),
    pytest.param(1 + 0j, TypeError, r"^margin must be a finite real number, got complex",
                 id="complex"),
    pytest.param(True, TypeError, r"^margin must be a finite real number, got bool True$",
                 id="True"),
    pytest.param([1.0], TypeError, r"^margin must be a finite real number, got list \[1\.0\]$",
                 id="list"),
    pytest.param(np.array([1.0]), TypeError, r"^margin must be a finite real number, got ndarray",
                 id="1d-array"),
]


@pytest.mark.parametrize("entry", MM_SETTINGS.values(), ids=MM_SETTINGS.keys())
@pytest.mark.parametrize("margin, error, match", MARGIN_ERRORS)
def test_margin_invalid(entry, margin, error, match):
    with pytest.raises(error, match=match):
        entry(margin=margin)


@pytest.mark.parametrize(
    "margin",
    [0, -3, 0.5, -3.14, np.float32(0.5), np.int64(2), np.array(0.25), 1e300],
    ids=["0", "-3", "0.5", "-3.14", "np.float32", "np.int64", "0d-array", "1e300"],
)
def test_margin_accepted(margin):
    loss = MultiMarginLoss(margin=margin)
    assert type(loss.margin) is float
    assert loss.margin == float(np.asarray(margin))
    multi_margin_loss(_scores(), MM_TARGET, margin=margin)


def test_margin_checked_against_the_computation_dtype():
    # float16 scores are computed in float32, so a margin beyond float16's range
    # (65504) is fine.
    x = _scores(np.float16)
    np.testing.assert_array_equal(
        multi_margin_loss(x, MM_TARGET, margin=1e5, reduction="none"),
        multi_margin_loss(x.astype(np.float32), MM_TARGET, margin=1e5, reduction="none"))


@pytest.mark.parametrize("entry", MM_CALLS.values(), ids=MM_CALLS.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_margin_overflows_float32_at_call_time(entry, dtype):
    x = _scores(dtype)
    with pytest.raises(ValueError, match=r"^margin=1e\+39 overflows float32, the input's dtype"):
        entry(x, MM_TARGET, margin=1e39)
    with pytest.raises(ValueError, match=r"overflows float32"):
        entry(x, MM_TARGET, margin=-1e39)
    # The same margin is fine for float64 (and for inputs computed in float64).
    entry(x.astype(np.float64), MM_TARGET, margin=1e39)
    entry(np.ones((N_SAMPLES, N_CLASSES), dtype=np.int32), MM_TARGET, margin=1e39)


def test_margin_overflow_raises_value_error_even_with_warnings_as_errors():
    # The check must not go through a NumPy overflow warning first: under
    # `-W error` (or filterwarnings = error) that warning would escape instead
    # of the documented ValueError.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"overflows float32"):
            multi_margin_loss(_scores(np.float32), MM_TARGET, margin=1e39)


def test_margin_overflow_constructor_is_fine_until_called():
    loss = MultiMarginLoss(margin=1e39)
    assert loss.margin == 1e39
    assert np.isfinite(loss(_scores(np.float64), MM_TARGET))
    with pytest.raises(ValueError, match=r"overflows float32"):
        loss(_scores(np.float32), MM_TARGET)


def test_margin_overflow_writes_nothing():
    x = _scores(np.float32)
    out = np.full_like(x, 123.0)
    with pytest.raises(ValueError, match=r"overflows float32"):
        multi_margin_loss_grad(x, MM_TARGET, margin=1e39, out=out)
    assert np.all(out == 123.0)


# ------------------------------------------------------------------ weight

WEIGHT_SETTING_ERRORS = [
    pytest.param(2.0, ValueError,
                 r"^weight must be a 1-D array with one weight per class, got shape \(\)$",
                 id="0d-float"),
    pytest.param(np.array(2.0), ValueError, r"got shape \(\)$", id="0d-array"),
    pytest.param(np.ones((1, N_CLASSES)), ValueError,
                 r"^weight must be a 1-D array with one weight per class, got shape \(1, 4\)$",
                 id="2d"),
    pytest.param(np.ones((2, 2)), ValueError, r"got shape \(2, 2\)$", id="2d-square"),
    pytest.param([1.0, math.nan, 1.0, 1.0], ValueError,
                 r"^weight must be finite, got weight\[1\] = nan$", id="nan"),
    pytest.param([1.0, 1.0, 1.0, math.inf], ValueError,
                 r"^weight must be finite, got weight\[3\] = inf$", id="inf"),
    pytest.param([-math.inf, math.nan, 1.0, 1.0], ValueError,
                 r"^weight must be finite, got weight\[0\] = -inf$", id="first-of-two"),
    pytest.param([1e400, 1.0, 1.0, 1.0], ValueError, r"weight\[0\] = inf", id="overflowing"),
    pytest.param(np.ones(N_CLASSES, dtype=complex), TypeError,
                 r"^weight must be an array of real numbers, got dtype complex128$", id="complex"),
    pytest.param(["a", "b", "c", "d"], TypeError,
                 r"^weight must be an array of real numbers, got dtype <U1$", id="str"),
    pytest.param(np.array([1.0, None, 1.0, 1.0], dtype=object), TypeError,
                 r"^weight must be an array of real numbers, got dtype object$", id="object"),
    pytest.param([[1.0], [1.0, 2.0]], ValueError,
                 r"^weight must be array-like with a regular shape", id="ragged"),
]


@pytest.mark.parametrize("entry", MM_SETTINGS.values(), ids=MM_SETTINGS.keys())
@pytest.mark.parametrize("weight, error, match", WEIGHT_SETTING_ERRORS)
def test_weight_invalid(entry, weight, error, match):
    with pytest.raises(error, match=match):
        entry(weight=weight)


@pytest.mark.parametrize("entry", MM_CALLS.values(), ids=MM_CALLS.keys())
@pytest.mark.parametrize("length", [N_CLASSES + 1, N_CLASSES - 1, 1], ids=["C+1", "C-1", "1"])
def test_weight_wrong_length_for_input(entry, length):
    match = (r"^weight must have one entry per class: expected shape \(4,\), "
             rf"got shape \({length},\)$")
    with pytest.raises(ValueError, match=match):
        entry(_scores(), MM_TARGET, weight=np.ones(length))


def test_weight_wrong_length_constructor_is_fine_until_called():
    loss = MultiMarginLoss(weight=np.ones(N_CLASSES + 1))
    with pytest.raises(ValueError, match=r"expected shape \(4,\), got shape \(5,\)"):
        loss(_scores(), MM_TARGET)
    # ... and it suits an input with 5 classes.
    loss(np.zeros((2, N_CLASSES + 1)), [0, 4])


# ------------------------------------------------------------------ input

INPUT_SHAPE_MSG = (r"^input must be a non-empty vector \(C,\) or matrix \(N, C\) with C >= 1 "
                   r"\(N may be 0\); got shape ")

INPUT_ERRORS = [
    pytest.param(np.zeros((2, 3, 4)), ValueError, INPUT_SHAPE_MSG + r"\(2, 3, 4\)$", id="3d"),
    pytest.param(np.zeros((1, 1, 1, 1)), ValueError, INPUT_SHAPE_MSG + r"\(1, 1, 1, 1\)$",
                 id="4d"),
    pytest.param(np.zeros((3, 0)), ValueError, INPUT_SHAPE_MSG + r"\(3, 0\)$", id="(3,0)"),
    pytest.param(np.zeros((0,)), ValueError, INPUT_SHAPE_MSG + r"\(0,\)$", id="(0,)"),
    pytest.param(np.zeros((0, 0)), ValueError, INPUT_SHAPE_MSG + r"\(0, 0\)$", id="(0,0)"),
    pytest.param([], ValueError, INPUT_SHAPE_MSG + r"\(0,\)$", id="empty-list"),
    pytest.param(np.ones((5, 4), dtype=np.complex128), TypeError,
                 r"^input must be real, got complex dtype complex128$", id="complex128"),
    pytest.param(np.ones((5, 4), dtype=np.complex64), TypeError,
                 r"^input must be real, got complex dtype complex64$", id="complex64"),
    pytest.param([[1 + 2j, 0, 0, 0]], TypeError, r"^input must be real, got complex dtype",
                 id="complex-list"),
    pytest.param(np.ones((5, 4), dtype=object), TypeError,
                 r"^input must be an array of real numbers, got dtype object$", id="object"),
    pytest.param([["a", "b", "c", "d"]], TypeError,
                 r"^input must be an array of real numbers, got dtype <U1$", id="str"),
    pytest.param(None, TypeError, r"^input must be an array of real numbers, got dtype object$",
                 id="None"),
    pytest.param(np.ones((5, 4), dtype="datetime64[s]"), TypeError,
                 r"^input must be an array of real numbers, got dtype datetime64\[s\]$",
                 id="datetime"),
    pytest.param([[1.0, 2.0], [3.0]], ValueError,
                 r"^input must be array-like with a regular shape", id="ragged"),
]


@pytest.mark.parametrize("name, entry, target", BOTH_CALLS, ids=_ids(BOTH_CALLS))
@pytest.mark.parametrize("input, error, match", INPUT_ERRORS)
def test_input_invalid(name, entry, target, input, error, match):
    with pytest.raises(error, match=match):
        entry(input, target)


# ------------------------------------------------------------------ target

MM_TARGET_MSG = (r"^target must be a 1-D array of 5 class indices, one per sample of input of "
                 r"shape \(5, 4\) \(or 0-d for a single sample\); got shape ")

MM_TARGET_ERRORS = [
    pytest.param(np.zeros((5, 4), dtype=np.int64), ValueError, MM_TARGET_MSG + r"\(5, 4\)$",
                 id="(N,C)"),
    pytest.param(np.zeros(3, dtype=np.int64), ValueError, MM_TARGET_MSG + r"\(3,\)$",
                 id="too-short"),
    pytest.param(np.zeros(6, dtype=np.int64), ValueError, MM_TARGET_MSG + r"\(6,\)$",
                 id="too-long"),
    pytest.param(np.zeros((5, 1), dtype=np.int64), ValueError, MM_TARGET_MSG + r"\(5, 1\)$",
                 id="(N,1)"),
    pytest.param(np.int64(0), ValueError, MM_TARGET_MSG + r"\(\)$", id="0d"),
    pytest.param(np.zeros(0, dtype=np.int64), ValueError, MM_TARGET_MSG + r"\(0,\)$",
                 id="empty"),
    pytest.param(np.zeros(5), TypeError,
                 r"^target must be an array of integer class indices, got dtype float64$",
                 id="float"),
    pytest.param([0.0, 1.0, 2.0, 3.0, 0.0], TypeError, r"got dtype float64$", id="float-list"),
    pytest.param(np.zeros(5, dtype=np.float32), TypeError, r"got dtype float32$",
                 id="float32"),
    pytest.param(np.zeros(5, dtype=bool), TypeError,
                 r"^target must be an array of integer class indices, got dtype bool$",
                 id="bool"),
    pytest.param(["0", "1", "2", "3", "0"], TypeError, r"got dtype <U1$", id="str"),
    pytest.param(np.zeros(5, dtype=complex), TypeError, r"got dtype complex128$",
                 id="complex"),
    pytest.param([[0], [1, 2]], ValueError, r"^target must be array-like with a regular shape",
                 id="ragged"),
]


@pytest.mark.parametrize("entry", MM_CALLS.values(), ids=MM_CALLS.keys())
@pytest.mark.parametrize("target, error, match", MM_TARGET_ERRORS)
def test_multi_margin_target_invalid(entry, target, error, match):
    with pytest.raises(error, match=match):
        entry(_scores(), target)


MM_RANGE_MSG = r", expected 0 <= target < 4 \(the number of classes\)$"

MM_RANGE_ERRORS = [
    pytest.param([0, 1, 2, 7, 0], r"^target out of range: target\[3\] = 7" + MM_RANGE_MSG,
                 id="7-at-3"),
    pytest.param([0, -1, 2, 3, 0], r"^target out of range: target\[1\] = -1" + MM_RANGE_MSG,
                 id="-1-at-1"),
    pytest.param([4, 0, 0, 0, 0], r"^target out of range: target\[0\] = 4" + MM_RANGE_MSG,
                 id="C-at-0"),
    pytest.param([0, 0, 0, 0, 4], r"^target out of range: target\[4\] = 4" + MM_RANGE_MSG,
                 id="C-at-last"),
    # The first offending sample is named, not the largest or smallest value.
    pytest.param([0, 2, 5, -3, 99], r"^target out of range: target\[2\] = 5" + MM_RANGE_MSG,
                 id="first-of-several"),
    pytest.param(np.array([0, 1, 2, 3, 255], dtype=np.uint8),
                 r"^target out of range: target\[4\] = 255" + MM_RANGE_MSG, id="uint8-255"),
    pytest.param(np.array([0, 1, 2, 3, 2**63], dtype=np.uint64),
                 r"^target out of range: target\[4\] = 9223372036854775808" + MM_RANGE_MSG,
                 id="uint64-huge"),
    pytest.param(np.array([0, 1, -2**63, 3, 0], dtype=np.int64),
                 r"^target out of range: target\[2\] = -9223372036854775808" + MM_RANGE_MSG,
                 id="int64-min"),
]


@pytest.mark.parametrize("entry", MM_CALLS.values(), ids=MM_CALLS.keys())
@pytest.mark.parametrize("target, match", MM_RANGE_ERRORS)
def test_multi_margin_target_out_of_range(entry, target, match):
    with pytest.raises(ValueError, match=match):
        entry(_scores(), target)


def test_multi_margin_target_out_of_range_single_sample():
    # 1-D input (one sample) with a 0-d and with a (1,) target.
    with pytest.raises(ValueError, match=r"^target out of range: target.* = 4, expected 0 <="):
        multi_margin_loss(np.zeros(4), np.int64(4))
    with pytest.raises(ValueError, match=r"^target out of range: target\[0\] = -1, expected 0"):
        multi_margin_loss(np.zeros(4), [-1])
    # 0-d input: one class, so only 0 is valid.
    with pytest.raises(ValueError, match=r"expected 0 <= target < 1 \(the number of classes\)"):
        multi_margin_loss(np.float64(0.5), 1)


MLM_TARGET_MSG = (r"^target must have the shape of input \(5, 4\) "
                  r"\(class indices padded with -1\); got shape ")

MLM_TARGET_ERRORS = [
    pytest.param(np.zeros(5, dtype=np.int64), ValueError, MLM_TARGET_MSG + r"\(5,\)$",
                 id="(N,)"),
    pytest.param(np.zeros(4, dtype=np.int64), ValueError, MLM_TARGET_MSG + r"\(4,\)$",
                 id="(C,)"),
    pytest.param(np.zeros((5, 3), dtype=np.int64), ValueError, MLM_TARGET_MSG + r"\(5, 3\)$",
                 id="wrong-C"),
    pytest.param(np.zeros((5, 5), dtype=np.int64), ValueError, MLM_TARGET_MSG + r"\(5, 5\)$",
                 id="C+1"),
    pytest.param(np.zeros((4, 4), dtype=np.int64), ValueError, MLM_TARGET_MSG + r"\(4, 4\)$",
                 id="wrong-N"),
    pytest.param(np.zeros((4, 5), dtype=np.int64), ValueError, MLM_TARGET_MSG + r"\(4, 5\)$",
                 id="transposed"),
    pytest.param(np.int64(0), ValueError, MLM_TARGET_MSG + r"\(\)$", id="0d"),
    pytest.param(np.zeros((5, 4, 1), dtype=np.int64), ValueError,
                 MLM_TARGET_MSG + r"\(5, 4, 1\)$", id="3d"),
    pytest.param(np.zeros((5, 4)), TypeError,
                 r"^target must be an array of integer class indices, got dtype float64$",
                 id="float"),
    pytest.param(np.zeros((5, 4), dtype=bool), TypeError,
                 r"^target must be an array of integer class indices, got dtype bool$",
                 id="bool"),
    pytest.param([[0.0] * 4] * 5, TypeError, r"got dtype float64$", id="float-list"),
    pytest.param([[0, 1, -1, 0]] * 4 + [[0, 1]], ValueError,
                 r"^target must be array-like with a regular shape", id="ragged"),
]


@pytest.mark.parametrize("entry", MLM_CALLS.values(), ids=MLM_CALLS.keys())
@pytest.mark.parametrize("target, error, match", MLM_TARGET_ERRORS)
def test_multilabel_margin_target_invalid(entry, target, error, match):
    with pytest.raises(error, match=match):
        entry(_scores(), target)


@pytest.mark.parametrize("entry", MLM_CALLS.values(), ids=MLM_CALLS.keys())
@pytest.mark.parametrize(
    "target, shape",
    [
        pytest.param(np.zeros(5, dtype=np.int64), r"\(5,\)", id="C+1"),
        pytest.param(np.zeros((1, 4), dtype=np.int64), r"\(1, 4\)", id="(1,C)"),
        pytest.param(np.int64(0), r"\(\)", id="0d"),
    ],
)
def test_multilabel_margin_target_invalid_1d_input(entry, target, shape):
    match = (r"^target must have the shape of input \(4,\) \(class indices padded with -1\); "
             rf"got shape {shape}$")
    with pytest.raises(ValueError, match=match):
        entry(np.zeros(4), target)


MLM_RANGE_MSG = (r", expected -1 <= target < 4 "
                 r"\(the number of classes; -1 ends a sample's labels\)$")

MLM_RANGE_ERRORS = [
    pytest.param([[3, 0, -1, 1], [1, 2, -2, 0]],
                 r"^target out of range: target\[1, 2\] = -2" + MLM_RANGE_MSG, id="-2"),
    pytest.param([[3, 0, -1, 1], [1, 4, -1, 0]],
                 r"^target out of range: target\[1, 1\] = 4" + MLM_RANGE_MSG, id="C"),
    # Entries after the first -1 are ignored but still range-checked.
    pytest.param([[3, -1, 4, 1], [0, 0, 0, 0]],
                 r"^target out of range: target\[0, 2\] = 4" + MLM_RANGE_MSG, id="C-after-minus1"),
    pytest.param([[0, 0, 0, 0], [-1, -1, -1, -5]],
                 r"^target out of range: target\[1, 3\] = -5" + MLM_RANGE_MSG,
                 id="-5-after-minus1"),
    # The first in row-major order is named.
    pytest.param([[0, 1, 2, 3], [0, 9, -7, 4]],
                 r"^target out of range: target\[1, 1\] = 9" + MLM_RANGE_MSG,
                 id="first-of-several"),
]


@pytest.mark.parametrize("entry", MLM_CALLS.values(), ids=MLM_CALLS.keys())
@pytest.mark.parametrize("target, match", MLM_RANGE_ERRORS)
@pytest.mark.parametrize("target_dtype", [np.int64, np.int32, np.int8], ids=["int64", "int32",
                                                                             "int8"])
def test_multilabel_margin_target_out_of_range(entry, target, match, target_dtype):
    x = np.random.default_rng(3).standard_normal((2, 4))
    with pytest.raises(ValueError, match=match):
        entry(x, np.array(target, dtype=target_dtype))


def test_multilabel_margin_target_out_of_range_1d_input():
    with pytest.raises(ValueError, match=r"^target out of range: target\[2\] = 4, expected -1"):
        multilabel_margin_loss(np.zeros(4), [1, -1, 4, 0])
    with pytest.raises(ValueError, match=r"^target out of range: target\[0\] = -2, expected -1"):
        multilabel_margin_loss_grad(np.zeros(4), [-2, -1, 0, 0])


# ------------------------------------------------------------------ grad_output


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=_ids(BOTH_GRAD_CALLS))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(5,), (1,), (5, 1)], ids=["(N,)", "(1,)", "(N,1)"])
def test_grad_output_not_scalar_for_reduced_loss(name, entry, target, reduction, shape):
    match = (rf"^grad_output must be a scalar \(the loss is a scalar with "
             rf"reduction='{reduction}'\); got shape \({', '.join(map(str, shape))},?\)$")
    with pytest.raises(ValueError, match=match):
        entry(_scores(), target, reduction=reduction, grad_output=np.ones(shape))


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=_ids(BOTH_GRAD_CALLS))
@pytest.mark.parametrize(
    "shape, shown",
    [((4,), r"\(4,\)"), ((6,), r"\(6,\)"), ((5, 1), r"\(5, 1\)"), ((1, 5), r"\(1, 5\)"),
     ((5, 4), r"\(5, 4\)"), ((0,), r"\(0,\)")],
    ids=["N-1", "N+1", "(N,1)", "(1,N)", "(N,C)", "empty"],
)
def test_grad_output_wrong_shape_for_none(name, entry, target, shape, shown):
    match = (r"^grad_output must be a scalar or an array of the loss's shape \(5,\); "
             rf"got shape {shown}$")
    with pytest.raises(ValueError, match=match):
        entry(_scores(), target, reduction="none", grad_output=np.ones(shape))


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=_ids(BOTH_GRAD_CALLS))
@pytest.mark.parametrize(
    "grad_output, shown",
    [
        pytest.param(1j, "complex128", id="complex-scalar"),
        pytest.param(np.ones(5, dtype=np.complex64), "complex64", id="complex-array"),
        pytest.param("1", "<U1", id="str"),
        pytest.param(None, "object", id="None"),
    ],
)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_grad_output_wrong_dtype(name, entry, target, grad_output, shown, reduction):
    with pytest.raises(TypeError, match=rf"^grad_output must be real, got dtype {shown}$"):
        entry(_scores(), target, reduction=reduction, grad_output=grad_output)


def test_grad_output_ragged():
    with pytest.raises(ValueError, match=r"^grad_output must be array-like with a regular shape"):
        multi_margin_loss_grad(_scores(), MM_TARGET, reduction="none",
                               grad_output=[[1.0], [1.0, 2.0]])


def test_grad_output_none_shape_follows_target_shape():
    # 0-d target, 'none': the loss is 0-d, so a (1,) grad_output does not fit.
    x = np.zeros((1, 4))
    with pytest.raises(ValueError, match=r"loss's shape \(\); got shape \(1,\)$"):
        multi_margin_loss_grad(x, np.int64(1), reduction="none", grad_output=np.ones(1))
    # 1-D MLM input: 'none' loss is 0-d.
    with pytest.raises(ValueError, match=r"loss's shape \(\); got shape \(1,\)$"):
        multilabel_margin_loss_grad(np.zeros(4), [0, -1, -1, -1], reduction="none",
                                    grad_output=np.ones(1))


# ------------------------------------------------------------------ out

OUT_ERRORS = [
    pytest.param(lambda: [[0.0] * 4] * 5, TypeError, r"^out must be a NumPy array, got list$",
                 id="list"),
    pytest.param(lambda: (0.0,) * 20, TypeError, r"^out must be a NumPy array, got tuple$",
                 id="tuple"),
    pytest.param(lambda: np.zeros((4, 5)), ValueError,
                 r"^out must have the input's shape \(5, 4\), got shape \(4, 5\)$",
                 id="transposed"),
    pytest.param(lambda: np.zeros(20), ValueError,
                 r"^out must have the input's shape \(5, 4\), got shape \(20,\)$", id="flat"),
    pytest.param(lambda: np.zeros((5, 4, 1)), ValueError, r"got shape \(5, 4, 1\)$", id="3d"),
    pytest.param(lambda: np.zeros((5, 4), dtype=np.float32), TypeError,
                 r"^out must have dtype float64 \(the computation's dtype\), got float32$",
                 id="float32"),
    pytest.param(lambda: np.zeros((5, 4), dtype=np.longdouble), TypeError,
                 r"^out must have dtype float64 \(the computation's dtype\), got float128$",
                 id="longdouble"),
    pytest.param(lambda: np.zeros((5, 4), dtype=np.int64), TypeError, r"got int64$", id="int64"),
    pytest.param(lambda: np.zeros((5, 4), dtype=">f8"), TypeError,
                 r"^out must have dtype float64 \(the computation's dtype\), got >f8$",
                 id="big-endian"),
    pytest.param(lambda: np.zeros((5, 4), order="F"), ValueError,
                 r"^out must be C-contiguous, got an array with strides \(8, 40\) "
                 r"\(Fortran-ordered\)$", id="fortran"),
    pytest.param(lambda: np.zeros((5, 8))[:, ::2], ValueError,
                 r"^out must be C-contiguous, got an array with strides \(64, 16\) "
                 r"\(not contiguous\)$", id="strided-columns"),
    pytest.param(lambda: np.zeros((10, 4))[::2], ValueError,
                 r"^out must be C-contiguous, got an array with strides \(64, 8\) "
                 r"\(not contiguous\)$", id="strided-rows"),
    pytest.param(lambda: np.zeros((4, 5)).T, ValueError,
                 r"^out must be C-contiguous, got an array with strides \(8, 40\) "
                 r"\(Fortran-ordered\)$", id="transposed-view"),
    pytest.param(lambda: _read_only(np.zeros((5, 4))), ValueError,
                 r"^out must be writeable, got a read-only array$", id="read-only"),
]


def _read_only(array):
    array.flags.writeable = False
    return array


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=_ids(BOTH_GRAD_CALLS))
@pytest.mark.parametrize("make_out, error, match", OUT_ERRORS)
def test_out_invalid(name, entry, target, make_out, error, match):
    out = make_out()
    with pytest.raises(error, match=match):
        entry(_scores(), target, out=out)


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=_ids(BOTH_GRAD_CALLS))
@pytest.mark.parametrize("input_dtype, out_dtype", [(np.float16, np.float16),
                                                    (np.float16, np.float64),
                                                    (np.int32, np.int32),
                                                    (np.int32, np.float32),
                                                    (np.float32, np.float64)],
                         ids=["f16-out-f16", "f16-out-f64", "i32-out-i32", "i32-out-f32",
                              "f32-out-f64"])
def test_out_dtype_is_the_computation_dtype(name, entry, target, input_dtype, out_dtype):
    expected = "float32" if input_dtype in (np.float16, np.float32) else "float64"
    x = (_scores() * 3).astype(input_dtype)
    with pytest.raises(TypeError, match=rf"^out must have dtype {expected} \(the computation's"):
        entry(x, target, out=np.zeros(x.shape, dtype=out_dtype))


# ------------------------------------------------------------------ n_threads

N_THREADS_MSG = (r"^n_threads must be None, a positive int or a negative int \(-1 = all cores\), "
                 r"got ")

N_THREADS_ERRORS = [
    pytest.param(0, ValueError, N_THREADS_MSG + r"0$", id="0"),
    pytest.param(np.int64(0), ValueError, N_THREADS_MSG + r"0$", id="np.int64-0"),
    pytest.param(1.5, TypeError, N_THREADS_MSG + r"float 1\.5$", id="1.5"),
    pytest.param(2.0, TypeError, N_THREADS_MSG + r"float 2\.0$", id="2.0"),
    pytest.param("2", TypeError, N_THREADS_MSG + r"str '2'$", id="str"),
    pytest.param(True, TypeError, N_THREADS_MSG + r"bool True$", id="True"),
    pytest.param(False, TypeError, N_THREADS_MSG + r"bool False$", id="False"),
]


@pytest.mark.parametrize("entry", ALL_SETTINGS.values(), ids=ALL_SETTINGS.keys())
@pytest.mark.parametrize("n_threads, error, match", N_THREADS_ERRORS)
def test_n_threads_invalid(entry, n_threads, error, match):
    with pytest.raises(error, match=match):
        entry(n_threads=n_threads)


@pytest.mark.parametrize("n_threads", [None, 1, 2, 64, -1, -2, -1000, np.int32(2)],
                         ids=["None", "1", "2", "64", "-1", "-2", "-1000", "np.int32"])
def test_n_threads_accepted(n_threads):
    assert MultiMarginLoss(n_threads=n_threads).n_threads == n_threads
    assert MultiLabelMarginLoss(n_threads=n_threads).n_threads == n_threads
    multi_margin_loss(_scores(), MM_TARGET, n_threads=n_threads)
    multilabel_margin_loss(_scores(), MLM_TARGET, n_threads=n_threads)


# ------------------------------------------------------------------ nothing runs on error

SENTINEL = -12345.0

# (id, loss, kwargs making the call invalid) for gradient calls with a valid out.
NO_WRITE_CASES = [
    ("mm-target-out-of-range", "mm", dict(target=np.array([0, 1, 2, 7, 0]))),
    ("mm-target-wrong-shape", "mm", dict(target=np.zeros(4, dtype=np.int64))),
    ("mm-target-float", "mm", dict(target=np.zeros(5))),
    ("mm-weight-wrong-length", "mm", dict(weight=np.ones(5))),
    ("mm-weight-nan", "mm", dict(weight=[1.0, np.nan, 1.0, 1.0])),
    ("mm-p", "mm", dict(p=3)),
    ("mm-margin", "mm", dict(margin=np.nan)),
    ("mm-reduction", "mm", dict(reduction="abc")),
    ("mm-n_threads", "mm", dict(n_threads=0)),
    ("mm-grad_output-shape", "mm", dict(reduction="none", grad_output=np.ones(4))),
    ("mm-grad_output-dtype", "mm", dict(grad_output=1j)),
    ("mlm-target-out-of-range", "mlm", dict(target=np.where(MLM_TARGET == 2, 4, MLM_TARGET))),
    ("mlm-target-after-minus1", "mlm",
     dict(target=np.vstack([MLM_TARGET[:4], [[0, -1, -2, 0]]]))),
    ("mlm-target-wrong-shape", "mlm", dict(target=MLM_TARGET[:, :3])),
    ("mlm-target-bool", "mlm", dict(target=MLM_TARGET > 0)),
    ("mlm-reduction", "mlm", dict(reduction=None)),
    ("mlm-n_threads", "mlm", dict(n_threads=1.0)),
    ("mlm-grad_output-shape", "mlm", dict(reduction="mean", grad_output=np.ones(5))),
]


@pytest.mark.parametrize("case, loss, bad", NO_WRITE_CASES, ids=[c[0] for c in NO_WRITE_CASES])
@pytest.mark.parametrize("and_loss", [False, True], ids=["grad", "and_grad"])
def test_error_writes_nothing(case, loss, bad, and_loss):
    x = _scores()
    x_copy = x.copy()
    kwargs = dict(bad)
    target = kwargs.pop("target", MM_TARGET if loss == "mm" else MLM_TARGET)
    target_copy = np.array(target, copy=True)
    out = np.full_like(x, SENTINEL)
    if loss == "mm":
        f = multi_margin_loss_and_grad if and_loss else multi_margin_loss_grad
    else:
        f = multilabel_margin_loss_and_grad if and_loss else multilabel_margin_loss_grad
    with pytest.raises((ValueError, TypeError)):
        f(x, target, out=out, **kwargs)
    assert np.all(out == SENTINEL)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(target, target_copy)


@pytest.mark.parametrize("and_loss", [False, True], ids=["gradient", "loss_and_gradient"])
def test_error_writes_nothing_class_methods(and_loss):
    x = _scores()
    out = np.full_like(x, SENTINEL)
    mm = MultiMarginLoss(weight=np.arange(1.0, 5.0))
    mlm = MultiLabelMarginLoss(reduction="none")
    method = "loss_and_gradient" if and_loss else "gradient"
    with pytest.raises(ValueError, match=r"target\[4\] = 4"):
        getattr(mm, method)(x, [0, 1, 2, 3, 4], out=out)
    with pytest.raises(ValueError, match=r"loss's shape \(5,\); got shape \(3,\)"):
        getattr(mlm, method)(x, MLM_TARGET, grad_output=np.ones(3), out=out)
    assert np.all(out == SENTINEL)


def test_bad_out_writes_nothing_into_input():
    # The out check fails after the arrays are validated; the input must still be untouched,
    # even when the offending out is a (read-only) view of the input itself.
    x = _scores()
    x_copy = x.copy()
    view = x.view()
    view.flags.writeable = False
    for f, t in ((multi_margin_loss_grad, MM_TARGET), (multilabel_margin_loss_grad, MLM_TARGET)):
        with pytest.raises(ValueError, match=r"^out must be writeable, got a read-only array$"):
            f(x, t, out=view)
        with pytest.raises(ValueError, match=r"^out must be C-contiguous, got .*Fortran-ordered"):
            f(x, t, out=np.asfortranarray(x))
    np.testing.assert_array_equal(x, x_copy)


# ------------------------------------------------------------------ legacy size_average / reduce

LEGACY_ROWS = [
    (size_average, reduce)
    for size_average in (None, True, False)
    for reduce in (None, True, False)
    if not (size_average is None and reduce is None)
]


def _legacy_id(row):
    return f"size_average={row[0]}-reduce={row[1]}"


def _torch_legacy_reduction(size_average, reduce, loss):
    """Which reduction torch.nn.functional picks, found by running it."""
    import torch
    F = torch.nn.functional
    x = torch.from_numpy(_scores())
    if loss == "mm":
        t = torch.from_numpy(MM_TARGET)
        fn = F.multi_margin_loss
    else:
        t = torch.from_numpy(MLM_TARGET)
        fn = F.multilabel_margin_loss
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = fn(x, t, size_average=size_average, reduce=reduce)
    matches = [r for r in ("none", "mean", "sum")
               if fn(x, t, reduction=r).shape == legacy.shape
               and torch.equal(fn(x, t, reduction=r), legacy)]
    assert len(matches) == 1, matches
    return matches[0], legacy.numpy()


LEGACY_MSG = r"size_average and reduce are deprecated \(as in PyTorch\); use reduction='{}'"


@pytest.mark.parametrize("loss", ["mm", "mlm"])
@pytest.mark.parametrize("row", LEGACY_ROWS, ids=[_legacy_id(r) for r in LEGACY_ROWS])
def test_legacy_mapping_functions(loss, row):
    size_average, reduce = row
    expected, torch_value = _torch_legacy_reduction(size_average, reduce, loss)
    x = _scores()
    target = MM_TARGET if loss == "mm" else MLM_TARGET
    functions = MM_FUNCTIONS if loss == "mm" else MLM_FUNCTIONS
    for name, f in functions.items():
        # reduction= is overridden by the legacy arguments, as in PyTorch.
        for reduction in ("mean", "none", "sum"):
            with pytest.warns(DeprecationWarning, match=LEGACY_MSG.format(expected)) as record:
                legacy = f(x, target, reduction=reduction, size_average=size_average,
                           reduce=reduce)
            assert len(record) == 1
            # stacklevel points at the caller.
            assert record[0].filename == __file__, name
            modern = f(x, target, reduction=expected)
            if name.endswith("_and_grad"):
                np.testing.assert_array_equal(legacy[0], modern[0])
                np.testing.assert_array_equal(legacy[1], modern[1])
                legacy = legacy[0]
            else:
                np.testing.assert_array_equal(legacy, modern)
            if not name.endswith("_grad"):
                np.testing.assert_allclose(legacy, torch_value, rtol=1e-14, atol=1e-15)
                assert np.shape(legacy) == torch_value.shape


@pytest.mark.parametrize("loss", ["mm", "mlm"])
@pytest.mark.parametrize("row", LEGACY_ROWS, ids=[_legacy_id(r) for r in LEGACY_ROWS])
def test_legacy_mapping_constructors(loss, row):
    size_average, reduce = row
    expected, _ = _torch_legacy_reduction(size_average, reduce, loss)
    cls = MultiMarginLoss if loss == "mm" else MultiLabelMarginLoss
    with pytest.warns(DeprecationWarning, match=LEGACY_MSG.format(expected)) as record:
        obj = cls(size_average=size_average, reduce=reduce)
    assert len(record) == 1
    assert record[0].filename == __file__
    assert obj.reduction == expected
    with pytest.warns(DeprecationWarning):
        assert cls(reduction="sum", size_average=size_average, reduce=reduce).reduction == expected
    # The torch modules agree.
    import torch
    torch_cls = torch.nn.MultiMarginLoss if loss == "mm" else torch.nn.MultiLabelMarginLoss
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch_cls(size_average=size_average, reduce=reduce).reduction == expected


@pytest.mark.parametrize("entry", ALL_SETTINGS.values(), ids=ALL_SETTINGS.keys())
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_legacy_both_none_no_warning(entry, reduction):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entry(reduction=reduction, size_average=None, reduce=None)


@pytest.mark.parametrize("entry", ALL_SETTINGS.values(), ids=ALL_SETTINGS.keys())
def test_elementwise_mean_is_mean_with_warning(entry):
    with pytest.warns(DeprecationWarning,
                      match=r"reduction='elementwise_mean' is deprecated.*use reduction='mean'"
                      ) as record:
        result = entry(reduction="elementwise_mean")
    assert len(record) == 1
    assert record[0].filename == __file__
    if isinstance(result, (MultiMarginLoss, MultiLabelMarginLoss)):
        assert result.reduction == "mean"
    else:
        expected = entry(reduction="mean")
        if isinstance(result, tuple):
            np.testing.assert_array_equal(result[0], expected[0])
            np.testing.assert_array_equal(result[1], expected[1])
        else:
            np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("entry", ALL_SETTINGS.values(), ids=ALL_SETTINGS.keys())
@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param(dict(size_average="yes"), r"^size_average must be None or a bool, got str",
                     id="size_average-str"),
        pytest.param(dict(reduce=[False]), r"^reduce must be None or a bool, got list \[False\]$",
                     id="reduce-list"),
    ],
)
def test_legacy_wrong_type(entry, kwargs, match):
    with pytest.raises(TypeError, match=match):
        entry(**kwargs)


def test_settings_are_keyword_only():
    # n_threads (and size_average, reduce) are keyword-only everywhere.
    x = _scores()
    with pytest.raises(TypeError):
        multi_margin_loss(x, MM_TARGET, 1, 1.0, None, "mean", None)
    with pytest.raises(TypeError):
        multi_margin_loss_grad(x, MM_TARGET, 1, 1.0, None, "mean", 1.0)
    with pytest.raises(TypeError):
        multilabel_margin_loss(x, MLM_TARGET, "mean", None)
    with pytest.raises(TypeError):
        multilabel_margin_loss_and_grad(x, MLM_TARGET, "mean", 1.0)
    with pytest.raises(TypeError):
        MultiMarginLoss(1, 1.0, None, "mean", None)
    with pytest.raises(TypeError):
        MultiLabelMarginLoss("mean", None)
