"""The builds of the multi-label kernel give the same bits.

``marginloss._multilabel_margin`` (x86-64 baseline), ``_multilabel_margin_avx2``
and ``_multilabel_margin_avx512`` (the same source with ``-mavx2`` and with
``-mavx512f -mavx512bw -mavx512dq -mavx512vl``) must agree bit for bit on every
input (but for the sign of a NaN): the wider builds widen the vector registers
of the counting passes and of the lane sums, they may not reorder or fuse any
floating-point operation.  ``marginloss._kernels.multilabel_margin`` is the
build in use (the multi-class kernels' build).
"""

import numpy as np
import pytest

from marginloss import _kernels, _losses

BASELINE = _kernels.load_multilabel("baseline")
WIDE_BUILDS = [
    pytest.param(build, marks=pytest.mark.skipif(
        not _kernels.cpu_supports(build)
        or _kernels.load_multilabel(build) is BASELINE,
        reason=f"the {build} build is not built, or this CPU cannot run it"))
    for build in ("avx2", "avx512")
]
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-40, 3e38, -3e38])


def _assert_same_bits(a, b):
    """Bitwise equal, signed zeros included; a NaN matches any NaN."""
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan].view(np.uint8), b[~nan].view(np.uint8))


def _run(module, x, target, indicator, grad_output, stride, n_threads):
    n_samples, n_classes = x.shape
    forward = np.empty(n_samples)
    scratch = _losses._new_multilabel_scratch(n_threads, n_classes, x.dtype, False)
    module.loss(x, target, forward, *scratch, n_threads, 1.0, indicator)
    assert not scratch[1].any()  # the class mask is left zeroed
    fused = np.empty(n_samples)
    gradient = np.empty_like(x)
    scratch = _losses._new_multilabel_scratch(n_threads, n_classes, x.dtype, True)
    module.loss_gradient(x, target, 1 / n_classes, grad_output, stride, fused, gradient,
                         *scratch, n_threads, 1.0, indicator)
    assert not scratch[1].any() and not scratch[4].any()
    return forward, fused, gradient


def _problem(rng, n_samples, n_classes, n_labels, dtype, specials, indicator):
    x = rng.normal(scale=1.5, size=(n_samples, n_classes))
    if specials:
        mask = rng.random(x.shape) < 0.03
        x[mask] = rng.choice(SPECIALS, size=mask.sum())
    x = x.astype(dtype)
    target = np.full((n_samples, n_classes), -1, dtype=np.int64)
    for row in target:
        k = min(n_labels, n_classes)
        row[:k] = rng.integers(0, n_classes, k)  # duplicates too
    if indicator:
        flags = np.zeros(x.shape, dtype=np.uint8)
        for n, row in enumerate(target):
            flags[n, row[row >= 0]] = 1
        target = flags
    return x, target


@pytest.mark.parametrize("build", WIDE_BUILDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [1, 3, 15, 16, 17, 33, 100, 257])
@pytest.mark.parametrize("n_labels", [1, 3, 4, 5, 20, 40, 41, 63, 64, 65, 200])
@pytest.mark.parametrize("specials", [False, True], ids=["finite", "specials"])
def test_wide_builds_give_the_baseline_bits(build, dtype, n_classes, n_labels, specials):
    wide = _kernels.load_multilabel(build)
    rng = np.random.default_rng(n_classes * 1009 + n_labels * 7 + specials)
    for indicator in (False, True):
        x, target = _problem(rng, 40, n_classes, n_labels, dtype, specials, indicator)
        grad_output = rng.choice([1.0, -2.5, 0.0, np.inf], size=40)
        for n_threads in (1, 2):
            expected = _run(BASELINE, x, target, indicator, grad_output, 1, 1)
            got = _run(wide, x, target, indicator, grad_output, 1, n_threads)
            for a, b in zip(expected, got):
                _assert_same_bits(a, b)


@pytest.mark.parametrize("build", WIDE_BUILDS)
@pytest.mark.parametrize("n_classes", [31, 32, 63, 64, 65, 127, 129])
@pytest.mark.parametrize("n_labels", [15, 16, 17, 31, 32, 33])
@pytest.mark.parametrize("specials", [False, True], ids=["finite", "specials"])
def test_wide_builds_on_group_edges(build, n_classes, n_labels, specials):
    # float32 rows on the counting pass's edges: 16-class groups, the
    # gradient looked up by count below 32 labels, 64-byte indicator chunks.
    wide = _kernels.load_multilabel(build)
    rng = np.random.default_rng(n_classes * 613 + n_labels * 11 + specials)
    for indicator in (False, True):
        x, target = _problem(rng, 24, n_classes, n_labels, np.float32, specials, indicator)
        with np.errstate(over="ignore"):
            x[::3] = np.round(x[::3] * 2) / 2  # ties: z = 0 exactly
        grad_output = rng.choice([1.0, -2.5, 0.0, np.inf], size=24)
        for n_threads in (1, 2):
            expected = _run(BASELINE, x, target, indicator, grad_output, 1, 1)
            got = _run(wide, x, target, indicator, grad_output, 1, n_threads)
            for a, b in zip(expected, got):
                _assert_same_bits(a, b)


@pytest.mark.parametrize("build", WIDE_BUILDS)
@pytest.mark.parametrize("n_classes", [15, 16, 17, 79, 80, 81])
@pytest.mark.parametrize("n_labels", [7, 8, 9, 15, 16, 17, 24, 25])
@pytest.mark.parametrize("magnitudes", ["unit", "mixed"])
def test_wide_builds_on_label_term_edges(build, n_classes, n_labels, magnitudes):
    # float32 rows of the counting path: the label terms go to the odd lanes
    # 8 labels at a time (7, 8, 9, 15, 16, 17 labels put rows on each edge), the
    # 16 lanes are folded in registers of shrinking width; mixed magnitudes make
    # the compensation work, rows of all-zero counts sit beside active ones.
    wide = _kernels.load_multilabel(build)
    rng = np.random.default_rng(n_classes * 331 + n_labels * 17 + (magnitudes == "mixed"))
    x, target = _problem(rng, 32, n_classes, n_labels, np.float32, False, False)
    if magnitudes == "mixed":
        x = (x * 10.0 ** rng.integers(-20, 21, size=x.shape)).astype(np.float32)
    x[1::4] -= 100  # every class below every threshold: counts 0
    x[2::4, :n_classes // 2] -= 100  # a row half inactive, half active
    grad_output = rng.choice([1.0, -2.5, 0.0, 1e-30], size=32)
    for indicator in (False, True):
        if indicator:
            flags = np.zeros(x.shape, dtype=np.uint8)
            for n, row in enumerate(target):
                flags[n, row[row >= 0]] = 1
            target = flags
        for n_threads in (1, 2):
            expected = _run(BASELINE, x, target, indicator, grad_output, 1, 1)
            got = _run(wide, x, target, indicator, grad_output, 1, n_threads)
            for a, b in zip(expected, got):
                _assert_same_bits(a, b)


@pytest.mark.parametrize("build", WIDE_BUILDS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_wide_builds_count_outside_rows(build, dtype):
    wide = _kernels.load_multilabel(build)
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype)
    for n_columns in (1, 3, 8, 15, 16, 17, 100):
        target = rng.integers(-1, 10, size=(9, n_columns)).astype(dtype)
        for value in (-2, 10, info.min, info.max):
            target.flat[rng.integers(target.size)] = value
            for low, high in ((-1, 10), (0, 10), (info.min, 0), (-5, 1 << 40)):
                expected = int(((target < low) | (target >= high)).sum())
                for n_threads in (1, 2):
                    assert BASELINE.count_outside_rows(target, low, high, n_threads) == expected
                    assert wide.count_outside_rows(target, low, high, n_threads) == expected


@pytest.mark.parametrize("build", ["baseline"] + WIDE_BUILDS)
@pytest.mark.parametrize("n_classes", [32, 80, 1000])
def test_builds_on_both_sides_of_the_counting_guard(build, n_classes):
    # float32 rows whose terms cancel a step more or less than the counting
    # path's guard allows (plain sum kept, or summed again with compensation),
    # beside ordinary rows: the loss-only kernel gives the fused kernel's loss,
    # every build and thread count the baseline's bits.
    module = _kernels.load_multilabel(build)
    rng = np.random.default_rng(n_classes)
    rows = _guard_rows(module, n_classes, 3)
    x = np.concatenate([rows, rng.normal(size=(20, n_classes)).astype(np.float32)])
    target = np.full(x.shape, -1, dtype=np.int64)
    target[:len(rows), :3] = np.arange(3)
    target[len(rows):, :5] = rng.integers(0, n_classes, (20, 5))
    grad_output = rng.choice([1.0, -2.5, 0.0], size=len(x))
    expected = _run(BASELINE, x, target, False, grad_output, 1, 1)
    _assert_same_bits(expected[0], expected[1])
    for n_threads in (1, 2):
        for a, b in zip(expected, _run(module, x, target, False, grad_output, 1, n_threads)):
            _assert_same_bits(a, b)


class _ranks_on:
    """The float32 counting path's rank search from any label count (on a
    build that has it), or off (``_set_rank_min_labels``)."""

    def __init__(self, module, on):
        self.module, self.threshold = module, 0 if on else 1 << 40

    def __enter__(self):
        self.previous = self.module._set_rank_min_labels(self.threshold)

    def __exit__(self, *exc):
        self.module._set_rank_min_labels(self.previous)


RANK_BUILDS = [
    pytest.param(build, marks=pytest.mark.skipif(
        not _kernels.cpu_supports(build) or not _kernels.load_multilabel(build).RANK_SEARCH,
        reason=f"the {build} build is not built, or this CPU cannot run it"))
    for build in ("avx512",)   # the build with the rank search
]


def _assert_ranks_give_popcount_bits(module, x, target, indicator, grad_output,
                                     threads=(1,)):
    """The rank search on, for each thread count, gives the popcounts' bits
    (the search off, one thread); returns the popcounts' results."""
    with _ranks_on(module, False):
        expected = _run(module, x, target, indicator, grad_output, 1, 1)
    with _ranks_on(module, True):
        for n_threads in threads:
            for a, b in zip(expected, _run(module, x, target, indicator, grad_output, 1,
                                           n_threads)):
                _assert_same_bits(a, b)
    return expected


def _guard_rows(module, n_classes, n_labels):
    """float32 rows whose terms cancel a step more or less than the counting
    path's guard allows (labels 0 .. n_labels - 1 at +big, eight classes a
    few spacings above big - 1, the rest at -big), and whether the probe
    kept each plain sum: some are kept, some are not."""
    big = np.float32(1024.0)
    spacing = np.spacing(big - 1)
    rows, kept = [], []
    for steps in range(8, 400, 3):
        x = np.full(n_classes, -big, dtype=np.float32)
        x[:n_labels] = big
        x[n_labels:n_labels + 8] = ((big - 1)
                                    + (steps // 8 + (np.arange(8) < steps % 8)) * spacing)
        rows.append(x)
        kept.append(module._counted_row_probe(x, np.arange(n_labels, dtype=np.intp))[3])
    assert any(kept) and not all(kept)
    return np.stack(rows)


def test_rank_search_only_in_the_avx512_build():
    # The baseline and AVX2 builds have no rank search (their stubs are never
    # called): RANK_SEARCH False and RANK_LABELS 0; the threshold is the same.
    assert not BASELINE.RANK_SEARCH and BASELINE.RANK_LABELS == 0
    assert BASELINE.RANK_MIN_LABELS == 26
    for build in ("avx2", "avx512"):
        if _kernels.cpu_supports(build):
            module = _kernels.load_multilabel(build)
            if module is not BASELINE:
                assert module.RANK_SEARCH == (build == "avx512")
                assert module.RANK_LABELS == (31 if build == "avx512" else 0)


@pytest.mark.parametrize("build", RANK_BUILDS)
@pytest.mark.parametrize("n_classes", [16, 17, 31, 32, 33, 47, 48, 49, 1000])
@pytest.mark.parametrize("n_labels", [3, 15, 16, 17, 24, 25, 26, 27, 30, 31, 32])
@pytest.mark.parametrize("specials", [False, True], ids=["finite", "specials"])
def test_rank_search_gives_the_popcount_bits(build, n_classes, n_labels, specials):
    # Each class's count as its rank among the sorted thresholds (a binary
    # search in a 32-entry table) and the label columns from the ranks,
    # against the compares of the popcount loop: the same integers, so the
    # same bits; label counts on the search's edges (RANK_MIN_LABELS = 26 +-
    # 1, RANK_LABELS = 31 +- 1), classes on the 16- and 32-class edges, exact
    # ties z = 0, equal thresholds (labels listed twice, equal label scores),
    # counts 0, and rows with infinite, huge or NaN scores (left to the other
    # paths).
    module = _kernels.load_multilabel(build)
    assert module.RANK_LABELS == 31 and module.RANK_MIN_LABELS == 26
    rng = np.random.default_rng(n_classes * 89 + n_labels)
    x, target = _problem(rng, 12, n_classes, n_labels, np.float32, specials, False)
    with np.errstate(over="ignore"):    # the specials' 3e38 * 2: inf, an infinite score
        x[::3] = np.round(x[::3] * 2) / 2   # ties: z = 0 exactly, equal thresholds
    x[1::4] -= 100                       # counts 0 beside active rows
    grad_output = rng.choice([1.0, -2.5, 0.0], size=12)
    for indicator in (False, True):
        if indicator:
            flags = np.zeros(x.shape, dtype=np.uint8)
            for n, row in enumerate(target):
                flags[n, row[row >= 0]] = 1
            target = flags
        expected = _assert_ranks_give_popcount_bits(module, x, target, indicator, grad_output,
                                                    threads=(1, 2))
        for a, b in zip(expected, _run(BASELINE, x, target, indicator, grad_output, 1, 1)):
            _assert_same_bits(a, b)


@pytest.mark.parametrize("build", RANK_BUILDS)
@pytest.mark.parametrize("n_labels", [16, 26, 31])
def test_rank_search_on_adjacent_thresholds(build, n_labels):
    # Thresholds one float32 spacing apart, equal ones, zeros (a label score
    # equal to the margin: threshold -0) and scores on and between them: the
    # threshold sort places equal entries by index and compares each one
    # against the float just below the others (t_i >= t_j as t_i >
    # lcr_down(t_j)); the counts and columns are the compares'.
    module = _kernels.load_multilabel(build)
    rng = np.random.default_rng(n_labels)
    n_classes = 200
    base = np.float32(1.0)
    steps = np.arange(-6, 7)
    near = base + steps.astype(np.float32) * np.spacing(base)     # 1 and its neighbours
    x = np.empty((16, n_classes), dtype=np.float32)
    target = np.full((16, n_classes), -1, dtype=np.int64)
    for n in range(16):
        x[n] = rng.choice(np.concatenate([near, near - 1, [0.0, -0.0, 2.0, -1.0]]),
                          n_classes).astype(np.float32)
        target[n, :n_labels] = rng.choice(n_classes, n_labels, replace=n % 2 == 0)
    _assert_ranks_give_popcount_bits(module, x, target, False, np.ones(16))


@pytest.mark.parametrize("build", RANK_BUILDS)
@pytest.mark.parametrize("n_classes", [32, 80, 1000])
def test_rank_search_on_both_sides_of_the_counting_guard(build, n_classes):
    # 20-label rows whose terms cancel a step more or less than the guard
    # allows (plain sum kept, or summed again with compensation: that pass
    # takes the rank search too), beside ordinary rows: the rank search's
    # bits are the popcounts' and the baseline's.
    module = _kernels.load_multilabel(build)
    rng = np.random.default_rng(n_classes)
    with _ranks_on(module, True):
        rows = _guard_rows(module, n_classes, 20)
    x = np.concatenate([rows, rng.normal(size=(20, n_classes)).astype(np.float32)])
    target = np.full(x.shape, -1, dtype=np.int64)
    target[:len(rows), :20] = np.arange(20)
    target[len(rows):, :20] = rng.integers(0, n_classes, (20, 20))
    grad_output = rng.choice([1.0, -2.5, 0.0], size=len(x))
    expected = _assert_ranks_give_popcount_bits(module, x, target, False, grad_output,
                                                threads=(1, 2))
    _assert_same_bits(expected[0], expected[1])
    for a, b in zip(expected, _run(BASELINE, x, target, False, grad_output, 1, 1)):
        _assert_same_bits(a, b)


@pytest.mark.parametrize("build", RANK_BUILDS)
@pytest.mark.parametrize("n_classes", [255 * 32 - 1, 255 * 32 + 17, 2 * 255 * 32 + 40])
def test_rank_columns_flush_their_byte_lanes(build, n_classes):
    # The columns from the ranks count in byte lanes, 32 classes a step, added
    # up every 255 steps: rows of about 255 and 510 steps with every class
    # above every threshold (each lane fills up).
    module = _kernels.load_multilabel(build)
    rng = np.random.default_rng(n_classes)
    x = rng.normal(size=(2, n_classes)).astype(np.float32) + 10
    target = np.full((2, n_classes), -1, dtype=np.int64)
    k = 20
    for n in range(2):
        target[n, :k] = rng.choice(n_classes, k, replace=False)
        x[n, target[n, :k]] = -20.0
    x[1, target[1, 3]] = rng.normal()   # one label with a real column
    expected = _assert_ranks_give_popcount_bits(module, x, target, False, np.ones(2))
    # label 0 of row 0 is below every other class: its column is every class in D
    assert np.rint(-np.float64(expected[2][0, target[0, 0]]) * n_classes) == n_classes - k
