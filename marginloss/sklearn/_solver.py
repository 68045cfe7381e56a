"""The training objective of ``MultiMarginClassifier`` and its two solvers.

The objective over ``params = [coef.ravel(), intercept]`` is

    f = sum_n s_n loss_n / sum_n s_n + alpha / 2 * ||coef||^2,

``loss_n`` the multi-class margin loss of the scores ``X @ coef.T + intercept``
(one fused kernel call gives the loss and its gradient for all samples).

- Newton-CG, for the smooth objective (Weston–Watkins with p=2, the squared
  hinge): its gradient is piecewise linear, so the generalised Hessian of the
  active margin terms gives Newton steps that end on the exact optimum once
  the set of active terms settles.  Each step solves ``H d = -g`` by conjugate
  gradients on Hessian-vector products (two products with ``X``), and a
  backtracking line search keeps the objective decreasing.
- SciPy's L-BFGS-B for the non-smooth objectives (p=1, or Crammer–Singer, a
  max over the wrong classes), which have no Hessian at their kinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize

from .. import functional

# the package's fused loss and gradient, typed (for mypy --strict)
_multi_margin_loss_and_grad: Callable[..., tuple[Any, np.ndarray]] = (
    functional.multi_margin_loss_and_grad)

# Armijo's sufficient-decrease constant, and the halvings of the line search
_ARMIJO = 1e-4
_MAX_HALVINGS = 40


class _Objective:
    """Value, gradient and (for the smooth loss) Hessian-vector products of f."""

    def __init__(self, X: Any, target: np.ndarray, sample_weight: np.ndarray, n_classes: int,
                 *, alpha: float, fit_intercept: bool, p: int, margin: float,
                 multi_class: str, n_threads: int | None) -> None:
        self.X = X
        self.target = target
        self.sample_weight = sample_weight
        self.n_classes = n_classes
        self.n_features = X.shape[1]
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.loss_options = dict(p=p, margin=margin, multi_class=multi_class,
                                 sample_weight=sample_weight, n_threads=n_threads)
        self.n_params = n_classes * self.n_features + (n_classes if fit_intercept else 0)
        self._grad_scores = np.zeros((0, n_classes))

    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(coef (n_classes, n_features), intercept (n_classes,), zeros without one)."""
        size = self.n_classes * self.n_features
        coef = params[:size].reshape(self.n_classes, self.n_features)
        intercept = params[size:] if self.fit_intercept else np.zeros(self.n_classes)
        return coef, intercept

    @staticmethod
    def _scores_of(X: Any, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(X @ coef.T) + intercept)

    def _join(self, grad_scores: np.ndarray, grad_coef: np.ndarray) -> np.ndarray:
        if not self.fit_intercept:
            return grad_coef.ravel()
        # The loss sees only differences of scores, so its gradient in the intercepts
        # sums to 0: centring removes the rounding error along the intercepts' common
        # shift, a flat direction where conjugate gradients would take a huge step.
        grad_intercept = grad_scores.sum(axis=0)
        return np.concatenate([grad_coef.ravel(), grad_intercept - grad_intercept.mean()])

    def value_and_grad(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = self.split(params)
        loss, grad_scores = _multi_margin_loss_and_grad(
            self._scores_of(self.X, coef, intercept), self.target, **self.loss_options)
        self._grad_scores = grad_scores  # the point of the next hessian_product
        grad_coef = np.asarray(grad_scores.T @ self.X) + self.alpha * coef
        value = float(loss) + 0.5 * self.alpha * float(np.vdot(coef, coef))
        return value, self._join(grad_scores, grad_coef)

    def active_terms(self) -> np.ndarray:
        """Which margin terms are active (positive) at the last point of value_and_grad."""
        return np.asarray(self._grad_scores > 0)

    def hessian_product(self) -> Callable[[np.ndarray], np.ndarray]:
        """v -> H v at the last point of value_and_grad (Weston–Watkins, p=2).

        Each active term (sample n, wrong class i), ``c_n max(0, margin - s_y + s_i)^2``
        with ``c_n = sample_weight[n] / sum(sample_weight) / n_classes``, adds
        ``2 c_n (e_i - e_y)(e_i - e_y)^T`` to the Hessian in the scores; a term is
        active where its gradient, ``2 c_n max(0, ...)``, is positive.  Only the
        samples with an active term enter the products.
        """
        curvature = (2.0 / self.n_classes) * (self.sample_weight / self.sample_weight.sum())
        weights = self.active_terms() * curvature[:, np.newaxis]  # (true class: <= 0)
        used = np.flatnonzero(weights.any(axis=1))
        weights, target, X = weights[used], self.target[used], self.X[used]
        rows = np.arange(used.size)

        def product(vector: np.ndarray) -> np.ndarray:
            coef, intercept = self.split(vector)
            scores = self._scores_of(X, coef, intercept)
            terms = weights * (scores - scores[rows, target][:, np.newaxis])
            terms[rows, target] -= terms.sum(axis=1)
            return self._join(terms, np.asarray(terms.T @ X) + self.alpha * coef)

        return product

    def start(self) -> np.ndarray:
        """Small (weighted) class-mean directions: at 0 every score ties, and the
        Crammer–Singer max has a kink there that stalls L-BFGS."""
        X, weight = self.X, self.sample_weight
        params = np.zeros(self.n_params)
        coef, _ = self.split(params)
        total = weight.sum()
        overall = np.asarray(X.T @ weight).ravel() / total if total > 0 else 0.0
        for k in range(self.n_classes):
            in_class = np.where(self.target == k, weight, 0.0)
            if in_class.sum() > 0:
                mean = np.asarray(X.T @ in_class).ravel() / in_class.sum()
                coef[k] = 1e-3 * (mean - overall)
        return params


def _conjugate_gradient(product: Callable[[np.ndarray], np.ndarray], grad: np.ndarray,
                        rtol: float, max_iter: int) -> np.ndarray:
    """An approximate solution of H d = -grad (H positive semi-definite).

    (A Jacobi preconditioner took more products on the digits data, not fewer.)
    """
    step = np.zeros_like(grad)
    residual = -grad
    direction = residual.copy()
    rr = float(residual @ residual)
    stop = rtol ** 2 * rr
    for _ in range(max_iter):
        if rr <= stop:
            break
        h_direction = product(direction)
        curvature = float(direction @ h_direction)
        if curvature <= np.finfo(float).eps * float(direction @ direction):
            break  # a flat direction (alpha=0 and separable data)
        length = rr / curvature
        step += length * direction
        residual -= length * h_direction
        rr, rr_old = float(residual @ residual), rr
        direction = residual + (rr / rr_old) * direction
    return step if step.any() else -grad


def _line_search(objective: _Objective, params: np.ndarray, value: float, grad: np.ndarray,
                 step: np.ndarray) -> tuple[np.ndarray, float, np.ndarray] | None:
    """Backtracking from the full Newton step; None if no step lowers the objective.

    At the optimum's rounding floor the objective can no longer show a decrease, so a
    step that leaves it equal up to rounding and shrinks the gradient is taken too.
    """
    slope = float(grad @ step)
    largest = np.max(np.abs(grad))
    length = 1.0
    for _ in range(_MAX_HALVINGS):
        trial = params + length * step
        trial_value, trial_grad = objective.value_and_grad(trial)
        if trial_value < value and trial_value <= value + _ARMIJO * length * slope:
            return trial, trial_value, trial_grad
        if (trial_value - value <= 64 * np.finfo(float).eps * abs(value)
                and np.max(np.abs(trial_grad)) < 0.5 * largest):
            return trial, trial_value, trial_grad
        length *= 0.5
    return None


def newton_cg(objective: _Objective, params: np.ndarray, tol: float,
              max_iter: int) -> tuple[np.ndarray, int, str]:
    """Minimise the smooth objective; (params, iterations, why it stopped early or '')."""
    value, grad = objective.value_and_grad(params)
    active = objective.active_terms()
    settled = False
    for n_iter in range(max_iter):
        largest = np.max(np.abs(grad))
        if largest <= tol:
            return params, n_iter, ""
        # CG to a relative residual sqrt(||g||) while the active terms change; once they
        # stay, the objective is one quadratic there, and a step solved to a gradient of
        # tol / 100 lands on its optimum (sqrt(||g||) throughout left equivalent fits 5e-7
        # apart; ||g|| throughout took twice the products on digits)
        norm = float(np.linalg.norm(grad))
        rtol = min(0.5, 0.01 * tol / norm if settled else np.sqrt(norm))
        step = _conjugate_gradient(objective.hessian_product(), grad, rtol,
                                   max(50, objective.n_params))
        found = _line_search(objective, params, value, grad, step)
        if found is None:
            return params, n_iter, (
                f"the line search found no step that lowers the objective, with the largest "
                f"gradient component at {largest:.3g}: the objective is at the limit of "
                f"floating-point precision (scale X, or raise tol above it)")
        params, value, grad = found
        active, previous = objective.active_terms(), active
        settled = bool(np.array_equal(active, previous))
    if np.max(np.abs(grad)) <= tol:
        return params, max_iter, ""
    return params, max_iter, (
        f"max_iter={max_iter} iterations reached with the largest gradient component at "
        f"{np.max(np.abs(grad)):.3g} (increase max_iter)")


def lbfgs(objective: _Objective, params: np.ndarray, tol: float,
          max_iter: int) -> tuple[np.ndarray, int, str]:
    """Minimise with SciPy's L-BFGS-B; (params, iterations, why it stopped early or '')."""
    result = scipy.optimize.minimize(
        objective.value_and_grad, params, jac=True, method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15})
    if result.success:
        return result.x, int(result.nit), ""
    message = result.message
    if isinstance(message, bytes):  # SciPy < 1.15 gives bytes
        message = message.decode("ascii", "replace")
    message = str(message).strip().rstrip(":").strip()
    if message.startswith("ABNORMAL"):
        message += (" (the line search found no step that lowers the objective: the "
                    "non-smooth objective of p=1 or crammer_singer has a kink there, or the "
                    "objective is at the limit of floating-point precision; a larger tol or "
                    "alpha, or the smooth default p=2 with weston_watkins, avoids it)")
    largest = np.max(np.abs(result.jac))
    return result.x, int(result.nit), (
        f"L-BFGS-B stopped after {result.nit} iterations (max_iter={max_iter}) with the "
        f"largest gradient component at {largest:.3g} > tol: {message}")
