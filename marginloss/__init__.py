"""marginloss: fast, exact margin losses for multi-class and multi-label classification.

PyTorch's ``MultiMarginLoss`` and ``MultiLabelMarginLoss`` with their
gradients, for NumPy arrays, on multi-threaded Cython kernels that accumulate
in float64.  See ``marginloss.functional`` for the functions and
``marginloss.loss`` for the loss objects.
"""

from ._openmp import openmp_enabled
from .functional import (
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)
from .loss import MultiLabelMarginLoss, MultilabelMarginLoss, MultiMarginLoss

__version__ = "0.1.0"

__all__ = [
    "MultiMarginLoss",
    "MultiLabelMarginLoss",
    "MultilabelMarginLoss",
    "multi_margin_loss",
    "multi_margin_loss_grad",
    "multi_margin_loss_and_grad",
    "multilabel_margin_loss",
    "multilabel_margin_loss_grad",
    "multilabel_margin_loss_and_grad",
    "openmp_enabled",
]
