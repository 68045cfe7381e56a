"""marginloss.sklearn.MultiMarginClassifier against scikit-learn's estimator checks."""

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from marginloss import multi_margin_loss
from marginloss.sklearn import MultiMarginClassifier


_CRAMMER_SINGER = MultiMarginClassifier(multi_class="crammer_singer")
_NON_SMOOTH = (
    "the Crammer-Singer objective is non-smooth (a max over the wrong classes); its "
    "optimum sits on a kink where rival scores tie, where L-BFGS-B stops with a "
    "subgradient that does not vanish, and two equivalent fits do not agree to "
    "the 1e-7 this check demands: their decision functions differ by about 0.1 (the class "
    "docstring says so; LinearSVC fails it too)"
)


def _expected_failures(estimator):
    if estimator is _CRAMMER_SINGER:
        return {"check_sample_weight_equivalence_on_dense_data": _NON_SMOOTH,
                "check_sample_weight_equivalence_on_sparse_data": _NON_SMOOTH}
    return {}


# scikit-learn's check_array_api_input skips itself unless SCIPY_ARRAY_API=1 (and an
# array-API library) is set up: it cannot apply here, because the estimator computes
# with marginloss's compiled kernels, which take NumPy arrays only (array-API inputs
# are not declared in its tags).
# Default parameters pass every check, the sample-weight equivalence checks (fits on
# equivalent data agreeing to rtol 1e-7) included: the Newton solver of the smooth
# default objective ends on the optimum.  p=1 and class weights run them too.
@parametrize_with_checks([
    MultiMarginClassifier(),
    _CRAMMER_SINGER,
    MultiMarginClassifier(p=1, class_weight="balanced"),
], expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_default_classifier_on_iris_and_in_a_grid_search():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    for multi_class in ("weston_watkins", "crammer_singer"):
        for p in (1, 2):
            model = make_pipeline(StandardScaler(),
                                  MultiMarginClassifier(p=p, multi_class=multi_class))
            model.fit(X, names)
            assert model.score(X, names) > 0.93, (multi_class, p)
            assert set(model.predict(X)) <= set(names)
    search = GridSearchCV(make_pipeline(StandardScaler(), MultiMarginClassifier()),
                          {"multimarginclassifier__alpha": [1e-4, 1e-2]}, cv=3)
    assert search.fit(X, names).best_score_ > 0.9


def test_the_fit_minimises_the_documented_objective():
    # at the optimum the gradient of mean loss + alpha/2 ||coef||^2 vanishes:
    # perturbing the solution never lowers the objective
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = rng.integers(0, 3, 80)
    model = MultiMarginClassifier(alpha=0.1, tol=1e-10, max_iter=5000).fit(X, y)

    def objective(coef, intercept):
        scores = X @ coef.T + intercept
        return multi_margin_loss(scores, y, p=2) + 0.05 * np.sum(coef ** 2)

    best = objective(model.coef_, model.intercept_)
    for _ in range(20):
        delta = 1e-3 * rng.normal(size=model.coef_.shape)
        assert objective(model.coef_ + delta, model.intercept_) >= best - 1e-12


def test_sparse_and_dense_fit_alike():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 5)) * (rng.random((60, 5)) < 0.5)
    y = rng.integers(0, 3, 60)
    dense = MultiMarginClassifier(alpha=0.1, tol=1e-10).fit(X, y)
    sparse = MultiMarginClassifier(alpha=0.1, tol=1e-10).fit(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("params, message", [
    ({"alpha": -1.0}, "alpha must be a non-negative real, got -1.0"),
    ({"max_iter": 0}, "max_iter must be a positive integer, got 0"),
    ({"tol": 0.0}, "tol must be a positive real or None, got 0.0"),
    ({"p": 3}, "p must be 1 or 2, got 3"),
    ({"multi_class": "ovr"}, "multi_class must be 'weston_watkins' or 'crammer_singer'"),
    ({"fit_intercept": "no"}, "fit_intercept must be True or False, got 'no'"),
    ({"class_weight": "bal"},
     r"class_weight must be a dict \{class: weight\}, 'balanced' or None, got 'bal'"),
    ({"class_weight": [1.0, 2.0, 3.0]}, r"class_weight must be a dict .*, got \[1.0, 2.0, 3.0\]"),
])
def test_bad_parameters(params, message):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=message):
        MultiMarginClassifier(**params).fit(X, y)
