"""marginloss's fused loss+gradient as a fraction of PyTorch's and of NumPy's time.

``track_`` benchmarks: each value is (best time of marginloss) / (best time
of the other implementation) over ``ratio_repeat`` runs of each, measured
in the same process one after the other, on the main problems of both
losses (p=1, no weight, reduction='mean', marginloss with its default
n_threads, PyTorch with its default thread count, each with a fresh gradient
per call).  Below 1 means marginloss is faster; lower is better, as asv
assumes for every benchmark (so "asv compare" marks a smaller ratio as an
improvement).  0.25 is a 4x speed-up.
"""

import marginloss

from . import common
from .common import Benchmark

PROBLEMS = (["multi_margin " + name for name in common.MULTI_MARGIN_PROBLEMS]
            + ["multilabel " + name for name in common.MULTILABEL_PROBLEMS])


class _TimeRatio(Benchmark):
    param_names = ["problem", "dtype"]
    params = [PROBLEMS, common.DTYPES]
    # Each value is several timed runs of both sides.
    timeout = max(getattr(Benchmark, "timeout", 60), 300)

    def setup(self, problem, dtype):
        self.loss, _, shape = problem.partition(" ")
        self.shape = common.parse_problem(shape)
        self.x = common.scores(*self.shape[:2], dtype)
        if self.loss == "multi_margin":
            self.target = common.class_targets(*self.shape)
            self.ours = lambda: marginloss.multi_margin_loss_and_grad(self.x, self.target)
        else:
            self.target = common.label_targets(*self.shape)
            self.ours = lambda: marginloss.multilabel_margin_loss_and_grad(self.x, self.target)

    def _time_ratio(self, other):
        return (common.best_time(self.ours, common.RATIO_REPEAT)
                / common.best_time(other, common.RATIO_REPEAT))


class TimeRatioTorch(_TimeRatio):
    def setup(self, problem, dtype):
        torch, functional = common.import_torch()
        super().setup(problem, dtype)
        function = (functional.multi_margin_loss if self.loss == "multi_margin"
                    else functional.multilabel_margin_loss)
        leaf = torch.from_numpy(self.x).clone().requires_grad_()
        target = torch.from_numpy(self.target)

        def run():
            leaf.grad = None
            function(leaf, target).backward()

        self.other = run

    def track_time_ratio_to_torch(self, *params):
        return self._time_ratio(self.other)

    track_time_ratio_to_torch.unit = "ratio"


class TimeRatioNumPy(_TimeRatio):
    def setup(self, problem, dtype):
        numpy_impl = common.import_numpy_implementation()
        super().setup(problem, dtype)
        if self.loss == "multi_margin":
            self.other = lambda: numpy_impl.multi_margin_loss_and_grad(self.x, self.target)
        else:
            common.check_numpy_size(*self.shape[:2])
            self.other = lambda: numpy_impl.multilabel_margin_loss_and_grad(self.x, self.target)

    def track_time_ratio_to_numpy(self, *params):
        return self._time_ratio(self.other)

    track_time_ratio_to_numpy.unit = "ratio"
