"""PyTorch's own test cases for the two losses, ported as data.

Sources (torch 2.13, ``torch/testing/_internal``):

- ``common_nn.py``: the criterion dicts (``*_no_reduce`` tests, run with 'none'
  and, as ``check_sum_reduction=True`` asks, 'sum'; we add 'mean'), their
  gradcheck (here: finite differences of our float64 loss), and the
  no-batch-dimension tests of ``MultiLabelMarginLoss``;
- ``common_methods_invocations.py``: the OpInfo sample inputs and reference
  inputs of ``nn.functional.multi_margin_loss`` / ``multilabel_margin_loss``
  (S = 5, M = 10; ``make_tensor`` draws floats uniformly in [-9, 9));
- ``common_modules.py``: the ModuleInfo inputs of both modules;
- ``jit_metaprogramming_utils.py``: the two functional JIT cases;
- golden values printed by torch 2.13 (float64, exact repr), re-derivable by hand.

Each case is compared with torch at runtime and with the NumPy reference of
``tests/_reference.py`` (a port of common_nn's reference functions); the golden
values are also compared with the numbers hard-coded below.
"""

from collections import namedtuple
from itertools import product

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import close, dtype_id
from _reference import (
    RTOL,
    assert_identical,
    check_multi_margin,
    check_multilabel_margin,
    torch_multi_margin,
    torch_multilabel_margin,
)

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

S, M = 5, 10  # as in common_methods_invocations / jit_metaprogramming_utils
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]

# loss: "mm" (multi_margin) or "mlm" (multilabel_margin); kwargs as passed to F.*
# (no "reduction" key means PyTorch's default, 'mean').
Case = namedtuple("Case", "id loss input target kwargs")


# ---------------------------------------------------------------------------
# make_tensor and friends, as NumPy
# ---------------------------------------------------------------------------
def make_input(rng, shape, low=-9.0, high=9.0):
    """torch.testing.make_tensor for a float dtype: uniform in [low, high)."""
    return np.asarray(rng.uniform(low, high, size=shape), dtype=np.float64)


def make_target(rng, shape, low, high):
    """torch.testing.make_tensor for torch.long: integers in [low, high)."""
    return np.asarray(rng.integers(low, high, size=shape), dtype=np.int64)


def randn(rng, shape):
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


def floor_rand_times(rng, shape, k):
    """torch.rand(shape).mul(k).floor().long()"""
    return np.asarray(np.floor(rng.random(shape) * k), dtype=np.int64)


# ---------------------------------------------------------------------------
# Running one case
# ---------------------------------------------------------------------------
def _grad_output(loss_shape, reduction):
    """1 for 'mean'/'sum'; for 'none' distinct per-sample values (a Jacobian probe)."""
    if reduction != "none":
        return 1.0
    n = int(np.prod(loss_shape))
    return np.linspace(0.5, 2.0, n).reshape(loss_shape) if n > 1 else np.full(loss_shape, -1.5)


def run_case(case, dtype):
    """Check ours against torch and the reference; check the default reduction."""
    x = case.input.astype(dtype)
    kwargs = dict(case.kwargs)
    reduction = kwargs.pop("reduction", None)
    effective = "mean" if reduction is None else reduction
    if case.loss == "mm":
        if kwargs.get("weight") is not None:
            kwargs["weight"] = np.asarray(kwargs["weight"]).astype(dtype)
        loss_shape = np.shape(case.target)
        loss, grad = check_multi_margin(x, case.target, reduction=effective,
                                        grad_output=_grad_output(loss_shape, effective),
                                        **kwargs)
        if reduction is None:  # the default is 'mean', as in PyTorch
            assert_identical(multi_margin_loss(x, case.target, **kwargs), loss, "default")
            assert_identical(MultiMarginLoss(**kwargs)(x, case.target), loss, "default")
            t_default = F.multi_margin_loss(
                torch.from_numpy(x), torch.from_numpy(np.array(case.target)),
                **{k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v)
                   for k, v in kwargs.items()})
            np.testing.assert_allclose(loss, t_default.numpy(), rtol=RTOL[np.dtype(dtype)],
                                       atol=RTOL[np.dtype(dtype)])
    else:
        loss_shape = (x.shape[0],) if x.ndim == 2 else ()
        loss, grad = check_multilabel_margin(x, case.target, reduction=effective,
                                             grad_output=_grad_output(loss_shape, effective))
        if reduction is None:
            assert_identical(multilabel_margin_loss(x, case.target), loss, "default")
            assert_identical(MultiLabelMarginLoss()(x, case.target), loss, "default")
            t_default = F.multilabel_margin_loss(torch.from_numpy(x),
                                                 torch.from_numpy(np.array(case.target)))
            np.testing.assert_allclose(loss, t_default.numpy(), rtol=RTOL[np.dtype(dtype)],
                                       atol=RTOL[np.dtype(dtype)])
    return loss, grad


def ids_of(cases):
    return [case.id for case in cases]


# ---------------------------------------------------------------------------
# OpInfo: sample_inputs_multi_margin_loss
# ---------------------------------------------------------------------------
def opinfo_multi_margin_samples(rng):
    weight = make_input(rng, (S,), low=-10.0, high=10.0)
    specs = [
        ("()", (), make_target(rng, (), 0, 1), {}),
        ("(S,)-t0d-p1", (S,), make_target(rng, (), 0, S), {"p": 1}),
        ("(S,)-t(1,)-p2", (S,), make_target(rng, (1,), 0, S), {"p": 2}),
        ("(S,M)-margin1", (S, M), make_target(rng, (S,), 0, M), {"margin": 1.0}),
        ("(S,M)-margin-3.14", (S, M), make_target(rng, (S,), 0, M), {"margin": -3.14}),
        ("(M,S)-weight_none", (M, S), make_target(rng, (M,), 0, S), {"weight": None}),
        ("(M,S)-weighted", (M, S), make_target(rng, (M,), 0, S), {"weight": weight}),
        ("(M,S)-none", (M, S), make_target(rng, (M,), 0, S), {"reduction": "none"}),
        ("(M,S)-mean", (M, S), make_target(rng, (M,), 0, S), {"reduction": "mean"}),
        ("(M,S)-sum", (M, S), make_target(rng, (M,), 0, S), {"reduction": "sum"}),
    ]
    return [Case(name, "mm", make_input(rng, shape), target, kwargs)
            for name, shape, target, kwargs in specs]


def opinfo_multi_margin_reference(rng):
    """reference_inputs_multi_margin_loss: 4 layouts x p x margin x weight x reduction."""
    layouts = [
        ("()", (), lambda: make_target(rng, (), 0, 1)),
        ("(S,)-t0d", (S,), lambda: make_target(rng, (), 0, S)),
        ("(S,)-t(1,)", (S,), lambda: make_target(rng, (1,), 0, S)),
        ("(M,S)", (M, S), lambda: make_target(rng, (M,), 0, S)),
    ]
    cases = []
    for (name, shape, target), p, margin, weighted, reduction in product(
        layouts, (1, 2), (0, 7, -3.14), (False, True), (None, "none", "mean", "sum")
    ):
        x = make_input(rng, shape)
        weight_shape = (shape[-1],) if shape else (1,)
        weight = make_input(rng, weight_shape, low=-10.0, high=10.0) if weighted else None
        kwargs = {"p": p, "margin": margin, "weight": weight}
        if reduction is not None:
            kwargs["reduction"] = reduction
        case_id = (f"{name}-p{p}-margin{margin}-{'weighted' if weighted else 'unweighted'}"
                   f"-{reduction or 'default'}")
        cases.append(Case(case_id, "mm", x, target(), kwargs))
    return cases


# ---------------------------------------------------------------------------
# OpInfo: sample_inputs / reference_inputs_multilabel_margin_loss
# ---------------------------------------------------------------------------
def opinfo_multilabel_margin_samples(rng):
    specs = [
        ("()", (), make_target(rng, (), 0, 1), {}),
        ("(S,)", (S,), make_target(rng, (S,), 0, S), {}),
        ("(M,S)", (M, S), make_target(rng, (M, S), 0, S), {}),
        ("(M,S)-none", (M, S), make_target(rng, (M, S), 0, S), {"reduction": "none"}),
        ("(M,S)-mean", (M, S), make_target(rng, (M, S), 0, S), {"reduction": "mean"}),
        ("(M,S)-sum", (M, S), make_target(rng, (M, S), 0, S), {"reduction": "sum"}),
    ]
    return [Case(name, "mlm", make_input(rng, shape), target, kwargs)
            for name, shape, target, kwargs in specs]


MLM_T7 = np.array([2, 0, 6, -1, 4, -1, 6])
MLM_T45 = np.array([[4, -1, 0, -1, 2], [0, 0, 4, 1, 4], [-1, 3, -1, 1, 0], [4, 3, 2, 1, 0]])


def opinfo_multilabel_margin_reference(rng):
    layouts = [
        # random targets including -1
        ("()-random", (), make_target(rng, (), -1, 1)),
        ("(S,)-random", (S,), make_target(rng, (S,), -1, S)),
        ("(M,S)-random", (M, S), make_target(rng, (M, S), -1, S)),
        # repeated labels and -1 (labels after the first -1 are ignored)
        ("()-t-1", (), np.array(-1)),
        ("[7]-fixed", (7,), MLM_T7),
        ("[4,5]-fixed", (4, 5), MLM_T45),
    ]
    cases = []
    for (name, shape, target), reduction in product(layouts, (None, "none", "mean", "sum")):
        kwargs = {} if reduction is None else {"reduction": reduction}
        cases.append(Case(f"{name}-{reduction or 'default'}", "mlm", make_input(rng, shape),
                          target, kwargs))
    return cases


OPINFO_CASES = (
    opinfo_multi_margin_samples(np.random.default_rng(1538))
    + opinfo_multilabel_margin_samples(np.random.default_rng(1687))
    + opinfo_multilabel_margin_reference(np.random.default_rng(1704))
)
OPINFO_MM_REFERENCE = opinfo_multi_margin_reference(np.random.default_rng(1560))


def test_opinfo_reference_inputs_count():
    # 4 layouts x 2 p x 3 margins x 2 weights x 4 reductions, as in PyTorch
    assert len(OPINFO_MM_REFERENCE) == 192
    assert len(opinfo_multilabel_margin_reference(np.random.default_rng(0))) == 24


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", OPINFO_CASES, ids=[f"{c.loss}-{c.id}" for c in OPINFO_CASES])
def test_opinfo_samples(case, dtype):
    run_case(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", OPINFO_MM_REFERENCE, ids=ids_of(OPINFO_MM_REFERENCE))
def test_opinfo_multi_margin_reference_inputs(case, dtype):
    run_case(case, dtype)


# ---------------------------------------------------------------------------
# common_nn criterion dicts
# ---------------------------------------------------------------------------
# (fullname, loss, input, target, kwargs, PyTorch's dtype for it)
def criterion_cases(rng):
    return [
        ("MultiLabelMarginLoss_0d_no_reduce", "mlm", randn(rng, ()),
         np.zeros((), dtype=np.int64), {}, np.float32),
        ("MultiLabelMarginLoss_1d_no_reduce", "mlm", randn(rng, (10,)),
         floor_rand_times(rng, (10,), 10), {}, np.float64),
        ("MultiLabelMarginLoss_index_neg", "mlm", randn(rng, (5, 10)),
         np.maximum(np.floor((rng.random((5, 10)) - 0.5) * 20), -1).astype(np.int64), {},
         np.float64),
        ("MultiLabelMarginLoss_no_reduce", "mlm", randn(rng, (5, 10)),
         floor_rand_times(rng, (5, 10), 10), {}, np.float64),
        ("MultiMarginLoss_no_reduce", "mm", randn(rng, (5, 10)),
         floor_rand_times(rng, (5,), 8), {}, np.float64),
        ("MultiMarginLoss_1d_no_reduce", "mm", randn(rng, (10,)),
         floor_rand_times(rng, (1,), 8), {}, np.float64),
        ("multimarginloss_1d_input_0d_target_no_reduce", "mm", randn(rng, (10,)),
         floor_rand_times(rng, (), 8), {}, np.float64),
        ("MultiMarginLoss_p_no_reduce", "mm", np.clip(randn(rng, (5, 10)), 1e-2, 1 - 1e-2),
         floor_rand_times(rng, (5,), 8), {"p": 2}, np.float64),
        ("MultiMarginLoss_margin_no_reduce", "mm", randn(rng, (5, 10)),
         floor_rand_times(rng, (5,), 8), {"margin": 0.5}, np.float64),
        ("MultiMarginLoss_weights_no_reduce", "mm", randn(rng, (5, 10)),
         floor_rand_times(rng, (5,), 8), {"weight": rng.random(10)}, np.float64),
    ]


CRITERION_CASES = criterion_cases(np.random.default_rng(797))


def finite_difference_gradient(f, x, h):
    """Central differences of the scalar function f at x (float64)."""
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        up = f(x)
        flat_x[i] = old - h
        down = f(x)
        flat_x[i] = old
        flat_g[i] = (up - down) / (2 * h)
    return grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name, loss, x, target, kwargs, torch_dtype", CRITERION_CASES,
    ids=[c[0] for c in CRITERION_CASES],
)
def test_common_nn_criterion(name, loss, x, target, kwargs, torch_dtype, reduction):
    for dtype in (torch_dtype, np.float64 if torch_dtype == np.float32 else np.float32):
        run_case(Case(name, loss, x, target, {**kwargs, "reduction": reduction}), dtype)

    # gradcheck, as the criterion tests do: our analytic float64 gradient against
    # central differences of our own loss (the data keep every term away from its kink).
    x = x.copy()
    loss_shape = np.shape(target) if loss == "mm" else ((x.shape[0],) if x.ndim == 2 else ())
    go = _grad_output(loss_shape, reduction)
    if loss == "mm":
        def f(values):
            return np.sum(go * multi_margin_loss(values, target, reduction=reduction, **kwargs))
        grad = multi_margin_loss_grad(x, target, reduction=reduction, grad_output=go, **kwargs)
    else:
        def f(values):
            return np.sum(go * multilabel_margin_loss(values, target, reduction=reduction))
        grad = multilabel_margin_loss_grad(x, target, reduction=reduction, grad_output=go)
    numeric = finite_difference_gradient(f, x, 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_common_nn_multilabel_margin_no_batch_dim(reduction):
    """MultiLabelMarginLoss_no_batch_dim_{reduction}: randn(4) double, t = [3, 0, -1, 1],
    compared with the batched single-sample result, squeezed."""
    x = randn(np.random.default_rng(3197), (4,))
    t = np.array([3, 0, -1, 1])
    loss, grad = run_case(Case("no_batch_dim", "mlm", x, t, {"reduction": reduction}),
                          np.float64)
    go = _grad_output((), reduction)  # what run_case used
    batched_go = np.reshape(go, (1,)) if reduction == "none" else go
    batched_loss, batched_grad = multilabel_margin_loss_and_grad(x[None], t[None], reduction,
                                                                 grad_output=batched_go)
    np.testing.assert_array_equal(np.squeeze(batched_loss), loss)
    assert np.shape(loss) == ()
    np.testing.assert_array_equal(batched_grad[0], grad)
    module = MultiLabelMarginLoss(reduction=reduction)
    np.testing.assert_array_equal(np.squeeze(module(x[None], t[None])), module(x, t))


# ---------------------------------------------------------------------------
# ModuleInfo (common_modules.py): the modules, compared with torch.nn's
# ---------------------------------------------------------------------------
MODULE_REDUCTIONS = [("", {}), ("reduction_sum", {"reduction": "sum"}),
                     ("reduction_mean", {"reduction": "mean"}),
                     ("reduction_none", {"reduction": "none"})]


def module_cases(rng):
    cases = []
    for desc, kwargs in MODULE_REDUCTIONS:
        cases.append(Case(f"MultiLabelMarginLoss-1d_{desc}", "mlm", make_input(rng, (10,)),
                          make_target(rng, (10,), 0, 10), kwargs))
        cases.append(Case(f"MultiLabelMarginLoss-{desc or 'default'}", "mlm",
                          make_input(rng, (5, 10)), make_target(rng, (5, 10), 0, 10), kwargs))
    for desc, kwargs in MODULE_REDUCTIONS + [("p", {"p": 2}), ("margin", {"margin": 0.5}),
                                             ("weights", {"weight": make_input(rng, (10,))})]:
        cases.append(Case(f"MultiMarginLoss-{desc or 'default'}", "mm", make_input(rng, (5, 10)),
                          make_target(rng, (5,), 0, 10), kwargs))
    return cases


MODULE_CASES = module_cases(np.random.default_rng(2779))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", MODULE_CASES, ids=ids_of(MODULE_CASES))
def test_module_info(case, dtype):
    run_case(case, dtype)
    x = case.input.astype(dtype)
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    target_t = torch.from_numpy(case.target)
    if case.loss == "mm":
        kwargs = dict(case.kwargs)
        if kwargs.get("weight") is not None:
            kwargs["weight"] = kwargs["weight"].astype(dtype)
        ours = MultiMarginLoss(**kwargs)
        theirs = torch.nn.MultiMarginLoss(
            **{k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v)
               for k, v in kwargs.items()})
    else:
        ours = MultiLabelMarginLoss(**case.kwargs)
        theirs = torch.nn.MultiLabelMarginLoss(**case.kwargs)
    out = theirs(x_t, target_t)
    out.sum().backward()
    rtol = RTOL[np.dtype(dtype)]
    loss, grad = ours.loss_and_gradient(x, case.target)
    assert np.shape(loss) == tuple(out.shape)
    np.testing.assert_allclose(loss, out.detach().numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad, x_t.grad.numpy(), rtol=rtol,
                               atol=rtol * np.abs(x_t.grad.numpy()).max())


# ---------------------------------------------------------------------------
# JIT cases (jit_metaprogramming_utils.py nn_functional_tests)
# ---------------------------------------------------------------------------
def jit_cases(rng):
    return [
        Case("multilabel_margin_loss", "mlm", np.array([[0.2, -0.2, 0.07]]),
             np.array([[0, 0, 1]]), {}),
        # ('multi_margin_loss', (S, S), (target, 1, 1., weight)) -- positional p, margin, weight
        Case("multi_margin_loss", "mm", randn(rng, (S, S)), rng.integers(0, S, S),
             {"p": 1, "margin": 1.0, "weight": randn(rng, (S,))}),
    ]


JIT_CASES = jit_cases(np.random.default_rng(249))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("case", JIT_CASES, ids=ids_of(JIT_CASES))
def test_jit_cases(case, dtype):
    loss, grad = run_case(case, dtype)
    x = case.input.astype(dtype)
    if case.loss == "mm":  # the JIT case passes p, margin and weight positionally
        weight = case.kwargs["weight"].astype(dtype)
        assert_identical(multi_margin_loss(x, case.target, 1, 1.0, weight), loss, "positional")
        assert_identical(multi_margin_loss_grad(x, case.target, 1, 1.0, weight), grad,
                         "positional")


# ---------------------------------------------------------------------------
# Golden values printed by torch 2.13 (exact repr)
# ---------------------------------------------------------------------------
X7 = [0.3, -1.2, 0.5, 2.0, -0.7, 0.9, 0.1]
X45 = [[.1, .2, .4, .8, -.3], [1.5, -.5, 0, .25, .6], [.9, .9, -.9, .3, 0], [-2, 1, .5, .5, 3]]
XDOC = [[0.1, 0.2, 0.4, 0.8]]

# (id, loss, input, target, kwargs, output, gradient of output.sum()); float64 inputs
GOLDEN = [
    ("mlm-x7-none", "mlm", X7, MLM_T7, {"reduction": "none"},
     1.8714285714285714,
     [-0.2857142857142857, 0, -0.2857142857142857, 0.42857142857142855,
      0.14285714285714285, 0.42857142857142855, -0.42857142857142855]),
    ("mlm-x45-none", "mlm", X45, MLM_T45, {"reduction": "none"},
     [1.3400000000000003, 1.07, 0, 0],
     [[.2, .2, .2, .2, -.8], [0, -.4, .6000000000000001, .6000000000000001, -.8],
      [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]),
    ("mlm-jit-mean", "mlm", [[0.2, -0.2, 0.07]], [[0, 0, 1]], {"reduction": "mean"},
     1.0033333333333334,
     [[-0.6666666666666666, -0.3333333333333333, 1.0]]),
    ("mm-x45-none", "mm", X45, [3, 0, 2, 4], {"reduction": "none"},
     [0.25999999999999995, 0.019999999999999997, 1.94, 0],
     [[.2, .2, .2, -.6000000000000001, 0], [-.2, 0, 0, 0, .2], [.2, .2, -.8, .2, .2],
      [0, 0, 0, 0, 0]]),
    ("mm-x45-p2-margin0.5-weighted-none", "mm", X45, [3, 0, 2, 4],
     {"p": 2, "margin": 0.5, "weight": [.5, 1, 2, -1, 3], "reduction": "none"},
     [-0.001999999999999999, 0, 6.171999999999999, 0],
     [[0, 0, -0.039999999999999994, 0.039999999999999994, 0], [0, 0, 0, 0, 0],
      [1.8399999999999999, 1.8399999999999999, -6.16, 1.36, 1.1199999999999999],
      [0, 0, 0, 0, 0]]),
    ("mm-x45-margin-3.14-mean", "mm", X45, [1, 1, 1, 1], {"margin": -3.14, "reduction": "mean"},
     0.0, np.zeros((4, 5))),
    ("mm-x7-t0d-p2-margin7-sum", "mm", X7, 5, {"p": 2, "margin": 7, "reduction": "sum"},
     34.53428571428571,
     [1.8285714285714283, 1.3999999999999997, 1.8857142857142855, 2.314285714285714,
      1.5428571428571427, -10.74285714285714, 1.7714285714285711]),
    # the probe of §3.4: duplicates count twice, entries after -1 are ignored
    ("mlm-probe-[3,-1,-1,-1]-sum", "mlm", XDOC, [[3, -1, -1, -1]], {"reduction": "sum"},
     0.32499999999999996, None),
    ("mlm-probe-[3,3,-1,-1]-sum", "mlm", XDOC, [[3, 3, -1, -1]], {"reduction": "sum"},
     0.6499999999999999, None),
    ("mlm-probe-[3,-1,0,0]-sum", "mlm", XDOC, [[3, -1, 0, 0]], {"reduction": "sum"},
     0.32499999999999996, None),
]

# (loss, gradient) tolerances, as rtol and atol together, of the cases also
# checked that tightly: the value is at most a few roundings of float64 away.
GOLDEN_TIGHT = {
    "mlm-x7-none": (1e-15, 1e-15),
    "mlm-x45-none": (1e-15, 1e-15),
    "mm-x45-none": (1e-15, 1e-15),
    "mm-x45-p2-margin0.5-weighted-none": (1e-15, 2e-15),
    "mm-x7-t0d-p2-margin7-sum": (1e-15, 2e-15),
}

# The documentation examples, in float32 (torch's default dtype).
GOLDEN_FLOAT32 = [
    ("mm-doc-example", "mm", XDOC, [3], {}, 0.32499998807907104),
    ("mlm-doc-example", "mlm", XDOC, [[3, 0, -1, 1]], {}, 0.8500000238418579),
]


def _ours_and_torch(loss, x, target, kwargs):
    kwargs = dict(kwargs)
    if loss == "mm":
        if kwargs.get("weight") is not None:
            kwargs["weight"] = np.asarray(kwargs["weight"], dtype=x.dtype)
        ours = multi_margin_loss_and_grad(x, target, **kwargs)
        theirs = torch_multi_margin(x, target, **kwargs)
        check_multi_margin(x, target, **kwargs)
    else:
        ours = multilabel_margin_loss_and_grad(x, target, **kwargs)
        theirs = torch_multilabel_margin(x, target, **kwargs)
        check_multilabel_margin(x, target, **kwargs)
    return ours, theirs


@pytest.mark.parametrize("case_id, loss, x, target, kwargs, output, gradient", GOLDEN,
                         ids=[g[0] for g in GOLDEN])
def test_golden_float64(case_id, loss, x, target, kwargs, output, gradient):
    x = np.array(x, dtype=np.float64)
    target = np.array(target)
    (our_loss, our_grad), (torch_loss, torch_grad) = _ours_and_torch(loss, x, target, kwargs)
    # torch 2.13 itself prints exactly these numbers ...
    np.testing.assert_array_equal(torch_loss, np.array(output))
    if gradient is not None:
        np.testing.assert_array_equal(torch_grad, np.array(gradient))
    # ... and ours, accumulated in float64 in another order, agree to the last bits.
    assert np.shape(our_loss) == np.shape(output)
    np.testing.assert_allclose(our_loss, output, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(our_loss, torch_loss, rtol=1e-14, atol=1e-15)
    if gradient is not None:
        np.testing.assert_allclose(our_grad, gradient, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(our_grad, torch_grad, rtol=1e-14, atol=1e-15)
    # Where the hand derivation is short, also within a few units of 1e-16 of it.
    if case_id in GOLDEN_TIGHT:
        loss_tol, grad_tol = GOLDEN_TIGHT[case_id]
        close(our_loss, output, loss_tol)
        close(our_grad, gradient, grad_tol)


@pytest.mark.parametrize("case_id, loss, x, target, kwargs, output", GOLDEN_FLOAT32,
                         ids=[g[0] for g in GOLDEN_FLOAT32])
def test_golden_float32_doc_examples(case_id, loss, x, target, kwargs, output):
    x = np.array(x, dtype=np.float32)
    target = np.array(target)
    (our_loss, _), (torch_loss, _) = _ours_and_torch(loss, x, target, kwargs)
    assert type(our_loss) is np.float32
    assert float(torch_loss) == output
    np.testing.assert_allclose(our_loss, output, rtol=RTOL[np.dtype(np.float32)])
