"""The multi-class kernel's row layout: blocks of LANES classes.

A row of C >= LANES classes is cut into full blocks of LANES (16) classes, a
last block that overlaps the previous one, and the target's block runs with a
lane mask; rows of fewer than LANES classes take a scalar loop.  These tests
put the target, NaN and infinities in every kind of position of every layout
(C just below, at and above multiples of LANES) and compare with PyTorch and
the NumPy reference, so that a wrong mask, a lane counted twice in the
overlapping block or a lost NaN fails here.
"""

import numpy as np
import pytest

from _reference import check_multi_margin, torch_multi_margin
from marginloss import multi_margin_loss, multi_margin_loss_and_grad

LANES = 16
WIDTHS = [1, 2, 3, 15, 16, 17, 31, 32, 33, 40, 47, 48, 49, 100]
DTYPES = [np.float32, np.float64]


def _targets_for(n_classes):
    """Every class for small C; else the edges of every block and the overlap."""
    if n_classes <= 40:
        return list(range(n_classes))
    edges = {0, n_classes - 1, n_classes - LANES, n_classes - LANES - 1}
    for base in range(0, n_classes, LANES):
        edges |= {base, base + 1, base + LANES - 1}
    return sorted(y for y in edges if 0 <= y < n_classes)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", WIDTHS)
@pytest.mark.parametrize("p", [1, 2])
def test_every_target_position_matches_torch(n_classes, dtype, p):
    rng = np.random.default_rng(1000 * n_classes + p)
    targets = np.array(_targets_for(n_classes))
    # one row per target position, scores around the margin so that about
    # half of the terms are active
    x = rng.normal(scale=0.8, size=(targets.size, n_classes)).astype(dtype)
    weight = rng.uniform(0.5, 2.0, size=n_classes)
    grad_output = rng.normal(size=targets.size)
    check_multi_margin(x, targets, p=p, weight=weight, reduction="none",
                       grad_output=grad_output, check_api=False)
    check_multi_margin(x, targets, p=p, reduction="sum", check_api=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [3, 15, 16, 17, 33, 100])
def test_a_nan_anywhere_but_the_target_makes_the_row_nan(n_classes, dtype):
    rng = np.random.default_rng(n_classes)
    for y in (0, n_classes // 2, n_classes - 1):
        for position in range(n_classes):
            x = rng.normal(size=(2, n_classes)).astype(dtype)
            x[0, position] = np.nan
            loss, grad = multi_margin_loss_and_grad(x, [y, y], reduction="none")
            assert np.isnan(loss[0]), (y, position)
            assert np.all(np.isnan(grad[0])), (y, position)
            # the other row is untouched by the NaN
            assert np.isfinite(loss[1]) and np.all(np.isfinite(grad[1]))
            forward = multi_margin_loss(x, [y, y], reduction="none")
            assert np.isnan(forward[0]) and np.isfinite(forward[1])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [3, 15, 16, 17, 33, 100])
def test_inf_at_the_target_gives_zero_in_every_layout(n_classes, dtype):
    # x[y] = +inf: z_y = -inf + inf is NaN but excluded; every other z = -inf.
    for y in range(0, n_classes, max(1, n_classes // 7)):
        x = np.linspace(-1, 1, n_classes).astype(dtype).reshape(1, -1)
        x[0, y] = np.inf
        loss, grad = multi_margin_loss_and_grad(x, [y], reduction="sum")
        assert loss == 0 and not np.signbit(loss), y
        assert np.all(grad == 0), y
        assert multi_margin_loss(x, [y], reduction="sum") == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [5, 16, 33, 100])
@pytest.mark.parametrize("p", [1, 2])
def test_an_infinite_score_gives_infinite_terms(n_classes, dtype, p):
    # x = 0 but x[C-1] = +inf, y = 0: every z_i = 1 is active and z_{C-1} = inf.
    x = np.zeros((1, n_classes), dtype=dtype)
    x[0, n_classes - 1] = np.inf
    loss, grad = multi_margin_loss_and_grad(x, [0], p=p, reduction="sum")
    t_loss, t_grad = torch_multi_margin(x, np.array([0]), p=p, reduction="sum")
    assert loss == np.inf and t_loss == np.inf
    coef = 1.0 / n_classes
    if p == 1:
        expected = np.full(n_classes, coef)
        expected[0] = -(n_classes - 1) * coef
    else:
        expected = np.full(n_classes, 2 * coef)
        expected[-1] = np.inf
        expected[0] = -np.inf
    np.testing.assert_allclose(grad[0], expected.astype(dtype), rtol=1e-6)
    np.testing.assert_allclose(t_grad[0], expected.astype(dtype), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [7, 16, 17, 100])
def test_signed_zeros_of_inactive_terms_in_every_layout(n_classes, dtype):
    # Every term inactive: the loss is +0, gradient entries are 0 * grad_output
    # (so -0 for a negative grad_output) and gradient[y] is (0 - 0) * grad_output.
    x = np.full((3, n_classes), -5.0, dtype=dtype)
    y = np.array([0, n_classes // 2, n_classes - 1])
    x[np.arange(3), y] = 5.0
    grad_output = np.array([-2.0, 3.0, -0.0])
    weight = np.full(n_classes, -1.5)  # a negative weight must not flip the loss' sign
    loss, grad = multi_margin_loss_and_grad(x, y, weight=weight, reduction="none",
                                            grad_output=grad_output)
    assert np.all(loss == 0) and not np.any(np.signbit(loss))
    expected = np.zeros_like(grad) * grad_output[:, None]
    np.testing.assert_array_equal(np.signbit(grad), np.signbit(expected))
    check_multi_margin(x, y, weight=weight, reduction="none", grad_output=grad_output,
                       check_api=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [10, 16, 100, 1000])
def test_threads_do_not_change_a_bit(n_classes, dtype):
    rng = np.random.default_rng(n_classes)
    n_samples = (1 << 16) // n_classes + 37  # above the serial threshold
    x = rng.normal(size=(n_samples, n_classes)).astype(dtype)
    y = rng.integers(0, n_classes, n_samples)
    for p in (1, 2):
        runs = [multi_margin_loss_and_grad(x, y, p=p, reduction="none", n_threads=t)
                for t in (1, 2, 3)]
        for loss, grad in runs[1:]:
            np.testing.assert_array_equal(loss, runs[0][0])
            np.testing.assert_array_equal(grad, runs[0][1])
