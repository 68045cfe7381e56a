"""Property-based fuzzing of every public call (hypothesis).

The property, for arbitrary arguments (_fuzz_strategies.py): each call
either returns what the NumPy reference of tests/_reference.py computes (to
the parity tests' tolerances), or raises ValueError/TypeError whose message
names an argument that is wrong by the documented rules; never another
exception, never a crash or hang, never a write to a caller's array other
than ``out`` (and nothing at all when it raises).  ``out`` may be the input
itself: the gradient is then computed from the original scores, as documented.

Validity is decided here by a simple predicate written from the docstrings,
independently of ``marginloss._validation``.  Valid calls at the edges of
every kernel path (block widths, row-block tails, the multi-label paths'
thresholds) are drawn on their own as well, and every multi-class kernel
build the CPU runs must give the same bits on them.  CI runs hypothesis's
default number of examples (150 and 100 for the edges); ``python -m pytest tests/core/test_fuzz.py
--hypothesis-profile=soak`` runs a long soak.
"""

import math
import numbers
import os
import sys
import traceback
import warnings

import numpy as np
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _fuzz_strategies import (  # noqa: E402
    ABSENT,
    CLASS_FORMS,
    classifier_fits,
    logical_shape,
    metric_calls,
    multi_margin_calls,
    multi_margin_path_calls,
    multilabel_margin_calls,
    multilabel_margin_path_calls,
    multilabel_metric_calls,
)
from _reference import ACC, RTOL, _multi_margin_rows, _multilabel_margin_rows  # noqa: E402

import marginloss  # noqa: E402
from marginloss import _kernels  # noqa: E402
from marginloss.sklearn import (  # noqa: E402
    MultiMarginClassifier,
    multi_margin_loss_metric,
    multi_margin_scorer,
    multilabel_margin_loss_metric,
    multilabel_margin_scorer,
)

FUNCTIONS = {
    ("multi_margin", "loss"): marginloss.multi_margin_loss,
    ("multi_margin", "grad"): marginloss.multi_margin_loss_grad,
    ("multi_margin", "both"): marginloss.multi_margin_loss_and_grad,
    ("multilabel_margin", "loss"): marginloss.multilabel_margin_loss,
    ("multilabel_margin", "grad"): marginloss.multilabel_margin_loss_grad,
    ("multilabel_margin", "both"): marginloss.multilabel_margin_loss_and_grad,
}
RETURNS_LOSS = {"loss", "both", "call", "forward", "loss_and_gradient"}
RETURNS_GRAD = {"grad", "both", "gradient", "loss_and_gradient"}
CAUGHT = (ValueError, TypeError)
EITHER = (ValueError, TypeError)


# ===================================================================== the predicate
def _asarray(value):
    """np.asarray, or None when NumPy cannot convert the value."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(value)
    except Exception:  # noqa: BLE001
        return None


def _real_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_real_array(array):
    return array is not None and array.dtype.kind in "biuf"


class Plan:
    """What the documentation says about a call: the wrong arguments as
    (name, exception classes), and the normalised values for the oracle."""

    def __init__(self):
        self.errors = []

    def wrong(self, name, error):
        self.errors.append((name, error))


def _check_settings(call, plan):
    family = call["family"]
    if family == "multi_margin":
        p = call["p"]
        if not _real_number(p):
            plan.wrong("p", TypeError)
        elif not (p == 1 or p == 2):
            plan.wrong("p", ValueError)
        else:
            plan.p = int(p)
        multi_class = call["multi_class"]
        if not isinstance(multi_class, str):
            plan.wrong("multi_class", TypeError)
        elif multi_class not in ("weston_watkins", "crammer_singer"):
            plan.wrong("multi_class", ValueError)
        plan.multi_class = multi_class
        weight = call["weight"]
        plan.weight = None
        if weight is not None:
            array = _asarray(weight)
            if array is None:
                plan.wrong("weight", EITHER)
            elif not _is_real_array(array):
                plan.wrong("weight", TypeError)
            elif array.ndim != 1:
                plan.wrong("weight", ValueError)
            else:
                with np.errstate(all="ignore"):
                    plan.weight = array.astype(np.float64)
                if not np.isfinite(plan.weight).all():
                    plan.wrong("weight", ValueError)
    else:
        target_format = call["target_format"]
        if not isinstance(target_format, str):
            plan.wrong("target_format", TypeError)
        elif target_format not in ("indices", "indicator"):
            plan.wrong("target_format", ValueError)
        plan.target_format = target_format

    margin = call["margin"]
    if isinstance(margin, np.ndarray) and margin.ndim == 0:
        margin = margin[()]
    plan.margin = None
    if not _real_number(margin):
        plan.wrong("margin", TypeError)
    else:
        try:
            plan.margin = float(margin)
        except OverflowError:
            plan.margin = math.inf
        if not math.isfinite(plan.margin):
            plan.wrong("margin", ValueError)
            plan.margin = None

    legacy = {name: call[name] for name in ("size_average", "reduce") if call[name] is not None}
    plan.deprecated = bool(legacy)
    if legacy:
        for name, value in legacy.items():
            if not isinstance(value, (numbers.Integral, np.bool_)):
                plan.wrong(name, TypeError)
        if "reduce" in legacy and not legacy["reduce"]:
            plan.reduction = "none"
        elif "size_average" in legacy and not legacy["size_average"]:
            plan.reduction = "sum"
        else:
            plan.reduction = "mean"
    else:
        reduction = call["reduction"]
        plan.reduction = reduction
        if not isinstance(reduction, str):
            plan.wrong("reduction", TypeError)
        elif reduction == "elementwise_mean":
            plan.reduction = "mean"
            plan.deprecated = True
        elif reduction not in ("none", "mean", "sum"):
            plan.wrong("reduction", ValueError)

    n_threads = call["n_threads"]
    if n_threads is not None:
        if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, numbers.Integral):
            plan.wrong("n_threads", TypeError)
        elif n_threads == 0:
            plan.wrong("n_threads", ValueError)


def _check_input(call, plan):
    array = _asarray(call["input"])
    if array is None:
        plan.wrong("input", EITHER)
        return False
    if not _is_real_array(array):
        plan.wrong("input", TypeError)
        return False
    if array.ndim > 2 or (array.ndim >= 1 and array.shape[-1] == 0):
        plan.wrong("input", ValueError)
        return False
    plan.shape = array.shape
    plan.dtype = np.dtype(np.float32 if array.dtype.kind == "f" and array.dtype.itemsize <= 4
                          else np.float64)
    plan.n_samples, plan.n_classes = logical_shape(array.shape)
    with np.errstate(all="ignore"):
        plan.x = array.astype(plan.dtype).reshape(plan.n_samples, plan.n_classes)
    if plan.margin is not None:
        with np.errstate(all="ignore"):
            if not np.isfinite(plan.dtype.type(plan.margin)):
                plan.wrong("margin", ValueError)
    if getattr(plan, "weight", None) is not None and plan.weight.shape != (plan.n_classes,):
        plan.wrong("weight", ValueError)
    return True


def _check_target(call, plan, input_ok):
    target = call["target"]
    array = _asarray(target)
    indicator = call["family"] == "multilabel_margin" and plan.target_format == "indicator"
    kinds = "biu" if indicator else "iu"
    if array is None:
        plan.wrong("target", EITHER)
        return False
    empty_list = array.size == 0 and not isinstance(target, np.ndarray) and not indicator
    if array.dtype.kind not in kinds and not empty_list:
        plan.wrong("target", TypeError)
        return False
    if not input_ok:
        return False
    n_samples, n_classes = plan.n_samples, plan.n_classes
    if call["family"] == "multi_margin":
        if array.ndim > 1 or array.size != n_samples:
            plan.wrong("target", ValueError)
            return False
        low = 0
        plan.loss_shape = array.shape
    else:
        if len(plan.shape) == 2:
            shape_ok = array.shape == plan.shape
        else:
            shape_ok = array.ndim <= 1 and array.size == n_classes
        if not shape_ok:
            plan.wrong("target", ValueError)
            return False
        low = -1
        plan.loss_shape = (n_samples,) if len(plan.shape) == 2 else ()
    if indicator:
        if array.dtype.kind != "b" and np.any((array != 0) & (array != 1)):
            plan.wrong("target", ValueError)
            return False
        plan.target = array.reshape(n_samples, n_classes).astype(bool)
        return True
    if array.size and (array.min() < low or array.max() >= n_classes):
        plan.wrong("target", ValueError)
        return False
    plan.target = array.astype(np.int64)
    return True


def _check_per_sample(call, plan, target_ok):
    plan.sample_weight = None
    sample_weight = call["sample_weight"]
    if sample_weight is not None:
        array = _asarray(sample_weight)
        if array is None:
            plan.wrong("sample_weight", EITHER)
        elif not _is_real_array(array):
            plan.wrong("sample_weight", TypeError)
        elif target_ok:
            if array.shape != plan.loss_shape and not (plan.loss_shape == ()
                                                        and array.shape == (1,)):
                plan.wrong("sample_weight", ValueError)
            else:
                with np.errstate(all="ignore"):
                    weights = array.astype(np.float64).reshape(plan.n_samples)
                if not np.isfinite(weights).all() or (weights < 0).any():
                    plan.wrong("sample_weight", ValueError)
                elif (plan.reduction == "mean" and plan.n_samples
                      and not (weights > 0).any()):
                    plan.wrong("sample_weight", ValueError)
                plan.sample_weight = weights

    if call["via"] not in RETURNS_GRAD:
        return
    grad_output = 1.0 if call["grad_output"] is ABSENT else call["grad_output"]
    array = _asarray(grad_output)
    if array is None:
        plan.wrong("grad_output", EITHER)
    elif not _is_real_array(array):
        plan.wrong("grad_output", TypeError)
    elif target_ok:
        if array.ndim and not (plan.reduction == "none" and array.shape == plan.loss_shape):
            plan.wrong("grad_output", ValueError)
        with np.errstate(all="ignore"):
            plan.grad_output = array.astype(np.float64)

    out = call["out"]
    if out is not None:
        if not isinstance(out, np.ndarray):
            plan.wrong("out", TypeError)
        elif hasattr(plan, "dtype"):
            if out.shape != plan.shape:
                plan.wrong("out", ValueError)
            if out.dtype != plan.dtype:
                plan.wrong("out", TypeError)
            if not out.flags.c_contiguous or not out.flags.writeable:
                plan.wrong("out", ValueError)


def analyse(call):
    plan = Plan()
    _check_settings(call, plan)
    input_ok = _check_input(call, plan)
    target_ok = _check_target(call, plan, input_ok)
    _check_per_sample(call, plan, target_ok)
    return plan


# ======================================================================= the oracle
def _crammer_singer_rows(x, target, p, margin, weight):
    """Rows and d(row)/dx of the Crammer-Singer form: the first largest rival only."""
    n_samples, n_classes = x.shape
    dtype = x.dtype.type
    weight = np.ones(n_classes) if weight is None else weight
    rows = np.zeros(n_samples, dtype=ACC)
    dz = np.zeros((n_samples, n_classes), dtype=ACC)
    for n in range(n_samples):
        y = target[n]
        if n_classes == 1:
            continue
        others = np.flatnonzero(np.arange(n_classes) != y)
        rival = others[np.argmax(x[n, others])]
        z = (dtype(margin) - x[n, y]) + x[n, rival]
        if z > 0:
            w = ACC(weight[y])
            rows[n] = w * ACC(z) ** p
            dz[n, rival] = w * (ACC(1) if p == 1 else ACC(2) * ACC(z))
            dz[n, y] = -dz[n, rival]
    return rows, dz


def _nan_rows(plan):
    """Rows the documentation makes NaN: a NaN score, or a NaN term (inf - inf)."""
    x = plan.x
    dtype = x.dtype.type
    nan = np.isnan(x).any(axis=1)
    shift = dtype(plan.margin) - x  # (margin - x[j]) for every j
    for n in range(x.shape[0]):
        if nan[n]:
            continue
        if plan.family == "multi_margin":
            y = plan.target_rows[n]
            others = np.flatnonzero(np.arange(x.shape[1]) != y)
            if plan.multi_class == "crammer_singer" and others.size:
                others = others[[np.argmax(x[n, others])]]
            nan[n] = np.isnan(shift[n, y] + x[n, others]).any()
        else:
            labels = plan.labels[n]
            is_label = np.zeros(x.shape[1], bool)
            is_label[labels] = True
            nan[n] = np.isnan(shift[n, labels][:, None] + x[n, ~is_label][None, :]).any()
    return nan


def _indices_of(indicator):
    """Ascending class indices padded with -1, the documented meaning of an indicator."""
    target = np.full(indicator.shape, -1, dtype=np.int64)
    for n, row in enumerate(indicator):
        labels = np.flatnonzero(row)
        target[n, :labels.size] = labels
    return target


def expected(plan, call):
    """(loss, gradient) of the reference, rounded to the computation's dtype."""
    plan.family = call["family"]
    x, n_samples, n_classes = plan.x, plan.n_samples, plan.n_classes
    if plan.family == "multi_margin":
        plan.target_rows = plan.target.reshape(n_samples)
        if plan.multi_class == "crammer_singer":
            rows, dz = _crammer_singer_rows(x, plan.target_rows, plan.p, plan.margin,
                                            plan.weight)
            per_class = 1
        else:
            rows, dz = _multi_margin_rows(x, plan.target_rows, plan.p, plan.margin, plan.weight)
            per_class = n_classes
    else:
        target = plan.target.reshape(n_samples, n_classes)
        if plan.target_format == "indicator":
            target = _indices_of(target)
        plan.labels = []
        for row in target:
            end = np.flatnonzero(row < 0)
            plan.labels.append(row[:end[0] if end.size else n_classes])
        rows, dz = _multilabel_margin_rows(x, target, plan.margin)
        per_class = n_classes
    nan = _nan_rows(plan)
    per_sample = rows / ACC(per_class)
    per_sample[nan] = np.nan
    dz[nan] = np.nan

    weights = None if plan.sample_weight is None else plan.sample_weight.astype(ACC)
    weighted = per_sample if weights is None else per_sample * weights
    if plan.reduction == "none":
        loss = weighted.reshape(plan.loss_shape)
    elif plan.reduction == "sum":
        loss = weighted.sum()
    elif n_samples == 0:
        loss = ACC(np.nan)
    else:
        loss = weighted.sum() / (ACC(n_samples) if weights is None else weights.sum())

    grad = None
    if call["via"] in RETURNS_GRAD:
        go = plan.grad_output.astype(ACC)
        go = np.full(n_samples, go[()]) if go.ndim == 0 else go.reshape(n_samples)
        if weights is not None:
            go = go * weights / (weights.sum() if plan.reduction == "mean" else ACC(1))
        scale = ACC(1) / ACC(per_class)
        if plan.reduction == "mean" and weights is None and n_samples:
            scale = scale / ACC(n_samples)
        grad = (dz * scale * go[:, None]).astype(plan.dtype).reshape(plan.shape)
    return loss.astype(plan.dtype), grad, nan, weighted


def _finite_max(*arrays):
    values = [np.abs(np.asarray(a, dtype=np.float64)) for a in arrays if a is not None]
    values = [v[np.isfinite(v)] for v in values]
    return max([1.0] + [float(v.max()) for v in values if v.size])


def _out_of_range(plan, call):
    """True when float64 intermediates may overflow or underflow where the long-double
    reference does not (sums of huge terms, weighted means of subnormal weights)."""
    go = plan.grad_output if call["via"] in RETURNS_GRAD else None
    x = np.float64(_finite_max(plan.x))
    bound = ((2 * x + abs(plan.margin)) ** getattr(plan, "p", 1)
             * _finite_max(getattr(plan, "weight", None)) * _finite_max(go)
             * _finite_max(plan.sample_weight)
             * (plan.n_samples + 1) * (plan.n_classes + 1) ** 2 * 16)
    if bound > 1e300:
        return True
    if go is not None:
        # grad_output (times s_n / sum(s)) goes into the kernel as a float64 factor: a
        # subnormal one underflows (to 0, and inf * 0 is NaN) where long double does not
        factor = np.abs(go.astype(ACC)).reshape(-1)
        if plan.sample_weight is not None and plan.n_samples:
            weights = plan.sample_weight.astype(ACC)
            total = weights.sum() if plan.reduction == "mean" else ACC(1)
            factor = np.concatenate([factor, factor * weights / total])
        factor = factor[(factor > 0) & np.isfinite(factor)]
        if factor.size and factor.min() < 1e-290:
            return True
    if plan.sample_weight is not None and plan.reduction == "mean" and plan.n_samples:
        return plan.sample_weight.max() < 1e-280
    return False


def _assert_close(ours, exact, dtype, atol, what):
    with np.errstate(all="ignore"):
        ours = np.asarray(ours, dtype=np.float64)
        exact = np.asarray(exact).astype(dtype).astype(np.float64)
    atol = atol + 4 * np.finfo(dtype).tiny  # subnormal results are rounded differently
    np.testing.assert_allclose(ours, exact, rtol=RTOL[dtype], atol=atol, err_msg=what)


def _loss_atol(plan, weighted):
    """rtol times the loss's magnitude: the largest |loss| for 'none', the sum of the
    |weighted losses| for 'sum', their (weighted) mean for 'mean' (cancellation)."""
    magnitude = np.abs(weighted[np.isfinite(weighted)].astype(np.float64))
    scale = {"none": magnitude.max(initial=0.0), "sum": magnitude.sum(),
             "mean": magnitude.mean() if magnitude.size else 0.0}[plan.reduction]
    if plan.reduction == "mean" and plan.sample_weight is not None and magnitude.size:
        scale = magnitude.sum() / max(plan.sample_weight.sum(), 1e-300)
    return RTOL[plan.dtype] * max(1.0, scale)


def check_values(plan, call, result):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss, grad, nan, weighted = expected(plan, call)
        extreme = _out_of_range(plan, call)
    dtype, rtol = plan.dtype, RTOL[plan.dtype]
    if call["via"] in RETURNS_LOSS:
        ours = result[0] if call["via"] in RETURNS_GRAD else result
        if plan.reduction == "none":
            assert isinstance(ours, np.ndarray) and ours.dtype == dtype, (type(ours), ours)
            assert ours.shape == plan.loss_shape, (ours.shape, plan.loss_shape)
            if extreme:
                assert np.isnan(ours.reshape(-1)[nan]).all(), "a NaN row lost its NaN"
        else:
            assert type(ours) is dtype.type, type(ours)
            if extreme and nan.any():
                assert np.isnan(ours)
        if not extreme:
            _assert_close(ours, loss, dtype, _loss_atol(plan, weighted), "loss")
    if call["via"] in RETURNS_GRAD:
        ours = result[1] if call["via"] in RETURNS_LOSS else result
        assert isinstance(ours, np.ndarray), type(ours)
        assert ours.dtype == dtype and ours.shape == plan.shape, (ours.dtype, ours.shape)
        if call["out"] is not None:
            assert ours is call["out"], "the gradient was not returned in out"
        if extreme:
            assert np.isnan(ours.reshape(plan.n_samples, plan.n_classes)[nan]).all()
        else:
            finite = np.abs(grad[np.isfinite(grad)].astype(np.float64))
            _assert_close(ours, grad, dtype, rtol * finite.max(initial=0.0), "gradient")


# ======================================================================== the calls
def invoke(call):
    family, via = call["family"], call["via"]
    settings = dict(margin=call["margin"], reduction=call["reduction"],
                    n_threads=call["n_threads"], size_average=call["size_average"],
                    reduce=call["reduce"])
    if family == "multi_margin":
        settings.update(p=call["p"], weight=call["weight"], multi_class=call["multi_class"])
    else:
        settings.update(target_format=call["target_format"])
    grad_kwargs = {} if call["grad_output"] is ABSENT else {"grad_output": call["grad_output"]}
    if via not in CLASS_FORMS:
        kwargs = dict(settings, sample_weight=call["sample_weight"])
        if via in RETURNS_GRAD:
            kwargs.update(grad_kwargs, out=call["out"])
        return FUNCTIONS[family, via](call["input"], call["target"], **kwargs)
    cls = marginloss.MultiMarginLoss if family == "multi_margin" else marginloss.MultiLabelMarginLoss
    loss = cls(**settings)
    args = (call["input"], call["target"])
    if via == "call":
        return loss(*args, sample_weight=call["sample_weight"])
    if via == "forward":
        return loss.forward(*args, sample_weight=call["sample_weight"])
    method = loss.gradient if via == "gradient" else loss.loss_and_gradient
    return method(*args, out=call["out"], sample_weight=call["sample_weight"], **grad_kwargs)


def _callers_arrays(call):
    """(name, array, private copy) of every caller's ndarray (out included)."""
    names = ["input", "target", "weight", "sample_weight", "grad_output", "out", "margin"]
    seen = []
    for name in names:
        value = call.get(name)
        if isinstance(value, np.ndarray) and not any(value is other for _, other, _ in seen):
            seen.append((name, value, value.copy()))
    return seen


def _unchanged(before, array):
    return (before.dtype == array.dtype and before.shape == array.shape
            and before.tobytes() == array.tobytes())


def check_call(call):
    plan = analyse(call)
    event("invalid: " + " ".join(sorted({name for name, _ in plan.errors}))
          if plan.errors else f"valid {call['via']}")
    snapshots = _callers_arrays(call)
    out = call.get("out") if call["via"] in RETURNS_GRAD else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = invoke(call)
        except CAUGHT as exc:
            message = str(exc)
            assert plan.errors, f"a valid call raised {type(exc).__name__}: {message}"
            assert any(name in message and isinstance(exc, error)
                       for name, error in plan.errors), (
                f"{type(exc).__name__}({message!r}) names none of the wrong arguments "
                f"{plan.errors}")
            for name, array, before in snapshots:
                assert _unchanged(before, array), f"{name} was written by a failing call"
            return
    assert not plan.errors, f"no error for the wrong arguments {plan.errors}"
    for warning in caught:
        assert issubclass(warning.category, DeprecationWarning) and plan.deprecated, (
            f"unexpected warning {warning.category.__name__}: {warning.message}")
    for name, array, before in snapshots:
        if out is not None and np.may_share_memory(array, out):
            continue  # out is the result (and may be the input itself)
        assert _unchanged(before, array), f"the call wrote to the caller's {name}"
    # plan.x is a copy of the scores taken before the call: with out=input the
    # gradient must be that of the original scores.
    check_values(plan, call, result)


def _multi_margin_call(**arguments):
    """A call with defaults for what is not given (for the regression examples)."""
    call = dict(family="multi_margin", via="both", input=np.zeros((1, 2)), target=[0], p=1,
                multi_class="weston_watkins", weight=None, margin=1.0, reduction="mean",
                n_threads=None, size_average=None, reduce=None, sample_weight=None,
                grad_output=ABSENT, out=None)
    call.update(arguments)
    return call


def _multilabel_margin_call(**arguments):
    call = _multi_margin_call(family="multilabel_margin", target=[[0, -1]],
                              target_format="indices")
    for name in ("p", "multi_class", "weight"):
        del call[name]
    call.update(arguments)
    return call


# Found by the soak: +inf and -inf per-sample losses (class weights of both signs)
# summed, or an infinite loss times a zero sample weight, warned "invalid value".
@example(_multi_margin_call(input=np.zeros((2, 2)), target=[0, 1], p=2, margin=1e300,
                            weight=[1.0, -1.0], reduction="sum"))
@example(_multi_margin_call(input=np.zeros((2, 2)), target=[0, 1], p=2, margin=1e300,
                            reduction="none", sample_weight=[0.0, 1.0]))
# Found by the soak, a limit of the float64 factor grad_output * s_n / sum(s) (not
# a bug): subnormal, it underflows to 0, and an infinite gradient entry becomes NaN.
@example(_multi_margin_call(input=np.array([[-np.inf, 0.0], [0.0, 0.0]]), target=[0, 1], p=2,
                            via="grad", sample_weight=[1.0, 3.0], grad_output=5e-324))
@given(multi_margin_calls())
def test_multi_margin_calls(call):
    check_call(call)


@given(multilabel_margin_calls())
def test_multilabel_margin_calls(call):
    check_call(call)


# ================================================ every kernel path (valid calls only)
# The calls above reach every path now and then; these draw valid calls at the
# kernels' edges only (C around the class blocks, N around the row blocks,
# label counts around the multi-label paths' thresholds), so that each path
# runs in every CI run.
@settings(max_examples=150)
@given(multi_margin_path_calls())
def test_multi_margin_calls_at_the_kernels_edges(call):
    check_call(call)


@settings(max_examples=150)
@given(multilabel_margin_path_calls())
def test_multilabel_margin_calls_at_the_kernels_edges(call):
    check_call(call)


BUILDS = [build for build in _kernels.BUILDS
          if _kernels.cpu_supports(build) and _kernels.load(build) is not None]


def _with_build(build, function, *args, **kwargs):
    """function(*args, **kwargs) on the multi-class kernel build ``build``."""
    previous = marginloss._losses._multi_margin
    marginloss._losses._multi_margin = _kernels.load(build)
    try:
        return function(*args, **kwargs)
    finally:
        marginloss._losses._multi_margin = previous


def _same_bits(a, b, what):
    """Bitwise equal, signed zeros included; any NaN matches any NaN."""
    a, b = np.asarray(a), np.asarray(b)
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b), err_msg=what)
    np.testing.assert_array_equal(a[~nan].view(np.uint8), b[~nan].view(np.uint8),
                                  err_msg=what)


@settings(max_examples=100)
@given(multi_margin_path_calls())
def test_every_kernel_build_gives_the_same_bits(call):
    """The builds this CPU runs agree bit for bit on the calls at the edges."""
    assume(not analyse(call).errors)
    x = call["input"]
    kwargs = dict(p=call["p"], weight=call["weight"], margin=call["margin"],
                  multi_class=call["multi_class"], reduction="none")
    go = np.linspace(-2.0, 3.0, x.shape[0])
    results = {build: _with_build(build, marginloss.multi_margin_loss_and_grad, x,
                                  call["target"], grad_output=go, **kwargs)
               for build in BUILDS}
    forward = {build: _with_build(build, marginloss.multi_margin_loss, x, call["target"],
                                  **kwargs)
               for build in BUILDS}
    for build in BUILDS[1:]:
        for a, b, what in zip(results[BUILDS[0]], results[build], ("loss", "gradient")):
            _same_bits(a, b, f"{what}: {BUILDS[0]} vs {build}")
        _same_bits(forward[BUILDS[0]], forward[build], f"loss(): {BUILDS[0]} vs {build}")


# ====================================================== marginloss.sklearn (fewer examples)

# The metrics' arguments, by the name of the loss argument they become.
METRIC_NAMES = {"input": "y_score", "target": "y_true", "weight": "class_weight"}


def _not_given(values, *, infinite=False):
    """Whether an array has missing values (NaN, None), or also infinite ones."""
    if values is None or values.ndim == 0 or values.dtype.kind not in "fO":
        return False
    flat = values.ravel().tolist()
    return any(v is None or v != v or (infinite and v in (np.inf, -np.inf)) for v in flat)


def _metric_plan(call):
    """The wrong arguments of a metric call (metric names), and the loss call it makes."""
    errors = []
    y_true, y_score = _asarray(call["y_true"]), _asarray(call["y_score"])
    # as scikit-learn's metrics: missing labels and non-finite scores are ValueErrors
    if _not_given(y_true):
        errors.append(("y_true", ValueError))
    if _not_given(y_score, infinite=True):
        errors.append(("y_score", ValueError))
    if call.get("labels") is not None and _not_given(_asarray(call["labels"])):
        errors.append(("labels", ValueError))
    loss_call = dict(via="loss", reduction="mean", n_threads=None, size_average=None,
                     reduce=None, grad_output=ABSENT, out=None, margin=call["margin"],
                     sample_weight=call["sample_weight"])
    if call["family"] == "multilabel_margin":
        loss_call.update(family="multilabel_margin", target_format="indicator",
                         input=call["y_score"], target=call["y_true"])
    else:
        loss_call.update(family="multi_margin", p=call["p"], weight=call["class_weight"],
                         multi_class=call["multi_class"], input=y_score, target=None)
        if y_true is None or y_true.ndim != 1:
            errors.append(("y_true", EITHER))
        if y_score is None or not _is_real_array(y_score):
            errors.append(("y_score", EITHER))
        elif y_score.ndim not in (1, 2) or (y_score.ndim == 2 and y_score.shape[1] == 0):
            errors.append(("y_score", ValueError))
        if errors:
            return errors, None
        n_columns = 2 if y_score.ndim == 1 else y_score.shape[1]
        if y_score.shape[0] != y_true.shape[0]:
            errors.append(("y_score", ValueError))
        classes = _asarray(call["labels"])
        if call["labels"] is None:
            try:
                classes = np.unique(y_true)
            except TypeError:  # labels of types that do not compare
                return errors + [("y_true", EITHER)], None
        if classes is None or classes.ndim != 1 or classes.size != n_columns:
            return errors + [("labels", ValueError), ("y_score", ValueError)], None
        if len(set(classes.tolist())) != classes.size:
            return errors + [("labels", ValueError)], None
        try:  # the metric maps labels by sorting: they must compare (None does not)
            for label in set(classes.tolist()) | set(y_true.tolist()):
                label < label  # noqa: B015
        except TypeError:
            return errors + [("y_true", TypeError), ("labels", TypeError)], None
        index = {label: i for i, label in enumerate(classes.tolist())}
        if any(label not in index for label in y_true.tolist()):
            # (a TypeError when the unknown label does not compare with the labels)
            return errors + [("y_true", EITHER)], None
        loss_call["target"] = np.array([index[label] for label in y_true.tolist()],
                                       dtype=np.int64)
        if y_score.ndim == 1:
            half = 0.5 * y_score.astype(np.float64)
            loss_call["input"] = np.column_stack([-half, half])
    plan = analyse(loss_call)
    errors += [(METRIC_NAMES.get(name, name), error) for name, error in plan.errors]
    return errors, (plan, loss_call)


def _check_raises_naming(errors, function, *args, **kwargs):
    """Call; on ValueError/TypeError check it names a wrong argument; return the result."""
    try:
        return function(*args, **kwargs), True
    except CAUGHT as exc:
        assert errors, f"a valid call raised {type(exc).__name__}: {exc}"
        assert any(name in str(exc) and isinstance(exc, error) for name, error in errors), (
            f"{type(exc).__name__}({str(exc)!r}) names none of the wrong arguments {errors}")
        return None, False


def _metric_call(**arguments):
    call = dict(family="multi_margin", y_true=[0, 1], y_score=np.zeros((2, 2)), labels=None,
                sample_weight=None, p=1, margin=1.0, class_weight=None,
                multi_class="weston_watkins")
    call.update(arguments)
    return call


# Found by the fuzz: a 0-d y_score was an IndexError; labels that do not compare a
# TypeError naming nothing; the loss's errors named input/target/weight.
@example(_metric_call(y_score=None))
@example(_metric_call(y_score=np.float64(0.5), y_true=[0]))
@example(_metric_call(y_true=[None, -1.0], labels=[0.5, -1.0]))
@example(_metric_call(y_true=[None, -1.0]))
@example(_metric_call(y_true=[None], y_score=np.zeros((1, 1))))  # a lone None: no order
@example(_metric_call(y_score=np.ones((2, 2), dtype=complex)))
@example(_metric_call(y_score=np.array(["a", "b"])))
@example(_metric_call(class_weight=[1.0, np.inf]))
@example(_metric_call(class_weight=2.0))
@example(dict(family="multilabel_margin", y_true=[[1, 0]], y_score=np.zeros(0),
              sample_weight=None, margin=1.0))
@given(st.one_of(metric_calls(), multilabel_metric_calls()))
def test_metric_calls(call):
    errors, prepared = _metric_plan(call)
    snapshots = _callers_arrays({name: call.get(name) for name in
                                 ("y_true", "y_score", "sample_weight", "labels",
                                  "class_weight")})
    if call["family"] == "multilabel_margin":
        metric = multilabel_margin_loss_metric
        kwargs = dict(sample_weight=call["sample_weight"], margin=call["margin"])
    else:
        metric = multi_margin_loss_metric
        kwargs = {name: call[name] for name in ("labels", "sample_weight", "p", "margin",
                                                "class_weight", "multi_class")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result, returned = _check_raises_naming(errors, metric, call["y_true"], call["y_score"],
                                                **kwargs)
    for name, array, before in snapshots:
        assert _unchanged(before, array), f"the metric wrote to the caller's {name}"
    _check_scorer(call, kwargs, result if returned else None)
    if not returned:
        return
    assert not errors, f"no error for the wrong arguments {errors}"
    assert type(result) is float
    plan, loss_call = prepared
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss, _, _, weighted = expected(plan, loss_call)
        extreme = _out_of_range(plan, loss_call)
    if not extreme:
        _assert_close(result, loss, plan.dtype, _loss_atol(plan, weighted), "metric")


class _Scores:
    """An estimator stub whose decision_function returns fixed scores."""

    def __init__(self, y_score, classes):
        self._y_score = y_score
        self.classes_ = classes

    def decision_function(self, X):
        return self._y_score


def _check_scorer(call, kwargs, metric_value):
    """The scorer of the metric's settings gives minus the metric, or the same error."""
    kwargs = dict(kwargs)
    sample_weight = kwargs.pop("sample_weight")
    if call["family"] == "multilabel_margin":
        scorer = multilabel_margin_scorer(**kwargs)
    elif call["labels"] is not None:
        del kwargs["labels"]  # the scorer takes the estimator's classes_
        scorer = multi_margin_scorer(**kwargs)
    else:
        return
    estimator = _Scores(call["y_score"], call.get("labels"))
    try:
        value = scorer(estimator, None, call["y_true"], sample_weight=sample_weight)
    except CAUGHT:
        assert metric_value is None, "the scorer raised where the metric did not"
    else:
        assert metric_value is not None, "the metric raised where the scorer did not"
        np.testing.assert_equal(value, -metric_value)  # (nan for an empty batch)


def _assert_names_one_of(exc, names):
    """The message names an argument, or comes from scikit-learn's own validate_data,
    whose messages ("Complex data not supported") its estimator checks expect."""
    validation = os.path.join("sklearn", "utils", "validation.py")
    by_sklearn = any(frame.filename.endswith(validation)
                     for frame in traceback.extract_tb(exc.__traceback__))
    assert by_sklearn or any(name in str(exc) for name in names), (
        f"{type(exc).__name__}({str(exc)!r}) names none of {names}")


_FITTED = {}


def _fitted_classifier():
    if "model" not in _FITTED:
        X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [-1.0, 0.5], [0.3, -2.0]])
        _FITTED["model"] = MultiMarginClassifier().fit(X, ["a", "b", "c", "a", "b"])
    return _FITTED["model"]


@given(classifier_fits())
def test_classifier_and_scorer_calls(call):
    X, y, sample_weight = call["X"], call["y"], call["sample_weight"]
    snapshots = _callers_arrays({"X": X, "y": y, "sample_weight": sample_weight})
    model = MultiMarginClassifier(**call["params"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on absurd data
            model.fit(X, y, sample_weight=sample_weight)
    except CAUGHT as exc:
        _assert_names_one_of(exc, list(call["params"]) + ["X", "y", "sample_weight", "class"])
        assert call["wrong"], f"a valid fit raised {type(exc).__name__}: {exc}"
        model = None
    for name, array, before in snapshots:
        assert _unchanged(before, array), f"fit wrote to the caller's {name}"
    if model is not None:
        X = np.asarray(X, dtype=np.float64)
        scores = model.decision_function(X)
        reference = X @ model.coef_.T + model.intercept_
        reference = reference[:, 0] if reference.shape[1] == 1 else reference
        np.testing.assert_allclose(scores, reference, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(model.classes_, np.unique(np.asarray(y)))
        chosen = ((scores > 0).astype(int) if scores.ndim == 1
                  else np.argmax(scores, axis=1))
        np.testing.assert_array_equal(model.predict(X), model.classes_[chosen])
    # the scorer of a fitted model on this data: minus the metric, or an error naming X / y
    fitted = _fitted_classifier()
    scorer = multi_margin_scorer(multi_class=call["params"].get("multi_class",
                                                                "weston_watkins"))
    try:
        value = scorer(fitted, X, y)
    except CAUGHT as exc:
        _assert_names_one_of(exc, ["X", "y_true", "y"])
    else:
        expected_value = multi_margin_loss_metric(
            y, fitted.decision_function(X), labels=fitted.classes_,
            multi_class=call["params"].get("multi_class", "weston_watkins"))
        assert value == -expected_value
