"""The one path of a call on NumPy arrays: validate, run the kernel, reduce.

`forward` and `loss_and_gradient` serve every loss: a `marginloss._losses.Loss`
says how its target is read and its kernel called, and `Settings` carry the
settings validated once, where they were made.  The steps (`validate`,
`run_loss`, `run_loss_gradient`, `gradient_scale`, `weighted_grad_output`,
`weighted_sum`, `finish`) are public to the package so that the Dask layer
runs each block of rows through the same steps; this module knows nothing of
Dask.  See docs/design.md, "Python layer" and "Semantics".
"""

import math
from typing import Any, NamedTuple, Optional, Tuple

import numpy as np

from ._reductions import pairwise_sum as _pairwise_sum
from ._threads import SERIAL_BELOW, effective_n_threads
from ._validation import (
    _FLOAT32_MAX,
    SparseRows,
    _unit_weight,
    as_grad_output,
    as_scores,
    check_out,
    check_sample_weight,
    margin_in_dtype,
    weight_for,
)

_empty = np.empty
_FLOAT64 = np.dtype(np.float64)
_FORWARD = object()  # validate's grad_output for a call without a gradient

try:  # NumPy >= 2: errstate's own context variable, without the context manager's cost
    from numpy._core.umath import _extobj_contextvar, _make_extobj

    # Made once: the reductions only add, and divide by a positive count or sum.
    _QUIET = _make_extobj(over="ignore", invalid="ignore", divide="ignore", under="ignore")

    def _quiet():
        """Start ignoring floating-point warnings; return a token for `_loud`."""
        return _extobj_contextvar.set(_QUIET)

    _loud = _extobj_contextvar.reset
except ImportError:  # pragma: no cover - NumPy 1.x
    def _quiet():
        state = np.errstate(over="ignore", invalid="ignore")
        state.__enter__()
        return state

    def _loud(state):
        state.__exit__(None, None, None)


class Problem(NamedTuple):
    """The validated arrays of one call, as the kernels take them."""

    scores: np.ndarray  # C-contiguous (N, C) float32 or float64
    input_shape: tuple
    target: np.ndarray
    loss_shape: tuple  # of the 'none' result
    weight: Optional[np.ndarray]  # (C,) float64 class weights (multi-class losses)
    sample_weight: Optional[np.ndarray]  # (N,) float64
    grad_output: Optional[np.ndarray]  # float64, read at n * stride
    stride: int
    n_threads: int


_new_problem = tuple.__new__


def validate(settings, input, target, sample_weight=None, grad_output=_FORWARD,
             check_range=True):
    """Check and convert a call's arrays, in the order of the arguments.

    With ``check_range=False`` the range of a class target is left to
    `reduce` (see the note above `forward`).
    """
    loss = settings.loss
    scores, input_shape = as_scores(input)
    n_samples, n_classes = scores.shape
    work = n_samples * n_classes
    n_threads = 1 if work < SERIAL_BELOW else effective_n_threads(settings.n_threads,
                                                                  n_samples, work)
    target, loss_shape = loss.read_target(target, scores, input_shape, check_range, n_threads)
    weight = settings.weight
    if loss.target_index == "i":
        weight = _unit_weight(n_classes) if weight is None else weight_for(weight, n_classes)
    if abs(settings.margin) > _FLOAT32_MAX:
        margin_in_dtype(settings.margin, scores.dtype)
    stride = 0
    if grad_output is _FORWARD:
        grad_output = None
    else:
        grad_output, stride = as_grad_output(grad_output, loss_shape, settings.reduction)
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, loss_shape, n_samples,
                                            settings.reduction)
    return _new_problem(Problem, (scores, input_shape, target, loss_shape, weight,
                                  sample_weight, grad_output, stride, n_threads))


def run_loss(settings, problem):
    """The (N,) float64 per-sample losses."""
    scores, _, target, _, weight, _, _, _, n_threads = problem
    n_samples, n_classes = scores.shape
    loss = settings.loss
    loss_out = _empty(n_samples)
    scratch = loss.scratch and loss.scratch(n_threads, n_classes, scores.dtype, False)
    loss.loss(scores, target, weight, settings.margin, settings.p, scratch, loss_out, n_threads)
    return loss_out


def run_loss_gradient(settings, problem, scale, grad_output, stride, gradient_out):
    """The (N,) float64 per-sample losses; the gradient goes to ``gradient_out``.

    ``gradient_out[n] = d loss_n / d scores[n] * scale * grad_output[n * stride]``.
    """
    scores, _, target, _, weight, _, _, _, n_threads = problem
    n_samples, n_classes = scores.shape
    loss = settings.loss
    loss_out = _empty(n_samples)
    scratch = loss.scratch and loss.scratch(n_threads, n_classes, scores.dtype, True)
    loss.loss_gradient(scores, target, weight, settings.margin, settings.p, scale, grad_output,
                       stride, scratch, loss_out, gradient_out, n_threads)
    return loss_out


def gradient_scale(settings, n_samples, n_classes, weighted):
    """d reduction / d (row sum over classes): 1/C, or 1/(N*C) for the unweighted mean.

    ``n_samples`` is the whole batch's.  The Crammer-Singer loss has no 1/C.
    With sample weights the rest of the factor (s_n, or s_n / sum(s) for the
    mean) is in the per-sample grad_output (`weighted_grad_output`).
    """
    if not settings.loss.divides_by_classes:
        n_classes = 1
    if settings.reduction == "mean" and not weighted:
        return 1.0 / (n_samples * n_classes) if n_samples else 0.0
    return 1.0 / n_classes


def weighted_grad_output(grad_output, stride, sample_weight, reduction, weight_total=None):
    """``(grad_output * s_n [/ sum(s) for the mean], 1)``, per sample.

    ``weight_total`` is the whole batch's sum(s) (by default that of
    ``sample_weight``).
    """
    token = _quiet()  # quiet inf and NaN, as the reduction
    try:
        if reduction == "mean":
            factor = sample_weight / (sample_weight.sum() if weight_total is None
                                      else weight_total)
        else:
            factor = sample_weight
        per_sample = grad_output if stride else grad_output[0]
        return np.ascontiguousarray(per_sample * factor, dtype=np.float64), 1
    finally:
        _loud(token)


def weighted_sum(loss_out, sample_weight=None):
    """The float64 sum of the (weighted) per-sample losses, in NumPy's pairwise order."""
    if sample_weight is not None:
        token = _quiet()
        try:
            loss_out = loss_out * sample_weight
        finally:
            _loud(token)
    return _pairwise_sum(loss_out)


def finish(total, reduction, dtype, n_samples, weight_total=None):
    """The 'sum' or 'mean' result from the float64 sum, rounded once to ``dtype``.

    'mean' divides by N, or by the sum of the sample weights ``weight_total``;
    an empty batch's mean is nan.  A float32 result beyond float32's range is
    inf (as PyTorch's), quietly.
    """
    token = _quiet()
    try:
        return _finish(total, reduction, dtype, n_samples, weight_total)
    finally:
        _loud(token)


def _finish(total, reduction, dtype, n_samples, weight_total):
    if reduction == "mean":
        if not n_samples:
            total = math.nan
        elif weight_total is None:
            total = total / n_samples
        else:
            total = total / weight_total
    return dtype.type(total)


def reduce(settings, problem, loss_out, range_deferred=False):
    """The result of reduction 'none', 'sum' or 'mean' of the per-sample losses.

    With ``range_deferred`` (see the note above `forward`) a NaN result first
    checks the range of the target, whose error it would be.
    """
    scores, _, target, loss_shape, _, sample_weight, _, _, _ = problem
    reduction = settings.reduction
    if reduction == "none" or sample_weight is not None:
        return _reduce_weighted(reduction, scores.dtype, loss_shape, loss_out, sample_weight)
    total = _pairwise_sum(loss_out)  # a Python float: no NumPy warnings
    if range_deferred and total != total:
        settings.loss.check_target_range(target, scores.shape[1])
    if reduction == "mean":
        n_samples = loss_out.shape[0]
        total = total / n_samples if n_samples else math.nan
    dtype = scores.dtype
    if dtype is _FLOAT64 or -_FLOAT32_MAX <= total <= _FLOAT32_MAX:
        return dtype.type(total)
    return finish(total, "sum", dtype, n_samples=1)  # inf or NaN in float32, quietly


def _reduce_weighted(reduction, dtype, loss_shape, loss_out, sample_weight):
    token = _quiet()
    try:
        if sample_weight is not None:
            loss_out = loss_out * sample_weight
        if reduction == "none":
            return loss_out.astype(dtype, copy=False).reshape(loss_shape)
        return _finish(_pairwise_sum(loss_out), reduction, dtype, loss_out.shape[0],
                       sample_weight.sum())
    finally:
        _loud(token)


def _gradient_buffer(out, problem):
    """``(buffer, result, copy)``: the (N, C) array the kernel writes, the result, and
    whether the buffer must be copied into the result afterwards.

    With ``out`` the buffer is a view of it, unless it overlaps an array the
    kernel reads (then the kernel writes a temporary, as NumPy's ufuncs do) or
    is unaligned (the kernel stores typed values: a temporary too).
    """
    scores, input_shape = problem.scores, problem.input_shape
    if out is None:
        buffer = np.empty_like(scores)
        return buffer, (buffer if len(input_shape) == 2 else buffer.reshape(input_shape)), False
    check_out(out, input_shape, scores.dtype)
    target = problem.target
    read = ((scores, target, problem.weight, problem.grad_output) if type(target) is not SparseRows
            else (scores, target.indptr, target.indices, problem.grad_output))
    if not out.flags.aligned or any(
            array is not None and np.may_share_memory(out, array) for array in read):
        return np.empty_like(scores), out, True
    return out.reshape(scores.shape), out, False


# Whether a call checks the range of a class target after the kernel: the
# multi-class kernels give a row whose target is out of range a NaN loss, so a
# reduced loss that is not NaN proves every target in range, and the check (a
# pass over the target) runs only when the loss is NaN.  Only when no later
# check can fail (Settings.range_deferrable, no sample weights; for the
# gradient a float grad_output and no out), so that errors come in the order of
# the arguments as always, and only for 'mean' and 'sum', whose value shows a
# NaN row.  See docs/design.md, "Python layer".


def forward(settings: Any, input: Any, target: Any, sample_weight: Any = None) -> Any:
    """The loss of NumPy arrays with validated ``settings``."""
    deferred = (settings.range_deferrable and sample_weight is None
                and settings.reduction != "none")
    problem = validate(settings, input, target, sample_weight, _FORWARD, not deferred)
    return reduce(settings, problem, run_loss(settings, problem), deferred)


def loss_and_gradient(settings: Any, input: Any, target: Any, grad_output: Any = 1.0,
                      out: Any = None, sample_weight: Any = None) -> Tuple[Any, Any]:
    """``(loss, gradient)`` of NumPy arrays with validated ``settings``, one kernel pass."""
    deferred = (settings.range_deferrable and sample_weight is None and out is None
                and type(grad_output) is float and settings.reduction != "none")
    problem = validate(settings, input, target, sample_weight, grad_output, not deferred)
    n_samples, n_classes = problem.scores.shape
    grad_output, stride = problem.grad_output, problem.stride
    weighted = problem.sample_weight is not None
    if weighted:
        grad_output, stride = weighted_grad_output(grad_output, stride, problem.sample_weight,
                                                   settings.reduction)
    scale = gradient_scale(settings, n_samples, n_classes, weighted)
    buffer, result, copy = _gradient_buffer(out, problem)
    loss_out = run_loss_gradient(settings, problem, scale, grad_output, stride, buffer)
    if copy:
        np.copyto(result, buffer.reshape(result.shape))
    return reduce(settings, problem, loss_out, deferred), result
