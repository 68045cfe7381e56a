"""The ``torch.nn.Module``s: the losses with the constructors of ``torch.nn``'s.

See docs/design.md, "PyTorch integration".
"""

import torch

from .._losses import multi_margin_settings, multilabel_margin_settings
from ._errors import torchscript_unsupported
from ._functional import _check_tensor, _with_weight, multi_margin_loss, multilabel_margin_loss


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
    RuntimeError
        From ``torch.jit.script``: TorchScript is not supported; ``torch.compile``
        and ``torch.export`` capture the module (its weight buffer too), and
        ``torch.jit.trace`` records it.

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
    __prepare_scriptable__ = torchscript_unsupported
    p: int
    margin: float
    reduction: str
    weight: torch.Tensor | None

    def __init__(self, p: int = 1, margin: float = 1.0, weight: torch.Tensor | None = None,
                 size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        _check_tensor(weight, "weight", optional=True)
        settings = multi_margin_settings(p, margin, None, reduction, None, size_average, reduce,
                                         stacklevel=3)
        if weight is not None:
            _with_weight(settings, weight)  # checked once, as the other settings
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

    A sparse COO or CSR target tensor is read as a 0/1 indicator matrix of
    the labels, without a dense N x C target (PyTorch's own module takes
    dense targets only; see `multilabel_margin_loss`).

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
    RuntimeError
        From ``torch.jit.script``: TorchScript is not supported (use
        ``torch.compile``, ``torch.export`` or ``torch.jit.trace``).

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import MultiLabelMarginLoss
    >>> criterion = MultiLabelMarginLoss(reduction="none")
    >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]])
    >>> criterion(x, torch.tensor([[3, 0, -1, 1], [0, -1, -1, -1]]))
    tensor([0.8500, 0.3750])
    >>> criterion(x, torch.tensor([[1, 0, 0, 1], [1, 0, 0, 0]]).to_sparse())
    tensor([0.8500, 0.3750])
    """

    __constants__ = ["reduction"]
    __prepare_scriptable__ = torchscript_unsupported
    reduction: str

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = multilabel_margin_settings(reduction, None, size_average, reduce,
                                                    stacklevel=3).reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of the scores ``input`` for ``target`` (see `multilabel_margin_loss`)."""
        return multilabel_margin_loss(input, target, reduction=self.reduction)
