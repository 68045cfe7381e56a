"""Every error path of the arrays (input, target, grad_output, out), and that a failing call writes nothing.

Each error must be raised by the Python layer before any kernel runs, name the
argument, what was expected and what was given: ValueError for values and
shapes, TypeError for types and dtypes.  The settings' error paths:
``test_validation_settings.py``.
"""

import numpy as np
import pytest
from _helpers import (
    BOTH_CALLS,
    BOTH_GRAD_CALLS,
    MLM_CALLS,
    MLM_TARGET,
    MM_TARGET,
    MULTI_CLASS_CALLS,
    ids,
    scores,
)

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


@pytest.mark.parametrize("name, entry, target", BOTH_CALLS, ids=ids(BOTH_CALLS))
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


@pytest.mark.parametrize("entry", MULTI_CLASS_CALLS.values(),
                         ids=MULTI_CLASS_CALLS.keys())
@pytest.mark.parametrize("target, error, match", MM_TARGET_ERRORS)
def test_multi_margin_target_invalid(entry, target, error, match):
    with pytest.raises(error, match=match):
        entry(scores(), target)


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


@pytest.mark.parametrize("entry", MULTI_CLASS_CALLS.values(),
                         ids=MULTI_CLASS_CALLS.keys())
@pytest.mark.parametrize("target, match", MM_RANGE_ERRORS)
def test_multi_margin_target_out_of_range(entry, target, match):
    with pytest.raises(ValueError, match=match):
        entry(scores(), target)


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
        entry(scores(), target)


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


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=ids(BOTH_GRAD_CALLS))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(5,), (1,), (5, 1)], ids=["(N,)", "(1,)", "(N,1)"])
def test_grad_output_not_scalar_for_reduced_loss(name, entry, target, reduction, shape):
    match = (rf"^grad_output must be a scalar \(the loss is a scalar with "
             rf"reduction='{reduction}'\); got shape \({', '.join(map(str, shape))},?\)$")
    with pytest.raises(ValueError, match=match):
        entry(scores(), target, reduction=reduction, grad_output=np.ones(shape))


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=ids(BOTH_GRAD_CALLS))
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
        entry(scores(), target, reduction="none", grad_output=np.ones(shape))


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=ids(BOTH_GRAD_CALLS))
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
        entry(scores(), target, reduction=reduction, grad_output=grad_output)


def test_grad_output_ragged():
    with pytest.raises(ValueError, match=r"^grad_output must be array-like with a regular shape"):
        multi_margin_loss_grad(scores(), MM_TARGET, reduction="none",
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


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=ids(BOTH_GRAD_CALLS))
@pytest.mark.parametrize("make_out, error, match", OUT_ERRORS)
def test_out_invalid(name, entry, target, make_out, error, match):
    out = make_out()
    with pytest.raises(error, match=match):
        entry(scores(), target, out=out)


@pytest.mark.parametrize("name, entry, target", BOTH_GRAD_CALLS, ids=ids(BOTH_GRAD_CALLS))
@pytest.mark.parametrize("input_dtype, out_dtype", [(np.float16, np.float16),
                                                    (np.float16, np.float64),
                                                    (np.int32, np.int32),
                                                    (np.int32, np.float32),
                                                    (np.float32, np.float64)],
                         ids=["f16-out-f16", "f16-out-f64", "i32-out-i32", "i32-out-f32",
                              "f32-out-f64"])
def test_out_dtype_is_the_computation_dtype(name, entry, target, input_dtype, out_dtype):
    expected = "float32" if input_dtype in (np.float16, np.float32) else "float64"
    x = (scores() * 3).astype(input_dtype)
    with pytest.raises(TypeError, match=rf"^out must have dtype {expected} \(the computation's"):
        entry(x, target, out=np.zeros(x.shape, dtype=out_dtype))


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
    x = scores()
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
    x = scores()
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
    x = scores()
    x_copy = x.copy()
    view = x.view()
    view.flags.writeable = False
    for f, t in ((multi_margin_loss_grad, MM_TARGET), (multilabel_margin_loss_grad, MLM_TARGET)):
        with pytest.raises(ValueError, match=r"^out must be writeable, got a read-only array$"):
            f(x, t, out=view)
        with pytest.raises(ValueError, match=r"^out must be C-contiguous, got .*Fortran-ordered"):
            f(x, t, out=np.asfortranarray(x))
    np.testing.assert_array_equal(x, x_copy)
