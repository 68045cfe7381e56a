"""The multi-label kernel's sorted path, on every build, against the pair loop.

The sorted path (``pyx/_sorted_labels.pxi``) sorts a row's shifts
``a_i = m - x[j_i]`` descending, finds for every class d the number m_d of
shifts it violates (on the AVX-512 build a vector binary search in
``pyx/_label_search.h``: permutes of per-row tables for the first steps, then
gathers; elsewhere 8 scalar searches interleaved), and forms the loss from the
m_d.  Every row here is forced onto it
(``_set_direct_max_labels(-1)``, ``_set_count_max_labels(-1)`` on each build),
and the label counts and class counts sit on its boundaries: the rank (float32) or
insertion (float64) / radix sort threshold ± 1, the room of the 16 lane histograms
± 1, COUNT_MAX_LABELS ± 1, the search's table sizes (2**s shifts, s = 4 ... 9) ± 1
(past 512 labels float32 gathers a step),
the vector widths (8, 16) ± 1 and the lane sums' 16.

- Gradients: the pair counts, bitwise (count * (1/C) * grad_output).
- Losses: float64 per-sample values within a relative 1e-13 of the exact sum
  of the active terms (relative to the sum of their magnitudes); +inf or NaN
  exactly where a term is, NaN for a row holding a NaN.  Float32 rows first
  take plain float64 lane sums, kept only where their error bound is below a
  quarter float32 ulp (the guard): rows on both sides of it, against the
  hand emulation of the lanes and ``math.fsum``.
- Every build gives the baseline's bits, for one and two threads.
"""

import math

import numpy as np
import pytest

from marginloss import _kernels, _losses

from _reference import pair_reference

BUILDS = ["baseline"] + [
    build for build in ("avx2", "avx512")
    if _kernels.cpu_supports(build)
    and _kernels.load_multilabel(build) is not _kernels.load_multilabel("baseline")
]
MODULES = {build: _kernels.load_multilabel(build) for build in BUILDS}
DTYPES = [np.float32, np.float64]
COUNT_MAX = MODULES["baseline"].COUNT_MAX_LABELS
RADIX = {np.float32: MODULES["baseline"].RADIX_MIN_FLOAT32,
         np.float64: MODULES["baseline"].RADIX_MIN_FLOAT64}


def dtype_id(dtype):
    return np.dtype(dtype).name


@pytest.fixture(autouse=True)
def sorted_path():
    """Every row of every build takes the sorted path."""
    previous = {build: (module._set_direct_max_labels(-1), module._set_count_max_labels(-1))
                for build, module in MODULES.items()}
    yield
    for build, module in MODULES.items():
        module._set_direct_max_labels(previous[build][0])
        module._set_count_max_labels(previous[build][1])


def run(module, x, target, grad_output=None, n_threads=1, margin=1.0):
    """Per-sample float64 losses of ``loss`` and ``loss_gradient``, and the gradient."""
    n_samples, n_classes = x.shape
    go = np.ones(n_samples) if grad_output is None else np.asarray(grad_output, dtype=float)
    forward = np.empty(n_samples)
    scratch = _losses._new_multilabel_scratch(n_threads, n_classes, x.dtype, False)
    module.loss(x, target, forward, *scratch, n_threads, margin, False)
    assert not scratch[1].any()  # the class mask is left zeroed
    fused = np.empty(n_samples)
    gradient = np.full_like(x, 7.0)
    scratch = _losses._new_multilabel_scratch(n_threads, n_classes, x.dtype, True)
    module.loss_gradient(x, target, 1 / n_classes, go, 1, fused, gradient, *scratch,
                         n_threads, margin, False)
    assert not scratch[1].any() and not scratch[4].any()  # mask and label counts zeroed
    return forward, fused, gradient


def oracle(x, target, grad_output=None, margin=1.0):
    """The pair loop: per-sample loss (exact sum / C, inf or NaN as the terms), the
    gradient (pair counts * (1/C) * grad_output in the input dtype), and the sum of
    the active terms' magnitudes / C (the scale of the loss's rounding)."""
    n_samples, n_classes = x.shape
    go = np.ones(n_samples) if grad_output is None else np.asarray(grad_output, dtype=float)
    totals, counts, nan_rows, magnitudes = pair_reference(x, target, margin)
    with np.errstate(all="ignore"):
        gradient = (counts * (1.0 / n_classes) * go[:, None]).astype(x.dtype)
    gradient[nan_rows] = np.nan
    return totals / n_classes, gradient, magnitudes / n_classes


def assert_same_bits(a, b):
    """Bitwise equal (signed zeros too); a NaN matches any NaN."""
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan].view(np.uint8), b[~nan].view(np.uint8))


def check(x, target, grad_output=None, margin=1.0, threads=(1, 2)):
    """Every build, one and two threads: the oracle's gradient bitwise, its loss to
    1e-13 of the terms' scale, and the baseline's bits."""
    expected_loss, expected_gradient, scale = oracle(x, target, grad_output, margin)
    baseline = run(MODULES["baseline"], x, target, grad_output, 1, margin)
    forward, fused, gradient = baseline
    assert_same_bits(forward, fused)
    assert_same_bits(gradient, expected_gradient)
    special = ~np.isfinite(expected_loss)
    np.testing.assert_array_equal(fused[special], expected_loss[special])
    assert np.all(np.abs(fused[~special] - expected_loss[~special])
                  <= 1e-13 * scale[~special]), (fused, expected_loss)
    for build, module in MODULES.items():
        for n_threads in threads:
            for a, b in zip(baseline, run(module, x, target, grad_output, n_threads, margin)):
                assert_same_bits(a, b)
    return fused, gradient


def label_rows(rng, n_samples, n_classes, n_labels, duplicates=False):
    target = np.full((n_samples, n_classes), -1, dtype=np.int64)
    for row in target:
        k = min(n_labels, n_classes)
        row[:k] = (rng.integers(0, n_classes, k) if duplicates
                   else rng.permutation(n_classes)[:k])
    return target


# ---------------------------------------------------------------------------
# Hand-computed rows
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_exact_ties_by_hand(dtype):
    # C = 17 (a vector of 16 and one more; one lane sum past 16), labels 0, 1, 2
    # with x = 0.5, 1, 1.5: shifts 0.5, 0, -0.5, thresholds x[d] > -0.5, 0, 0.5.
    # Non-labels: x[d] = 0.5 (m = 2: 0.5 > 0 yes, 0.5 > 0.5 no: an exact tie z = 0),
    # 0 (m = 1: 0 > 0 no), -0.5 (m = 0: a tie), 2 (m = 3).
    x = np.zeros((1, 17), dtype=dtype)
    x[0, :3] = [0.5, 1.0, 1.5]
    others = np.array([0.5, 0.0, -0.5, 2.0] * 3 + [0.5, 0.0])
    x[0, 3:] = others
    target = np.full((1, 17), -1, dtype=np.int64)
    target[0, :3] = [0, 1, 2]
    m = np.select([others == 2.0, others == 0.5, others == 0.0], [3, 2, 1], 0)
    # a class with m_d = m adds the first m shifts (0.5, 0, -0.5) plus m * x[d]
    prefix = np.array([0.0, 0.5, 0.5, 0.0])
    row = float(np.sum(prefix[m] + m * others))
    label_gradient = [-np.sum(m > 0), -np.sum(m > 1), -np.sum(m > 2)]
    fused, gradient = check(x, target)
    assert fused[0] == row / 17
    expected = np.concatenate([label_gradient, m]) * (1.0 / 17)
    np.testing.assert_array_equal(gradient[0], expected.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_all_equal_shifts_and_scores(dtype):
    # every shift equal, every non-label on the threshold or one ulp off it
    n_classes = 40
    x = np.full((3, n_classes), 0.25, dtype=dtype)
    edge = dtype(-(dtype(1) - dtype(0.25)))  # -0.75: z == 0 exactly
    x[:, 20:] = edge
    x[1, 20:] = np.nextafter(edge, dtype(1))
    x[2, 20:] = np.nextafter(edge, dtype(-1))
    target = np.full((3, n_classes), -1, dtype=np.int64)
    target[:, :20] = np.arange(20)
    fused, gradient = check(x, target)
    assert fused[0] == 0.0 and fused[2] == 0.0 and fused[1] > 0
    assert np.all(gradient[1, 20:] == dtype(20 / n_classes))
    assert np.all(gradient[[0, 2], 20:] == 0)


# ---------------------------------------------------------------------------
# Boundaries: sort, search tables, vector widths, lanes
# ---------------------------------------------------------------------------
SEARCH_SIZES = [1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 257, 511, 512, 513]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_labels", SEARCH_SIZES + ["radix-1", "radix", "radix+1"])
def test_label_counts_on_the_boundaries(dtype, n_labels):
    if isinstance(n_labels, str):
        n_labels = RADIX[dtype] + {"radix-1": -1, "radix": 0, "radix+1": 1}[n_labels]
    rng = np.random.default_rng(n_labels * 31 + (dtype is np.float32))
    n_classes = n_labels + 49  # 49 non-labels: 3 vectors of 16 and one
    x = (rng.integers(-12, 13, size=(6, n_classes)) / 8).astype(dtype)  # many ties
    x[3:] = rng.normal(scale=2.0, size=(3, n_classes)).astype(dtype)
    target = label_rows(rng, 6, n_classes, n_labels, duplicates=False)
    target[5] = label_rows(rng, 1, n_classes, n_labels, duplicates=True)[0]
    check(x, target, grad_output=rng.choice([1.0, -0.5, 0.0, 3.0], size=6))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_classes", [7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49])
def test_class_counts_on_the_vector_widths(dtype, n_classes):
    rng = np.random.default_rng(n_classes)
    x = rng.normal(size=(8, n_classes)).astype(dtype)
    target = np.full((8, n_classes), -1, dtype=np.int64)
    for n, row in enumerate(target):
        k = 1 + n % min(n_classes, 5)
        row[:k] = rng.permutation(n_classes)[:k]
    check(x, target)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_margins_and_grad_outputs(dtype):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 70)).astype(dtype)
    target = label_rows(rng, 12, 70, 20)
    go = np.array([1.0, -2.0, 0.0, -0.0, np.inf, -np.inf, 0.5, 1e-3, 7.0, 1.0, 1.0, 1.0])
    for margin in (0.0, 1.0, 2.5, -1.0):
        check(x, target, grad_output=go, margin=margin)


# ---------------------------------------------------------------------------
# Infinite, huge and NaN scores
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_infinite_and_nan_scores(dtype):
    rng = np.random.default_rng(11)
    n_classes = 40
    x = rng.normal(size=(8, n_classes)).astype(dtype)
    target = label_rows(rng, 8, n_classes, 10)
    labels = target[:, :10]
    others = [np.setdiff1d(np.arange(n_classes), row) for row in labels]
    x[0, others[0][0]] = np.inf              # a non-label at +inf: inf loss
    x[1, others[1][0]] = -np.inf             # at -inf: never active
    x[2, labels[2, 0]] = np.inf              # a label at +inf: its shift -inf, never active
    x[3, labels[3, 0]] = -np.inf             # a label at -inf: shift +inf, inf loss
    x[4, labels[4, 0]] = -np.inf             # shift +inf against a non-label -inf: NaN
    x[4, others[4][0]] = -np.inf
    x[5, others[5][3]] = np.nan              # NaN row
    x[6, labels[6, 2]] = np.nan              # NaN label score
    big = np.finfo(dtype).max
    x[7, others[7][:3]] = [big, -big, big / 2]   # huge: the class-by-class sum
    fused, gradient = check(x, target)
    assert fused[0] == np.inf and np.isfinite(fused[1]) and np.isfinite(fused[2])
    assert fused[3] == np.inf
    assert np.isnan(fused[[4, 5, 6]]).all() and np.isnan(gradient[[4, 5, 6]]).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_huge_scores_cancel_exactly(dtype):
    # terms tiny against the scores: the compensated sums keep them
    rng = np.random.default_rng(3)
    base = 1e6 if dtype is np.float32 else 1e12
    x = (base * (1 + rng.random((6, 90)))).astype(dtype)
    target = label_rows(rng, 6, 90, 70)
    for n in range(6):
        shifts = dtype(1) - x[n, target[n, :70]]
        others = np.setdiff1d(np.arange(90), target[n, :70])
        x[n, others] = -rng.choice(shifts, size=others.size)
        x[n, others[::2]] = np.nextafter(x[n, others[::2]], dtype(np.inf))
    check(x, target)


# ---------------------------------------------------------------------------
# The float32 row from the m_d: rank sort, lane histograms, 16-class groups
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_labels", [22, 23, 24, 25, 26])
def test_lane_histograms_on_their_room(dtype, n_labels):
    # C = 199: the scratch holds 2 * (C + 1) = 400 counters, so the 16 lane
    # histograms (16 * (k + 1) counters) fit up to k = 24; from 25 the two
    # halves count.  Both give the same columns.
    rng = np.random.default_rng(n_labels)
    n_classes = 199
    x = (rng.integers(-12, 13, size=(5, n_classes)) / 8).astype(dtype)   # many ties
    x[3:] = rng.normal(size=(2, n_classes)).astype(dtype)
    target = label_rows(rng, 5, n_classes, n_labels)
    target[4] = label_rows(rng, 1, n_classes, n_labels, duplicates=True)[0]
    check(x, target, grad_output=rng.choice([1.0, -0.5, 0.0, 3.0], size=5))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_labels", [1, 2, 31, 32, 33, 62, 63])
def test_rank_sort_with_equal_and_signed_zero_shifts(dtype, n_labels):
    # margin -0.0: a label scored +0.0 has the shift -0.0 - 0.0 = -0.0, one
    # scored -0.0 the shift -0.0 + 0.0 = +0.0: ties of both zeros and of equal
    # shifts, in every order (the rank sort breaks ties by position), below
    # RADIX_MIN_FLOAT32 = 64; non-labels on both sides of 0 and on it (z = 0).
    rng = np.random.default_rng(100 + n_labels)
    n_classes = n_labels + 40
    x = rng.choice([0.0, -0.0, 0.5, -0.5], size=(4, n_classes)).astype(dtype)
    x[:, n_labels:] = rng.choice([0.0, -0.0, 0.25, -0.25, 1.0, -1.0],
                                 size=(4, n_classes - n_labels))
    target = np.full((4, n_classes), -1, dtype=np.int64)
    for row in target:
        row[:n_labels] = rng.permutation(n_labels)
    fused, gradient = check(x, target, margin=-0.0)
    # hand count for one class: a non-label at 0.25 violates every shift of
    # -0.0 or +0.0 (0.25 > 0) and every shift -0.5 + ... (labels at 0.5 give
    # -0.0 - 0.5 = -0.5: 0.25 - 0.5 < 0, inactive)
    shifts = (dtype(-0.0) - x[0, :n_labels]).astype(dtype)
    for d in range(n_labels, n_classes):
        expected = np.sum(~((shifts + x[0, d]) <= 0)) * (1.0 / n_classes)
        assert gradient[0, d] == dtype(expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_labels", [COUNT_MAX - 1, COUNT_MAX, COUNT_MAX + 1, 64])
def test_count_crossover_gives_the_same_counts(dtype, n_labels):
    # the rows about COUNT_MAX_LABELS, on the sorted path here, against the
    # counting path's gradient (the same integer counts, the same bits)
    rng = np.random.default_rng(7 + n_labels)
    n_classes = 200
    x = rng.normal(size=(6, n_classes)).astype(dtype)
    target = label_rows(rng, 6, n_classes, n_labels)
    go = rng.choice([1.0, -2.0, 0.5], size=6)
    _, sorted_gradient = check(x, target, grad_output=go)
    module = MODULES["baseline"]
    previous = module._set_count_max_labels(n_labels)
    try:
        _, _, counted_gradient = run(module, x, target, go)
    finally:
        module._set_count_max_labels(previous)
    assert_same_bits(sorted_gradient, counted_gradient)


# ---------------------------------------------------------------------------
# The float32 plain lane sums and their guard (docs/design.md, "The row from
# the m_d"): kept when n * 2**-52 * P * (M + Ma) <= 2**-27 * |sum|, else the
# compensated lanes
# ---------------------------------------------------------------------------
def plain_row(x, labels, margin=1.0):
    """The sorted path's float32 row by hand: (the plain lane sum, whether the
    guard keeps it, the exact sum), in the kernel's order of operations."""
    x = np.asarray(x, dtype=np.float32)
    n_classes, k = x.size, len(labels)
    shifts = np.sort((np.float32(margin) - x[labels]).astype(np.float32))[::-1]
    active = ~((shifts[None, :] + x[:, None]) <= 0)            # float32 sums
    count = active.sum(axis=1)
    count[labels] = 0
    column = [int(np.sum(count > i)) for i in range(k)]
    lanes = [0.0] * 16
    for d in range(n_classes):                 # class d in lane d % 16, in order
        lanes[d % 16] = lanes[d % 16] + float(count[d]) * float(x[d])
    for i in range(k):                         # then label i in lane i % 16
        lanes[i % 16] = lanes[i % 16] + column[i] * float(shifts[i])
    width = 8
    while width >= 1:
        for lane in range(width):
            lanes[lane] = lanes[lane] + lanes[lane + width]
        width //= 2
    plain = lanes[0]
    n_adds = -(-n_classes // 16) + -(-k // 16) + 4
    largest = float(np.max(np.abs(x)))
    largest_shift = max(abs(float(shifts[0])), abs(float(shifts[-1])))
    kept = (n_adds * 2.0**-52) * sum(column) * (largest + largest_shift) <= 2.0**-27 * abs(plain)
    exact = math.fsum([float(count[d]) * float(x[d]) for d in range(n_classes)]
                      + [column[i] * float(shifts[i]) for i in range(k)])
    return plain, kept, exact


def guard_edge(x, labels, spare):
    """The largest |score| at which the guard still keeps the plain sum of row x
    (class spare, a non-label whose score is to be set, inactive for every label)."""
    shifts = (np.float32(1.0) - x[labels]).astype(np.float32)
    x = x.copy()
    x[spare] = -np.float32(2 * max(np.abs(x).max(), np.abs(shifts).max()))
    plain, kept, _ = plain_row(x, labels)
    assert kept
    low = np.float32(-x[spare])
    high = np.float32(3e38 / 4)
    while np.nextafter(low, np.float32(np.inf)) < high:    # bisect on float32 values
        middle = np.float32(low + (high - low) / 2)
        middle = max(middle, np.nextafter(low, np.float32(np.inf)))
        x[spare] = -middle
        if plain_row(x, labels)[1]:
            low = middle
        else:
            high = middle
    return low, high


def test_plain_sum_guard_both_sides():
    # Half the scores about 1000, half about 1e-4 (finer bits than the lanes
    # keep): the plain sum is a float64 ulp off the exact one here, far within
    # its bound.  A spare non-label, inactive for every label, moves only
    # M = max |x|, so it moves the guard across its edge: a float32 score
    # apart, one row keeps the plain sum (the hand emulation's bits), the other
    # takes the compensated lanes (the exact sum, rounded once).
    rng = np.random.default_rng(1)
    n_classes, k = 200, 50
    big = rng.random(n_classes) < 0.5
    x = np.where(big, 1000 + rng.normal(size=n_classes),
                 1e-4 * rng.normal(size=n_classes)).astype(np.float32)
    labels = rng.permutation(n_classes - 1)[:k]
    spare = n_classes - 1
    low, high = guard_edge(x, labels, spare)
    assert high == np.nextafter(low, np.float32(np.inf))
    rows = np.stack([x, x])
    rows[0, spare], rows[1, spare] = -low, -high
    target = np.full(rows.shape, -1, dtype=np.int64)
    target[:, :k] = labels
    accepted, rejected = plain_row(rows[0], labels), plain_row(rows[1], labels)
    assert accepted[1] and not rejected[1]
    assert accepted[0] == rejected[0] and accepted[2] == rejected[2]   # the same sum
    plain, _, exact = accepted
    assert plain != exact                     # so the two rows' bits tell the paths apart
    assert abs(plain - exact) <= np.spacing(np.float32(exact)) / 4     # within the bound
    for build, module in MODULES.items():
        for n_threads in (1, 2):
            forward, fused, gradient = run(module, rows, target, n_threads=n_threads)
            assert_same_bits(forward, fused)
            assert fused[0] == plain / n_classes                        # kept
            assert fused[1] == exact / n_classes                        # compensated
            assert_same_bits(gradient[0], gradient[1])
    _, expected_gradient, _ = oracle(rows, target)
    assert_same_bits(gradient, expected_gradient)


@pytest.mark.parametrize("seed", range(4))
def test_plain_sum_rows_cancelling_are_compensated(seed):
    # Scores about +-1e7 with terms about 1 (the guard rejects the plain sum):
    # the compensated lanes, within float64 rounding of the exact sum; normal
    # scores (kept): the emulation's bits, within a quarter float32 ulp.
    rng = np.random.default_rng(seed)
    n_classes, k = 120, 45
    x = np.empty((2, n_classes), dtype=np.float32)
    x[0] = (rng.normal(size=n_classes) + 1e7 * rng.choice([-1, 1])).astype(np.float32)
    x[1] = rng.normal(size=n_classes).astype(np.float32)
    target = label_rows(rng, 2, n_classes, k)
    huge, normal = plain_row(x[0], target[0, :k]), plain_row(x[1], target[1, :k])
    assert not huge[1] and normal[1]
    assert abs(normal[0] - normal[2]) <= np.spacing(np.float32(normal[2])) / 4
    for module in MODULES.values():
        _, fused, gradient = run(module, x, target)
        assert abs(fused[0] - huge[2] / n_classes) <= 2 * np.spacing(huge[2] / n_classes)
        assert fused[1] == normal[0] / n_classes
    check(x, target)


@pytest.mark.parametrize("margin", [1.0, 2.0**125, 1.5 * 2.0**125, -2.0**126])
def test_search_bound_on_its_edge(margin):
    # The float32 search compares x[d] > -a_i directly on a bounded row
    # (|x| <= FLT_MAX / 4, |a_i| <= FLT_MAX / 2), else evaluates a_i + x[d]:
    # scores at FLT_MAX / 4 (2**126 less a bit) and an ulp above, huge
    # margins putting the shifts about FLT_MAX / 2, on both sides.
    rng = np.random.default_rng(11)
    edge = np.float32(np.finfo(np.float32).max / 4)
    n_classes, k = 90, 50
    x = (rng.normal(size=(6, n_classes)) * 2.0**120).astype(np.float32)
    x[0, 3] = edge
    x[1, 3] = np.nextafter(edge, np.float32(np.inf))
    x[2, 3] = -edge
    x[3, 3] = -np.nextafter(edge, np.float32(np.inf))
    x[4] = rng.normal(size=n_classes).astype(np.float32)
    x[5, :] = edge
    x[5, ::3] = -edge
    target = label_rows(rng, 6, n_classes, k)
    target[[0, 1, 2, 3], 0] = 3            # the edge score as a label, then as a non-label
    target[[2, 3], 0] = 4
    check(x.astype(np.float32), target, margin=margin)


@pytest.mark.parametrize("n_classes", [70, 300])
def test_flush_to_zero_keeps_every_build_on_the_sums_test(n_classes):
    # Under flush-to-zero (set here through PyTorch, process-wide for this thread)
    # a positive sum below FLT_MIN rounds to +0, so the pair test "not (a + x <= 0)"
    # and x > -a part: every build and every class of a row must take the sum's
    # test.  Every term here is (0 - 2**-126) + 1.5 * 2**-126 = 2**-127.
    torch = pytest.importorskip("torch")
    x = np.full((1, n_classes), 1.5 * 2.0**-126, dtype=np.float32)
    x[0, 0] = 2.0**-126
    target = np.full((1, n_classes), -1, dtype=np.int64)
    target[0, 0] = 0
    try:
        assert torch.set_flush_denormal(True)
        flushed = {build: run(module, x, target, n_threads=1, margin=0.0)
                   for build, module in MODULES.items()}
    finally:
        torch.set_flush_denormal(False)
    for build in MODULES:
        for a, b in zip(flushed["baseline"], flushed[build]):
            assert_same_bits(a, b)
    forward, fused, gradient = flushed["baseline"]
    assert forward[0] == 0 and fused[0] == 0 and not gradient.any()
    # with gradual underflow every one of the n_classes - 1 pairs is active
    forward, fused, gradient = run(MODULES["baseline"], x, target, n_threads=1, margin=0.0)
    assert fused[0] == (n_classes - 1) * 2.0**-127 / n_classes
    np.testing.assert_array_equal(gradient[0, 1:], np.float32(1 / n_classes))
