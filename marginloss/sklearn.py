"""scikit-learn integration: margin-loss metrics and scorers.

Needs scikit-learn (the ``marginloss[sklearn]`` extra); ``import marginloss``
alone never imports it.

- `multi_margin_loss_metric` and `multilabel_margin_loss_metric` have
  scikit-learn's metric signature ``(y_true, y_score, *, sample_weight=None,
  ...)``: class labels of any type (mapped to the columns of ``y_score``
  through ``labels``), or a 0/1 indicator matrix for the multi-label loss.
- `multi_margin_scorer` and `multilabel_margin_scorer` build scorers for
  ``scoring=`` in ``cross_val_score`` or ``GridSearchCV``: they score an
  estimator's ``decision_function`` with the negated loss (greater is better,
  as every scikit-learn scorer), mapping labels through the estimator's
  ``classes_``.
"""

try:
    import sklearn  # noqa: F401 - checked here so that the error names the extra
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "marginloss.sklearn needs scikit-learn and SciPy; install them with "
        "pip install 'marginloss[sklearn]'"
    ) from exc

import numpy as np

from .functional import multi_margin_loss, multilabel_margin_loss

__all__ = [
    "multi_margin_loss_metric",
    "multilabel_margin_loss_metric",
    "multi_margin_scorer",
    "multilabel_margin_scorer",
]


def _class_indices(y_true, labels, n_columns):
    """Column index of each label of ``y_true``; ``labels`` gives the column order."""
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be a 1-D array of class labels, got shape {y_true.shape}")
    classes = np.unique(y_true) if labels is None else np.asarray(labels)
    if classes.ndim != 1 or classes.shape[0] != n_columns:
        where = "the classes in y_true" if labels is None else "labels"
        raise ValueError(
            f"y_score has {n_columns} columns but {where} give {classes.size} classes; "
            f"pass labels= with the class of each column (an estimator's classes_)"
        )
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    if np.unique(sorted_classes).size != sorted_classes.size:
        raise ValueError("labels must not repeat a class")
    position = np.searchsorted(sorted_classes, y_true)
    position = np.clip(position, 0, sorted_classes.size - 1)
    unknown = sorted_classes[position] != y_true
    if np.any(unknown):
        first = y_true[np.flatnonzero(unknown)[0]].item()
        raise ValueError(f"y_true contains {first!r}, which is not in labels")
    return order[position]


def _decision_columns(y_score):
    """(N, C) scores; a binary decision function's (N,) d becomes (-d/2, d/2)."""
    y_score = np.asarray(y_score)
    if y_score.ndim == 1:
        half = 0.5 * y_score.astype(np.float64)
        return np.column_stack([-half, half])
    return y_score


def multi_margin_loss_metric(y_true, y_score, *, labels=None, sample_weight=None, p=1,
                             margin=1.0, class_weight=None, multi_class="weston_watkins"):
    """The mean multi-class margin loss of decision scores, scikit-learn style.

    ``mean_n s_n * loss_n`` (weighted by ``sample_weight``) with ``loss_n``
    the loss of ``marginloss.multi_margin_loss`` for the class of ``y_true[n]``
    (Weston–Watkins: ``1/C sum_{i != y} w[y] max(0, margin - x[y] + x[i]) ** p``;
    Crammer–Singer: ``w[y] max(0, margin - x[y] + max_{i != y} x[i]) ** p``).

    Parameters
    ----------
    y_true : array_like of shape (N,)
        True class labels, of any type.
    y_score : array_like of shape (N, C) or (N,)
        Decision scores, one column per class in the order of ``labels``;
        a binary decision function's 1-D output d is read as columns
        ``(-d/2, d/2)``, so that Crammer–Singer gives the binary hinge loss.
    labels : array_like of shape (C,), default=None
        The class of each column of ``y_score`` (an estimator's
        ``classes_``).  None: the sorted classes found in ``y_true``.
    sample_weight : array_like of shape (N,), default=None
    p : {1, 2}, default=1
    margin : float, default=1.0
    class_weight : array_like of shape (C,), default=None
        Weight of each column's class (``weight`` of the loss).
    multi_class : {'weston_watkins', 'crammer_singer'}, default='weston_watkins'

    Returns
    -------
    loss : float
        Lower is better.

    Examples
    --------
    >>> from marginloss.sklearn import multi_margin_loss_metric
    >>> y_true = ["cat", "dog", "cat"]
    >>> y_score = [[2.0, -1.0], [0.5, 0.2], [0.0, 0.1]]
    >>> round(multi_margin_loss_metric(y_true, y_score, multi_class="crammer_singer"), 6)
    0.8
    """
    scores = _decision_columns(y_score)
    target = _class_indices(y_true, labels, scores.shape[-1])
    return float(multi_margin_loss(scores, target, p=p, margin=margin, weight=class_weight,
                                   multi_class=multi_class, sample_weight=sample_weight))


def multilabel_margin_loss_metric(y_true, y_score, *, sample_weight=None, margin=1.0):
    """The mean multi-label margin loss of decision scores, scikit-learn style.

    Parameters
    ----------
    y_true : array_like of shape (N, C)
        0/1 indicator matrix of the true labels (``MultiLabelBinarizer``'s
        format).
    y_score : array_like of shape (N, C)
        Decision scores, one column per label.
    sample_weight : array_like of shape (N,), default=None
    margin : float, default=1.0

    Returns
    -------
    loss : float
        Lower is better.

    Examples
    --------
    >>> from marginloss.sklearn import multilabel_margin_loss_metric
    >>> round(multilabel_margin_loss_metric([[1, 0, 0, 1]], [[0.1, 0.2, 0.4, 0.8]]), 6)
    0.85
    """
    return float(multilabel_margin_loss(y_score, y_true, target_format="indicator",
                                        margin=margin, sample_weight=sample_weight))


class _DecisionScorer:
    """A scorer: the negated metric of ``estimator.decision_function(X)``."""

    def __init__(self, metric, uses_classes, kwargs):
        self._metric = metric
        self._uses_classes = uses_classes
        self._kwargs = kwargs

    def __call__(self, estimator, X, y, sample_weight=None):
        y_score = estimator.decision_function(X)
        kwargs = dict(self._kwargs)
        if self._uses_classes:
            kwargs.setdefault("labels", estimator.classes_)
        return -self._metric(y, y_score, sample_weight=sample_weight, **kwargs)

    def __repr__(self):
        settings = ", ".join(f"{key}={value!r}" for key, value in self._kwargs.items())
        return f"{self._metric.__name__.replace('_metric', '_scorer')}({settings})"


def multi_margin_scorer(**kwargs):
    """A scorer for ``scoring=``: minus `multi_margin_loss_metric` of the
    estimator's ``decision_function``, with ``labels=estimator.classes_``.

    Parameters
    ----------
    **kwargs
        Passed to `multi_margin_loss_metric` (``p``, ``margin``,
        ``class_weight``, ``multi_class``).

    Returns
    -------
    scorer : callable ``(estimator, X, y, sample_weight=None) -> float``
        Greater is better (the negated loss), as scikit-learn expects.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.svm import LinearSVC
    >>> from marginloss.sklearn import multi_margin_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scores = cross_val_score(LinearSVC(), X, y, cv=3,
    ...                          scoring=multi_margin_scorer(multi_class="crammer_singer"))
    >>> bool((scores <= 0).all())
    True
    """
    return _DecisionScorer(multi_margin_loss_metric, True, kwargs)


def multilabel_margin_scorer(**kwargs):
    """A scorer for ``scoring=``: minus `multilabel_margin_loss_metric` of the
    estimator's ``decision_function`` (targets as indicator matrices).

    Parameters
    ----------
    **kwargs
        Passed to `multilabel_margin_loss_metric` (``margin``).

    Returns
    -------
    scorer : callable ``(estimator, X, Y, sample_weight=None) -> float``
        Greater is better (the negated loss).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.multiclass import OneVsRestClassifier
    >>> from sklearn.svm import LinearSVC
    >>> from marginloss.sklearn import multilabel_margin_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4))
    >>> Y = (X[:, :3] > 0).astype(int)
    >>> model = OneVsRestClassifier(LinearSVC()).fit(X, Y)
    >>> bool(multilabel_margin_scorer()(model, X, Y) <= 0)
    True
    """
    return _DecisionScorer(multilabel_margin_loss_metric, False, kwargs)
