"""MultiLabelMarginLoss: marginloss against PyTorch and the vectorised NumPy version.

Targets are (N, C) int64 rows of k distinct classes followed by -1 (read in
place by marginloss).  As in ``multi_margin``:

- ``MultiLabel``: loss, gradient and fused loss+gradient (fresh gradient);
- ``MultiLabelOut``: the gradient and fused calls with ``out=``;
- ``MultiLabelTorch``: ``torch.nn.functional.multilabel_margin_loss``, forward
  under ``no_grad`` and forward+backward;
- ``MultiLabelNumPy``: ``marginloss._numpy`` (fused).  It builds N x C x C
  temporaries, so it is skipped above the profile's ``numpy_max_elements``;
- ``MultiLabelSweepN`` / ``SweepC`` (k = C // 4) / ``SweepK`` and their
  Torch and NumPy twins: the fused call as N, C or k varies.

All use reduction='mean'.
"""

import marginloss

from . import common
from .common import Benchmark


def _data(n_samples, n_classes, n_labels, dtype):
    return (
        common.scores(n_samples, n_classes, dtype),
        common.label_targets(n_samples, n_classes, n_labels),
    )


class _Ours(Benchmark):
    def _prepare(self, n_samples, n_classes, n_labels, dtype, n_threads):
        common.require_keywords(marginloss.multilabel_margin_loss_and_grad, "n_threads")
        self.x, self.t = _data(n_samples, n_classes, n_labels, dtype)
        self.kwargs = {"n_threads": n_threads}
        common.start_threads(n_threads)

    def _forward(self):
        marginloss.multilabel_margin_loss(self.x, self.t, **self.kwargs)

    def _fused(self):
        marginloss.multilabel_margin_loss_and_grad(self.x, self.t, **self.kwargs)


class MultiLabel(_Ours):
    param_names = ["problem", "dtype", "n_threads"]
    params = [common.MULTILABEL_PROBLEMS, common.DTYPES, common.N_THREADS]

    def setup(self, problem, dtype, n_threads):
        self._prepare(*common.parse_problem(problem), dtype, n_threads)

    def time_forward(self, *params):
        self._forward()

    def time_gradient(self, *params):
        marginloss.multilabel_margin_loss_grad(self.x, self.t, **self.kwargs)

    def time_fused(self, *params):
        self._fused()

    def peakmem_fused(self, *params):
        self._fused()


class MultiLabelOut(_Ours):
    param_names = MultiLabel.param_names
    params = MultiLabel.params

    def setup(self, problem, dtype, n_threads):
        common.require_keywords(marginloss.multilabel_margin_loss_and_grad, "out")
        self._prepare(*common.parse_problem(problem), dtype, n_threads)
        self.out = common.faulted_like(self.x)

    def time_gradient_out(self, *params):
        marginloss.multilabel_margin_loss_grad(self.x, self.t, out=self.out, **self.kwargs)

    def time_fused_out(self, *params):
        marginloss.multilabel_margin_loss_and_grad(self.x, self.t, out=self.out, **self.kwargs)


class _Torch(Benchmark):
    def _prepare(self, n_samples, n_classes, n_labels, dtype):
        self.torch, self.functional = common.import_torch()
        x, t = _data(n_samples, n_classes, n_labels, dtype)
        self.x = self.torch.from_numpy(x)
        self.t = self.torch.from_numpy(t)
        self.leaf = self.x.detach().clone().requires_grad_()
        common.start_torch_threads(self.torch)

    def _forward(self):
        with self.torch.no_grad():
            self.functional.multilabel_margin_loss(self.x, self.t)

    def _fused(self):
        self.leaf.grad = None  # a fresh gradient per call, as marginloss without out=
        self.functional.multilabel_margin_loss(self.leaf, self.t).backward()


class MultiLabelTorch(_Torch):
    param_names = ["problem", "dtype"]
    params = MultiLabel.params[:2]

    def setup(self, problem, dtype):
        self._prepare(*common.parse_problem(problem), dtype)

    def time_forward(self, *params):
        self._forward()

    def time_fused(self, *params):
        self._fused()

    def peakmem_fused(self, *params):
        self._fused()


class _NumPy(Benchmark):
    def _prepare(self, n_samples, n_classes, n_labels, dtype):
        self.numpy_impl = common.import_numpy_implementation()
        common.check_numpy_size(n_samples, n_classes)
        self.x, self.t = _data(n_samples, n_classes, n_labels, dtype)

    def _fused(self):
        self.numpy_impl.multilabel_margin_loss_and_grad(self.x, self.t)


class MultiLabelNumPy(_NumPy):
    param_names = ["problem", "dtype"]
    params = MultiLabel.params[:2]

    def setup(self, problem, dtype):
        self._prepare(*common.parse_problem(problem), dtype)

    def time_fused(self, *params):
        self._fused()

    def peakmem_fused(self, *params):
        self._fused()


# ------------------------------------------------------------------ sweeps
#
# Each sweep maps its swept value to (n_samples, n_classes, n_labels).

_SWEEP_N = common.PROFILE["multilabel_sweep_n"]
_SWEEP_C = common.PROFILE["multilabel_sweep_c"]
_SWEEP_K = common.PROFILE["multilabel_sweep_k"]


def _sweep_n_shape(n_samples):
    return n_samples, _SWEEP_N["n_classes"], _SWEEP_N["n_labels"]


def _sweep_c_shape(n_classes):
    return max(_SWEEP_C["n_scores"] // n_classes, 1), n_classes, n_classes // 4


def _sweep_k_shape(n_labels):
    return _SWEEP_K["n_samples"], _SWEEP_K["n_classes"], n_labels


class MultiLabelSweepN(_Ours):
    """Fused call; N varies at fixed C and k (config: multilabel_sweep_n)."""

    param_names = ["n_samples", "dtype", "n_threads"]
    params = [_SWEEP_N["n_samples"], common.DTYPES, common.N_THREADS]
    _shape = staticmethod(_sweep_n_shape)

    def setup(self, value, dtype, n_threads):
        self._prepare(*self._shape(value), dtype, n_threads)

    def time_forward(self, *params):
        self._forward()

    def time_fused(self, *params):
        self._fused()


class MultiLabelSweepC(MultiLabelSweepN):
    """C varies at a fixed N x C, with k = C // 4 (config: multilabel_sweep_c)."""

    param_names = ["n_classes", "dtype", "n_threads"]
    params = [_SWEEP_C["n_classes"], common.DTYPES, common.N_THREADS]
    _shape = staticmethod(_sweep_c_shape)


class MultiLabelSweepK(MultiLabelSweepN):
    """k varies at fixed N and C (config: multilabel_sweep_k)."""

    param_names = ["n_labels", "dtype", "n_threads"]
    params = [_SWEEP_K["n_labels"], common.DTYPES, common.N_THREADS]
    _shape = staticmethod(_sweep_k_shape)


class MultiLabelSweepNTorch(_Torch):
    param_names = ["n_samples", "dtype"]
    params = [_SWEEP_N["n_samples"], common.DTYPES]
    _shape = staticmethod(_sweep_n_shape)

    def setup(self, value, dtype):
        self._prepare(*self._shape(value), dtype)

    def time_fused(self, *params):
        self._fused()


class MultiLabelSweepCTorch(MultiLabelSweepNTorch):
    param_names = ["n_classes", "dtype"]
    params = [_SWEEP_C["n_classes"], common.DTYPES]
    _shape = staticmethod(_sweep_c_shape)


class MultiLabelSweepKTorch(MultiLabelSweepNTorch):
    param_names = ["n_labels", "dtype"]
    params = [_SWEEP_K["n_labels"], common.DTYPES]
    _shape = staticmethod(_sweep_k_shape)


class MultiLabelSweepNNumPy(_NumPy):
    param_names = ["n_samples", "dtype"]
    params = [_SWEEP_N["n_samples"], common.DTYPES]
    _shape = staticmethod(_sweep_n_shape)

    def setup(self, value, dtype):
        self._prepare(*self._shape(value), dtype)

    def time_fused(self, *params):
        self._fused()


class MultiLabelSweepCNumPy(MultiLabelSweepNNumPy):
    param_names = ["n_classes", "dtype"]
    params = [_SWEEP_C["n_classes"], common.DTYPES]
    _shape = staticmethod(_sweep_c_shape)


class MultiLabelSweepKNumPy(MultiLabelSweepNNumPy):
    param_names = ["n_labels", "dtype"]
    params = [_SWEEP_K["n_labels"], common.DTYPES]
    _shape = staticmethod(_sweep_k_shape)
