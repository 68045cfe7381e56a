"""Margin losses and their gradients as functions of NumPy arrays.

Each function validates its settings once, then runs the one call path:
validate the arrays, run the compiled kernel, reduce in a fixed order.  When
an argument is a Dask array the call goes to the Dask layer, which runs each
block of rows through the same path.  See docs/design.md, "Python layer" and
"Dask".
"""

import sys
from typing import Any, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _engine
from ._docstrings import document
from ._losses import Settings, multi_margin_settings, multilabel_margin_settings

__all__ = [
    "multi_margin_loss",
    "multi_margin_loss_grad",
    "multi_margin_loss_and_grad",
    "multilabel_margin_loss",
    "multilabel_margin_loss_grad",
    "multilabel_margin_loss_and_grad",
]

# A NumPy scalar of the computation's dtype ('mean', 'sum') or an array
# ('none'); a lazy Dask array when an argument is one.
LossValue = Any
Gradient = NDArray[np.floating[Any]]

_ndarray = np.ndarray


def _any_dask(*arrays: Any) -> bool:
    """Whether an argument is a Dask array (looked for only once Dask is imported,
    so that ``import marginloss`` never imports it)."""
    dask_array = sys.modules.get("dask.array")
    if dask_array is None:
        return False
    array_type = getattr(dask_array, "Array", ())  # () while dask.array is being imported
    for array in arrays:  # a loop, not any(): this runs on every call of other types
        if isinstance(array, array_type):
            return True
    return False


def _dask_layer() -> Any:
    from . import _dask

    return _dask


def _forward(settings: Settings, input: Any, target: Any, sample_weight: Any = None) -> Any:
    """The loss with validated ``settings``: the fast entry of the loss objects."""
    if ((type(input) is not _ndarray or type(target) is not _ndarray
         or sample_weight is not None) and _any_dask(input, target, sample_weight)):
        return _dask_layer().forward(settings, input, target, sample_weight)
    return _engine.forward(settings, input, target, sample_weight)


def _loss_and_gradient(settings: Settings, input: Any, target: Any, grad_output: Any = 1.0,
                       out: Any = None, sample_weight: Any = None
                       ) -> Tuple[LossValue, Gradient]:
    """``(loss, gradient)`` with validated ``settings``: the fast entry of the loss objects."""
    if ((type(input) is not _ndarray or type(target) is not _ndarray
         or sample_weight is not None or type(grad_output) is not float)
            and _any_dask(input, target, sample_weight, grad_output)):
        lazy: Tuple[LossValue, Gradient] = _dask_layer().loss_and_gradient(
            settings, input, target, grad_output, out, sample_weight)
        return lazy
    return _engine.loss_and_gradient(settings, input, target, grad_output, out, sample_weight)


# ------------------------------------------------------------ multi-class


@document
def multi_margin_loss(input: ArrayLike, target: ArrayLike, p: int = 1, margin: float = 1.0,
                      weight: Optional[ArrayLike] = None, reduction: str = "mean", *,
                      multi_class: str = "weston_watkins",
                      sample_weight: Optional[ArrayLike] = None,
                      n_threads: Optional[int] = None, size_average: Optional[bool] = None,
                      reduce: Optional[bool] = None) -> LossValue:
    settings = multi_margin_settings(p, margin, weight, reduction, n_threads,
                                     size_average, reduce, stacklevel=3,
                                     multi_class=multi_class)
    return _forward(settings, input, target, sample_weight)


@document
def multi_margin_loss_grad(input: ArrayLike, target: ArrayLike, p: int = 1,
                           margin: float = 1.0, weight: Optional[ArrayLike] = None,
                           reduction: str = "mean", *, multi_class: str = "weston_watkins",
                           sample_weight: Optional[ArrayLike] = None,
                           grad_output: ArrayLike = 1.0, out: Optional[Gradient] = None,
                           n_threads: Optional[int] = None,
                           size_average: Optional[bool] = None,
                           reduce: Optional[bool] = None) -> Gradient:
    settings = multi_margin_settings(p, margin, weight, reduction, n_threads,
                                     size_average, reduce, stacklevel=3,
                                     multi_class=multi_class)
    return _loss_and_gradient(settings, input, target, grad_output, out, sample_weight)[1]


@document
def multi_margin_loss_and_grad(input: ArrayLike, target: ArrayLike, p: int = 1,
                               margin: float = 1.0, weight: Optional[ArrayLike] = None,
                               reduction: str = "mean", *,
                               multi_class: str = "weston_watkins",
                               sample_weight: Optional[ArrayLike] = None,
                               grad_output: ArrayLike = 1.0, out: Optional[Gradient] = None,
                               n_threads: Optional[int] = None,
                               size_average: Optional[bool] = None,
                               reduce: Optional[bool] = None) -> Tuple[LossValue, Gradient]:
    settings = multi_margin_settings(p, margin, weight, reduction, n_threads,
                                     size_average, reduce, stacklevel=3,
                                     multi_class=multi_class)
    return _loss_and_gradient(settings, input, target, grad_output, out, sample_weight)


# ------------------------------------------------------------ multi-label


@document
def multilabel_margin_loss(input: ArrayLike, target: ArrayLike, reduction: str = "mean", *,
                           target_format: str = "indices", margin: float = 1.0,
                           sample_weight: Optional[ArrayLike] = None,
                           n_threads: Optional[int] = None,
                           size_average: Optional[bool] = None,
                           reduce: Optional[bool] = None) -> LossValue:
    settings = multilabel_margin_settings(reduction, n_threads, size_average, reduce,
                                          stacklevel=3, margin=margin,
                                          target_format=target_format)
    return _forward(settings, input, target, sample_weight)


@document
def multilabel_margin_loss_grad(input: ArrayLike, target: ArrayLike, reduction: str = "mean",
                                *, target_format: str = "indices", margin: float = 1.0,
                                sample_weight: Optional[ArrayLike] = None,
                                grad_output: ArrayLike = 1.0, out: Optional[Gradient] = None,
                                n_threads: Optional[int] = None,
                                size_average: Optional[bool] = None,
                                reduce: Optional[bool] = None) -> Gradient:
    settings = multilabel_margin_settings(reduction, n_threads, size_average, reduce,
                                          stacklevel=3, margin=margin,
                                          target_format=target_format)
    return _loss_and_gradient(settings, input, target, grad_output, out, sample_weight)[1]


@document
def multilabel_margin_loss_and_grad(input: ArrayLike, target: ArrayLike,
                                    reduction: str = "mean", *,
                                    target_format: str = "indices", margin: float = 1.0,
                                    sample_weight: Optional[ArrayLike] = None,
                                    grad_output: ArrayLike = 1.0,
                                    out: Optional[Gradient] = None,
                                    n_threads: Optional[int] = None,
                                    size_average: Optional[bool] = None,
                                    reduce: Optional[bool] = None
                                    ) -> Tuple[LossValue, Gradient]:
    settings = multilabel_margin_settings(reduction, n_threads, size_average, reduce,
                                          stacklevel=3, margin=margin,
                                          target_format=target_format)
    return _loss_and_gradient(settings, input, target, grad_output, out, sample_weight)
