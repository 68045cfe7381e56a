"""What is particular to the multi-label loss: how its target is read, and its ``margin``.

- The labels of a row are its entries up to the first -1 (anything after it is
  ignored), duplicates count once each time they are listed, a row may have no
  label or every class, and labels never pair with each other.
- ``margin`` (PyTorch fixes it at 1): the reference is the pair loop of the
  definition (``_reference.reference_multilabel_margin_parts``), with each term
  ``(margin - x[j]) + x[d]`` computed in the input dtype, so the active pairs
  are the kernel's.

0/1 indicator targets: ``test_multilabel_indicator.py``; the kernel's sorted
algorithm: ``kernels/test_multilabel_algorithm.py``.
"""

import pickle

import numpy as np
import pytest
from _helpers import FLOAT_DTYPES, REDUCTIONS, assert_bitwise, close, mlm_target
from _reference import reference_multilabel_margin_parts

from marginloss import (
    MultiLabelMarginLoss,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)


def _problem(rng, n_samples, n_classes, k, dtype):
    x = rng.normal(scale=1.0, size=(n_samples, n_classes)).astype(dtype)
    t = np.full((n_samples, n_classes), -1)
    for n in range(n_samples):
        t[n, :k] = rng.permutation(n_classes)[:k]
    return x, t


# ================================================================== the target


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("target_dtype", [np.int32, np.int64], ids=["int32", "int64"])
def test_multilabel_entries_after_minus1_ignored(rng, dtype, target_dtype):
    x = rng.standard_normal((3, 4)).astype(dtype)
    a = np.array([[3, -1, 0, 0], [1, 2, -1, 3], [-1, 0, 1, 2]], dtype=target_dtype)
    b = np.array([[3, -1, -1, -1], [1, 2, -1, -1], [-1, -1, -1, -1]], dtype=target_dtype)
    for reduction in REDUCTIONS:
        la, ga = multilabel_margin_loss_and_grad(x, a, reduction=reduction)
        lb, gb = multilabel_margin_loss_and_grad(x, b, reduction=reduction)
        assert_bitwise(la, lb)
        assert_bitwise(ga, gb)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_multilabel_duplicates_count_twice(dtype):
    x = np.array([[0.1, 0.2, 0.4, 0.8]], dtype=dtype)
    once, g_once = multilabel_margin_loss_and_grad(x, [[3, -1, -1, -1]], reduction="none")
    twice, g_twice = multilabel_margin_loss_and_grad(x, [[3, 3, -1, -1]], reduction="none")
    # Hand: once = 1.3 / 4 = 0.325, twice = 0.65; gradient [1, 1, 1, -3] / 4, doubled.
    close(once, [0.325], 1e-7 if dtype is np.float32 else 1e-15)
    assert_bitwise(twice, (2 * once.astype(np.float64)).astype(dtype))
    assert_bitwise(g_twice, 2 * g_once)
    close(g_twice, [[0.5, 0.5, 0.5, -1.5]])
    thrice = multilabel_margin_loss(x, [[3, 3, 3, -1]], reduction="sum")
    close(thrice, 3 * 0.325, 1e-7 if dtype is np.float32 else 1e-15)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_multilabel_no_labels_or_all_labels(rng, dtype):
    x = rng.standard_normal((4, 5)).astype(dtype)
    t = np.array([[-1, 0, 1, 2, 3],  # starts with -1: no labels
                  [-1, -1, -1, -1, -1],
                  [4, 3, 2, 1, 0],  # every class is a label
                  [0, 1, 2, 3, 4]])
    for reduction in REDUCTIONS:
        loss, grad = multilabel_margin_loss_and_grad(x, t, reduction=reduction)
        assert np.all(np.asarray(loss) == 0)
        assert np.all(grad == 0)


def test_multilabel_labels_never_pair_with_each_other():
    # x = [5, -5, 0]: labels {0, 1}; only pairs (label, 2) count:
    # z(0, 2) = 1 - 5 + 0 = -4 (inactive), z(1, 2) = 1 + 5 + 0 = 6 -> 6 / 3 = 2.
    # grad: x2 +1/3, x1 -1/3, x0 0.  (A pair (1, 0) would have added 1 + 5 + 5 = 11.)
    loss, grad = multilabel_margin_loss_and_grad(np.array([[5.0, -5.0, 0.0]]), [[0, 1, -1]])
    close(loss, 2.0)
    close(grad, [[0.0, -1 / 3, 1 / 3]])


def test_multilabel_scratch_is_reset_between_rows(rng):
    # Each row's result must not depend on the rows processed before it on the same thread.
    x = rng.standard_normal((50, 6))
    t = mlm_target(rng, 50, 6)
    loss, grad = multilabel_margin_loss_and_grad(x, t, reduction="none", n_threads=1)
    for n in range(50):
        l1, g1 = multilabel_margin_loss_and_grad(x[n], t[n], reduction="none")
        assert_bitwise(l1, loss[n])
        assert_bitwise(g1, grad[n])
        # also reversed order of calls: single-row calls give the same as in the batch
    rev_loss, rev_grad = multilabel_margin_loss_and_grad(x[::-1], t[::-1], reduction="none")
    assert_bitwise(rev_loss[::-1], loss)
    assert_bitwise(rev_grad[::-1], grad)


# ================================================================== margin


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("k", [1, 2, 3, 10])  # k <= 2 takes the direct loop, more the sort
@pytest.mark.parametrize("margin", [0.0, -0.5, 0.3, 2.5])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_margin_matches_the_pair_loop(dtype, k, margin, reduction):
    rng = np.random.default_rng([k, int(10 * margin) + 50, len(reduction)])
    x, t = _problem(rng, 40, 12, k, dtype)
    loss, grad = multilabel_margin_loss_and_grad(x, t, reduction, margin=margin)
    expected_loss, expected_grad = reference_multilabel_margin_parts(x, t, reduction,
                                                                     margin=margin)[:2]
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
