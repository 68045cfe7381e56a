"""Loss objects in the style of ``torch.nn``: validated settings plus calls.

The constructors validate their arguments at once; the methods call the
functions of ``marginloss.functional`` with those settings.
"""

import numpy as np

from .functional import (
    multi_margin_forward,
    multi_margin_loss_gradient,
    multi_margin_settings,
    multilabel_margin_forward,
    multilabel_margin_loss_gradient,
    multilabel_margin_settings,
)

__all__ = ["MultiMarginLoss", "MultiLabelMarginLoss", "MultilabelMarginLoss"]


class _MarginLoss:
    """Shared behaviour: settings as read-only-by-convention attributes, repr, pickling."""

    _defaults = {}

    def __init__(self, settings):
        self._settings = settings

    def __getattr__(self, name):
        # Attributes p, margin, weight, reduction, n_threads come from the settings.
        settings = self.__dict__.get("_settings")
        if settings is not None and name in settings._fields:
            return getattr(settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name != "_settings" and name in self._defaults:
            raise AttributeError(
                f"{type(self).__name__}.{name} is read-only; create a new loss object instead"
            )
        super().__setattr__(name, value)

    def __call__(self, input, target, sample_weight=None):
        """The loss, as `forward`."""
        return self.forward(input, target, sample_weight)

    def forward(self, input, target, sample_weight=None):
        """The loss of the scores ``input`` for ``target`` (see the functions' docs);
        ``sample_weight`` weighs each sample (a weighted average for 'mean')."""
        return self._forward(self._settings, input, target, sample_weight)

    def gradient(self, input, target, grad_output=1.0, out=None, sample_weight=None):
        """d loss / d input times ``grad_output``, of the input's shape."""
        return self._loss_gradient(self._settings, input, target, grad_output, out,
                                   sample_weight)[1]

    def loss_and_gradient(self, input, target, grad_output=1.0, out=None, sample_weight=None):
        """``(loss, gradient)`` from one pass over ``input``."""
        return self._loss_gradient(self._settings, input, target, grad_output, out,
                                   sample_weight)

    def extra_repr(self):
        """The non-default settings, as ``name=value`` pairs."""
        parts = []
        for name, default in self._defaults.items():
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                parts.append(f"{name}={np.array2string(value, separator=', ', threshold=8)}")
            elif value != default:
                parts.append(f"{name}={value!r}")
        return ", ".join(parts)

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def __reduce__(self):
        return (_rebuild, (type(self), self._settings._asdict()))


def _rebuild(cls, settings):
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
    _forward = staticmethod(multi_margin_forward)
    _loss_gradient = staticmethod(multi_margin_loss_gradient)

    def __init__(self, p=1, margin=1.0, weight=None, reduction="mean", *,
                 multi_class="weston_watkins", n_threads=None, size_average=None, reduce=None):
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
        matrix (scikit-learn's format; see ``marginloss.multilabel_margin_loss``).
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
    _forward = staticmethod(multilabel_margin_forward)
    _loss_gradient = staticmethod(multilabel_margin_loss_gradient)

    def __init__(self, reduction="mean", *, target_format="indices", margin=1.0,
                 n_threads=None, size_average=None, reduce=None):
        super().__init__(multilabel_margin_settings(reduction, n_threads, size_average, reduce,
                                                    stacklevel=3, margin=margin,
                                                    target_format=target_format))


#: The other spelling found in the wild (PyTorch's autograd node is ``MultilabelMarginLossBackward0``).
MultilabelMarginLoss = MultiLabelMarginLoss
