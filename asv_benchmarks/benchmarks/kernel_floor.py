"""The kernels against the memory floor: time of a call / time of a copy.

``track_`` benchmarks: each value is the median over interleaved rounds of
(time of the fused loss+gradient on one thread, ``out=`` a gradient faulted
in once, reduction='mean') / (time of a one-threaded ``np.copyto`` of the
same scores into a faulted-in buffer), both timed in the same process one
after the other.  A copy reads every score once and writes every score once,
the least any fused loss+gradient can do; 1.0 is that floor, lower is
better.  The problems are the few-classes and few-labels cases of the design
note's "Kernels" section, with its targets beside them; ``TorchRatio`` adds
the two-thread speed-ups over PyTorch's forward+backward.

Run as a script for the table in one process::

    python asv_benchmarks/benchmarks/kernel_floor.py [--rounds 15]

(``MARGINLOSS_KERNELS=baseline|avx2|avx512`` picks the kernel build.)
"""

import statistics
import time

import numpy as np

try:
    from . import common
    from .common import Benchmark
except ImportError:  # run as a script
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import common
    from benchmarks.common import Benchmark

# name: (loss, N, C, dtype, options, target ratio to the copy); options are
# p= and weight= for the multi-class loss, k= labels (and indicator=True) for
# the multi-label loss.  The targets are those of the design note.
FLOOR_CASES = {
    "mm 1000000x10 p=1": ("mm", 1_000_000, 10, "float32", {}, 2.0),
    "mm 2000000x4 p=1": ("mm", 2_000_000, 4, "float32", {}, 3.0),
    "mm 400000x16 p=1": ("mm", 400_000, 16, "float32", {}, 2.0),
    "mm 200000x50 p=1": ("mm", 200_000, 50, "float32", {}, 2.0),
    "mm 1000000x10 p=2 weight": ("mm", 1_000_000, 10, "float32", {"p": 2, "weight": True},
                                 2.5),
    "mm 1000000x10 p=1 float64": ("mm", 1_000_000, 10, "float64", {}, 2.0),
    "ml 4096x1000 k=5": ("ml", 4096, 1000, "float32", {"k": 5}, 3.0),
    "ml 8192x80 k=3": ("ml", 8192, 80, "float32", {"k": 3}, 3.5),
    "ml 4096x1000 k=20": ("ml", 4096, 1000, "float32", {"k": 20}, 3.5),
    "ml 1024x4000 k=50": ("ml", 1024, 4000, "float32", {"k": 50}, 5.0),
    "ml 1024x4000 k=200": ("ml", 1024, 4000, "float32", {"k": 200}, 10.0),
    "ml 4096x1000 k=5 indicator": ("ml", 4096, 1000, "float32",
                                   {"k": 5, "indicator": True}, 2.0),
}

# name: (loss, N, C, k, target speed-up over PyTorch) on two threads, float32.
TORCH_CASES = {
    "mm 1000000x10": ("mm", 1_000_000, 10, None, 25.0),
    "ml 16384x100 k=25": ("ml", 16384, 100, 25, 30.0),
}

ROUNDS = 7


def make_call(loss, n_samples, n_classes, dtype, options, n_threads):
    """A no-argument call of the fused loss+gradient with ``out=``, and its scores."""
    import marginloss

    x = common.scores(n_samples, n_classes, dtype)
    out = common.faulted_like(x)
    if loss == "mm":
        target = common.class_targets(n_samples, n_classes)
        weight = (common.class_weight(n_classes, "random") if options.get("weight")
                  else None)
        p = options.get("p", 1)

        def call():
            marginloss.multi_margin_loss_and_grad(x, target, p=p, weight=weight, out=out,
                                                  n_threads=n_threads)
    else:
        target = common.label_targets(n_samples, n_classes, options["k"])
        target_format = "indices"
        if options.get("indicator"):
            indicator = np.zeros(x.shape, dtype=bool)
            rows = np.arange(n_samples)[:, None]
            indicator[rows, target[:, :options["k"]]] = True
            target, target_format = indicator, "indicator"

        def call():
            marginloss.multilabel_margin_loss_and_grad(
                x, target, target_format=target_format, out=out, n_threads=n_threads)
    return call, x


def _elapsed(call, clock):
    start = clock()
    call()
    return clock() - start


def median_ratio(first, second, rounds=ROUNDS, clock=time.perf_counter):
    """Median over interleaved rounds of time(first) / time(second), after a warm-up."""
    first()
    second()
    return statistics.median(_elapsed(first, clock) / _elapsed(second, clock)
                             for _ in range(rounds))


def floor_ratio(name, rounds=ROUNDS):
    """The case's one-thread time over a one-thread ``np.copyto`` of its scores."""
    loss, n_samples, n_classes, dtype, options, _ = FLOOR_CASES[name]
    call, x = make_call(loss, n_samples, n_classes, dtype, options, 1)
    destination = common.faulted_like(x)
    # CPU time of the calling thread (one-thread calls run on it): on a
    # machine shared with other work, wall time also counts the time the
    # thread waits for a core.
    return median_ratio(call, lambda: np.copyto(destination, x), rounds,
                        clock=time.thread_time)


def torch_speedup(name, rounds=ROUNDS, n_threads=2):
    """PyTorch's forward+backward time over ours, both on ``n_threads`` threads."""
    torch, functional = common.import_torch()
    loss, n_samples, n_classes, k, _ = TORCH_CASES[name]
    options = {} if k is None else {"k": k}
    call, x = make_call(loss, n_samples, n_classes, "float32", options, n_threads)
    if loss == "mm":
        target = torch.from_numpy(common.class_targets(n_samples, n_classes))
        function = functional.multi_margin_loss
    else:
        target = torch.from_numpy(common.label_targets(n_samples, n_classes, k))
        function = functional.multilabel_margin_loss
    leaf = torch.from_numpy(x).clone().requires_grad_()

    def run_torch():
        leaf.grad = None
        function(leaf, target).backward()

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        return median_ratio(run_torch, call, rounds)  # wall time: two threads
    finally:
        torch.set_num_threads(previous)


class FloorRatio(Benchmark):
    param_names = ["case"]
    params = [list(FLOOR_CASES)]
    timeout = max(getattr(Benchmark, "timeout", 60), 300)

    def track_ratio_to_copy(self, case):
        return floor_ratio(case)

    track_ratio_to_copy.unit = "ratio"


class TorchRatio(Benchmark):
    param_names = ["case"]
    params = [list(TORCH_CASES)]
    timeout = max(getattr(Benchmark, "timeout", 60), 300)

    def setup(self, case):
        common.import_torch()
        common.start_threads(2)

    def track_speedup_over_torch(self, case):
        return torch_speedup(case)

    track_speedup_over_torch.unit = "ratio"


def main(argv=None):
    import argparse

    from marginloss import _kernels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    print(f"kernel build: {_kernels.kernel_build()}; median of {args.rounds} interleaved rounds")
    print(f"{'one thread, out=, ratio to np.copyto':40s} {'now':>6s} {'target':>7s}")
    for name, case in FLOOR_CASES.items():
        if args.only in name:
            print(f"{name:40s} {floor_ratio(name, args.rounds):6.2f} {case[-1]:6.1f}x",
                  flush=True)
    if not args.no_torch:
        common.start_threads(2)
        print(f"{'two threads, torch time / ours':40s} {'now':>6s} {'target':>7s}")
        for name, case in TORCH_CASES.items():
            if args.only in name:
                print(f"{name:40s} {torch_speedup(name, args.rounds):6.1f} {case[-1]:6.0f}x",
                      flush=True)


if __name__ == "__main__":
    main()
