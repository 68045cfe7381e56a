"""Many Python threads calling both losses at once get the bits of sequential calls.

Every public entry point of both losses (the functions, the loss objects,
``out=`` buffers owned by each thread), over both dtypes, p = 1 and 2, class
and sample weights, both multi-class forms, and index and indicator targets,
is called once on the main thread; then 8 Python threads make all the same
calls at once, each in its own shuffled order, each call with ``n_threads=2``
inside on an input large enough for the OpenMP path.  The kernels release the
GIL, so several OpenMP teams run at the same time; every result must be
bitwise the sequential one.  A second, smaller test repeats a few settings
four times per thread.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _helpers import (
    SERIAL_BELOW,
    assert_bitwise,
    effective_n_threads,
    mlm_target,
    mm_target,
)

import marginloss
from marginloss import (
    MultiLabelMarginLoss,
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

N_PYTHON_THREADS = 8
ROUNDS = 2
N_THREADS = 2  # OpenMP threads inside each call

# Scores per call: above SERIAL_BELOW, so each call starts an OpenMP team.
MULTI_MARGIN_SHAPE = (512, 64)
MULTILABEL_SHAPE = (256, 96)


def _bits(value):
    """What the comparison sees: type, dtype, shape and bytes, recursively."""
    if isinstance(value, tuple):
        return tuple(_bits(item) for item in value)
    array = np.asarray(value)
    return type(value).__name__, array.dtype.str, array.shape, array.tobytes()


class _Case:
    """One call: ``run(out)`` with ``out`` the thread's own buffer (or None)."""

    def __init__(self, name, run, out_like=None):
        self.name = name
        self.run = run
        self.out_like = out_like

    def new_out(self):
        return None if self.out_like is None else np.full_like(self.out_like, np.nan)

    def call(self, out):
        result = self.run(out)
        if out is not None:
            gradient = result[1] if isinstance(result, tuple) else result
            assert gradient is out, f"{self.name}: out= was not returned"
        return _bits(result)


def _multi_margin_cases(rng):
    cases = []
    n_samples, n_classes = MULTI_MARGIN_SHAPE
    y = rng.integers(0, n_classes, n_samples)
    weight = rng.uniform(0.5, 1.5, n_classes)
    sample_weight = rng.uniform(0.0, 2.0, n_samples)
    for dtype in (np.float32, np.float64):
        x = rng.normal(scale=0.5, size=MULTI_MARGIN_SHAPE).astype(dtype)
        grad_output = rng.normal(size=n_samples)
        for p in (1, 2):
            for multi_class in ("weston_watkins", "crammer_singer"):
                for weighted in (False, True):
                    for reduction in ("none", "mean", "sum"):
                        settings = dict(
                            p=p, reduction=reduction, multi_class=multi_class,
                            weight=weight if weighted else None, n_threads=N_THREADS,
                        )
                        extra = dict(sample_weight=sample_weight if weighted else None)
                        go = grad_output if reduction == "none" else 0.75
                        module = MultiMarginLoss(**settings)
                        name = (f"multi_margin {np.dtype(dtype).name} p={p} {multi_class} "
                                f"weighted={weighted} {reduction}")
                        cases += [
                            _Case(f"{name} loss", lambda out, x=x, s=settings, e=extra:
                                  multi_margin_loss(x, y, **s, **e)),
                            _Case(f"{name} grad", lambda out, x=x, s=settings, e=extra, go=go:
                                  multi_margin_loss_grad(x, y, **s, **e, grad_output=go)),
                            _Case(f"{name} loss_and_grad",
                                  lambda out, x=x, s=settings, e=extra, go=go:
                                  multi_margin_loss_and_grad(x, y, **s, **e, grad_output=go)),
                            _Case(f"{name} grad out=",
                                  lambda out, x=x, s=settings, e=extra, go=go:
                                  multi_margin_loss_grad(x, y, **s, **e, grad_output=go,
                                                         out=out), out_like=x),
                            _Case(f"{name} loss_and_grad out=",
                                  lambda out, x=x, s=settings, e=extra, go=go:
                                  multi_margin_loss_and_grad(x, y, **s, **e, grad_output=go,
                                                             out=out), out_like=x),
                            _Case(f"{name} module()", lambda out, x=x, m=module, e=extra:
                                  m(x, y, **e)),
                            _Case(f"{name} module.loss_and_gradient out=",
                                  lambda out, x=x, m=module, e=extra, go=go:
                                  m.loss_and_gradient(x, y, go, out=out, **e), out_like=x),
                        ]
    return cases


def _multilabel_cases(rng):
    cases = []
    n_samples, n_classes = MULTILABEL_SHAPE
    # 0 to 24 distinct labels per row, so both the direct loop (k <= 2) and the
    # sorted path run; the indicator target marks the same labels.
    indices = np.full(MULTILABEL_SHAPE, -1, dtype=np.int64)
    indicator = np.zeros(MULTILABEL_SHAPE, dtype=bool)
    for n in range(n_samples):
        labels = rng.permutation(n_classes)[:rng.integers(0, 25)]
        indices[n, :labels.size] = labels
        indicator[n, labels] = True
    targets = {
        "indices int64": (indices, "indices"),
        "indices int32": (indices.astype(np.int32), "indices"),
        "indicator bool": (indicator, "indicator"),
    }
    sample_weight = rng.uniform(0.0, 2.0, n_samples)
    for dtype in (np.float32, np.float64):
        x = rng.normal(scale=0.5, size=MULTILABEL_SHAPE).astype(dtype)
        grad_output = rng.normal(size=n_samples)
        for target_name, (t, target_format) in targets.items():
            for weighted in (False, True):
                for reduction in ("none", "mean", "sum"):
                    settings = dict(reduction=reduction, target_format=target_format,
                                    margin=1.0 if reduction != "sum" else 0.5,
                                    n_threads=N_THREADS)
                    extra = dict(sample_weight=sample_weight if weighted else None)
                    go = grad_output if reduction == "none" else 0.75
                    module = MultiLabelMarginLoss(**settings)
                    name = (f"multilabel {np.dtype(dtype).name} {target_name} "
                            f"weighted={weighted} {reduction}")
                    cases += [
                        _Case(f"{name} loss", lambda out, x=x, t=t, s=settings, e=extra:
                              multilabel_margin_loss(x, t, **s, **e)),
                        _Case(f"{name} grad", lambda out, x=x, t=t, s=settings, e=extra, go=go:
                              multilabel_margin_loss_grad(x, t, **s, **e, grad_output=go)),
                        _Case(f"{name} loss_and_grad out=",
                              lambda out, x=x, t=t, s=settings, e=extra, go=go:
                              multilabel_margin_loss_and_grad(x, t, **s, **e, grad_output=go,
                                                              out=out), out_like=x),
                        _Case(f"{name} module.gradient out=",
                              lambda out, x=x, t=t, m=module, e=extra, go=go:
                              m.gradient(x, t, go, out=out, **e), out_like=x),
                        _Case(f"{name} module.loss_and_gradient",
                              lambda out, x=x, t=t, m=module, e=extra, go=go:
                              m.loss_and_gradient(x, t, go, **e)),
                    ]
    return cases


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(20261126)
    return _multi_margin_cases(rng) + _multilabel_cases(rng)


def test_inputs_take_the_parallel_path():
    for n_samples, n_classes in (MULTI_MARGIN_SHAPE, MULTILABEL_SHAPE):
        assert n_samples * n_classes >= SERIAL_BELOW
        if marginloss.openmp_enabled():
            assert effective_n_threads(N_THREADS, n_samples, n_samples * n_classes) == N_THREADS


def test_threads_calling_at_once_match_sequential_calls(cases):
    expected = [case.call(case.new_out()) for case in cases]
    # The problems have active terms: no loss is all zeros.
    for case, bits in zip(cases, expected):
        if case.name.endswith(" loss"):
            assert np.frombuffer(bits[3], dtype=bits[1]).any(), case.name
    barrier = threading.Barrier(N_PYTHON_THREADS)

    def worker(seed):
        order = list(range(len(cases))) * ROUNDS
        random.Random(seed).shuffle(order)
        out = {i: cases[i].new_out() for i in set(order)}  # this thread's own buffers
        barrier.wait()  # start together, so that the calls overlap
        mismatches = []
        for i in order:
            if cases[i].call(out[i]) != expected[i]:
                mismatches.append(cases[i].name)
        return mismatches

    with ThreadPoolExecutor(max_workers=N_PYTHON_THREADS) as pool:
        results = list(pool.map(worker, range(N_PYTHON_THREADS)))
    mismatches = sorted({name for per_thread in results for name in per_thread})
    assert not mismatches, (
        f"{len(mismatches)} calls differ from sequential calls: {mismatches[:10]}")


def test_threads_calling_a_few_settings_get_the_sequential_bits():
    # Eight Python threads, each in its own order, four times each call.
    rng = np.random.default_rng(20240603)
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

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(8)))
    for per_thread in results:
        for k, result in per_thread:
            for a, e in zip(result, expected[k]):
                assert_bitwise(a, e)
