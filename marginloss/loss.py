"""Loss objects in the style of ``torch.nn``: validated settings plus calls.

The constructors validate their settings once; the methods pass them,
already validated, to the call path of the functions (docs/design.md,
"Python layer"), which checks only the arrays of each call.
"""

from typing import Any, Dict, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._losses import Settings, multi_margin_settings, multilabel_margin_settings
from .functional import _forward, _loss_and_gradient

__all__ = ["MultiMarginLoss", "MultiLabelMarginLoss", "MultilabelMarginLoss"]


class _MarginLoss:
    """Shared behaviour: settings as read-only-by-convention attributes, repr, pickling."""

    _defaults: Dict[str, Any] = {}

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        # The settings (p, margin, weight, reduction, n_threads, and the option
        # that chose the loss: multi_class or target_format) come from _settings.
        settings = self.__dict__.get("_settings")
        if settings is not None and name in self._defaults:
            if name == settings.loss.option:
                return settings.loss.name
            return getattr(settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_settings" and name in self._defaults:
            raise AttributeError(
                f"{type(self).__name__}.{name} is read-only; create a new loss object instead"
            )
        super().__setattr__(name, value)

    def __call__(self, input: ArrayLike, target: ArrayLike,
                 sample_weight: Optional[ArrayLike] = None) -> Any:
        """The loss, as `forward`."""
        return self.forward(input, target, sample_weight)

    def forward(self, input: ArrayLike, target: ArrayLike,
                sample_weight: Optional[ArrayLike] = None) -> Any:
        """The loss of the scores ``input`` for ``target`` (see the functions' docs);
        ``sample_weight`` weighs each sample (a weighted average for 'mean')."""
        return _forward(self._settings, input, target, sample_weight)

    def gradient(self, input: ArrayLike, target: ArrayLike, grad_output: ArrayLike = 1.0,
                 out: Optional[NDArray[Any]] = None,
                 sample_weight: Optional[ArrayLike] = None) -> NDArray[Any]:
        """d loss / d input times ``grad_output``, of the input's shape."""
        _, gradient = _loss_and_gradient(self._settings, input, target, grad_output, out,
                                         sample_weight)
        return gradient

    def loss_and_gradient(self, input: ArrayLike, target: ArrayLike,
                          grad_output: ArrayLike = 1.0, out: Optional[NDArray[Any]] = None,
                          sample_weight: Optional[ArrayLike] = None
                          ) -> Tuple[Any, NDArray[Any]]:
        """``(loss, gradient)`` from one pass over ``input``."""
        return _loss_and_gradient(self._settings, input, target, grad_output, out,
                                  sample_weight)

    def extra_repr(self) -> str:
        """The non-default settings, as ``name=value`` pairs."""
        parts = []
        for name, default in self._defaults.items():
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                parts.append(f"{name}={np.array2string(value, separator=', ', threshold=8)}")
            elif value != default:
                parts.append(f"{name}={value!r}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (type(self), {name: getattr(self, name) for name in self._defaults}))


def _rebuild(cls: Any, settings: Dict[str, Any]) -> Any:
    return cls(**settings)


class MultiMarginLoss(_MarginLoss):
    """The multi-class margin (hinge) loss, as ``torch.nn.MultiMarginLoss``.

    For each sample with scores ``x`` (C classes) and target class ``y``::

        loss = 1/C * sum_{i != y} weight[y] * max(0, margin - x[y] + x[i]) ** p

    Parameters
    ----------
    p : {1, 2}, default=1
        Power of each hinge term.
    margin : float, default=1.0
        Margin, a finite real.
    weight : array_like of shape (C,), default=None
        Finite weight of each class (applied after the power).  Stored as a
        read-only float64 copy.
    reduction : {'none', 'mean', 'sum'}, default='mean'
    multi_class : {'weston_watkins', 'crammer_singer'}, default='weston_watkins'
        Keyword-only: PyTorch's sum over the wrong classes, or the
        Crammer–Singer form ``weight[y] * max(0, margin - x[y] +
        max_{i != y} x[i]) ** p`` (see ``marginloss.multi_margin_loss``).
    n_threads : int, default=None
        OpenMP threads over samples (None: OpenMP's default; -1: all cores).
    size_average, reduce : bool, default=None
        Deprecated, mapped to ``reduction`` as in PyTorch.

    Attributes
    ----------
    p, margin, weight, reduction, n_threads, multi_class
        The validated settings (read-only).

    See Also
    --------
    marginloss.multi_margin_loss : the function, with the full semantics.

    Examples
    --------
    >>> import numpy as np
    >>> from marginloss import MultiMarginLoss
    >>> loss = MultiMarginLoss(p=2, margin=0.5, reduction="sum")
    >>> loss
    MultiMarginLoss(p=2, margin=0.5, reduction='sum')
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]])
    >>> float(loss(x, [3, 0]))
    0.035
    >>> value, grad = loss.loss_and_gradient(x, [3, 0])
    >>> grad
    array([[ 0.  ,  0.  ,  0.05, -0.05],
           [-0.25,  0.1 ,  0.  ,  0.15]])
    """

    _defaults = {"p": 1, "margin": 1.0, "weight": None, "reduction": "mean", "n_threads": None,
                 "multi_class": "weston_watkins"}

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Optional[ArrayLike] = None,
                 reduction: str = "mean", *, multi_class: str = "weston_watkins",
                 n_threads: Optional[int] = None, size_average: Optional[bool] = None,
                 reduce: Optional[bool] = None) -> None:
        super().__init__(multi_margin_settings(p, margin, weight, reduction, n_threads,
                                               size_average, reduce, stacklevel=3,
                                               multi_class=multi_class))


class MultiLabelMarginLoss(_MarginLoss):
    """The multi-label margin loss, as ``torch.nn.MultiLabelMarginLoss``.

    Targets are class indices padded with -1 (the labels are the entries
    before the first -1).  With labels T and non-labels D of a sample::

        loss = 1/C * sum_{j in T} sum_{d in D} max(0, margin - x[j] + x[d])

    Parameters
    ----------
    reduction : {'none', 'mean', 'sum'}, default='mean'
    target_format : {'indices', 'indicator'}, default='indices'
        Keyword-only: PyTorch's -1-padded class indices, or a 0/1 indicator
        matrix (scikit-learn's format, dense or SciPy sparse; see
        ``marginloss.multilabel_margin_loss``).
    margin : float, default=1.0
        The margin (PyTorch's is fixed at 1; keyword-only, a marginloss
        extension).
    n_threads : int, default=None
        OpenMP threads over samples (None: OpenMP's default; -1: all cores).
    size_average, reduce : bool, default=None
        Deprecated, mapped to ``reduction`` as in PyTorch.

    Attributes
    ----------
    margin, reduction, n_threads, target_format
        The validated settings (read-only).

    See Also
    --------
    marginloss.multilabel_margin_loss : the function, with the full semantics.

    Examples
    --------
    >>> import numpy as np
    >>> from marginloss import MultiLabelMarginLoss
    >>> loss = MultiLabelMarginLoss()
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> round(float(loss(x, [[3, 0, -1, 1]])), 12)
    0.85
    >>> loss.gradient(x, [[3, 0, -1, 1]])
    array([[-0.5,  0.5,  0.5, -0.5]])
    """

    _defaults = {"margin": 1.0, "reduction": "mean", "n_threads": None,
                 "target_format": "indices"}

    def __init__(self, reduction: str = "mean", *, target_format: str = "indices",
                 margin: float = 1.0, n_threads: Optional[int] = None,
                 size_average: Optional[bool] = None, reduce: Optional[bool] = None) -> None:
        super().__init__(multilabel_margin_settings(reduction, n_threads, size_average, reduce,
                                                    stacklevel=3, margin=margin,
                                                    target_format=target_format))


#: The other spelling found in the wild (PyTorch's autograd node is ``MultilabelMarginLossBackward0``).
MultilabelMarginLoss = MultiLabelMarginLoss
