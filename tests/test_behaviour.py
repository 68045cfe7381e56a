"""Behaviour of the losses: values, gradients, layouts, out=, threads, NaN, shapes, dtypes.

PyTorch parity on random cases lives in test_parity_torch.py; here the oracles
are hand computations, finite differences, a small NumPy reference and the
package itself (bitwise invariance under layouts, thread counts, aliasing).
"""

import concurrent.futures
import copy
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import marginloss
from marginloss import (
    MultiLabelMarginLoss,
    MultilabelMarginLoss,
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
    openmp_enabled,
)
from marginloss._threads import SERIAL_BELOW

REDUCTIONS = ["none", "mean", "sum"]
FLOAT_DTYPES = [np.float32, np.float64]
SEED = 20240601


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


def assert_bitwise(actual, expected):
    """Same shape, dtype and bytes (so NaN == NaN and -0.0 != 0.0)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.tobytes() == expected.tobytes(), (actual, expected)


def close(actual, expected, tol=1e-15):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=tol, atol=tol)


# ------------------------------------------------------------------ the two losses, uniformly


def mm_target(rng, n_samples, n_classes):
    return rng.integers(0, n_classes, size=n_samples)


def mlm_target(rng, n_samples, n_classes, max_labels=None):
    """Rows of distinct labels padded with -1; junk in [-1, C-1] after the first -1."""
    max_labels = n_classes if max_labels is None else max_labels
    target = rng.integers(-1, n_classes, size=(n_samples, n_classes))
    for row in target:
        k = rng.integers(0, max_labels + 1)
        row[:k] = rng.permutation(n_classes)[:k]
        if k < n_classes:
            row[k] = -1
    return target


class MM:
    name = "multi_margin"
    loss = staticmethod(multi_margin_loss)
    grad = staticmethod(multi_margin_loss_grad)
    loss_and_grad = staticmethod(multi_margin_loss_and_grad)
    cls = MultiMarginLoss

    @staticmethod
    def target(rng, n_samples, n_classes):
        return mm_target(rng, n_samples, n_classes)


class MLM:
    name = "multilabel_margin"
    loss = staticmethod(multilabel_margin_loss)
    grad = staticmethod(multilabel_margin_loss_grad)
    loss_and_grad = staticmethod(multilabel_margin_loss_and_grad)
    cls = MultiLabelMarginLoss

    @staticmethod
    def target(rng, n_samples, n_classes):
        return mlm_target(rng, n_samples, n_classes)


LOSSES = [pytest.param(MM, id="MM"), pytest.param(MLM, id="MLM")]


# ------------------------------------------------------------------ a small NumPy reference
# Straight from the formulas, float64, one row at a time.  Returns per-sample
# losses (already divided by C) and d loss_n / d x_n.


def ref_multi_margin(x, y, p=1, margin=1.0, weight=None):
    x = np.asarray(x, dtype=np.float64)
    n_samples, n_classes = x.shape
    weight = np.ones(n_classes) if weight is None else np.asarray(weight, dtype=np.float64)
    loss = np.zeros(n_samples)
    grad = np.zeros_like(x)
    for n in range(n_samples):
        c = y[n]
        for i in range(n_classes):
            if i == c:
                continue
            z = margin - x[n, c] + x[n, i]
            if z > 0:
                loss[n] += weight[c] * z ** p / n_classes
                d = weight[c] * p * z ** (p - 1) / n_classes
                grad[n, i] += d
                grad[n, c] -= d
    return loss, grad


def ref_multilabel_margin(x, t):
    x = np.asarray(x, dtype=np.float64)
    n_samples, n_classes = x.shape
    loss = np.zeros(n_samples)
    grad = np.zeros_like(x)
    for n in range(n_samples):
        labels = []
        for c in t[n]:
            if c < 0:
                break
            labels.append(c)
        others = [d for d in range(n_classes) if d not in labels]
        for j in labels:
            for d in others:
                z = 1 - x[n, j] + x[n, d]
                if z > 0:
                    loss[n] += z / n_classes
                    grad[n, d] += 1 / n_classes
                    grad[n, j] -= 1 / n_classes
    return loss, grad


def ref_reduce(loss, grad, reduction, grad_output=1.0):
    n_samples = loss.shape[0]
    go = np.broadcast_to(np.asarray(grad_output, dtype=np.float64), (n_samples,))
    if reduction == "none":
        return loss, grad * go[:, None]
    if reduction == "sum":
        return loss.sum(), grad * go[:, None]
    mean = loss.sum() / n_samples if n_samples else np.nan
    return mean, grad * go[:, None] / max(n_samples, 1)


def margin_terms_mm(x, y, margin):
    """All z = margin - x[y] + x[i], i != y."""
    rows = np.arange(x.shape[0])
    z = margin - x[rows, y][:, None] + x
    mask = np.ones_like(x, dtype=bool)
    mask[rows, y] = False
    return z[mask]


def margin_terms_mlm(x, t):
    terms = []
    for n in range(x.shape[0]):
        labels = []
        for c in t[n]:
            if c < 0:
                break
            labels.append(c)
        others = [d for d in range(x.shape[1]) if d not in labels]
        for j in labels:
            terms.extend(1 - x[n, j] + x[n, others])
    return np.array(terms)


# ================================================================== (a) hand-computed values

X1 = np.array([[0.1, 0.2, 0.4, 0.8]])


def test_hand_multi_margin_p1():
    # y = 3, margin 1: z_i = 1 - 0.8 + x_i = 0.3, 0.4, 0.6 (all active)
    # loss = (0.3 + 0.4 + 0.6) / 4 = 1.3 / 4 = 0.325
    # d/dx_i = 1/4 for i != y, d/dx_y = -3/4
    loss, grad = multi_margin_loss_and_grad(X1, [3])
    close(loss, 0.325)
    close(grad, [[0.25, 0.25, 0.25, -0.75]])
    assert grad[0, 0] == 0.25 and grad[0, 3] == -0.75  # exact: powers of two


def test_hand_multi_margin_float32_doc_value():
    # The value in the docstring (and PyTorch's): float32(0.325) = 0.32499998807907104.
    loss = multi_margin_loss(X1.astype(np.float32), [3])
    assert isinstance(loss, np.float32)
    assert loss == np.float32(0.325)


def test_hand_multi_margin_p2():
    # z = 0.3, 0.4, 0.6; loss = (0.09 + 0.16 + 0.36) / 4 = 0.61 / 4 = 0.1525
    # d/dx_i = 2 z_i / 4 = 0.15, 0.2, 0.3; d/dx_y = -(0.15 + 0.2 + 0.3) = -0.65
    loss, grad = multi_margin_loss_and_grad(X1, [3], p=2)
    close(loss, 0.1525)
    close(grad, [[0.15, 0.2, 0.3, -0.65]])


def test_hand_multi_margin_weight():
    # weight[y] = weight[3] = 0.5 multiplies after the power:
    # p=1: 0.5 * 1.3 / 4 = 0.1625, grad 0.5 * [1, 1, 1, -3] / 4
    # p=2: 0.5 * 0.61 / 4 = 0.07625, grad 0.5 * 2 z / 4 = z / 4 = [0.075, 0.1, 0.15, -0.325]
    w = [1.0, 2.0, 3.0, 0.5]
    loss, grad = multi_margin_loss_and_grad(X1, [3], weight=w)
    close(loss, 0.1625)
    close(grad, [[0.125, 0.125, 0.125, -0.375]])
    loss, grad = multi_margin_loss_and_grad(X1, [3], p=2, weight=w)
    close(loss, 0.07625)
    close(grad, [[0.075, 0.1, 0.15, -0.325]])
    # Negative weights are allowed: weight[3] = -2 gives -2 * 1.3 / 4 = -0.65.
    close(multi_margin_loss(X1, [3], weight=[1, 1, 1, -2]), -0.65)


def test_hand_multi_margin_margin():
    # margin 0.5: z = 0.5 - 0.8 + x_i = -0.2, -0.1, 0.1 -> only i = 2 active.
    # loss = 0.1 / 4 = 0.025; grad = [0, 0, 1/4, -1/4]
    loss, grad = multi_margin_loss_and_grad(X1, [3], margin=0.5)
    close(loss, 0.025)
    close(grad, [[0.0, 0.0, 0.25, -0.25]])
    # margin -3.14 (PyTorch's OpInfo): nothing is active.
    loss, grad = multi_margin_loss_and_grad(X1, [3], margin=-3.14)
    assert loss == 0.0 and np.all(grad == 0)


def test_hand_multi_margin_two_rows_reductions():
    # row 0 as above: 0.325.  row 1: x = [0.5, 0.2, -1.0, 0.3], y = 0, margin 1:
    # z = 1 - 0.5 + x_i = 0.7, -0.5, 0.8 -> (0.7 + 0.8) / 4 = 0.375
    # sum = 0.7, mean = 0.35; grad row 1 = [-2/4, 1/4, 0, 1/4]
    x = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]])
    close(multi_margin_loss(x, [3, 0], reduction="none"), [0.325, 0.375])
    close(multi_margin_loss(x, [3, 0], reduction="sum"), 0.7)
    close(multi_margin_loss(x, [3, 0], reduction="mean"), 0.35)
    g_sum = [[0.25, 0.25, 0.25, -0.75], [-0.5, 0.25, 0.0, 0.25]]
    close(multi_margin_loss_grad(x, [3, 0], reduction="sum"), g_sum)
    close(multi_margin_loss_grad(x, [3, 0], reduction="mean"), np.array(g_sum) / 2)
    # Per-sample grad_output (2, -1) scales each row.
    close(multi_margin_loss_grad(x, [3, 0], reduction="none", grad_output=[2.0, -1.0]),
          [[0.5, 0.5, 0.5, -1.5], [0.5, -0.25, 0.0, -0.25]])
    # A scalar grad_output of 3 with 'sum' scales everything.
    close(multi_margin_loss_grad(x, [3, 0], reduction="sum", grad_output=3.0),
          np.array(g_sum) * 3)


def test_hand_multi_margin_p2_docstring_class():
    # MultiMarginLoss(p=2, margin=0.5, reduction='sum') on the two rows above:
    # row 0: z = -0.2, -0.1, 0.1 -> 0.01 / 4 = 0.0025; grad [0, 0, 0.05, -0.05]
    # row 1: z = 0.5 - 0.5 + x_i = 0.2, -1.0, 0.3 -> (0.04 + 0.09) / 4 = 0.0325;
    #        grad [-(0.1 + 0.15), 0.1, 0, 0.15]
    x = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]])
    loss, grad = MultiMarginLoss(p=2, margin=0.5, reduction="sum").loss_and_gradient(x, [3, 0])
    close(loss, 0.035)
    close(grad, [[0, 0, 0.05, -0.05], [-0.25, 0.1, 0, 0.15]])


def test_hand_multi_margin_zero_term_is_inactive():
    # z == 0 exactly contributes nothing (strict test): x = [0, 1], y = 1, margin 1 -> z = 0.
    loss, grad = multi_margin_loss_and_grad(np.array([[0.0, 1.0]]), [1])
    assert loss == 0.0
    assert np.all(grad == 0.0)


def test_hand_multi_margin_scalar_input():
    # 0-d input: one sample, one class; there is no other class, so the loss is 0.
    loss, grad = multi_margin_loss_and_grad(np.float64(0.3), 0, reduction="none")
    assert loss.shape == () and loss == 0.0
    assert grad.shape == () and grad == 0.0


def test_hand_multilabel_margin():
    # t = [3, 0, -1, 1]: labels {3, 0} (the 1 after -1 is ignored), others {1, 2}.
    # j = 3: z = 1 - 0.8 + 0.2 = 0.4, 1 - 0.8 + 0.4 = 0.6  -> 1.0
    # j = 0: z = 1 - 0.1 + 0.2 = 1.1, 1 - 0.1 + 0.4 = 1.3  -> 2.4
    # loss = 3.4 / 4 = 0.85
    # grad: each of d = 1, 2 is active in 2 pairs: +2/4; each label in 2 pairs: -2/4
    loss, grad = multilabel_margin_loss_and_grad(X1, [[3, 0, -1, 1]])
    close(loss, 0.85)
    close(grad, [[-0.5, 0.5, 0.5, -0.5]])
    assert np.all(np.abs(grad) == 0.5)
    # float32: the docstring (and PyTorch) value 0.8500000238418579 = float32(0.85).
    assert multilabel_margin_loss(X1.astype(np.float32), [[3, 0, -1, 1]]) == np.float32(0.85)


def test_hand_multilabel_margin_single_label_equals_multi_margin():
    # With one label and margin 1, the two losses coincide: 0.325, grad [1, 1, 1, -3] / 4.
    loss, grad = multilabel_margin_loss_and_grad(X1, [[3, -1, -1, -1]])
    close(loss, 0.325)
    close(grad, [[0.25, 0.25, 0.25, -0.75]])


def test_hand_multilabel_margin_partial_activity():
    # x = [0.2, -0.2, 0.07], t = [0, 0, 1] (PyTorch's JIT case; 0 listed twice, no -1):
    # labels (0, 0, 1), other {2}.  j=0: z = 1 - 0.2 + 0.07 = 0.87 (twice);
    # j=1: z = 1 + 0.2 + 0.07 = 1.27.  loss = (0.87*2 + 1.27) / 3 = 3.01 / 3
    # grad: x2 active in 3 pairs: +3/3 = 1; x0 in 2 pairs: -2/3; x1 in 1: -1/3
    loss, grad = multilabel_margin_loss_and_grad(np.array([[0.2, -0.2, 0.07]]), [[0, 0, 1]])
    close(loss, 3.01 / 3)
    close(grad, [[-2 / 3, -1 / 3, 1.0]])
    # Only some pairs active: x = [2, 0, 0.5], t = [0, -1, -1]:
    # z = 1 - 2 + 0 = -1 (inactive), 1 - 2 + 0.5 = -0.5 (inactive) -> loss 0
    # t = [1, -1, -1]: z(0) = 1 - 0 + 2 = 3, z(2) = 1.5 -> 4.5 / 3 = 1.5, grad [1/3, -2/3, 1/3]
    x = np.array([[2.0, 0.0, 0.5]])
    assert multilabel_margin_loss(x, [[0, -1, -1]]) == 0.0
    loss, grad = multilabel_margin_loss_and_grad(x, [[1, -1, -1]])
    close(loss, 1.5)
    close(grad, [[1 / 3, -2 / 3, 1 / 3]])


# Golden float64 values from PyTorch 2.13 (pytorch-semantics.md §3.4), all re-derivable by hand.
X7 = np.array([0.3, -1.2, 0.5, 2.0, -0.7, 0.9, 0.1])
X45 = np.array([[.1, .2, .4, .8, -.3], [1.5, -.5, 0, .25, .6], [.9, .9, -.9, .3, 0],
                [-2, 1, .5, .5, 3]])


def test_golden_multilabel_1d():
    loss, grad = multilabel_margin_loss_and_grad(X7, [2, 0, 6, -1, 4, -1, 6], reduction="none")
    assert loss.shape == ()
    close(loss, 1.8714285714285714)
    close(grad, [-0.2857142857142857, 0, -0.2857142857142857, 0.42857142857142855,
                 0.14285714285714285, 0.42857142857142855, -0.42857142857142855])


def test_golden_multilabel_2d():
    t = [[4, -1, 0, -1, 2], [0, 0, 4, 1, 4], [-1, 3, -1, 1, 0], [4, 3, 2, 1, 0]]
    loss, grad = multilabel_margin_loss_and_grad(X45, t, reduction="none")
    close(loss, [1.3400000000000003, 1.07, 0, 0])
    close(grad, [[.2, .2, .2, .2, -.8], [0, -.4, .6000000000000001, .6000000000000001, -.8],
                 [0] * 5, [0] * 5])


def test_golden_multi_margin():
    loss, grad = multi_margin_loss_and_grad(X45, [3, 0, 2, 4], reduction="none")
    close(loss, [0.25999999999999995, 0.019999999999999997, 1.94, 0])
    close(grad, [[.2, .2, .2, -.6000000000000001, 0], [-.2, 0, 0, 0, .2],
                 [.2, .2, -.8, .2, .2], [0] * 5])
    loss, grad = multi_margin_loss_and_grad(X45, [3, 0, 2, 4], p=2, margin=0.5,
                                            weight=[.5, 1, 2, -1, 3], reduction="none")
    close(loss, [-0.001999999999999999, 0, 6.171999999999999, 0])
    close(grad, [[0, 0, -0.039999999999999994, 0.039999999999999994, 0], [0] * 5,
                 [1.8399999999999999, 1.8399999999999999, -6.16, 1.36, 1.1199999999999999],
                 [0] * 5], tol=2e-15)
    loss, grad = multi_margin_loss_and_grad(X7, np.int64(5), p=2, margin=7, reduction="sum")
    close(loss, 34.53428571428571)
    close(grad, [1.8285714285714283, 1.3999999999999997, 1.8857142857142855, 2.314285714285714,
                 1.5428571428571427, -10.74285714285714, 1.7714285714285711], tol=2e-15)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multi_margin_matches_numpy_reference(rng, p, weighted, reduction):
    x = rng.standard_normal((20, 7))
    y = mm_target(rng, 20, 7)
    w = rng.uniform(-2, 3, 7) if weighted else None
    go = rng.standard_normal(20) if reduction == "none" else 1.7
    loss, grad = multi_margin_loss_and_grad(x, y, p=p, margin=0.7, weight=w,
                                            reduction=reduction, grad_output=go)
    ref_loss, ref_grad = ref_reduce(*ref_multi_margin(x, y, p, 0.7, w), reduction, go)
    close(loss, ref_loss, 1e-13)
    close(grad, ref_grad, 1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_matches_numpy_reference(rng, reduction):
    x = rng.standard_normal((20, 7))
    t = mlm_target(rng, 20, 7)
    t[3] = [2, 2, 5, -1, 0, 0, 0]  # a duplicate, and junk after -1
    go = rng.standard_normal(20) if reduction == "none" else -0.3
    loss, grad = multilabel_margin_loss_and_grad(x, t, reduction=reduction, grad_output=go)
    ref_loss, ref_grad = ref_reduce(*ref_multilabel_margin(x, t), reduction, go)
    close(loss, ref_loss, 1e-13)
    close(grad, ref_grad, 1e-13)


# ================================================================== (b) finite differences


def _away_from_kinks(rng, make, terms, tries=1000):
    for _ in range(tries):
        x, target = make(rng)
        if np.min(np.abs(terms(x, target))) >= 1e-3:
            return x, target
    raise AssertionError("could not sample a case away from the kinks")


def _fd_gradient(objective, x, h=1e-6):
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        grad[index] = (objective(plus) - objective(minus)) / (2 * h)
    return grad


def _objective(loss_fn, reduction, grad_output):
    """The scalar whose gradient the package computes: sum(grad_output * loss)."""
    def objective(x):
        value = loss_fn(x)
        return float(np.sum(np.asarray(grad_output) * value)) if reduction == "none" \
            else float(grad_output * value)
    return objective


# (reduction, grad_output): a per-sample grad_output needs reduction='none'.
FD_CASES = [
    pytest.param(reduction, kind, id=f"{reduction}-{kind}")
    for reduction in REDUCTIONS
    for kind in ["scalar-1", "scalar-neg", "per-sample"]
    if kind != "per-sample" or reduction == "none"
]


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction, grad_output_kind", FD_CASES)
def test_finite_differences_multi_margin(rng, p, weighted, reduction, grad_output_kind):
    n_samples, n_classes, margin = 4, 5, 0.8
    weight = rng.uniform(-1.5, 2.5, n_classes) if weighted else None
    x, y = _away_from_kinks(
        rng,
        lambda r: (r.standard_normal((n_samples, n_classes)), mm_target(r, n_samples, n_classes)),
        lambda x, y: margin_terms_mm(x, y, margin),
    )
    grad_output = {"scalar-1": 1.0, "scalar-neg": -2.5,
                   "per-sample": rng.standard_normal(n_samples)}[grad_output_kind]
    kwargs = dict(p=p, margin=margin, weight=weight, reduction=reduction)
    grad = multi_margin_loss_grad(x, y, grad_output=grad_output, **kwargs)
    objective = _objective(lambda x: multi_margin_loss(x, y, **kwargs), reduction, grad_output)
    np.testing.assert_allclose(grad, _fd_gradient(objective, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "shape, reduction, grad_output_kind",
    [pytest.param((4, 6), *case.values, id="2d-" + case.id) for case in FD_CASES]
    + [pytest.param((6,), *case.values, id="1d-" + case.id) for case in FD_CASES
       if case.values[1] != "per-sample"],
)
def test_finite_differences_multilabel_margin(rng, shape, reduction, grad_output_kind):
    n_samples, n_classes = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])

    def make(r):
        t = mlm_target(r, n_samples, n_classes)
        t[0, :3] = [1, 1, 4]  # a duplicate label and (when C > 3) another label
        t[0, 3] = -1
        return r.standard_normal(shape), t.reshape(shape)

    x, t = _away_from_kinks(rng, make,
                            lambda x, t: margin_terms_mlm(x.reshape(-1, n_classes),
                                                          t.reshape(-1, n_classes)))
    grad_output = {"scalar-1": 1.0, "scalar-neg": -2.5,
                   "per-sample": rng.standard_normal(n_samples)}[grad_output_kind]
    grad = multilabel_margin_loss_grad(x, t, reduction=reduction, grad_output=grad_output)
    assert grad.shape == x.shape
    objective = _objective(lambda x: multilabel_margin_loss(x, t, reduction=reduction),
                           reduction, grad_output)
    np.testing.assert_allclose(grad, _fd_gradient(objective, x), rtol=1e-6, atol=1e-8)


# ================================================================== (c) input layouts


def _layout(array, layout, tmp_path):
    """A differently laid out array with the same values (None if not applicable)."""
    array = np.asarray(array)
    if layout == "C":
        return np.ascontiguousarray(array)
    if layout == "fortran":
        return np.asfortranarray(array) if array.ndim == 2 else None
    if layout == "strided-columns":
        if array.ndim != 2:
            return None
        big = np.full((array.shape[0], 2 * array.shape[1]), 99, dtype=array.dtype)
        big[:, ::2] = array
        return big[:, ::2]
    if layout == "strided-rows":
        big = np.full((2 * array.shape[0],) + array.shape[1:], 99, dtype=array.dtype)
        big[::2] = array
        return big[::2]
    if layout == "reversed":
        return np.ascontiguousarray(array[::-1])[::-1]
    if layout == "read-only":
        copy = array.copy()
        copy.flags.writeable = False
        return copy
    if layout == "memmap":
        path = tmp_path / f"array-{array.dtype}-{array.ndim}.dat"
        writer = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
        writer[...] = array
        writer.flush()
        del writer
        return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)
    if layout == "list":
        return array.tolist()
    if layout == "byteswapped":
        return array.astype(array.dtype.newbyteorder(">" if array.dtype.byteorder != ">"
                                                     else "<"))
    raise ValueError(layout)


LAYOUTS = ["C", "fortran", "strided-columns", "strided-rows", "reversed", "read-only",
           "memmap", "list", "byteswapped"]


def _snapshot(value):
    return None if value is None else np.array(value, copy=True)


def _results(loss_cls, x, target, kwargs):
    """Every public output for one problem, as a flat list."""
    out = []
    for reduction in REDUCTIONS:
        kw = dict(kwargs, reduction=reduction)
        out.append(loss_cls.loss(x, target, **kw))
        out.append(loss_cls.grad(x, target, **kw))
        out.extend(loss_cls.loss_and_grad(x, target, **kw))
    return out


def _layout_cases():
    cases = []
    for loss_cls in (MM, MLM):
        for dtype in FLOAT_DTYPES:
            for layout in LAYOUTS:
                for which in ("input", "target", "weight", "all"):
                    if layout == "list" and dtype is np.float32 and which in ("input", "all"):
                        continue  # a list of floats is float64
                    if which == "weight" and loss_cls is MLM:
                        continue  # no weight
                    if which == "weight" and layout in ("fortran", "strided-columns"):
                        continue  # 2-D only
                    if which == "target" and loss_cls is MM and layout in ("fortran",
                                                                            "strided-columns"):
                        continue  # 2-D only
                    cases.append(pytest.param(
                        loss_cls, dtype, layout, which,
                        id=f"{loss_cls.__name__}-{np.dtype(dtype).name}-{layout}-{which}"))
    return cases


@pytest.mark.parametrize("loss_cls, dtype, layout, which", _layout_cases())
def test_layouts_bitwise_and_untouched(rng, tmp_path, loss_cls, dtype, layout, which):
    x = rng.standard_normal((7, 6)).astype(dtype)
    x[2, 3] = np.nan  # NaN rows must be laid out the same too
    target = loss_cls.target(rng, 7, 6)
    kwargs = {}
    weight = None
    if loss_cls is MM:
        weight = rng.uniform(-1, 2, 6)
        kwargs = dict(p=2, margin=0.6, weight=weight)
    expected = _results(loss_cls, x, target, kwargs)

    x2, target2, weight2 = x, target, weight
    if which in ("input", "all"):
        x2 = _layout(x, layout, tmp_path)
    if which in ("target", "all"):
        target2 = _layout(target, layout, tmp_path)
    if which in ("weight", "all") and weight is not None:
        weight2 = _layout(weight, layout, tmp_path)
    if which == "all":  # a 1-D target or weight has no Fortran / column-strided form
        target2 = target if target2 is None else target2
        weight2 = weight if weight2 is None else weight2
    assert x2 is not None and target2 is not None
    if loss_cls is MM:
        kwargs = dict(kwargs, weight=weight2)
    before = [_snapshot(a) for a in (x2, target2, weight2)]

    actual = _results(loss_cls, x2, target2, kwargs)

    for a, e in zip(actual, expected):
        assert_bitwise(a, e)
    for value, snapshot in zip((x2, target2, weight2), before):
        if snapshot is not None:
            assert_bitwise(np.asarray(value), snapshot)


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_inputs_never_written_with_out(rng, loss_cls):
    x = rng.standard_normal((5, 4))
    target = loss_cls.target(rng, 5, 4)
    go = rng.standard_normal(5)
    copies = [x.copy(), target.copy(), go.copy()]
    out = np.empty_like(x)
    loss_cls.loss_and_grad(x, target, reduction="none", grad_output=go, out=out)
    for value, copy in zip((x, target, go), copies):
        assert_bitwise(value, copy)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_weight_layouts_in_constructor(rng, tmp_path, dtype):
    x = rng.standard_normal((7, 6)).astype(dtype)
    y = mm_target(rng, 7, 6)
    weight = rng.uniform(0, 2, 6)
    expected = MultiMarginLoss(weight=weight, reduction="none")(x, y)
    for layout in ["strided-rows", "reversed", "read-only", "memmap", "list", "byteswapped"]:
        w = _layout(weight, layout, tmp_path)
        assert_bitwise(MultiMarginLoss(weight=w, reduction="none")(x, y), expected)


# ================================================================== (d) out=


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [np.float16], ids=["float32", "float64",
                                                                    "float16"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("and_loss", [False, True], ids=["grad", "and_grad"])
def test_out_is_used(rng, loss_cls, dtype, reduction, and_loss):
    x = rng.standard_normal((6, 5)).astype(dtype)
    target = loss_cls.target(rng, 6, 5)
    expected = loss_cls.grad(x, target, reduction=reduction)
    out = np.full(x.shape, -7.0, dtype=expected.dtype)
    if and_loss:
        loss, result = loss_cls.loss_and_grad(x, target, reduction=reduction, out=out)
        assert_bitwise(loss, loss_cls.loss(x, target, reduction=reduction))
    else:
        result = loss_cls.grad(x, target, reduction=reduction, out=out)
    assert result is out
    assert np.shares_memory(result, out)
    assert_bitwise(out, expected)


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_out_1d_input(rng, loss_cls, dtype):
    x = rng.standard_normal(5).astype(dtype)
    target = np.int64(2) if loss_cls is MM else np.array([2, 0, -1, 3, 3])
    expected = loss_cls.grad(x, target)
    assert expected.shape == (5,)
    out = np.zeros(5, dtype=dtype)
    assert loss_cls.grad(x, target, out=out) is out
    assert_bitwise(out, expected)


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_out_aliasing_input(rng, loss_cls, dtype, reduction):
    x = rng.standard_normal((6, 5)).astype(dtype)
    x[4, 1] = np.nan
    target = loss_cls.target(rng, 6, 5)
    go = rng.standard_normal(6) if reduction == "none" else 0.75
    expected_loss, expected_grad = loss_cls.loss_and_grad(x, target, reduction=reduction,
                                                          grad_output=go)
    # out is the input itself.
    aliased = x.copy()
    loss, grad = loss_cls.loss_and_grad(aliased, target, reduction=reduction, grad_output=go,
                                        out=aliased)
    assert grad is aliased
    assert_bitwise(loss, expected_loss)
    assert_bitwise(grad, expected_grad)
    aliased = x.copy()
    assert loss_cls.grad(aliased, target, reduction=reduction, grad_output=go,
                         out=aliased) is aliased
    assert_bitwise(aliased, expected_grad)


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_out_partially_overlapping_input(rng, loss_cls):
    # out is the input shifted by one row: writing row n in place would clobber row n + 1.
    x = rng.standard_normal((6, 5))
    target = loss_cls.target(rng, 6, 5)
    expected = loss_cls.grad(x, target, reduction="sum")
    buffer = np.zeros((7, 5))
    buffer[:6] = x
    result = loss_cls.grad(buffer[:6], target, reduction="sum", out=buffer[1:])
    assert np.shares_memory(result, buffer)
    assert_bitwise(buffer[1:], expected)


def test_out_aliasing_weight_and_grad_output():
    # out overlapping the weight or grad_output must not change the result either.
    x = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3], [1.0, 2.0, 3.0, 4.0],
                  [0.0, 0.0, 0.0, 0.0]])
    y = [3, 0, 1, 2]
    buffer = np.arange(1.0, 17.0).reshape(4, 4)
    weight = buffer[0]  # C-contiguous row of out
    expected = multi_margin_loss_grad(x, y, weight=weight.copy(), reduction="sum")
    result = multi_margin_loss_grad(x, y, weight=weight, reduction="sum", out=buffer)
    assert result is buffer
    assert_bitwise(buffer, expected)
    buffer = np.arange(1.0, 17.0).reshape(4, 4)
    go = buffer[:, 0]  # strided column: converted, never read in place
    expected = multi_margin_loss_grad(x, y, reduction="none", grad_output=go.copy())
    multi_margin_loss_grad(x, y, reduction="none", grad_output=go, out=buffer)
    assert_bitwise(buffer, expected)


def test_out_memmap(tmp_path, rng):
    x = rng.standard_normal((6, 5))
    y = mm_target(rng, 6, 5)
    out = np.memmap(tmp_path / "grad.dat", dtype=np.float64, mode="w+", shape=(6, 5))
    assert multi_margin_loss_grad(x, y, out=out) is out
    assert_bitwise(np.asarray(out), multi_margin_loss_grad(x, y))


def test_out_class_methods(rng):
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = mm_target(rng, 6, 5)
    t = mlm_target(rng, 6, 5)
    for loss, target in ((MultiMarginLoss(p=2), y), (MultiLabelMarginLoss(), t)):
        out = np.empty_like(x)
        assert loss.gradient(x, target, out=out) is out
        assert_bitwise(out, loss.gradient(x, target))
        out = np.empty_like(x)
        value, grad = loss.loss_and_gradient(x, target, 2.0, out)
        assert grad is out
        assert_bitwise(grad, loss.gradient(x, target, grad_output=2.0))


# ================================================================== (e) determinism over n_threads

THREADS = [1, 2, 3, 8, -1, None]
BIG_SHAPES = [(4000, 50), (300, 200)]


@pytest.fixture(scope="module")
def big_problems():
    rng = np.random.default_rng(SEED + 1)
    problems = {}
    for shape in BIG_SHAPES:
        assert shape[0] * shape[1] >= SERIAL_BELOW  # so the kernels really run threaded
        x = rng.standard_normal(shape)
        x[17, 3] = np.nan
        problems[shape] = (x, mm_target(rng, *shape), mlm_target(rng, *shape, max_labels=8),
                           rng.standard_normal(shape[0]), rng.uniform(0, 2, shape[1]))
    return problems


def test_openmp_enabled_is_bool():
    assert isinstance(openmp_enabled(), bool)
    assert isinstance(marginloss.openmp_enabled(), bool)


@pytest.mark.parametrize("shape", BIG_SHAPES, ids=["4000x50", "300x200"])
@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_deterministic_over_n_threads(big_problems, shape, loss_cls, dtype):
    x, y, t, go, w = big_problems[shape]
    x = x.astype(dtype)
    target = y if loss_cls is MM else t
    kwargs = dict(p=2, weight=w) if loss_cls is MM else {}

    def run(n_threads):
        results = []
        for reduction in REDUCTIONS:
            g = go if reduction == "none" else 1.3
            kw = dict(kwargs, reduction=reduction, n_threads=n_threads)
            results.append(loss_cls.loss(x, target, **kw))
            results.extend(loss_cls.loss_and_grad(x, target, grad_output=g, **kw))
        return results

    expected = run(1)
    assert np.isnan(expected[0][17])  # the NaN row is there
    for n_threads in THREADS[1:]:
        for a, e in zip(run(n_threads), expected):
            assert_bitwise(a, e)

    import threadpoolctl
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        if openmp_enabled():
            from marginloss._openmp import max_threads
            assert max_threads() == 1  # the limit reaches the kernels' runtime
        for a, e in zip(run(None), expected):
            assert_bitwise(a, e)


def test_multithreading_is_really_used():
    # Guard for the test above: with OpenMP, these problems are split over threads.
    from marginloss._threads import effective_n_threads
    if not openmp_enabled():
        pytest.skip("built without OpenMP: every call is serial")
    for n_samples, n_classes in BIG_SHAPES:
        assert effective_n_threads(2, n_samples, n_samples * n_classes) == 2
        assert effective_n_threads(8, n_samples, n_samples * n_classes) == 8


# ================================================================== (f) NaN and infinities


def _nan_case(rng, loss_cls, dtype):
    x = rng.uniform(-1, 1, (5, 4)).astype(dtype)
    if loss_cls is MM:
        target = np.array([0, 1, 2, 3, 1])
    else:
        target = np.array([[1, -1, -1, -1], [1, 3, -1, -1], [2, -1, 0, 0], [-1, 1, 2, 3],
                           [0, 1, 2, 3]])
    return x, target


@pytest.mark.parametrize("loss_cls", LOSSES)
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


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_nan_single_class_rows(loss_cls, dtype):
    # C = 1: the row is only the target (or only a -1 for MLM).
    x = np.array([[0.5], [np.nan], [-2.0]], dtype=dtype)
    target = np.array([0, 0, 0]) if loss_cls is MM else np.array([[0], [0], [-1]])
    loss, grad = loss_cls.loss_and_grad(x, target, reduction="none")
    assert_bitwise(loss, np.array([0.0, np.nan, 0.0], dtype=dtype))
    assert np.isnan(grad[1, 0])
    assert grad[0, 0] == 0 and grad[2, 0] == 0
    if loss_cls is MLM:
        x = np.array([[np.nan]], dtype=dtype)
        loss, grad = loss_cls.loss_and_grad(x, [[-1]], reduction="sum")
        assert np.isnan(loss) and np.isnan(grad[0, 0])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("p", [1, 2])
def test_inf_minus_inf_term_is_a_nan_row(dtype, p):
    # x[y] = +inf and x[i] = +inf: z = (m - inf) + inf = NaN.
    x = np.array([[np.inf, np.inf, 0.0], [0.1, 0.2, 0.3]], dtype=dtype)
    loss, grad = multi_margin_loss_and_grad(x, [0, 2], p=p, reduction="none")
    assert np.isnan(loss[0]) and np.all(np.isnan(grad[0]))
    clean_loss, clean_grad = multi_margin_loss_and_grad(x[1:], [2], p=p, reduction="none")
    assert_bitwise(loss[1:], clean_loss)
    assert_bitwise(grad[1:], clean_grad)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_multilabel_inf_minus_inf_term_is_a_nan_row(dtype):
    # label 0 at +inf, non-label 1 at +inf: z = (1 - inf) + inf = NaN (PyTorch drops it).
    x = np.array([[np.inf, np.inf, 0.0], [0.1, 0.2, 0.3]], dtype=dtype)
    target = [[0, -1, -1], [2, -1, -1]]
    loss, grad = multilabel_margin_loss_and_grad(x, target, reduction="none")
    assert np.isnan(loss[0]) and np.all(np.isnan(grad[0]))
    clean_loss, clean_grad = multilabel_margin_loss_and_grad(x[1:], target[1:], reduction="none")
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


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [1, 3])
def test_empty_batch(loss_cls, dtype, n_classes):
    x = np.zeros((0, n_classes), dtype=dtype)
    target = np.zeros((0,) if loss_cls is MM else (0, n_classes), dtype=np.int64)
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


# ================================================================== (h) dtypes


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize(
    "dtype, computed",
    [
        (np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float32),
        (np.int64, np.float64), (np.int32, np.float64), (np.int8, np.float64),
        (np.uint8, np.float64), (np.bool_, np.float64), (np.longdouble, np.float64),
    ],
    ids=["float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool",
         "longdouble"],
)
def test_result_dtypes(rng, loss_cls, dtype, computed):
    x = (rng.standard_normal((6, 5)) * 3).astype(dtype)
    target = loss_cls.target(rng, 6, 5)
    reference_x = x.astype(computed)
    for reduction in REDUCTIONS:
        loss, grad = loss_cls.loss_and_grad(x, target, reduction=reduction)
        assert np.asarray(loss).dtype == computed
        assert grad.dtype == computed and grad.shape == x.shape
        if reduction != "none":
            assert type(loss) is computed
        # The same as computing on the converted array.
        assert_bitwise(loss, loss_cls.loss(reference_x, target, reduction=reduction))
        assert_bitwise(grad, loss_cls.grad(reference_x, target, reduction=reduction))


def test_python_scalars_and_lists_are_float64():
    assert type(multi_margin_loss([[1, 2, 3]], [0])) is np.float64
    assert type(multilabel_margin_loss([[True, False]], [[0, -1]])) is np.float64


TARGET_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                 np.uint64]


@pytest.mark.parametrize("target_dtype", TARGET_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_target_dtypes_multi_margin(rng, target_dtype, dtype):
    x = rng.standard_normal((9, 6)).astype(dtype)
    y = mm_target(rng, 9, 6)
    for reduction in REDUCTIONS:
        expected = multi_margin_loss_and_grad(x, y, reduction=reduction, p=2)
        actual = multi_margin_loss_and_grad(x, y.astype(target_dtype), reduction=reduction, p=2)
        assert_bitwise(actual[0], expected[0])
        assert_bitwise(actual[1], expected[1])


@pytest.mark.parametrize("target_dtype", [np.int8, np.int16, np.int32, np.int64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_target_dtypes_multilabel_margin(rng, target_dtype, dtype):
    # -1 padding needs a signed dtype; unsigned targets work for rows without padding.
    x = rng.standard_normal((9, 6)).astype(dtype)
    t = mlm_target(rng, 9, 6)
    for reduction in REDUCTIONS:
        expected = multilabel_margin_loss_and_grad(x, t, reduction=reduction)
        actual = multilabel_margin_loss_and_grad(x, t.astype(target_dtype), reduction=reduction)
        assert_bitwise(actual[0], expected[0])
        assert_bitwise(actual[1], expected[1])


@pytest.mark.parametrize("target_dtype", [np.uint8, np.uint16, np.uint32, np.uint64],
                         ids=lambda d: np.dtype(d).name)
def test_unsigned_targets_multilabel_margin(rng, target_dtype):
    x = rng.standard_normal((4, 5))
    t = np.array([rng.permutation(5) for _ in range(4)])
    expected = multilabel_margin_loss_and_grad(x, t, reduction="none")
    actual = multilabel_margin_loss_and_grad(x, t.astype(target_dtype), reduction="none")
    assert_bitwise(actual[0], expected[0])
    assert_bitwise(actual[1], expected[1])


@pytest.mark.parametrize("weight_dtype", [np.int64, np.int32, np.uint8, np.float32, np.bool_],
                         ids=["int64", "int32", "uint8", "float32", "bool"])
def test_weight_dtypes(rng, weight_dtype):
    x = rng.standard_normal((6, 4))
    y = mm_target(rng, 6, 4)
    w = np.array([1, 2, 0, 3]).astype(weight_dtype)
    expected = multi_margin_loss_and_grad(x, y, weight=w.astype(np.float64), reduction="none")
    actual = multi_margin_loss_and_grad(x, y, weight=w, reduction="none")
    assert_bitwise(actual[0], expected[0])
    assert_bitwise(actual[1], expected[1])
    assert MultiMarginLoss(weight=w).weight.dtype == np.float64


# ================================================================== (i) shapes


def test_multi_margin_none_shape_follows_target(rng):
    x = rng.standard_normal((1, 4))
    assert multi_margin_loss(x, np.int64(2), reduction="none").shape == ()
    assert multi_margin_loss(x, [2], reduction="none").shape == (1,)
    x1 = rng.standard_normal(4)
    assert multi_margin_loss(x1, np.int64(2), reduction="none").shape == ()
    assert multi_margin_loss(x1, [2], reduction="none").shape == (1,)
    assert multi_margin_loss(x1, 2, reduction="none").shape == ()
    assert multi_margin_loss(rng.standard_normal((3, 4)), [0, 1, 2], reduction="none").shape \
        == (3,)
    # 0-d input: one sample of one class.
    assert multi_margin_loss(np.float64(1.5), 0, reduction="none").shape == ()
    assert multi_margin_loss(np.float64(1.5), [0], reduction="none").shape == (1,)
    # The values do not depend on the target's shape.
    np.testing.assert_array_equal(multi_margin_loss(x1, [2], reduction="none"),
                                  multi_margin_loss(x1, 2, reduction="none").reshape(1))
    np.testing.assert_array_equal(multi_margin_loss(x1, 2, reduction="none"),
                                  multi_margin_loss(x1[None], [2], reduction="none")[0])


def test_multilabel_margin_none_shape():
    x = np.array([0.1, 0.2, 0.4, 0.8])
    loss = multilabel_margin_loss(x, [3, 0, -1, 1], reduction="none")
    assert isinstance(loss, np.ndarray) and loss.shape == ()
    assert multilabel_margin_loss(x[None], [[3, 0, -1, 1]], reduction="none").shape == (1,)
    assert loss == multilabel_margin_loss(x[None], [[3, 0, -1, 1]], reduction="none")[0]
    # 0-d input: the target is (1,) or 0-d, 0 or -1; the loss is 0.
    assert multilabel_margin_loss(np.float64(0.3), [0], reduction="none").shape == ()
    assert multilabel_margin_loss(np.float64(0.3), np.int64(-1), reduction="none") == 0


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("shape", [(), (5,), (1, 5), (3, 5), (0, 5), (2, 1)],
                         ids=["0d", "1d", "1xC", "NxC", "0xC", "Nx1"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_gradient_shape_equals_input_shape(rng, loss_cls, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    n_samples = shape[0] if len(shape) == 2 else 1
    n_classes = shape[-1] if shape else 1
    if loss_cls is MM:
        target = mm_target(rng, n_samples, n_classes)
        if len(shape) < 2:
            target = target[0]
    else:
        target = mlm_target(rng, n_samples, n_classes)
        target = target.reshape(shape) if len(shape) == 2 else target.reshape(-1)
    for reduction in REDUCTIONS:
        loss, grad = loss_cls.loss_and_grad(x, target, reduction=reduction)
        assert grad.shape == shape and grad.dtype == dtype
        assert_bitwise(loss_cls.grad(x, target, reduction=reduction), grad)
        if reduction != "none":
            assert type(loss) is dtype  # a NumPy scalar, not an array
            assert not isinstance(loss, np.ndarray)


# ================================================================== (j) classes


@pytest.mark.parametrize(
    "loss_cls, settings",
    [
        pytest.param(MM, {}, id="MM-default"),
        pytest.param(MM, dict(p=2, margin=0.5, reduction="sum"), id="MM-p2"),
        pytest.param(MM, dict(weight=[0.5, 1, 2, -1, 3], reduction="none", n_threads=2),
                     id="MM-weight"),
        pytest.param(MLM, {}, id="MLM-default"),
        pytest.param(MLM, dict(reduction="none", n_threads=1), id="MLM-none"),
    ],
)
def test_class_equals_functional(rng, loss_cls, settings):
    x = rng.standard_normal((8, 5))
    target = loss_cls.target(rng, 8, 5)
    obj = loss_cls.cls(**settings)
    expected = loss_cls.loss(x, target, **settings)
    assert_bitwise(obj(x, target), expected)
    assert_bitwise(obj.forward(x, target), expected)
    go = rng.standard_normal(8) if obj.reduction == "none" else 0.5
    expected_grad = loss_cls.grad(x, target, grad_output=go, **settings)
    assert_bitwise(obj.gradient(x, target, go), expected_grad)
    assert_bitwise(obj.gradient(x, target, grad_output=go), expected_grad)
    loss, grad = obj.loss_and_gradient(x, target, grad_output=go)
    f_loss, f_grad = loss_cls.loss_and_grad(x, target, grad_output=go, **settings)
    assert_bitwise(loss, f_loss)
    assert_bitwise(grad, f_grad)
    assert_bitwise(loss, expected)


def test_class_attributes():
    loss = MultiMarginLoss(p=2.0, margin=np.float32(0.5), weight=[1, 2, 3], reduction="sum",
                           n_threads=3)
    assert loss.p == 2 and type(loss.p) is int
    assert loss.margin == 0.5 and type(loss.margin) is float
    np.testing.assert_array_equal(loss.weight, [1.0, 2.0, 3.0])
    assert loss.weight.dtype == np.float64
    assert loss.reduction == "sum"
    assert loss.n_threads == 3
    default = MultiMarginLoss()
    assert (default.p, default.margin, default.weight, default.reduction, default.n_threads) == (
        1, 1.0, None, "mean", None)
    mlm = MultiLabelMarginLoss(reduction="none", n_threads=-1)
    assert mlm.reduction == "none" and mlm.n_threads == -1
    assert MultiLabelMarginLoss().reduction == "mean"
    assert MultiLabelMarginLoss().n_threads is None


@pytest.mark.parametrize("name, value", [("p", 2), ("margin", 0.5), ("weight", None),
                                         ("reduction", "sum"), ("n_threads", 2)])
def test_multi_margin_attributes_read_only(name, value):
    loss = MultiMarginLoss()
    with pytest.raises(AttributeError, match=rf"MultiMarginLoss\.{name} is read-only"):
        setattr(loss, name, value)
    assert getattr(loss, name) == MultiMarginLoss._defaults[name]


@pytest.mark.parametrize("name, value", [("reduction", "sum"), ("n_threads", 2)])
def test_multilabel_margin_attributes_read_only(name, value):
    loss = MultiLabelMarginLoss()
    with pytest.raises(AttributeError, match=rf"MultiLabelMarginLoss\.{name} is read-only"):
        setattr(loss, name, value)
    assert getattr(loss, name) == MultiLabelMarginLoss._defaults[name]


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError, match="no attribute 'size_average'"):
        MultiMarginLoss().size_average
    with pytest.raises(AttributeError, match="no attribute 'p'"):
        MultiLabelMarginLoss().p


def test_weight_is_a_read_only_copy(rng):
    x = rng.standard_normal((6, 4))
    y = mm_target(rng, 6, 4)
    weight = np.array([1.0, 2.0, 3.0, 4.0])
    loss = MultiMarginLoss(weight=weight, reduction="none")
    expected = loss(x, y)
    assert not np.shares_memory(loss.weight, weight)
    weight[:] = -5.0  # the caller's array changes ...
    assert_bitwise(loss(x, y), expected)  # ... the loss does not
    np.testing.assert_array_equal(loss.weight, [1.0, 2.0, 3.0, 4.0])
    assert not loss.weight.flags.writeable
    with pytest.raises(ValueError):
        loss.weight[0] = 7.0
    # A list weight, and a float64 C-contiguous array that needs no conversion, are copied too.
    w64 = np.ones(4)
    assert not np.shares_memory(MultiMarginLoss(weight=w64).weight, w64)


def test_repr():
    assert repr(MultiMarginLoss(p=2, margin=0.5, reduction="sum")) == \
        "MultiMarginLoss(p=2, margin=0.5, reduction='sum')"
    assert repr(MultiMarginLoss()) == "MultiMarginLoss()"
    assert repr(MultiLabelMarginLoss(reduction="none")) == "MultiLabelMarginLoss(reduction='none')"
    assert repr(MultiLabelMarginLoss()) == "MultiLabelMarginLoss()"
    # Defaults given explicitly are not shown.
    assert repr(MultiMarginLoss(p=1, margin=1.0, reduction="mean", n_threads=None)) == \
        "MultiMarginLoss()"
    assert repr(MultiLabelMarginLoss(n_threads=2)) == "MultiLabelMarginLoss(n_threads=2)"


def test_alias():
    assert MultilabelMarginLoss is MultiLabelMarginLoss
    assert marginloss.MultilabelMarginLoss is MultiLabelMarginLoss


@pytest.mark.parametrize(
    "obj",
    [
        MultiMarginLoss(),
        MultiMarginLoss(p=2, margin=0.5, reduction="sum"),
        MultiMarginLoss(weight=[0.5, 1.0, 2.0, -1.0, 3.0], reduction="none", n_threads=2),
        MultiLabelMarginLoss(),
        MultiLabelMarginLoss(reduction="none", n_threads=-1),
    ],
    ids=["MM-default", "MM-p2", "MM-weight", "MLM-default", "MLM-none"],
)
def test_pickle_round_trip(rng, obj):
    clone = pickle.loads(pickle.dumps(obj))
    assert type(clone) is type(obj)
    assert repr(clone) == repr(obj)
    x = rng.standard_normal((8, 5))
    target = (MM if isinstance(obj, MultiMarginLoss) else MLM).target(rng, 8, 5)
    assert_bitwise(clone(x, target), obj(x, target))
    for a, b in zip(clone.loss_and_gradient(x, target), obj.loss_and_gradient(x, target)):
        assert_bitwise(a, b)
    assert clone.reduction == obj.reduction and clone.n_threads == obj.n_threads
    if isinstance(obj, MultiMarginLoss):
        assert (clone.p, clone.margin) == (obj.p, obj.margin)
        if obj.weight is not None:
            assert_bitwise(clone.weight, obj.weight)
            assert not clone.weight.flags.writeable
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert repr(pickle.loads(pickle.dumps(obj, protocol=protocol))) == repr(obj)


def test_pickle_and_copy_legacy_built_object_does_not_warn(rng):
    with pytest.warns(DeprecationWarning):
        obj = MultiMarginLoss(p=2, size_average=False)
    assert obj.reduction == "sum"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clones = [pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj)]
    x = rng.standard_normal((4, 3))
    y = mm_target(rng, 4, 3)
    for clone in clones:
        assert repr(clone) == repr(obj) == "MultiMarginLoss(p=2, reduction='sum')"
        assert_bitwise(clone(x, y), obj(x, y))


# ================================================================== (k) consistency of the APIs


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_and_grad_equals_separate_calls(rng, loss_cls, dtype, reduction):
    x = rng.standard_normal((30, 7)).astype(dtype)
    target = loss_cls.target(rng, 30, 7)
    kwargs = dict(p=2, margin=0.3, weight=rng.uniform(-1, 2, 7)) if loss_cls is MM else {}
    go = rng.standard_normal(30) if reduction == "none" else -1.25
    loss, grad = loss_cls.loss_and_grad(x, target, reduction=reduction, grad_output=go, **kwargs)
    assert_bitwise(loss, loss_cls.loss(x, target, reduction=reduction, **kwargs))
    assert_bitwise(grad, loss_cls.grad(x, target, reduction=reduction, grad_output=go, **kwargs))


@pytest.mark.parametrize("loss_cls", LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_reductions_consistent(rng, loss_cls, dtype):
    x = rng.standard_normal((30, 7)).astype(dtype)
    target = loss_cls.target(rng, 30, 7)
    kwargs = dict(p=1, weight=rng.uniform(0, 2, 7)) if loss_cls is MM else {}
    grad_mean = loss_cls.grad(x, target, reduction="mean", **kwargs)
    grad_sum = loss_cls.grad(x, target, reduction="sum", **kwargs)
    grad_none = loss_cls.grad(x, target, reduction="none", grad_output=np.ones(30), **kwargs)
    rtol = 1e-6 if dtype is np.float32 else 1e-14
    np.testing.assert_allclose(grad_mean, grad_sum / 30, rtol=rtol, atol=0)
    assert_bitwise(grad_none, grad_sum)
    # A scalar grad_output of 1 with 'none' is the same as ones.
    assert_bitwise(loss_cls.grad(x, target, reduction="none", **kwargs), grad_sum)
    # The loss: sum of 'none' (in float64) and mean = sum / N.
    none = loss_cls.loss(x, target, reduction="none", **kwargs)
    total = loss_cls.loss(x, target, reduction="sum", **kwargs)
    mean = loss_cls.loss(x, target, reduction="mean", **kwargs)
    np.testing.assert_allclose(total, none.astype(np.float64).sum(), rtol=rtol)
    np.testing.assert_allclose(mean, total / 30, rtol=rtol)


# ================================================================== (l) Python threads


def test_thread_safety():
    rng = np.random.default_rng(SEED + 2)
    shape = (400, 100)
    assert shape[0] * shape[1] >= SERIAL_BELOW
    x32 = rng.standard_normal(shape).astype(np.float32)
    x64 = rng.standard_normal(shape)
    y = mm_target(rng, *shape)
    t = mlm_target(rng, *shape, max_labels=6)
    w = rng.uniform(0, 2, shape[1])
    go = rng.standard_normal(shape[0])
    jobs = [
        lambda: multi_margin_loss_and_grad(x64, y, p=2, weight=w, reduction="none",
                                           grad_output=go, n_threads=2),
        lambda: multi_margin_loss_and_grad(x32, y, reduction="sum", n_threads=2),
        lambda: (multi_margin_loss(x64, y, margin=0.3, n_threads=2),),
        lambda: multilabel_margin_loss_and_grad(x64, t, reduction="none", grad_output=go,
                                                n_threads=2),
        lambda: multilabel_margin_loss_and_grad(x32, t, reduction="mean", n_threads=2),
        lambda: (multilabel_margin_loss(x32, t, reduction="sum", n_threads=2),),
    ]
    expected = [job() for job in jobs]

    def worker(seed):
        order = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(jobs)), 4))
        return [(int(k), jobs[k]()) for k in order]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(8)))
    for per_thread in results:
        for k, result in per_thread:
            for a, e in zip(result, expected[k]):
                assert_bitwise(a, e)


# ================================================================== (m) multi-label specifics


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


def test_multi_margin_rows_independent(rng):
    x = rng.standard_normal((50, 6))
    y = mm_target(rng, 50, 6)
    loss, grad = multi_margin_loss_and_grad(x, y, p=2, reduction="none")
    for n in range(0, 50, 7):
        l1, g1 = multi_margin_loss_and_grad(x[n], y[n], p=2, reduction="none")
        assert_bitwise(l1, loss[n])
        assert_bitwise(g1, grad[n])


# ================================================================== random cases vs the reference


@st.composite
def multi_margin_cases(draw):
    n_samples = draw(st.integers(0, 6))
    n_classes = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    x = r.standard_normal((n_samples, n_classes)) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    y = mm_target(r, n_samples, n_classes)
    weight = r.uniform(-2, 3, n_classes) if draw(st.booleans()) else None
    p = draw(st.sampled_from([1, 2]))
    margin = draw(st.floats(-3, 3, allow_nan=False))
    reduction = draw(st.sampled_from(REDUCTIONS))
    go = r.standard_normal(n_samples) if reduction == "none" and draw(st.booleans()) else \
        draw(st.floats(-3, 3, allow_nan=False))
    return x, y, weight, p, margin, reduction, go


@settings(max_examples=80, deadline=None)
@given(multi_margin_cases())
def test_multi_margin_random_vs_reference(case):
    x, y, weight, p, margin, reduction, go = case
    loss, grad = multi_margin_loss_and_grad(x, y, p=p, margin=margin, weight=weight,
                                            reduction=reduction, grad_output=go)
    ref_loss, ref_grad = ref_reduce(*ref_multi_margin(x, y, p, margin, weight), reduction, go)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-12)
    assert grad.shape == x.shape


@st.composite
def multilabel_margin_cases(draw):
    n_samples = draw(st.integers(0, 6))
    n_classes = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    x = r.standard_normal((n_samples, n_classes)) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    # any entries in [-1, C-1]: duplicates, junk after -1, rows starting with -1
    t = r.integers(-1, n_classes, size=(n_samples, n_classes))
    reduction = draw(st.sampled_from(REDUCTIONS))
    go = r.standard_normal(n_samples) if reduction == "none" and draw(st.booleans()) else \
        draw(st.floats(-3, 3, allow_nan=False))
    return x, t, reduction, go


@settings(max_examples=80, deadline=None)
@given(multilabel_margin_cases())
def test_multilabel_margin_random_vs_reference(case):
    x, t, reduction, go = case
    loss, grad = multilabel_margin_loss_and_grad(x, t, reduction=reduction, grad_output=go)
    ref_loss, ref_grad = ref_reduce(*ref_multilabel_margin(x, t), reduction, go)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-12)


# ================================================================== threads: limits and the GIL


@pytest.mark.parametrize("n_threads", [10**6, 2**40], ids=["1e6", "2^40"])
def test_absurd_thread_counts_are_clipped_not_fatal(rng, n_threads):
    # OpenMP aborts the process when it cannot create the threads asked for.
    x = rng.standard_normal((4000, 50))
    y = rng.integers(0, 50, 4000)
    assert_bitwise(multi_margin_loss(x, y, n_threads=n_threads),
                   multi_margin_loss(x, y, n_threads=1))
    t = np.where(rng.random((4000, 50)) < 0.1, rng.integers(0, 50, (4000, 50)), -1)
    assert_bitwise(multilabel_margin_loss_grad(x, t, n_threads=n_threads),
                   multilabel_margin_loss_grad(x, t, n_threads=1))


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_kernels_release_the_gil(rng, loss_cls):
    # While one thread runs a long kernel, another Python thread must keep running:
    # with the GIL held it could not count at all until the call returned.
    import threading

    x = rng.standard_normal((20000, 200))
    target = (rng.integers(0, 200, 20000) if loss_cls is MM
              else np.where(rng.random((20000, 200)) < 0.05, rng.integers(0, 200, (20000, 200)), -1))
    started, done = threading.Event(), threading.Event()
    counts = []

    def count_while_running():
        started.wait()
        n = 0
        while not done.is_set():
            n += 1
        counts.append(n)

    counter = threading.Thread(target=count_while_running)
    counter.start()
    interval = __import__("sys").getswitchinterval()
    try:
        __import__("sys").setswitchinterval(1e-6)
        started.set()
        for _ in range(3):
            loss_cls.loss_and_grad(x, target, n_threads=1)
        done.set()
    finally:
        __import__("sys").setswitchinterval(interval)
        done.set()
        counter.join()
    assert counts[0] > 10_000
