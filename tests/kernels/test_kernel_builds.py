"""The two builds of the multi-class kernels give the same bits.

``marginloss._multi_margin`` (x86-64 baseline) and ``_multi_margin_avx2`` (the
same source with ``-mavx2``) must agree bit for bit on every input (but for the
sign of a NaN): the AVX2
build only widens the vector registers, it may not reorder or fuse any
floating-point operation.  ``marginloss._kernels`` picks one at import.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from marginloss import _kernels, _multi_margin

try:
    from marginloss import _multi_margin_avx2
except ImportError:  # the compiler could not target AVX2
    _multi_margin_avx2 = None

needs_avx2 = pytest.mark.skipif(
    _multi_margin_avx2 is None or not _kernels._cpu_has_avx2(),
    reason="the AVX2 build is not built, or this CPU has no AVX2",
)

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


@needs_avx2
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n_classes", [1, 2, 5, 10, 15, 16, 17, 31, 33, 100, 257, 1000])
@pytest.mark.parametrize("specials", [False, True], ids=["finite", "specials"])
def test_avx2_build_gives_the_baseline_bits(dtype, n_classes, specials):
    rng = np.random.default_rng(n_classes * 7 + specials)
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
                    avx2 = _run_both(_multi_margin_avx2, x, y, weight, margin, p, scale,
                                     grad_output, stride, n_threads)
                    for a, b in zip(base, avx2):
                        _assert_same_bits(a, b)


@needs_avx2
def test_the_avx2_build_is_chosen_on_an_avx2_cpu():
    assert _kernels.kernel_build() == "avx2"
    assert _kernels.multi_margin is _multi_margin_avx2


def test_marginloss_kernels_baseline_forces_the_baseline_build():
    code = ("import marginloss._kernels as k, marginloss._losses as f; "
            "print(k.kernel_build(), f._multi_margin.__name__)")
    env = dict(os.environ, MARGINLOSS_KERNELS="baseline")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.split() == ["baseline", "marginloss._multi_margin"]
