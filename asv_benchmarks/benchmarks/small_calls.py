"""The fixed cost of one small call, as a ratio to PyTorch's forward.

``track_`` benchmarks: each value is marginloss's median time per call over
PyTorch's (``torch.nn.functional``'s forward under ``torch.no_grad()``, on
the same arrays), from interleaved rounds in the same process
(``marginloss._tools.small_calls``, which ``python -m
marginloss._tools.small_calls`` prints as a table).  The cases are the
training-loop sizes where the Python path, not the kernel, is most of the
cost: (32, 10) and (512, 10), the function, the loss object, the fused
loss+gradient, and the multi-label loss with 3 labels per row.  Lower is
better; 1.0 is PyTorch's cost.  Skipped on commits without the module.
"""

from . import common
from .common import Benchmark


def _small_calls():
    """``marginloss._tools.small_calls``, or NotImplementedError (asv: skipped)."""
    try:
        from marginloss._tools import small_calls
    except ImportError as error:
        raise NotImplementedError(f"marginloss._tools.small_calls is missing: {error}")
    return small_calls


def _case_ids():
    try:
        small_calls = _small_calls()
    except NotImplementedError:
        return ["missing"]
    return [small_calls.case_id(case) for case in small_calls.CASES]


class TimeRatioSmallCalls(Benchmark):
    param_names = ["case"]
    params = [_case_ids()]
    # Each value is 301 interleaved rounds of both sides.
    timeout = max(getattr(Benchmark, "timeout", 60), 300)

    def setup(self, case):
        common.import_torch()
        small_calls = _small_calls()
        by_id = {small_calls.case_id(c): c for c in small_calls.CASES}
        if case not in by_id:
            raise NotImplementedError(f"no case {case!r} in this version")
        self.ours, self.theirs = small_calls.calls(by_id[case])
        self.measure = small_calls.measure

    def track_ratio_to_torch_forward(self, case):
        ours, theirs = self.measure(self.ours, self.theirs)
        return ours / theirs

    track_ratio_to_torch_forward.unit = "ratio"
