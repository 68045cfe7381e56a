"""The losses as ``torch.library`` custom ops, for the compiler and the transforms.

Four ops in the ``marginloss`` namespace: ``multi_margin_loss`` and
``multilabel_margin_loss`` (the loss), and ``multi_margin_loss_backward`` and
``multilabel_margin_loss_backward`` (the gradient times ``grad_output``).  Each
has a fake implementation (shapes and dtypes only), so that ``torch.compile``
and ``torch.export`` capture it in their graphs; the losses have an autograd
formula that calls the backward op, so that a compiled or exported backward
pass captures it too.  The backward ops have no derivative: differentiating a
gradient raises PyTorch's "derivative ... is not implemented".

The ops run the whole of marginloss's validation and call path
(``marginloss._engine``) on NumPy views of the tensors: they are the general
path, not the eager fast one (``_eager``).  See docs/design.md,
"PyTorch integration".
"""

from typing import Optional

import numpy as np
import torch

from .. import _engine
from .._losses import multi_margin_settings, multilabel_margin_settings
from ._errors import CHECK_ERRORS, as_torch_error

Tensor = torch.Tensor


def as_numpy(tensor):
    """A NumPy view of a CPU tensor's memory (no copy for a plain tensor)."""
    return tensor.detach().resolve_conj().resolve_neg().numpy()


def multi_margin_call(p, margin, weight, reduction):
    """Settings of a multi-class call from validated arguments (weight: a tensor or None)."""
    weight = None if weight is None else as_numpy(weight)
    return multi_margin_settings(p, margin, weight, reduction, torch.get_num_threads(), None,
                                 None, stacklevel=3)


def multilabel_margin_call(reduction):
    """Settings of a multi-label call from a validated reduction."""
    return multilabel_margin_settings(reduction, torch.get_num_threads(), None, None,
                                      stacklevel=3)


def _as_tensor(value):
    return torch.from_numpy(np.array(value))  # a copy: never NumPy's read-only scalars


def _loss(settings, input, target):
    """The loss tensor of ``settings()``'s loss (errors as `as_torch_error` gives them)."""
    try:
        return _as_tensor(_engine.forward(settings(), as_numpy(input), as_numpy(target)))
    except CHECK_ERRORS as error:
        raise as_torch_error(error) from None


def _gradient(settings, grad_output, input, target):
    """The gradient times ``grad_output`` of ``settings()``'s loss."""
    try:
        _, gradient = _engine.loss_and_gradient(settings(), as_numpy(input), as_numpy(target))
    except CHECK_ERRORS as error:
        raise as_torch_error(error) from None
    gradient = torch.from_numpy(gradient)
    if grad_output.dim() == 0 and grad_output.item() == 1.0:
        return gradient  # loss.backward(): no pass to multiply by 1
    return times_grad_output(gradient, grad_output)


def times_grad_output(gradient, grad_output):
    """The gradient for grad_output = 1 times ``grad_output``, last, as PyTorch's
    kernels multiply (one grad_output per row of a 2-D input for 'none')."""
    if grad_output.dim() == 0:
        return gradient * grad_output
    per_sample = grad_output.reshape(-1, 1) if gradient.dim() == 2 else grad_output.reshape(())
    return gradient * per_sample


# ------------------------------------------------------------ multi-class


@torch.library.custom_op("marginloss::multi_margin_loss", mutates_args=(),
                         device_types="cpu")
def multi_margin_loss_op(input: Tensor, target: Tensor, p: int, margin: float,
                         weight: Optional[Tensor], reduction: str) -> Tensor:
    """The multi-class margin loss on marginloss's kernels (validated settings)."""
    return _loss(lambda: multi_margin_call(p, margin, weight, reduction), input, target)


@torch.library.custom_op("marginloss::multi_margin_loss_backward", mutates_args=(),
                         device_types="cpu")
def multi_margin_loss_backward_op(grad_output: Tensor, input: Tensor, target: Tensor, p: int,
                                  margin: float, weight: Optional[Tensor],
                                  reduction: str) -> Tensor:
    """The gradient of `multi_margin_loss_op` with respect to input, times grad_output."""
    return _gradient(lambda: multi_margin_call(p, margin, weight, reduction), grad_output,
                     input, target)


@multi_margin_loss_op.register_fake
def _(input, target, p, margin, weight, reduction):
    # 'none' has the target's shape (() for a 0-d target), as in PyTorch.
    return input.new_empty(target.shape if reduction == "none" else ())


@multi_margin_loss_backward_op.register_fake
def _(grad_output, input, target, p, margin, weight, reduction):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _multi_margin_setup(ctx, inputs, output):
    input, target, p, margin, weight, reduction = inputs
    ctx.save_for_backward(input, target, weight)
    ctx.settings = (p, margin, reduction)


def _multi_margin_backward(ctx, grad_output):
    input, target, weight = ctx.saved_tensors
    p, margin, reduction = ctx.settings
    grad_input = torch.ops.marginloss.multi_margin_loss_backward(
        grad_output, input, target, p, margin, weight, reduction)
    return grad_input, None, None, None, None, None


multi_margin_loss_op.register_autograd(_multi_margin_backward, setup_context=_multi_margin_setup)


# ------------------------------------------------------------ multi-label


@torch.library.custom_op("marginloss::multilabel_margin_loss", mutates_args=(),
                         device_types="cpu")
def multilabel_margin_loss_op(input: Tensor, target: Tensor, reduction: str) -> Tensor:
    """The multi-label margin loss on marginloss's kernels (a validated reduction)."""
    return _loss(lambda: multilabel_margin_call(reduction), input, target)


@torch.library.custom_op("marginloss::multilabel_margin_loss_backward", mutates_args=(),
                         device_types="cpu")
def multilabel_margin_loss_backward_op(grad_output: Tensor, input: Tensor, target: Tensor,
                                       reduction: str) -> Tensor:
    """The gradient of `multilabel_margin_loss_op` with respect to input, times grad_output."""
    return _gradient(lambda: multilabel_margin_call(reduction), grad_output, input, target)


@multilabel_margin_loss_op.register_fake
def _(input, target, reduction):
    # 'none': (N,) for a 2-D input, () otherwise, as in PyTorch.
    shape = input.shape[:1] if reduction == "none" and input.dim() == 2 else ()
    return input.new_empty(shape)


@multilabel_margin_loss_backward_op.register_fake
def _(grad_output, input, target, reduction):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _multilabel_margin_setup(ctx, inputs, output):
    input, target, reduction = inputs
    ctx.save_for_backward(input, target)
    ctx.reduction = reduction


def _multilabel_margin_backward(ctx, grad_output):
    input, target = ctx.saved_tensors
    grad_input = torch.ops.marginloss.multilabel_margin_loss_backward(
        grad_output, input, target, ctx.reduction)
    return grad_input, None, None


multilabel_margin_loss_op.register_autograd(_multilabel_margin_backward,
                                            setup_context=_multilabel_margin_setup)


# --------------------------------------------- no derivative of the gradient


def _no_derivative(name):
    def setup_context(ctx, inputs, output):
        pass

    def backward(ctx, grad):
        raise RuntimeError(f"derivative for marginloss::{name} is not implemented")

    return backward, setup_context


for _op, _name in ((multi_margin_loss_backward_op, "multi_margin_loss_backward"),
                   (multilabel_margin_loss_backward_op, "multilabel_margin_loss_backward")):
    _backward, _setup = _no_derivative(_name)
    _op.register_autograd(_backward, setup_context=_setup)


# ------------------------------------------------------------------- vmap


def _vmap_by_rows(op):
    """A vmap rule for ``op``: the op once per entry of the batch, results stacked."""
    def rule(info, in_dims, *args):
        results = []
        for index in range(info.batch_size):
            sliced = [arg if dim is None else arg.select(dim, index)
                      for arg, dim in zip(args, in_dims)]
            results.append(op(*sliced))
        return torch.stack(results), 0
    return rule


for _op in (multi_margin_loss_op, multi_margin_loss_backward_op, multilabel_margin_loss_op,
            multilabel_margin_loss_backward_op):
    _op.register_vmap(_vmap_by_rows(_op))


# ------------------------------------------------- torch.func's transforms


class TransformedLoss(torch.autograd.Function):
    """The loss op under ``torch.func`` transforms (``grad``, ``vjp``, ``vmap``),
    which need an autograd.Function with ``setup_context``.

    ``apply(op, backward_op, input, target, arguments)``: ``op(input, target,
    *arguments)``, and ``backward_op(grad_output, input, target, *arguments)``
    in the backward pass.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(op, backward_op, input, target, arguments):
        return op(input, target, *arguments)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, backward_op, input, target, arguments = inputs
        ctx.save_for_backward(input, target)
        ctx.backward_op = backward_op
        ctx.arguments = arguments

    @staticmethod
    def backward(ctx, grad_output):
        input, target = ctx.saved_tensors
        with torch.no_grad():
            grad_input = ctx.backward_op(grad_output, input, target, *ctx.arguments)
        if torch.is_grad_enabled():  # a transform that may differentiate the gradient
            grad_input = _NoDerivative.apply(grad_input, input, grad_output,
                                             ctx.backward_op._qualified_op_name)
        return None, None, grad_input, None, None


class _NoDerivative(torch.autograd.Function):
    """The gradient of a loss, in a graph that depends on the input and
    grad_output: differentiating it raises, as PyTorch's second derivative of
    these losses does (``apply(gradient, input, grad_output, name)``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(gradient, input, grad_output, name):
        return gradient.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.name = inputs[3]

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(f"derivative for {ctx.name} is not implemented")
