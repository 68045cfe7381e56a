"""Hand-computed cases at the edges of every kernel path: exact ties and tails.

Every expected value here comes from the definition in exact arithmetic
(scores are multiples of 1/4, so each term ``z = (m - x[y]) + x[i]`` is a
small integer over 4 and every sum is exact; the division by C and the
weights are exact fractions), never from the package.  The first cases of
each loss are also written out by hand.  A tie, ``z == 0`` exactly, is
inactive (the test is ``z > 0``), so a tie changes nothing in the loss but
a ``>=`` in place of ``>`` shows in the gradient.

The cases sit where off-by-one bugs live:

- multi-class, rows of C >= LANES = 16 classes: ties and active terms at the
  first and last class of every block and of the overlapping last block
  (C = 16, 17, 18, 31, 32, 33, 47, 48, 49), the target in each of them;
- multi-class, rows of C < 16 classes: N just below, at and above the row
  blocks of 8 (AVX2) and 16 (AVX-512) rows, each row different (a row mixed
  up with its neighbour fails), and blocks that fall back to the row loop (a
  NaN or an infinite score in one row);
- every build of the multi-class kernels this CPU runs, in this process;
- Crammer-Singer: the first largest rival, a tie, C >= 16;
- multi-label: the direct loop (k <= 2 labels), the counting path (k <= 16,
  non-target classes 8 at a time with a tail), the binary search above, the
  insertion sort below and the radix sort at and above 64 (float32) / 128
  (float64) labels; index and indicator targets, repeated labels, every
  class a label, no label.

conftest.py runs this file first, so that such a bug fails in the first
seconds of the suite.
"""

from fractions import Fraction

import numpy as np
import pytest

import marginloss
from marginloss import (
    _kernels,
    _multilabel_margin,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
)

DTYPES = [np.float32, np.float64]
LANES = getattr(_kernels.multi_margin, "LANES", 16)  # classes per block (multi-class)
COUNT_MAX_LABELS = _multilabel_margin.COUNT_MAX_LABELS
DIRECT_MAX_LABELS = _multilabel_margin.DIRECT_MAX_LABELS
RADIX_MIN = {np.float32: _multilabel_margin.RADIX_MIN_FLOAT32,
             np.float64: _multilabel_margin.RADIX_MIN_FLOAT64}
ML_LANES = 8  # non-target classes per step of the multi-label counting path
BLOCK_CLASSES = [16, 17, 18, 31, 32, 33, 47, 48, 49]
ROW_COUNTS = [7, 8, 9, 15, 16, 17, 31, 33]  # ROWS - 1, ROWS, ROWS + 1, 2 ROWS + 1
# float64 gradients: the kernels round coef = scale * w[y] and coef * go (and
# add float64 rows' grad_y term by term): a few ulps.  Every off-by-one below
# moves a value by a whole term, far more.
GRAD_RTOL = {np.float32: 0.0, np.float64: 2.0**-46}


def _builds():
    """The multi-class builds this CPU runs (the others are tested where they run)."""
    builds = []
    for build in _kernels.BUILDS:
        module = _kernels.load(build)
        if module is not None and _kernels.cpu_supports(build):
            builds.append(build)
    return builds


@pytest.fixture(params=_builds())
def build(request, monkeypatch):
    """Run the public multi-class functions on one kernel build."""
    module = _kernels.load(request.param)
    monkeypatch.setattr(marginloss._losses, "_multi_margin", module)
    return request.param


def _assert_exact(ours, expected, dtype, what, rtol=0.0):
    ours = np.asarray(ours)
    assert ours.dtype == dtype, (what, ours.dtype)
    expected = _as_float64(expected).astype(dtype)
    if rtol:
        np.testing.assert_allclose(ours, expected, rtol=rtol, atol=0, err_msg=what)
    else:
        np.testing.assert_array_equal(ours, expected, err_msg=what)


# =========================================================== multi-class: the oracle
def multi_margin_exact(x, y, p=1, margin=1, weight=None, grad_output=None):
    """Per-sample losses and gradient (reduction='none') as exact Fractions.

    x: rows of multiples of 1/4, NaN or +-inf.  loss_n = w[y]/C * sum_{i != y,
    z_i > 0} z_i**p, gradient_i = w[y]/C * p * z_i**(p-1) * go_n for the
    active i, gradient_y = -(their sum); a NaN score makes the row None (NaN).
    Infinities only where they make a term inactive (-inf at i != y, +inf at y)."""
    x = np.asarray(x, dtype=np.float64)
    n_samples, n_classes = x.shape
    weight = np.ones(n_classes) if weight is None else np.asarray(weight)
    grad_output = np.ones(n_samples) if grad_output is None else np.asarray(grad_output)
    losses, grads = [], []
    for n in range(n_samples):
        row, t = x[n], int(y[n])
        if np.isnan(row).any():
            losses.append(None)
            grads.append([None] * n_classes)
            continue
        coef = Fraction(weight[t]) / n_classes
        go = Fraction(grad_output[n])
        total, grad = Fraction(0), [Fraction(0)] * n_classes
        for i in range(n_classes):
            if i == t or row[i] == -np.inf or row[t] == np.inf:
                continue
            assert np.isfinite(row[i]) and np.isfinite(row[t]), "not a hand case"
            z = (Fraction(margin) - Fraction(row[t])) + Fraction(row[i])
            if z > 0:  # strict: a tie z == 0 is inactive
                total += z ** p
                grad[i] = coef * p * z ** (p - 1) * go
        grad[t] = -sum(grad)
        losses.append(coef * total)
        grads.append(grad)
    return losses, grads


_EXACT = {}  # the oracle's values (as float64), by case: each build and dtype reuses them


def _as_float64(values):
    return np.array([np.nan if v is None else float(v) for v in np.ravel(values)],
                    dtype=np.float64).reshape(np.shape(values))


def check_multi_margin(x, y, dtype, p=1, weight=None, grad_output=None):
    x = np.asarray(x, dtype=dtype)
    y = np.asarray(y)
    key = (x.astype(np.float64).tobytes(), x.shape, y.tobytes(), p,
           None if weight is None else tuple(weight),
           None if grad_output is None else tuple(grad_output))
    if key not in _EXACT:
        losses, grads = multi_margin_exact(x, y, p, weight=weight, grad_output=grad_output)
        _EXACT[key] = _as_float64(losses), _as_float64(grads)
    losses, grads = _EXACT[key]
    go = 1.0 if grad_output is None else np.asarray(grad_output, dtype=np.float64)
    kwargs = dict(p=p, weight=weight, reduction="none")
    loss, grad = multi_margin_loss_and_grad(x, y, grad_output=go, **kwargs)
    _assert_exact(loss, losses, dtype, "loss")
    _assert_exact(grad, grads, dtype, "gradient", GRAD_RTOL[dtype])
    _assert_exact(multi_margin_loss(x, y, **kwargs), losses, dtype, "loss()")


# ===================================================== multi-class: written by hand
# C = 18, y = 2, x[y] = 1, margin 1: z_i = x[i].  Active: class 0 (0.5), 4 (0.25),
# 16 (2); ties (z = 0): classes 5..15 and 17, the last class, in the overlapping
# block (classes 2..17, of which 16 and 17 are new).
X18 = [0.5, 0, 1, -1, 0.25] + [0] * 11 + [2, 0]
HAND_18 = {
    # p: (loss, {class: gradient}), reduction='none', grad_output 1
    1: (Fraction(11, 4) / 18, {0: Fraction(1, 18), 4: Fraction(1, 18), 16: Fraction(1, 18),
                               2: Fraction(-3, 18)}),
    2: (Fraction(69, 16) / 18, {0: Fraction(1, 18), 4: Fraction(1, 36), 16: Fraction(2, 9),
                                2: Fraction(-11, 36)}),
}
# C = 17 (a full block and an overlapping block with one new class, 16):
# row 0: y = 0, x[y] = 0.75 (z_i = 0.25 + x[i]): x[15] = 0.25 is active (0.5),
#        x[16] = -0.25 a tie by cancellation, the rest -1 (z = -0.75);
# row 1: y = 16, the target in the overlapping block: x[y] = 1, x[1] = 0.5
#        active, x[0] = 0 and x[15] = 0 ties, the rest -1.
X17 = [[0.75] + [-1] * 14 + [0.25, -0.25],
       [0, 0.5] + [-1] * 13 + [0, 1]]
Y17 = [0, 16]
HAND_17 = {  # p = 1, 2: both rows have one active term z = 0.5
    1: ([Fraction(1, 34)] * 2, [{15: Fraction(1, 17), 0: Fraction(-1, 17)},
                                {1: Fraction(1, 17), 16: Fraction(-1, 17)}]),
    2: ([Fraction(1, 68)] * 2, [{15: Fraction(1, 17), 0: Fraction(-1, 17)},
                                {1: Fraction(1, 17), 16: Fraction(-1, 17)}]),
}


def _dense(n_classes, entries):
    row = [Fraction(0)] * n_classes
    for i, v in entries.items():
        row[i] = v
    return row


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_written_by_hand(build, p, dtype):
    loss_18, grad_18 = HAND_18[p]
    loss_17, grad_17 = HAND_17[p]
    cases = [([X18], [2], [loss_18], [_dense(18, grad_18)]),
             (X17, Y17, loss_17, [_dense(17, g) for g in grad_17])]
    for x, y, losses, grads in cases:
        assert multi_margin_exact(x, y, p) == (losses, grads)  # the oracle agrees
        # 20 copies: blocks of rows would take them together, if C were < 16
        x = np.tile(np.asarray(x, dtype=dtype), (20, 1))
        y = np.tile(y, 20)
        loss, grad = multi_margin_loss_and_grad(x, y, p=p, reduction="none")
        _assert_exact(loss, np.tile(losses, 20), dtype, "loss")
        _assert_exact(grad, np.tile(np.array(grads, dtype=object), (20, 1)), dtype,
                      "gradient", GRAD_RTOL[dtype])
        total = multi_margin_loss(x, y, p=p, reduction="sum")  # rounded at each addition
        assert type(total) is dtype
        np.testing.assert_allclose(total, float(sum(losses) * 20),
                                   rtol=np.finfo(dtype).eps * 2)


# ============================================= multi-class: rows of C >= 16 classes
def _edges(n_classes):
    """The classes at the edges of the blocks: first and last of each full block,
    the overlapping block's first class and first new class, the last two."""
    full_end = LANES * (n_classes // LANES)
    edges = {0, 1, LANES - 1, LANES, LANES + 1, full_end - 1, full_end,
             n_classes - LANES - 1, n_classes - LANES, n_classes - 2, n_classes - 1}
    for base in range(0, n_classes, LANES):
        edges |= {base, base + LANES - 1}
    return sorted(e for e in edges if 0 <= e < n_classes)


def _block_rows(n_classes):
    """Two rows per target position (every edge): (ties at the edges, distinct active
    terms elsewhere), (distinct active terms at the edges, ties or inactive terms
    elsewhere).  x[y] = 0.75, so z_i = 0.25 + x[i]: a tie is x[i] = -0.25."""
    edges = _edges(n_classes)
    rows, targets = [], []
    for y in edges:
        for kind in ("ties at edges", "active at edges"):
            z = np.empty(n_classes)
            for i in range(n_classes):
                at_edge = i in edges
                if (kind == "ties at edges") == at_edge:
                    z[i] = 0.0
                elif kind == "ties at edges":
                    z[i] = 0.25 * (1 + i % 7) if i % 3 else -1.0
                else:
                    z[i] = 0.5 * (1 + edges.index(i)) if at_edge else (0.0 if i % 2 else -0.5)
            x = z - 0.25
            x[y] = 0.75
            rows.append(x)
            targets.append(y)
    return np.array(rows), np.array(targets)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", BLOCK_CLASSES)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_class_block_edges(build, n_classes, p, dtype):
    x, y = _block_rows(n_classes)
    weight = np.resize([1.0, 1.5, 0.5, 2.0, 0.75], n_classes)
    grad_output = np.resize([1.0, -0.5, 2.0, 0.25, -3.0], y.size)
    check_multi_margin(x, y, dtype, p=p, weight=weight, grad_output=grad_output)


# ============================================ multi-class: rows of C < 16, row blocks
def _short_rows(n_samples, n_classes):
    """n_samples different rows: target (5 r + 1) mod C, z_i cycling through a tie,
    active terms of several sizes and inactive ones, shifted by the row; the
    target's score varies so that the shift m - x[y] does too."""
    pattern = [0.0, 0.5, -1.0, 1.5, 0.0, 0.25, -0.5, 2.0, 0.0, 0.75, -0.25]
    shifts = [0.25, -0.5, 1.0, 0.0, 1.75]
    x = np.empty((n_samples, n_classes))
    y = (5 * np.arange(n_samples) + 1) % n_classes
    for r in range(n_samples):
        shift = shifts[r % len(shifts)]
        z = np.array([pattern[(r + i) % len(pattern)] for i in range(n_classes)])
        x[r] = z - shift
        x[r, y[r]] = 1.0 - shift
    return x, y


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", range(1, LANES))  # each C: a build may specialise it
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_row_block_tails(build, n_classes, p, dtype):
    for n_samples in ROW_COUNTS:
        x, y = _short_rows(n_samples, n_classes)
        weight = np.resize([1.0, 1.5, 0.5, 2.0, 0.75], n_classes)
        grad_output = np.resize([1.0, -0.5, 2.0, 0.25, -3.0, 1.5, 0.125], n_samples)
        check_multi_margin(x, y, dtype, p=p, weight=weight, grad_output=grad_output)
        check_multi_margin(x, y, dtype, p=p)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_samples", [16, 17, 32, 33])
@pytest.mark.parametrize("n_classes", [1, 3, 10, 15, 17])
def test_multi_margin_blocks_that_fall_back(build, n_samples, n_classes, dtype):
    # a NaN score (the row is NaN), -inf at a class (an inactive term) and +inf at
    # the target (every term inactive) each send their block of rows to the row
    # loop; the other rows keep their exact values.  The NaNs sit at the first
    # and the last score of blocks of 8 and 16 rows (the ends of the scan for
    # non-finite scores) and inside one.
    x, y = _short_rows(n_samples, n_classes)
    x[3, (y[3] + 1) % n_classes] = np.nan
    for row in (7, 15, 31):
        if row < n_samples:
            x[row, -1] = np.nan
    x[n_samples - 1, 0] = np.nan
    if n_classes > 1:
        x[8, (y[8] + 1) % n_classes] = -np.inf
        x[12, (y[12] + 1) % n_classes] = -np.inf
    x[n_samples - 2, y[n_samples - 2]] = np.inf
    for p in (1, 2):
        check_multi_margin(x, y, dtype, p=p)


# ============================================================== Crammer-Singer
def crammer_singer_exact(x, y, p=1, margin=1):
    """loss_n = max(0, z)**p, z = (m - x[y]) + x[r], r the first largest i != y;
    gradient p z**(p-1) at r, its negative at y (reduction='none')."""
    losses, grads = [], []
    for row, t in zip(np.asarray(x, dtype=np.float64), y):
        others = [i for i in range(len(row)) if i != t]
        grad = [Fraction(0)] * len(row)
        loss = Fraction(0)
        if others:
            r = max(others, key=lambda i: (row[i], -i))
            z = (Fraction(margin) - Fraction(row[t])) + Fraction(row[r])
            if z > 0:
                loss = z ** p
                grad[r] = p * z ** (p - 1)
                grad[t] = -grad[r]
        losses.append(loss)
        grads.append(grad)
    return losses, grads


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [2, 3, 15, 16, 17, 18, 33])
@pytest.mark.parametrize("p", [1, 2])
def test_crammer_singer_ties_and_first_rival(n_classes, p, dtype):
    last = n_classes - 1
    rows, targets = [], []
    for y in sorted({0, last, n_classes // 2}):
        for rival_score in (-0.25, 0.5):  # z = 0 (a tie: inactive) and z = 0.75
            x = np.full(n_classes, -2.0)
            x[y] = 0.75
            rival = last if y != last else 0
            x[rival] = rival_score
            if n_classes > 3:  # an equal score after the rival: the first one wins
                first = (y + 1) % n_classes if (y + 1) % n_classes != rival else 1
                x[first] = rival_score
            rows.append(x)
            targets.append(y)
    x, y = np.array(rows, dtype=dtype), np.array(targets)
    # written by hand: z = 0.25 + rival_score, 0 or 0.75
    losses, grads = crammer_singer_exact(x, y, p)
    assert losses == [Fraction(0), Fraction(3, 4) ** p] * (len(losses) // 2)
    loss, grad = multi_margin_loss_and_grad(x, y, p=p, multi_class="crammer_singer",
                                            reduction="none")
    _assert_exact(loss, losses, dtype, "loss")
    _assert_exact(grad, grads, dtype, "gradient")


# ====================================================== multi-label: the oracle
def multilabel_exact(x, target, margin=1):
    """Per-sample losses and gradients (reduction='none') as exact Fractions: the
    labels are the entries before the first -1 (a repeated label counts twice);
    loss_n = 1/C sum_{j label} sum_{d not a label, z > 0} z, z = (m - x[j]) + x[d],
    gradient_d = #active pairs of d / C, gradient_j = -#active pairs of j / C."""
    x = np.asarray(x, dtype=np.float64)
    n_samples, n_classes = x.shape
    losses, grads = [], []
    for row, t in zip(x, np.asarray(target)):
        end = np.flatnonzero(t < 0)
        labels = [int(j) for j in t[:end[0] if end.size else n_classes]]
        others = [d for d in range(n_classes) if d not in set(labels)]
        count = [0] * n_classes
        total = Fraction(0)
        for j in labels:
            for d in others:
                z = (Fraction(margin) - Fraction(row[j])) + Fraction(row[d])
                if z > 0:  # strict: a tie is inactive
                    total += z
                    count[d] += 1
                    count[j] -= 1
        losses.append(total / n_classes)
        grads.append([Fraction(c, n_classes) for c in count])
    return losses, grads


class on_path:
    """The multi-label kernel's direct loop ('direct'), its sorted path ('sorted') or
    the default choice by the number of labels ('default')."""

    THRESHOLDS = {"default": None, "direct": 1 << 40, "sorted": -1}

    def __init__(self, path):
        self.threshold = self.THRESHOLDS[path]

    def __enter__(self):
        if self.threshold is not None:
            self.previous = _multilabel_margin._set_direct_max_labels(self.threshold)

    def __exit__(self, *exc):
        if self.threshold is not None:
            _multilabel_margin._set_direct_max_labels(self.previous)


def check_multilabel(x, target, dtype, path="default", indicator=None):
    x = np.asarray(x, dtype=dtype)
    losses, grads = multilabel_exact(x, target)
    calls = [(target, "indices")]
    if indicator is not None:
        calls.append((indicator, "indicator"))
    with on_path(path):
        for t, target_format in calls:
            what = f"{target_format}, {path} path"
            loss, grad = multilabel_margin_loss_and_grad(x, t, reduction="none",
                                                         target_format=target_format)
            _assert_exact(loss, losses, dtype, "loss, " + what)
            _assert_exact(grad, grads, dtype, "gradient, " + what, GRAD_RTOL[dtype])
            _assert_exact(multilabel_margin_loss(x, t, reduction="none",
                                                 target_format=target_format),
                          losses, dtype, "loss(), " + what)


PATHS = ["default", "direct", "sorted"]


# ===================================================== multi-label: written by hand
# C = 17, labels [3, 16, 3] (3 listed twice; 16 the last class): x[3] = 1 (shift
# 0), x[16] = 1.5 (shift -0.5).  Non-labels: x[0] = 0.5 (z = 0.5 with label 3,
# a tie with 16), x[1] = 0.75 (z = 0.75 and 0.25), x[15] = 0 (a tie with 3,
# z = -0.5 with 16), the rest -1.  Active pairs: (3, 0) and (3, 1) twice,
# (16, 1) once: sum 2 * 1.25 + 0.25 = 2.75.
ML_X17 = [0.5, 0.75, -1, 1] + [-1] * 11 + [0, 1.5]
ML_T17 = [3, 16, 3] + [-1] * 14
ML_HAND_17 = (Fraction(11, 4) / 17,
              {0: Fraction(2, 17), 1: Fraction(3, 17), 3: Fraction(-4, 17),
               16: Fraction(-1, 17)})


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("path", PATHS)
def test_multilabel_written_by_hand(path, dtype):
    loss_17, grad_17 = ML_HAND_17
    assert multilabel_exact([ML_X17], [ML_T17]) == ([loss_17], [_dense(17, grad_17)])
    # 9 copies; the same labels once each (no repeat) as an indicator: the pairs
    # of label 3 count once, the loss is 1.25 + 0.25
    x = np.tile(np.asarray(ML_X17, dtype=dtype), (9, 1))
    check_multilabel(x, np.tile(ML_T17, (9, 1)), dtype, path)
    indicator = np.zeros((9, 17), dtype=bool)
    indicator[:, [3, 16]] = True
    loss = multilabel_margin_loss(x, indicator, reduction="none", target_format="indicator")
    _assert_exact(loss, [Fraction(3, 2) / 17] * 9, dtype, "indicator loss")


# ======================================================= multi-label: every path
LABEL_SHIFTS = [0.0, -0.5, 0.5, 0.25, 0.0, -0.25]  # m - x[j] of the labels
OTHER_SCORES = [0.0, 0.5, -0.5, -0.25, 1.25, -2.0, 0.25, 0.0]  # x[d] of the others


def _labelled_rows(n_classes, label_counts, repeat=False, seed=0):
    """One row per k in label_counts: k labels (distinct, in a scrambled order; with
    ``repeat`` one of them listed twice), their shifts and the other scores taken
    from small sets so that many pairs tie exactly; the index target (-1 after the
    labels) and the indicator target."""
    rng = np.random.default_rng(seed + 1000 * n_classes)
    x = np.empty((len(label_counts), n_classes))
    target = np.full(x.shape, -1, dtype=np.int64)
    indicator = np.zeros(x.shape, dtype=bool)
    for r, k in enumerate(label_counts):
        labels = rng.permutation(n_classes)[:k]
        x[r] = [OTHER_SCORES[(r + d) % len(OTHER_SCORES)] for d in range(n_classes)]
        x[r, labels] = [1.0 - LABEL_SHIFTS[(r + i) % len(LABEL_SHIFTS)] for i in range(k)]
        listed = list(labels)
        if repeat and 0 < k < n_classes:
            listed.insert(k // 2, labels[0])
        target[r, :len(listed)] = listed
        indicator[r, labels] = True
    return x, target, indicator


def _label_counts(n_classes):
    """The numbers of labels at the paths' edges that fit in n_classes classes."""
    edges = {0, 1, DIRECT_MAX_LABELS, DIRECT_MAX_LABELS + 1, COUNT_MAX_LABELS - 1,
             COUNT_MAX_LABELS, COUNT_MAX_LABELS + 1, n_classes - ML_LANES - 1,
             n_classes - ML_LANES, n_classes - ML_LANES + 1, n_classes - 1, n_classes}
    return sorted(k for k in edges if 0 <= k <= n_classes)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [1, 2, 3, 7, 8, 9, 15, 16, 17, 18, 24, 25, 33])
@pytest.mark.parametrize("path", PATHS)
def test_multilabel_label_count_edges(n_classes, path, dtype):
    # k labels leave C - k non-target classes: counted 8 at a time, with a tail
    counts = _label_counts(n_classes)
    x, target, indicator = _labelled_rows(n_classes, counts)
    check_multilabel(x, target, dtype, path, indicator)
    x, target, _ = _labelled_rows(n_classes, counts, repeat=True, seed=1)
    check_multilabel(x, target, dtype, path)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_multilabel_radix_sort_threshold(dtype, offset):
    # k = RADIX_MIN - 1 (insertion sort), RADIX_MIN and RADIX_MIN + 1 (radix
    # sort) labels, with 0, 7, 8 and 9 other classes
    k = RADIX_MIN[dtype] + offset
    for n_others in (0, 7, 8, 9):
        x, target, indicator = _labelled_rows(k + n_others, [k, k, k // 2])
        check_multilabel(x, target, dtype, "default", indicator)
        x, target, _ = _labelled_rows(k + n_others, [k], repeat=True, seed=2)
        check_multilabel(x, target, dtype, "sorted")
