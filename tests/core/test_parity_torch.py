"""Parity of marginloss with PyTorch 2.13 (eager CPU, autograd) on random problems.

Every case is checked three ways:

- against PyTorch: ``F.multi_margin_loss`` / ``F.multilabel_margin_loss`` on the
  same values, and the gradient from ``out.backward(grad_output)``;
- against the NumPy reference of ``tests/_reference.py`` (terms and their
  activity in the input dtype, as PyTorch; sums in long double);
- against itself: ``*_and_grad`` returns bitwise what the separate calls do,
  and the loss objects return bitwise what the functions do.

Tolerances (our sums run in float64 and are rounded once, PyTorch's float32
sums do not, so results are close, not bitwise equal; see docs/design.md):
rtol 2e-5 for float32 and 1e-11 for float64, with atol = rtol times the
magnitude of the problem.  Where PyTorch's own float32 accumulation drifts
further than that from the exact value (many classes, many active terms), we
must be within tolerance of the exact value and at least as close as PyTorch.

Deliberate differences from PyTorch (NaN scores, the loss of an empty batch
with 'mean'/'sum', (+inf) - (+inf) inside a term) are tested elsewhere and
never generated here.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import (
    MLM_ROW_KINDS,
    dtype_id,
    make_grad_output,
    make_label_target,
    make_scores,
    make_weight,
    n_classes_of,
)
from _reference import (
    RTOL,
    assert_identical,
    assert_loss_like_torch,
    check_multi_margin,
    check_multilabel_margin,
    torch_multi_margin,
    torch_multilabel_margin,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marginloss import (
    MultiLabelMarginLoss,
    MultilabelMarginLoss,
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]


# ---------------------------------------------------------------------------
# MultiMarginLoss: a parametrised grid of shapes x dtype x p x reduction
# ---------------------------------------------------------------------------
# (id, input shape, target shape)
MM_LAYOUTS = [
    ("0d", (), ()),
    ("0d_target1", (), (1,)),
    ("1d_C1_target0d", (1,), ()),
    ("1d_C7_target0d", (7,), ()),
    ("1d_C7_target1", (7,), (1,)),
    ("2d_1x9_target0d", (1, 9), ()),
    ("2d_1x1", (1, 1), (1,)),
    ("2d_2x3", (2, 3), (2,)),
    ("2d_5x10", (5, 10), (5,)),
    ("2d_17x2", (17, 2), (17,)),
    ("2d_33x1", (33, 1), (33,)),
    ("2d_64x50", (64, 50), (64,)),
    ("2d_0x4", (0, 4), (0,)),
]

# (margin, weight kind, grad_output, score kind)
MM_SETTINGS = [
    (1.0, None, 1.0, "normal"),
    (0, "positive", 2.5, "quantized"),
    (-3.14, "mixed", -1.5, "normal"),
    (0.7, "with_zeros", 0.0, "normal"),
    (7, "mixed", "per_sample", "wide"),
    (0.5, None, "per_sample", "quantized"),
    (1, "positive", -0.375, "tiny"),
    (2.75, None, 1.0, "quantized"),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2], ids=["p1", "p2"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", MM_LAYOUTS, ids=[lay[0] for lay in MM_LAYOUTS])
def test_multi_margin_matches_torch(layout, dtype, p, reduction, rng):
    _, shape, target_shape = layout
    n_classes = n_classes_of(shape)
    for margin, weight_kind, go_kind, score_kind in MM_SETTINGS:
        x = make_scores(rng, shape, dtype, score_kind)
        y = rng.integers(0, n_classes, size=target_shape)
        weight = make_weight(rng, n_classes, dtype, weight_kind)
        go = make_grad_output(rng, go_kind, target_shape, reduction, dtype)
        check_multi_margin(x, y, p=p, margin=margin, weight=weight, reduction=reduction,
                           grad_output=go)


# ---------------------------------------------------------------------------
# MultiLabelMarginLoss: the same grid (no p)
# ---------------------------------------------------------------------------
MLM_LAYOUTS = [
    ("0d", (), ()),
    ("0d_target1", (), (1,)),
    ("1d_C1_target0d", (1,), ()),
    ("1d_C1", (1,), (1,)),
    ("1d_C9", (9,), (9,)),
    ("2d_1x1", (1, 1), (1, 1)),
    ("2d_1x7", (1, 7), (1, 7)),
    ("2d_3x2", (3, 2), (3, 2)),
    ("2d_8x10", (8, 10), (8, 10)),
    ("2d_40x1", (40, 1), (40, 1)),
    ("2d_64x50", (64, 50), (64, 50)),
    ("2d_0x5", (0, 5), (0, 5)),
]

# (grad_output, score kind)
MLM_SETTINGS = [
    (1.0, "normal"),
    (2.5, "quantized"),
    (-1.5, "normal"),
    (0.0, "normal"),
    ("per_sample", "wide"),
    ("per_sample", "quantized"),
    (-0.375, "tiny"),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", MLM_LAYOUTS, ids=[lay[0] for lay in MLM_LAYOUTS])
def test_multilabel_margin_matches_torch(layout, dtype, reduction, rng):
    _, shape, target_shape = layout
    loss_shape = (shape[0],) if len(shape) == 2 else ()
    for go_kind, score_kind in MLM_SETTINGS:
        for _ in range(2):
            x = make_scores(rng, shape, dtype, score_kind)
            t = make_label_target(rng, shape, target_shape)
            go = make_grad_output(rng, go_kind, loss_shape, reduction, dtype)
            check_multilabel_margin(x, t, reduction=reduction, grad_output=go)


# ---------------------------------------------------------------------------
# Hypothesis: random problems over all the settings at once
# ---------------------------------------------------------------------------
# 200 examples by default, the same ones on every run (CI must not flake); a
# long profile loaded by conftest (HYPOTHESIS_PROFILE=soak) explores at random.
_SOAK = settings.default.max_examples > 1000
HYPOTHESIS_SETTINGS = settings(
    max_examples=max(200, settings.default.max_examples),
    deadline=None,
    derandomize=not _SOAK,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

margins = st.one_of(
    st.sampled_from([0, 0.0, 1, 1.0, 0.5, -1.0, -3.14, 7, 0.1, 0.7, 2.75, 1e-7]),
    st.floats(-5, 5, allow_nan=False, allow_infinity=False),
)
grad_outputs = st.sampled_from([1.0, 0.0, -1.0, 2.5, -0.375, 1e3, "per_sample"])
score_kinds = st.sampled_from(["normal", "normal", "quantized", "wide", "tiny"])


@st.composite
def input_layouts(draw, max_samples=64, max_classes=50, multilabel=False):
    """(input shape, target shape) of any layout the loss accepts."""
    kind = draw(st.sampled_from(["2d", "2d", "2d", "2d", "1d", "1d_other", "0d"]))
    n_classes = draw(st.integers(1, max_classes))
    if kind == "2d":
        n_samples = draw(st.integers(0, max_samples))
        shape = (n_samples, n_classes)
        if multilabel:
            return shape, shape
        if n_samples == 1 and draw(st.booleans()):
            return shape, ()
        return shape, (n_samples,)
    if kind == "1d":
        return (n_classes,), ((n_classes,) if multilabel else ())
    if kind == "1d_other":
        if multilabel:
            return (1,), ()
        return (n_classes,), (1,)
    return (), draw(st.sampled_from([(), (1,)]))


@given(
    layout=input_layouts(),
    dtype=st.sampled_from(DTYPES),
    p=st.sampled_from([1, 2]),
    margin=margins,
    weight_kind=st.sampled_from([None, "positive", "mixed", "with_zeros"]),
    reduction=st.sampled_from(REDUCTIONS),
    go_kind=grad_outputs,
    score_kind=score_kinds,
    seed=st.integers(0, 2**32 - 1),
    n_threads=st.sampled_from([None, 1, 2]),
)
@HYPOTHESIS_SETTINGS
def test_multi_margin_matches_torch_hypothesis(layout, dtype, p, margin, weight_kind, reduction,
                                                go_kind, score_kind, seed, n_threads):
    rng = np.random.default_rng(seed)
    shape, target_shape = layout
    n_classes = n_classes_of(shape)
    x = make_scores(rng, shape, dtype, score_kind)
    y = rng.integers(0, n_classes, size=target_shape)
    weight = make_weight(rng, n_classes, dtype, weight_kind)
    go = make_grad_output(rng, go_kind, target_shape, reduction, dtype)
    check_multi_margin(x, y, p=p, margin=margin, weight=weight, reduction=reduction,
                       grad_output=go, n_threads=n_threads)


@given(
    layout=input_layouts(multilabel=True),
    dtype=st.sampled_from(DTYPES),
    reduction=st.sampled_from(REDUCTIONS),
    row_kinds=st.lists(st.sampled_from(MLM_ROW_KINDS), min_size=1, max_size=4),
    go_kind=grad_outputs,
    score_kind=score_kinds,
    seed=st.integers(0, 2**32 - 1),
    n_threads=st.sampled_from([None, 1, 2]),
)
@HYPOTHESIS_SETTINGS
def test_multilabel_margin_matches_torch_hypothesis(layout, dtype, reduction, row_kinds, go_kind,
                                                     score_kind, seed, n_threads):
    rng = np.random.default_rng(seed)
    shape, target_shape = layout
    loss_shape = (shape[0],) if len(shape) == 2 else ()
    x = make_scores(rng, shape, dtype, score_kind)
    t = make_label_target(rng, shape, target_shape, row_kinds)
    go = make_grad_output(rng, go_kind, loss_shape, reduction, dtype)
    check_multilabel_margin(x, t, reduction=reduction, grad_output=go, n_threads=n_threads)


# ---------------------------------------------------------------------------
# Many classes: torch's float32 accumulation drifts; compare with float64 torch
# ---------------------------------------------------------------------------
def assert_float32_against_float64_torch(ours, torch32, torch64, rtol, atol, what):
    """ours within tolerance of float64 torch, and at least as close as float32 torch.

    "As close" up to one float32 spacing of the largest value: where torch's sum is
    itself kept in float64 (the MLM loss), both results are float32 roundings of
    values that differ below that spacing and may land on neighbouring floats.
    """
    ours = np.asarray(ours, dtype=np.float64)
    torch32 = np.asarray(torch32, dtype=np.float64)
    np.testing.assert_allclose(ours, torch64, rtol=rtol, atol=atol,
                               err_msg=f"{what}: marginloss float32 vs torch float64")
    err_ours = np.max(np.abs(ours - torch64), initial=0.0)
    err_torch = np.max(np.abs(torch32 - torch64), initial=0.0)
    one_ulp = float(np.spacing(np.float32(np.max(np.abs(torch64), initial=0.0))))
    assert err_ours <= err_torch * 1.0001 + one_ulp, (
        f"{what}: marginloss float32 is off by {err_ours:.3g}, torch float32 by {err_torch:.3g}"
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2], ids=["p1", "p2"])
@pytest.mark.parametrize("shape", [(64, 300), (16, 1000)], ids=["64x300", "16x1000"])
def test_multi_margin_many_classes(shape, p, reduction, rng):
    n_samples, n_classes = shape
    x64 = rng.standard_normal(shape)
    x32 = x64.astype(np.float32)
    y = rng.integers(0, n_classes, n_samples)
    weight = rng.uniform(0.5, 2.0, n_classes)
    margin = 2.3  # many active terms: large accumulations
    go = rng.standard_normal(n_samples) if reduction == "none" else 0.7
    # float64: parity with torch float64 directly
    check_multi_margin(x64, y, p=p, margin=margin, weight=weight, reduction=reduction,
                       grad_output=go)
    # float32: against the reference, and against torch run in float64
    w32 = weight.astype(np.float32)
    go32 = np.asarray(go, dtype=np.float32)
    loss, grad = check_multi_margin(x32, y, p=p, margin=margin, weight=w32,
                                    reduction=reduction, grad_output=go32, check_api=False)
    l32, g32 = torch_multi_margin(x32, y, p, margin, w32, reduction, go32)
    l64, g64 = torch_multi_margin(x32, y, p, margin, w32, reduction, go32,
                                  compute_dtype=np.float64)
    rtol = RTOL[np.dtype(np.float32)]
    assert_float32_against_float64_torch(loss, l32, l64, rtol,
                                         rtol * max(1.0, np.abs(l64).max()), "loss")
    assert_float32_against_float64_torch(grad, g32, g64, rtol,
                                         rtol * np.abs(g64).max(), "gradient")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "shape, row_kinds",
    [((16, 300), ["padded_dups", "padded_junk"]),
     ((4, 1000), ["full_dups", "padded_dups"]),
     ((4, 1000), ["padded"])],
    ids=["16x300_padded", "4x1000_dense", "4x1000_sparse"],
)
def test_multilabel_margin_many_classes(shape, row_kinds, reduction, rng):
    x64 = rng.standard_normal(shape) * 0.5
    x32 = x64.astype(np.float32)
    t = make_label_target(rng, shape, shape, row_kinds)
    go = rng.standard_normal(shape[0]) if reduction == "none" else -1.25
    check_multilabel_margin(x64, t, reduction=reduction, grad_output=go)
    go32 = np.asarray(go, dtype=np.float32)
    loss, grad = check_multilabel_margin(x32, t, reduction=reduction, grad_output=go32,
                                         check_api=False)
    l32, g32 = torch_multilabel_margin(x32, t, reduction, go32)
    l64, g64 = torch_multilabel_margin(x32, t, reduction, go32, compute_dtype=np.float64)
    rtol = RTOL[np.dtype(np.float32)]
    assert_float32_against_float64_torch(loss, l32, l64, rtol,
                                         rtol * max(1.0, np.abs(l64).max()), "loss")
    assert_float32_against_float64_torch(grad, g32, g64, rtol,
                                         rtol * np.abs(g64).max(), "gradient")


# ---------------------------------------------------------------------------
# Targeted semantics, each compared with torch
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_multi_margin_activity_test_is_in_input_dtype(dtype):
    # (1 - x[y]) rounds to exactly 1 in the input dtype, so z = 1 + (-1) == 0: inactive,
    # although the exact value 2**-(mantissa+2) is > 0.  Torch agrees.
    tiny = np.finfo(dtype).eps / 4  # half of the spacing above 1 rounds away
    x = np.array([[-tiny, -1.0, 0.5, -2.0]], dtype=dtype)
    y = np.array([0])
    loss, grad = check_multi_margin(x, y, reduction="sum")
    _, t_grad = torch_multi_margin(x, y, reduction="sum")
    assert grad[0, 1] == t_grad[0, 1] == 0  # the tie is inactive, as in torch
    assert grad[0, 2] == t_grad[0, 2] == dtype(0.25)  # z = 1.5 > 0: active


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_multilabel_margin_activity_test_is_in_input_dtype(dtype):
    tiny = np.finfo(dtype).eps / 4
    x = np.array([[-tiny, -1.0, 0.5, -2.0]], dtype=dtype)
    t = np.array([[0, -1, -1, -1]])
    loss, grad = check_multilabel_margin(x, t, reduction="sum")
    assert grad[0, 1] == 0 and grad[0, 3] == 0
    assert grad[0, 2] == dtype(0.25) and grad[0, 0] == dtype(-0.25)


@pytest.mark.parametrize("margin", [0.7, 0.9, 2.3])
def test_margin_is_rounded_to_float32(margin):
    # z = (fl32(margin) - x[y]) + x[i] is exactly 0 when x[i] = -fl32(margin): inactive,
    # whereas with the float64 margin, margin + x[i] > 0 would be active.
    m32 = np.float32(margin)
    assert float(m32) < margin
    x = np.array([[0.0, -m32, 0.25, -m32 * 2]], dtype=np.float32)
    y = np.array([0])
    for p in (1, 2):
        loss, grad = check_multi_margin(x, y, p=p, margin=margin, reduction="sum")
        assert grad[0, 1] == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("margin", [0, 1, 0.5, -0.25])
def test_exact_ties_add_nothing(dtype, margin, rng):
    x = make_scores(rng, (40, 12), dtype, "quantized")
    y = rng.integers(0, 12, 40)
    z = (dtype(margin) - x[np.arange(40), y])[:, None] + x
    ties = z == 0
    ties[np.arange(40), y] = False
    assert ties.sum() > 10  # the data does exercise the strict test
    for p in (1, 2):
        loss, grad = check_multi_margin(x, y, p=p, margin=margin, reduction="none")
        assert np.all(grad[ties] == 0)


def test_entries_after_first_minus_one_are_ignored(rng):
    for dtype in DTYPES:
        x = make_scores(rng, (30, 8), dtype)
        clean = make_label_target(rng, (30, 8), (30, 8), ["padded", "padded_dups"])
        junk = clean.copy()
        for row in junk:
            negative = np.flatnonzero(row < 0)
            if negative.size:
                k = negative[0]
                row[k + 1:] = rng.integers(-1, 8, 8 - k - 1)
        assert not np.array_equal(junk, clean)
        for reduction in REDUCTIONS:
            ref = check_multilabel_margin(x, clean, reduction=reduction)
            got = check_multilabel_margin(x, junk, reduction=reduction)
            assert_identical(got[0], ref[0], "loss")
            assert_identical(got[1], ref[1], "gradient")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_duplicate_targets_count_with_multiplicity(dtype, rng):
    x = make_scores(rng, (6, 5), dtype)
    once = np.array([[3, -1, -1, -1, -1], [0, 2, -1, -1, -1]] * 3)
    twice = np.array([[3, 3, -1, -1, -1], [0, 2, 0, 2, -1]] * 3)
    rtol = RTOL[np.dtype(dtype)]
    for reduction in REDUCTIONS:
        loss1, grad1 = check_multilabel_margin(x, once, reduction=reduction)
        loss2, grad2 = check_multilabel_margin(x, twice, reduction=reduction)
        np.testing.assert_allclose(loss2, 2 * loss1, rtol=rtol)
        np.testing.assert_allclose(grad2, 2 * grad1, rtol=rtol, atol=0)
    # The doc's example in float64: 0.325, twice that, and the same with junk after -1.
    xx = np.array([[0.1, 0.2, 0.4, 0.8]], dtype=dtype)
    sums = [check_multilabel_margin(xx, np.array([t]), reduction="sum")[0]
            for t in ([3, -1, -1, -1], [3, 3, -1, -1], [3, -1, 0, 0])]
    np.testing.assert_allclose(sums, [0.325, 0.65, 0.325], rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_rows_without_labels_or_with_every_class(dtype, rng):
    x = make_scores(rng, (4, 6), dtype)
    t = np.array([[-1, 2, 3, -1, 0, 1],  # no labels (junk after -1)
                  [5, 4, 3, 2, 1, 0],  # every class is a label
                  [1, 1, 1, 1, 1, 1],  # one class six times
                  [-1, -1, -1, -1, -1, -1]])
    loss, grad = check_multilabel_margin(x, t, reduction="none")
    assert loss[0] == 0 and loss[1] == 0 and loss[3] == 0 and loss[2] > 0
    assert np.all(grad[[0, 1, 3]] == 0)
    for reduction in ("mean", "sum"):
        check_multilabel_margin(x, t, reduction=reduction)


TARGET_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                 np.uint64, np.intp]


@pytest.mark.parametrize("target_dtype", TARGET_DTYPES, ids=dtype_id)
def test_multi_margin_any_integer_target_dtype(target_dtype, rng):
    x = make_scores(rng, (20, 7), np.float32)
    y = rng.integers(0, 7, 20)
    weight = make_weight(rng, 7, np.float32, "mixed")
    for reduction in REDUCTIONS:
        loss, grad = check_multi_margin(x, y.astype(target_dtype), p=2, margin=0.5,
                                        weight=weight, reduction=reduction)
        loss64, grad64 = check_multi_margin(x, y, p=2, margin=0.5, weight=weight,
                                            reduction=reduction, check_api=False)
        assert_identical(loss, loss64, "loss")
        assert_identical(grad, grad64, "gradient")


@pytest.mark.parametrize("target_dtype", TARGET_DTYPES, ids=dtype_id)
def test_multilabel_margin_any_integer_target_dtype(target_dtype, rng):
    x = make_scores(rng, (20, 7), np.float64)
    signed = np.issubdtype(target_dtype, np.signedinteger)
    kinds = MLM_ROW_KINDS if signed else ["all_classes", "full_dups"]  # no -1 in unsigned
    t = make_label_target(rng, (20, 7), (20, 7), kinds)
    for reduction in REDUCTIONS:
        loss, grad = check_multilabel_margin(x, t.astype(target_dtype), reduction=reduction)
        loss64, grad64 = check_multilabel_margin(x, t, reduction=reduction, check_api=False)
        assert_identical(loss, loss64, "loss")
        assert_identical(grad, grad64, "gradient")


@pytest.mark.parametrize("p", [1, 2], ids=["p1", "p2"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_multi_margin_infinite_scores_match_torch(dtype, p):
    inf = np.inf
    x = np.array([[0.5, inf, -1.0, 0.25],  # +inf at a non-target: infinite loss
                  [-inf, 0.5, 0.0, 1.0],  # -inf at the target: infinite terms
                  [0.5, -inf, 0.3, 0.0],  # -inf at a non-target: inactive
                  [inf, -inf, 0.3, 2.0]],  # +inf target, -inf other: all inactive
                 dtype=dtype)
    y = np.array([0, 0, 2, 0])
    for reduction in REDUCTIONS:
        loss = multi_margin_loss(x, y, p=p, reduction=reduction)
        grad = multi_margin_loss_grad(x, y, p=p, reduction=reduction)
        t_loss, t_grad = torch_multi_margin(x, y, p=p, reduction=reduction)
        assert_loss_like_torch(loss, t_loss, dtype, reduction)
        np.testing.assert_allclose(loss, t_loss, rtol=RTOL[np.dtype(dtype)])
        np.testing.assert_allclose(grad, t_grad, rtol=RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_multilabel_margin_infinite_scores_match_torch(dtype):
    inf = np.inf
    x = np.array([[0.5, inf, -1.0, 0.25],  # +inf at a non-label
                  [-inf, 0.5, 0.0, 1.0],  # -inf at a label
                  [0.5, -inf, 0.3, 0.0]],  # -inf at a non-label: inactive
                 dtype=dtype)
    t = np.array([[0, 2, -1, 1], [0, -1, 0, 0], [0, 3, -1, -1]])
    for reduction in REDUCTIONS:
        loss = multilabel_margin_loss(x, t, reduction)
        grad = multilabel_margin_loss_grad(x, t, reduction)
        t_loss, t_grad = torch_multilabel_margin(x, t, reduction)
        assert_loss_like_torch(loss, t_loss, dtype, reduction)
        np.testing.assert_allclose(loss, t_loss, rtol=RTOL[np.dtype(dtype)])
        np.testing.assert_allclose(grad, t_grad, rtol=RTOL[np.dtype(dtype)])


def _layouts(array):
    """The same values as C order, Fortran order, a strided view and a reversed view."""
    yield "C", np.ascontiguousarray(array)
    yield "F", np.asfortranarray(array)
    big = np.zeros((array.shape[0] * 2, array.shape[1] * 3), dtype=array.dtype)
    view = big[::2, ::3]
    view[...] = array
    yield "strided", view
    reversed_ = np.ascontiguousarray(array[::-1, ::-1])[::-1, ::-1]
    yield "reversed", reversed_
    readonly = array.copy()
    readonly.flags.writeable = False
    yield "readonly", readonly


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_non_contiguous_inputs_match_torch(dtype, rng):
    x = make_scores(rng, (9, 6), dtype)
    y = rng.integers(0, 6, 9)
    t = make_label_target(rng, (9, 6), (9, 6))
    w = make_weight(rng, 6, dtype, "mixed")
    base_mm = multi_margin_loss_and_grad(x, y, 2, 0.5, w, "none")
    base_mlm = multilabel_margin_loss_and_grad(x, t, "none")
    y_strided = np.repeat(y, 2)[::2]
    w_strided = np.repeat(w, 3)[::3]
    for name, xv in _layouts(x):
        mm = check_multi_margin(xv, y_strided, p=2, margin=0.5, weight=w_strided,
                                reduction="none")
        assert_identical(mm[0], base_mm[0], f"multi_margin loss, {name}")
        assert_identical(mm[1], base_mm[1], f"multi_margin gradient, {name}")
        assert np.array_equal(xv, x)  # the input was not written
        for tname, tv in _layouts(t):
            mlm = check_multilabel_margin(xv, tv, reduction="none", check_api=False)
            assert_identical(mlm[0], base_mlm[0], f"multilabel loss, {name}/{tname}")
            assert_identical(mlm[1], base_mlm[1], f"multilabel gradient, {name}/{tname}")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradient_out_buffer(dtype, reduction, rng):
    x = make_scores(rng, (7, 5), dtype)
    y = rng.integers(0, 5, 7)
    t = make_label_target(rng, (7, 5), (7, 5))
    mm_grad = check_multi_margin(x, y, p=2, reduction=reduction)[1]
    out = np.full_like(x, np.nan)
    assert multi_margin_loss_grad(x, y, 2, reduction=reduction, out=out) is out
    assert_identical(out, mm_grad, "multi_margin out")
    out = np.full_like(x, np.nan)
    loss, grad = multi_margin_loss_and_grad(x, y, 2, reduction=reduction, out=out)
    assert grad is out
    mlm_grad = check_multilabel_margin(x, t, reduction=reduction)[1]
    out = np.full_like(x, np.nan)
    assert multilabel_margin_loss_grad(x, t, reduction, out=out) is out
    assert_identical(out, mlm_grad, "multilabel_margin out")


def test_multilabel_alias_is_the_same_loss(rng):
    x = make_scores(rng, (5, 4), np.float64)
    t = make_label_target(rng, (5, 4), (5, 4))
    for reduction in REDUCTIONS:
        alias = MultilabelMarginLoss(reduction=reduction)
        loss, grad = check_multilabel_margin(x, t, reduction=reduction)
        assert_identical(alias(x, t), loss, "alias loss")
        assert_identical(alias.gradient(x, t), grad, "alias gradient")


@pytest.mark.parametrize(
    "margin", [7, np.float32(0.7), np.float64(-3.14), np.array(0.5), np.int64(2)],
    ids=["int", "np.float32", "np.float64", "0d_array", "np.int64"],
)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_margin_of_any_real_type(margin, dtype, rng):
    x = make_scores(rng, (6, 5), dtype)
    y = rng.integers(0, 5, 6)
    loss, grad = check_multi_margin(x, y, p=2, margin=float(margin), reduction="sum")
    assert_identical(multi_margin_loss(x, y, 2, margin, reduction="sum"), loss, "loss")
    assert_identical(multi_margin_loss_grad(x, y, 2, margin, reduction="sum"), grad, "gradient")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_defaults_are_torch_defaults(dtype, rng):
    x = make_scores(rng, (8, 6), dtype)
    y = rng.integers(0, 6, 8)
    t = make_label_target(rng, (8, 6), (8, 6))
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    torch.nn.MultiMarginLoss()(x_t, torch.from_numpy(y)).backward()
    rtol = RTOL[np.dtype(dtype)]
    loss = multi_margin_loss(x, y)
    np.testing.assert_allclose(loss, F.multi_margin_loss(torch.from_numpy(x), torch.from_numpy(y)),
                               rtol=rtol)
    assert_identical(MultiMarginLoss()(x, y), loss, "module default")
    np.testing.assert_allclose(multi_margin_loss_grad(x, y), x_t.grad.numpy(), rtol=rtol,
                               atol=rtol * np.abs(x_t.grad.numpy()).max())
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    torch.nn.MultiLabelMarginLoss()(x_t, torch.from_numpy(t)).backward()
    loss = multilabel_margin_loss(x, t)
    np.testing.assert_allclose(
        loss, F.multilabel_margin_loss(torch.from_numpy(x), torch.from_numpy(t)), rtol=rtol)
    assert_identical(MultiLabelMarginLoss()(x, t), loss, "module default")
    np.testing.assert_allclose(multilabel_margin_loss_grad(x, t), x_t.grad.numpy(), rtol=rtol,
                               atol=rtol * np.abs(x_t.grad.numpy()).max())
