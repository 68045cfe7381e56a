"""scikit-learn integration: margin-loss metrics, scorers and a classifier.

Needs scikit-learn and SciPy (the ``marginloss[sklearn]`` extra); ``import
marginloss`` alone never imports them.

- ``multi_margin_loss_metric`` and ``multilabel_margin_loss_metric``: the
  losses as scikit-learn metrics ``(y_true, y_score, *, sample_weight=None,
  ...)``, validating their inputs as scikit-learn's metrics do.
- ``multi_margin_scorer`` and ``multilabel_margin_scorer``: scorers for
  ``scoring=`` (the negated metric of an estimator's ``decision_function``).
- ``MultiMarginClassifier``: a linear classifier trained on the multi-class
  margin loss with an L2 penalty.

Examples
--------
>>> from marginloss.sklearn import multi_margin_loss_metric
>>> multi_margin_loss_metric([0, 1], [[1.0, -1.0], [0.0, 2.0]])
0.0
"""

try:
    import scipy  # noqa: F401 - checked here so that the error names the extra
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "marginloss.sklearn needs scikit-learn and SciPy; install them with "
        "pip install 'marginloss[sklearn]'"
    ) from exc

from ._estimator import MultiMarginClassifier
from ._metrics import (
    multi_margin_loss_metric,
    multi_margin_scorer,
    multilabel_margin_loss_metric,
    multilabel_margin_scorer,
)

__all__ = [
    "MultiMarginClassifier",
    "multi_margin_loss_metric",
    "multilabel_margin_loss_metric",
    "multi_margin_scorer",
    "multilabel_margin_scorer",
]

# the public objects are documented (and doctested) as marginloss.sklearn's
for _public in (MultiMarginClassifier, multi_margin_loss_metric, multi_margin_scorer,
                multilabel_margin_loss_metric, multilabel_margin_scorer):
    _public.__module__ = __name__
del _public
