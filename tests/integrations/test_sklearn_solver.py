"""MultiMarginClassifier's solvers: the Newton solver of the default (smooth) objective
reaches the optimum, and every ConvergenceWarning or error of a fit gives its reason."""

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.sparse
from sklearn.exceptions import ConvergenceWarning

from marginloss import multi_margin_loss_and_grad
from marginloss.sklearn import MultiMarginClassifier
from marginloss.sklearn import _solver


def _data(seed=0, n_samples=40, n_features=6, n_classes=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = rng.integers(0, n_classes, n_samples)
    return X, y, rng


def _objective(X, y, sample_weight, **options):
    settings = dict(alpha=0.01, fit_intercept=True, p=2, margin=1.0,
                    multi_class="weston_watkins", n_threads=None)
    settings.update(options)
    return _solver._Objective(X, y, sample_weight, int(y.max()) + 1, **settings)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_objective_value_and_gradient_against_the_loss_and_finite_differences(fit_intercept):
    X, y, rng = _data()
    weight = rng.uniform(0.5, 2.0, y.size)
    objective = _objective(X, y, weight, fit_intercept=fit_intercept)
    params = rng.normal(size=objective.n_params)
    value, grad = objective.value_and_grad(params)
    coef, intercept = objective.split(params)
    loss, _ = multi_margin_loss_and_grad(X @ coef.T + intercept, y, p=2, sample_weight=weight)
    assert value == pytest.approx(float(loss) + 0.005 * np.sum(coef ** 2), rel=1e-14)
    step = 1e-6
    for i in rng.choice(objective.n_params, 8, replace=False):
        shift = np.zeros_like(params)
        shift[i] = step
        numeric = (objective.value_and_grad(params + shift)[0]
                   - objective.value_and_grad(params - shift)[0]) / (2 * step)
        assert grad[i] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_hessian_is_the_derivative_of_the_gradient(sparse):
    # the squared hinge's gradient is piecewise linear: away from the kinks a
    # small step changes it by exactly H @ step
    X, y, rng = _data(1)
    weight = rng.uniform(0.5, 2.0, y.size)
    weight[:5] = 0.0  # (samples of zero weight: no curvature)
    objective = _objective(scipy.sparse.csr_matrix(X) if sparse else X, y, weight)
    params = rng.normal(size=objective.n_params)
    _, grad = objective.value_and_grad(params)
    product = objective.hessian_product()
    for _ in range(5):
        direction = rng.normal(size=params.size)
        expected = product(direction)
        _, moved = objective.value_and_grad(params + 1e-7 * direction)
        np.testing.assert_allclose((moved - grad) / 1e-7, expected, rtol=1e-5, atol=1e-8)


def test_newton_reaches_the_optimum_where_lbfgs_agrees():
    X, y, rng = _data(2)
    weight = rng.uniform(0.5, 2.0, y.size)
    objective = _objective(X, y, weight)
    params, n_iter, failure = _solver.newton_cg(objective, objective.start(), 1e-12, 100)
    assert failure == "" and n_iter < 30, failure
    assert np.max(np.abs(objective.value_and_grad(params)[1])) <= 1e-12
    reference = scipy.optimize.minimize(objective.value_and_grad, objective.start(), jac=True,
                                        method="L-BFGS-B",
                                        options={"gtol": 1e-12, "ftol": 0, "maxiter": 10000})
    np.testing.assert_allclose(params, reference.x, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sparse", [False, True])
def test_default_fits_on_weighted_and_repeated_samples_agree(sparse):
    X, y, rng = _data(3, n_samples=30, n_features=40, n_classes=3)
    weight = rng.integers(0, 5, y.size)
    container = scipy.sparse.csr_matrix if sparse else np.asarray
    weighted = MultiMarginClassifier().fit(container(X), y, sample_weight=weight)
    order = rng.permutation(int(weight.sum()))
    repeated = MultiMarginClassifier().fit(
        container(np.repeat(X, weight, axis=0)[order]), np.repeat(y, weight)[order])
    np.testing.assert_allclose(weighted.decision_function(X), repeated.decision_function(X),
                               rtol=1e-10, atol=1e-12)


def test_multi_class_intercepts_are_centred():
    X, y, _ = _data(4)
    model = MultiMarginClassifier(multi_class="crammer_singer").fit(X + 3.0, y)
    assert abs(model.intercept_.sum()) < 1e-12


def test_convergence_warning_of_the_newton_solver_gives_the_reason():
    X, y, _ = _data(5)
    with pytest.warns(ConvergenceWarning) as record:
        model = MultiMarginClassifier(max_iter=1).fit(X, y)
    message = str(record[0].message)
    assert message.startswith("MultiMarginClassifier did not converge to tol=1e-10: "
                              "max_iter=1 iterations reached with the largest gradient "
                              "component at ")
    assert message.endswith("(increase max_iter)")
    assert model.n_iter_ == 1


def test_convergence_warning_of_lbfgs_gives_scipys_reason_and_the_settings():
    X, y, _ = _data(6)
    with pytest.warns(ConvergenceWarning, match=(
            r"did not converge to tol=1e-06: L-BFGS-B stopped after 2 iterations "
            r"\(max_iter=2\) with the largest gradient component at [0-9.e+-]+ > tol: "
            r"STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT$")):
        MultiMarginClassifier(multi_class="crammer_singer", max_iter=2).fit(X, y)


@pytest.mark.parametrize("message", [b"ABNORMAL_TERMINATION_IN_LNSRCH", "ABNORMAL: "])
def test_lbfgs_abnormal_stop_is_explained(monkeypatch, message):
    # SciPy < 1.15 gives its reason as bytes; SciPy >= 1.15 says only "ABNORMAL: "
    def minimize(fun, x0, **options):
        return scipy.optimize.OptimizeResult(x=x0, nit=7, success=False, message=message,
                                             jac=np.full_like(x0, 0.25))

    monkeypatch.setattr(_solver.scipy.optimize, "minimize", minimize)
    X, y, _ = _data(7)
    with pytest.warns(ConvergenceWarning) as record:
        MultiMarginClassifier(p=1).fit(X, y)
    text = str(record[0].message)
    assert "L-BFGS-B stopped after 7 iterations (max_iter=1000) with the largest gradient " \
           "component at 0.25 > tol: ABNORMAL" in text
    assert "b'" not in text and ": )" not in text
    assert text.endswith("(the line search found no step that lowers the objective: the "
                         "non-smooth objective of p=1 or crammer_singer has a kink there, or "
                         "the objective is at the limit of floating-point precision; a larger "
                         "tol or alpha, or the smooth default p=2 with weston_watkins, avoids "
                         "it)")


def test_newton_line_search_failure_is_explained():
    # a tol below the objective's rounding floor: no step can lower it further
    X, y, _ = _data(8)
    with pytest.warns(ConvergenceWarning, match=(
            r"did not converge to tol=1e-30: the line search found no step that lowers the "
            r"objective, with the largest gradient component at [0-9.e+-]+: the objective "
            r"is at the limit of floating-point precision")):
        MultiMarginClassifier(tol=1e-30).fit(X, y)


@pytest.mark.parametrize("y", [
    pd.Series([0, 1, None, 2, 1, 0], dtype="Int64"),
    pd.Series(["a", "b", None, "c", "b", "a"], dtype="string"),
    np.array(["a", "b", None, "c", "b", "a"], dtype=object),
    np.array([0.0, 1.0, np.nan, 2.0, 1.0, 0.0]),
], ids=["Int64", "string", "object-None", "float-nan"])
def test_target_with_missing_values_says_so(y):
    X, _, _ = _data(9, n_samples=6)
    with pytest.raises(ValueError, match=(
            r"^y contains missing values \(NaN, None or pandas' NA\), the first at y\[2\]; ")):
        MultiMarginClassifier().fit(X, y)
