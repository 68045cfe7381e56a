"""marginloss.sklearn with sparse multi-label targets: the metric and the scorer
take scikit-learn's ``MultiLabelBinarizer(sparse_output=True)`` output as it is,
with the dense indicator's values and errors."""

import numpy as np
import pytest
from scipy import sparse
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

from marginloss import multilabel_margin_loss
from marginloss.sklearn import multilabel_margin_loss_metric, multilabel_margin_scorer

CONTAINERS = [sparse.csr_array, sparse.csr_matrix, sparse.csc_array, sparse.csc_matrix,
              sparse.coo_array, sparse.coo_matrix]


def _tagged_data(rng, n_samples=120):
    """Label lists of a small tagging problem and features that predict them."""
    tags = np.array(["art", "bio", "chem", "data", "econ", "film"])
    X = rng.normal(size=(n_samples, 8))
    y = [set(tags[np.flatnonzero(row[:6] > 0.3)]) for row in X]
    return X, y


def test_label_lists_to_loss_and_metric_end_to_end(rng):
    X, y = _tagged_data(rng)
    binarizer = MultiLabelBinarizer(sparse_output=True)
    Y = binarizer.fit_transform(y)
    assert sparse.issparse(Y) and Y.format == "csr"
    model = OneVsRestClassifier(LinearSVC()).fit(X, Y)
    scores = model.decision_function(X)
    dense = Y.toarray()
    weights = rng.uniform(0.5, 2.0, X.shape[0])
    for kwargs in ({}, {"sample_weight": weights}, {"margin": 0.5}):
        expected = multilabel_margin_loss_metric(dense, scores, **kwargs)
        assert multilabel_margin_loss_metric(Y, scores, **kwargs) == expected
    assert multilabel_margin_loss(scores, Y, target_format="indicator") == (
        multilabel_margin_loss(scores, dense, target_format="indicator"))


@pytest.mark.parametrize("container", CONTAINERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [bool, np.int8, np.int32, np.int64, np.uint8])
def test_metric_every_container_and_dtype(rng, container, dtype):
    scores = rng.normal(size=(30, 7))
    dense = (rng.random((30, 7)) < 0.3).astype(dtype)
    weights = rng.uniform(0.5, 2.0, 30)
    assert (multilabel_margin_loss_metric(container(dense), scores, sample_weight=weights)
            == multilabel_margin_loss_metric(dense, scores, sample_weight=weights))


def test_scorer_on_held_out_folds_and_in_grid_search(rng):
    # (cross_val_score's parameter check refuses a sparse y; GridSearchCV takes it)
    X, y = _tagged_data(rng, 150)
    Y = MultiLabelBinarizer(sparse_output=True).fit_transform(y)
    dense = Y.toarray()
    scorer = multilabel_margin_scorer()
    for test in np.array_split(rng.permutation(150), 3):
        train = np.setdiff1d(np.arange(150), test)
        model = OneVsRestClassifier(LinearSVC()).fit(X[train], dense[train])
        score = scorer(model, X[test], Y[test])
        assert score == scorer(model, X[test], dense[test])
        assert score <= 0
    grid = {"estimator__C": [0.1, 1.0]}
    model = OneVsRestClassifier(LinearSVC())
    search = GridSearchCV(model, grid, cv=3, scoring=scorer).fit(X, Y)
    expected = GridSearchCV(model, grid, cv=3, scoring=scorer).fit(X, dense)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  expected.cv_results_["mean_test_score"])


def test_metric_errors_name_y_true():
    scores = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"y_true must hold only 0 and 1 with "
                                         r"target_format='indicator'; got y_true\[1, 3\] = 2"):
        multilabel_margin_loss_metric(sparse.csr_array(np.array([[0, 1, 0, 0], [0, 0, 0, 2],
                                                                 [1, 0, 0, 0]])), scores)
    with pytest.raises(ValueError, match=r"y_true must have the shape of y_score \(3, 4\).* got "
                                         r"shape \(3, 5\)"):
        multilabel_margin_loss_metric(sparse.csr_array((3, 5), dtype=np.int64), scores)
    with pytest.raises(TypeError, match="y_true must be an integer or bool 0/1 indicator array"):
        multilabel_margin_loss_metric(sparse.csr_array(np.eye(3, 4)), scores)
    missing = sparse.csr_array(np.array([[0, 1.0, 0, 0], [0, 0, np.nan, 0], [1, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"y_true contains missing values \(NaN, None or "
                                         r"pandas' NA\), the first at y_true\[1, 2\]"):
        multilabel_margin_loss_metric(missing, scores)
    with pytest.raises(ValueError, match="Input y_score contains NaN"):
        multilabel_margin_loss_metric(sparse.csr_array(np.eye(3, 4, dtype=np.int64)),
                                      np.full((3, 4), np.nan))
