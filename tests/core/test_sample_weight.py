"""``sample_weight``: per-sample weights on every loss function and method.

The oracle is PyTorch's per-sample losses (reduction='none') weighted in
float64 (``_reference.torch_weighted``), ``np.average`` for 'mean', and
autograd through that weighted objective for the gradient.
"""

import numpy as np
import pytest
from _reference import torch_weighted

import marginloss
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

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-11}


def _multi_margin_problem(rng, n_samples, n_classes, dtype):
    x = rng.normal(scale=0.7, size=(n_samples, n_classes)).astype(dtype)
    y = rng.integers(0, n_classes, n_samples)
    return x, y


def _multilabel_problem(rng, n_samples, n_classes, dtype):
    x = rng.normal(scale=0.7, size=(n_samples, n_classes)).astype(dtype)
    t = np.full((n_samples, n_classes), -1)
    for n in range(n_samples):
        k = rng.integers(0, n_classes + 1)
        t[n, :k] = rng.permutation(n_classes)[:k]
    return x, t


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("with_class_weight", [False, True], ids=["", "class-weight"])
def test_multi_margin_weighted_matches_torch(dtype, reduction, p, with_class_weight):
    rng = np.random.default_rng([p, len(reduction), with_class_weight])
    for n_samples, n_classes in [(1, 3), (7, 5), (40, 17), (300, 100)]:
        x, y = _multi_margin_problem(rng, n_samples, n_classes, dtype)
        s = rng.uniform(0, 3, n_samples)
        s[::4] = 0.0
        if reduction == "mean" and not s.sum() > 0:
            s[0] = 1.0
        weight = rng.uniform(0.5, 2.0, n_classes) if with_class_weight else None
        grad_output = rng.normal(size=n_samples) if reduction == "none" else 1.7
        loss, grad = multi_margin_loss_and_grad(
            x, y, p=p, weight=weight, reduction=reduction, sample_weight=s,
            grad_output=grad_output)
        t_loss, t_grad = torch_weighted("multi_margin", x, y, s, reduction, grad_output,
                                         p=p, weight=weight)
        np.testing.assert_allclose(loss, t_loss.astype(dtype), rtol=RTOL[dtype], atol=1e-12)
        np.testing.assert_allclose(grad, t_grad.astype(dtype), rtol=RTOL[dtype],
                                   atol=RTOL[dtype] * np.abs(t_grad).max())
        assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
        # forward alone and the gradient alone agree with the fused call
        assert np.array_equal(multi_margin_loss(x, y, p=p, weight=weight, reduction=reduction,
                                                sample_weight=s), loss)
        assert np.array_equal(multi_margin_loss_grad(x, y, p=p, weight=weight,
                                                     reduction=reduction, sample_weight=s,
                                                     grad_output=grad_output), grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_multilabel_weighted_matches_torch(dtype, reduction):
    rng = np.random.default_rng(len(reduction))
    for n_samples, n_classes in [(1, 3), (9, 6), (50, 20), (200, 64)]:
        x, t = _multilabel_problem(rng, n_samples, n_classes, dtype)
        s = rng.uniform(0, 2, n_samples)
        s[1::3] = 0.0
        if reduction == "mean" and not s.sum() > 0:
            s[0] = 1.0
        grad_output = rng.normal(size=n_samples) if reduction == "none" else -0.4
        loss, grad = multilabel_margin_loss_and_grad(x, t, reduction, sample_weight=s,
                                                     grad_output=grad_output)
        t_loss, t_grad = torch_weighted("multilabel", x, t, s, reduction, grad_output)
        np.testing.assert_allclose(loss, t_loss.astype(dtype), rtol=RTOL[dtype], atol=1e-12)
        np.testing.assert_allclose(grad, t_grad.astype(dtype), rtol=RTOL[dtype],
                                   atol=RTOL[dtype] * max(np.abs(t_grad).max(), 1e-30))
        assert np.array_equal(multilabel_margin_loss(x, t, reduction, sample_weight=s), loss)
        assert np.array_equal(multilabel_margin_loss_grad(x, t, reduction, sample_weight=s,
                                                          grad_output=grad_output), grad)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_integer_weights_repeat_samples(reduction):
    rng = np.random.default_rng(3)
    x, y = _multi_margin_problem(rng, 12, 6, np.float64)
    counts = rng.integers(0, 4, 12)
    counts[0] = 1
    repeated = np.repeat(np.arange(12), counts)
    loss, grad = multi_margin_loss_and_grad(x, y, reduction=reduction, sample_weight=counts)
    r_loss, r_grad = multi_margin_loss_and_grad(x[repeated], y[repeated], reduction=reduction)
    np.testing.assert_allclose(loss, r_loss, rtol=1e-13)
    # the repeated rows' gradients add up to the weighted row's gradient
    summed = np.zeros_like(x)
    np.add.at(summed, repeated, r_grad)
    np.testing.assert_allclose(grad, summed, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_unit_weights_give_the_unweighted_numbers(dtype):
    rng = np.random.default_rng(4)
    x, t = _multilabel_problem(rng, 30, 8, dtype)
    for reduction in ("none", "mean", "sum"):
        ours = multilabel_margin_loss_and_grad(x, t, reduction, sample_weight=np.ones(30))
        plain = multilabel_margin_loss_and_grad(x, t, reduction)
        np.testing.assert_allclose(ours[0], plain[0], rtol=RTOL[dtype])
        np.testing.assert_allclose(ours[1], plain[1], rtol=RTOL[dtype], atol=1e-30)


def test_weighted_mean_is_np_average():
    rng = np.random.default_rng(5)
    x, y = _multi_margin_problem(rng, 25, 4, np.float64)
    s = rng.uniform(0, 1, 25)
    per_sample = multi_margin_loss(x, y, reduction="none")
    assert multi_margin_loss(x, y, sample_weight=s) == pytest.approx(
        np.average(per_sample, weights=s), rel=1e-14)
    assert multi_margin_loss(x, y, reduction="sum", sample_weight=s) == pytest.approx(
        np.sum(per_sample * s), rel=1e-14)
    np.testing.assert_array_equal(multi_margin_loss(x, y, reduction="none", sample_weight=s),
                                  per_sample * s)


def test_classes_take_sample_weight():
    rng = np.random.default_rng(6)
    x, y = _multi_margin_problem(rng, 10, 5, np.float64)
    s = rng.uniform(0, 2, 10)
    module = MultiMarginLoss(p=2)
    expected_loss, expected_grad = multi_margin_loss_and_grad(x, y, p=2, sample_weight=s)
    assert module(x, y, sample_weight=s) == expected_loss
    assert module.forward(x, y, sample_weight=s) == expected_loss
    np.testing.assert_array_equal(module.gradient(x, y, sample_weight=s), expected_grad)
    loss, grad = module.loss_and_gradient(x, y, sample_weight=s)
    assert loss == expected_loss and np.array_equal(grad, expected_grad)

    xl, t = _multilabel_problem(rng, 10, 5, np.float64)
    label_module = MultiLabelMarginLoss(reduction="sum")
    expected = multilabel_margin_loss_and_grad(xl, t, "sum", sample_weight=s)
    assert label_module(xl, t, s) == expected[0]
    np.testing.assert_array_equal(label_module.gradient(xl, t, sample_weight=s), expected[1])


def test_one_sample_as_a_1d_input():
    x = np.array([0.1, 0.2, 0.4, 0.8])
    plain = multi_margin_loss(x, 3)
    for s in (2.5, [2.5], np.array(2.5)):
        assert multi_margin_loss(x, 3, reduction="sum", sample_weight=s) == pytest.approx(
            2.5 * plain)
        assert multi_margin_loss(x, 3, sample_weight=s) == pytest.approx(plain)


def test_zero_weights_where_sum_and_none_are_fine():
    rng = np.random.default_rng(7)
    x, y = _multi_margin_problem(rng, 5, 3, np.float64)
    s = np.zeros(5)
    assert multi_margin_loss(x, y, reduction="sum", sample_weight=s) == 0
    loss, grad = multi_margin_loss_and_grad(x, y, reduction="none", sample_weight=s)
    assert np.all(loss == 0) and np.all(grad == 0)


def test_empty_batch_mean_is_nan_as_unweighted():
    x = np.empty((0, 4))
    assert np.isnan(multi_margin_loss(x, np.empty(0, int), sample_weight=np.empty(0)))
    loss, grad = multi_margin_loss_and_grad(x, np.empty(0, int), sample_weight=np.empty(0))
    assert np.isnan(loss) and grad.shape == (0, 4)


def test_the_callers_weights_are_not_written():
    rng = np.random.default_rng(8)
    x, y = _multi_margin_problem(rng, 6, 3, np.float32)
    s = rng.uniform(0, 1, 6)
    before = s.copy()
    multi_margin_loss_and_grad(x, y, sample_weight=s)
    multi_margin_loss(x, y, reduction="none", sample_weight=s)
    np.testing.assert_array_equal(s, before)


FUNCTIONS = [
    pytest.param(lambda x, **kw: multi_margin_loss(x, [0, 1, 2], **kw), id="multi_margin_loss"),
    pytest.param(lambda x, **kw: multi_margin_loss_grad(x, [0, 1, 2], **kw),
                 id="multi_margin_loss_grad"),
    pytest.param(lambda x, **kw: multi_margin_loss_and_grad(x, [0, 1, 2], **kw),
                 id="multi_margin_loss_and_grad"),
    pytest.param(lambda x, **kw: multilabel_margin_loss(x, [[0, -1, -1]] * 3, **kw),
                 id="multilabel_margin_loss"),
    pytest.param(lambda x, **kw: multilabel_margin_loss_grad(x, [[0, -1, -1]] * 3, **kw),
                 id="multilabel_margin_loss_grad"),
    pytest.param(lambda x, **kw: multilabel_margin_loss_and_grad(x, [[0, -1, -1]] * 3, **kw),
                 id="multilabel_margin_loss_and_grad"),
]


@pytest.mark.parametrize("call", FUNCTIONS)
@pytest.mark.parametrize("sample_weight, error, message", [
    (np.array([1, 2, 3], dtype=complex), TypeError,
     r"sample_weight must be an array of real numbers, got dtype complex128"),
    (np.array(["a", "b", "c"]), TypeError, r"sample_weight must be an array of real numbers"),
    (object(), TypeError, r"sample_weight must be an array of real numbers, got dtype object"),
    ([1.0, 2.0], ValueError,
     r"sample_weight must have one entry per sample: expected shape \(3,\), got shape \(2,\)"),
    (np.ones((3, 1)), ValueError, r"expected shape \(3,\), got shape \(3, 1\)"),
    ([1.0, np.nan, 1.0], ValueError, r"sample_weight must be finite, got sample_weight\[1\] = nan"),
    ([1.0, 1.0, np.inf], ValueError, r"sample_weight must be finite, got sample_weight\[2\] = inf"),
    ([1.0, -0.5, 1.0], ValueError,
     r"sample_weight must be non-negative, got sample_weight\[1\] = -0.5"),
    ([0.0, 0.0, 0.0], ValueError,
     r"sample_weight sums to zero, so the weighted mean \(reduction='mean'\) is undefined"),
    (np.ma.array([1.0, 1.0, 1.0], mask=[0, 1, 0]), TypeError,
     r"sample_weight must not be a masked array"),
])
def test_bad_sample_weight(call, sample_weight, error, message):
    x = np.zeros((3, 3))
    with pytest.raises(error, match=message):
        call(x, sample_weight=sample_weight)


def test_sample_weight_is_keyword_only_and_documented():
    for function in (multi_margin_loss, multi_margin_loss_grad, multi_margin_loss_and_grad,
                     multilabel_margin_loss, multilabel_margin_loss_grad,
                     multilabel_margin_loss_and_grad):
        assert "sample_weight : array_like of shape (N,), default=None" in function.__doc__
    with pytest.raises(TypeError):
        marginloss.multilabel_margin_loss(np.zeros((1, 2)), [[0, -1]], "mean", np.ones(1))
