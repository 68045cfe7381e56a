"""What the losses compute: hand-computed values, the NumPy reference, finite differences.

The oracles here need no PyTorch: hand computations (each written out in a
comment), the NumPy reference of ``_reference.py`` (on fixed and on random
problems), and central finite differences of the package's own loss.  Parity
with PyTorch itself, and the golden values PyTorch prints, are in
``test_parity_torch.py`` and ``test_pytorch_cases.py``; the Crammer-Singer and
multi-label specifics in their own files.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _helpers import REDUCTIONS, assert_bitwise, close, mlm_target, mm_target
from _reference import (
    reference_crammer_singer,
    reference_multi_margin_parts,
    reference_multilabel_margin_parts,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from marginloss import (
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)


def ref_multi_margin(x, y, reduction, p=1, margin=1.0, weight=None, grad_output=1.0):
    """(loss, gradient) of the NumPy reference."""
    return reference_multi_margin_parts(x, y, p, margin, weight, reduction, grad_output)[:2]


def ref_multilabel_margin(x, t, reduction, grad_output=1.0):
    return reference_multilabel_margin_parts(x, t, reduction, grad_output)[:2]


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


# The golden values printed by PyTorch 2.13 (all re-derivable by hand) are
# checked in test_pytorch_cases.py (test_golden_float64).


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
    ref_loss, ref_grad = ref_multi_margin(x, y, reduction, p, 0.7, w, go)
    close(loss, ref_loss, 1e-13)
    close(grad, ref_grad, 1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_matches_numpy_reference(rng, reduction):
    x = rng.standard_normal((20, 7))
    t = mlm_target(rng, 20, 7)
    t[3] = [2, 2, 5, -1, 0, 0, 0]  # a duplicate, and junk after -1
    go = rng.standard_normal(20) if reduction == "none" else -0.3
    loss, grad = multilabel_margin_loss_and_grad(x, t, reduction=reduction, grad_output=go)
    ref_loss, ref_grad = ref_multilabel_margin(x, t, reduction, go)
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


# ================================================================== each row on its own


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
    ref_loss, ref_grad = ref_multi_margin(x, y, reduction, p, margin, weight, go)
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
    ref_loss, ref_grad = ref_multilabel_margin(x, t, reduction, go)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-12)


@st.composite
def crammer_singer_cases(draw):
    n_samples = draw(st.integers(1, 6))
    n_classes = draw(st.integers(2, 6))  # one class has no rival (test_crammer_singer.py)
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
@given(crammer_singer_cases())
def test_crammer_singer_random_vs_reference(case):
    x, y, weight, p, margin, reduction, go = case
    loss, grad = multi_margin_loss_and_grad(x, y, p=p, margin=margin, weight=weight,
                                            reduction=reduction, grad_output=go,
                                            multi_class="crammer_singer")
    ref_loss, ref_grad = reference_crammer_singer(x, y, p, margin, weight, reduction, go)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-12)


# ================================================================== the reference itself


def test_numpy_reference_needs_no_torch():
    # The NumPy part of _reference.py (and _helpers.py) imports and runs without PyTorch;
    # only the torch_* oracles and the check_* functions that call them import it.
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # any import of torch fails
        import numpy as np
        import _helpers, _reference
        x = np.array([[0.1, 0.2, 0.4, 0.8]])
        print(_reference.reference_multi_margin(x, [3]),
              _reference.reference_multilabel_margin(x, [[3, 0, -1, 1]]),
              _reference.reference_crammer_singer(x, [3])[0])
    """)
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], cwd=tests, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    loss_mm, loss_mlm, loss_cs = map(float, result.stdout.split())
    # CS: one term against the largest rival, (1 - 0.8) + 0.4, not divided by C.
    close([loss_mm, loss_mlm, loss_cs], [0.325, 0.85, 0.6], 1e-15)

