"""Special values: NaN, infinities, signed zeros, empty batches, float32 overflow.

A NaN score makes its row's loss and gradient NaN and leaves the other rows
alone; infinities give what the formulas give (inf - inf inside a term is a
NaN row); an empty batch gives NaN for 'mean' and 0 for 'sum', without a
warning; signed zeros and an infinite ``grad_output`` come out as PyTorch's.
"""

import warnings

import numpy as np
import pytest
from _helpers import ALL_LOSSES, CS, FLOAT_DTYPES, MLM, MM, REDUCTIONS, assert_bitwise

from marginloss import (
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)


# ================================================================== (f) NaN and infinities


def _nan_case(rng, loss_cls, dtype):
    x = rng.uniform(-1, 1, (5, 4)).astype(dtype)
    if loss_cls.class_target:
        target = np.array([0, 1, 2, 3, 1])
    else:
        target = np.array([[1, -1, -1, -1], [1, 3, -1, -1], [2, -1, 0, 0], [-1, 1, 2, 3],
                           [0, 1, 2, 3]])
    return x, target


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("column", range(4))
@pytest.mark.parametrize("row", [1, 2, 3])
def test_nan_anywhere_in_a_row(rng, loss_cls, dtype, column, row):
    # Row 1: MM target 1 / MLM labels {1, 3}; row 2: target 2 / labels {2};
    # row 3: MM target 3 / MLM no labels at all.  The NaN is at a target or not.
    x, target = _nan_case(rng, loss_cls, dtype)
    clean_loss, clean_grad = loss_cls.loss_and_grad(x, target, reduction="none")
    x[row, column] = np.nan
    for reduction in REDUCTIONS:
        loss, grad = loss_cls.loss_and_grad(x, target, reduction=reduction)
        assert np.all(np.isnan(grad[row]))
        others = np.arange(5) != row
        if reduction == "none":
            assert np.isnan(loss[row])
            assert_bitwise(loss[others], clean_loss[others])
            assert_bitwise(grad[others], clean_grad[others])
        else:
            assert np.isnan(loss)
            scale = np.asarray(1 / 5 if reduction == "mean" else 1.0)
            np.testing.assert_allclose(grad[others], clean_grad[others] * scale, rtol=1e-6)
        assert_bitwise(loss_cls.loss(x, target, reduction=reduction), loss)


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_nan_single_class_rows(loss_cls, dtype):
    # C = 1: the row is only the target (or only a -1 for MLM).
    x = np.array([[0.5], [np.nan], [-2.0]], dtype=dtype)
    target = np.array([0, 0, 0]) if loss_cls.class_target else np.array([[0], [0], [-1]])
    loss, grad = loss_cls.loss_and_grad(x, target, reduction="none")
    assert_bitwise(loss, np.array([0.0, np.nan, 0.0], dtype=dtype))
    assert np.isnan(grad[1, 0])
    assert grad[0, 0] == 0 and grad[2, 0] == 0
    if loss_cls is MLM:
        x = np.array([[np.nan]], dtype=dtype)
        loss, grad = loss_cls.loss_and_grad(x, [[-1]], reduction="sum")
        assert np.isnan(loss) and np.isnan(grad[0, 0])


# (loss, settings, target): row 0 pairs a target at +inf with another class at +inf.
INF_MINUS_INF_CASES = [
    pytest.param(loss_cls, dict(p=p), [0, 2], id=f"{loss_cls.__name__}-p{p}")
    for loss_cls in (MM, CS) for p in (1, 2)
] + [pytest.param(MLM, {}, [[0, -1, -1], [2, -1, -1]], id="MLM")]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("loss_cls, settings, target", INF_MINUS_INF_CASES)
def test_inf_minus_inf_term_is_a_nan_row(dtype, loss_cls, settings, target):
    # x[y] = +inf and x[i] = +inf: z = (m - inf) + inf = NaN (PyTorch's multi-label
    # loss drops such a term; here the row is NaN, as for any NaN term).
    x = np.array([[np.inf, np.inf, 0.0], [0.1, 0.2, 0.3]], dtype=dtype)
    loss, grad = loss_cls.loss_and_grad(x, target, reduction="none", **settings)
    assert np.isnan(loss[0]) and np.all(np.isnan(grad[0]))
    clean_loss, clean_grad = loss_cls.loss_and_grad(x[1:], target[1:], reduction="none",
                                                    **settings)
    assert_bitwise(loss[1:], clean_loss)
    assert_bitwise(grad[1:], clean_grad)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("grad_output", [2.0, -2.0, np.inf])
def test_gradient_signed_zeros_and_infinite_grad_output_as_torch(dtype, grad_output):
    # PyTorch multiplies by grad_output last: an inactive entry is 0 * grad_output
    # (+0, -0 or NaN), even with a negative class weight; the target entry of a row
    # with no active term is (0 - 0) * grad_output.
    import torch  # the test oracle, a required test dependency

    F = torch.nn.functional
    x = np.array([[0.0, 5.0, 0.2, -3.0], [9.0, 0.0, 0.0, 0.0]], dtype=dtype)
    weight = np.array([-1.0, 2.0, 0.5, 1.0], dtype=dtype)
    y = np.array([1, 0])
    mm = multi_margin_loss_grad(x, y, weight=weight, reduction="sum", grad_output=grad_output)
    xt = torch.tensor(x, requires_grad=True)
    F.multi_margin_loss(xt, torch.tensor(y), weight=torch.tensor(weight),
                        reduction="sum").backward(torch.tensor(grad_output, dtype=xt.dtype))
    expected = xt.grad.numpy()
    np.testing.assert_array_equal(np.signbit(mm), np.signbit(expected))
    np.testing.assert_array_equal(np.isnan(mm), np.isnan(expected))
    np.testing.assert_allclose(mm, expected, rtol=1e-6)
    t = np.array([[1, -1, -1, -1], [0, 2, -1, -1]])
    ml = multilabel_margin_loss_grad(x, t, reduction="sum", grad_output=grad_output)
    xt = torch.tensor(x, requires_grad=True)
    F.multilabel_margin_loss(xt, torch.tensor(t), reduction="sum").backward(
        torch.tensor(grad_output, dtype=xt.dtype))
    expected = xt.grad.numpy()
    np.testing.assert_array_equal(np.signbit(ml), np.signbit(expected))
    np.testing.assert_array_equal(np.isnan(ml), np.isnan(expected))
    np.testing.assert_allclose(ml, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_inf_at_target_alone_is_fine(dtype):
    # x[y] = +inf, the others finite: every z = -inf, inactive: loss 0, gradient 0.
    x = np.array([[np.inf, 0.0, 1.0]], dtype=dtype)
    loss, grad = multi_margin_loss_and_grad(x, [0], reduction="sum")
    assert loss == 0 and np.all(grad == 0)
    loss, grad = multilabel_margin_loss_and_grad(x, [[0, -1, -1]], reduction="sum")
    assert loss == 0 and np.all(grad == 0)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_inf_at_non_target_p1(dtype, reduction):
    # +inf at a non-target, p = 1: inf loss, finite gradient (each active term is +-1/C).
    x = np.array([[0.0, np.inf, 0.0], [0.0, 0.0, 0.0]], dtype=dtype)
    scale = 1 / 6 if reduction == "mean" else 1 / 3
    loss, grad = multi_margin_loss_and_grad(x, [0, 0], reduction=reduction)
    assert np.isposinf(loss[0] if reduction == "none" else loss)
    # row 0: z = 1 + inf, 1 + 0 -> both active: [-2, 1, 1] / C
    np.testing.assert_allclose(grad, np.array([[-2, 1, 1], [-2, 1, 1]]) * scale, rtol=1e-7)
    loss, grad = multilabel_margin_loss_and_grad(x, [[0, -1, -1], [0, -1, -1]],
                                                 reduction=reduction)
    assert np.isposinf(loss[0] if reduction == "none" else loss)
    np.testing.assert_allclose(grad, np.array([[-2, 1, 1], [-2, 1, 1]]) * scale, rtol=1e-7)


def test_inf_at_non_target_p2_gradient():
    # p = 2: the gradient of z^2 at z = inf is inf (the target entry -inf).
    x = np.array([[0.0, np.inf, 0.0]])
    loss, grad = multi_margin_loss_and_grad(x, [0], p=2, reduction="sum")
    assert np.isposinf(loss)
    assert np.isneginf(grad[0, 0]) and np.isposinf(grad[0, 1]) and np.isfinite(grad[0, 2])


# ================================================================== (g) empty batch


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [1, 3])
def test_empty_batch(loss_cls, dtype, n_classes):
    x = np.zeros((0, n_classes), dtype=dtype)
    target = np.zeros((0,) if loss_cls.class_target else (0, n_classes), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean = loss_cls.loss(x, target, reduction="mean")
        total = loss_cls.loss(x, target, reduction="sum")
        none = loss_cls.loss(x, target, reduction="none")
        grads = {r: loss_cls.loss_and_grad(x, target, reduction=r) for r in REDUCTIONS}
        grad_none = loss_cls.grad(x, target, reduction="none", grad_output=np.ones(0))
    assert isinstance(mean, dtype) and np.isnan(mean)
    assert isinstance(total, dtype) and total == 0.0
    assert none.shape == (0,) and none.dtype == dtype
    for reduction, (loss, grad) in grads.items():
        assert grad.shape == (0, n_classes) and grad.dtype == dtype
        assert np.asarray(loss).dtype == dtype
    assert np.isnan(grads["mean"][0]) and grads["sum"][0] == 0.0
    assert grad_none.shape == (0, n_classes)


def test_empty_batch_mm_list_target():
    # An empty list is an empty int target.
    assert multi_margin_loss(np.zeros((0, 3)), [], reduction="sum") == 0.0


# ================================================================== float32 overflow, signed zeros


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_float32_result_beyond_range_is_inf_without_warning(reduction):
    import torch  # the test oracle
    import torch.nn.functional as F

    # Finite in float64, beyond float32's range: inf, as PyTorch, with no warning or
    # FloatingPointError even when the caller asks NumPy to raise on overflow.
    x = np.array([[0.0, 1e20]], dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        loss, grad = multi_margin_loss_and_grad(x, [0], p=2, reduction=reduction)
    assert np.isposinf(loss).all() and loss.dtype == np.float32
    expected = F.multi_margin_loss(torch.tensor(x), torch.tensor([0]), p=2,
                                   reduction=reduction)
    assert np.isposinf(expected.numpy()).all()
    xt = torch.tensor(x, requires_grad=True)
    F.multi_margin_loss(xt, torch.tensor([0]), p=2, reduction=reduction).sum().backward()
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-6)


def test_loss_of_inactive_row_with_negative_weight_is_plus_zero_as_torch():
    import torch  # the test oracle
    import torch.nn.functional as F

    x = np.array([[0.0, 5.0]])
    weight = np.array([1.0, -1.0])
    loss = multi_margin_loss(x, [1], weight=weight, reduction="none")
    expected = F.multi_margin_loss(torch.tensor(x), torch.tensor([1]),
                                   weight=torch.tensor(weight), reduction="none").numpy()
    assert loss[0] == 0 and not np.signbit(loss[0]) and not np.signbit(expected[0])
