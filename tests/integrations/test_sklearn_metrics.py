"""marginloss.sklearn: metrics with scikit-learn's signature, scorers, and imports."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.metrics import hinge_loss
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MultiLabelBinarizer, StandardScaler
from sklearn.svm import LinearSVC

import marginloss
from marginloss.sklearn import (
    multi_margin_loss_metric,
    multi_margin_scorer,
    multilabel_margin_loss_metric,
    multilabel_margin_scorer,
)


def test_crammer_singer_metric_is_sklearns_hinge_loss():
    rng = np.random.default_rng(0)
    y = rng.choice(np.array(["ant", "bee", "cow", "dog"]), 80)
    scores = rng.normal(size=(80, 4))
    weights = rng.uniform(0, 2, 80)
    assert multi_margin_loss_metric(y, scores, multi_class="crammer_singer") == pytest.approx(
        hinge_loss(y, scores), rel=1e-14)
    assert multi_margin_loss_metric(
        y, scores, multi_class="crammer_singer", sample_weight=weights
    ) == pytest.approx(hinge_loss(y, scores, sample_weight=weights), rel=1e-14)
    # binary: a 1-D decision function
    yb = rng.choice(np.array([-3, 7]), 50)
    d = rng.normal(size=50)
    assert multi_margin_loss_metric(yb, d, multi_class="crammer_singer") == pytest.approx(
        hinge_loss(yb, d), rel=1e-14)


def test_labels_map_any_label_type_to_columns():
    rng = np.random.default_rng(1)
    classes = np.array(["z", "a", "m"])  # columns in this (unsorted) order
    y = rng.choice(classes, 40)
    scores = rng.normal(size=(40, 3))
    target = np.array([list(classes).index(v) for v in y])
    expected = marginloss.multi_margin_loss(scores, target, p=2, margin=0.5)
    assert multi_margin_loss_metric(y, scores, labels=classes, p=2, margin=0.5) == \
        pytest.approx(expected, rel=1e-15)
    # a test fold without one class still scores with labels=
    fold = y != "m"
    assert np.isfinite(multi_margin_loss_metric(y[fold], scores[fold], labels=classes))


@pytest.mark.parametrize("kwargs, y_true, message", [
    ({}, ["a", "b"], r"y_score has 3 columns but the classes in y_true give 2 classes"),
    ({"labels": ["a", "b"]}, ["a", "b"], r"y_score has 3 columns but labels give 2 classes"),
    ({"labels": ["a", "b", "c"]}, ["a", "q"], r"y_true contains 'q', which is not in labels"),
    ({"labels": ["a", "b", "a"]}, ["a", "b"], r"labels must not repeat a class"),
    ({}, [["a"], ["b"]], r"y_true must be a 1-D array of class labels, got shape \(2, 1\)"),
])
def test_metric_errors(kwargs, y_true, message):
    with pytest.raises(ValueError, match=message):
        multi_margin_loss_metric(y_true, np.zeros((2, 3)), **kwargs)


def test_multilabel_metric_takes_indicator_matrices():
    y = [{"cat", "dog"}, {"bird"}, set(), {"cat", "fish"}]
    indicator = MultiLabelBinarizer().fit_transform(y)
    rng = np.random.default_rng(2)
    scores = rng.normal(size=indicator.shape)
    expected = marginloss.multilabel_margin_loss(scores, indicator, target_format="indicator")
    assert multilabel_margin_loss_metric(indicator, scores) == pytest.approx(expected)
    with pytest.raises(ValueError, match="only 0 and 1"):
        multilabel_margin_loss_metric(indicator * 2, scores)


def test_scorers_in_cross_val_score_and_grid_search():
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = make_pipeline(StandardScaler(), LinearSVC())
    scorer = multi_margin_scorer(multi_class="crammer_singer")
    scores = cross_val_score(model, X, labels, cv=3, scoring=scorer)
    assert scores.shape == (3,) and np.all(scores <= 0)
    # the scorer is minus the metric on the estimator's decision_function
    model.fit(X, labels)
    assert scorer(model, X, labels) == pytest.approx(
        -hinge_loss(labels, model.decision_function(X), labels=model.classes_))
    search = GridSearchCV(model, {"linearsvc__C": [0.01, 1.0]}, cv=3, scoring=scorer)
    search.fit(X, labels)
    assert search.best_score_ <= 0
    assert "multi_class='crammer_singer'" in repr(scorer)


def test_multilabel_scorer():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 5))
    Y = (X[:, :3] + 0.3 * rng.normal(size=(90, 3)) > 0).astype(int)
    model = OneVsRestClassifier(LinearSVC())
    scores = cross_val_score(model, X, Y, cv=3, scoring=multilabel_margin_scorer())
    assert np.all(scores <= 0)
    model.fit(X, Y)
    assert multilabel_margin_scorer(margin=0.5)(model, X, Y) == pytest.approx(
        -multilabel_margin_loss_metric(Y, model.decision_function(X), margin=0.5))


def test_importing_marginloss_never_imports_sklearn():
    code = "import sys, marginloss; print('sklearn' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_marginloss_sklearn_without_sklearn_names_the_extra():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import marginloss.sklearn\n"
            "except ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "marginloss.sklearn needs scikit-learn and SciPy" in out
    assert "pip install 'marginloss[sklearn]'" in out


def _sklearn_error(function, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        function(*args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("binary", [False, True], ids=["2-D", "1-D"])
def test_non_finite_scores_raise_as_sklearns_hinge_loss(bad, dtype, binary):
    # scikit-learn's hinge_loss validates its scores with check_array: the same
    # ValueError and wording here, with the argument named as scikit-learn names it
    if binary:
        y_true, y_score, labels = [0, 1, 1], np.array([0.5, bad, -1.0], dtype=dtype), None
    else:
        y_true, labels = [0, 1, 2], [0, 1, 2]
        y_score = np.array([[0.5, 0.1, 0.0], [0.2, bad, 0.3], [1.0, 0.0, -1.0]], dtype=dtype)
    expected = _sklearn_error(hinge_loss, y_true, y_score, labels=labels)
    assert expected.startswith("Input contains ")
    expected = expected.replace("Input contains ", "Input y_score contains ")
    for multi_class in ("weston_watkins", "crammer_singer"):
        with pytest.raises(ValueError) as info:
            multi_margin_loss_metric(y_true, y_score, labels=labels, multi_class=multi_class)
        assert str(info.value) == expected
    if not binary:
        with pytest.raises(ValueError) as info:
            multilabel_margin_loss_metric(np.eye(3, dtype=int), y_score)
        assert str(info.value) == expected
    # the loss functions keep PyTorch's NaN propagation
    if not binary:
        assert np.isnan(marginloss.multi_margin_loss(y_score, [0, 1, 2], p=2)) == np.isnan(bad)


def test_pandas_missing_scores_raise_as_sklearns_hinge_loss():
    pd = pytest.importorskip("pandas")
    y_score = pd.DataFrame({"a": [0.5, None, 1.0], "b": [0.1, 0.2, 0.0]}, dtype="Float64")
    expected = _sklearn_error(hinge_loss, [0, 1, 1], y_score, labels=[0, 1])
    assert expected == "Input contains NaN."
    with pytest.raises(ValueError, match=r"^Input y_score contains NaN\.$"):
        multi_margin_loss_metric([0, 1, 1], y_score, labels=[0, 1])
    with pytest.raises(ValueError, match=r"^Input y_score contains NaN\.$"):
        multilabel_margin_loss_metric([[1, 0], [0, 1], [1, 1]], y_score)
    with pytest.raises(ValueError, match=r"^Input y_score contains NaN\.$"):
        multi_margin_loss_metric([0, 1, 1], pd.Series([0.5, None, 1.0], dtype="Float64"))


def test_scorers_refuse_non_finite_decision_scores():
    class Scores:
        classes_ = np.array([0, 1, 2])

        def decision_function(self, X):
            return np.array([[0.0, np.nan, 1.0], [1.0, 0.0, 0.0]])

    with pytest.raises(ValueError, match=r"^Input y_score contains NaN\.$"):
        multi_margin_scorer()(Scores(), None, [0, 1])
    with pytest.raises(ValueError, match=r"^Input y_score contains NaN\.$"):
        multilabel_margin_scorer()(Scores(), None, [[1, 0, 0], [0, 1, 1]])


@pytest.mark.parametrize("labels", [None, ["a", "b", "c"]])
@pytest.mark.parametrize("make_y_true", [
    lambda pd: pd.Series(["a", "b", None, "c"], dtype="string"),
    lambda pd: np.array(["a", "b", None, "c"], dtype=object),
    lambda pd: pd.Series([0, 1, None, 2], dtype="Int64"),
    lambda pd: np.array([0.0, 1.0, np.nan, 2.0]),
], ids=["string-NA", "object-None", "Int64-NA", "float-nan"])
def test_y_true_with_missing_values_says_so(make_y_true, labels):
    pd = pytest.importorskip("pandas")
    y_true = make_y_true(pd)
    if labels is not None and y_true.dtype.kind != "O" and str(y_true.dtype) != "string":
        labels = [0, 1, 2]
    with pytest.raises(ValueError, match=(
            r"^y_true contains missing values \(NaN, None or pandas' NA\), the first at "
            r"y_true\[2\]; every sample needs a label")):
        multi_margin_loss_metric(y_true, np.zeros((4, 3)), labels=labels)


@pytest.mark.parametrize("labels", [[0, np.nan, 1], ["a", None, "b"]])
def test_labels_with_missing_values_say_so(labels):
    y_true = [labels[0], labels[2]]
    with pytest.raises(ValueError, match=(
            r"^labels contains missing values \(NaN, None or pandas' NA\), the first at "
            r"labels\[1\]")):
        multi_margin_loss_metric(y_true, np.zeros((2, 3)), labels=labels)


def test_multilabel_y_true_with_missing_values_says_so():
    pd = pytest.importorskip("pandas")
    y_true = pd.DataFrame({"a": [1, 0], "b": [0, None]}, dtype="Int64")
    with pytest.raises(ValueError, match=(
            r"^y_true contains missing values \(NaN, None or pandas' NA\), the first at "
            r"y_true\[1, 1\]")):
        multilabel_margin_loss_metric(y_true, np.zeros((2, 2)))


@pytest.mark.parametrize("with_pandas", [True, False])
def test_missing_labels_are_found_with_and_without_pandas(monkeypatch, with_pandas):
    # pandas' isna when pandas is loaded, otherwise a comparison per label
    pd = pytest.importorskip("pandas")
    y_true = np.array(["a", "b", "a", pd.NA if with_pandas else float("nan")], dtype=object)
    if not with_pandas:
        monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ValueError, match=r"^y_true contains missing values .* y_true\[3\]"):
        multi_margin_loss_metric(y_true, np.zeros((4, 2)))
    assert multi_margin_loss_metric(y_true[:3], np.zeros((3, 2))) == 0.5  # (1/C per sample)
