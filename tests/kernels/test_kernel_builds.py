"""The builds of the multi-class kernels give the same bits.

``marginloss._multi_margin`` (x86-64 baseline), ``_multi_margin_avx2`` and
``_multi_margin_avx512`` (the same source with ``-mavx2`` and with
``-mavx512f -mavx512bw -mavx512dq -mavx512vl``) must agree bit for bit on
every input (but for the sign of a NaN): the wider builds take rows 8 or 16
at a time (float32 rows of up to 31 classes, float64 rows of fewer than 16)
and widen the vector registers, they may not reorder or fuse any
floating-point operation.  ``marginloss._kernels``
picks one at import.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from marginloss import _kernels, _multi_margin

_multi_margin_avx2 = _kernels.load("avx2")  # None: the compiler could not target AVX2
_multi_margin_avx512 = _kernels.load("avx512")

needs_avx2 = pytest.mark.skipif(
    _multi_margin_avx2 is None or not _kernels.cpu_supports("avx2"),
    reason="the AVX2 build is not built, or this CPU has no AVX2",
)
needs_avx512 = pytest.mark.skipif(
    _multi_margin_avx512 is None or not _kernels.cpu_supports("avx512"),
    reason="the AVX-512 build is not built, or this CPU has no AVX-512",
)
WIDE_BUILDS = [
    pytest.param("avx2", marks=needs_avx2),
    pytest.param("avx512", marks=needs_avx512),
]

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-40, 3e38, -3e38])


def _scores(rng, n_samples, n_classes, dtype, specials):
    x = rng.normal(scale=1.5, size=(n_samples, n_classes))
    if specials:
        mask = rng.random(x.shape) < 0.05
        x[mask] = rng.choice(SPECIALS, size=mask.sum())
    return np.ascontiguousarray(x.astype(dtype))


def _run_both(module, x, y, weight, margin, p, scale, grad_output, stride, n_threads):
    n_samples = x.shape[0]
    loss_forward = np.empty(n_samples)
    module.loss(x, y, weight, margin, p, loss_forward, n_threads)
    loss_fused = np.empty(n_samples)
    gradient = np.empty_like(x)
    module.loss_gradient(x, y, weight, margin, p, scale, grad_output, stride, loss_fused,
                         gradient, n_threads)
    return loss_forward, loss_fused, gradient


def _assert_same_bits(a, b):
    """Bitwise equal, signed zeros included; a NaN matches any NaN (the sign
    and payload of a NaN depend on which instruction made it and carry no
    meaning)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan].view(np.uint8), b[~nan].view(np.uint8))


@pytest.mark.parametrize("build", WIDE_BUILDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
# row blocks: C < 16 (the target picked from the columns), 16 <= C <= 31 (as
# the class blocks), gradient[y] by a select below 16 classes and a scatter
# from 16; class blocks from 32 (float32 in the AVX-512 build: each class
# block one vector, the last one overlapping)
@pytest.mark.parametrize("n_classes", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 17, 20, 24, 30, 31,
                                       32, 33, 47, 48, 49, 50, 63, 64, 65, 100, 257, 1000])
@pytest.mark.parametrize("specials", [False, True], ids=["finite", "specials"])
def test_wide_builds_give_the_baseline_bits(build, dtype, n_classes, specials):
    wide = _kernels.load(build)
    rng = np.random.default_rng(n_classes * 7 + specials)
    # 16-row blocks and a tail of 12 rows (and of 4 after 8-row blocks)
    n_samples = 300
    x = _scores(rng, n_samples, n_classes, dtype, specials)
    y = rng.integers(0, n_classes, n_samples).astype(np.int64)
    for p in (1, 2):
        for weight in (np.ones(n_classes), rng.uniform(-2.0, 3.0, n_classes)):
            for margin in (1.0, 0.0, -0.0, 2.5):
                grad_output = rng.normal(size=n_samples)
                grad_output[::17] = -0.0
                for scale, stride, n_threads in ((1.0 / n_classes, 1, 1),
                                                 (0.5, 0, 2)):
                    base = _run_both(_multi_margin, x, y, weight, margin, p, scale,
                                     grad_output, stride, n_threads)
                    other = _run_both(wide, x, y, weight, margin, p, scale,
                                      grad_output, stride, n_threads)
                    for a, b in zip(base, other):
                        _assert_same_bits(a, b)


@pytest.mark.parametrize("build", WIDE_BUILDS)
@pytest.mark.parametrize("n_classes", [1, 3, 7, 8, 10, 16, 20, 31, 32, 64])
def test_a_block_with_a_bad_target_takes_the_row_loop(build, n_classes):
    # The Python layer rejects such targets; the kernels must still not read
    # out of bounds when a caller's thread changes the target mid-call: the
    # row gets NaN, the other rows of its block their usual values.
    wide = _kernels.load(build)
    rng = np.random.default_rng(n_classes)
    n_samples = 70
    x = _scores(rng, n_samples, n_classes, np.float32, False)
    y = rng.integers(0, n_classes, n_samples).astype(np.int64)
    y[[3, 17, 40, 69]] = [-1, n_classes, 2**40, -(2**62)]
    weight = rng.uniform(0.5, 2.0, n_classes)
    grad_output = rng.normal(size=n_samples)
    for p in (1, 2):
        base = _run_both(_multi_margin, x, y, weight, 1.0, p, 0.1, grad_output, 1, 1)
        other = _run_both(wide, x, y, weight, 1.0, p, 0.1, grad_output, 1, 1)
        for a, b in zip(base, other):
            _assert_same_bits(a, b)
        assert np.isnan(other[0][[3, 17, 40, 69]]).all()
        assert np.isnan(other[2][[3, 17, 40, 69]]).all()
        assert not np.isnan(other[2][[2, 4, 16, 18]]).any()


@pytest.mark.parametrize("build", WIDE_BUILDS)
@pytest.mark.parametrize("n_classes", [5, 8, 16, 24, 31, 40])
def test_strided_weight_and_per_sample_grad_output_give_the_baseline_bits(build, n_classes):
    # a weight of stride 2 takes the row loop; grad_output of stride 1 the blocks
    wide = _kernels.load(build)
    rng = np.random.default_rng(n_classes + 1)
    n_samples = 50
    x = _scores(rng, n_samples, n_classes, np.float32, True)
    y = rng.integers(0, n_classes, n_samples).astype(np.int64)
    strided = rng.uniform(-1.0, 2.0, 2 * n_classes)[::2]
    contiguous = np.ascontiguousarray(strided)
    ones = np.lib.stride_tricks.as_strided(np.ones(1), (n_classes,), (0,))
    grad_output = rng.normal(size=n_samples)
    # each parameter the same in every row or not: the row blocks' permutes
    for weight in (strided, contiguous, ones):
        for go, stride in ((grad_output, 1), (grad_output[:1], 0)):
            for p in (1, 2):
                base = _run_both(_multi_margin, x, y, weight, 0.5, p, 0.3, go, stride, 2)
                other = _run_both(wide, x, y, weight, 0.5, p, 0.3, go, stride, 2)
                for a, b in zip(base, other):
                    _assert_same_bits(a, b)


def _best_build():
    for build in ("avx512", "avx2"):
        if _kernels.cpu_supports(build) and _kernels.load(build) is not None:
            return build
    return "baseline"


def test_the_widest_build_the_cpu_runs_is_chosen():
    assert _kernels.kernel_build() == _best_build()
    assert _kernels.multi_margin is _kernels.load(_best_build())


def _build_in_subprocess(value):
    code = ("import marginloss._kernels as k, marginloss._losses as f; "
            "print(k.kernel_build(), f._multi_margin.__name__)")
    env = dict(os.environ, MARGINLOSS_KERNELS=value)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    return result.stdout.split()


def test_marginloss_kernels_baseline_forces_the_baseline_build():
    assert _build_in_subprocess("baseline") == ["baseline", "marginloss._multi_margin"]


@pytest.mark.parametrize("build", WIDE_BUILDS)
def test_marginloss_kernels_forces_a_wide_build(build):
    assert _build_in_subprocess(build.upper()) == [build, f"marginloss._multi_margin_{build}"]


@needs_avx512
def test_marginloss_kernels_avx2_on_an_avx512_cpu_gives_avx2():
    if _multi_margin_avx2 is None:
        pytest.skip("the AVX2 build is not built")
    assert _build_in_subprocess("avx2") == ["avx2", "marginloss._multi_margin_avx2"]


@pytest.mark.parametrize("value", ["avx", "sse2", "avx-512", "native"])
def test_an_unknown_marginloss_kernels_warns_and_chooses_automatically(value):
    # a misspelt value changes only the speed (every build gives the same
    # bits), so it warns instead of stopping the import
    code = ("import warnings; warnings.simplefilter('error'); import marginloss")
    env = dict(os.environ, MARGINLOSS_KERNELS=value)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert (f"RuntimeWarning: MARGINLOSS_KERNELS={value!r} is not a kernel build: "
            "expected one of baseline, avx2, avx512 (or unset); using the widest build "
            "this CPU runs") in result.stderr
    code = ("import warnings; warnings.simplefilter('ignore'); "
            "import marginloss._kernels as k; print(k.kernel_build())")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.split() == [_best_build()]


@pytest.mark.parametrize("value", ["", "  ", " AVX2 "])
def test_an_empty_or_spaced_marginloss_kernels_does_not_warn(value):
    code = ("import warnings; warnings.simplefilter('error'); "
            "import marginloss._kernels as k; print(k.kernel_build())")
    env = dict(os.environ, MARGINLOSS_KERNELS=value)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stderr == ""
    expected = _best_build() if not value.strip() else (
        "avx2" if _kernels.cpu_supports("avx2") and _multi_margin_avx2 is not None
        else "baseline")
    assert result.stdout.split() == [expected]


@pytest.mark.parametrize("build", ["baseline"] + WIDE_BUILDS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_count_outside(build, dtype):
    # The multi-class target's range check: one unsigned compare an entry (an
    # entry below low wraps around), threads over blocks of 2**14 entries and
    # the tail on the calling thread.
    module = _kernels.load(build)
    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    block = 1 << 14
    for n_entries in (0, 1, 7, block - 1, block, block + 1, 2 * block + 7):
        target = rng.integers(0, 10, size=n_entries).astype(dtype)
        for position in {0, block - 1, block, n_entries - 1} & set(range(n_entries)):
            target[position] = (-1, 10, info.min, info.max)[position % 4]
        for low, high in ((0, 10), (-1, 10), (info.min, 0), (-5, 1 << 40), (3, 3)):
            expected = int(((target < low) | (target >= high)).sum())
            for n_threads in (1, 2):
                assert module.count_outside(target, low, high, n_threads) == expected


@pytest.mark.parametrize("build", WIDE_BUILDS)
@pytest.mark.parametrize("n_classes", [2, 4, 10, 16, 17, 31, 32, 50])
@pytest.mark.parametrize("special", [np.inf, -np.inf])
def test_an_infinite_score_stays_in_the_row_block(build, n_classes, special):
    # A block with an infinite score but no NaN term is computed by the row
    # block itself (only a NaN row sends the block to the row loop): an
    # infinite score at the target (z = -inf or +inf elsewhere, NaN only at
    # the target's own masked term) or elsewhere gives the row loop's bits
    # (32 and 50 classes: the class blocks, each one vector in the AVX-512 build).
    wide = _kernels.load(build)
    rng = np.random.default_rng(n_classes)
    n_samples = 64
    x = _scores(rng, n_samples, n_classes, np.float32, False)
    y = rng.integers(0, n_classes, n_samples).astype(np.int64)
    x[np.arange(0, n_samples, 5), y[::5]] = special
    x[3, (y[3] + 1) % n_classes] = special
    x[21, :] = special
    grad_output = rng.normal(size=n_samples)
    for p in (1, 2):
        base = _run_both(_multi_margin, x, y, np.ones(n_classes), 1.0, p, 0.2, grad_output, 1, 1)
        other = _run_both(wide, x, y, np.ones(n_classes), 1.0, p, 0.2, grad_output, 1, 1)
        for a, b in zip(base, other):
            _assert_same_bits(a, b)
