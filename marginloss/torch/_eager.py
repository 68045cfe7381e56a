"""The eager path: one kernel call for the loss and its gradient, a lean autograd node.

A call on plain CPU float32/float64 tensors outside any capture (compiler,
tracer, ``torch.func`` transform, fake tensors) runs here.  When a gradient
is wanted, the forward pass computes the loss and the gradient for
``grad_output = 1`` in one kernel call, and the backward pass returns that
gradient (times ``grad_output`` unless it is 1).  The most common calls (a
2-D contiguous input, an int64 target, no class weight) skip marginloss's
general validation: cheap checks first, then the kernel module's
``total_at`` at the tensors' addresses (no NumPy view, no per-sample array:
the per-sample losses are summed in C), the gradient written into a new
tensor; the range of the target is checked after it (a row out of range
gives a NaN loss) or before it.  Only a call that fails a cheap check takes
the general path, which gives the clear message.  See docs/design.md,
"PyTorch integration".
"""

import numpy as np
import torch

from .. import _engine
from .. import _losses as _losses_module
from .._engine import Problem, _new_problem, gradient_scale
from .._kernels import multi_margin as _multi_margin
from .._kernels import multilabel_margin as _multilabel_margin
from .._threads import SERIAL_BELOW, effective_n_threads
from .._validation import _unit_weight
from ._errors import CHECK_ERRORS, as_torch_error, inplace_error
from ._ops import as_numpy, times_grad_output

_INT64 = torch.int64
_ONE = np.ones(1)  # grad_output = 1 for the kernels, stride 0
_empty = np.empty
_empty_like = np.empty_like
_from_numpy = torch.from_numpy
_asarray = np.asarray
_get_num_threads = torch.get_num_threads
_is_grad_enabled = torch.is_grad_enabled


def _n_threads(n_samples, n_classes):
    work = n_samples * n_classes
    if work < SERIAL_BELOW:
        return 1
    return effective_n_threads(_get_num_threads(), n_samples, work)


class _FusedLoss(torch.autograd.Function):
    """The loss computed in the forward pass's kernel call, and the gradient with it.

    ``forward(ctx, input, value, gradient, backward)`` returns the NumPy
    result ``value`` as a tensor and keeps ``gradient`` (a tensor, for
    grad_output = 1) and ``backward``, ``(op, target, arguments)``: the
    backward custom op and the loss's other arguments.  No tensor is saved
    with ``save_for_backward`` (it costs more): the input, the target (and a
    class weight) are kept with their versions, and a change in place makes
    backward raise as PyTorch's saved tensors do.
    """

    @staticmethod
    def forward(ctx, input, value, gradient, backward):
        arguments = backward[2]
        weight = arguments[2] if len(arguments) == 4 else None  # a multi-class weight
        # One attribute: what backward needs, the versions to check first.
        ctx.state = [input, input._version, backward[1]._version,
                     None if weight is None else weight._version, gradient, backward]
        return _from_numpy(value)

    @staticmethod
    def backward(ctx, grad_output):
        state = ctx.state
        input, input_version, target_version, weight_version, gradient, backward = state
        op, target, arguments = backward
        if input._version != input_version:
            raise inplace_error(input, input_version)
        if target._version != target_version:
            raise inplace_error(target, target_version)
        if weight_version is not None and arguments[2]._version != weight_version:
            raise inplace_error(arguments[2], weight_version)
        state[4] = None  # given away: the engine may keep it as input.grad
        if gradient is None or _is_grad_enabled():
            # A second backward of a retained graph, or create_graph=True: the
            # backward op, which computes the gradient again and has no
            # derivative (differentiating it raises, as PyTorch's does).
            return op(grad_output, input, target, *arguments), None, None, None
        if grad_output.dim() == 0 and grad_output.item() == 1.0:
            return gradient, None, None, None  # loss.backward(): the gradient as it is
        return times_grad_output(gradient, grad_output), None, None, None


class MultiMarginLossFunction(_FusedLoss):
    """``torch.autograd.Function`` of `multi_margin_loss`'s eager path.

    Called by `multi_margin_loss` (use that); the ``grad_fn`` of its eager
    results is a ``MultiMarginLossFunctionBackward``.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import multi_margin_loss
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
    >>> type(multi_margin_loss(x, torch.tensor([3])).grad_fn).__name__
    'MultiMarginLossFunctionBackward'
    """


class MultiLabelMarginLossFunction(_FusedLoss):
    """``torch.autograd.Function`` of `multilabel_margin_loss`'s eager path.

    Called by `multilabel_margin_loss` (use that); the ``grad_fn`` of its
    eager results is a ``MultiLabelMarginLossFunctionBackward``.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import multilabel_margin_loss
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
    >>> loss = multilabel_margin_loss(x, torch.tensor([[3, 0, -1, 1]]))
    >>> type(loss.grad_fn).__name__
    'MultiLabelMarginLossFunctionBackward'
    """


# Function.apply without its Python wrapper, which unwraps the dead wrappers of
# torch.func's transforms: none is active on the eager path.
_apply = {function: super(torch.autograd.Function, function).apply
          for function in (MultiMarginLossFunction, MultiLabelMarginLossFunction)}


def _direct_backward(function):
    """The autograd engine calls the node's ``apply``, whose Python wrapper
    (``BackwardCFunction.apply``) looks up ``backward`` (or ``vjp``) on every
    call: about 3 µs of a loss's 25 here.  Our nodes define ``backward`` only,
    so their ``apply`` is ``backward`` itself (the same call, the same result);
    a PyTorch without that wrapper keeps its own."""
    node_class = getattr(function, "_backward_cls", None)
    wrapper = getattr(torch.autograd.function, "BackwardCFunction", None)
    if (node_class is not None and wrapper is not None and issubclass(node_class, wrapper)
            and node_class.apply is wrapper.apply
            and function.vjp is torch.autograd.Function.vjp
            and not getattr(function, "boxed_grads_call", False)):
        node_class.apply = function.backward


for _function in (MultiMarginLossFunction, MultiLabelMarginLossFunction):
    _direct_backward(_function)


def _general(settings, input, target, grad):
    """``(value, gradient)`` through marginloss's whole call path (gradient None
    without ``grad``); its errors are also RuntimeErrors."""
    settings = settings._replace(n_threads=_get_num_threads())
    try:
        if grad:
            return _engine.loss_and_gradient(settings, as_numpy(input), as_numpy(target))
        return _engine.forward(settings, as_numpy(input), as_numpy(target)), None
    except CHECK_ERRORS as error:
        raise as_torch_error(error) from None


def _lean(settings, input, target, grad, n_samples, n_classes):
    """``(value, gradient)`` of a 2-D C-contiguous input and a kernel-ready target
    (checked by the caller): the kernel, then the reduction."""
    scores = input.detach().numpy()
    target = target.numpy()
    n_threads = _n_threads(n_samples, n_classes)
    loss = settings.loss
    multi_class = loss.target_index == "i"
    weight = _unit_weight(n_classes) if multi_class else None
    if multi_class:
        # A row out of range gives a NaN loss: 'mean' and 'sum' check the range
        # only then (in the reduction); 'none' first.
        deferred = settings.reduction != "none"
        outside = not deferred and _multi_margin.count_outside(target, 0, n_classes, n_threads)
    else:  # the multi-label kernel reads an entry out of range as the end of the labels
        deferred = False
        outside = _multilabel_margin.count_outside_rows(target, -1, n_classes, n_threads)
    if outside:
        return None  # the general path raises the error
    scratch = loss.scratch and loss.scratch(n_threads, n_classes, scores.dtype, grad)
    loss_out = _empty(n_samples)
    gradient = None
    if grad:
        gradient = _empty_like(scores)
        scale = gradient_scale(settings, n_samples, n_classes, False)
        loss.loss_gradient(scores, target, weight, settings.margin, settings.p, scale, _ONE, 0,
                           scratch, loss_out, gradient, n_threads)
    else:
        loss.loss(scores, target, weight, settings.margin, settings.p, scratch, loss_out,
                  n_threads)
    problem = _new_problem(Problem, (scores, scores.shape, target, target.shape[:1], weight,
                                     None, None, 0, n_threads))
    try:
        return _engine.reduce(settings, problem, loss_out, deferred), gradient
    except CHECK_ERRORS as error:
        raise as_torch_error(error) from None


_FLOAT32 = torch.float32
_FLOAT64 = torch.float64
_empty_tensor_like = torch.empty_like
_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_array = np.array
_pairwise_sum = _engine._pairwise_sum
_MULTI_MARGIN_BACKWARD = torch.ops.marginloss.multi_margin_loss_backward
_apply_multi_margin = _apply[MultiMarginLossFunction]


def multi_margin_fast(input, target, settings, requires_grad):
    """The loss of an eager multi-class call without a class weight, or None when
    a cheap check fails (the caller then takes `eager_loss`).

    The input is 2-D and C-contiguous with N, C > 0 (and no negative bit), the
    target int64 of shape (N,) and contiguous, the reduction 'mean' or 'sum'
    (checked here).  The kernel reads the tensors at their addresses
    (``total_at``: no NumPy view, no per-sample array) and writes the gradient
    into a new tensor.  It gives a row whose target is out of range a NaN
    loss, so the range is checked only when the sum is NaN (by `eager_loss`,
    which raises).
    """
    n_samples, n_classes = input.shape
    reduction = settings.reduction
    if (not n_samples or not n_classes or reduction == "none" or target.dtype is not _INT64
            or target.dim() != 1 or target.shape[0] != n_samples
            or not input.is_contiguous() or not target.is_contiguous() or input.is_neg()
            or target.is_neg()):
        return None
    work = n_samples * n_classes
    n_threads = 1 if work < SERIAL_BELOW else effective_n_threads(_get_num_threads(),
                                                                  n_samples, work)
    dtype = input.dtype
    scale = 1.0 / (work if reduction == "mean" else n_classes)
    if requires_grad:
        gradient = _empty_tensor_like(input)
        total = _losses_module._multi_margin.total_at(
            input.data_ptr(), target.data_ptr(), gradient.data_ptr(), n_samples, n_classes,
            dtype is _FLOAT64, settings.margin, settings.p, scale, n_threads)
    else:
        total = _losses_module._multi_margin.total_at(
            input.data_ptr(), target.data_ptr(), 0, n_samples, n_classes, dtype is _FLOAT64,
            settings.margin, settings.p, scale, n_threads)
    if reduction == "mean":
        total = total / n_samples
    if not -_FLOAT32_MAX <= total <= _FLOAT32_MAX:
        return None  # NaN (a target out of range?) or a float32 overflow: the general path
    value = _array(total, _NP_DTYPES[dtype])
    if requires_grad:
        return _apply_multi_margin(input, value, gradient,
                                   (_MULTI_MARGIN_BACKWARD, target,
                                    (settings.p, settings.margin, None, reduction)))
    return _from_numpy(value)


_MULTILABEL_MARGIN_BACKWARD = torch.ops.marginloss.multilabel_margin_loss_backward
_apply_multilabel_margin = _apply[MultiLabelMarginLossFunction]


def multilabel_margin_fast(input, target, settings, requires_grad):
    """The loss of an eager multi-label call, or None when a cheap check fails.

    The input is 2-D and C-contiguous with N, C > 0 (no negative bit), the
    target int64 of the input's shape and contiguous, with every entry in
    [-1, C), the reduction 'mean' or 'sum'.  Below `SERIAL_BELOW` scores the
    kernel runs at the tensors' addresses on one thread (``total_at``, which
    checks the target's range first and gives NaN when it fails); above, on
    NumPy views with the multi-label `Loss`'s scratch (``marginloss._losses``)
    after one compiled count of the range.
    """
    n_samples, n_classes = input.shape
    reduction = settings.reduction
    if (not n_samples or not n_classes or reduction == "none" or target.dtype is not _INT64
            or target.shape != input.shape or not input.is_contiguous()
            or not target.is_contiguous() or input.is_neg() or target.is_neg()
            or settings.margin != 1.0):
        return None
    work = n_samples * n_classes
    scale = 1.0 / (work if reduction == "mean" else n_classes)
    if work < SERIAL_BELOW:
        gradient = _empty_tensor_like(input) if requires_grad else None
        total = _losses_module._multilabel_margin.total_at(
            input.data_ptr(), target.data_ptr(), gradient.data_ptr() if requires_grad else 0,
            n_samples, n_classes, input.dtype is _FLOAT64, scale)
        return _multilabel_result(input, target, reduction, requires_grad, gradient,
                                  total, n_samples)
    n_threads = effective_n_threads(_get_num_threads(), n_samples, work)
    labels = target.numpy()
    if _multilabel_margin.count_outside_rows(labels, -1, n_classes, n_threads):
        return None  # the general path raises the error
    loss = settings.loss
    loss_out = _empty(n_samples)
    gradient = None
    if requires_grad:
        scores = input.detach().numpy()
        scratch = loss.scratch(n_threads, n_classes, scores.dtype, True)
        gradient = _empty_like(scores)
        loss.loss_gradient(scores, labels, None, settings.margin, 1, scale, _ONE, 0, scratch,
                           loss_out, gradient, n_threads)
        gradient = _from_numpy(gradient)
    else:
        scores = input.numpy()
        scratch = loss.scratch(n_threads, n_classes, scores.dtype, False)
        loss.loss(scores, labels, None, settings.margin, 1, scratch, loss_out, n_threads)
    return _multilabel_result(input, target, reduction, requires_grad, gradient,
                              _pairwise_sum(loss_out), n_samples)


def _multilabel_result(input, target, reduction, requires_grad, gradient, total, n_samples):
    """The loss tensor of `multilabel_margin_fast` from the per-sample losses' sum
    (None for NaN or a float32 overflow: the general path)."""
    if reduction == "mean":
        total = total / n_samples
    if not -_FLOAT32_MAX <= total <= _FLOAT32_MAX:
        return None  # NaN (a target out of range?) or a float32 overflow
    value = _array(total, _NP_DTYPES[input.dtype])
    if requires_grad:
        return _apply_multilabel_margin(input, value, gradient,
                                        (_MULTILABEL_MARGIN_BACKWARD, target, (reduction,)))
    return _from_numpy(value)


def eager_loss(function, settings, input, target, backward, lean):
    """The loss of an eager call, through ``function`` when a gradient is wanted.

    ``backward`` is ``(op, target, arguments)``, the backward custom op and
    its arguments after ``(grad_output, input, target)``; ``lean`` whether
    the shapes allow `_lean` (2-D C-contiguous input, target checked).
    """
    grad = input.requires_grad and _is_grad_enabled()
    result = None
    if lean:
        n_samples, n_classes = input.shape
        if n_samples and n_classes:
            result = _lean(settings, input, target, grad, n_samples, n_classes)
    if result is None:
        result = _general(settings, input, target, grad)
    value, gradient = result
    value = _asarray(value)
    if grad:
        return _apply[function](input, value, _from_numpy(gradient), backward)
    return _from_numpy(value)


def multi_margin_lean(input, target, settings):
    """Whether a multi-class call can take `_lean`."""
    return (settings.weight is None and settings.range_deferrable and input.dim() == 2
            and target.dtype is _INT64 and target.dim() == 1
            and target.shape[0] == input.shape[0] and input.is_contiguous()
            and target.is_contiguous() and not input.is_neg() and not target.is_neg())


def multilabel_margin_lean(input, target, settings):
    """Whether a multi-label call can take `_lean`."""
    return (input.dim() == 2 and target.dtype is _INT64 and target.shape == input.shape
            and input.is_contiguous() and target.is_contiguous() and not input.is_neg()
            and not target.is_neg()
            and settings.loss.name == "indices")
