"""What many test files share: the losses as uniform test subjects, and bitwise checks.

- ``MM`` (the Weston-Watkins multi-class loss, ``multi_margin_loss``), ``CS``
  (its Crammer-Singer form, ``multi_class="crammer_singer"``) and ``MLM``
  (``multilabel_margin_loss``) offer the same attributes: ``loss``, ``grad``,
  ``loss_and_grad``, ``cls`` and ``target(rng, n_samples, n_classes)``, so that
  one test parametrised over ``LOSSES`` checks a property of each;
- ``assert_bitwise`` and ``close`` compare results;
- the tables of public entry points and a small valid problem (``scores()``,
  ``MM_TARGET``, ``MLM_TARGET``) serve the error-path tests;
- the few internal names the tests outside ``kernels/`` rely on are imported
  here, and only here (see "internals" below).

The oracles (NumPy references, PyTorch) live in ``_reference.py``; the shared
fixtures (``rng``) in ``conftest.py``.
"""

import functools

import numpy as np
import pytest

from marginloss import (
    MultiLabelMarginLoss,
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

# Internals, imported here only (the files in kernels/ call the compiled modules directly):
# SERIAL_BELOW: below this many scores a call runs on one thread, whatever n_threads;
# effective_n_threads(n_threads, n_samples, n_scores): the team size a call gets;
# max_threads(): the OpenMP runtime's thread limit, as the kernels see it;
# as_indicator_target: the conversion of a 0/1 indicator target (read in place or copied).
from marginloss._openmp import max_threads  # noqa: F401
from marginloss._threads import SERIAL_BELOW, effective_n_threads  # noqa: F401
from marginloss._validation import as_indicator_target  # noqa: F401

REDUCTIONS = ["none", "mean", "sum"]
FLOAT_DTYPES = [np.float32, np.float64]
FLOAT_DTYPE_IDS = ["float32", "float64"]


def dtype_id(dtype):
    return np.dtype(dtype).name


def assert_bitwise(actual, expected):
    """Same shape, dtype and bytes (so NaN == NaN and -0.0 != 0.0)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.tobytes() == expected.tobytes(), (actual, expected)


def close(actual, expected, tol=1e-15):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=tol, atol=tol)


# ------------------------------------------------------------------ the losses, uniformly


def mm_target(rng, n_samples, n_classes):
    return rng.integers(0, n_classes, size=n_samples)


def mlm_target(rng, n_samples, n_classes, max_labels=None):
    """Rows of distinct labels padded with -1; junk in [-1, C-1] after the first -1."""
    max_labels = n_classes if max_labels is None else max_labels
    target = rng.integers(-1, n_classes, size=(n_samples, n_classes))
    for row in target:
        k = rng.integers(0, max_labels + 1)
        row[:k] = rng.permutation(n_classes)[:k]
        if k < n_classes:
            row[k] = -1
    return target


class MM:
    """The multi-class margin loss (Weston-Watkins form, PyTorch's MultiMarginLoss)."""

    name = "multi_margin"
    class_target = True  # one class index per sample (else -1-padded label rows)
    loss = staticmethod(multi_margin_loss)
    grad = staticmethod(multi_margin_loss_grad)
    loss_and_grad = staticmethod(multi_margin_loss_and_grad)
    cls = MultiMarginLoss

    @staticmethod
    def target(rng, n_samples, n_classes):
        return mm_target(rng, n_samples, n_classes)


class CS:
    """The multi-class margin loss in its Crammer-Singer form."""

    name = "crammer_singer"
    class_target = True
    loss = staticmethod(functools.partial(multi_margin_loss, multi_class="crammer_singer"))
    grad = staticmethod(functools.partial(multi_margin_loss_grad, multi_class="crammer_singer"))
    loss_and_grad = staticmethod(functools.partial(multi_margin_loss_and_grad,
                                                   multi_class="crammer_singer"))
    cls = functools.partial(MultiMarginLoss, multi_class="crammer_singer")

    @staticmethod
    def target(rng, n_samples, n_classes):
        return mm_target(rng, n_samples, n_classes)


class MLM:
    """The multi-label margin loss (PyTorch's MultiLabelMarginLoss)."""

    name = "multilabel_margin"
    class_target = False
    loss = staticmethod(multilabel_margin_loss)
    grad = staticmethod(multilabel_margin_loss_grad)
    loss_and_grad = staticmethod(multilabel_margin_loss_and_grad)
    cls = MultiLabelMarginLoss

    @staticmethod
    def target(rng, n_samples, n_classes):
        return mlm_target(rng, n_samples, n_classes)


# The two losses PyTorch has, and all three.
LOSSES = [pytest.param(MM, id="MM"), pytest.param(MLM, id="MLM")]
ALL_LOSSES = [pytest.param(MM, id="MM"), pytest.param(CS, id="CS"), pytest.param(MLM, id="MLM")]


# ------------------------------------------------------------------ random problems of a kind
def make_scores(rng, shape, dtype, kind="normal"):
    """Scores of a given kind: normal, quantized (exact ties z == 0), wide or tiny."""
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "quantized":  # multiples of 1/4: every z is exact, many are exactly 0
        x = rng.integers(-8, 9, size=shape) / 4
    elif kind == "wide":
        x = rng.standard_normal(shape) * 100
    elif kind == "tiny":
        x = rng.standard_normal(shape) * 1e-3
    else:
        raise ValueError(kind)
    return np.asarray(x, dtype=dtype)


def make_weight(rng, n_classes, dtype, kind):
    if kind is None or kind == "none":
        return None
    if kind == "positive":
        w = rng.uniform(0.1, 3.0, n_classes)
    elif kind == "mixed":
        w = rng.uniform(-10, 10, n_classes)
    elif kind == "with_zeros":
        w = rng.uniform(-2, 2, n_classes) * (rng.random(n_classes) < 0.6)
    else:
        raise ValueError(kind)
    return w.astype(dtype)


def make_grad_output(rng, kind, loss_shape, reduction, dtype):
    if kind == "per_sample":
        if reduction != "none":
            return 1.5
        return np.asarray(rng.standard_normal(loss_shape), dtype=dtype)
    return kind


def n_classes_of(shape):
    return shape[-1] if len(shape) else 1


def n_samples_of(shape):
    return shape[0] if len(shape) == 2 else 1


MLM_ROW_KINDS = ["padded", "padded_dups", "padded_junk", "full_dups", "all_classes",
                 "empty", "empty_junk"]


def make_label_row(rng, n_classes, kind):
    """One MultiLabel target row of a given kind (class indices padded with -1)."""
    row = np.full(n_classes, -1, dtype=np.int64)
    if kind == "all_classes":
        return rng.permutation(n_classes)
    if kind == "full_dups":
        return rng.integers(0, n_classes, n_classes)
    if kind == "empty":
        return row
    if kind == "empty_junk":  # -1 first, anything after it
        row[1:] = rng.integers(-1, n_classes, n_classes - 1)
        return row
    k = int(rng.integers(0, n_classes + 1))
    if kind == "padded":
        row[:k] = rng.choice(n_classes, k, replace=False)
    else:
        row[:k] = rng.integers(0, n_classes, k)  # duplicates likely
    if kind == "padded_junk" and k + 1 < n_classes:
        row[k + 1:] = rng.integers(-1, n_classes, n_classes - k - 1)
    return row


def make_label_target(rng, shape, target_shape, kinds=None):
    n_samples, n_classes = n_samples_of(shape), n_classes_of(shape)
    kinds = MLM_ROW_KINDS if kinds is None else kinds
    rows = [make_label_row(rng, n_classes, kinds[rng.integers(len(kinds))])
            for _ in range(n_samples)]
    t = np.array(rows, dtype=np.int64).reshape(n_samples, n_classes)
    return t.reshape(target_shape)


# ------------------------------------------------------------------ a small valid problem

N_SAMPLES, N_CLASSES = 5, 4
MM_TARGET = np.array([3, 0, 1, 2, 1])
MLM_TARGET = np.array([[3, 0, -1, 1], [1, -1, -1, -1], [0, 1, 2, 3], [-1, 0, 0, 0],
                       [2, 2, -1, 3]])


def scores(dtype=np.float64):
    return np.random.default_rng(7).standard_normal((N_SAMPLES, N_CLASSES)).astype(dtype)


# ------------------------------------------------------------------ entry points
# Every public way of computing something, as callable(input, target, **settings).

MM_FUNCTIONS = {
    "multi_margin_loss": multi_margin_loss,
    "multi_margin_loss_grad": multi_margin_loss_grad,
    "multi_margin_loss_and_grad": multi_margin_loss_and_grad,
}
MLM_FUNCTIONS = {
    "multilabel_margin_loss": multilabel_margin_loss,
    "multilabel_margin_loss_grad": multilabel_margin_loss_grad,
    "multilabel_margin_loss_and_grad": multilabel_margin_loss_and_grad,
}

MM_CALLS = {
    **MM_FUNCTIONS,
    "MultiMarginLoss()": lambda x, t, **kw: MultiMarginLoss(**kw)(x, t),
    "MultiMarginLoss.forward": lambda x, t, **kw: MultiMarginLoss(**kw).forward(x, t),
    "MultiMarginLoss.gradient": lambda x, t, **kw: MultiMarginLoss(**kw).gradient(x, t),
    "MultiMarginLoss.loss_and_gradient": (
        lambda x, t, **kw: MultiMarginLoss(**kw).loss_and_gradient(x, t)
    ),
}
# The Crammer-Singer form goes through the same checks as the Weston-Watkins one.
CS_SETTING = {"multi_class": "crammer_singer"}
CS_CALLS = {
    "multi_margin_loss[CS]": lambda x, t, **kw: multi_margin_loss(x, t, **CS_SETTING, **kw),
    "multi_margin_loss_grad[CS]": (
        lambda x, t, **kw: multi_margin_loss_grad(x, t, **CS_SETTING, **kw)
    ),
    "multi_margin_loss_and_grad[CS]": (
        lambda x, t, **kw: multi_margin_loss_and_grad(x, t, **CS_SETTING, **kw)
    ),
    "MultiMarginLoss[CS].loss_and_gradient": (
        lambda x, t, **kw: MultiMarginLoss(**CS_SETTING, **kw).loss_and_gradient(x, t)
    ),
}
MLM_CALLS = {
    **MLM_FUNCTIONS,
    "MultiLabelMarginLoss()": lambda x, t, **kw: MultiLabelMarginLoss(**kw)(x, t),
    "MultiLabelMarginLoss.forward": lambda x, t, **kw: MultiLabelMarginLoss(**kw).forward(x, t),
    "MultiLabelMarginLoss.gradient": (
        lambda x, t, **kw: MultiLabelMarginLoss(**kw).gradient(x, t)
    ),
    "MultiLabelMarginLoss.loss_and_gradient": (
        lambda x, t, **kw: MultiLabelMarginLoss(**kw).loss_and_gradient(x, t)
    ),
}

# Gradient entry points taking grad_output= and out=.
MM_GRAD_CALLS = {
    "multi_margin_loss_grad": multi_margin_loss_grad,
    "multi_margin_loss_and_grad": multi_margin_loss_and_grad,
    "MultiMarginLoss.gradient": (
        lambda x, t, reduction="mean", **kw: MultiMarginLoss(reduction=reduction).gradient(
            x, t, **kw)
    ),
    "MultiMarginLoss.loss_and_gradient": (
        lambda x, t, reduction="mean", **kw: MultiMarginLoss(
            reduction=reduction).loss_and_gradient(x, t, **kw)
    ),
}
CS_GRAD_CALLS = {
    "multi_margin_loss_grad[CS]": CS_CALLS["multi_margin_loss_grad[CS]"],
    "MultiMarginLoss[CS].gradient": (
        lambda x, t, reduction="mean", **kw: MultiMarginLoss(
            reduction=reduction, **CS_SETTING).gradient(x, t, **kw)
    ),
}
MLM_GRAD_CALLS = {
    "multilabel_margin_loss_grad": multilabel_margin_loss_grad,
    "multilabel_margin_loss_and_grad": multilabel_margin_loss_and_grad,
    "MultiLabelMarginLoss.gradient": (
        lambda x, t, reduction="mean", **kw: MultiLabelMarginLoss(
            reduction=reduction).gradient(x, t, **kw)
    ),
    "MultiLabelMarginLoss.loss_and_gradient": (
        lambda x, t, reduction="mean", **kw: MultiLabelMarginLoss(
            reduction=reduction).loss_and_gradient(x, t, **kw)
    ),
}

# Both multi-class forms.
MULTI_CLASS_CALLS = {**MM_CALLS, **CS_CALLS}

# (name, callable(input, target, **kw), target) for all three losses.
BOTH_CALLS = [(name, f, MM_TARGET) for name, f in MULTI_CLASS_CALLS.items()] + [
    (name, f, MLM_TARGET) for name, f in MLM_CALLS.items()
]
BOTH_GRAD_CALLS = [(name, f, MM_TARGET) for name, f in {**MM_GRAD_CALLS,
                                                         **CS_GRAD_CALLS}.items()] + [
    (name, f, MLM_TARGET) for name, f in MLM_GRAD_CALLS.items()
]


def ids(cases):
    return [case[0] for case in cases]


# Settings entry points: the functions (with valid arrays) and the constructors
# (which must raise without being called on anything).
MM_SETTINGS = {
    **{name: (lambda f: lambda **kw: f(scores(), MM_TARGET, **kw))(f)
       for name, f in MM_FUNCTIONS.items()},
    "MultiMarginLoss": lambda **kw: MultiMarginLoss(**kw),
    "multi_margin_loss_and_grad[CS]": (
        lambda **kw: multi_margin_loss_and_grad(scores(), MM_TARGET, **CS_SETTING, **kw)
    ),
    "MultiMarginLoss[CS]": lambda **kw: MultiMarginLoss(**CS_SETTING, **kw),
}
MLM_SETTINGS = {
    **{name: (lambda f: lambda **kw: f(scores(), MLM_TARGET, **kw))(f)
       for name, f in MLM_FUNCTIONS.items()},
    "MultiLabelMarginLoss": lambda **kw: MultiLabelMarginLoss(**kw),
}
ALL_SETTINGS = {**MM_SETTINGS, **MLM_SETTINGS}
