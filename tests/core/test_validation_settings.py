"""Every error path of the settings (p, reduction, margin, weight, n_threads), and the legacy size_average/reduce mapping.

Each error must be raised by the Python layer before any kernel runs, name the
argument, what was expected and what was given: ValueError for values and
shapes, TypeError for types and dtypes.  Constructors validate at once.  The
arrays' error paths: ``test_validation_arrays.py``.
"""

import math
import warnings

import numpy as np
import pytest
from _helpers import (
    ALL_SETTINGS,
    MLM_FUNCTIONS,
    MLM_TARGET,
    MM_FUNCTIONS,
    MM_SETTINGS,
    MM_TARGET,
    MULTI_CLASS_CALLS,
    N_CLASSES,
    N_SAMPLES,
    scores,
)

from marginloss import (
    MultiLabelMarginLoss,
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
)


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
    multi_margin_loss(scores(), MM_TARGET, p=p)


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
    multi_margin_loss(scores(), MM_TARGET, margin=margin)


def test_margin_checked_against_the_computation_dtype():
    # float16 scores are computed in float32, so a margin beyond float16's range
    # (65504) is fine.
    x = scores(np.float16)
    np.testing.assert_array_equal(
        multi_margin_loss(x, MM_TARGET, margin=1e5, reduction="none"),
        multi_margin_loss(x.astype(np.float32), MM_TARGET, margin=1e5, reduction="none"))


@pytest.mark.parametrize("entry", MULTI_CLASS_CALLS.values(),
                         ids=MULTI_CLASS_CALLS.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_margin_overflows_float32_at_call_time(entry, dtype):
    x = scores(dtype)
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
            multi_margin_loss(scores(np.float32), MM_TARGET, margin=1e39)


def test_margin_overflow_constructor_is_fine_until_called():
    loss = MultiMarginLoss(margin=1e39)
    assert loss.margin == 1e39
    assert np.isfinite(loss(scores(np.float64), MM_TARGET))
    with pytest.raises(ValueError, match=r"overflows float32"):
        loss(scores(np.float32), MM_TARGET)


def test_margin_overflow_writes_nothing():
    x = scores(np.float32)
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


@pytest.mark.parametrize("entry", MULTI_CLASS_CALLS.values(),
                         ids=MULTI_CLASS_CALLS.keys())
@pytest.mark.parametrize("length", [N_CLASSES + 1, N_CLASSES - 1, 1], ids=["C+1", "C-1", "1"])
def test_weight_wrong_length_for_input(entry, length):
    match = (r"^weight must have one entry per class: expected shape \(4,\), "
             rf"got shape \({length},\)$")
    with pytest.raises(ValueError, match=match):
        entry(scores(), MM_TARGET, weight=np.ones(length))


def test_weight_wrong_length_constructor_is_fine_until_called():
    loss = MultiMarginLoss(weight=np.ones(N_CLASSES + 1))
    with pytest.raises(ValueError, match=r"expected shape \(4,\), got shape \(5,\)"):
        loss(scores(), MM_TARGET)
    # ... and it suits an input with 5 classes.
    loss(np.zeros((2, N_CLASSES + 1)), [0, 4])


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
    multi_margin_loss(scores(), MM_TARGET, n_threads=n_threads)
    multilabel_margin_loss(scores(), MLM_TARGET, n_threads=n_threads)


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
    x = torch.from_numpy(scores())
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
    x = scores()
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
    # stacklevel points at the caller: the entry point's lambda in _helpers.py.
    assert record[0].filename == entry.__code__.co_filename
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
    x = scores()
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
