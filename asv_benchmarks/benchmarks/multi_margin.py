"""MultiMarginLoss: marginloss against PyTorch and the vectorised NumPy version.

The same problems (generated from the same seeds) are timed for each
implementation, so that asv's tables put our times next to theirs:

- ``MultiMargin``: marginloss's loss, gradient and fused loss+gradient, each
  with a fresh gradient array per call (what most callers do: the pages of a
  large new array are faulted in on first touch);
- ``MultiMarginOut``: the gradient and fused calls writing into ``out=``, a
  buffer allocated (and faulted in) once in setup;
- ``MultiMarginTorch``: ``torch.nn.functional.multi_margin_loss``, forward
  under ``no_grad`` and forward+backward through autograd (PyTorch's default
  thread count; its CPU kernels for this loss are serial);
- ``MultiMarginNumPy``: ``marginloss._numpy`` (fused, reduction='mean');
- ``MultiMarginSweepN`` / ``MultiMarginSweepC`` (and their Torch and NumPy
  twins): the fused call as N, or C at a fixed N x C, varies.

All use reduction='mean' and margin=1.
"""

import marginloss

from . import common
from .common import Benchmark


def _data(n_samples, n_classes, dtype, weight):
    return (
        common.scores(n_samples, n_classes, dtype),
        common.class_targets(n_samples, n_classes),
        common.class_weight(n_classes, weight),
    )


class _Ours(Benchmark):
    """Set-up of the marginloss benchmarks: data and keyword arguments."""

    def _prepare(self, n_samples, n_classes, dtype, p, weight, n_threads):
        common.require_keywords(marginloss.multi_margin_loss_and_grad, "n_threads")
        self.x, self.y, self.weight = _data(n_samples, n_classes, dtype, weight)
        self.kwargs = {"p": p, "weight": self.weight, "n_threads": n_threads}
        common.start_threads(n_threads)


class MultiMargin(_Ours):
    param_names = ["problem", "dtype", "p", "weight", "n_threads"]
    params = [common.MULTI_MARGIN_PROBLEMS, common.DTYPES, common.P_VALUES, common.WEIGHTS,
              common.N_THREADS]

    def setup(self, problem, dtype, p, weight, n_threads):
        self._prepare(*common.parse_problem(problem), dtype, p, weight, n_threads)

    def time_forward(self, *params):
        marginloss.multi_margin_loss(self.x, self.y, **self.kwargs)

    def time_gradient(self, *params):
        marginloss.multi_margin_loss_grad(self.x, self.y, **self.kwargs)

    def time_fused(self, *params):
        marginloss.multi_margin_loss_and_grad(self.x, self.y, **self.kwargs)

    def peakmem_fused(self, *params):
        marginloss.multi_margin_loss_and_grad(self.x, self.y, **self.kwargs)


class MultiMarginOut(_Ours):
    param_names = MultiMargin.param_names
    params = MultiMargin.params

    def setup(self, problem, dtype, p, weight, n_threads):
        common.require_keywords(marginloss.multi_margin_loss_and_grad, "out")
        self._prepare(*common.parse_problem(problem), dtype, p, weight, n_threads)
        self.out = common.faulted_like(self.x)

    def time_gradient_out(self, *params):
        marginloss.multi_margin_loss_grad(self.x, self.y, out=self.out, **self.kwargs)

    def time_fused_out(self, *params):
        marginloss.multi_margin_loss_and_grad(self.x, self.y, out=self.out, **self.kwargs)


class _Torch(Benchmark):
    def _prepare(self, n_samples, n_classes, dtype, p, weight):
        self.torch, self.functional = common.import_torch()
        x, y, w = _data(n_samples, n_classes, dtype, weight)
        self.x = self.torch.from_numpy(x)
        self.y = self.torch.from_numpy(y)
        weight = None if w is None else self.torch.from_numpy(w.astype(x.dtype))
        self.kwargs = {"p": p, "weight": weight}
        self.leaf = self.x.detach().clone().requires_grad_()
        common.start_torch_threads(self.torch)

    def _forward(self):
        with self.torch.no_grad():
            self.functional.multi_margin_loss(self.x, self.y, **self.kwargs)

    def _fused(self):
        self.leaf.grad = None  # a fresh gradient per call, as marginloss without out=
        self.functional.multi_margin_loss(self.leaf, self.y, **self.kwargs).backward()


class MultiMarginTorch(_Torch):
    param_names = ["problem", "dtype", "p", "weight"]
    params = MultiMargin.params[:4]

    def setup(self, problem, dtype, p, weight):
        self._prepare(*common.parse_problem(problem), dtype, p, weight)

    def time_forward(self, *params):
        self._forward()

    def time_fused(self, *params):
        self._fused()

    def peakmem_fused(self, *params):
        self._fused()


class MultiMarginNumPy(Benchmark):
    param_names = ["problem", "dtype", "p", "weight"]
    params = MultiMargin.params[:4]

    def setup(self, problem, dtype, p, weight):
        self.numpy_impl = common.import_numpy_implementation()
        self.x, self.y, self.weight = _data(*common.parse_problem(problem), dtype, weight)
        self.p = p

    def time_fused(self, *params):
        self.numpy_impl.multi_margin_loss_and_grad(self.x, self.y, p=self.p, weight=self.weight)

    def peakmem_fused(self, *params):
        self.numpy_impl.multi_margin_loss_and_grad(self.x, self.y, p=self.p, weight=self.weight)


# ------------------------------------------------------------------ sweeps

_SWEEP_N = common.PROFILE["multi_margin_sweep_n"]
_SWEEP_C = common.PROFILE["multi_margin_sweep_c"]


def _sweep_n_shape(n_samples):
    return n_samples, _SWEEP_N["n_classes"]


def _sweep_c_shape(n_classes):
    return max(_SWEEP_C["n_scores"] // n_classes, 1), n_classes


class MultiMarginSweepN(_Ours):
    """p=1, no weight; N varies at fixed C (config: multi_margin_sweep_n)."""

    param_names = ["n_samples", "dtype", "n_threads"]
    params = [_SWEEP_N["n_samples"], common.DTYPES, common.N_THREADS]
    _shape = staticmethod(_sweep_n_shape)

    def setup(self, value, dtype, n_threads):
        self._prepare(*self._shape(value), dtype, 1, "none", n_threads)

    def time_forward(self, *params):
        marginloss.multi_margin_loss(self.x, self.y, **self.kwargs)

    def time_fused(self, *params):
        marginloss.multi_margin_loss_and_grad(self.x, self.y, **self.kwargs)


class MultiMarginSweepC(MultiMarginSweepN):
    """p=1, no weight; C varies at a fixed N x C (config: multi_margin_sweep_c)."""

    param_names = ["n_classes", "dtype", "n_threads"]
    params = [_SWEEP_C["n_classes"], common.DTYPES, common.N_THREADS]
    _shape = staticmethod(_sweep_c_shape)


class MultiMarginSweepNTorch(_Torch):
    param_names = ["n_samples", "dtype"]
    params = [_SWEEP_N["n_samples"], common.DTYPES]
    _shape = staticmethod(_sweep_n_shape)

    def setup(self, value, dtype):
        self._prepare(*self._shape(value), dtype, 1, "none")

    def time_fused(self, *params):
        self._fused()


class MultiMarginSweepCTorch(MultiMarginSweepNTorch):
    param_names = ["n_classes", "dtype"]
    params = [_SWEEP_C["n_classes"], common.DTYPES]
    _shape = staticmethod(_sweep_c_shape)


class MultiMarginSweepNNumPy(Benchmark):
    param_names = ["n_samples", "dtype"]
    params = [_SWEEP_N["n_samples"], common.DTYPES]
    _shape = staticmethod(_sweep_n_shape)

    def setup(self, value, dtype):
        self.numpy_impl = common.import_numpy_implementation()
        self.x, self.y, _ = _data(*self._shape(value), dtype, "none")

    def time_fused(self, *params):
        self.numpy_impl.multi_margin_loss_and_grad(self.x, self.y)


class MultiMarginSweepCNumPy(MultiMarginSweepNNumPy):
    param_names = ["n_classes", "dtype"]
    params = [_SWEEP_C["n_classes"], common.DTYPES]
    _shape = staticmethod(_sweep_c_shape)
