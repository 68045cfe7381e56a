"""The kernels against the memory floor: time of a call / time of a copy.

``track_`` benchmarks: each value is the median over interleaved rounds of
(CPU time of the fused loss+gradient on one thread, ``out=`` a gradient
faulted in once, reduction='mean') / (CPU time of a one-threaded
``np.copyto`` of the same scores into a faulted-in buffer), both timed in the
same process one after the other.  A copy reads every score once and writes
every score once, the least any fused loss+gradient can do; 1.0 is that
floor, lower is better.  The problems, their targets and the timing are
``marginloss._tools.bench``'s (``FLOOR_CASES``, ``TORCH_CASES``, the
few-classes and few-labels cases of the design note's "Memory floor"
section); ``TorchRatio`` adds the two-thread speed-ups over PyTorch's
forward+backward.

Run as a script for the table in one process (the same as ``python -m
marginloss bench --floor``)::

    python asv_benchmarks/benchmarks/kernel_floor.py [--rounds 15] [--only mm]

(``MARGINLOSS_KERNELS=baseline|avx2|avx512`` picks the kernel build.)
"""

try:
    from . import common
    from .common import Benchmark
except ImportError:  # run as a script
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import common
    from benchmarks.common import Benchmark


def _bench():
    """``marginloss._tools.bench`` with the floor cases (NotImplementedError: asv skips)."""
    bench = common.import_submodule("_tools.bench")
    if not hasattr(bench, "FLOOR_CASES"):
        raise NotImplementedError("marginloss._tools.bench has no FLOOR_CASES on this commit")
    return bench


try:
    _CASES = list(_bench().FLOOR_CASES)
    _TORCH_CASES = list(_bench().TORCH_CASES)
except NotImplementedError:
    _CASES, _TORCH_CASES = [], []


class FloorRatio(Benchmark):
    param_names = ["case"]
    params = [_CASES]
    timeout = max(getattr(Benchmark, "timeout", 60), 300)

    def setup(self, case):
        _bench()

    def track_ratio_to_copy(self, case):
        return _bench().floor_ratio(case)

    track_ratio_to_copy.unit = "ratio"


class TorchRatio(Benchmark):
    param_names = ["case"]
    params = [_TORCH_CASES]
    timeout = max(getattr(Benchmark, "timeout", 60), 300)

    def setup(self, case):
        _bench()
        common.import_torch()
        common.start_threads(2)

    def track_speedup_over_torch(self, case):
        torch, _ = common.import_torch()
        return _bench().torch_speedup(torch, case)

    track_speedup_over_torch.unit = "ratio"


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args(argv)
    return _bench().floor_main(rounds=args.rounds, only=args.only)


if __name__ == "__main__":
    main()
