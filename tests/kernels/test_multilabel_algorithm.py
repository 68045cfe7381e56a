"""The multi-label kernel's sorted algorithm against the plain O(k * C) pair loop.

The kernel (``pyx/_multilabel_margin.pyx``) counts, for each class, the
thresholds ``-(1 - x[j])`` it exceeds, or sorts the k shifts ``1 - x[j]`` and
finds, by binary search, how many of them each non-target class violates.  The
oracle here is the definition itself: every pair (j, d) evaluated with the
floating-point predicate ``(1 - x[j]) + x[d] > 0`` in the input dtype, in NumPy.

- Gradients are pair counts times 1/C: they must match exactly (bitwise, and the
  recovered integer counts too).
- Losses: the kernel adds the unrounded terms ``(1 - x[j]) + x[d]`` (the shift
  rounded in the input dtype, as the predicate does) in float64 with
  compensation, so the oracle is their exact sum (``math.fsum``); a term that
  is inf or NaN in the input dtype makes the row inf or NaN, as in PyTorch.
  float32 losses must be within 1 ulp of the exact value, float64 within a
  relative 1e-13, also when the terms cancel against huge scores.
- The kernel's three paths (the direct loop for rows of one or two labels, the
  counting path for rows of bounded finite scores and up to COUNT_MAX_LABELS
  labels, the sorted one) are run on the same rows through
  ``_set_direct_max_labels`` and ``_set_count_max_labels`` of the build in use.
"""

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marginloss import _kernels, multilabel_margin_loss, multilabel_margin_loss_and_grad

from _reference import pair_reference

# The build in use (its thresholds are the ones that count).
_multilabel_margin = _kernels.multilabel_margin

DTYPES = [np.float32, np.float64]
SCORE_KINDS = ["normal", "ties", "near_threshold", "huge_near_threshold", "extreme", "special"]
# path: (direct loop's label threshold, counting path's, the counting path's
# rank search from); None keeps the defaults.
OFF = 1 << 40
PATHS = {"default": None, "direct": (OFF, 0, OFF), "sorted": (-1, -1, OFF),
         "counted": (0, OFF, OFF), "ranks": (0, OFF, 0)}
# float32 loss vs the exact sum: the sorted and counting paths round once (1 ulp);
# the direct loop also rounds every term to float32 first (2 ulps in the worst case).
MAX_ULPS = {"default": 2, "direct": 2, "sorted": 1, "counted": 1, "ranks": 1}


def dtype_id(dtype):
    return np.dtype(dtype).name


@pytest.fixture
def rng(request):
    """A generator with a fixed seed of its own for each test (and parameter set)."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()) + 20_260_601)


class use_path:
    """Context manager: run the kernel's direct loop, its sorted path, or the default."""

    def __init__(self, path):
        self.threshold = PATHS[path]

    def __enter__(self):
        if self.threshold is not None:
            direct, counted, ranks = self.threshold
            self.previous = (_multilabel_margin._set_direct_max_labels(direct),
                             _multilabel_margin._set_count_max_labels(counted),
                             _multilabel_margin._set_rank_min_labels(ranks))
        return self

    def __exit__(self, *exc):
        if self.threshold is not None:
            _multilabel_margin._set_direct_max_labels(self.previous[0])
            _multilabel_margin._set_count_max_labels(self.previous[1])
            _multilabel_margin._set_rank_min_labels(self.previous[2])


# ---------------------------------------------------------------------------
# The oracle: the pair loop
# ---------------------------------------------------------------------------
def check_against_reference(x, t, grad_output=None, n_threads=1, max_ulps=1):
    """Kernel == pair loop: exact gradients, losses to max_ulps float32 ulps / 1e-13."""
    dtype = x.dtype.type
    n_samples, n_classes = x.shape
    totals, counts, nan_rows, _ = pair_reference(x, t)
    go = np.ones(n_samples) if grad_output is None else np.asarray(grad_output, dtype=np.float64)
    loss, grad = multilabel_margin_loss_and_grad(x, t, reduction="none", grad_output=go,
                                                 n_threads=n_threads)
    assert loss.dtype == x.dtype and grad.dtype == x.dtype

    # Gradient: bitwise the kernel's formula (count * (1/C)) * grad_output, rounded once.
    with np.errstate(all="ignore"):
        expected_grad = (counts * (1.0 / n_classes) * go[:, None]).astype(dtype)
    expected_grad[nan_rows] = np.nan
    assert grad.tobytes() == expected_grad.tobytes(), (
        f"gradient differs at {np.argwhere(grad.view(np.uint8) != expected_grad.view(np.uint8))[:5]}"
    )
    if grad_output is None:  # the counts themselves, recovered from count / C
        finite = ~nan_rows
        np.testing.assert_array_equal(np.rint(grad[finite].astype(np.float64) * n_classes),
                                      counts[finite])

    # Loss.
    assert np.array_equal(np.isnan(loss), nan_rows)
    with np.errstate(all="ignore"):
        expected = totals / n_classes
        expected32 = expected.astype(np.float32)
    ok = ~nan_rows
    if dtype is np.float32:
        both_finite = ok & np.isfinite(expected32) & np.isfinite(loss)
        np.testing.assert_array_equal(loss[ok & ~both_finite], expected32[ok & ~both_finite])
        ulps = np.abs(loss[both_finite].view(np.int32).astype(np.int64)
                      - expected32[both_finite].view(np.int32).astype(np.int64))
        assert ulps.max(initial=0) <= max_ulps, (loss[both_finite], expected32[both_finite])
    else:
        finite = ok & np.isfinite(expected)
        np.testing.assert_array_equal(loss[ok & ~finite], expected[ok & ~finite])
        np.testing.assert_allclose(loss[finite], expected[finite], rtol=1e-13, atol=0)
    return loss, grad


# ---------------------------------------------------------------------------
# Problem generators
# ---------------------------------------------------------------------------
def make_target(rng, n_samples, n_classes):
    """Rows of every shape of label list: empty, one label, all classes, duplicates
    (also with k = C), distinct labels, junk after the -1."""
    t = rng.integers(-1, n_classes, size=(n_samples, n_classes))
    for n, row in enumerate(t):
        kind = n % 6
        if kind == 0:      # starts with -1 (k = 0), junk after it
            row[0] = -1
        elif kind == 1:    # one label
            row[0] = rng.integers(n_classes)
            if n_classes > 1:
                row[1] = -1
        elif kind == 2:    # every class, in some order (k = C, no non-target)
            row[:] = rng.permutation(n_classes)
        elif kind == 3:    # k = C entries with duplicates (some classes left over)
            row[:] = rng.integers(0, n_classes, n_classes)
        elif kind == 4:    # k distinct labels, then -1 and junk
            k = rng.integers(0, n_classes + 1)
            row[:k] = rng.permutation(n_classes)[:k]
            if k < n_classes:
                row[k] = -1
        else:              # k labels with duplicates, then -1
            k = rng.integers(0, n_classes + 1)
            row[:k] = rng.integers(0, n_classes, k)
            if k < n_classes:
                row[k] = -1
    return t


def near_threshold(rng, x, t, dtype, scale):
    """Put non-target scores where (1 - x[j]) + x[d] is 0 or one ulp either side."""
    with np.errstate(all="ignore"):
        for n in range(x.shape[0]):
            negative = np.flatnonzero(t[n] < 0)
            labels = t[n, :negative[0] if negative.size else x.shape[1]]
            if labels.size == 0:
                continue
            others = np.setdiff1d(np.arange(x.shape[1]), labels)
            shifts = dtype(1) - x[n, labels]
            for d in others:
                if rng.random() < 0.8:
                    edge = -rng.choice(shifts)
                    x[n, d] = rng.choice([edge, np.nextafter(edge, dtype(np.inf)),
                                          np.nextafter(edge, dtype(-np.inf))])
            # rows whose labels were also moved near other labels' thresholds
            if scale > 1 and rng.random() < 0.5:
                x[n, labels] = x[n, labels[0]]
    return x


def make_scores(rng, shape, dtype, kind, t):
    dtype = np.dtype(dtype).type
    if kind == "normal":
        x = rng.standard_normal(shape).astype(dtype)
    elif kind == "ties":  # multiples of 1/4: many equal shifts and exact zeros z == 0
        x = (rng.integers(-8, 9, size=shape) / 4).astype(dtype)
    elif kind == "near_threshold":
        x = near_threshold(rng, rng.standard_normal(shape).astype(dtype), t, dtype, 1)
    elif kind == "huge_near_threshold":  # terms tiny against the scores: cancellation
        base = 1e6 if dtype is np.float32 else 1e12
        x = (base * (1 + rng.random(shape))).astype(dtype)
        x = near_threshold(rng, x, t, dtype, base)
    elif kind == "extreme":  # near the largest finite value: float32 terms overflow
        big = np.finfo(dtype).max
        x = (rng.choice([-1, 1], size=shape) * rng.uniform(0.3, 1, size=shape) * big).astype(dtype)
    else:  # "special": +-inf, NaN and huge values sprinkled in
        x = rng.standard_normal(shape).astype(dtype)
        specials = np.array([np.inf, -np.inf, np.nan, np.finfo(dtype).max, -np.finfo(dtype).max],
                            dtype=dtype)
        mask = rng.random(shape) < 0.08
        x[mask] = rng.choice(specials, size=mask.sum())
    return x


SHAPES = [(12, 1), (30, 2), (30, 3), (60, 7), (40, 33), (12, 150), (6, 300)]


def shape_id(shape):
    return f"{shape[0]}x{shape[1]}"


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("kind", SCORE_KINDS)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_matches_pair_loop(rng, dtype, shape, kind, path):
    t = make_target(rng, *shape)
    x = make_scores(rng, shape, dtype, kind, t)
    with use_path(path):
        check_against_reference(x, t, max_ulps=MAX_ULPS[path])


@pytest.mark.parametrize("path", ["direct", "sorted", "counted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_grad_output_signed_zeros_and_inf(rng, dtype, path):
    # (count * (1/C)) * grad_output: 0 * -1 = -0, 0 * inf = NaN, as the direct loop.
    shape = (30, 9)
    t = make_target(rng, *shape)
    x = make_scores(rng, shape, dtype, "ties", t)
    go = rng.choice([1.5, -2.0, 0.0, -0.0, np.inf, -np.inf], size=shape[0])
    with use_path(path):
        check_against_reference(x, t, grad_output=go, max_ulps=MAX_ULPS[path])


@pytest.mark.parametrize("kind", SCORE_KINDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_direct_and_sorted_paths_agree(rng, dtype, kind):
    shape = (60, 40)
    t = make_target(rng, *shape)
    x = make_scores(rng, shape, dtype, kind, t)
    go = rng.standard_normal(shape[0])
    results = {}
    for path in ("direct", "sorted", "counted"):
        with use_path(path):
            results[path] = multilabel_margin_loss_and_grad(x, t, reduction="none",
                                                            grad_output=go)
            # the forward-only kernel gives the fused kernel's loss, bitwise
            forward = multilabel_margin_loss(x, t, reduction="none")
            assert forward.tobytes() == results[path][0].tobytes()
    direct_loss, direct_grad = results.pop("direct")
    for sorted_loss, sorted_grad in results.values():  # the sorted and the counting path
        assert sorted_grad.tobytes() == direct_grad.tobytes()
        np.testing.assert_array_equal(np.isnan(sorted_loss), np.isnan(direct_loss))
        # The direct loop adds the terms rounded to the input dtype: close, not equal
        # (float32: 1 + 2 ulps of the exact value apart at most).
        rtol = 4e-7 if dtype is np.float32 else 1e-13
        finite = np.isfinite(direct_loss) & np.isfinite(sorted_loss)
        np.testing.assert_allclose(sorted_loss[finite], direct_loss[finite], rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_labels", [0, 1, 2, 3, 5, 63, 64, 127, 128, 250, 400])
def test_sort_sizes_and_thread_counts(rng, dtype, n_labels):
    # Insertion sort below 64 (float32) / 128 (float64) labels, radix sort above;
    # 40000 scores run on two threads, bitwise as on one.
    shape = (100, 400)
    t = np.full(shape, -1)
    for row in t:
        row[:n_labels] = rng.permutation(400)[:n_labels] if n_labels < 300 else \
            rng.integers(0, 400, n_labels)
    x = make_scores(rng, shape, dtype, "ties" if n_labels % 2 else "normal", t)
    x[::10, 3] = -x[::10, 3]  # +-0 among the ties
    loss, grad = check_against_reference(x, t, max_ulps=MAX_ULPS["default"])
    loss2, grad2 = multilabel_margin_loss_and_grad(x, t, reduction="none", n_threads=2)
    assert loss2.tobytes() == loss.tobytes() and grad2.tobytes() == grad.tobytes()


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_infinite_scores_in_sorted_labels(dtype):
    inf = np.inf
    # labels: +inf, 0.5, -inf -> shifts -inf, 0.5, +inf; non-targets finite and infinite
    x = np.array([[inf, 0.5, -inf, 0.25, -3.0, 7.0]] * 4, dtype=dtype)
    x[1, 3] = inf    # pairs with the +inf label: inf - inf, a NaN row
    x[2, 4] = -inf   # pairs with the -inf label: -inf + inf, a NaN row
    x[3, 2] = 0.0    # no -inf label: only +inf shift is gone
    t = np.array([[0, 1, 2, -1, 0, 0]] * 4)
    for path in ("direct", "sorted", "counted"):
        with use_path(path):
            loss, grad = check_against_reference(x, t, max_ulps=MAX_ULPS[path])
    assert loss[0] == np.inf and np.isnan(loss[1]) and np.isnan(loss[2])
    assert np.isfinite(loss[3])


def test_float32_term_overflow_is_inf():
    # (1 - x[j]) + x[d] overflows float32 although the sum /C would not: the term
    # is inf in the input dtype, as in the direct loop and in PyTorch.
    big = np.finfo(np.float32).max
    x = np.array([[-big * 0.75, big * 0.75, 0.0]], dtype=np.float32)
    t = np.array([[0, -1, -1]])
    for path in ("direct", "sorted", "counted"):
        with use_path(path):
            loss, _ = check_against_reference(x, t, max_ulps=MAX_ULPS[path])
            assert loss[0] == np.inf


def test_float64_prefix_overflow_falls_back_to_direct_sum():
    # Shifts 1e308 twice: their float64 prefix sum overflows, the terms do not.
    x = np.array([[-1e308, -1e308, -0.9e308, 0.5]])
    t = np.array([[0, 1, -1, -1]])
    with use_path("sorted"):
        loss, grad = check_against_reference(x, t)
    np.testing.assert_allclose(loss[0] * 4, 2 * (1e308 - 0.9e308) + 2 * (1e308 + 0.5), rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_cancellation_is_compensated(dtype):
    # Scores ~ 2**40 (float64) or 2**20 (float32) with each term one ulp of the
    # scores: sum_i shift_i + m * x[d] cancels to 1e-16 of its parts, yet the
    # loss is the exact sum of the terms.
    big = dtype(2.0 ** (40 if dtype is np.float64 else 20))
    ulp = np.spacing(big)
    n_labels = 200
    labels = np.arange(n_labels)
    x = np.empty((1, n_labels + 50), dtype=dtype)
    x[0, labels] = big + ulp * (labels % 7)
    with np.errstate(all="ignore"):
        shifts = dtype(1) - x[0, labels]
    x[0, n_labels:] = -shifts.min() + ulp * np.arange(1, 51)
    t = np.full(x.shape, -1)
    t[0, :n_labels] = labels
    with use_path("sorted"):
        loss, grad = check_against_reference(x, t)
    assert loss[0] > 0 and (grad[0, n_labels:] > 0).all()


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("huge", [1e16, 1e30, 1e200])
def test_a_huge_label_score_leaves_the_other_terms(dtype, path, huge):
    # Label 6's score is huge: it takes part in no active pair, so the loss is
    # the five small terms, (3.278 + 0.835 + 3.177 + 7.793 + 3.32) / 7 = 2.629.
    # Counting every class and then subtracting the labels' products (3 * huge
    # added, then taken away) once cancelled the small terms to 0.
    if dtype is np.float32 and huge > 1e38:
        huge = 3e38
    x = np.array([[-3.165, -0.823, 1.515, -3.0, 3.793, 1.473, huge]], dtype=dtype)
    t = np.array([[2, 3, 5, 6, -1, 0, 5]])
    with use_path(path):
        loss, grad = check_against_reference(x, t)
    np.testing.assert_allclose(loss[0], 18.403 / 7, rtol=1e-6 if dtype is np.float32 else 1e-14)
    assert grad[0, 6] == 0


# ---------------------------------------------------------------------------
# Random small rows with special values (hypothesis)
# ---------------------------------------------------------------------------
# Rows wider than 12 classes (about the 16 float64 lanes of the counting path's
# sums), with label counts at the kernel's crossovers: the direct loop up to
# DIRECT_MAX_LABELS, the counting path (float32: 16-class groups, the gradient
# looked up by count below 32 labels; float64: 4 thresholds a pass) up to
# COUNT_MAX_LABELS, the sorted path above (counting the active labels up to 16,
# binary search above), radix sort from RADIX_MIN_FLOAT32/64 labels.
WIDE_CLASSES = [16, 17, 18, 31, 32, 33, 63, 64, 65, 66, 129, 130]
CROSSOVER_LABELS = sorted(
    {1, 2, 3, 4, 5, 8, 9, 15, 16, 17, 31, 32, 33}
    | {limit + step
       for limit in (_multilabel_margin.DIRECT_MAX_LABELS, _multilabel_margin.COUNT_MAX_LABELS,
                     _multilabel_margin.RADIX_MIN_FLOAT32, _multilabel_margin.RADIX_MIN_FLOAT64,
                     _multilabel_margin.RANK_MIN_LABELS, _multilabel_margin.RANK_LABELS)
       for step in (-1, 0, 1) if limit + step > 0}
)


@st.composite
def wide_rows(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n_classes = draw(st.sampled_from(WIDE_CLASSES))
    n_labels = draw(st.sampled_from([k for k in CROSSOVER_LABELS if k <= n_classes]))
    n_samples = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    palette = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, np.inf, -np.inf, np.nan])
    x = rng.normal(size=(n_samples, n_classes))
    if draw(st.booleans()):  # ties and a few specials
        mask = rng.random(x.shape) < 0.1
        x[mask] = rng.choice(palette[:6] if draw(st.booleans()) else palette, mask.sum())
    x = x.astype(dtype)
    t = rng.integers(-1, n_classes, size=(n_samples, n_classes))
    for n in range(n_samples):
        t[n, :n_labels] = rng.permutation(n_classes)[:n_labels]
        if n_labels > 1 and draw(st.booleans()):
            t[n, n_labels - 1] = t[n, 0]  # a label listed twice counts twice
        if n_labels < n_classes:
            t[n, n_labels] = -1
    if draw(st.booleans()):
        x = near_threshold(rng, x, t, dtype, 1)
    return x, t


@st.composite
def rows(draw):
    if draw(st.integers(0, 3)) == 0:
        return draw(wide_rows())
    dtype = draw(st.sampled_from(DTYPES))
    n_classes = draw(st.integers(1, 12))
    n_samples = draw(st.integers(1, 4))
    palette = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-30, np.inf, -np.inf, np.nan,
               np.finfo(dtype).max, -np.finfo(dtype).max, 1 + np.finfo(dtype).eps]
    values = st.one_of(st.sampled_from(palette), st.floats(-4, 4, width=32))
    x = np.array(draw(st.lists(values, min_size=n_samples * n_classes,
                               max_size=n_samples * n_classes)), dtype=dtype)
    x = x.reshape(n_samples, n_classes)
    t = np.array(draw(st.lists(st.integers(-1, n_classes - 1), min_size=n_samples * n_classes,
                               max_size=n_samples * n_classes))).reshape(n_samples, n_classes)
    # near-threshold non-targets: x[d] = -(1 - x[j]) and one ulp either side
    seed = draw(st.integers(0, 2**32 - 1))
    x = near_threshold(np.random.default_rng(seed), x, t, dtype, 1) if draw(st.booleans()) else x
    return x, t


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rows(), st.sampled_from(list(PATHS)))
def test_random_rows_match_pair_loop(case, path):
    x, t = case
    with use_path(path):
        check_against_reference(x, t, max_ulps=MAX_ULPS[path])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_sorted_path_guards_out_of_range_targets(dtype):
    # Memory safety on the sorted path too: an out-of-range entry (possible only
    # if another thread changes the target after validation) ends the labels.
    x = np.array([[0.1, 0.2, 0.4, 0.8, -0.5, 0.3, 0.9, 0.0]] * 2, dtype=dtype)
    target = np.array([[3, 0, 5, 6, 1 << 30, 1, 2, 2], [3, 0, 5, 6, -1, 1, 2, 2]])
    c = x.shape[1]
    scratch = (np.empty((1, 2 * c), dtype=np.intp), np.zeros((1, c), dtype=np.uint8),
               np.empty((1, 2 * c), dtype=dtype), np.empty((1, 3 * (c + 1))))
    loss = np.empty(2)
    gradient = np.empty_like(x)
    with use_path("sorted"):
        _multilabel_margin.loss(x, target, loss, *scratch, 1)
        assert loss[0] == loss[1] and not scratch[1].any()
        _multilabel_margin.loss_gradient(x, target, 1 / c, np.ones(1), 0, loss, gradient,
                                         *scratch, np.zeros((1, c)), 1)
    assert loss[0] == loss[1] and not scratch[1].any()
    np.testing.assert_array_equal(gradient[0], gradient[1])


# ---------------------------------------------------------------------------
# Hand-computed rows on the counting pass's boundaries
# ---------------------------------------------------------------------------
# The float32 counting pass reads GROUP = 16 classes a vector (the last group
# padded), looks the gradient up by count below 32 labels, and an indicator
# byte row is read 64 bytes at a time: class counts at 16, 32, 64 +- 1 and
# label counts at 16, 32 +- 1 put examples on each edge.
EDGE_CLASSES = [3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129]
EDGE_LABELS = [3, 4, 5, 15, 16, 17, 31, 32, 33, 64]


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_classes", EDGE_CLASSES)
def test_exact_ties_on_group_edges(dtype, n_classes, path):
    # Labels 0 (score 1: shift 0) and C-1 listed twice (score 0.5: shift 0.5);
    # the other classes score 0 (z = 0 against label 0, an exact tie: inactive;
    # z = 0.5 against label C-1) but class C-2, at -0.5 (z = 0 against label
    # C-1: a tie, inactive).  So C-3 classes are active twice, with z = 0.5:
    # loss = 2 * (C-3) * 0.5 / C, gradient 2/C for them, 0 for class C-2 and
    # label 0, -2 * (C-3) / C for label C-1.
    c = n_classes
    x = np.zeros((2, c), dtype=dtype)
    x[:, 0] = 1.0
    x[:, c - 1] = 0.5
    x[:, c - 2] = -0.5
    t = np.full((2, c), -1)
    t[:, :3] = [0, c - 1, c - 1]
    with use_path(path):
        loss, grad = multilabel_margin_loss_and_grad(x, t, reduction="none")
        check_against_reference(x, t, max_ulps=MAX_ULPS[path])
    np.testing.assert_array_equal(loss, np.full(2, (c - 3) / c, dtype=dtype))
    expected = np.zeros(c)
    expected[1:c - 2] = 2 * (1.0 / c)
    expected[c - 1] = -2 * (c - 3) * (1.0 / c)
    np.testing.assert_array_equal(grad, np.tile(expected.astype(dtype), (2, 1)))


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_classes,n_labels",
                         [(c, k) for c in (33, 64, 65, 129) for k in EDGE_LABELS if k < c])
def test_exact_ties_on_label_counts(dtype, n_classes, n_labels, path):
    # k labels at score 1 (shift 0): a class at 0 ties every label (z = 0,
    # inactive), a class at 0.25 is active against all k of them.  Classes
    # k, k+2, ... score 0.25, the others 0: with q of them at 0.25,
    # loss = k * q * 0.25 / C, their gradient k/C, each label's -q/C.
    c, k = n_classes, n_labels
    x = np.zeros((3, c), dtype=dtype)
    x[:, :k] = 1.0
    above = np.arange(k, c, 2)
    x[:, above] = 0.25
    t = np.full((3, c), -1)
    t[:, :k] = np.arange(k)
    with use_path(path):
        loss, grad = multilabel_margin_loss_and_grad(x, t, reduction="none")
        check_against_reference(x, t, max_ulps=MAX_ULPS[path])
    q = above.size
    np.testing.assert_array_equal(loss, np.full(3, k * q * 0.25 / c, dtype=dtype))
    expected = np.zeros(c)
    expected[above] = k * (1.0 / c)
    expected[:k] = -q * (1.0 / c)
    np.testing.assert_array_equal(grad, np.tile(expected.astype(dtype), (3, 1)))
    # the same rows as a 0/1 indicator target
    flags = np.zeros((3, c), dtype=bool)
    flags[:, :k] = True
    with use_path(path):
        loss2, grad2 = multilabel_margin_loss_and_grad(x, flags, reduction="none",
                                                       target_format="indicator")
    assert loss2.tobytes() == loss.tobytes() and grad2.tobytes() == grad.tobytes()


# The float32 counting path adds the label terms col_i * a_i to the odd lanes
# 8 labels at a time: label counts 7, 8, 9, 15, 16, 17 put rows on each edge.
LABEL_TERM_EDGES = [7, 8, 9, 15, 16, 17, 24, 25]


@pytest.mark.parametrize("path", ["default", "counted"])
@pytest.mark.parametrize("n_classes,n_labels",
                         [(c, k) for c in (16, 17, 79, 80, 81) for k in LABEL_TERM_EDGES if k < c])
def test_label_terms_on_chunk_edges(n_classes, n_labels, path):
    # k labels at scores 1 + i/4 (shifts a_i = -i/4), classes at 0.5 active
    # against labels i = 0, 1 (a_0 + 0.5 > 0, a_1 + 0.5 = 0.25 > 0, a_2 + 0.5 =
    # 0: a tie, inactive): each class at 0.5 is active twice, with terms 0.5 and
    # 0.25; the other classes at -1 are inactive (counts 0 beside active ones).
    c, k = n_classes, n_labels
    x = np.full((2, c), -1.0, dtype=np.float32)
    x[:, :k] = 1 + np.arange(k) / 4
    active = np.arange(k, c, 3)
    x[:, active] = 0.5
    t = np.full((2, c), -1)
    t[:, :k] = np.arange(k)[::-1]  # in any order
    go = np.array([1.0, -3.0])
    with use_path(path):
        loss, grad = multilabel_margin_loss_and_grad(x, t, reduction="none", grad_output=go)
        check_against_reference(x, t, grad_output=go, max_ulps=MAX_ULPS[path])
    q = active.size
    np.testing.assert_array_equal(loss, np.full(2, q * 0.75 / c, dtype=np.float32))
    expected = np.zeros(c)
    expected[active] = 2 * (1.0 / c)
    expected[:2] = -q * (1.0 / c)
    np.testing.assert_array_equal(grad, (expected[None, :] * go[:, None]).astype(np.float32))


@pytest.mark.parametrize("n_classes", [16, 17, 79, 80, 81, 1000])
@pytest.mark.parametrize("n_labels", [3, 5, 8, 9, 17])
def test_counted_rows_with_cancelling_magnitudes(rng, n_classes, n_labels):
    # float32 rows whose terms span 40 decades and cancel: the lanes' fold in
    # registers keeps the compensated sum to 1 ulp; NaN and inf rows beside them.
    shape = (24, n_classes)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-20, 21, size=shape))
    x = x.astype(np.float32)
    t = np.full(shape, -1)
    k = min(n_labels, n_classes)
    for row in t:
        row[:k] = rng.integers(0, n_classes, k)  # duplicates too
    x[3, 5] = np.nan
    x[4, 1] = np.inf
    x[5, 2] = -np.inf
    x[6, t[6, 0]] = 3e38
    x[7::5] = -50.0  # counts 0 everywhere
    with use_path("counted"):
        check_against_reference(x, t, grad_output=rng.choice([1.0, -0.5, 2.0**-60], 24),
                                max_ulps=1)


@pytest.mark.parametrize("n_classes", [1, 63, 64, 65, 127, 128, 129, 200])
def test_indicator_rows_on_chunk_edges(rng, n_classes):
    # A bool row is read 64 bytes at a time, the rest byte by byte: labels on
    # every chunk edge give the index target's bits.
    x = rng.standard_normal((6, n_classes)).astype(np.float32)
    flags = np.zeros((6, n_classes), dtype=bool)
    edges = [j for j in (0, 62, 63, 64, 65, 126, 127, 128, 129, n_classes - 1)
             if j < n_classes]
    flags[0, edges] = True
    flags[1, :] = True
    flags[3, n_classes - 1] = True
    flags[4] = rng.random(n_classes) < 0.1
    flags[5, ::7] = True
    t = np.full((6, n_classes), -1)
    for n, row in enumerate(flags):
        labels = np.flatnonzero(row)
        t[n, :labels.size] = labels
    expected = multilabel_margin_loss_and_grad(x, t, reduction="none")
    for target in (flags, flags.view(np.uint8), flags.astype(np.int32), flags.astype(np.int64)):
        got = multilabel_margin_loss_and_grad(x, target, reduction="none",
                                              target_format="indicator")
        assert got[0].tobytes() == expected[0].tobytes()
        assert got[1].tobytes() == expected[1].tobytes()


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_count_outside_rows(dtype, n_threads):
    # One unsigned compare an entry: below low wraps around to a large offset.
    info = np.iinfo(dtype)
    values = np.array([-1, 0, 9, 10, -2, 11, info.min, info.max, 5, -1, 3, 4], dtype=dtype)
    target = np.tile(values, (5, 1))
    inside = (values >= -1) & (values < 10)
    assert _multilabel_margin.count_outside_rows(target, -1, 10, n_threads) == 5 * (~inside).sum()
    assert _multilabel_margin.count_outside_rows(target, info.min, 10, n_threads) == 5 * 3
    assert _multilabel_margin.count_outside_rows(target, -1, 1 << 40, n_threads) == (
        5 * 2 if dtype is np.int32 else 5 * 3)
    assert _multilabel_margin.count_outside_rows(target, 5, 5, n_threads) == target.size
    assert _multilabel_margin.count_outside_rows(target, -(1 << 40), 1 << 40, n_threads) == (
        0 if dtype is np.int32 else 5 * 2)
    assert _multilabel_margin.count_outside_rows(target[:0], -1, 10, n_threads) == 0
    assert _multilabel_margin.count_outside_rows(target[:, :0], -1, 10, n_threads) == 0


# ---------------------------------------------------------------------------
# The float32 counting path's plain sum and its guard
# ---------------------------------------------------------------------------
# The counting path adds the row's exact parts (cnt_d * x[d] and col_i * a_i)
# in plain float64 and keeps that sum when it is at least the guard
# h * 2**-26 * P * (max |x| + max |a_i|) (h = ceil(C / 16) + k + 5 roundings on
# any part's way, P the active pairs): then it is within a quarter float32 ulp
# of the exact sum.  Otherwise the row is summed again with compensation.
# ``_counted_row_probe`` runs one row as the kernels do and tells which sum it kept.
def counted_guard(x, labels, margin=1.0):
    """The kernel's guard for a float32 row, recomputed in the kernel's order."""
    n_classes, n_labels = x.size, len(labels)
    shifts = (np.float32(margin) - x[labels]).astype(np.float32)
    others = np.setdiff1d(np.arange(n_classes), labels)
    n_pairs = int((x[others][None, :] > -shifts[:, None]).sum())
    n_additions = -(-n_classes // 16) + n_labels + 5
    score_max = float(np.abs(x).max())
    shift_max = float(np.abs(shifts).max())
    return (n_additions / 2.0 ** 26 * n_pairs) * (score_max + shift_max)


def check_counted_row(x, labels, kept):
    """The probe's guard is the recomputed one, its choice the guard's, its loss
    within 1 float32 ulp of the exact sum (a kept plain sum within a quarter
    ulp) and the kernel's own."""
    labels = np.asarray(labels, dtype=np.intp)
    loss, plain, guard, plain_kept = _multilabel_margin._counted_row_probe(x, labels)
    assert guard == counted_guard(x, labels)
    assert plain_kept == (plain >= guard) == kept
    t = np.full((1, x.size), -1)
    t[0, :labels.size] = labels
    exact = pair_reference(x[None, :], t)[0][0]
    if kept:
        assert loss == plain
        assert abs(plain - exact) <= np.spacing(np.float32(exact)) / 4
    with use_path("counted"):
        kernel_loss, _ = check_against_reference(x[None, :], t)
    assert kernel_loss[0] == np.float32(loss / x.size)
    return loss, exact


def cancelling_row(n_classes, n_labels, steps, big=1024.0):
    """Labels at `big`; non-labels 1 .. 8 at big - 1 + n_d * spacing (terms of n_d
    float32 spacings against parts of `big`), with sum n_d = steps; the rest 0."""
    x = np.zeros(n_classes, dtype=np.float32)
    x[n_labels + 8:] = -big
    x[:n_labels] = big
    spacing = np.spacing(np.float32(big - 1))
    n = np.full(8, steps // 8)
    n[:steps % 8] += 1
    x[n_labels:n_labels + 8] = np.float32(big - 1) + n * spacing
    return x, np.arange(n_labels)


@pytest.mark.parametrize("n_classes, n_labels", [(32, 3), (80, 3), (1000, 5), (1000, 20)])
def test_counted_guard_on_both_sides(n_classes, n_labels):
    # Rows one step of cancellation apart: the last row whose plain sum is kept
    # and the first summed again with compensation; both to 1 ulp, as the kernel.
    kept_by_steps = {}
    for steps in range(8, 400):
        x, labels = cancelling_row(n_classes, n_labels, steps)
        loss, plain, guard, kept = _multilabel_margin._counted_row_probe(
            x, labels.astype(np.intp))
        kept_by_steps[steps] = kept
    flips = [s for s in range(9, 400) if kept_by_steps[s] != kept_by_steps[s - 1]]
    assert len(flips) == 1 and kept_by_steps[flips[0]]   # rejected below, kept above
    for steps, kept in ((flips[0] - 1, False), (flips[0], True), (8, False), (399, True)):
        check_counted_row(*cancelling_row(n_classes, n_labels, steps), kept)


@pytest.mark.parametrize("n_classes", [16, 17, 80, 1000])
@pytest.mark.parametrize("n_labels", [3, 9, 40])
def test_counted_guard_keeps_ordinary_rows(rng, n_classes, n_labels):
    # Rows of ordinary scores keep the plain sum (no second pass), to a quarter ulp.
    for scale in (1e-3, 1.0, 1e6):
        x = (rng.standard_normal(n_classes) * scale).astype(np.float32)
        labels = rng.integers(0, n_classes, min(n_labels, n_classes))  # duplicates too
        check_counted_row(x, labels, kept=True)


@pytest.mark.parametrize("big_exponent", [10, 20, 40, 100])
def test_counted_cancellation_takes_the_compensated_sum(big_exponent):
    # Every term one float32 spacing of parts of 2**e: the plain sum's bound is
    # too loose to keep it, the compensated sum gives the exact value.
    big = 2.0 ** big_exponent
    x, labels = cancelling_row(250, 200 if big_exponent < 100 else 5, 8, big)
    loss, exact = check_counted_row(x, labels, kept=False)
    assert loss == exact


def test_counted_row_probe_leaves_unbounded_rows():
    x = np.array([1.0, 3e38, 0.5, -1.0], dtype=np.float32)
    assert _multilabel_margin._counted_row_probe(x, np.array([0, 2], dtype=np.intp)) is None
    x[1] = np.nan
    assert _multilabel_margin._counted_row_probe(x, np.array([0, 2], dtype=np.intp)) is None
    with pytest.raises(ValueError, match=r"label 4 is not in \[0, 4\)"):
        _multilabel_margin._counted_row_probe(x, np.array([4], dtype=np.intp))
