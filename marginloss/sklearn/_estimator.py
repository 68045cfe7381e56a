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

import contextlib
import numbers
import re
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from .._validation import _as_array
from ..functional import (
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multilabel_margin_loss,
)

__all__ = [
    "MultiMarginClassifier",
    "multi_margin_loss_metric",
    "multilabel_margin_loss_metric",
    "multi_margin_scorer",
    "multilabel_margin_scorer",
]


def _class_indices(y_true, labels, n_columns):
    """Column index of each label of ``y_true``; ``labels`` gives the column order."""
    y_true = _as_array(y_true, "y_true")
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be a 1-D array of class labels, got shape {y_true.shape}")
    try:
        classes = np.unique(y_true) if labels is None else _as_array(labels, "labels")
    except TypeError as exc:  # labels of types that do not compare (None beside str, ...)
        raise TypeError(f"y_true must hold labels of one comparable type; {exc}") from None
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
    return order[position]


def _decision_columns(y_score):
    """(N, C) scores; a binary decision function's (N,) d becomes (-d/2, d/2)."""
    y_score = _as_array(y_score, "y_score")
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
    return y_score


@contextlib.contextmanager
def _named_as(**names):
    """Errors of the loss functions, with the loss's argument names replaced by the
    metric's (``input`` -> ``y_score``, ...)."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        pattern = r"\b(" + "|".join(names) + r")\b"
        message = re.sub(pattern, lambda match: names[match.group(1)], str(exc))
        raise type(exc)(message) from None


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
    with _named_as(input="y_score", target="y_true", weight="class_weight"):
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
    with _named_as(input="y_score", target="y_true"):
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


class MultiMarginClassifier(ClassifierMixin, BaseEstimator):
    """A linear classifier trained on the multi-class margin loss.

    Minimises ``mean_s(loss(X @ coef.T + intercept, y)) + alpha / 2 * ||coef||^2``
    over ``coef`` (n_classes, n_features) and ``intercept`` (not penalised),
    where the mean is weighted by ``sample_weight`` times the class weights and
    ``loss`` is `marginloss.multi_margin_loss` (Weston–Watkins or
    Crammer–Singer, power p).  The objective and its gradient come from one
    call of the fused kernels per iteration: no Python loop over samples.

    Solver: SciPy's L-BFGS-B.  With p=2 (the default, the squared hinge) the
    objective is smooth and L-BFGS converges to the optimum.  With p=1 the
    hinge has kinks and L-BFGS works with one subgradient at them: it usually
    reaches a good classifier but may stop early on a kink (with a
    ConvergenceWarning when it does not meet ``tol``).

    Parameters
    ----------
    p : {1, 2}, default=2
        Power of the hinge terms.
    margin : float, default=1.0
    multi_class : {'weston_watkins', 'crammer_singer'}, default='weston_watkins'
    alpha : float, default=1e-4
        Strength of the L2 penalty on ``coef_`` (non-negative).
    fit_intercept : bool, default=True
    class_weight : dict, 'balanced' or None, default=None
        Multiplies each sample's weight by its class's weight
        ('balanced': ``n_samples / (n_classes * np.bincount(y))``).
    max_iter : int, default=1000
        Maximum L-BFGS iterations.
    tol : float, default=1e-6
        L-BFGS stops when the largest gradient component is below ``tol``.
    n_threads : int, default=None
        Threads of the loss kernels.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features), or (1, n_features) for two classes
    intercept_ : ndarray of shape (n_classes,), or (1,) for two classes
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has feature names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from marginloss.sklearn import MultiMarginClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MultiMarginClassifier().fit(X, y)
    >>> clf.coef_.shape
    (3, 4)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    def __init__(self, *, p=2, margin=1.0, multi_class="weston_watkins", alpha=1e-4,
                 fit_intercept=True, class_weight=None, max_iter=1000, tol=1e-6,
                 n_threads=None):
        self.p = p
        self.margin = margin
        self.multi_class = multi_class
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_params(self):
        if not isinstance(self.alpha, numbers.Real) or not self.alpha >= 0:
            raise ValueError(f"alpha must be a non-negative real, got {self.alpha!r}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not isinstance(self.tol, numbers.Real) or not self.tol > 0:
            raise ValueError(f"tol must be a positive real, got {self.tol!r}")

    def fit(self, X, y, sample_weight=None):
        """Fit the classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MultiMarginClassifier
        """
        self._check_params()
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                             dtype=[np.float64, np.float32])
        check_classification_targets(y)
        encoder = LabelEncoder()
        target = encoder.fit_transform(y)
        self.classes_ = encoder.classes_
        n_classes = self.classes_.size
        if n_classes < 2:
            raise ValueError(
                f"MultiMarginClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_[0]!r})"
            )
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        weighted_classes = np.bincount(target, weights=sample_weight, minlength=n_classes) > 0
        if weighted_classes.sum() < 2:
            raise ValueError(
                "MultiMarginClassifier needs samples of at least 2 classes with positive "
                f"sample_weight; got {int(weighted_classes.sum())} class"
            )
        if self.class_weight is not None:
            # 'balanced' counts samples by their weights (scikit-learn >= 1.6)
            with np.errstate(divide="ignore", invalid="ignore"):
                class_weight = compute_class_weight(self.class_weight, classes=self.classes_,
                                                    y=y, sample_weight=sample_weight)
            # a class whose samples all weigh 0 has no weight to scale
            class_weight = np.where(weighted_classes, class_weight, 0.0)
            sample_weight = sample_weight * class_weight[target]
        n_features = X.shape[1]
        X = X.astype(np.float64) if not scipy.sparse.issparse(X) else X.astype(np.float64)
        fit_intercept = bool(self.fit_intercept)

        def objective(params):
            coef = params[: n_classes * n_features].reshape(n_classes, n_features)
            scores = np.asarray(X @ coef.T)
            if fit_intercept:
                scores = scores + params[n_classes * n_features:]
            scores = np.ascontiguousarray(scores)
            loss, grad_scores = multi_margin_loss_and_grad(
                scores, target, p=self.p, margin=self.margin, multi_class=self.multi_class,
                sample_weight=sample_weight, n_threads=self.n_threads)
            grad_coef = np.asarray(grad_scores.T @ X) + self.alpha * coef
            value = float(loss) + 0.5 * self.alpha * float(np.vdot(coef, coef))
            if fit_intercept:
                return value, np.concatenate([grad_coef.ravel(), grad_scores.sum(axis=0)])
            return value, grad_coef.ravel()

        # Start from small class-mean directions rather than 0: at 0 every score
        # ties, and the Crammer-Singer max has a kink there that stalls L-BFGS.
        start = np.zeros(n_classes * n_features + (n_classes if fit_intercept else 0))
        # (weighted means, so that sample weights and repeated samples start alike)
        total = sample_weight.sum()
        overall = np.asarray(X.T @ sample_weight).ravel() / total if total > 0 else 0.0
        for k in range(n_classes):
            weights = np.where(target == k, sample_weight, 0.0)
            if weights.sum() > 0:
                mean = np.asarray(X.T @ weights).ravel() / weights.sum()
                start[k * n_features:(k + 1) * n_features] = 1e-3 * (mean - overall)
        # BLAS on one thread while fitting: each iteration alternates small
        # matrix products (BLAS) with the loss kernels (OpenMP), and the two
        # thread pools then fight over the cores; on digits the fit took 3.9 s
        # with OpenBLAS's threads and 0.19 s without.
        with threadpool_limits(limits=1, user_api="blas"):
            result = scipy.optimize.minimize(
                objective, start, jac=True, method="L-BFGS-B",
                options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 1e-15},
            )
        if not result.success:
            warnings.warn(
                f"MultiMarginClassifier: L-BFGS did not converge ({result.message}); "
                f"increase max_iter or tol", ConvergenceWarning, stacklevel=2)
        self.n_iter_ = max(int(result.nit), 1)  # an iteration that stops at once counts
        coef = result.x[: n_classes * n_features].reshape(n_classes, n_features)
        intercept = result.x[n_classes * n_features:] if fit_intercept else np.zeros(n_classes)
        if n_classes == 2:
            # scikit-learn's binary convention: one row, positive for classes_[1]
            self.coef_ = (coef[1] - coef[0])[np.newaxis, :]
            self.intercept_ = np.array([intercept[1] - intercept[0]])
        else:
            self.coef_ = coef
            self.intercept_ = np.asarray(intercept, dtype=np.float64)
        return self

    def decision_function(self, X):
        """Scores, one column per class ((n_samples,) for two classes: > 0 means classes_[1]).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                          dtype=[np.float64, np.float32])
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The class of the largest score (of the score's sign for two classes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
