"""PyTorch integration: drop-in CPU replacements for ``torch.nn``'s margin losses.

Needs PyTorch (the ``marginloss[torch]`` extra); ``import marginloss`` alone
never imports it.

- `MultiMarginLoss` and `MultiLabelMarginLoss` are ``torch.nn.Module``s with
  the constructors of ``torch.nn.MultiMarginLoss`` and
  ``torch.nn.MultiLabelMarginLoss`` (the class weight is a buffer, so
  ``.to()`` and ``state_dict()`` treat it as PyTorch's modules do);
- `multi_margin_loss` and `multilabel_margin_loss` have the signatures of
  ``torch.nn.functional``'s.

On CPU float32 and float64 tensors they run marginloss's compiled kernels on
NumPy views of the tensors' memory (a non-contiguous input or target is first
copied to a contiguous one, as PyTorch's own kernels do).  When the input
requires grad (outside ``torch.no_grad()``), the forward pass computes the
loss and its gradient together (one pass over the scores) and the backward
pass returns that gradient, times ``grad_output``; otherwise only the loss is
computed.  The kernels use ``torch.get_num_threads()`` threads.

Any other call -- a tensor on another device (CUDA, meta, ...), an input of
another dtype (float16, bfloat16, integer, complex), a tensor subclass that
overrides ``__torch_function__`` or a ``__torch_function__`` mode (other
than ``torch.device``'s default device), a call under a ``torch.func`` transform
(``grad``, ``vmap``, ...) or with a dual tensor of forward-mode AD -- is
passed to ``torch.nn.functional``'s own function with the same arguments, so
it behaves exactly as in PyTorch (including PyTorch's errors, e.g. for
float16 on the CPU, or for forward-mode AD).  Under ``torch.compile`` the
losses are not traced: they run eagerly, between compiled graphs.  Under
``torch.autocast("cpu")`` a float16 or bfloat16 input is computed in float32
by the kernels, as PyTorch's autocast does for these losses.

Differences from PyTorch: bad arguments give marginloss's ``ValueError`` and
``TypeError`` (naming the argument) instead of PyTorch's ``RuntimeError``;
integer targets of any dtype and class weights of any real dtype are
accepted (PyTorch wants int64 targets and weights of the input's dtype); a
non-finite class weight is an error; and the differences of
``marginloss.multi_margin_loss`` hold (float64 accumulation, NaN scores give
NaN, an empty batch gives nan for 'mean' and 0 for 'sum').  As PyTorch's,
the losses are differentiable once with respect to ``input`` only: a second
derivative raises a ``RuntimeError``.
"""

import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np

from ._engine import forward as multi_margin_forward
from ._engine import forward as multilabel_margin_forward
from ._engine import loss_and_gradient as multi_margin_loss_gradient
from ._engine import loss_and_gradient as multilabel_margin_loss_gradient
from ._losses import multi_margin_settings, multilabel_margin_settings

try:
    import torch
    import torch.nn.functional
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "marginloss.torch needs PyTorch; install it with pip install 'marginloss[torch]'"
    ) from exc

# The oldest PyTorch release the tests ran with (the ``torch`` extra asks for it).
_MIN_TORCH = (2, 13)


def _release(version: str) -> tuple[int, int] | None:
    """(major, minor) of a version string such as '2.13.0+cpu', or None."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return None if match is None else (int(match[1]), int(match[2]))


_installed = _release(str(torch.__version__))
if _installed is not None and _installed < _MIN_TORCH:
    raise ImportError(
        f"marginloss.torch needs PyTorch {_MIN_TORCH[0]}.{_MIN_TORCH[1]} or later, the "
        f"oldest release it is tested with; the installed torch is {torch.__version__}. "
        f"Upgrade it: pip install 'torch>={_MIN_TORCH[0]}.{_MIN_TORCH[1]}'"
    )

__all__ = [
    "MultiMarginLoss",
    "MultiLabelMarginLoss",
    "multi_margin_loss",
    "multilabel_margin_loss",
]

_KERNEL_DTYPES = (torch.float32, torch.float64)
_AUTOCAST_TO_FLOAT32 = (torch.float16, torch.bfloat16)
_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
try:
    from torch.utils._device import DeviceContext as _DeviceContext
except ImportError:  # pragma: no cover - another PyTorch version
    _DeviceContext = None


_P = ParamSpec("_P")
_R = TypeVar("_R")


# ------------------------------------------------------------------ helpers


def _eager(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``torch.compiler.disable``, typed: under ``torch.compile`` a call of
    ``function`` is a graph break and runs eagerly."""
    disabled: Callable[_P, _R] = torch.compiler.disable(function)
    return disabled



def _check_tensor(value, name, optional=False):
    if isinstance(value, torch.Tensor) or (optional and value is None):
        return
    expected = "None or a torch.Tensor" if optional else "a torch.Tensor"
    raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def _functorch_active():
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return active is not None and active()


def _torch_function_involved(tensors):
    """Whether a ``__torch_function__`` override would see PyTorch's op: a tensor
    subclass, or an active mode other than ``torch.device``'s (which only sets the
    default device of new tensors, and the kernels make theirs on the CPU)."""
    if not torch.overrides.has_torch_function(tensors):
        return False
    if any(type(tensor) not in _PLAIN_TENSOR_TYPES for tensor in tensors):
        return True
    mode_stack = getattr(torch.overrides, "_get_current_function_mode_stack", None)
    if mode_stack is None or _DeviceContext is None:
        return True
    return not all(isinstance(mode, _DeviceContext) for mode in mode_stack())


def _autocast(input):
    """The input as PyTorch's CPU autocast gives it to these losses (float32)."""
    if (input.dtype in _AUTOCAST_TO_FLOAT32 and input.device.type == "cpu"
            and torch.is_autocast_enabled("cpu")):
        return input.float()
    return input


def _runs_on_kernels(input, tensors):
    """Whether the compiled kernels compute this call (else PyTorch's own op does)."""
    if _torch_function_involved(tensors) or _functorch_active():
        return False
    if input.dtype not in _KERNEL_DTYPES:
        return False
    if not all(tensor.device.type == "cpu" for tensor in tensors):
        return False
    # A dual tensor of forward-mode AD (which PyTorch's op refuses with a clear error).
    return torch.autograd.forward_ad.unpack_dual(input).tangent is None


def _as_numpy(tensor):
    """A NumPy view of a CPU tensor's memory (no copy for a plain tensor)."""
    return tensor.detach().resolve_conj().resolve_neg().numpy()


def _loss(function, input, target, settings, forward, loss_gradient):
    """The loss through the autograd Function ``function`` when a gradient is wanted,
    else from the loss kernel alone (under no_grad, or for an input without grad)."""
    if torch.is_grad_enabled() and input.requires_grad:
        return function.apply(input, target, settings, loss_gradient)
    loss = forward(settings, _as_numpy(input), _as_numpy(target))
    return torch.from_numpy(np.asarray(loss))


def _weight_array(weight):
    """The class weight as a NumPy array for marginloss's validation, or None."""
    if weight is None:
        return None
    if weight.requires_grad:
        raise ValueError(
            "weight must not require grad: the loss is not differentiable with respect "
            "to weight (as in PyTorch); pass weight.detach()"
        )
    return _as_numpy(weight)


class _KernelLoss(torch.autograd.Function):
    """Loss and gradient from marginloss's kernels in one pass; backward scales it.

    ``forward(ctx, input, target, settings, loss_gradient)`` takes validated
    settings and the function of the call path (``marginloss._engine``) that computes the
    loss and its gradient into an ``out`` buffer.
    """

    @staticmethod
    def forward(ctx, input, target, settings, loss_gradient):
        # The kernel writes the gradient (for grad_output = 1) into a new
        # array, which backward returns as a tensor sharing its memory.
        loss, gradient = loss_gradient(settings, _as_numpy(input), _as_numpy(target), 1.0,
                                       None)
        ctx.save_for_backward(torch.from_numpy(gradient))
        return torch.from_numpy(np.asarray(loss))

    @staticmethod
    def backward(ctx, grad_output):
        create_graph = torch.is_grad_enabled()
        (gradient,) = ctx.saved_tensors
        with torch.no_grad():
            if grad_output.dim() == 0 and grad_output.item() == 1.0:
                grad_input = gradient  # loss.backward(): no copy
            else:
                # One sample per row of a 2-D input; one sample for a 1-D or 0-d one.
                per_sample = grad_output.reshape(-1, 1) if gradient.dim() == 2 else (
                    grad_output.reshape(()))
                # PyTorch multiplies its gradient by grad_output last, as here.
                grad_input = gradient * per_sample
        if create_graph:
            # As PyTorch's: the gradient exists in the new graph, but
            # differentiating it again raises.
            grad_input = _NoSecondDerivative.apply(grad_input.detach().requires_grad_())
        return grad_input, None, None, None


class _NoSecondDerivative(torch.autograd.Function):
    """Identity whose backward raises: the gradient of a margin loss, under create_graph."""

    @staticmethod
    def forward(ctx, gradient):
        return gradient.view_as(gradient)

    @staticmethod
    def backward(ctx, grad_output):
        raise RuntimeError(
            "marginloss.torch's margin losses are differentiable once (as PyTorch's): "
            "their gradient with respect to input has no derivative"
        )


class MultiMarginLossFunction(_KernelLoss):
    """``torch.autograd.Function`` of `multi_margin_loss` on marginloss's kernels.

    Called by `multi_margin_loss` (use that); the ``grad_fn`` of its results
    is a ``MultiMarginLossFunctionBackward``.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import multi_margin_loss
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
    >>> type(multi_margin_loss(x, torch.tensor([3])).grad_fn).__name__
    'MultiMarginLossFunctionBackward'
    """


class MultiLabelMarginLossFunction(_KernelLoss):
    """``torch.autograd.Function`` of `multilabel_margin_loss` on marginloss's kernels.

    Called by `multilabel_margin_loss` (use that); the ``grad_fn`` of its
    results is a ``MultiLabelMarginLossFunctionBackward``.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import multilabel_margin_loss
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], requires_grad=True)
    >>> loss = multilabel_margin_loss(x, torch.tensor([[3, 0, -1, 1]]))
    >>> type(loss.grad_fn).__name__
    'MultiLabelMarginLossFunctionBackward'
    """


# ---------------------------------------------------------------- functions


@_eager  # under torch.compile: a graph break, run eagerly
def multi_margin_loss(input: torch.Tensor, target: torch.Tensor, p: int = 1,
                      margin: float = 1.0, weight: torch.Tensor | None = None,
                      size_average: bool | None = None, reduce: bool | None = None,
                      reduction: str = "mean") -> torch.Tensor:
    """The multi-class margin loss, as ``torch.nn.functional.multi_margin_loss``.

    For each sample with scores ``x`` (C classes) and target class ``y``::

        loss = 1/C * sum_{i != y} weight[y] * max(0, margin - x[y] + x[i]) ** p

    'none' gives the per-sample losses, 'sum' their sum and 'mean' their sum
    divided by N.  On CPU float32/float64 tensors the loss (and, when
    ``input`` requires grad, its gradient, in the same pass) comes from
    marginloss's kernels; other calls go to PyTorch's function (see the
    module's docstring).

    Parameters
    ----------
    input : Tensor of shape (N, C), (C,) or ()
        Scores.
    target : Tensor of int, shape (N,) or () (or (1,) for one sample)
        The class index of each sample, ``0 <= target < C``.
    p : {1, 2}, default=1
        Power of each hinge term.
    margin : float, default=1.0
        Margin, a finite real.
    weight : Tensor of shape (C,), default=None
        Finite weight of each class, applied through the target class after
        the power.  It must not require grad.
    size_average, reduce : bool, default=None
        Deprecated, as in PyTorch: when either is given it overrides
        ``reduction`` with PyTorch's mapping (and a ``DeprecationWarning``).
    reduction : {'none', 'mean', 'sum'}, default='mean'

    Returns
    -------
    loss : Tensor
        Of the input's dtype: a scalar for 'mean' and 'sum', the target's
        shape for 'none'.  Differentiable once with respect to ``input``.

    Raises
    ------
    TypeError
        If ``input`` or ``target`` is not a tensor, or an argument has the
        wrong type or dtype.
    ValueError
        If an argument has the wrong value or shape (p not 1 or 2, a target
        out of range, a weight that requires grad, ...).

    See Also
    --------
    marginloss.multi_margin_loss : the NumPy function, with the full semantics.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import multi_margin_loss
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]], requires_grad=True)
    >>> loss = multi_margin_loss(x, torch.tensor([3, 0]))
    >>> loss
    tensor(0.3500, grad_fn=<MultiMarginLossFunctionBackward>)
    >>> loss.backward()
    >>> x.grad
    tensor([[ 0.1250,  0.1250,  0.1250, -0.3750],
            [-0.2500,  0.1250,  0.0000,  0.1250]])
    """
    _check_tensor(input, "input")
    _check_tensor(target, "target")
    _check_tensor(weight, "weight", optional=True)
    input = _autocast(input)
    tensors = (input, target) if weight is None else (input, target, weight)
    if not _runs_on_kernels(input, tensors):
        return torch.nn.functional.multi_margin_loss(
            input, target, p=p, margin=margin, weight=weight, size_average=size_average,
            reduce=reduce, reduction=reduction)
    settings = multi_margin_settings(p, margin, _weight_array(weight), reduction,
                                     torch.get_num_threads(), size_average, reduce,
                                     stacklevel=3)
    return _loss(MultiMarginLossFunction, input, target, settings, multi_margin_forward,
                 multi_margin_loss_gradient)


@_eager  # under torch.compile: a graph break, run eagerly
def multilabel_margin_loss(input: torch.Tensor, target: torch.Tensor,
                           size_average: bool | None = None, reduce: bool | None = None,
                           reduction: str = "mean") -> torch.Tensor:
    """The multi-label margin loss, as ``torch.nn.functional.multilabel_margin_loss``.

    Each sample's target row lists its classes by index, padded with -1 (the
    labels are the entries before the first -1).  With scores ``x`` (C
    classes), labels T and non-labels D::

        loss = 1/C * sum_{j in T} sum_{d in D} max(0, 1 - x[j] + x[d])

    'none' gives the per-sample losses, 'sum' their sum and 'mean' their sum
    divided by N.  On CPU float32/float64 tensors the loss (and, when
    ``input`` requires grad, its gradient, in the same pass) comes from
    marginloss's kernels; other calls go to PyTorch's function (see the
    module's docstring).

    Parameters
    ----------
    input : Tensor of shape (N, C), (C,) or ()
        Scores.
    target : Tensor of int, the shape of ``input`` (or (C,) for a 0-d input)
        Class indices padded with -1, each in ``[-1, C-1]``.
    size_average, reduce : bool, default=None
        Deprecated, as in PyTorch: when either is given it overrides
        ``reduction`` with PyTorch's mapping (and a ``DeprecationWarning``).
    reduction : {'none', 'mean', 'sum'}, default='mean'

    Returns
    -------
    loss : Tensor
        Of the input's dtype: a scalar for 'mean' and 'sum'; for 'none' shape
        (N,), or () for a 1-D input.  Differentiable once with respect to
        ``input``.

    Raises
    ------
    TypeError
        If ``input`` or ``target`` is not a tensor, or an argument has the
        wrong type or dtype.
    ValueError
        If an argument has the wrong value or shape (a target of the wrong
        shape or out of range, ...).

    See Also
    --------
    marginloss.multilabel_margin_loss : the NumPy function, with the full semantics.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import multilabel_margin_loss
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8]], dtype=torch.float64, requires_grad=True)
    >>> loss = multilabel_margin_loss(x, torch.tensor([[3, 0, -1, 1]]))
    >>> loss
    tensor(0.8500, dtype=torch.float64, grad_fn=<MultiLabelMarginLossFunctionBackward>)
    >>> loss.backward()
    >>> x.grad
    tensor([[-0.5000,  0.5000,  0.5000, -0.5000]], dtype=torch.float64)
    """
    _check_tensor(input, "input")
    _check_tensor(target, "target")
    input = _autocast(input)
    if not _runs_on_kernels(input, (input, target)):
        return torch.nn.functional.multilabel_margin_loss(
            input, target, size_average=size_average, reduce=reduce, reduction=reduction)
    settings = multilabel_margin_settings(reduction, torch.get_num_threads(), size_average,
                                          reduce, stacklevel=3)
    return _loss(MultiLabelMarginLossFunction, input, target, settings,
                 multilabel_margin_forward, multilabel_margin_loss_gradient)


# ------------------------------------------------------------------ modules


class MultiMarginLoss(torch.nn.Module):
    """The multi-class margin loss, as ``torch.nn.MultiMarginLoss``.

    ``forward(input, target)`` is `multi_margin_loss` with the module's
    settings::

        loss = 1/C * sum_{i != y} weight[y] * max(0, margin - x[y] + x[i]) ** p

    Parameters
    ----------
    p : {1, 2}, default=1
        Power of each hinge term.
    margin : float, default=1.0
        Margin, a finite real.
    weight : Tensor of shape (C,), default=None
        Finite weight of each class, registered as the buffer ``weight``
        (moved by ``.to()``, saved in ``state_dict()``).
    size_average, reduce : bool, default=None
        Deprecated, mapped to ``reduction`` as in PyTorch.
    reduction : {'none', 'mean', 'sum'}, default='mean'

    Attributes
    ----------
    p, margin, reduction
        The validated settings.
    weight : Tensor or None
        The class weight buffer.

    Raises
    ------
    TypeError, ValueError
        At construction, for invalid settings (as `multi_margin_loss`).

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import MultiMarginLoss
    >>> criterion = MultiMarginLoss(margin=0.5, weight=torch.tensor([1.0, 2.0, 1.0, 1.0]))
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]], requires_grad=True)
    >>> criterion(x, torch.tensor([3, 0]))
    tensor(0.0750, grad_fn=<MultiMarginLossFunctionBackward>)
    >>> sorted(criterion.state_dict())
    ['weight']
    """

    __constants__ = ["p", "margin", "reduction"]
    p: int
    margin: float
    reduction: str
    weight: torch.Tensor | None

    def __init__(self, p: int = 1, margin: float = 1.0, weight: torch.Tensor | None = None,
                 size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        _check_tensor(weight, "weight", optional=True)
        settings = multi_margin_settings(p, margin, _weight_array(weight), reduction, None,
                                         size_average, reduce, stacklevel=3)
        self.p, self.margin, self.reduction = settings.p, settings.margin, settings.reduction
        self.register_buffer("weight", weight)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of the scores ``input`` for ``target`` (see `multi_margin_loss`)."""
        return multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                 weight=self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(torch.nn.Module):
    """The multi-label margin loss, as ``torch.nn.MultiLabelMarginLoss``.

    ``forward(input, target)`` is `multilabel_margin_loss` with the module's
    reduction: targets are class indices padded with -1, and with labels T
    and non-labels D of a sample::

        loss = 1/C * sum_{j in T} sum_{d in D} max(0, 1 - x[j] + x[d])

    Parameters
    ----------
    size_average, reduce : bool, default=None
        Deprecated, mapped to ``reduction`` as in PyTorch.
    reduction : {'none', 'mean', 'sum'}, default='mean'

    Attributes
    ----------
    reduction
        The validated reduction.

    Raises
    ------
    TypeError, ValueError
        At construction, for an invalid reduction.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import MultiLabelMarginLoss
    >>> criterion = MultiLabelMarginLoss(reduction="none")
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]])
    >>> criterion(x, torch.tensor([[3, 0, -1, 1], [0, -1, -1, -1]]))
    tensor([0.8500, 0.3750])
    """

    __constants__ = ["reduction"]
    reduction: str

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = multilabel_margin_settings(reduction, None, size_average, reduce,
                                                    stacklevel=3).reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of the scores ``input`` for ``target`` (see `multilabel_margin_loss`)."""
        return multilabel_margin_loss(input, target, reduction=self.reduction)
