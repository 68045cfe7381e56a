"""``MultiMarginClassifier``: a linear classifier trained on the multi-class margin loss."""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._metrics import _as_array, _check_no_missing
from ._solver import _Objective, lbfgs, newton_cg


class MultiMarginClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A linear classifier trained on the multi-class margin loss.

    Minimises ``mean_s(loss(X @ coef.T + intercept, y)) + alpha / 2 * ||coef||^2``
    over ``coef`` (n_classes, n_features) and ``intercept`` (not penalised),
    where the mean is weighted by ``sample_weight`` times the class weights and
    ``loss`` is `marginloss.multi_margin_loss` (Weston–Watkins or
    Crammer–Singer, power p).  The objective and its gradient come from one
    call of the fused kernels per iteration: no Python loop over samples.

    Solvers: for the default objective (Weston–Watkins, p=2, the squared
    hinge), which is smooth and, with ``alpha > 0``, strictly convex in
    ``coef``, a Newton method with conjugate gradients on the generalised
    Hessian; the squared hinge is piecewise quadratic, so its last steps land
    on the optimum to rounding precision, and fits on equivalent data (sample
    weights against repeated samples, dense against sparse ``X``) agree to
    about 1e-12.  For the non-smooth objectives (p=1, or
    ``multi_class='crammer_singer'``) SciPy's L-BFGS-B, which works with one
    subgradient at the kinks: it reaches a good classifier but may stop on a
    kink short of the optimum, with a ``ConvergenceWarning`` that gives the
    reason when it does not meet ``tol``.

    With ``multi_class='crammer_singer'`` scikit-learn's estimator checks
    ``check_sample_weight_equivalence_on_dense_data`` and
    ``check_sample_weight_equivalence_on_sparse_data`` cannot hold: they ask
    two fits on equivalent data (integer sample weights against repeated
    samples) to give decision functions equal to a relative 1e-7.  The
    Crammer–Singer objective (a max over the wrong classes) is non-smooth and
    its optimum sits on a kink where rival scores tie; L-BFGS-B, which follows
    different floating-point paths on the two data sets, stops at two
    different points near it with a subgradient that does not vanish (on
    the checks' data their decision functions differ by about 0.1 with the
    default ``alpha``).  ``LinearSVC(multi_class='crammer_singer')`` fails the
    same two checks.  Every other check passes, and with the default
    parameters every check does.  (With p=1 the Weston–Watkins objective has
    kinks too: the checks pass on their data, but agreement to 1e-7 is not
    guaranteed there.)

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
        Maximum iterations of the solver (Newton steps, or L-BFGS-B
        iterations).
    tol : float or None, default=None
        The solver stops when the largest component of the objective's
        gradient is at most ``tol``.  None: 1e-10 for the smooth objective
        (Newton reaches it in a few steps), 1e-6 for the non-smooth ones.
    n_threads : int, default=None
        Threads of the loss kernels.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features), or (1, n_features) for two classes
    intercept_ : ndarray of shape (n_classes,), or (1,) for two classes
    n_iter_ : int
        Iterations of the solver.
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

    def __init__(self, *, p: Literal[1, 2] = 2, margin: float = 1.0,
                 multi_class: Literal["weston_watkins", "crammer_singer"] = "weston_watkins",
                 alpha: float = 1e-4, fit_intercept: bool = True,
                 class_weight: dict[Any, float] | Literal["balanced"] | None = None,
                 max_iter: int = 1000, tol: float | None = None,
                 n_threads: int | None = None) -> None:
        self.p = p
        self.margin = margin
        self.multi_class = multi_class
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.n_threads = n_threads

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_params(self) -> None:
        if not isinstance(self.alpha, numbers.Real) or not self.alpha >= 0:
            raise ValueError(f"alpha must be a non-negative real, got {self.alpha!r}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if self.tol is not None and (not isinstance(self.tol, numbers.Real)
                                     or not self.tol > 0):
            raise ValueError(f"tol must be a positive real or None, got {self.tol!r}")
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise ValueError(f"fit_intercept must be True or False, got {self.fit_intercept!r}")
        weight = self.class_weight
        if not (weight is None or isinstance(weight, dict)
                or (isinstance(weight, str) and weight == "balanced")):
            raise ValueError(
                f"class_weight must be a dict {{class: weight}}, 'balanced' or None, "
                f"got {weight!r}")

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        """Set classes_; the column index of each sample's class."""
        check_classification_targets(y)
        encoder = LabelEncoder()
        target = encoder.fit_transform(y)
        self.classes_ = encoder.classes_
        if self.classes_.size < 2:
            raise ValueError(
                f"MultiMarginClassifier needs samples of at least 2 classes in y; got 1 class "
                f"({self.classes_[0]!r})"
            )
        return np.asarray(target)

    def _sample_weight(self, X: Any, y: np.ndarray, target: np.ndarray,
                       sample_weight: ArrayLike | None) -> np.ndarray:
        """sample_weight (validated) times the class weights."""
        n_classes = self.classes_.size
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        weighted_classes = np.bincount(target, weights=sample_weight, minlength=n_classes) > 0
        if weighted_classes.sum() < 2:
            raise ValueError(
                "MultiMarginClassifier needs samples of at least 2 classes with positive "
                f"sample_weight; got {int(weighted_classes.sum())} class"
            )
        if self.class_weight is None:
            return np.asarray(sample_weight)
        # 'balanced' counts samples by their weights (scikit-learn >= 1.7)
        with np.errstate(divide="ignore", invalid="ignore"):
            class_weight = compute_class_weight(self.class_weight, classes=self.classes_,
                                                y=y, sample_weight=sample_weight)
        # a class whose samples all weigh 0 has no weight to scale
        class_weight = np.where(weighted_classes, class_weight, 0.0)
        return np.asarray(sample_weight * class_weight[target])

    def _set_coef(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        # the loss sees only differences of scores: a common shift of the
        # intercepts changes nothing, and the centred one is the unique answer
        intercept = intercept - intercept.mean()
        if coef.shape[0] == 2:
            # scikit-learn's binary convention: one row, positive for classes_[1]
            self.coef_ = (coef[1] - coef[0])[np.newaxis, :]
            self.intercept_ = np.array([intercept[1] - intercept[0]])
        else:
            self.coef_ = np.array(coef)
            self.intercept_ = np.array(intercept, dtype=np.float64)

    def fit(self, X: Any, y: ArrayLike,
            sample_weight: ArrayLike | None = None) -> MultiMarginClassifier:
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

        Raises
        ------
        ValueError
            For a bad parameter, missing values in ``y`` (NaN, None, pandas'
            NA), fewer than 2 classes with positive weight, or what
            scikit-learn's validation refuses in ``X`` and ``sample_weight``.
        """
        self._check_params()
        _check_no_missing(_as_array(y, "y"), "y")
        X, labels = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                                  dtype=[np.float64, np.float32])
        target = self._encode_target(labels)
        objective = _Objective(
            X.astype(np.float64), target, self._sample_weight(X, labels, target, sample_weight),
            self.classes_.size, alpha=float(self.alpha), fit_intercept=bool(self.fit_intercept),
            p=self.p, margin=self.margin, multi_class=self.multi_class,
            n_threads=self.n_threads)
        smooth = self.p == 2 and self.multi_class == "weston_watkins"
        tol = float(self.tol if self.tol is not None else 1e-10 if smooth else 1e-6)
        # BLAS on one thread while fitting: each iteration alternates small
        # matrix products (BLAS) with the loss kernels (OpenMP), and the two
        # thread pools then fight over the cores; on digits the fit took 3.9 s
        # with OpenBLAS's threads and 0.19 s without.
        with threadpool_limits(limits=1, user_api="blas"):
            params, n_iter, failure = (newton_cg if smooth else lbfgs)(
                objective, objective.start(), tol, int(self.max_iter))
        if failure:
            warnings.warn(f"MultiMarginClassifier did not converge to tol={tol:g}: "
                          f"{failure}", ConvergenceWarning, stacklevel=2)
        self.n_iter_ = max(n_iter, 1)  # an iteration that stops at once counts
        self._set_coef(*objective.split(params))
        return self

    def decision_function(self, X: Any) -> np.ndarray:
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
        return np.asarray(scores[:, 0] if scores.shape[1] == 1 else scores)

    def predict(self, X: Any) -> np.ndarray:
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
            return np.asarray(self.classes_[(scores > 0).astype(int)])
        return np.asarray(self.classes_[np.argmax(scores, axis=1)])
