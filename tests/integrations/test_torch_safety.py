"""marginloss.torch never gives a silently wrong result where PyTorch raises or is right.

Each case is a use of autograd beyond one ``backward``:

- second derivatives (``torch.autograd.functional.hessian``, ``autograd.grad``
  of a gradient made with ``create_graph=True``): PyTorch raises
  "derivative for aten::multi_margin_loss_backward is not implemented"; ours
  must raise a ``RuntimeError`` too, or give the true second derivative (finite
  differences of PyTorch's gradient) -- never zeros of a disconnected graph;
- ``torch.jit.trace`` (with and without ``torch.no_grad()``): the traced module
  must follow its inputs (PyTorch's loss of the NEW inputs), or tracing raises;
- an in-place change of a tensor the loss saved, between forward and backward:
  backward raises PyTorch's "modified by an inplace operation" error;
- several graphs of the same shape alive at once: each input gets its own
  gradient, whatever buffers the implementation keeps between calls.

PyTorch 2.13's ``torch.nn.functional`` and autograd are the oracles.
"""

import re
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import marginloss.torch as mt  # noqa: E402

# A message that says the second derivative is not available: PyTorch's
# "derivative for ... is not implemented", the "no autograd formula was
# registered" of a custom op without a second-order formula, or marginloss's own
# wording -- NOT the "appears to not have been used in the graph" of a
# disconnected graph.
NO_SECOND_DERIVATIVE = (r"(?i)(derivative|differentiable|not implemented|not supported"
                        r"|no autograd formula)")
INPLACE = "modified by an inplace operation"


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()) + 20_261_207)


def _far_from_kinks(rng, shape, terms, distance=0.1):
    """Scores whose every hinge term is at least ``distance`` from 0 (no kink within
    a finite-difference step)."""
    for _ in range(10_000):
        x = rng.standard_normal(shape) * 1.5
        z = terms(x)
        if np.abs(z).min() > distance:
            return x
    raise AssertionError("no scores far enough from the kinks")


def _mm_terms(y, margin):
    def terms(x):
        z = margin - x[np.arange(len(y)), y][:, None] + x
        z[np.arange(len(y)), y] = np.inf
        return z
    return terms


def _mlm_terms(t):
    def terms(x):
        z = [np.inf]
        for row, labels in zip(x, t):
            stop = np.flatnonzero(labels < 0)
            labels = labels[:stop[0] if stop.size else len(labels)]
            others = np.setdiff1d(np.arange(len(row)), labels)
            z.extend(1 - row[j] + row[d] for j in labels for d in others)
        return np.array(z)
    return terms


def _label_rows(rng, n_samples, n_classes):
    t = np.full((n_samples, n_classes), -1, dtype=np.int64)
    for n in range(n_samples):
        k = int(rng.integers(1, n_classes))
        t[n, :k] = rng.choice(n_classes, k, replace=False)
    return t


# (id, ours, PyTorch's, keyword arguments, loss) -- loss "mm" or "mlm"
SECOND_ORDER_CASES = [
    ("mm_p2_mean", dict(p=2), "mm"),
    ("mm_p2_weight_sum", dict(p=2, margin=0.7, weight="w", reduction="sum"), "mm"),
    ("mm_p1_mean", dict(p=1), "mm"),
    ("mlm_mean", dict(), "mlm"),
]


def _second_order_problem(rng, kwargs, loss):
    n_samples, n_classes = 3, 4
    if loss == "mm":
        y = rng.integers(0, n_classes, n_samples)
        x = _far_from_kinks(rng, (n_samples, n_classes), _mm_terms(y, kwargs.get("margin", 1.0)))
        kwargs = dict(kwargs)
        if kwargs.get("weight") == "w":
            kwargs["weight"] = torch.tensor(rng.uniform(0.5, 2.0, n_classes))
        target = torch.from_numpy(y)
        return (torch.from_numpy(x),
                lambda s: mt.multi_margin_loss(s, target, **kwargs),
                lambda s: F.multi_margin_loss(s, target, **kwargs))
    t = _label_rows(rng, n_samples, n_classes)
    x = _far_from_kinks(rng, (n_samples, n_classes), _mlm_terms(t))
    target = torch.from_numpy(t)
    return (torch.from_numpy(x),
            lambda s: mt.multilabel_margin_loss(s, target, **kwargs),
            lambda s: F.multilabel_margin_loss(s, target, **kwargs))


def _finite_difference_hessian(theirs, x, step=1e-6):
    """Central differences of PyTorch's (exact) gradient: the true Hessian away from kinks."""
    def gradient(scores):
        leaf = scores.clone().requires_grad_()
        (grad,) = torch.autograd.grad(theirs(leaf), leaf)
        return grad

    columns = []
    flat = x.reshape(-1)
    for k in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[k] = step
        plus = gradient((flat + e).reshape(x.shape))
        minus = gradient((flat - e).reshape(x.shape))
        columns.append((plus - minus) / (2 * step))
    # hessian[i, j] = d grad[i] / d x[j]
    return torch.stack(columns, dim=-1).reshape(*x.shape, *x.shape)


@pytest.mark.parametrize("kwargs, loss", [case[1:] for case in SECOND_ORDER_CASES],
                         ids=[case[0] for case in SECOND_ORDER_CASES])
def test_hessian_raises_or_is_true(kwargs, loss, rng):
    x, ours, theirs = _second_order_problem(rng, kwargs, loss)
    with pytest.raises(RuntimeError, match="derivative for aten::multi.*_backward is not"):
        torch.autograd.functional.hessian(theirs, x)  # PyTorch refuses
    expected = _finite_difference_hessian(theirs, x)
    try:
        hessian = torch.autograd.functional.hessian(ours, x)
    except RuntimeError as error:
        assert "appears to not have been used" not in str(error)
        return
    # No error: then it must be the true Hessian (not the zeros of a cut graph).
    torch.testing.assert_close(hessian, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kwargs, loss", [case[1:] for case in SECOND_ORDER_CASES],
                         ids=[case[0] for case in SECOND_ORDER_CASES])
def test_gradient_of_gradient_raises_or_is_true(kwargs, loss, rng):
    x, ours, theirs = _second_order_problem(rng, kwargs, loss)
    leaf = x.clone().requires_grad_()
    (grad_t,) = torch.autograd.grad(theirs(leaf), leaf, create_graph=True)
    with pytest.raises(RuntimeError, match="derivative for aten::multi.*_backward is not"):
        torch.autograd.grad(grad_t.sum(), leaf)
    expected = _finite_difference_hessian(theirs, x).reshape(x.numel(), x.numel()).sum(0)

    leaf = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(ours(leaf), leaf, create_graph=True)
    torch.testing.assert_close(grad.detach(), grad_t.detach(), rtol=1e-12, atol=1e-14)
    assert grad.requires_grad  # as PyTorch's, the gradient is part of the new graph
    for allow_unused in (False, True):
        try:
            (second,) = torch.autograd.grad(grad.sum(), leaf, retain_graph=True,
                                            allow_unused=allow_unused)
        except RuntimeError as error:
            assert "appears to not have been used" not in str(error)
            continue  # raised, as PyTorch does
        # No error: the true second derivative, never None (a disconnected graph).
        assert second is not None, "grad of grad is None: the gradient's graph is cut"
        torch.testing.assert_close(second.reshape(-1), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_gradient_of_gradient_message(loss, rng):
    """When it raises, the error says why (not PyTorch's "not been used" of a cut graph)."""
    x, ours, _ = _second_order_problem(rng, dict(p=2) if loss == "mm" else {}, loss)
    leaf = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(ours(leaf), leaf, create_graph=True)
    try:
        torch.autograd.grad((grad * grad).sum(), leaf)
    except RuntimeError as error:
        assert "appears to not have been used" not in str(error)
        assert re.search(NO_SECOND_DERIVATIVE, str(error)), str(error)


# --------------------------------------------------------------------- tracing


class _ScoresAndLoss(torch.nn.Module):
    """A linear layer and a criterion: what a user traces."""

    def __init__(self, criterion, n_features, n_classes):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, n_classes).double()
        self.criterion = criterion

    def forward(self, features, target):
        return self.criterion(self.linear(features), target)


def _trace_cases(rng):
    n_samples, n_features, n_classes = 6, 4, 5
    weight = torch.tensor(rng.uniform(0.5, 2.0, n_classes))
    mm_target = lambda: torch.from_numpy(rng.integers(0, n_classes, n_samples))  # noqa: E731
    mlm_target = lambda: torch.from_numpy(_label_rows(rng, n_samples, n_classes))  # noqa: E731
    return n_samples, n_features, n_classes, [
        (mt.MultiMarginLoss(p=2, weight=weight), torch.nn.MultiMarginLoss(p=2, weight=weight),
         mm_target),
        (mt.MultiMarginLoss(reduction="none"), torch.nn.MultiMarginLoss(reduction="none"),
         mm_target),
        (mt.MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss(), mlm_target),
        (mt.MultiLabelMarginLoss(reduction="sum"), torch.nn.MultiLabelMarginLoss(reduction="sum"),
         mlm_target),
    ]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("no_grad", [True, False], ids=["no_grad", "grad"])
@pytest.mark.parametrize("case", range(4))
def test_jit_trace_follows_its_inputs(case, no_grad, rng):
    n_samples, n_features, n_classes, cases = _trace_cases(rng)
    ours, theirs, make_target = cases[case]
    torch.manual_seed(case)
    model = _ScoresAndLoss(ours, n_features, n_classes)
    twin = _ScoresAndLoss(theirs, n_features, n_classes)
    twin.load_state_dict(model.state_dict())
    example = (torch.randn(n_samples, n_features, dtype=torch.float64), make_target())
    try:
        if no_grad:
            with torch.no_grad():
                traced = torch.jit.trace(model, example, check_trace=False)
        else:
            traced = torch.jit.trace(model, example, check_trace=False)
    except Exception as error:  # refusing to trace is allowed, with a clear message
        assert "trac" in str(error).lower(), str(error)
        return
    for _ in range(3):  # NEW inputs and targets: the traced module must follow them
        features = torch.randn(n_samples, n_features, dtype=torch.float64)
        target = make_target()
        with torch.no_grad():
            expected = twin(features, target)
            got = traced(features, target)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
    # And the gradient of the traced module, on new inputs, is PyTorch's.
    features = torch.randn(n_samples, n_features, dtype=torch.float64)
    target = make_target()
    traced(features, target).sum().backward()
    twin(features, target).sum().backward()
    for (name, ours_p), theirs_p in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(ours_p.grad, theirs_p.grad, rtol=1e-12, atol=1e-14,
                                   msg=name)


# -------------------------------------------------------------- in-place changes


def _inplace_problem(rng, loss):
    x = torch.tensor(rng.standard_normal((4, 5)))
    if loss == "mm":
        return (x, torch.from_numpy(rng.integers(0, 5, 4)), mt.multi_margin_loss,
                F.multi_margin_loss)
    return (x, torch.from_numpy(_label_rows(rng, 4, 5)), mt.multilabel_margin_loss,
            F.multilabel_margin_loss)


def _both_raise(run, function, torch_function):
    with pytest.raises(RuntimeError, match=INPLACE):
        run(torch_function)  # PyTorch's behaviour, checked here so the test follows it
    with pytest.raises(RuntimeError, match=INPLACE):
        run(function)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("change", ["mul_", "add_"])
@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_inplace_change_of_non_leaf_input_raises(loss, change, reduction, rng):
    x, target, function, torch_function = _inplace_problem(rng, loss)

    def run(f):
        leaf = x.clone().requires_grad_()
        hidden = leaf * 1  # a non-leaf input, as a model's output
        out = f(hidden, target, reduction=reduction)
        getattr(hidden, change)(2)
        out.sum().backward()

    _both_raise(run, function, torch_function)


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_inplace_change_of_leaf_under_no_grad_raises(loss, rng):
    """An optimizer-like update of the leaf between forward and backward."""
    x, target, function, torch_function = _inplace_problem(rng, loss)

    def run(f):
        leaf = x.clone().requires_grad_()
        out = f(leaf, target)
        with torch.no_grad():
            leaf.add_(1)
        out.backward()

    _both_raise(run, function, torch_function)


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_inplace_change_through_an_alias_raises(loss, rng):
    """The input is a view of a non-leaf; the change goes through its base."""
    x, target, function, torch_function = _inplace_problem(rng, loss)

    def run(f):
        leaf = torch.cat([x, x]).requires_grad_()
        base = leaf * 1
        out = f(base[:4], target)
        base.add_(1)  # changes the view that the loss saw
        out.backward()

    _both_raise(run, function, torch_function)


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_inplace_change_of_target_raises(loss, rng):
    """PyTorch saves the target for backward too: changing it in place raises there."""
    x, target, function, torch_function = _inplace_problem(rng, loss)

    def run(f):
        leaf = x.clone().requires_grad_()
        own_target = target.clone()
        out = f(leaf, own_target)
        own_target[0] = own_target[1]
        out.backward()

    _both_raise(run, function, torch_function)


@pytest.mark.parametrize("through", ["function", "module"])
def test_inplace_change_of_class_weight_raises(through, rng):
    """PyTorch saves the class weight for backward: a change in place (e.g. a module's
    buffer updated between forward and backward) makes backward raise."""
    x, target, function, torch_function = _inplace_problem(rng, "mm")
    modules = {function: mt.MultiMarginLoss, torch_function: torch.nn.MultiMarginLoss}

    def run(f):
        leaf = x.clone().requires_grad_()
        weight = torch.linspace(0.5, 2.0, 5, dtype=x.dtype)
        if through == "module":
            criterion = modules[f](p=2, weight=weight)
            out = criterion(leaf, target)
            criterion.weight.mul_(3)
        else:
            out = f(leaf, target, p=2, weight=weight, reduction="none")
            weight[0] = 7.0
        out.sum().backward()

    _both_raise(run, function, torch_function)


def test_no_inplace_change_no_error(rng):
    """Changing a copy (not the saved tensor) is fine, for both."""
    x, target, function, torch_function = _inplace_problem(rng, "mm")
    grads = []
    for f in (function, torch_function):
        leaf = x.clone().requires_grad_()
        hidden = leaf * 1
        out = f(hidden, target)
        hidden.clone().mul_(2)
        out.backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-14)


# ------------------------------------------------- several graphs of one shape


def _graph_problem(rng, loss, n_inputs, dtype, shape=(6, 5)):
    xs = [torch.tensor(rng.standard_normal(shape), dtype=dtype) for _ in range(n_inputs)]
    if loss == "mm":
        targets = [torch.from_numpy(rng.integers(0, shape[1], shape[0])) for _ in xs]
        return xs, targets, mt.multi_margin_loss, F.multi_margin_loss
    targets = [torch.from_numpy(_label_rows(rng, *shape)) for _ in xs]
    return xs, targets, mt.multilabel_margin_loss, F.multilabel_margin_loss


def _torch_grad(torch_function, x, target, go=None, **kwargs):
    leaf = x.clone().requires_grad_()
    out = torch_function(leaf, target, **kwargs)
    out.backward(go)
    return out.detach(), leaf.grad


def _tolerance(dtype):
    return dict(rtol=2e-6, atol=1e-7) if dtype == torch.float32 else dict(rtol=1e-12,
                                                                          atol=1e-14)


DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_three_graphs_one_backward(loss, reduction, dtype, rng):
    xs, targets, function, torch_function = _graph_problem(rng, loss, 3, dtype)
    leaves = [x.clone().requires_grad_() for x in xs]
    outs = [function(leaf, t, reduction=reduction) for leaf, t in zip(leaves, targets)]
    total = sum(((k + 1) * out).sum() for k, out in enumerate(outs))
    total.backward()
    for k, (x, t, leaf, out) in enumerate(zip(xs, targets, leaves, outs)):
        go = torch.full(out.shape, float(k + 1), dtype=dtype)
        expected, expected_grad = _torch_grad(torch_function, x, t, go, reduction=reduction)
        torch.testing.assert_close(out.detach(), expected, **_tolerance(dtype))
        torch.testing.assert_close(leaf.grad, expected_grad, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_interleaved_forwards_and_backwards(loss, dtype, rng):
    """forward 1, forward 2, backward 2, backward 1; then forward 3, forward 1 again under
    no_grad, backward 3: every loss and gradient is PyTorch's, and earlier results
    (losses, ``.grad``) are not overwritten by later calls."""
    xs, targets, function, torch_function = _graph_problem(rng, loss, 3, dtype)
    leaves = [x.clone().requires_grad_() for x in xs]
    expected = [torch_function(x, t, reduction="none") for x, t in zip(xs, targets)]
    go = [torch.linspace(-1, 2, 6, dtype=dtype) * (k + 1) for k in range(3)]
    expected_grads = [_torch_grad(torch_function, x, t, g, reduction="none")[1]
                      for x, t, g in zip(xs, targets, go)]

    out1 = function(leaves[0], targets[0], reduction="none")
    out2 = function(leaves[1], targets[1], reduction="none")
    out2.backward(go[1])
    out1.backward(go[0])
    out3 = function(leaves[2], targets[2], reduction="none")
    with torch.no_grad():
        again = function(leaves[0], targets[0], reduction="none")
    out3.backward(go[2])
    tol = _tolerance(dtype)
    for out, leaf, loss_t, grad_t in zip((out1, out2, out3), leaves, expected,
                                         expected_grads):
        torch.testing.assert_close(out.detach(), loss_t, **tol)
        torch.testing.assert_close(leaf.grad, grad_t, **tol)
    torch.testing.assert_close(again, expected[0], **tol)


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_grad_is_not_overwritten_by_later_steps(loss, rng):
    """``.grad`` of one step stays as it was when the next step of the same shape runs
    (a gradient buffer kept between calls must not be the tensor given as ``.grad``)."""
    xs, targets, function, torch_function = _graph_problem(rng, loss, 4, torch.float64)
    grads, kept = [], []
    for x, t in zip(xs, targets):
        leaf = x.clone().requires_grad_()
        function(leaf, t).backward()
        grads.append(leaf.grad)
        kept.append(leaf.grad.clone())
    for grad, copy, x, t in zip(grads, kept, xs, targets):
        assert torch.equal(grad, copy)
        torch.testing.assert_close(grad, _torch_grad(torch_function, x, t)[1], rtol=1e-12,
                                   atol=1e-14)


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_losses_are_not_overwritten_by_later_calls(loss, rng):
    """Returned losses ('none': one per sample) keep their values across later calls."""
    xs, targets, function, torch_function = _graph_problem(rng, loss, 3, torch.float64)
    outs = []
    for x, t in zip(xs, targets):
        outs.append(function(x.clone().requires_grad_(), t, reduction="none"))
        with torch.no_grad():
            outs.append(function(x, t, reduction="none"))
    for k, out in enumerate(outs):
        x, t = xs[k // 2], targets[k // 2]
        torch.testing.assert_close(out.detach(), torch_function(x, t, reduction="none"),
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_retained_graph_backward_twice_after_other_calls(loss, rng):
    """A retained graph gives the same gradient on its second backward, after calls of
    the same shape in between."""
    xs, targets, function, torch_function = _graph_problem(rng, loss, 2, torch.float64)
    leaf = xs[0].clone().requires_grad_()
    out = function(leaf, targets[0])
    out.backward(retain_graph=True)
    first = leaf.grad.clone()
    other = xs[1].clone().requires_grad_()
    function(other, targets[1]).backward()
    leaf.grad = None
    out.backward()
    torch.testing.assert_close(leaf.grad, first, rtol=0, atol=0)
    torch.testing.assert_close(first, _torch_grad(torch_function, xs[0], targets[0])[1],
                               rtol=1e-12, atol=1e-14)
