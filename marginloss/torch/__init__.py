"""PyTorch integration: drop-in CPU replacements for ``torch.nn``'s margin losses.

Needs PyTorch (the ``marginloss[torch]`` extra); ``import marginloss`` alone
never imports it.

- `MultiMarginLoss` and `MultiLabelMarginLoss` are ``torch.nn.Module``s with
  the constructors of ``torch.nn.MultiMarginLoss`` and
  ``torch.nn.MultiLabelMarginLoss`` (the class weight is a buffer, so
  ``.to()`` and ``state_dict()`` treat it as PyTorch's modules do);
- `multi_margin_loss` and `multilabel_margin_loss` have the signatures of
  ``torch.nn.functional``'s.

Eagerly, on CPU float32 and float64 tensors, they run marginloss's compiled
kernels on the tensors' memory, in place (the common calls at the tensors'
addresses, the others on NumPy views; a non-contiguous input or target is
first copied to a contiguous one, as PyTorch's own kernels do).
When the input requires grad (outside ``torch.no_grad()``), the forward pass
computes the loss and its gradient in one kernel call and the backward pass
returns that gradient, times ``grad_output``; otherwise only the loss is
computed.  The kernels use ``torch.get_num_threads()`` threads.

Captured: the losses are the custom ops ``torch.ops.marginloss.multi_margin_loss``
and ``torch.ops.marginloss.multilabel_margin_loss`` (with their backward ops
``..._backward``, fake implementations and an autograd formula), so
``torch.compile`` (also with ``fullgraph=True``) and ``torch.export.export``
(also ``strict=True``) put them in their graphs and run the kernels there;
``torch.jit.trace`` records them (also under ``torch.no_grad()``), and
``torch.func``'s ``grad`` and ``vjp`` differentiate them.  TorchScript
(``torch.jit.script``) is not supported: it raises a ``RuntimeError`` saying
so.

Any other call -- a tensor on another device (CUDA, meta, ...), an input of
another dtype (float16, bfloat16, integer, complex), a tensor subclass that
overrides ``__torch_function__`` or a ``__torch_function__`` mode (other
than ``torch.device``'s default device) or a dual tensor of forward-mode AD
-- is passed to ``torch.nn.functional``'s own function with the same
arguments, so it behaves exactly as in PyTorch (including PyTorch's errors).
Under ``torch.autocast("cpu")`` a float16 or bfloat16 input is computed in
float32 by the kernels, as PyTorch's autocast does for these losses.

Errors: an invalid ``p`` or ``reduction`` is a ``ValueError`` (or
``TypeError``), as in PyTorch; an invalid array argument (a target out of
range or of a float dtype, a class weight of the wrong length, a wrong
shape...), where PyTorch raises ``RuntimeError``, is a `TorchValueError`,
`TorchTypeError` or `TorchIndexError`: marginloss's message, catchable both
as ``RuntimeError`` and as ``ValueError``/``TypeError``/``IndexError``.

Differences from PyTorch: integer targets of any dtype and class weights of
any real dtype are accepted (PyTorch wants int64 targets and weights of the
input's dtype); a non-finite class weight is an error; and the differences
of ``marginloss.multi_margin_loss`` hold (float64 accumulation, NaN scores
give NaN, an empty batch gives nan for 'mean' and 0 for 'sum').  As
PyTorch's, the losses are differentiable once with respect to ``input``
only: differentiating the gradient (``create_graph=True``, a Hessian)
raises a ``RuntimeError``, and changing a saved input in place between the
forward and the backward pass makes the backward raise.
"""

import re

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

from ._errors import TorchIndexError, TorchTypeError, TorchValueError  # noqa: E402
from ._functional import multi_margin_loss, multilabel_margin_loss  # noqa: E402
from ._modules import MultiLabelMarginLoss, MultiMarginLoss  # noqa: E402

__all__ = [
    "MultiMarginLoss",
    "MultiLabelMarginLoss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "TorchValueError",
    "TorchTypeError",
    "TorchIndexError",
]
