"""The public functions: where each call goes.

Cheap predicates first: a call on plain CPU float32/float64 tensors outside
any capture takes the eager path (``_eager``); a call under ``torch.compile``
or ``torch.export`` (dynamo), ``torch.jit.trace``, a ``torch.func``
transform, fake tensors or a dispatch mode calls the custom ops
(``_ops``), which those capture; any other call (another device or dtype, a
tensor subclass or ``__torch_function__`` mode, a dual tensor of forward-mode
AD) goes to ``torch.nn.functional``'s own function.  See docs/design.md,
"PyTorch integration".
"""

import torch
import torch.nn.functional

from .._losses import _settings, multi_margin_settings, multilabel_margin_settings
from .._validation import check_weight
from . import _eager, _sparse
from ._errors import CHECK_ERRORS, TORCHSCRIPT_UNSUPPORTED, TorchValueError, as_torch_error
from ._ops import TransformedLoss, as_numpy

Tensor = torch.Tensor
_KERNEL_DTYPES = (torch.float32, torch.float64)
_AUTOCAST_TO_FLOAT32 = (torch.float16, torch.bfloat16)
_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
_has_torch_function = torch._C._has_torch_function
_tracing_state = torch._C._get_tracing_state
_functorch_active = torch._C._are_functorch_transforms_active
_dispatch_modes = torch._C._len_torch_dispatch_stack
_is_compiling = torch.compiler.is_compiling
_forward_ad = torch.autograd.forward_ad
_STRIDED = torch.strided
_is_grad_enabled = torch.is_grad_enabled
_multi_margin_fast = _eager.multi_margin_fast
_multilabel_margin_fast = _eager.multilabel_margin_fast
_MULTI_MARGIN_BACKWARD = torch.ops.marginloss.multi_margin_loss_backward
_MULTILABEL_MARGIN_BACKWARD = torch.ops.marginloss.multilabel_margin_loss_backward
try:
    from torch.utils._device import DeviceContext as _DeviceContext
except ImportError:  # pragma: no cover - another PyTorch version
    _DeviceContext = None


def _check_tensor(value, name, optional=False):
    if isinstance(value, torch.Tensor) or (optional and value is None):
        return
    expected = "None or a torch.Tensor" if optional else "a torch.Tensor"
    raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def _torch_function_involved(tensors):
    """Whether a ``__torch_function__`` override would see PyTorch's op: a tensor
    subclass, or an active mode other than ``torch.device``'s (which only sets the
    default device of new tensors)."""
    if not _has_torch_function(tensors):
        return False
    if any(type(tensor) not in _PLAIN_TENSOR_TYPES for tensor in tensors):
        return True
    mode_stack = getattr(torch.overrides, "_get_current_function_mode_stack", None)
    if mode_stack is None or _DeviceContext is None:
        return True
    return not all(isinstance(mode, _DeviceContext) for mode in mode_stack())


def _capturing():
    """Whether the call is being captured or transformed: the custom ops' case."""
    return (_is_compiling() or _tracing_state() is not None or _functorch_active()
            or _dispatch_modes() > 0)


def _route(input, tensors):
    """'eager', 'op' or 'torch' (see the module's docstring)."""
    if _is_compiling():
        return "op" if input.dtype in _KERNEL_DTYPES else "torch"
    if _torch_function_involved(tensors) or input.dtype not in _KERNEL_DTYPES:
        return "torch"
    if not all(tensor.device.type == "cpu" for tensor in tensors):
        return "torch"
    if _capturing():
        return "op"
    # A dual tensor of forward-mode AD (which PyTorch's op refuses with a clear error).
    if _forward_ad._current_level >= 0 and _forward_ad.unpack_dual(input).tangent is not None:
        return "torch"
    return "eager"


def _autocast(input):
    """The input as PyTorch's CPU autocast gives it to these losses (float32)."""
    if (input.dtype in _AUTOCAST_TO_FLOAT32 and input.device.type == "cpu"
            and torch.is_autocast_enabled("cpu")):
        return input.float()
    return input


def _plain_fast(input, target):
    """The cheapest test that a call is eager on plain CPU float tensors."""
    return (type(target) is Tensor and type(input) in _PLAIN_TENSOR_TYPES and input.is_cpu
            and target.is_cpu and (input.dtype is torch.float32 or input.dtype is torch.float64)
            and not _has_torch_function((input, target)) and not _is_compiling()
            and _tracing_state() is None and not _functorch_active() and not _dispatch_modes()
            and _forward_ad._current_level < 0)


def _with_weight(settings, weight):
    """``settings`` with the class weight tensor ``weight`` checked (errors also
    RuntimeErrors, as PyTorch's)."""
    if weight.requires_grad:
        raise TorchValueError(
            "weight must not require grad: the loss is not differentiable with respect "
            "to weight (as in PyTorch); pass weight.detach()"
        )
    try:
        array = check_weight(as_numpy(weight))
    except CHECK_ERRORS as error:
        raise as_torch_error(error) from None
    return _settings(settings.loss, settings.p, settings.margin, array, settings.reduction,
                     settings.n_threads)


def _captured(op, backward_op, input, target, arguments):
    """The loss op (under torch.func's transforms, through `TransformedLoss`)."""
    if not _is_compiling() and _functorch_active():
        return TransformedLoss.apply(op, backward_op, input, target, arguments)
    return op(input, target, *arguments)


def _unsupported_by_torchscript(function):
    """Make ``torch.jit.script`` of ``function`` (or of code calling it) raise
    `TORCHSCRIPT_UNSUPPORTED`."""
    setattr(function, "__script_unsupported", TORCHSCRIPT_UNSUPPORTED)
    return function


@_unsupported_by_torchscript
def multi_margin_loss(input: torch.Tensor, target: torch.Tensor, p: int = 1,
                      margin: float = 1.0, weight: torch.Tensor | None = None,
                      size_average: bool | None = None, reduce: bool | None = None,
                      reduction: str = "mean") -> torch.Tensor:
    """The multi-class margin loss, as ``torch.nn.functional.multi_margin_loss``.

    For each sample with scores ``x`` (C classes) and target class ``y``::

        loss = 1/C * sum_{i != y} weight[y] * max(0, margin - x[y] + x[i]) ** p

    'none' gives the per-sample losses, 'sum' their sum and 'mean' their sum
    divided by N.  On CPU float32/float64 tensors the loss (and, when
    ``input`` requires grad, its gradient, in the same kernel call) comes
    from marginloss's kernels.  Under ``torch.compile`` and ``torch.export``
    (also ``fullgraph=True`` and ``strict=True``), ``torch.jit.trace`` and
    ``torch.func`` transforms the call is the custom op
    ``torch.ops.marginloss.multi_margin_loss`` (its backward
    ``torch.ops.marginloss.multi_margin_loss_backward``), which they capture.
    Other calls go to PyTorch's function (see the module's docstring).
    TorchScript (``torch.jit.script``) is not supported.

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
        shape for 'none'.  Differentiable once with respect to ``input``;
        differentiating the gradient raises a ``RuntimeError``, as PyTorch's.

    Raises
    ------
    ValueError
        If ``p`` or ``reduction`` is invalid (as PyTorch).
    TorchValueError, TorchTypeError, TorchIndexError
        If an array argument is invalid (a target out of range or of a float
        dtype, a weight of the wrong length, a wrong shape...), where PyTorch
        raises a ``RuntimeError``: these derive from ``RuntimeError`` and from
        ``ValueError``, ``TypeError`` or ``IndexError``.
    TypeError
        If ``input`` or ``target`` is not a tensor.

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
    >>> compiled = torch.compile(multi_margin_loss, fullgraph=True)
    >>> compiled(x, torch.tensor([3, 0]))
    tensor(0.3500, grad_fn=<CompiledFunctionBackward>)
    """
    if _plain_fast(input, target):
        settings = multi_margin_settings(p, margin, None, reduction, None, size_average,
                                         reduce, stacklevel=3)
        if weight is None:
            if input.dim() == 2 and settings.range_deferrable:
                loss = _multi_margin_fast(input, target, settings,
                                          input.requires_grad and _is_grad_enabled())
                if loss is not None:
                    return loss
        else:
            _check_tensor(weight, "weight", optional=True)
            if not _plain_fast(input, weight):
                return _slow_multi_margin(input, target, p, margin, weight, size_average,
                                          reduce, reduction)
            settings = _with_weight(settings, weight)
        return _eager.eager_loss(
            _eager.MultiMarginLossFunction, settings, input, target,
            (_MULTI_MARGIN_BACKWARD, target, (settings.p, settings.margin, weight,
                                              settings.reduction)),
            _eager.multi_margin_lean(input, target, settings))
    return _slow_multi_margin(input, target, p, margin, weight, size_average, reduce,
                              reduction)


def _slow_multi_margin(input, target, p, margin, weight, size_average, reduce, reduction):
    _check_tensor(input, "input")
    _check_tensor(target, "target")
    _check_tensor(weight, "weight", optional=True)
    input = _autocast(input)
    tensors = (input, target) if weight is None else (input, target, weight)
    route = _route(input, tensors)
    if route == "torch":
        return torch.nn.functional.multi_margin_loss(
            input, target, p=p, margin=margin, weight=weight, size_average=size_average,
            reduce=reduce, reduction=reduction)
    settings = multi_margin_settings(p, margin, None, reduction, None, size_average, reduce,
                                     stacklevel=4)
    if route == "op":
        if weight is not None and weight.requires_grad:
            _with_weight(settings, weight)  # raises
        return _captured(torch.ops.marginloss.multi_margin_loss,
                         torch.ops.marginloss.multi_margin_loss_backward, input, target,
                         (settings.p, settings.margin, weight, settings.reduction))
    if weight is not None:
        settings = _with_weight(settings, weight)
    return _eager.eager_loss(
        _eager.MultiMarginLossFunction, settings, input, target,
        (_MULTI_MARGIN_BACKWARD, target,
         (settings.p, settings.margin, weight, settings.reduction)),
        _eager.multi_margin_lean(input, target, settings))


@_unsupported_by_torchscript
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
    ``input`` requires grad, its gradient, in the same kernel call) comes
    from marginloss's kernels.  Under ``torch.compile``, ``torch.export``,
    ``torch.jit.trace`` and ``torch.func`` transforms the call is the custom
    op ``torch.ops.marginloss.multilabel_margin_loss`` (its backward
    ``torch.ops.marginloss.multilabel_margin_loss_backward``), which they
    capture.  Other calls go to PyTorch's function (see the module's
    docstring).  TorchScript (``torch.jit.script``) is not supported.

    Parameters
    ----------
    input : Tensor of shape (N, C), (C,) or ()
        Scores.
    target : Tensor of int, the shape of ``input`` (or (C,) for a 0-d input)
        Class indices padded with -1, each in ``[-1, C-1]``.  Or a sparse
        COO or CSR tensor (``torch.sparse_coo``, ``torch.sparse_csr``) of the
        input's shape, of integer or bool dtype: a 0/1 indicator matrix whose
        nonzero entries are the labels (``target_format="indicator"`` of
        ``marginloss.multilabel_margin_loss``), read without making a dense
        N x C target.  PyTorch's own op takes dense targets only; a sparse
        target needs a dense CPU float32/float64 input (float16 and bfloat16
        under CPU autocast) and an eager call (not under ``torch.compile``,
        ``torch.export``, ``torch.jit.trace`` or ``torch.func``).
    size_average, reduce : bool, default=None
        Deprecated, as in PyTorch: when either is given it overrides
        ``reduction`` with PyTorch's mapping (and a ``DeprecationWarning``).
    reduction : {'none', 'mean', 'sum'}, default='mean'

    Returns
    -------
    loss : Tensor
        Of the input's dtype: a scalar for 'mean' and 'sum'; for 'none' shape
        (N,), or () for a 1-D input.  Differentiable once with respect to
        ``input`` (with a sparse target too).

    Raises
    ------
    ValueError
        If ``reduction`` is invalid (as PyTorch).
    TorchValueError, TorchTypeError, TorchIndexError
        If the target is invalid (a wrong shape, out of range, a float
        dtype...), where PyTorch raises a ``RuntimeError``: these derive from
        ``RuntimeError`` and from ``ValueError``, ``TypeError`` or ``IndexError``.
    TypeError
        If ``input`` or ``target`` is not a tensor.

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

    The same labels as a sparse 0/1 indicator matrix (classes 0 and 3):

    >>> labels = torch.tensor([[1, 0, 0, 1]]).to_sparse_csr()
    >>> multilabel_margin_loss(x.detach(), labels)
    tensor(0.8500, dtype=torch.float64)
    """
    if type(target) is Tensor and target.layout is not _STRIDED:
        return _sparse_multilabel(input, target, size_average, reduce, reduction)
    if _plain_fast(input, target):
        settings = multilabel_margin_settings(reduction, None, size_average, reduce,
                                              stacklevel=3)
        if input.dim() == 2 and settings.loss.name == "indices":
            loss = _multilabel_margin_fast(input, target, settings,
                                           input.requires_grad and _is_grad_enabled())
            if loss is not None:
                return loss
    else:
        _check_tensor(input, "input")
        _check_tensor(target, "target")
        input = _autocast(input)
        route = _route(input, (input, target))
        if route == "torch":
            return torch.nn.functional.multilabel_margin_loss(
                input, target, size_average=size_average, reduce=reduce, reduction=reduction)
        settings = multilabel_margin_settings(reduction, None, size_average, reduce,
                                              stacklevel=3)
        if route == "op":
            return _captured(torch.ops.marginloss.multilabel_margin_loss,
                             torch.ops.marginloss.multilabel_margin_loss_backward, input,
                             target, (settings.reduction,))
    return _eager.eager_loss(
        _eager.MultiLabelMarginLossFunction, settings, input, target,
        (_MULTILABEL_MARGIN_BACKWARD, target, (settings.reduction,)),
        _eager.multilabel_margin_lean(input, target, settings))


def _sparse_multilabel(input, target, size_average, reduce, reduction):
    """A sparse COO or CSR target: a 0/1 indicator matrix (``_sparse``)."""
    _check_tensor(input, "input")
    settings = multilabel_margin_settings(reduction, None, size_average, reduce, stacklevel=4)
    return _sparse.multilabel_margin_loss(settings, _autocast(input), target, _capturing())
