"""The oracles of the test suite: NumPy references of the three losses, and PyTorch.

The NumPy part needs nothing but NumPy (PyTorch is imported only by the
``torch_*`` oracles and the ``check_*`` functions that call them):

- ``reference_multi_margin*`` and ``reference_multilabel_margin*`` mirror
  ``multimarginloss_reference`` and ``multilabelmarginloss_reference`` of
  PyTorch's ``torch/testing/_internal/common_nn.py`` (same row loop, same
  reductions, same squeezing of 0-d / 1-d inputs), with two refinements taken
  from PyTorch's kernels:

  - each term ``z`` is computed in the input dtype, in the same order as the
    kernels, ``(margin - x[y]) + x[i]`` and ``(margin - x[j]) + x[d]``, and a
    term is active when ``z > 0`` (strict), so the set of active terms is
    PyTorch's;
  - everything after that (powers, weights, row sums, reductions, gradient
    coefficients) is accumulated in ``numpy.longdouble`` (80-bit on x86-64)
    and rounded to float64 once at the end.

  The multi-label reference takes a ``margin`` (PyTorch fixes it at 1).
- ``reference_crammer_singer`` is the Crammer-Singer form of the multi-class
  hinge, vectorised: one term per row, against the first largest wrong score.

They are slow (a Python loop over rows) and meant for small problems only.

The ``torch_*`` functions run ``torch.nn.functional`` and autograd on the same
values; the ``check_*`` functions compare marginloss with both oracles, with the
tolerances below (docs/design.md describes the rounding they allow for).
"""

import math
from fractions import Fraction

import numpy as np

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

ACC = np.longdouble

__all__ = [
    "reference_multi_margin",
    "reference_multi_margin_grad",
    "reference_multilabel_margin",
    "reference_multilabel_margin_grad",
    "reference_multi_margin_parts",
    "reference_multilabel_margin_parts",
    "reference_crammer_singer",
    "torch_multi_margin",
    "torch_multilabel_margin",
    "torch_weighted",
    "RTOL",
    "assert_identical",
    "assert_close_to_oracles",
    "check_multi_margin",
    "check_multilabel_margin",
]


def _as_2d(input):
    input = np.asarray(input)
    if input.ndim == 0:
        return input.reshape(1, 1)
    if input.ndim == 1:
        return input.reshape(1, -1)
    return input


def _grad_output_rows(grad_output, n_samples, reduction):
    """grad_output as a longdouble (N,) array (a scalar broadcasts)."""
    go = np.asarray(grad_output, dtype=ACC)
    if reduction == "none" and go.ndim > 0:
        return go.reshape(n_samples)
    return np.full(n_samples, go.reshape(()), dtype=ACC)


def _reduce(rows, reduction, zero_dim):
    """Reduce per-row losses (already divided by C) as common_nn does."""
    if reduction == "mean":
        return np.float64(rows.sum() / rows.size) if rows.size else np.float64(np.nan)
    if reduction == "sum":
        return np.float64(rows.sum())
    if reduction != "none":
        raise ValueError(reduction)
    out = rows.astype(np.float64)
    return out.reshape(()) if zero_dim else out


def _gradient_scale(n_samples, n_classes, reduction):
    if reduction == "mean":
        if n_samples == 0:
            return ACC(0)  # no rows: the gradient is empty anyway
        return ACC(1) / (ACC(n_samples) * ACC(n_classes))
    return ACC(1) / ACC(n_classes)


# --------------------------------------------------------------------------
# MultiMarginLoss
# --------------------------------------------------------------------------
def _multi_margin_rows(input, target, p, margin, weight):
    """Per-row sums before /C, and the per-row gradient pattern (before g and go).

    Returns ``rows`` (N,) and ``dz`` (N, C): ``dz[n, i]`` = d(row n sum)/dx[n, i].
    """
    if p not in (1, 2):
        raise ValueError("p must be 1 or 2")
    x = _as_2d(input)
    dtype = x.dtype.type
    n_samples, n_classes = x.shape
    target = np.asarray(target).reshape(-1).astype(np.int64)
    assert target.size == n_samples
    margin_s = dtype(margin)  # PyTorch casts the margin to the input dtype
    if weight is None:
        w = np.ones(n_classes, dtype=ACC)
    else:
        w = np.asarray(weight).reshape(-1).astype(ACC)
    rows = np.zeros(n_samples, dtype=ACC)
    dz = np.zeros((n_samples, n_classes), dtype=ACC)
    for n in range(n_samples):
        y = target[n]
        z = (margin_s - x[n, y]) + x[n]  # in the input dtype, PyTorch's order
        active = z > 0
        active[y] = False
        za = z[active].astype(ACC)
        rows[n] = w[y] * (za**p).sum()
        h = np.zeros(n_classes, dtype=ACC)
        h[active] = w[y] * (ACC(1) if p == 1 else ACC(2) * za)
        h[y] = -h.sum()
        dz[n] = h
    return rows, dz


def reference_multi_margin(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """MultiMarginLoss as common_nn's multimarginloss_reference (float64 result)."""
    x = _as_2d(input)
    rows, _ = _multi_margin_rows(input, target, p, margin, weight)
    rows = rows / ACC(x.shape[1])
    return _reduce(rows, reduction, zero_dim=np.ndim(target) == 0)


def reference_multi_margin_grad(
    input, target, p=1, margin=1.0, weight=None, reduction="mean", grad_output=1.0
):
    """d loss / d input times grad_output, as float64 with the input's shape."""
    x = _as_2d(input)
    n_samples, n_classes = x.shape
    _, dz = _multi_margin_rows(input, target, p, margin, weight)
    g = _gradient_scale(n_samples, n_classes, reduction)
    go = _grad_output_rows(grad_output, n_samples, reduction)
    grad = dz * g * go[:, None]
    return grad.astype(np.float64).reshape(np.shape(input))


# --------------------------------------------------------------------------
# MultiLabelMarginLoss
# --------------------------------------------------------------------------
def _multilabel_margin_rows(input, target, margin=1.0):
    """Per-row sums before /C, and d(row sum)/dx (before g and go), as for MM.

    ``margin`` replaces PyTorch's fixed 1 (marginloss's extension)."""
    x = _as_2d(input)
    dtype = x.dtype.type
    n_samples, n_classes = x.shape
    target = np.asarray(target).astype(np.int64).reshape(n_samples, n_classes)
    one = dtype(margin)
    rows = np.zeros(n_samples, dtype=ACC)
    dz = np.zeros((n_samples, n_classes), dtype=ACC)
    for n in range(n_samples):
        negative = np.flatnonzero(target[n] < 0)
        k = negative[0] if negative.size else n_classes
        targets = target[n, :k]  # up to the first negative entry, duplicates kept
        is_target = np.zeros(n_classes, dtype=bool)
        is_target[targets] = True
        others = np.flatnonzero(~is_target)
        # z[a, b] = (1 - x[targets[a]]) + x[others[b]], in the input dtype
        z = (one - x[n, targets])[:, None] + x[n, others][None, :]
        active = z > 0
        rows[n] = z[active].astype(ACC).sum()
        np.subtract.at(dz[n], targets, active.sum(axis=1).astype(ACC))
        dz[n, others] += active.sum(axis=0)
    return rows, dz


def reference_multilabel_margin(input, target, reduction="mean", margin=1.0):
    """MultiLabelMarginLoss as common_nn's multilabelmarginloss_reference (float64)."""
    x = _as_2d(input)
    rows, _ = _multilabel_margin_rows(input, target, margin)
    rows = rows / ACC(x.shape[1])
    return _reduce(rows, reduction, zero_dim=np.ndim(input) < 2)


def reference_multilabel_margin_grad(input, target, reduction="mean", grad_output=1.0,
                                     margin=1.0):
    """d loss / d input times grad_output, as float64 with the input's shape."""
    x = _as_2d(input)
    n_samples, n_classes = x.shape
    _, dz = _multilabel_margin_rows(input, target, margin)
    g = _gradient_scale(n_samples, n_classes, reduction)
    go = _grad_output_rows(grad_output, n_samples, reduction)
    grad = dz * g * go[:, None]
    return grad.astype(np.float64).reshape(np.shape(input))


# --------------------------------------------------------------------------
# Crammer-Singer (multi_class="crammer_singer"; PyTorch has no such loss)
# --------------------------------------------------------------------------
def reference_crammer_singer(input, target, p=1, margin=1.0, weight=None, reduction="mean",
                             grad_output=1.0):
    """(loss, gradient) of the definition: z in the input dtype, the rest in float64.

    One term per row, ``weight[y] * max(0, (margin - x[y]) + x[r]) ** p``, with
    ``r`` the first largest score other than the target's; not divided by C.
    """
    x = np.asarray(input)
    dtype = x.dtype.type
    n_samples, n_classes = x.shape
    y = np.asarray(target)
    rows = np.arange(n_samples)
    weight = np.ones(n_classes) if weight is None else np.asarray(weight, float)
    others = x.astype(np.float64).copy()
    others[rows, y] = -np.inf
    rival = np.argmax(others, axis=1)  # the first largest wrong score
    z = (dtype(margin) - x[rows, y]) + x[rows, rival]
    z = z.astype(dtype).astype(np.float64)
    active = z > 0
    per_sample = weight[y] * np.where(active, z, 0.0) ** p
    slope = weight[y] * np.where(active, p * z ** (p - 1), 0.0)
    if reduction == "mean":
        loss, scale = per_sample.mean(), 1.0 / n_samples
    elif reduction == "sum":
        loss, scale = per_sample.sum(), 1.0
    else:
        loss, scale = per_sample, 1.0
    go = np.broadcast_to(np.asarray(grad_output, float), (n_samples,))
    grad = np.zeros((n_samples, n_classes))
    grad[rows, rival] += slope * scale * go
    grad[rows, y] -= slope * scale * go
    return loss, grad


# --------------------------------------------------------------------------
# PyTorch (eager CPU, autograd) as the oracle
# --------------------------------------------------------------------------
def _torch_grad_output(out, grad_output, dtype):
    import torch

    go = np.asarray(grad_output, dtype=dtype)
    if go.ndim == 0:
        return torch.full(out.shape, float(go), dtype=out.dtype)
    return torch.from_numpy(np.array(go, order="C", copy=True)).reshape(out.shape)


def _run_torch(fn, input, target, grad_output, compute_dtype, **kwargs):
    import torch

    x = np.asarray(input)
    compute_dtype = x.dtype if compute_dtype is None else np.dtype(compute_dtype)
    # Private C-ordered copies: torch.from_numpy refuses negative strides and
    # warns about read-only arrays.
    x_t = torch.from_numpy(np.array(x, dtype=compute_dtype, order="C", copy=True))
    x_t.requires_grad_()
    t_t = torch.from_numpy(np.array(target, dtype=np.int64, order="C", copy=True))
    out = fn(x_t, t_t, **kwargs)
    out.backward(_torch_grad_output(out, grad_output, x.dtype).to(out.dtype))
    return out.detach().numpy().copy(), x_t.grad.numpy().copy()


def torch_multi_margin(
    input, target, p=1, margin=1.0, weight=None, reduction="mean", grad_output=1.0,
    compute_dtype=None,
):
    """(loss, gradient) from torch.nn.functional.multi_margin_loss and autograd.

    With ``compute_dtype=float64`` on float32 data, torch runs on the upcast values
    with the margin, weight and grad_output first rounded to the input dtype:
    the float64 oracle for float32 results.
    """
    import torch
    import torch.nn.functional as F

    dtype = np.asarray(input).dtype
    cdt = dtype if compute_dtype is None else np.dtype(compute_dtype)
    margin = float(dtype.type(margin))
    w = None
    if weight is not None:
        w = torch.from_numpy(np.asarray(weight, dtype=dtype).astype(cdt))
    return _run_torch(
        F.multi_margin_loss, input, target, grad_output, compute_dtype,
        p=p, margin=margin, weight=w, reduction=reduction,
    )


def torch_multilabel_margin(input, target, reduction="mean", grad_output=1.0, compute_dtype=None):
    """(loss, gradient) from torch.nn.functional.multilabel_margin_loss and autograd."""
    import torch.nn.functional as F

    return _run_torch(
        F.multilabel_margin_loss, input, target, grad_output, compute_dtype,
        reduction=reduction,
    )


# --------------------------------------------------------------------------
# Everything at once (one pass of the slow row loop)
# --------------------------------------------------------------------------
def _assemble(input, rows, dz, reduction, grad_output, zero_dim):
    x = _as_2d(input)
    n_samples, n_classes = x.shape
    per_sample = rows / ACC(n_classes)
    loss = _reduce(per_sample, reduction, zero_dim)
    g = _gradient_scale(n_samples, n_classes, reduction)
    go = _grad_output_rows(grad_output, n_samples, reduction)
    grad = (dz * g * go[:, None]).astype(np.float64).reshape(np.shape(input))
    return loss, grad, per_sample.astype(np.float64)


def reference_multi_margin_parts(
    input, target, p=1, margin=1.0, weight=None, reduction="mean", grad_output=1.0
):
    """(loss, gradient, per-sample losses) of the reference MultiMarginLoss."""
    rows, dz = _multi_margin_rows(input, target, p, margin, weight)
    return _assemble(input, rows, dz, reduction, grad_output, np.ndim(target) == 0)


def reference_multilabel_margin_parts(input, target, reduction="mean", grad_output=1.0,
                                      margin=1.0):
    """(loss, gradient, per-sample losses) of the reference MultiLabelMarginLoss."""
    rows, dz = _multilabel_margin_rows(input, target, margin)
    return _assemble(input, rows, dz, reduction, grad_output, np.ndim(input) < 2)


def torch_weighted(kind, x, target, sample_weight, reduction, grad_output=1.0, **kwargs):
    """Loss and gradient of the weighted objective through torch's autograd (float64).

    ``kind`` is "multi_margin" or "multilabel"; 'mean' is the weighted mean.
    """
    import torch
    import torch.nn.functional as F

    leaf = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    target = torch.tensor(np.asarray(target))
    if kind == "multi_margin":
        if kwargs.get("weight") is not None:
            kwargs["weight"] = torch.tensor(kwargs["weight"], dtype=torch.float64)
        per_sample = F.multi_margin_loss(leaf, target, reduction="none", **kwargs)
    else:
        per_sample = F.multilabel_margin_loss(leaf, target, reduction="none")
    s = torch.tensor(sample_weight, dtype=torch.float64)
    if reduction == "none":
        loss = per_sample * s
        loss.backward(torch.tensor(np.broadcast_to(grad_output, loss.shape).copy(),
                                   dtype=torch.float64))
    else:
        loss = (per_sample * s).sum()
        if reduction == "mean":
            loss = loss / s.sum()
        (loss * grad_output).backward()
    return loss.detach().numpy(), leaf.grad.numpy()


# ------------------------------------------------------------------------------
# Checks of marginloss against both oracles (used by the parity test files)
# ------------------------------------------------------------------------------
# Our sums run in float64 and are rounded once; PyTorch's float32 sums do not.
RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-11}


def assert_identical(a, b, what):
    """Same type, dtype, shape and bytes (so also the same NaNs and signed zeros)."""
    assert type(a) is type(b), f"{what}: {type(a)} vs {type(b)}"
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (
        f"{what}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    )
    assert a.tobytes() == b.tobytes(), f"{what}: not bitwise equal\n{a}\n{b}"


def assert_loss_like_torch(loss, torch_loss, dtype, reduction):
    """'mean'/'sum' give a NumPy scalar of the input dtype, 'none' an array of torch's shape."""
    dtype = np.dtype(dtype)
    if reduction == "none":
        assert isinstance(loss, np.ndarray), type(loss)
        assert loss.dtype == dtype, loss.dtype
        assert loss.shape == torch_loss.shape, (loss.shape, torch_loss.shape)
    else:
        assert type(loss) is dtype.type, type(loss)
        assert torch_loss.shape == ()


def assert_gradient_like_torch(grad, torch_grad, input):
    assert isinstance(grad, np.ndarray), type(grad)
    assert grad.dtype == np.asarray(input).dtype, grad.dtype
    assert grad.shape == np.shape(input) == torch_grad.shape, (grad.shape, torch_grad.shape)


def assert_close_to_oracles(ours, theirs, exact, rtol, atol, what):
    """ours ~ exact always; ours ~ torch wherever torch itself is close to exact.

    Where torch's (float32) accumulation has drifted from the exact value by
    more than half the tolerance, ours must be at least as close as torch's.
    """
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    np.testing.assert_allclose(
        ours, exact, rtol=rtol, atol=atol, err_msg=f"{what}: marginloss vs exact reference"
    )
    if np.allclose(theirs, exact, rtol=rtol / 2, atol=atol / 2):
        np.testing.assert_allclose(
            ours, theirs, rtol=rtol, atol=atol, err_msg=f"{what}: marginloss vs torch"
        )
    else:
        err_ours = np.max(np.abs(np.where(ours == exact, 0.0, ours - exact)))
        err_torch = np.max(np.abs(np.where(theirs == exact, 0.0, theirs - exact)))
        assert err_ours <= err_torch * 1.0001 + 1e-300, (
            f"{what}: torch drifts from the exact value by {err_torch:.3g}; "
            f"marginloss must be at least as close, but is off by {err_ours:.3g}"
        )


def loss_atol(per_sample, reduction, rtol):
    """rtol times the magnitude of the loss (sum of |terms| for 'sum'/'mean')."""
    magnitude = np.abs(per_sample)
    if reduction == "none":
        scale = magnitude.max(initial=0.0)
    elif reduction == "sum":
        scale = magnitude.sum()
    else:
        scale = magnitude.mean() if magnitude.size else 0.0
    return rtol * max(1.0, scale)


def gradient_atol(exact_grad, rtol):
    return rtol * np.max(np.abs(exact_grad), initial=0.0)


def check_multi_margin(x, y, *, p=1, margin=1.0, weight=None, reduction="mean",
                       grad_output=1.0, n_threads=None, check_api=True):
    """Compare loss and gradient with torch and the reference; return ours."""
    dtype = x.dtype
    rtol = RTOL[dtype]
    settings_ = dict(p=p, margin=margin, weight=weight, reduction=reduction)

    loss = multi_margin_loss(x, y, **settings_, n_threads=n_threads)
    grad = multi_margin_loss_grad(x, y, **settings_, grad_output=grad_output, n_threads=n_threads)
    t_loss, t_grad = torch_multi_margin(x, y, **settings_, grad_output=grad_output)
    e_loss, e_grad, e_rows = reference_multi_margin_parts(
        x, y, **settings_, grad_output=grad_output
    )

    assert_loss_like_torch(loss, t_loss, dtype, reduction)
    assert_gradient_like_torch(grad, t_grad, x)
    # An empty batch's 'mean'/'sum' loss is a deliberate difference (torch: garbage).
    if x.ndim < 2 or x.shape[0] > 0 or reduction == "none":
        assert_close_to_oracles(loss, t_loss, e_loss, rtol,
                                loss_atol(e_rows, reduction, rtol), "loss")
    assert_close_to_oracles(grad, t_grad, e_grad, rtol, gradient_atol(e_grad, rtol), "gradient")

    if check_api:
        both = multi_margin_loss_and_grad(x, y, **settings_, grad_output=grad_output,
                                          n_threads=n_threads)
        assert isinstance(both, tuple) and len(both) == 2
        assert_identical(both[0], loss, "loss_and_grad loss")
        assert_identical(both[1], grad, "loss_and_grad gradient")
        module = MultiMarginLoss(**settings_, n_threads=n_threads)
        assert_identical(module(x, y), loss, "MultiMarginLoss()(...)")
        assert_identical(module.forward(x, y), loss, "MultiMarginLoss.forward")
        assert_identical(module.gradient(x, y, grad_output), grad, "MultiMarginLoss.gradient")
        m_loss, m_grad = module.loss_and_gradient(x, y, grad_output=grad_output)
        assert_identical(m_loss, loss, "MultiMarginLoss.loss_and_gradient loss")
        assert_identical(m_grad, grad, "MultiMarginLoss.loss_and_gradient gradient")
    return loss, grad


def check_multilabel_margin(x, t, *, reduction="mean", grad_output=1.0, n_threads=None,
                            check_api=True):
    dtype = x.dtype
    rtol = RTOL[dtype]

    loss = multilabel_margin_loss(x, t, reduction, n_threads=n_threads)
    grad = multilabel_margin_loss_grad(x, t, reduction, grad_output=grad_output,
                                       n_threads=n_threads)
    t_loss, t_grad = torch_multilabel_margin(x, t, reduction, grad_output=grad_output)
    e_loss, e_grad, e_rows = reference_multilabel_margin_parts(
        x, t, reduction, grad_output=grad_output
    )

    assert_loss_like_torch(loss, t_loss, dtype, reduction)
    assert_gradient_like_torch(grad, t_grad, x)
    if x.ndim < 2 or x.shape[0] > 0 or reduction == "none":
        assert_close_to_oracles(loss, t_loss, e_loss, rtol,
                                loss_atol(e_rows, reduction, rtol), "loss")
    assert_close_to_oracles(grad, t_grad, e_grad, rtol, gradient_atol(e_grad, rtol), "gradient")

    if check_api:
        both = multilabel_margin_loss_and_grad(x, t, reduction, grad_output=grad_output,
                                               n_threads=n_threads)
        assert isinstance(both, tuple) and len(both) == 2
        assert_identical(both[0], loss, "loss_and_grad loss")
        assert_identical(both[1], grad, "loss_and_grad gradient")
        module = MultiLabelMarginLoss(reduction=reduction, n_threads=n_threads)
        assert_identical(module(x, t), loss, "MultiLabelMarginLoss()(...)")
        assert_identical(module.forward(x, t), loss, "MultiLabelMarginLoss.forward")
        assert_identical(module.gradient(x, t, grad_output), grad, "MultiLabelMarginLoss.gradient")
        m_loss, m_grad = module.loss_and_gradient(x, t, grad_output=grad_output)
        assert_identical(m_loss, loss, "MultiLabelMarginLoss.loss_and_gradient loss")
        assert_identical(m_grad, grad, "MultiLabelMarginLoss.loss_and_gradient gradient")
    return loss, grad


# ------------------------------------------------------------------ the multi-label pair loop in the input dtype


def exact_sum(values):
    """The float64 nearest to the exact sum (inf beyond the float64 range, like
    the kernel's float64 row sum)."""
    try:
        return math.fsum(values)
    except OverflowError:  # an intermediate overflow: add exactly
        total = sum(map(Fraction, values))
        try:
            return float(total)
        except OverflowError:
            return math.inf if total > 0 else -math.inf


def pair_reference(x, t, margin=1.0):
    """Per row of a multi-label problem: (exact loss sum before /C, signed pair
    counts (C,), NaN row?, sum of the active terms' magnitudes before /C).

    Every pair is tested with the kernel's predicate ``not (z <= 0)`` on
    ``z = (margin - x[j]) + x[d]`` rounded in the input dtype (so a NaN term
    counts as active and makes the row NaN); the magnitudes give the scale of
    the loss's rounding.
    """
    x = np.atleast_2d(x)
    t = np.asarray(t).reshape(x.shape)
    dtype = x.dtype.type
    n_samples, n_classes = x.shape
    totals = np.zeros(n_samples)
    magnitudes = np.zeros(n_samples)
    counts = np.zeros((n_samples, n_classes), dtype=np.int64)
    nan_rows = np.zeros(n_samples, dtype=bool)
    with np.errstate(all="ignore"):
        for n in range(n_samples):
            row = x[n]
            negative = np.flatnonzero(t[n] < 0)
            k = negative[0] if negative.size else n_classes
            labels = t[n, :k]
            is_target = np.zeros(n_classes, dtype=bool)
            is_target[labels] = True
            others = np.flatnonzero(~is_target)
            shift = dtype(margin) - row[labels]             # in the input dtype
            z = shift[:, None] + row[others][None, :]       # in the input dtype
            active = ~(z <= 0)
            counts[n, others] = active.sum(axis=0)
            np.subtract.at(counts[n], labels, active.sum(axis=1))
            terms = z[active]
            if np.isnan(row).any() or np.isnan(terms).any():
                nan_rows[n] = True
                totals[n] = np.nan
            elif np.isinf(terms).any():
                totals[n] = np.inf
            else:
                i, d = np.nonzero(active)
                totals[n] = exact_sum(np.concatenate(
                    [shift[i].astype(np.float64), row[others][d].astype(np.float64)]))
                magnitudes[n] = np.abs(shift[i].astype(np.float64) + row[others][d]).sum()
    return totals, counts, nan_rows, magnitudes
