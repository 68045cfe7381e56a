"""Threads inside a call: results do not depend on ``n_threads``, and the kernels let go.

Every result must be bitwise the same for any ``n_threads`` (and under a
``threadpoolctl`` limit), on problems large enough for the kernels to start an
OpenMP team; absurd thread counts are clipped, not fatal; the kernels release
the GIL.  Many Python threads calling at once: ``test_concurrency.py``.
"""

import numpy as np
import pytest
from _helpers import (
    ALL_LOSSES,
    FLOAT_DTYPES,
    REDUCTIONS,
    SERIAL_BELOW,
    assert_bitwise,
    effective_n_threads,
    make_label_target,
    make_scores,
    make_weight,
    max_threads,
    mlm_target,
    mm_target,
)
from _reference import assert_identical, check_multi_margin, check_multilabel_margin

import marginloss
from marginloss import (
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
    openmp_enabled,
)

SEED = 20240601
THREADS = [1, 2, 3, 8, -1, None]
BIG_SHAPES = [(4000, 50), (300, 200)]


@pytest.fixture(scope="module")
def big_problems():
    rng = np.random.default_rng(SEED + 1)
    problems = {}
    for shape in BIG_SHAPES:
        assert shape[0] * shape[1] >= SERIAL_BELOW  # so the kernels really run threaded
        x = rng.standard_normal(shape)
        x[17, 3] = np.nan
        problems[shape] = (x, mm_target(rng, *shape), mlm_target(rng, *shape, max_labels=8),
                           rng.standard_normal(shape[0]), rng.uniform(0, 2, shape[1]))
    return problems


def test_openmp_enabled_is_bool():
    assert isinstance(openmp_enabled(), bool)
    assert isinstance(marginloss.openmp_enabled(), bool)


@pytest.mark.parametrize("shape", BIG_SHAPES, ids=["4000x50", "300x200"])
@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_deterministic_over_n_threads(big_problems, shape, loss_cls, dtype):
    x, y, t, go, w = big_problems[shape]
    x = x.astype(dtype)
    target = y if loss_cls.class_target else t
    kwargs = dict(p=2, weight=w) if loss_cls.class_target else {}

    def run(n_threads):
        results = []
        for reduction in REDUCTIONS:
            g = go if reduction == "none" else 1.3
            kw = dict(kwargs, reduction=reduction, n_threads=n_threads)
            results.append(loss_cls.loss(x, target, **kw))
            results.extend(loss_cls.loss_and_grad(x, target, grad_output=g, **kw))
        return results

    expected = run(1)
    assert np.isnan(expected[0][17])  # the NaN row is there
    for n_threads in THREADS[1:]:
        for a, e in zip(run(n_threads), expected):
            assert_bitwise(a, e)

    import threadpoolctl
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        if openmp_enabled():
            assert max_threads() == 1  # the limit reaches the kernels' runtime
        for a, e in zip(run(None), expected):
            assert_bitwise(a, e)


def test_multithreading_is_really_used():
    # Guard for the test above: with OpenMP, these problems are split over threads.
    if not openmp_enabled():
        pytest.skip("built without OpenMP: every call is serial")
    for n_samples, n_classes in BIG_SHAPES:
        assert effective_n_threads(2, n_samples, n_samples * n_classes) == 2
        assert effective_n_threads(8, n_samples, n_samples * n_classes) == 8


@pytest.mark.parametrize("loss_name", ["multi_margin", "multilabel_margin"])
def test_results_do_not_depend_on_n_threads(loss_name, rng):
    shape = (256, 200)  # large enough for the kernels to start a thread team
    x = make_scores(rng, shape, np.float32)
    if loss_name == "multi_margin":
        y = rng.integers(0, shape[1], shape[0])
        w = make_weight(rng, shape[1], np.float32, "mixed")

        def run(reduction, go, n_threads):
            return multi_margin_loss_and_grad(x, y, 2, 0.9, w, reduction, grad_output=go,
                                              n_threads=n_threads)
    else:
        y = make_label_target(rng, shape, shape, ["padded", "padded_dups", "empty"])

        def run(reduction, go, n_threads):
            return multilabel_margin_loss_and_grad(x, y, reduction, grad_output=go,
                                                   n_threads=n_threads)
    for reduction in REDUCTIONS:
        go = rng.standard_normal(shape[0]) if reduction == "none" else 1.0
        serial = run(reduction, go, 1)
        for n_threads in (2, 3, -1, None):
            threaded = run(reduction, go, n_threads)
            assert_identical(threaded[0], serial[0], f"loss, n_threads={n_threads}")
            assert_identical(threaded[1], serial[1], f"gradient, n_threads={n_threads}")
        if loss_name == "multi_margin":
            check_multi_margin(x, y, p=2, margin=0.9, weight=w, reduction=reduction,
                               grad_output=go, n_threads=2, check_api=False)
        else:
            check_multilabel_margin(x, y, reduction=reduction, grad_output=go, n_threads=2,
                                    check_api=False)


def test_crammer_singer_threads_do_not_change_a_bit():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40000, 10)).astype(np.float32)
    y = rng.integers(0, 10, 40000)
    a = multi_margin_loss_and_grad(x, y, reduction="none", n_threads=1, multi_class="crammer_singer")
    b = multi_margin_loss_and_grad(x, y, reduction="none", n_threads=2, multi_class="crammer_singer")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# ================================================================== threads: limits and the GIL


@pytest.mark.parametrize("n_threads", [10**6, 2**40], ids=["1e6", "2^40"])
def test_absurd_thread_counts_are_clipped_not_fatal(rng, n_threads):
    # OpenMP aborts the process when it cannot create the threads asked for.
    x = rng.standard_normal((4000, 50))
    y = rng.integers(0, 50, 4000)
    assert_bitwise(multi_margin_loss(x, y, n_threads=n_threads),
                   multi_margin_loss(x, y, n_threads=1))
    t = np.where(rng.random((4000, 50)) < 0.1, rng.integers(0, 50, (4000, 50)), -1)
    assert_bitwise(multilabel_margin_loss_grad(x, t, n_threads=n_threads),
                   multilabel_margin_loss_grad(x, t, n_threads=1))


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
def test_kernels_release_the_gil(rng, loss_cls):
    # While one thread runs a long kernel, another Python thread must keep running:
    # with the GIL held it could not count at all until the call returned.
    import threading

    x = rng.standard_normal((20000, 200))
    target = (rng.integers(0, 200, 20000) if loss_cls.class_target
              else np.where(rng.random((20000, 200)) < 0.05, rng.integers(0, 200, (20000, 200)), -1))
    started, done = threading.Event(), threading.Event()
    counts = []

    def count_while_running():
        started.wait()
        n = 0
        while not done.is_set():
            n += 1
        counts.append(n)

    counter = threading.Thread(target=count_while_running)
    counter.start()
    interval = __import__("sys").getswitchinterval()
    try:
        __import__("sys").setswitchinterval(1e-6)
        started.set()
        for _ in range(3):
            loss_cls.loss_and_grad(x, target, n_threads=1)
        done.set()
    finally:
        __import__("sys").setswitchinterval(interval)
        done.set()
        counter.join()
    assert counts[0] > 10_000
