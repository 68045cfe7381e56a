"""No leak: thousands of calls, successful and failing, leave memory where it was.

Every entry point of both losses is called over and over (functions and
loss objects, with and without ``out=``, both dtypes, weights, sample
weights, index and indicator targets), together with calls that raise on bad
input (a target out of range, a wrong shape, a wrong dtype, ...).  After a
warm-up that fills NumPy's and Python's caches:

- ``tracemalloc`` (every Python object and every NumPy buffer) must not grow
  by more than TRACED_SLACK over 14000 calls: a leak of one list slot
  (8 bytes) per call would show as 72 kB or more, a leaked float as 300 kB,
  a leaked array as megabytes;
- the resident size (``/proc/self/statm``, which also sees memory that the
  kernels or the C runtime take without telling Python) must stay within
  RES_SLACK of where it was; it is checked after every round, so a leak
  fails fast instead of filling the machine.
"""

import gc
import os
import tracemalloc
import warnings

import numpy as np
import pytest

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


def _raises(exception, call, name):
    def run():
        try:
            call()
        except exception:
            return
        raise AssertionError(f"{name}: expected {exception.__name__}")
    return run


def _calls(n_samples, n_classes, n_threads, seed=0):
    """Callables covering every entry point, and failing calls that must raise.

    With n_samples * n_classes below marginloss._threads.SERIAL_BELOW the
    kernels run on one thread whatever n_threads says.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_samples)
    weight = rng.uniform(0.5, 1.5, n_classes)
    sample_weight = rng.uniform(0.0, 2.0, n_samples)
    grad_output = rng.normal(size=n_samples)
    t = np.full((n_samples, n_classes), -1)
    t[:, :5] = np.argsort(rng.random((n_samples, n_classes)), axis=1)[:, :5]
    t[::3, 1:] = -1  # one label: the direct loop
    indicator = np.zeros((n_samples, n_classes), dtype=bool)
    np.put_along_axis(indicator, np.maximum(t, 0), t >= 0, axis=1)
    calls = []
    for dtype in (np.float32, np.float64):
        x = rng.normal(scale=0.5, size=(n_samples, n_classes)).astype(dtype)
        out = np.empty_like(x)
        multi = MultiMarginLoss(p=2, weight=weight, n_threads=n_threads)
        multilabel = MultiLabelMarginLoss(reduction="sum", target_format="indicator",
                                          n_threads=n_threads)
        calls += [
            lambda x=x: multi_margin_loss(x, y, n_threads=n_threads),
            lambda x=x: multi_margin_loss(x, y, reduction="none", multi_class="crammer_singer",
                                          n_threads=n_threads),
            lambda x=x: multi_margin_loss_grad(x, y, p=2, weight=weight, n_threads=n_threads),
            lambda x=x, out=out: multi_margin_loss_grad(x, y, sample_weight=sample_weight,
                                                         out=out, n_threads=n_threads),
            lambda x=x: multi_margin_loss_and_grad(x, y, reduction="none",
                                                   grad_output=grad_output, n_threads=n_threads),
            lambda x=x, out=out: multi_margin_loss_and_grad(x, y, out=out, n_threads=n_threads),
            lambda x=x, m=multi: m(x, y),
            lambda x=x, m=multi, out=out: m.loss_and_gradient(x, y, out=out,
                                                              sample_weight=sample_weight),
            lambda x=x: multilabel_margin_loss(x, t, n_threads=n_threads),
            lambda x=x: multilabel_margin_loss(x, indicator, reduction="none",
                                               target_format="indicator", margin=0.5,
                                               n_threads=n_threads),
            lambda x=x: multilabel_margin_loss_grad(x, t, sample_weight=sample_weight,
                                                    n_threads=n_threads),
            lambda x=x, out=out: multilabel_margin_loss_grad(x, t, out=out, n_threads=n_threads),
            lambda x=x: multilabel_margin_loss_and_grad(x, t, reduction="none",
                                                        grad_output=grad_output,
                                                        n_threads=n_threads),
            lambda x=x, m=multilabel, out=out: m.loss_and_gradient(x, indicator, out=out),
            lambda x=x, m=multilabel: m.gradient(x, indicator, sample_weight=sample_weight),
        ]
    x = rng.normal(size=(n_samples, n_classes))
    bad_y = y.copy()
    bad_y[-1] = n_classes
    bad_t = t.copy()
    bad_t[-1, 0] = n_classes
    bad_indicator = indicator.astype(np.int64)
    bad_indicator[-1, -1] = 2
    failing = {
        "target out of range": (ValueError, lambda: multi_margin_loss(x, bad_y)),
        "target of the wrong shape": (ValueError, lambda: multi_margin_loss_grad(x, y[:-1])),
        "float target": (TypeError, lambda: multi_margin_loss(x, y.astype(float))),
        "complex input": (TypeError, lambda: multi_margin_loss_and_grad(x.astype(complex), y)),
        "masked input": (TypeError, lambda: multi_margin_loss(np.ma.masked_less(x, 0), y)),
        "out of the wrong dtype": (
            TypeError, lambda: multi_margin_loss_grad(x, y, out=np.empty(x.shape, np.float32))),
        "Fortran out": (
            ValueError, lambda: multi_margin_loss_and_grad(x, y, out=np.empty_like(x, order="F"))),
        "p=3": (ValueError, lambda: multi_margin_loss(x, y, p=3)),
        "unknown reduction": (ValueError, lambda: multi_margin_loss(x, y, reduction="avg")),
        "weight of the wrong length": (
            ValueError, lambda: multi_margin_loss_grad(x, y, weight=np.ones(n_classes + 1))),
        "n_threads=0": (ValueError, lambda: multi_margin_loss(x, y, n_threads=0)),
        "MultiMarginLoss(p=3)": (ValueError, lambda: MultiMarginLoss(p=3)),
        "label out of range": (ValueError, lambda: multilabel_margin_loss(x, bad_t)),
        "indicator entry 2": (
            ValueError, lambda: multilabel_margin_loss_grad(x, bad_indicator,
                                                            target_format="indicator")),
        "negative sample weight": (
            ValueError, lambda: multilabel_margin_loss_and_grad(x, t,
                                                                sample_weight=-sample_weight)),
        "grad_output of the wrong shape": (
            ValueError, lambda: multilabel_margin_loss_grad(x, t, reduction="none",
                                                            grad_output=grad_output[:-1])),
        "multi-label target of the wrong shape": (
            ValueError, lambda: MultiLabelMarginLoss()(x, t[:, :-1])),
    }
    calls += [_raises(exception, call, name) for name, (exception, call) in failing.items()]
    return calls


def _run(calls, n_rounds):
    for _ in range(n_rounds):
        for call in calls:
            call()


def _top_growth(before, after):
    stats = after.compare_to(before, "lineno")
    return "\n".join(str(stat) for stat in stats[:8])


# Python objects: tracemalloc.
TRACED_ROUNDS = 300  # x 47 calls: 14100 calls
# Measured after the warm-up: 0 to 9 kB per 7050 calls, shrinking from batch
# to batch (dicts and caches in NumPy and Python settling), never a steady
# rate.  A leaked list slot per successful call (9000 of them) adds 72 kB.
TRACED_SLACK = 32 * 1024


def test_python_allocations_stay_flat():
    # Small: the Python layer's share of each call is largest (and one thread).
    calls = _calls(64, 32, n_threads=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be recorded: none must occur
        _run(calls, 20)
        tracemalloc.start()
        try:
            _run(calls, 40)  # warm up tracemalloc's view too
            gc.collect()
            before = tracemalloc.take_snapshot()
            start = tracemalloc.get_traced_memory()[0]
            _run(calls, TRACED_ROUNDS)
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - start
            if growth > TRACED_SLACK:
                after = tracemalloc.take_snapshot()
                pytest.fail(f"traced memory grew by {growth} bytes over "
                            f"{TRACED_ROUNDS * len(calls)} calls:\n{_top_growth(before, after)}")
        finally:
            tracemalloc.stop()


def test_no_per_class_array_without_weight():
    # Without a weight the kernels read a stride-0 view of a single 1.0: a loss
    # call on float32 scores allocates nothing of size C, and keeps nothing (a
    # cached np.ones(C) per distinct C once kept 800 MB after a call with 10**8
    # classes).
    for multi_class in ("weston_watkins", "crammer_singer"):  # first calls set up NumPy
        multi_margin_loss(np.zeros((1, 3), dtype=np.float32), [0], multi_class=multi_class)
    tracemalloc.start()
    try:
        for n_classes in (1_000_000, 1_000_001, 1_000_002):
            x = np.zeros((1, n_classes), dtype=np.float32)
            gc.collect()
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for multi_class in ("weston_watkins", "crammer_singer"):
                assert multi_margin_loss(x, [n_classes - 1], multi_class=multi_class) == (
                    np.float32(1.0 if multi_class == "crammer_singer"
                               else (n_classes - 1) / n_classes))
            current, peak = tracemalloc.get_traced_memory()
            assert peak - start < 64 * 1024, f"a call allocated {peak - start} bytes"
            assert current - start < 4 * 1024, f"calls kept {current - start} bytes"
            del x
    finally:
        tracemalloc.stop()


# Everything: the resident size.
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
RES_SHAPE = (256, 128)  # 32768 scores: above SERIAL_BELOW
# Rounds of 47 calls on one thread (9400 calls, 6000 of them successful), every
# 50th on two OpenMP threads instead.  Only a few rounds use two threads: with
# other jobs on the 2-core machine a call on two threads took 20 ms instead of
# 0.2 (its second thread waits for a core), so 9400 would take three minutes.
RES_ROUNDS = 200
# Measured: no growth at all after the warm-up.  The allocator may keep freed
# blocks (glibc raises its mmap threshold after freeing a large block, so later
# ones come from a heap it trims lazily), so the slack is 8 MB plus eight times
# the largest array (256 x 128 float64 = 256 kB).  A leaked gradient per call
# passes it within 40 calls, a leaked 4 kB block per successful call after
# 2600 of them.
RES_SLACK = 8 * 2**20 + 8 * 256 * 128 * 8


def _resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc")
def test_resident_size_stays_flat():
    serial_calls = _calls(*RES_SHAPE, n_threads=1)
    parallel_calls = _calls(*RES_SHAPE, n_threads=2)
    _run(serial_calls, 5)
    _run(parallel_calls, 2)
    gc.collect()
    start = _resident_bytes()
    n_calls = 0
    for round_ in range(RES_ROUNDS):
        calls = parallel_calls if round_ % 50 == 0 else serial_calls
        _run(calls, 1)
        n_calls += len(calls)
        growth = _resident_bytes() - start
        assert growth <= RES_SLACK, (
            f"resident size grew by {growth / 2**20:.1f} MB after {n_calls} calls "
            f"(slack {RES_SLACK / 2**20:.0f} MB)")
