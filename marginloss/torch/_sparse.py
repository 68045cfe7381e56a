"""Sparse target tensors of the multi-label loss: COO and CSR 0/1 indicator matrices.

PyTorch's ``multilabel_margin_loss`` takes a dense target of class indices
padded with -1 only.  A sparse COO or CSR target tensor has no such reading
(its implicit zeros would all name class 0), so marginloss.torch reads it as
scikit-learn's 0/1 indicator matrix, as ``target_format="indicator"`` does in
``marginloss.multilabel_margin_loss``: its canonical CSR rows go to the
kernel, and nothing of the target's N x C size is made.  The call is eager
(the custom ops, which compilers and ``torch.func`` capture, take dense
targets); the gradient flows to the dense input as on the dense path.  See
docs/design.md, "Sparse targets".
"""

import numpy as np
import torch

from .. import _engine
from .._losses import MULTILABEL_INDICATOR, _settings
from .._validation import SparseTarget
from . import _eager
from ._errors import CHECK_ERRORS, TorchTypeError, TorchValueError, as_torch_error
from ._ops import _NoDerivative, as_numpy, times_grad_output

SPARSE_LAYOUTS = (torch.sparse_coo, torch.sparse_csr)
_KERNEL_DTYPES = (torch.float32, torch.float64)
_BACKWARD_NAME = "marginloss::multilabel_margin_loss_backward"


def _coo_parts(target):
    """A coalesced (sorted, duplicates summed) 1-D or 2-D COO tensor as CSR parts."""
    shape = tuple(target.shape)
    indices = target.indices().numpy()
    data = target.values().detach().numpy()
    if len(shape) == 2:
        rows, columns = indices
        n_rows = shape[0]
        if rows.shape[0] and (int(rows.min()) < 0 or int(rows.max()) >= n_rows):
            # PyTorch's own invariant checks are off by default
            raise TorchValueError(
                f"target is not a valid sparse matrix: a row index lies outside [0, {n_rows})")
    else:
        columns = indices[0]
        rows = np.zeros_like(columns)
        n_rows = 1
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return SparseTarget(indptr, columns, data, shape)


def _csr_is_canonical(indptr, columns):
    """Whether each row's columns rise strictly (sorted, no repeats), at O(nnz)."""
    if columns.shape[0] < 2:
        return True
    rising = np.diff(columns) > 0
    starts = indptr[1:-1]  # a row that starts at entry s needs no rise from s - 1
    starts = starts[(starts > 0) & (starts < columns.shape[0])]
    rising[starts - 1] = True
    return bool(rising.all())


def as_sparse_target(target):
    """A sparse COO or CSR tensor as canonical CSR parts (`SparseTarget`), converted
    once at O(nnz) when it is not canonical; the caller's tensor is not changed."""
    layout = target.layout
    if layout not in SPARSE_LAYOUTS:
        raise TorchTypeError(
            f"target must be a dense tensor or a sparse COO or CSR tensor, got layout {layout}"
        )
    if target.device.type != "cpu":
        raise TorchTypeError(
            f"a sparse target must be on the CPU (it is read by marginloss's kernels), "
            f"got a tensor on {target.device}"
        )
    shape = tuple(target.shape)
    if len(shape) not in (1, 2) or target.dense_dim():
        raise TorchValueError(
            f"a sparse target must be a 0/1 indicator matrix of the input's shape, without "
            f"dense dimensions; got a {layout} tensor of shape {shape} with "
            f"{target.dense_dim()} dense dimension(s)"
        )
    if layout is torch.sparse_csr:
        indptr = target.crow_indices().numpy()
        columns = target.col_indices().numpy()
        if _csr_is_canonical(indptr, columns):
            return SparseTarget(indptr, columns, target.values().detach().numpy(), shape)
        target = target.to_sparse_coo()  # a new tensor, coalesced below
    if not target.is_coalesced():
        target = target.coalesce()  # a new tensor: duplicates summed, as PyTorch sums them
    return _coo_parts(target)


def _check_input(input):
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if input.device.type != "cpu" or input.dtype not in _KERNEL_DTYPES or input.is_sparse:
        raise TorchTypeError(
            "a sparse target is read by marginloss's kernels only (PyTorch's "
            "multilabel_margin_loss takes dense targets): input must be a dense CPU "
            f"float32 or float64 tensor, got {input.layout} {input.dtype} on {input.device}"
        )


def _loss_and_gradient(settings, input, target, grad):
    """``(value, gradient)`` (gradient None without ``grad``); errors also RuntimeErrors."""
    sparse = as_sparse_target(target)
    try:
        if grad:
            return _engine.loss_and_gradient(settings, as_numpy(input), sparse)
        return _engine.forward(settings, as_numpy(input), sparse), None
    except CHECK_ERRORS as error:
        raise as_torch_error(error) from None


def _backward(grad_output, input, target, settings):
    """The gradient again, times grad_output, in a graph where differentiating it
    raises (a second backward of a retained graph, or ``create_graph=True``)."""
    _, gradient = _loss_and_gradient(settings, input.detach(), target, True)
    gradient = times_grad_output(torch.from_numpy(gradient), grad_output)
    if torch.is_grad_enabled():
        gradient = _NoDerivative.apply(gradient, input, grad_output, _BACKWARD_NAME)
    return gradient


def multilabel_margin_loss(settings, input, target, capturing):
    """The multi-label loss of a dense ``input`` for a sparse 0/1 ``target`` tensor
    with the validated ``settings`` (their reduction and margin)."""
    _check_input(input)
    if capturing:
        raise TorchTypeError(
            "a sparse target is supported in eager calls only: torch.compile, "
            "torch.export, torch.jit.trace and torch.func capture the custom op, which "
            "takes a dense target (class indices padded with -1)"
        )
    settings = _settings(MULTILABEL_INDICATOR, 1, settings.margin, None, settings.reduction,
                         torch.get_num_threads())
    grad = input.requires_grad and torch.is_grad_enabled()
    value, gradient = _loss_and_gradient(settings, input, target, grad)
    value = np.asarray(value)
    if grad:
        # The Function's backward hands a tensor to the engine: the NumPy
        # gradient shared, not copied.
        return _eager.MultiLabelMarginLossFunction.apply(
            input, value, torch.from_numpy(gradient), (_backward, target, (settings,)))
    return torch.from_numpy(value)
