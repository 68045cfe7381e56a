"""The multi-class kernel's layouts: blocks of LANES classes, blocks of rows.

A row of C >= LANES classes is cut into full blocks of LANES (16) classes, a
last block that overlaps the previous one, and the target's block runs with a
lane mask; rows of fewer than LANES classes take a scalar loop, and in the
AVX2 and AVX-512 builds float32 rows of up to 31 classes (float64: fewer
than LANES) go 8 or 16 at a time (one row a vector lane, from 16 classes
summing as the class blocks; a block with a bad target or a NaN row takes
the row loop, as do the last N % 8 or N % 16 rows; float32 rows of 4,
10 and 16 classes run a copy of the row block with C fixed).  These tests
put the target, NaN and infinities in every kind of position of every layout
(C just below, at and above multiples of LANES; N just below, at and above
multiples of the row blocks) and compare with PyTorch, the NumPy reference
and hand-computed values, so that a wrong mask, a lane counted twice in the
overlapping block, a row of a block mixed up with another or a lost NaN fails
here.
"""

import numpy as np
import pytest

from _reference import check_multi_margin, torch_multi_margin
from marginloss import _kernels, multi_margin_loss, multi_margin_loss_and_grad

LANES = 16
WIDTHS = [1, 2, 3, 15, 16, 17, 31, 32, 33, 40, 47, 48, 49, 50, 64, 65, 100]
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
@pytest.mark.parametrize("n_classes", [3, 15, 16, 17, 32, 33, 50, 100])
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
@pytest.mark.parametrize("n_classes", [4, 10, 16, 24, 100, 1000])
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


# ------------------------------------------------------------- row blocks

ROW_COUNTS = [7, 8, 9, 15, 16, 17, 31, 32, 33, 50]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_samples", ROW_COUNTS)
@pytest.mark.parametrize("n_classes", [1, 2, 4, 7, 8, 10, 14, 15, 16, 17, 24, 31, 32])
@pytest.mark.parametrize("p", [1, 2])
def test_row_blocks_match_torch(n_samples, n_classes, p, dtype):
    rng = np.random.default_rng(100 * n_samples + n_classes + p)
    x = rng.normal(scale=0.8, size=(n_samples, n_classes)).astype(dtype)
    y = np.arange(n_samples) % n_classes  # every target position in every block lane
    weight = rng.uniform(0.5, 2.0, size=n_classes)
    grad_output = rng.normal(size=n_samples)
    check_multi_margin(x, y, p=p, weight=weight, reduction="none",
                       grad_output=grad_output, check_api=False)
    check_multi_margin(x, y, p=p, reduction="mean", check_api=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [3, 4, 10, 15, 16, 23, 31])
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_a_non_finite_score_in_a_row_block_leaves_its_other_rows_alone(n_classes, special,
                                                                       dtype):
    rng = np.random.default_rng(n_classes)
    n_samples = 40
    x = rng.normal(size=(n_samples, n_classes)).astype(dtype)
    y = rng.integers(0, n_classes, n_samples)
    clean_loss, clean_grad = multi_margin_loss_and_grad(x, y, reduction="none")
    for row in (0, 5, 15, 16, 23, 39):
        dirty = x.copy()
        dirty[row, (row + 1) % n_classes] = special
        loss, grad = multi_margin_loss_and_grad(dirty, y, reduction="none")
        others = np.arange(n_samples) != row
        np.testing.assert_array_equal(loss[others], clean_loss[others])
        np.testing.assert_array_equal(grad[others], clean_grad[others])
        if np.isnan(special):
            assert np.isnan(loss[row]) and np.isnan(grad[row]).all()
        else:
            with np.errstate(invalid="ignore"):  # the reference's inf - inf
                check_multi_margin(dirty, y, reduction="none", check_api=False)


# ------------------------------------------------- hand-computed exact ties


def _tie_rows(n_classes):
    """Rows with an exact tie: z_i = (1 - x[y]) + x[i] is exactly 0 for some i.

    Row 0: x[y] = 1, so z_i = x[i]; the scores are 0 (a tie), 0.5, -0.25 and
    2 in turn.  Row 1: x[y] = 0.75, so z_i = 0.25 + x[i]; the scores -0.25
    (a tie by cancellation), 0.25, -1 and 0.75 in turn.  All values are
    dyadic: every z_i and every sum is exact in float32.
    """
    x = np.empty((2, n_classes))
    x[0] = np.resize([0.0, 0.5, -0.25, 2.0], n_classes)
    x[1] = np.resize([-0.25, 0.25, -1.0, 0.75], n_classes)
    y = np.array([n_classes // 2, n_classes - 1])
    x[0, y[0]] = 1.0
    x[1, y[1]] = 0.75
    return x, y


def _hand_loss_grad(x, y, p):
    """Loss and gradient (reduction='none', grad_output 1) term by term, in the
    kernel's documented order: the row sum (exact here) divided by C once,
    gradient entries p * z ** (p - 1) * (1/C) as coef = 1/C, (2 * coef) * z."""
    n_samples, n_classes = x.shape
    coef = 1.0 / n_classes
    loss = np.zeros(n_samples)
    grad = np.zeros_like(x)
    for n in range(n_samples):
        row_sum = slope = 0.0
        for i in range(n_classes):
            z = (1.0 - x[n, y[n]]) + x[n, i]
            if i != y[n] and z > 0:  # z == 0: a tie, inactive
                row_sum += z ** p
                slope += 1.0 if p == 1 else z
                grad[n, i] = coef if p == 1 else (2.0 * coef) * z
        loss[n] = row_sum / n_classes
        grad[n, y[n]] = 0.0 - (coef if p == 1 else 2.0 * coef) * slope
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [4, 7, 8, 10, 15, 16, 17, 20, 31, 32, 33, 50])
@pytest.mark.parametrize("p", [1, 2])
def test_exact_ties_are_inactive(n_classes, dtype, p):
    x, y = _tie_rows(n_classes)
    loss_expected, grad_expected = _hand_loss_grad(x, y, p)
    assert (grad_expected == 0).sum() >= 2 * (n_classes // 4)  # the ties count for nothing
    # 24 copies of the two rows: 16- and 8-row blocks and a tail
    xs = np.tile(x, (24, 1)).astype(dtype)
    ys = np.tile(y, 24)
    loss, grad = multi_margin_loss_and_grad(xs, ys, p=p, reduction="none")
    grad_expected = np.tile(grad_expected, (24, 1)).astype(dtype)
    np.testing.assert_array_equal(loss, np.tile(loss_expected, 24).astype(dtype))
    rows = np.arange(ys.size)
    # float64 rows of fewer than 16 classes add gradient[y]'s terms one by one
    # (coef + coef + ...), not coef * count: the same to within an ulp
    np.testing.assert_allclose(grad[rows, ys], grad_expected[rows, ys], rtol=4e-16, atol=0)
    grad[rows, ys] = grad_expected[rows, ys] = 0
    np.testing.assert_array_equal(grad, grad_expected)


def test_a_hand_computed_row_of_seventeen_classes():
    # C = 17 >= LANES: one full block of 16 classes and the overlapping last one.
    x = np.zeros((1, 17), dtype=np.float32)
    x[0, :] = [0.0, 0.5, -0.25, 2.0, 1.0, 0.0, 0.5, -0.25, 2.0, 0.0, 0.5, -0.25, 2.0,
               0.0, 0.5, -0.25, 2.0]
    # y = 4 with x[y] = 1: z_i = x[i]; active: four 0.5 and four 2.0; ties: four 0.0
    loss, grad = multi_margin_loss_and_grad(x, [4], reduction="sum")
    assert float(loss) == np.float32((4 * 0.5 + 4 * 2.0) / 17)
    expected = np.where(x[0] > 0, np.float32(1 / 17), np.float32(0))
    expected[4] = np.float32(-8 / 17)
    np.testing.assert_array_equal(grad[0], expected)


@pytest.mark.parametrize("p", [1, 2])
def test_a_hand_computed_row_of_fifty_classes(p):
    # C = 50 (float32 rows from 32 classes on: each class block one vector in
    # the AVX-512 build): three full blocks and the last one, classes 34..49,
    # of which 48 and 49 are new.  x[y] = 1 so z_i = x[i]: the pattern 2.0
    # (active), 0.0 (an exact tie), -1.0, 0.5 (active); y = 49, in the last
    # block's new lanes, then y = 40, in its old ones.
    pattern = np.resize(np.array([2.0, 0.0, -1.0, 0.5], dtype=np.float32), 50)
    for y in (49, 40, 0):
        x = pattern.copy().reshape(1, -1)
        x[0, y] = 1.0
        terms = np.delete(x[0], y)
        active = terms[terms > 0].astype(np.float64)
        loss, grad = multi_margin_loss_and_grad(x, [y], p=p, reduction="sum")
        assert float(loss) == np.float32(np.sum(active ** p) / 50), y
        slope = np.where(x[0] > 0, p * x[0] ** (p - 1), 0.0) / 50
        expected = slope.astype(np.float32)
        expected[y] = np.float32(-(np.sum(active ** (p - 1)) * p / 50))
        np.testing.assert_array_equal(grad[0], expected)


def test_the_kernel_build_in_use_is_reported():
    assert _kernels.kernel_build() in _kernels.BUILDS


def test_a_hand_computed_block_of_rows_of_twenty_classes():
    # 32 rows of C = 20 (16 <= C < 32): row blocks summing as the class blocks
    # (lane k adds classes k and, from the overlapping block, k + 4 for k >= 12).
    # Row n: x[y] = 1 and z_i = x[i]: scores 2.0 (active), 0.0 (an exact tie)
    # and -1.0 in turn; y = n % 20.
    n_samples, n_classes = 32, 20
    base = np.resize([2.0, 0.0, -1.0], n_classes)
    x = np.tile(base, (n_samples, 1)).astype(np.float32)
    y = np.arange(n_samples) % n_classes
    x[np.arange(n_samples), y] = 1.0
    loss, grad = multi_margin_loss_and_grad(x, y, reduction="none")
    for n in range(n_samples):
        active = [i for i in range(n_classes) if i != y[n] and x[n, i] == 2.0]
        assert loss[n] == np.float32(2.0 * len(active) / n_classes), n
        expected = np.zeros(n_classes, dtype=np.float32)
        expected[active] = np.float32(1 / n_classes)
        expected[y[n]] = np.float32(-len(active) / n_classes)
        np.testing.assert_array_equal(grad[n], expected)
