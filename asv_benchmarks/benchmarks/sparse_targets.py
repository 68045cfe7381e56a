"""Multi-label targets side by side: -1-padded indices, a bool indicator, SciPy CSR.

The same k = 5 labels per sample as PyTorch's int64 index target, a dense bool
indicator (``target_format="indicator"``) and a SciPy CSR matrix of bools
(the same, read as CSR rows by the kernel), at (256, 200000), where the index
target is twice the scores' bytes and the CSR matrix a few kB, and at
(4096, 1000).  The problems and timing are ``marginloss._tools.bench``'s
(``SPARSE_CASES``, ``sparse_calls``, ``sparse_ratios``):

- ``SparseTargetRatio.track_ratio_to_copy``: median over interleaved rounds of
  the one-thread CPU time of the fused loss+gradient (``out=``, 'mean') over
  that of a one-thread ``np.copyto`` of the scores (1.0 is the memory floor);
- ``SparseTarget.time_fused_out``: the same call's time.

Run as a script for the table in one process (the same as ``python -m
marginloss bench --sparse``)::

    python asv_benchmarks/benchmarks/sparse_targets.py [--rounds 11]
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
    """``marginloss._tools.bench`` with the sparse cases (NotImplementedError: asv skips)."""
    bench = common.import_submodule("_tools.bench")
    if not hasattr(bench, "SPARSE_CASES"):
        raise NotImplementedError("marginloss._tools.bench has no SPARSE_CASES on this commit")
    try:
        import scipy.sparse  # noqa: F401
    except ImportError as error:
        raise NotImplementedError(f"SciPy is not installed: {error}") from None
    return bench


try:
    _CASES = list(_bench().SPARSE_CASES)
    _KINDS = list(_bench().SPARSE_KINDS)
except NotImplementedError:
    _CASES, _KINDS = [], []


class SparseTargetRatio(Benchmark):
    param_names = ["case", "target"]
    params = [_CASES, _KINDS]
    timeout = max(getattr(Benchmark, "timeout", 60), 600)

    def setup(self, case, kind):
        _bench()

    def track_ratio_to_copy(self, case, kind):
        ratios, _, _ = _bench().sparse_ratios(case)
        return ratios[kind]

    track_ratio_to_copy.unit = "ratio"


class SparseTarget(Benchmark):
    param_names = ["case", "target"]
    params = [_CASES, _KINDS]
    timeout = max(getattr(Benchmark, "timeout", 60), 600)

    def setup(self, case, kind):
        bench = _bench()
        n_samples, n_classes, k, _ = bench.SPARSE_CASES[case]
        calls, _ = bench.sparse_calls(n_samples, n_classes, k)
        self.call = calls[kind][0]
        common.start_threads(1)

    def time_fused_out(self, case, kind):
        self.call()


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args(argv)
    return _bench().sparse_main(rounds=args.rounds)


if __name__ == "__main__":
    main()
