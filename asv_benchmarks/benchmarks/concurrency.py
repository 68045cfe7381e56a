"""The kernels release the GIL: two Python threads finish in about the time of one.

Each kernel runs its loops inside ``nogil`` sections (``prange(...,
nogil=True)``, also on one thread), so Python threads calling marginloss at
the same time run on separate cores.  With ``n_threads=1`` inside every call:

- ``time_one_thread_two_calls``: one Python thread makes two calls, one after
  the other;
- ``time_two_threads_one_call_each``: two Python threads (a pool started in
  setup) make one call each, at the same time;
- ``track_two_threads_time_ratio``: the best time of the second divided by the
  best of the first, measured in the same process.  About 0.5 on two free
  cores; 1.0 would mean the calls hold the GIL (or that the machine has one
  free core).  Lower is better, as asv assumes.

``call`` is the fused loss+gradient of the profile's largest multi-class
problem (``multi_margin``), of its largest multi-label problem
(``multilabel``), or one of each (``mixed``: the two threads run different
losses, the single thread runs both), each writing into its own ``out=``
buffer.

The time ratio needs two free cores.  ``GILWait`` does not: while one Python
thread makes the call, the main thread sleeps 1 ms at a time, and
``track_longest_wait_ms`` is the longest it took to wake up (waking needs the
GIL).  A few ms when the call releases the GIL, however busy the machine;
the length of the whole call if it held it.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import marginloss

from . import common
from .common import Benchmark

CALLS = ["multi_margin", "multilabel", "mixed"]


def _largest(problems):
    return max(problems, key=lambda name: common.parse_problem(name)[0]
               * common.parse_problem(name)[1])


MULTI_MARGIN_PROBLEM = _largest(common.MULTI_MARGIN_PROBLEMS)
MULTILABEL_PROBLEM = _largest(common.MULTILABEL_PROBLEMS)


def _multi_margin_call(dtype):
    n_samples, n_classes = common.parse_problem(MULTI_MARGIN_PROBLEM)
    x = common.scores(n_samples, n_classes, dtype)
    y = common.class_targets(n_samples, n_classes)
    out = common.faulted_like(x)
    return lambda: marginloss.multi_margin_loss_and_grad(x, y, out=out, n_threads=1)


def _multilabel_call(dtype):
    n_samples, n_classes, n_labels = common.parse_problem(MULTILABEL_PROBLEM)
    x = common.scores(n_samples, n_classes, dtype)
    t = common.label_targets(n_samples, n_classes, n_labels)
    out = common.faulted_like(x)
    return lambda: marginloss.multilabel_margin_loss_and_grad(x, t, out=out, n_threads=1)


class GILRelease(Benchmark):
    param_names = ["call", "dtype"]
    params = [CALLS, common.DTYPES]
    # Each track_ value is several timed runs of both ways.
    timeout = max(getattr(Benchmark, "timeout", 60), 300)

    def setup(self, call, dtype):
        common.require_keywords(marginloss.multi_margin_loss_and_grad, "n_threads", "out")
        # Two calls with separate data and out= buffers, one per Python thread.
        if call == "multi_margin":
            self.calls = [_multi_margin_call(dtype), _multi_margin_call(dtype)]
        elif call == "multilabel":
            self.calls = [_multilabel_call(dtype), _multilabel_call(dtype)]
        else:
            self.calls = [_multi_margin_call(dtype), _multilabel_call(dtype)]
        self.pool = ThreadPoolExecutor(max_workers=2)
        self._two_threads()  # starts the pool's threads

    def teardown(self, call, dtype):
        self.pool.shutdown()

    def _one_thread(self):
        for call in self.calls:
            call()

    def _two_threads(self):
        for future in [self.pool.submit(call) for call in self.calls]:
            future.result()

    def time_one_thread_two_calls(self, *params):
        self._one_thread()

    def time_two_threads_one_call_each(self, *params):
        self._two_threads()

    def track_two_threads_time_ratio(self, *params):
        return (common.best_time(self._two_threads, common.RATIO_REPEAT)
                / common.best_time(self._one_thread, common.RATIO_REPEAT))

    track_two_threads_time_ratio.unit = "ratio"


class GILWait(Benchmark):
    param_names = ["call", "dtype"]
    params = [["multi_margin", "multilabel"], common.DTYPES]

    def setup(self, call, dtype):
        common.require_keywords(marginloss.multi_margin_loss_and_grad, "n_threads", "out")
        self.call = (_multi_margin_call if call == "multi_margin" else _multilabel_call)(dtype)
        self.call()

    def track_longest_wait_ms(self, *params):
        """The longest the main thread waited to wake from a 1 ms sleep during
        the call (best of RATIO_REPEAT calls)."""
        best = float("inf")
        for _ in range(common.RATIO_REPEAT):
            done = threading.Event()
            thread = threading.Thread(target=lambda: (self.call(), done.set()))
            last = time.perf_counter()
            longest = 0.0
            thread.start()
            while not done.is_set():
                time.sleep(0.001)
                now = time.perf_counter()
                longest = max(longest, now - last)
                last = now
            thread.join()
            best = min(best, longest)
        return best * 1e3

    track_longest_wait_ms.unit = "ms"
