"""Margin-loss metrics with scikit-learn's signature, and scorers built on them.

- ``multi_margin_loss_metric`` and ``multilabel_margin_loss_metric`` have
  scikit-learn's metric signature ``(y_true, y_score, *, sample_weight=None,
  ...)``: class labels of any type (mapped to the columns of ``y_score``
  through ``labels``), or a 0/1 indicator matrix for the multi-label loss.
  They validate their inputs as scikit-learn's metrics do: a non-finite score
  is a ValueError, where the loss functions propagate NaN as PyTorch does.
- ``multi_margin_scorer`` and ``multilabel_margin_scorer`` build scorers for
  ``scoring=`` in ``cross_val_score`` or ``GridSearchCV``: they score an
  estimator's ``decision_function`` with the negated loss (greater is better,
  as every scikit-learn scorer), mapping labels through the estimator's
  ``classes_``.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import assert_all_finite

from .. import _arrays, _validation, functional

# the package's argument conversion (missing values are checked here, with
# scikit-learn's wording) and losses, typed (for mypy --strict)
_as_array: Callable[[object, str], np.ndarray] = _arrays._to_array
_multi_margin_loss: Callable[..., Any] = functional.multi_margin_loss
_multilabel_margin_loss: Callable[..., Any] = functional.multilabel_margin_loss
_arrays_is_sparse: Callable[[object], bool] = _validation.is_sparse


def _is_missing(value: object) -> bool:
    """None, NaN or pandas' NA (whose comparisons are NA, of ambiguous truth)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:
        return True
    except ValueError:  # an array inside an object array: not a missing value
        return False


def _check_no_missing(values: np.ndarray, name: str) -> None:
    """A target with missing values (a pandas nullable column with NA, ...) is a ValueError
    that says so, rather than an error about the dtype the missing value gave it."""
    if values.ndim == 0:
        return  # (not an array of labels: the loss's checks say so)
    if values.dtype.kind == "f":
        missing = np.isnan(values)
    elif values.dtype.kind == "O":
        pandas = sys.modules.get("pandas")  # (its isna: about 4x faster, when loaded)
        missing = (np.asarray(pandas.isna(values), dtype=bool) if pandas is not None
                   else np.frompyfunc(_is_missing, 1, 1)(values).astype(bool))
    else:
        return
    if np.any(missing):
        where = np.unravel_index(np.flatnonzero(missing)[0], values.shape)
        index = ", ".join(str(int(i)) for i in where)
        raise ValueError(
            f"{name} contains missing values (NaN, None or pandas' NA), the first at "
            f"{name}[{index}]; every sample needs a label: drop or fill them first"
        )


def _check_no_missing_sparse(y_true: Any) -> None:
    """`_check_no_missing` of a sparse float (N, C) ``y_true``, on its stored entries."""
    entries = y_true.tocoo()
    missing = np.isnan(entries.data)
    if np.any(missing):
        first = int(np.flatnonzero(missing)[0])
        index = f"{int(entries.row[first])}, {int(entries.col[first])}"
        raise ValueError(
            f"y_true contains missing values (NaN, None or pandas' NA), the first at "
            f"y_true[{index}]; every sample needs a label: drop or fill them first"
        )


def _check_finite_scores(y_score: np.ndarray) -> None:
    """scikit-learn's metrics' check: a NaN or infinite score is a ValueError
    ("Input y_score contains NaN.", ...), with scikit-learn's wording."""
    if (y_score.dtype.kind == "O" and y_score.ndim > 0
            and np.any(np.frompyfunc(_is_missing, 1, 1)(y_score))):
        # pandas' nullable floats with NA (object arrays once converted by NumPy)
        raise ValueError("Input y_score contains NaN.")
    if y_score.dtype.kind == "f":
        # (its quick test sums the scores: +inf and -inf give an 'invalid value' warning)
        with np.errstate(invalid="ignore", over="ignore"):
            assert_all_finite(y_score, input_name="y_score")


def _class_indices(y_true: Any, labels: Any, n_columns: int) -> np.ndarray:
    """Column index of each label of ``y_true``; ``labels`` gives the column order."""
    y_true = _as_array(y_true, "y_true")
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be a 1-D array of class labels, got shape {y_true.shape}")
    _check_no_missing(y_true, "y_true")
    try:
        classes = np.unique(y_true) if labels is None else _as_array(labels, "labels")
    except TypeError as exc:  # labels of types that do not compare (None beside str, ...)
        raise TypeError(f"y_true must hold labels of one comparable type; {exc}") from None
    if labels is not None:
        _check_no_missing(classes, "labels")
    if classes.ndim != 1 or classes.shape[0] != n_columns:
        where = "the classes in y_true" if labels is None else "labels"
        raise ValueError(
            f"y_score has {n_columns} columns but {where} give {classes.size} classes; "
            f"pass labels= with the class of each column (an estimator's classes_)"
        )
    try:
        order = np.argsort(classes, kind="stable")
        sorted_classes = classes[order]
        if np.unique(sorted_classes).size != sorted_classes.size:
            raise ValueError("labels must not repeat a class")
        position = np.searchsorted(sorted_classes, y_true)
        position = np.clip(position, 0, sorted_classes.size - 1)
        unknown = sorted_classes[position] != y_true
    except TypeError as exc:  # labels, or labels and y_true, that do not compare
        raise TypeError(
            f"y_true and labels must hold labels of one comparable type; {exc}"
        ) from None
    if np.any(unknown):
        first = y_true[np.flatnonzero(unknown)[0]].item()
        raise ValueError(f"y_true contains {first!r}, which is not in labels")
    return np.asarray(order[position])


def _decision_columns(y_score: Any) -> np.ndarray:
    """(N, C) scores; a binary decision function's (N,) d becomes (-d/2, d/2)."""
    y_score = _as_array(y_score, "y_score")
    _check_finite_scores(y_score)
    if y_score.dtype.kind not in "biuf":
        raise TypeError(f"y_score must be an array of real numbers, got dtype {y_score.dtype}")
    if y_score.ndim == 1:
        half = 0.5 * y_score.astype(np.float64)
        return np.column_stack([-half, half])
    if y_score.ndim != 2:
        raise ValueError(
            f"y_score must be a 2-D array (N, C) of decision scores, or 1-D for a binary "
            f"decision function; got shape {y_score.shape}"
        )
    return np.asarray(y_score)


@contextlib.contextmanager
def _named_as(**names: str) -> Iterator[None]:
    """Errors of the loss functions, with the loss's argument names replaced by the
    metric's (``input`` -> ``y_score``, ...)."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        pattern = r"\b(" + "|".join(names) + r")\b"
        message = re.sub(pattern, lambda match: names[match.group(1)], str(exc))
        raise type(exc)(message) from None


def multi_margin_loss_metric(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    p: Literal[1, 2] = 1,
    margin: float = 1.0,
    class_weight: ArrayLike | None = None,
    multi_class: Literal["weston_watkins", "crammer_singer"] = "weston_watkins",
) -> float:
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

    Raises
    ------
    ValueError
        For a NaN or infinite score, with scikit-learn's message ("Input
        y_score contains NaN.", "Input y_score contains infinity or a value
        too large for dtype('float64')."), as ``sklearn.metrics.hinge_loss``
        raises; for missing values in ``y_true`` (NaN, None, pandas' NA); for
        labels of ``y_true`` not in ``labels``, or a number of classes that
        does not match the columns of ``y_score``.
    TypeError
        For scores that are not real numbers.

    Notes
    -----
    The loss function ``marginloss.multi_margin_loss`` propagates a NaN
    score into the loss, as PyTorch does; this metric, scikit-learn's kind of
    object, refuses it as scikit-learn's metrics do.

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
    with _named_as(input="y_score", target="y_true", weight="class_weight"):
        return float(_multi_margin_loss(scores, target, p=p, margin=margin, weight=class_weight,
                                        multi_class=multi_class, sample_weight=sample_weight))


def multilabel_margin_loss_metric(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    margin: float = 1.0,
) -> float:
    """The mean multi-label margin loss of decision scores, scikit-learn style.

    Parameters
    ----------
    y_true : array_like or SciPy sparse array/matrix of shape (N, C)
        0/1 indicator matrix of the true labels (``MultiLabelBinarizer``'s
        format; its ``sparse_output=True`` CSR matrix is read as it is,
        without a dense N x C copy).
    y_score : array_like of shape (N, C)
        Decision scores, one column per label.
    sample_weight : array_like of shape (N,), default=None
    margin : float, default=1.0

    Returns
    -------
    loss : float
        Lower is better.

    Raises
    ------
    ValueError
        For a NaN or infinite score, with scikit-learn's message (as for
        `multi_margin_loss_metric`); for missing values in ``y_true``; for
        entries of ``y_true`` other than 0 and 1.

    Examples
    --------
    >>> from marginloss.sklearn import multilabel_margin_loss_metric
    >>> round(multilabel_margin_loss_metric([[1, 0, 0, 1]], [[0.1, 0.2, 0.4, 0.8]]), 6)
    0.85
    >>> from scipy.sparse import csr_array
    >>> y_true = csr_array([[1, 0, 0, 1]])
    >>> round(multilabel_margin_loss_metric(y_true, [[0.1, 0.2, 0.4, 0.8]]), 6)
    0.85
    """
    if _arrays_is_sparse(y_true):  # read as it is (CSR rows), never made dense
        target = y_true
        if y_true.dtype.kind == "f":
            _check_no_missing_sparse(y_true)
    else:
        target = _as_array(y_true, "y_true")
        _check_no_missing(target, "y_true")
    scores = _as_array(y_score, "y_score")
    _check_finite_scores(scores)
    with _named_as(input="y_score", target="y_true"):
        return float(_multilabel_margin_loss(scores, target, target_format="indicator",
                                             margin=margin, sample_weight=sample_weight))


class _DecisionScorer:
    """A scorer: the negated metric of ``estimator.decision_function(X)``."""

    def __init__(self, metric: Callable[..., float], uses_classes: bool,
                 kwargs: dict[str, Any]) -> None:
        self._metric = metric
        self._uses_classes = uses_classes
        self._kwargs = kwargs

    def __call__(self, estimator: Any, X: Any, y: ArrayLike,
                 sample_weight: ArrayLike | None = None) -> float:
        y_score = estimator.decision_function(X)
        kwargs = dict(self._kwargs)
        if self._uses_classes:
            kwargs.setdefault("labels", estimator.classes_)
        return -self._metric(y, y_score, sample_weight=sample_weight, **kwargs)

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in self._kwargs.items())
        return f"{self._metric.__name__.replace('_metric', '_scorer')}({settings})"


def multi_margin_scorer(**kwargs: Any) -> Callable[..., float]:
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


def multilabel_margin_scorer(**kwargs: Any) -> Callable[..., float]:
    """A scorer for ``scoring=``: minus `multilabel_margin_loss_metric` of the
    estimator's ``decision_function`` (targets as indicator matrices, dense or SciPy
    sparse).

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


