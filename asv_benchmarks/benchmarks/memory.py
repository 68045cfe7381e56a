"""Memory floors: a parallel copy and a parallel read of an array of the problems' size.

On large arrays the fused loss+gradient (read every score, write one gradient
value per score) can be no faster than ``copy``, and the loss alone no faster
than ``read``; asv puts these next to the kernels' times.  The kernels also
read the targets (N int64 for the multi-class loss, N x C for the
multi-label loss), which the floors leave out.

- ``MemoryFloor``: ``marginloss._bandwidth.copy`` / ``read`` (OpenMP blocks,
  as the kernels split samples) on ``n_threads`` threads, the copy into a
  buffer faulted in once (floor of ``out=``) or into a fresh array (floor
  of a call that allocates its gradient).  Skipped on commits without
  ``marginloss._bandwidth``.
- ``NumPyMemoryFloor``: the same with NumPy's one-threaded ``copyto``,
  ``copy`` and ``sum``, available on every commit.
"""

import numpy as np

from . import common
from .common import Benchmark

# Sizes of the main problems of both losses, as (N, C) scores.
SIZES = sorted(
    {common.problem_name(*common.parse_problem(name)[:2])
     for name in common.MULTI_MARGIN_PROBLEMS + common.MULTILABEL_PROBLEMS},
    key=lambda name: common.parse_problem(name)[0] * common.parse_problem(name)[1],
)


def _source(size, dtype):
    # The kernels take 1-D contiguous arrays: the (N, C) scores, flattened.
    return common.scores(*common.parse_problem(size), dtype).reshape(-1)


class MemoryFloor(Benchmark):
    param_names = ["size", "dtype", "n_threads"]
    params = [SIZES, common.DTYPES, common.N_THREADS]

    def setup(self, size, dtype, n_threads):
        self.bandwidth = common.import_bandwidth()
        self.source = _source(size, dtype)
        self.destination = common.faulted_like(self.source)
        self.n_threads = n_threads
        self.bandwidth.read(self.source, n_threads)  # starts the OpenMP team

    def time_copy(self, *params):
        self.bandwidth.copy(self.source, self.destination, self.n_threads)

    def time_copy_fresh(self, *params):
        self.bandwidth.copy(self.source, np.empty_like(self.source), self.n_threads)

    def time_read(self, *params):
        self.bandwidth.read(self.source, self.n_threads)


class NumPyMemoryFloor(Benchmark):
    param_names = ["size", "dtype"]
    params = [SIZES, common.DTYPES]

    def setup(self, size, dtype):
        self.source = _source(size, dtype)
        self.destination = common.faulted_like(self.source)

    def time_copy(self, *params):
        np.copyto(self.destination, self.source)

    def time_copy_fresh(self, *params):
        self.source.copy()

    def time_read(self, *params):
        self.source.sum()
