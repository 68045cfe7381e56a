"""scikit-learn integration: margin-loss metrics, scorers and a classifier."""

from ._estimator import (  # noqa: F401
    MultiMarginClassifier,
    multi_margin_loss_metric,
    multi_margin_scorer,
    multilabel_margin_loss_metric,
    multilabel_margin_scorer,
)

# the public objects are documented (and doctested) as marginloss.sklearn's
for _public in (MultiMarginClassifier, multi_margin_loss_metric, multi_margin_scorer,
                multilabel_margin_loss_metric, multilabel_margin_scorer):
    _public.__module__ = __name__
del _public
