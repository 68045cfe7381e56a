"""``target_format="indicator"``: multi-label targets as 0/1 matrices.

An indicator row and the index row listing the same classes in ascending
order must give the same bits (the kernel turns the indicator row into that
list), on both kernel paths (direct loop for few labels, sorted search).
"""

import pickle

import numpy as np
import pytest
from _helpers import as_indicator_target
from sklearn.preprocessing import MultiLabelBinarizer

from marginloss import (
    MultiLabelMarginLoss,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

INDICATOR = {"target_format": "indicator"}


def _indices_of(indicator):
    """The -1-padded index target listing each row's labels in ascending order."""
    n_samples, n_classes = indicator.shape
    target = np.full((n_samples, n_classes), -1, dtype=np.int64)
    for n in range(n_samples):
        labels = np.flatnonzero(indicator[n])
        target[n, :labels.size] = labels
    return target


def _random_indicator(rng, n_samples, n_classes):
    # rows with 0, 1, 2 (direct loop) and many labels (sorted search), and all
    k = rng.integers(0, n_classes + 1, n_samples)
    k[:4] = [0, 1, 2, min(3, n_classes)][: min(4, n_samples)]
    indicator = np.zeros((n_samples, n_classes), dtype=np.int64)
    for n in range(n_samples):
        indicator[n, rng.permutation(n_classes)[: k[n]]] = 1
    return indicator


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("target_dtype", [bool, np.uint8, np.int8, np.int32, np.int64,
                                          np.uint16])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_indicator_gives_the_index_targets_bits(dtype, target_dtype, reduction):
    rng = np.random.default_rng([len(reduction), np.dtype(target_dtype).itemsize])
    for n_samples, n_classes in [(1, 1), (5, 3), (40, 17), (64, 200)]:
        x = rng.normal(size=(n_samples, n_classes)).astype(dtype)
        indicator = _random_indicator(rng, n_samples, n_classes)
        target = _indices_of(indicator)
        s = rng.uniform(0.5, 2.0, n_samples)
        for kwargs in ({}, {"margin": 0.3}, {"sample_weight": s}):
            ours = multilabel_margin_loss_and_grad(x, indicator.astype(target_dtype),
                                                   reduction, **INDICATOR, **kwargs)
            expected = multilabel_margin_loss_and_grad(x, target, reduction, **kwargs)
            np.testing.assert_array_equal(ours[0], expected[0])
            np.testing.assert_array_equal(ours[1], expected[1])
            np.testing.assert_array_equal(
                multilabel_margin_loss(x, indicator.astype(target_dtype), reduction,
                                       **INDICATOR, **kwargs), expected[0])
            np.testing.assert_array_equal(
                multilabel_margin_loss_grad(x, indicator.astype(target_dtype), reduction,
                                            **INDICATOR, **kwargs), expected[1])


def test_multilabel_binarizer_output():
    y = [{"cat", "dog"}, {"bird"}, set(), {"cat", "bird", "fish"}]
    binarizer = MultiLabelBinarizer()
    indicator = binarizer.fit_transform(y)
    rng = np.random.default_rng(1)
    x = rng.normal(size=indicator.shape)
    loss = MultiLabelMarginLoss(target_format="indicator", reduction="none")
    np.testing.assert_array_equal(loss(x, indicator),
                                  multilabel_margin_loss(x, _indices_of(indicator), "none"))


@pytest.mark.parametrize("target_dtype", [bool, np.uint8, np.int32, np.int64])
def test_contiguous_indicators_are_read_in_place(target_dtype):
    scores = np.zeros((3, 4))
    indicator = np.eye(3, 4, dtype=target_dtype)
    array, loss_shape = as_indicator_target(indicator, scores, (3, 4))
    assert np.shares_memory(array, indicator)
    assert loss_shape == (3,)


def test_other_integer_dtypes_are_converted_and_the_callers_array_kept():
    indicator = np.eye(3, 4, dtype=np.int16)
    before = indicator.copy()
    array, _ = as_indicator_target(indicator, np.zeros((3, 4)), (3, 4))
    assert array.dtype == np.int64 and not np.shares_memory(array, indicator)
    multilabel_margin_loss_and_grad(np.ones((3, 4)), indicator, **INDICATOR)
    np.testing.assert_array_equal(indicator, before)


def test_one_sample_as_1d():
    x = np.array([0.1, 0.2, 0.4, 0.8])
    assert multilabel_margin_loss(x, [1, 0, 0, 1], **INDICATOR) == multilabel_margin_loss(
        x, [0, 3, -1, -1])


def test_the_class_keeps_the_format():
    loss = MultiLabelMarginLoss(target_format="indicator", margin=0.5)
    assert loss.target_format == "indicator"
    assert repr(loss) == "MultiLabelMarginLoss(margin=0.5, target_format='indicator')"
    clone = pickle.loads(pickle.dumps(loss))
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    assert clone(x, [[1, 0, 0, 1]]) == loss(x, [[1, 0, 0, 1]])


@pytest.mark.parametrize("target, error, message", [
    ([[1, 0, 2]], ValueError,
     r"target must hold only 0 and 1 with target_format='indicator'; got target\[0, 2\] = 2"),
    ([[0, -1, 1]], ValueError, r"got target\[0, 1\] = -1"),
    ([[1.0, 0.0, 1.0]], TypeError,
     r"target must be an integer or bool 0/1 indicator array with "
     r"target_format='indicator', got dtype float64"),
    ([[1, 0]], ValueError,
     r"target must have the shape of input \(1, 3\) \(a 0/1 indicator of each class\); "
     r"got shape \(1, 2\)"),
    ([1, 0, 1], ValueError, r"target must have the shape of input \(1, 3\)"),
])
def test_bad_indicator(target, error, message):
    x = np.zeros((1, 3))
    with pytest.raises(error, match=message):
        multilabel_margin_loss(x, target, **INDICATOR)
    with pytest.raises(error, match=message):
        multilabel_margin_loss_and_grad(x, target, **INDICATOR)


@pytest.mark.parametrize("target_format, error", [("dense", ValueError), (None, TypeError),
                                                  (1, TypeError)])
def test_bad_target_format(target_format, error):
    with pytest.raises(error, match="target_format must be 'indices' or 'indicator', got"):
        multilabel_margin_loss(np.zeros((1, 3)), [[0, -1, -1]], target_format=target_format)
    with pytest.raises(error, match="target_format must be 'indices' or 'indicator'"):
        MultiLabelMarginLoss(target_format=target_format)


def test_index_targets_are_not_read_as_indicators():
    # [[0, 1, -1]] is a valid index row; as an indicator it is refused, never guessed
    x = np.zeros((1, 3))
    assert multilabel_margin_loss(x, [[0, 1, -1]]) >= 0
    with pytest.raises(ValueError, match="only 0 and 1"):
        multilabel_margin_loss(x, [[0, 1, -1]], **INDICATOR)
