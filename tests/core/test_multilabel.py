"""``margin`` for the multi-label loss (PyTorch fixes it at 1).

The reference is the pair loop of the definition, with each term
``(margin - x[j]) + x[d]`` computed in the input dtype (so the active pairs are
the kernel's) and summed in float64.
"""

import pickle

import numpy as np
import pytest

from marginloss import (
    MultiLabelMarginLoss,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)


def _reference(x, t, margin, reduction):
    x = np.asarray(x)
    dtype = x.dtype.type
    n_samples, n_classes = x.shape
    losses = np.zeros(n_samples)
    grad = np.zeros((n_samples, n_classes))
    for n in range(n_samples):
        labels = []
        for label in t[n]:
            if label < 0:
                break
            labels.append(int(label))
        is_target = np.zeros(n_classes, bool)
        is_target[labels] = True
        for j in labels:
            shift = dtype(dtype(margin) - x[n, j])
            for d in range(n_classes):
                z = dtype(shift + x[n, d])
                if not is_target[d] and z > 0:
                    losses[n] += float(z)
                    grad[n, d] += 1
                    grad[n, j] -= 1
    losses /= n_classes
    grad /= n_classes
    if reduction == "mean":
        return losses.mean(), grad / n_samples
    if reduction == "sum":
        return losses.sum(), grad
    return losses, grad


def _problem(rng, n_samples, n_classes, k, dtype):
    x = rng.normal(scale=1.0, size=(n_samples, n_classes)).astype(dtype)
    t = np.full((n_samples, n_classes), -1)
    for n in range(n_samples):
        t[n, :k] = rng.permutation(n_classes)[:k]
    return x, t


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("k", [1, 2, 3, 10])  # k <= 2 takes the direct loop, more the sort
@pytest.mark.parametrize("margin", [0.0, -0.5, 0.3, 2.5])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_margin_matches_the_pair_loop(dtype, k, margin, reduction):
    rng = np.random.default_rng([k, int(10 * margin) + 50, len(reduction)])
    x, t = _problem(rng, 40, 12, k, dtype)
    loss, grad = multilabel_margin_loss_and_grad(x, t, reduction, margin=margin)
    expected_loss, expected_grad = _reference(x, t, margin, reduction)
    rtol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=1e-12)
    # the active pairs are the reference's: the gradient counts match to rounding
    # (count / C, and / N for the mean, rounded once either way)
    np.testing.assert_allclose(grad, expected_grad.astype(dtype), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(grad == 0, expected_grad == 0)
    assert np.array_equal(multilabel_margin_loss(x, t, reduction, margin=margin), loss)
    assert np.array_equal(multilabel_margin_loss_grad(x, t, reduction, margin=margin), grad)


def test_margin_one_is_pytorchs_loss_bit_for_bit():
    rng = np.random.default_rng(1)
    for k in (1, 5):
        x, t = _problem(rng, 30, 9, k, np.float32)
        a = multilabel_margin_loss_and_grad(x, t, "none")
        b = multilabel_margin_loss_and_grad(x, t, "none", margin=1.0)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_larger_margin_never_lowers_the_loss():
    rng = np.random.default_rng(2)
    x, t = _problem(rng, 50, 10, 4, np.float64)
    losses = [multilabel_margin_loss(x, t, "none", margin=m) for m in (0.0, 0.5, 1.0, 3.0)]
    for lower, higher in zip(losses, losses[1:]):
        assert np.all(higher >= lower)


def test_the_class_keeps_the_margin():
    loss = MultiLabelMarginLoss(margin=0.25, reduction="sum")
    assert loss.margin == 0.25
    assert repr(loss) == "MultiLabelMarginLoss(margin=0.25, reduction='sum')"
    assert repr(MultiLabelMarginLoss()) == "MultiLabelMarginLoss()"
    clone = pickle.loads(pickle.dumps(loss))
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    t = [[3, 0, -1, 1]]
    assert clone(x, t) == loss(x, t) == multilabel_margin_loss(x, t, "sum", margin=0.25)
    with pytest.raises(AttributeError, match="read-only"):
        loss.margin = 2.0


@pytest.mark.parametrize("margin, error, message", [
    (np.nan, ValueError, "margin must be a finite real number, got nan"),
    (np.inf, ValueError, "margin must be a finite real number, got inf"),
    (True, TypeError, "margin must be a finite real number, got"),
    ("1", TypeError, "margin must be a finite real number, got"),
])
def test_bad_margin(margin, error, message):
    x = np.zeros((1, 3))
    with pytest.raises(error, match=message):
        multilabel_margin_loss(x, [[0, -1, -1]], margin=margin)
    with pytest.raises(error, match=message):
        MultiLabelMarginLoss(margin=margin)


def test_margin_beyond_float32():
    x = np.zeros((1, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"margin=1e\+39 overflows float32"):
        multilabel_margin_loss(x, [[0, -1, -1]], margin=1e39)
    # float64 scores take it
    assert np.isfinite(multilabel_margin_loss(x.astype(np.float64), [[0, -1, -1]], margin=1e39))


def test_margin_is_keyword_only():
    with pytest.raises(TypeError):
        multilabel_margin_loss(np.zeros((1, 2)), [[0, -1]], "mean", 2.0)
