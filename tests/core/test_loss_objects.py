"""The loss objects and the functions agree: settings, attributes, repr, pickle, consistency.

``MultiMarginLoss`` and ``MultiLabelMarginLoss`` keep read-only settings,
return bitwise what the functions return, pickle and copy; ``*_and_grad``
returns bitwise what the separate calls return, and the reductions agree.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
from _helpers import ALL_LOSSES, CS, FLOAT_DTYPES, MLM, MM, REDUCTIONS, assert_bitwise, mm_target

import marginloss
from marginloss import MultiLabelMarginLoss, MultilabelMarginLoss, MultiMarginLoss


# ================================================================== (j) classes


@pytest.mark.parametrize(
    "loss_cls, settings",
    [
        pytest.param(MM, {}, id="MM-default"),
        pytest.param(MM, dict(p=2, margin=0.5, reduction="sum"), id="MM-p2"),
        pytest.param(MM, dict(weight=[0.5, 1, 2, -1, 3], reduction="none", n_threads=2),
                     id="MM-weight"),
        pytest.param(CS, dict(p=2, margin=0.5, weight=[0.5, 1, 2, -1, 3], reduction="none"),
                     id="CS-p2-weight"),
        pytest.param(MLM, {}, id="MLM-default"),
        pytest.param(MLM, dict(reduction="none", n_threads=1), id="MLM-none"),
    ],
)
def test_class_equals_functional(rng, loss_cls, settings):
    x = rng.standard_normal((8, 5))
    target = loss_cls.target(rng, 8, 5)
    obj = loss_cls.cls(**settings)
    expected = loss_cls.loss(x, target, **settings)
    assert_bitwise(obj(x, target), expected)
    assert_bitwise(obj.forward(x, target), expected)
    go = rng.standard_normal(8) if obj.reduction == "none" else 0.5
    expected_grad = loss_cls.grad(x, target, grad_output=go, **settings)
    assert_bitwise(obj.gradient(x, target, go), expected_grad)
    assert_bitwise(obj.gradient(x, target, grad_output=go), expected_grad)
    loss, grad = obj.loss_and_gradient(x, target, grad_output=go)
    f_loss, f_grad = loss_cls.loss_and_grad(x, target, grad_output=go, **settings)
    assert_bitwise(loss, f_loss)
    assert_bitwise(grad, f_grad)
    assert_bitwise(loss, expected)


def test_class_attributes():
    loss = MultiMarginLoss(p=2.0, margin=np.float32(0.5), weight=[1, 2, 3], reduction="sum",
                           n_threads=3)
    assert loss.p == 2 and type(loss.p) is int
    assert loss.margin == 0.5 and type(loss.margin) is float
    np.testing.assert_array_equal(loss.weight, [1.0, 2.0, 3.0])
    assert loss.weight.dtype == np.float64
    assert loss.reduction == "sum"
    assert loss.n_threads == 3
    default = MultiMarginLoss()
    assert (default.p, default.margin, default.weight, default.reduction, default.n_threads) == (
        1, 1.0, None, "mean", None)
    mlm = MultiLabelMarginLoss(reduction="none", n_threads=-1)
    assert mlm.reduction == "none" and mlm.n_threads == -1
    assert MultiLabelMarginLoss().reduction == "mean"
    assert MultiLabelMarginLoss().n_threads is None


@pytest.mark.parametrize("name, value", [("p", 2), ("margin", 0.5), ("weight", None),
                                         ("reduction", "sum"), ("n_threads", 2)])
def test_multi_margin_attributes_read_only(name, value):
    loss = MultiMarginLoss()
    with pytest.raises(AttributeError, match=rf"MultiMarginLoss\.{name} is read-only"):
        setattr(loss, name, value)
    assert getattr(loss, name) == MultiMarginLoss._defaults[name]


@pytest.mark.parametrize("name, value", [("reduction", "sum"), ("n_threads", 2)])
def test_multilabel_margin_attributes_read_only(name, value):
    loss = MultiLabelMarginLoss()
    with pytest.raises(AttributeError, match=rf"MultiLabelMarginLoss\.{name} is read-only"):
        setattr(loss, name, value)
    assert getattr(loss, name) == MultiLabelMarginLoss._defaults[name]


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError, match="no attribute 'size_average'"):
        MultiMarginLoss().size_average
    with pytest.raises(AttributeError, match="no attribute 'p'"):
        MultiLabelMarginLoss().p


def test_weight_is_a_read_only_copy(rng):
    x = rng.standard_normal((6, 4))
    y = mm_target(rng, 6, 4)
    weight = np.array([1.0, 2.0, 3.0, 4.0])
    loss = MultiMarginLoss(weight=weight, reduction="none")
    expected = loss(x, y)
    assert not np.shares_memory(loss.weight, weight)
    weight[:] = -5.0  # the caller's array changes ...
    assert_bitwise(loss(x, y), expected)  # ... the loss does not
    np.testing.assert_array_equal(loss.weight, [1.0, 2.0, 3.0, 4.0])
    assert not loss.weight.flags.writeable
    with pytest.raises(ValueError):
        loss.weight[0] = 7.0
    # A list weight, and a float64 C-contiguous array that needs no conversion, are copied too.
    w64 = np.ones(4)
    assert not np.shares_memory(MultiMarginLoss(weight=w64).weight, w64)


def test_repr():
    assert repr(MultiMarginLoss(p=2, margin=0.5, reduction="sum")) == \
        "MultiMarginLoss(p=2, margin=0.5, reduction='sum')"
    assert repr(MultiMarginLoss()) == "MultiMarginLoss()"
    assert repr(MultiLabelMarginLoss(reduction="none")) == "MultiLabelMarginLoss(reduction='none')"
    assert repr(MultiLabelMarginLoss()) == "MultiLabelMarginLoss()"
    # Defaults given explicitly are not shown.
    assert repr(MultiMarginLoss(p=1, margin=1.0, reduction="mean", n_threads=None)) == \
        "MultiMarginLoss()"
    assert repr(MultiLabelMarginLoss(n_threads=2)) == "MultiLabelMarginLoss(n_threads=2)"


def test_alias():
    assert MultilabelMarginLoss is MultiLabelMarginLoss
    assert marginloss.MultilabelMarginLoss is MultiLabelMarginLoss


@pytest.mark.parametrize(
    "obj",
    [
        MultiMarginLoss(),
        MultiMarginLoss(p=2, margin=0.5, reduction="sum"),
        MultiMarginLoss(weight=[0.5, 1.0, 2.0, -1.0, 3.0], reduction="none", n_threads=2),
        MultiMarginLoss(p=2, multi_class="crammer_singer", reduction="sum"),
        MultiLabelMarginLoss(),
        MultiLabelMarginLoss(reduction="none", n_threads=-1),
    ],
    ids=["MM-default", "MM-p2", "MM-weight", "CS-p2", "MLM-default", "MLM-none"],
)
def test_pickle_round_trip(rng, obj):
    clone = pickle.loads(pickle.dumps(obj))
    assert type(clone) is type(obj)
    assert repr(clone) == repr(obj)
    x = rng.standard_normal((8, 5))
    target = (MM if isinstance(obj, MultiMarginLoss) else MLM).target(rng, 8, 5)
    assert_bitwise(clone(x, target), obj(x, target))
    for a, b in zip(clone.loss_and_gradient(x, target), obj.loss_and_gradient(x, target)):
        assert_bitwise(a, b)
    assert clone.reduction == obj.reduction and clone.n_threads == obj.n_threads
    if isinstance(obj, MultiMarginLoss):
        assert (clone.p, clone.margin) == (obj.p, obj.margin)
        if obj.weight is not None:
            assert_bitwise(clone.weight, obj.weight)
            assert not clone.weight.flags.writeable
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert repr(pickle.loads(pickle.dumps(obj, protocol=protocol))) == repr(obj)


def test_pickle_and_copy_legacy_built_object_does_not_warn(rng):
    with pytest.warns(DeprecationWarning):
        obj = MultiMarginLoss(p=2, size_average=False)
    assert obj.reduction == "sum"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clones = [pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj)]
    x = rng.standard_normal((4, 3))
    y = mm_target(rng, 4, 3)
    for clone in clones:
        assert repr(clone) == repr(obj) == "MultiMarginLoss(p=2, reduction='sum')"
        assert_bitwise(clone(x, y), obj(x, y))


# ================================================================== (k) consistency of the APIs


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_and_grad_equals_separate_calls(rng, loss_cls, dtype, reduction):
    x = rng.standard_normal((30, 7)).astype(dtype)
    target = loss_cls.target(rng, 30, 7)
    kwargs = (dict(p=2, margin=0.3, weight=rng.uniform(-1, 2, 7)) if loss_cls.class_target
              else {})
    go = rng.standard_normal(30) if reduction == "none" else -1.25
    loss, grad = loss_cls.loss_and_grad(x, target, reduction=reduction, grad_output=go, **kwargs)
    assert_bitwise(loss, loss_cls.loss(x, target, reduction=reduction, **kwargs))
    assert_bitwise(grad, loss_cls.grad(x, target, reduction=reduction, grad_output=go, **kwargs))


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_reductions_consistent(rng, loss_cls, dtype):
    x = rng.standard_normal((30, 7)).astype(dtype)
    target = loss_cls.target(rng, 30, 7)
    kwargs = dict(p=1, weight=rng.uniform(0, 2, 7)) if loss_cls.class_target else {}
    grad_mean = loss_cls.grad(x, target, reduction="mean", **kwargs)
    grad_sum = loss_cls.grad(x, target, reduction="sum", **kwargs)
    grad_none = loss_cls.grad(x, target, reduction="none", grad_output=np.ones(30), **kwargs)
    rtol = 1e-6 if dtype is np.float32 else 1e-14
    np.testing.assert_allclose(grad_mean, grad_sum / 30, rtol=rtol, atol=0)
    assert_bitwise(grad_none, grad_sum)
    # A scalar grad_output of 1 with 'none' is the same as ones.
    assert_bitwise(loss_cls.grad(x, target, reduction="none", **kwargs), grad_sum)
    # The loss: sum of 'none' (in float64) and mean = sum / N.
    none = loss_cls.loss(x, target, reduction="none", **kwargs)
    total = loss_cls.loss(x, target, reduction="sum", **kwargs)
    mean = loss_cls.loss(x, target, reduction="mean", **kwargs)
    np.testing.assert_allclose(total, none.astype(np.float64).sum(), rtol=rtol)
    np.testing.assert_allclose(mean, total / 30, rtol=rtol)
