"""``multi_class="crammer_singer"``: the largest-rival form of the multi-class hinge.

Oracles: ``sklearn.metrics.hinge_loss`` (p=1, margin=1, mean), the vectorised
NumPy reference of the definition (``_reference.reference_crammer_singer``),
and PyTorch's autograd of the same expression (away from ties).  The kernel's
bounds guard is tested in ``kernels/``, the thread count in ``runtime/``.
"""

import numpy as np
import pytest
import torch
from _reference import reference_crammer_singer
from sklearn.metrics import hinge_loss

from marginloss import (
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
)

CS = {"multi_class": "crammer_singer"}
RTOL = {np.float32: 2e-6, np.float64: 1e-13}


@pytest.mark.parametrize("n_classes", [3, 10, 100])  # sklearn takes 2 classes as binary
def test_equals_sklearn_hinge_loss(n_classes):
    rng = np.random.default_rng(n_classes)
    x = rng.normal(size=(200, n_classes))
    y = rng.integers(0, n_classes, 200)
    labels = np.arange(n_classes)
    assert multi_margin_loss(x, y, **CS) == pytest.approx(
        hinge_loss(y, x, labels=labels), rel=1e-14)
    s = rng.uniform(0, 2, 200)
    assert multi_margin_loss(x, y, sample_weight=s, **CS) == pytest.approx(
        hinge_loss(y, x, labels=labels, sample_weight=s), rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("margin", [1.0, 0.0, 2.5])
def test_matches_the_definition(dtype, p, reduction, margin):
    rng = np.random.default_rng([p, len(reduction), int(margin * 10)])
    for n_samples, n_classes in [(1, 2), (30, 5), (500, 40)]:
        x = rng.normal(size=(n_samples, n_classes)).astype(dtype)
        y = rng.integers(0, n_classes, n_samples)
        weight = rng.uniform(0.5, 2.0, n_classes)
        grad_output = rng.normal(size=n_samples) if reduction == "none" else 0.7
        loss, grad = multi_margin_loss_and_grad(x, y, p=p, margin=margin, weight=weight,
                                                reduction=reduction, grad_output=grad_output,
                                                **CS)
        e_loss, e_grad = reference_crammer_singer(x, y, p, margin, weight, reduction,
                                                  grad_output)
        np.testing.assert_allclose(loss, e_loss, rtol=RTOL[dtype], atol=1e-300)
        np.testing.assert_allclose(grad, e_grad, rtol=RTOL[dtype],
                                   atol=RTOL[dtype] * max(np.abs(e_grad).max(), 1e-300))
        assert grad.dtype == dtype
        assert np.array_equal(multi_margin_loss(x, y, p=p, margin=margin, weight=weight,
                                                reduction=reduction, **CS), loss)
        assert np.array_equal(multi_margin_loss_grad(x, y, p=p, margin=margin, weight=weight,
                                                     reduction=reduction,
                                                     grad_output=grad_output, **CS), grad)


@pytest.mark.parametrize("p", [1, 2])
def test_gradient_matches_torch_autograd(p):
    rng = np.random.default_rng(10 + p)
    x = rng.normal(size=(64, 7))
    y = rng.integers(0, 7, 64)
    weight = rng.uniform(0.5, 2.0, 7)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.tensor(y)
    mask = torch.nn.functional.one_hot(yt, 7).bool()
    rival = xt.masked_fill(mask, -torch.inf).max(dim=1).values
    z = 1.0 - xt.gather(1, yt[:, None])[:, 0] + rival
    loss_t = (torch.tensor(weight)[yt] * torch.clamp(z, min=0) ** p).mean()
    loss_t.backward()
    loss, grad = multi_margin_loss_and_grad(x, y, p=p, weight=weight, **CS)
    assert loss == pytest.approx(loss_t.item(), rel=1e-14)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-13, atol=1e-16)


def test_finite_differences_away_from_kinks():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 4))
    y = rng.integers(0, 4, 5)
    _, grad = multi_margin_loss_and_grad(x, y, p=2, reduction="sum", **CS)
    eps = 1e-6
    for n in range(5):
        for c in range(4):
            up, down = x.copy(), x.copy()
            up[n, c] += eps
            down[n, c] -= eps
            numeric = (multi_margin_loss(up, y, p=2, reduction="sum", **CS)
                       - multi_margin_loss(down, y, p=2, reduction="sum", **CS)) / (2 * eps)
            assert grad[n, c] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_a_tie_sends_the_gradient_to_the_first_rival():
    x = np.array([[0.0, 0.5, 0.5, 0.5]])
    loss, grad = multi_margin_loss_and_grad(x, [0], reduction="sum", **CS)
    assert loss == 1.5
    np.testing.assert_array_equal(grad, [[-1.0, 1.0, 0.0, 0.0]])


def test_edge_rows():
    # one class: no rival, loss 0; a NaN score: NaN row; inf - inf: NaN row;
    # every wrong score -inf: inactive
    loss, grad = multi_margin_loss_and_grad(np.array([[3.0]]), [0], reduction="none", **CS)
    assert loss[0] == 0 and grad[0, 0] == 0
    x = np.array([[0.0, np.nan, 1.0], [np.inf, 0.0, np.inf], [0.0, -np.inf, -np.inf]])
    loss, grad = multi_margin_loss_and_grad(x, [0, 0, 0], reduction="none", **CS)
    assert np.isnan(loss[0]) and np.all(np.isnan(grad[0]))
    assert np.isnan(loss[1]) and np.all(np.isnan(grad[1]))
    assert loss[2] == 0 and np.all(grad[2] == 0)


def test_inactive_rows_keep_signed_zeros():
    x = np.array([[5.0, 0.0, 0.0]])
    loss, grad = multi_margin_loss_and_grad(x, [0], weight=[-2.0, 1.0, 1.0],
                                            reduction="none", grad_output=[-1.0], **CS)
    assert loss[0] == 0 and not np.signbit(loss[0])
    assert np.all(np.signbit(grad))  # 0 * (-1) everywhere


def test_the_class_keeps_multi_class():
    loss = MultiMarginLoss(p=2, multi_class="crammer_singer")
    assert loss.multi_class == "crammer_singer"
    assert repr(loss) == "MultiMarginLoss(p=2, multi_class='crammer_singer')"
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    assert loss(x, [3]) == multi_margin_loss(x, [3], p=2, **CS)
    assert repr(MultiMarginLoss()) == "MultiMarginLoss()"


@pytest.mark.parametrize("multi_class, error, message", [
    ("ovr", ValueError, r"multi_class must be 'weston_watkins' or 'crammer_singer', got 'ovr'"),
    (None, TypeError, r"multi_class must be 'weston_watkins' or 'crammer_singer', got NoneType"),
    (1, TypeError, r"got int"),
])
def test_bad_multi_class(multi_class, error, message):
    with pytest.raises(error, match=message):
        multi_margin_loss(np.zeros((1, 3)), [0], multi_class=multi_class)
    with pytest.raises(error, match=message):
        MultiMarginLoss(multi_class=multi_class)
