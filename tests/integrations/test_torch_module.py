"""marginloss.torch: drop-in torch.nn losses on marginloss's kernels.

PyTorch 2.13's ``torch.nn.functional`` (with autograd) and the NumPy reference
of ``tests/_reference.py`` are the oracles, with the tolerances of the parity
tests (``RTOL``); the losses must also equal marginloss's NumPy functions,
which compute them, bit for bit.
"""

import copy
import inspect
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _reference import (  # noqa: E402
    RTOL,
    assert_close_to_oracles,
    gradient_atol,
    loss_atol,
    reference_multi_margin_parts,
    reference_multilabel_margin_parts,
    torch_multi_margin,
    torch_multilabel_margin,
)

import marginloss  # noqa: E402
import marginloss.functional  # noqa: E402
import marginloss.torch as mt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]


def dtype_id(dtype):
    return np.dtype(dtype).name


@pytest.fixture
def rng(request):
    """A generator with a fixed seed of its own for each test (and parameter set)."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()) + 20_261_126)


def make_scores(rng, shape, dtype, kind):
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "quantized":  # multiples of 1/4: many terms exactly at the kink (z == 0)
        x = rng.integers(-8, 9, size=shape) / 4
    elif kind == "wide":
        x = rng.standard_normal(shape) * 100
    else:
        raise ValueError(kind)
    return np.asarray(x, dtype=dtype)


def make_label_target(rng, n_samples, n_classes):
    """Rows of class indices padded with -1: distinct labels, duplicates, junk after -1."""
    rows = []
    for n in range(n_samples):
        row = np.full(n_classes, -1, dtype=np.int64)
        k = int(rng.integers(0, n_classes + 1))
        if n % 3 == 0:
            row[:k] = rng.choice(n_classes, k, replace=False)
        elif n % 3 == 1:
            row[:k] = rng.integers(0, n_classes, k)  # duplicates count twice
        else:
            row[:k] = rng.choice(n_classes, k, replace=False)
            if k + 1 < n_classes:  # ignored entries after the first -1
                row[k + 1:] = rng.integers(-1, n_classes, n_classes - k - 1)
        rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(n_samples, n_classes)


def grad_output_tensor(go, out):
    """grad_output for ``out.backward``: a scalar fills the loss's shape."""
    if np.ndim(go) == 0:
        return torch.full(out.shape, float(go), dtype=out.dtype)
    return torch.tensor(np.asarray(go), dtype=out.dtype).reshape(out.shape)


def run_ours(function, x, target, go, **kwargs):
    """(loss tensor, input.grad) of marginloss.torch on a private copy of x."""
    leaf = torch.tensor(x, requires_grad=True)
    out = function(leaf, torch.from_numpy(np.array(target, dtype=np.int64)), **kwargs)
    out.backward(grad_output_tensor(go, out))
    return out, leaf.grad


def check_like_torch(out, grad, x, t_loss, t_grad, e_loss, e_grad, e_rows, reduction,
                     grad_fn_name):
    dtype = np.dtype(x.dtype)
    rtol = RTOL[dtype]
    assert out.dtype == torch.from_numpy(x).dtype and grad.dtype == out.dtype
    assert tuple(out.shape) == t_loss.shape
    assert tuple(grad.shape) == x.shape
    assert type(out.grad_fn).__name__ == grad_fn_name
    if x.ndim < 2 or x.shape[0] > 0 or reduction == "none":
        assert_close_to_oracles(out.detach().numpy(), t_loss, e_loss, rtol,
                                loss_atol(e_rows, reduction, rtol), "loss")
    assert_close_to_oracles(grad.numpy(), t_grad, e_grad, rtol, gradient_atol(e_grad, rtol),
                            "gradient")


# ------------------------------------------------------------------ packaging


def test_import_marginloss_does_not_import_torch():
    code = "import marginloss, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_import_error_names_the_extra_without_torch():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # import torch now raises ImportError\n"
        "try:\n"
        "    import marginloss.torch\n"
        "except ImportError as exc:\n"
        "    assert \"pip install 'marginloss[torch]'\" in str(exc), str(exc)\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("ours, theirs", [
    (mt.multi_margin_loss, F.multi_margin_loss),
    (mt.multilabel_margin_loss, F.multilabel_margin_loss),
    (mt.MultiMarginLoss.__init__, torch.nn.MultiMarginLoss.__init__),
    (mt.MultiLabelMarginLoss.__init__, torch.nn.MultiLabelMarginLoss.__init__),
    (mt.MultiMarginLoss.forward, torch.nn.MultiMarginLoss.forward),
    (mt.MultiLabelMarginLoss.forward, torch.nn.MultiLabelMarginLoss.forward),
], ids=["multi_margin_loss", "multilabel_margin_loss", "MultiMarginLoss",
        "MultiLabelMarginLoss", "MultiMarginLoss.forward", "MultiLabelMarginLoss.forward"])
def test_signatures_are_torchs(ours, theirs):
    assert _parameters(ours) == _parameters(theirs)


def test_modules_are_torch_modules():
    assert isinstance(mt.MultiMarginLoss(), torch.nn.Module)
    assert isinstance(mt.MultiLabelMarginLoss(), torch.nn.Module)


# ------------------------------------------------------------- parity: values


# (id, input shape, target shape)
MM_LAYOUTS = [
    ("0d", (), ()),
    ("1d_C7_target0d", (7,), ()),
    ("1d_C7_target1", (7,), (1,)),
    ("2d_1x9_target0d", (1, 9), ()),
    ("2d_5x10", (5, 10), (5,)),
    ("2d_33x1", (33, 1), (33,)),
    ("2d_64x50", (64, 50), (64,)),
    ("2d_0x4", (0, 4), (0,)),
]

# (margin, weight kind, grad_output, score kind); "vector" is a random
# grad_output of the loss's shape for 'none' (1.5 otherwise).
MM_SETTINGS = [
    (1.0, None, 1.0, "normal"),
    (0.0, "positive", 2.5, "quantized"),
    (-3.14, "mixed", -1.5, "normal"),
    (7, "mixed", "vector", "wide"),
    (0.5, None, "vector", "quantized"),
    (2.75, None, 1.0, "quantized"),
]


def make_grad_output(rng, kind, loss_shape, reduction, dtype):
    if kind != "vector":
        return kind
    if reduction != "none":
        return 1.5
    return np.asarray(rng.standard_normal(loss_shape), dtype=dtype)


def make_weight(rng, n_classes, dtype, kind):
    if kind is None:
        return None
    low = 0.1 if kind == "positive" else -10
    return rng.uniform(low, 3.0, n_classes).astype(dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2], ids=["p1", "p2"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", MM_LAYOUTS, ids=[layout[0] for layout in MM_LAYOUTS])
def test_multi_margin_matches_torch(layout, dtype, p, reduction, rng):
    _, shape, target_shape = layout
    n_classes = shape[-1] if shape else 1
    for margin, weight_kind, go_kind, score_kind in MM_SETTINGS:
        x = make_scores(rng, shape, dtype, score_kind)
        y = rng.integers(0, n_classes, size=target_shape)
        weight = make_weight(rng, n_classes, dtype, weight_kind)
        go = make_grad_output(rng, go_kind, target_shape, reduction, dtype)
        settings = dict(p=p, margin=margin, weight=weight, reduction=reduction)

        w = None if weight is None else torch.from_numpy(weight)
        out, grad = run_ours(mt.multi_margin_loss, x, y, go, p=p, margin=margin, weight=w,
                             reduction=reduction)
        t_loss, t_grad = torch_multi_margin(x, y, **settings, grad_output=go)
        e_loss, e_grad, e_rows = reference_multi_margin_parts(x, y, **settings, grad_output=go)
        check_like_torch(out, grad, x, t_loss, t_grad, e_loss, e_grad, e_rows, reduction,
                         "MultiMarginLossFunctionBackward")
        # The loss is marginloss's, bit for bit.
        expected = marginloss.multi_margin_loss(x, y, **settings)
        assert out.detach().numpy().tobytes() == np.asarray(expected).tobytes()


MLM_LAYOUTS = [
    ("0d", (), (1,)),
    ("1d_C1", (1,), (1,)),
    ("1d_C8", (8,), (8,)),
    ("2d_1x6", (1, 6), (1, 6)),
    ("2d_7x5", (7, 5), (7, 5)),
    ("2d_40x30", (40, 30), (40, 30)),
    ("2d_0x4", (0, 4), (0, 4)),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", MLM_LAYOUTS, ids=[layout[0] for layout in MLM_LAYOUTS])
def test_multilabel_margin_matches_torch(layout, dtype, reduction, rng):
    _, shape, target_shape = layout
    n_classes = shape[-1] if shape else 1
    n_samples = shape[0] if len(shape) == 2 else 1
    loss_shape = (n_samples,) if len(shape) == 2 else ()
    for go_kind, score_kind in [(1.0, "normal"), ("vector", "quantized"), (-0.75, "wide")]:
        x = make_scores(rng, shape, dtype, score_kind)
        t = make_label_target(rng, n_samples, n_classes).reshape(target_shape)
        go = make_grad_output(rng, go_kind, loss_shape, reduction, dtype)

        out, grad = run_ours(mt.multilabel_margin_loss, x, t, go, reduction=reduction)
        t_loss, t_grad = torch_multilabel_margin(x, t, reduction, grad_output=go)
        e_loss, e_grad, e_rows = reference_multilabel_margin_parts(x, t, reduction,
                                                                   grad_output=go)
        check_like_torch(out, grad, x, t_loss, t_grad, e_loss, e_grad, e_rows, reduction,
                         "MultiLabelMarginLossFunctionBackward")
        expected = marginloss.multilabel_margin_loss(x, t, reduction)
        assert out.detach().numpy().tobytes() == np.asarray(expected).tobytes()


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_empty_batch(dtype):
    """An empty batch: nan for 'mean', 0 for 'sum' (PyTorch returns garbage), empty gradients."""
    x = torch.zeros((0, 4), dtype=torch.from_numpy(np.zeros(0, dtype)).dtype,
                    requires_grad=True)
    y = torch.zeros(0, dtype=torch.int64)
    t = torch.zeros((0, 4), dtype=torch.int64)
    for loss in (mt.multi_margin_loss(x, y), mt.multilabel_margin_loss(x, t)):
        assert torch.isnan(loss) and loss.dtype == x.dtype
        loss.backward()
        assert x.grad.shape == (0, 4)
    assert mt.multi_margin_loss(x, y, reduction="sum").item() == 0.0
    assert mt.multilabel_margin_loss(x, t, reduction="sum").item() == 0.0


@pytest.mark.parametrize("loss_name", ["multi_margin", "multilabel_margin"])
def test_non_contiguous_tensors_match_contiguous(loss_name, rng):
    """Strided input and target are copied (as PyTorch does) and give the same bits."""
    base = torch.tensor(make_scores(rng, (12, 20), np.float32, "normal"))
    if loss_name == "multi_margin":
        function, torch_function = mt.multi_margin_loss, F.multi_margin_loss
        target = torch.from_numpy(rng.integers(0, 10, 24))[::2]
    else:
        function, torch_function = mt.multilabel_margin_loss, F.multilabel_margin_loss
        wide = torch.full((12, 20), -1)
        wide[:, ::2] = torch.from_numpy(make_label_target(rng, 12, 10))
        target = wide[:, ::2]
    x = base[:, ::2].requires_grad_()  # a view: not contiguous
    assert not x.is_contiguous() and not target.is_contiguous()
    out = function(x, target, reduction="none")
    out.backward(torch.linspace(-1, 1, 12))
    x_c = x.detach().contiguous().requires_grad_()
    out_c = function(x_c, target.contiguous(), reduction="none")
    out_c.backward(torch.linspace(-1, 1, 12))
    assert torch.equal(out, out_c) and torch.equal(x.grad, x_c.grad)
    torch.testing.assert_close(out, torch_function(x.detach(), target, reduction="none"),
                               rtol=2e-5, atol=2e-5)


# ----------------------------------------------------------- autograd wiring


def far_from_kinks(rng, shape, hinge_terms, distance=0.05):
    """Standard normal scores whose every hinge term is at least ``distance`` from 0."""
    for _ in range(10_000):
        x = rng.standard_normal(shape) * 1.5
        z = hinge_terms(x)
        if z.size == 0 or np.abs(z).min() > distance:
            return x
    raise AssertionError("no scores far enough from the kinks")


def multi_margin_terms(y, margin):
    def terms(x):
        x2 = x.reshape(-1, x.shape[-1])
        z = margin - x2[np.arange(len(y)), y][:, None] + x2
        z[np.arange(len(y)), y] = np.inf  # the target's own term is not a hinge
        return z
    return terms


def multilabel_terms(t):
    def terms(x):
        x2, t2 = x.reshape(t.shape[0], -1), t
        z = []
        for row, labels in zip(x2, t2):
            k = np.flatnonzero(labels < 0)
            labels = labels[:k[0] if k.size else len(labels)]
            others = np.setdiff1d(np.arange(len(row)), labels)
            z.extend((1 - row[j] + row[d]) for j in labels for d in others)
        return np.array(z)
    return terms


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p, weighted", [(1, False), (2, False), (1, True), (2, True)],
                         ids=["p1", "p2", "p1_weight", "p2_weight"])
@pytest.mark.parametrize("shape", [(4, 5), (6,)], ids=["2d", "1d"])
def test_multi_margin_gradcheck(shape, p, weighted, reduction, rng):
    n_samples = shape[0] if len(shape) == 2 else 1
    y = rng.integers(0, shape[-1], n_samples)
    margin = 0.8
    x = far_from_kinks(rng, shape, multi_margin_terms(y, margin))
    weight = torch.tensor(rng.uniform(0.5, 2.0, shape[-1])) if weighted else None
    target = torch.tensor(y if len(shape) == 2 else y[0])

    def loss(scores):
        return mt.multi_margin_loss(scores, target, p=p, margin=margin, weight=weight,
                                    reduction=reduction)

    assert torch.autograd.gradcheck(loss, (torch.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 6), (6,)], ids=["2d", "1d"])
def test_multilabel_margin_gradcheck(shape, reduction, rng):
    n_samples = shape[0] if len(shape) == 2 else 1
    t = make_label_target(rng, n_samples, shape[-1])
    x = far_from_kinks(rng, shape, multilabel_terms(t))
    target = torch.tensor(t.reshape(shape))

    def loss(scores):
        return mt.multilabel_margin_loss(scores, target, reduction=reduction)

    assert torch.autograd.gradcheck(loss, (torch.tensor(x, requires_grad=True),))


def _problem(rng, loss_name, dtype=torch.float32):
    x = torch.tensor(rng.standard_normal((8, 5)), dtype=dtype)
    if loss_name == "multi_margin":
        return mt.multi_margin_loss, x, torch.from_numpy(rng.integers(0, 5, 8))
    return mt.multilabel_margin_loss, x, torch.from_numpy(make_label_target(rng, 8, 5))


LOSS_NAMES = ["multi_margin", "multilabel_margin"]


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_double_backward_raises(loss_name, rng):
    function, x, target = _problem(rng, loss_name, torch.float64)
    x.requires_grad_()
    (grad,) = torch.autograd.grad(function(x, target), x, create_graph=True)
    # As PyTorch's: the gradient is part of the new graph; differentiating it raises.
    assert grad.requires_grad
    backward_op = {"multi_margin": "multi_margin_loss_backward",
                   "multilabel_margin": "multilabel_margin_loss_backward"}[loss_name]
    with pytest.raises(RuntimeError,
                       match=f"derivative for marginloss::{backward_op} is not implemented"):
        grad.sum().backward()


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_forward_mode_ad_raises(loss_name, rng):
    import torch.autograd.forward_ad as fwAD

    function, x, target = _problem(rng, loss_name)
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.ones_like(x))
        with pytest.raises(NotImplementedError, match="forward AD"):
            function(dual, target)  # PyTorch's op and error
        with pytest.raises(NotImplementedError, match="forward AD"):
            function(dual.requires_grad_(), target)


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_no_grad_and_inference_mode(loss_name, rng, monkeypatch):
    """Without a gradient to compute only the loss kernel runs; same loss bits."""
    function, x, target = _problem(rng, loss_name)
    x.requires_grad_()
    with_grad = function(x, target)
    calls = []

    def fail(*args):
        calls.append(args)
        pytest.fail("gradient computed")

    # Every way to the gradient: the call path's, and the kernels' (the lean eager path).
    kernels = {"multi_margin": marginloss._losses._multi_margin,
               "multilabel_margin": marginloss._losses._multilabel_margin}[loss_name]
    monkeypatch.setattr(kernels, "loss_gradient", fail)
    monkeypatch.setattr(marginloss._engine, "loss_and_gradient", fail)
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            out = function(x, target)
        assert out.grad_fn is None and not out.requires_grad
        assert torch.equal(out, with_grad.detach())
    out = function(x.detach(), target)  # an input that does not require grad
    assert out.grad_fn is None and torch.equal(out, with_grad.detach())
    assert not calls


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_sum_of_none_and_retain_graph(loss_name, rng):
    """An expanded grad_output (from .sum()) and a second backward through a retained graph."""
    function, x, target = _problem(rng, loss_name, torch.float64)
    x.requires_grad_()
    loss = function(x, target, reduction="none").sum()
    loss.backward(retain_graph=True)
    once = x.grad.clone()
    loss.backward()
    torch.testing.assert_close(x.grad, 2 * once, rtol=0, atol=0)
    x_t = x.detach().clone().requires_grad_()
    torch_function = getattr(F, f"{loss_name}_loss")
    torch_function(x_t, target, reduction="none").sum().backward()
    torch.testing.assert_close(once, x_t.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_cpu_tensors_under_another_default_device(loss_name, rng):
    function, x, target = _problem(rng, loss_name)
    x.requires_grad_()
    expected = function(x, target)
    expected.backward()
    expected_grad, x.grad = x.grad, None
    with torch.device("meta"):
        out = function(x, target)
        out.backward()
    assert out.device.type == "cpu" and torch.equal(out, expected)
    assert type(out.grad_fn).__name__.endswith("LossFunctionBackward")  # the kernels
    assert torch.equal(x.grad, expected_grad)


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_weight_and_target_get_no_gradient(loss_name, rng):
    function, x, target = _problem(rng, loss_name)
    x.requires_grad_()
    (grad,) = torch.autograd.grad(function(x, target), [x])
    assert grad.shape == x.shape
    if loss_name == "multi_margin":
        weight = torch.ones(5, requires_grad=True)
        with pytest.raises(ValueError, match="weight must not require grad"):
            mt.multi_margin_loss(x, target, weight=weight)
        with pytest.raises(RuntimeError, match="not differentiable with respect to argument"):
            F.multi_margin_loss(x, target, weight=weight)  # PyTorch refuses it too


# ------------------------------------------------------------------ zero copy


class _Recorder:
    """Stands in for a kernel module and records the arrays each kernel gets."""

    def __init__(self, module):
        self.module, self.calls = module, []

    def __getattr__(self, name):
        function = getattr(self.module, name)

        def record(*args):
            self.calls.append((name, args))
            return function(*args)
        return record


def _address(array):
    """An array's address (a kernel taking addresses gets the int itself)."""
    return array if isinstance(array, int) else array.__array_interface__["data"][0]


# (loss, kernel module attribute in marginloss._losses, the kernel the eager
# path calls, position of the gradient buffer among its arguments): small
# calls run the kernel at the tensors' addresses (total_at).
ZERO_COPY_CASES = [
    ("multi_margin", "_multi_margin", "total_at", 2),
    ("multilabel_margin", "_multilabel_margin", "total_at", 2),
]


@pytest.mark.parametrize("loss_name, kernels, kernel, gradient_position", ZERO_COPY_CASES,
                         ids=[case[0] for case in ZERO_COPY_CASES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_kernels_read_and_write_tensor_memory(loss_name, kernels, kernel, gradient_position,
                                              dtype, rng, monkeypatch):
    """The kernels read the input and the int64 target in place and write the
    gradient into memory that becomes ``input.grad``."""
    recorder = _Recorder(getattr(marginloss._losses, kernels))
    monkeypatch.setattr(marginloss._losses, kernels, recorder)
    function, x, target = _problem(rng, loss_name, dtype)
    x.requires_grad_()
    function(x, target).backward()
    ((name, args),) = recorder.calls
    assert name == kernel
    assert _address(args[0]) == x.data_ptr()
    assert _address(args[1]) == target.data_ptr()
    assert _address(args[gradient_position]) == x.grad.data_ptr()


# ------------------------------------------------------------------ modules


def test_multi_margin_module_matches_torch_module(rng):
    weight = torch.tensor(rng.uniform(0.5, 2.0, 6), dtype=torch.float32)
    ours = mt.MultiMarginLoss(p=2, margin=0.5, weight=weight, reduction="sum")
    theirs = torch.nn.MultiMarginLoss(p=2, margin=0.5, weight=weight, reduction="sum")
    x = torch.tensor(rng.standard_normal((10, 6)), dtype=torch.float32)
    y = torch.from_numpy(rng.integers(0, 6, 10))
    torch.testing.assert_close(ours(x, y), theirs(x, y), rtol=2e-5, atol=1e-6)
    assert (ours.p, ours.margin, ours.reduction) == (theirs.p, theirs.margin, theirs.reduction)
    # The weight is a buffer, as torch's: state_dict, load_state_dict, .to()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert list(mt.MultiMarginLoss().state_dict()) == []
    other = mt.MultiMarginLoss(weight=torch.zeros(6))
    other.load_state_dict(theirs.state_dict())
    assert torch.equal(other.weight, weight)
    ours.margin = 2.0  # settings are plain attributes, read at each call
    theirs.margin = 2.0
    torch.testing.assert_close(ours(x, y), theirs(x, y), rtol=2e-5, atol=1e-6)
    assert ours.to(torch.float64) is ours and ours.weight.dtype == torch.float64
    torch.testing.assert_close(ours(x.double(), y), theirs.double()(x.double(), y))


def test_multilabel_margin_module_matches_torch_module(rng):
    x = torch.tensor(rng.standard_normal((10, 6)), dtype=torch.float64)
    t = torch.from_numpy(make_label_target(rng, 10, 6))
    for reduction in REDUCTIONS:
        ours = mt.MultiLabelMarginLoss(reduction=reduction)
        theirs = torch.nn.MultiLabelMarginLoss(reduction=reduction)
        torch.testing.assert_close(ours(x, t), theirs(x, t), rtol=1e-12, atol=1e-14)
        assert ours.reduction == reduction and list(ours.state_dict()) == []


@pytest.mark.parametrize("size_average, reduce, expected", [
    (None, False, "none"), (False, None, "sum"), (True, True, "mean"), (False, False, "none"),
])
def test_legacy_size_average_and_reduce(size_average, reduce, expected, rng):
    x = torch.tensor(rng.standard_normal((4, 3)))
    y = torch.tensor([0, 2, 1, 1])
    t = torch.tensor([[0, -1, -1], [2, 1, -1], [1, -1, -1], [0, 1, 2]])
    with pytest.warns(DeprecationWarning, match=f"reduction='{expected}'"):
        module = mt.MultiMarginLoss(size_average=size_average, reduce=reduce)
    assert module.reduction == expected
    with pytest.warns(DeprecationWarning):
        assert mt.MultiLabelMarginLoss(size_average, reduce).reduction == expected
    with pytest.warns(DeprecationWarning):
        ours = mt.multi_margin_loss(x, y, size_average=size_average, reduce=reduce)
    with pytest.warns(DeprecationWarning):
        ours_ml = mt.multilabel_margin_loss(x, t, size_average, reduce)
    with pytest.warns(UserWarning):
        theirs = F.multi_margin_loss(x, y, size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning):
        theirs_ml = F.multilabel_margin_loss(x, t, size_average, reduce)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ours_ml, theirs_ml, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_training_steps_match_torch(loss_name, dtype, rng):
    """Five SGD steps of a small MLP: the same parameters as with torch's loss."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 6)).to(dtype)
    twin, initial = copy.deepcopy(model), copy.deepcopy(model)
    if loss_name == "multi_margin":
        ours, theirs = mt.MultiMarginLoss(p=2), torch.nn.MultiMarginLoss(p=2)
        target = torch.from_numpy(rng.integers(0, 6, 64))
    else:
        ours, theirs = mt.MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss()
        target = torch.from_numpy(make_label_target(rng, 64, 6))
    x = torch.tensor(rng.standard_normal((64, 20)), dtype=dtype)
    for net, criterion in ((model, ours), (twin, theirs)):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
        for _ in range(5):
            optimizer.zero_grad()
            criterion(net(x), target).backward()
            optimizer.step()
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    for ours_p, theirs_p, initial_p in zip(model.parameters(), twin.parameters(),
                                           initial.parameters()):
        torch.testing.assert_close(ours_p, theirs_p, rtol=tolerance, atol=tolerance)
        assert not torch.allclose(ours_p, initial_p)  # the steps moved every parameter


# ----------------------------------------------------- other devices, dtypes


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_meta_tensors_go_to_torchs_op(loss_name):
    x = torch.empty((4, 5), device="meta", requires_grad=True)
    if loss_name == "multi_margin":
        target = torch.empty(4, dtype=torch.int64, device="meta")
        module = mt.MultiMarginLoss(weight=torch.ones(5)).to("meta")
        names = ("MultiMarginLossBackward0", "MultiMarginLossBackward0")
    else:
        target = torch.empty((4, 5), dtype=torch.int64, device="meta")
        module = mt.MultiLabelMarginLoss()
        names = ("MultilabelMarginLossBackward0", "MultilabelMarginLossBackward0")
    function = getattr(mt, f"{loss_name}_loss")
    for out, name in zip((function(x, target, reduction="none"), module(x, target)), names):
        assert out.device.type == "meta"
        assert type(out.grad_fn).__name__ == name  # PyTorch's own autograd node
    assert function(x, target, reduction="none").shape == (4,)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_half_precision_on_cpu_behaves_as_torch(loss_name, dtype, rng):
    """Outside autocast PyTorch has no CPU kernel for these dtypes: the same error."""
    function, x, target = _problem(rng, loss_name)
    with pytest.raises(NotImplementedError, match="not implemented for"):
        getattr(F, f"{loss_name}_loss")(x.to(dtype), target)
    with pytest.raises(NotImplementedError, match="not implemented for"):
        function(x.to(dtype), target)


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_autocast_computes_half_precision_in_float32(loss_name, rng):
    function, x, target = _problem(rng, loss_name)
    torch_function = getattr(F, f"{loss_name}_loss")
    leaf, leaf_t = (x.bfloat16().requires_grad_() for _ in range(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, theirs = function(leaf, target), torch_function(leaf_t, target)
    assert ours.dtype == theirs.dtype == torch.float32
    assert type(ours.grad_fn).__name__.endswith("LossFunctionBackward")
    torch.testing.assert_close(ours, theirs, rtol=2e-5, atol=1e-6)
    ours.backward()
    theirs.backward()
    assert leaf.grad.dtype == torch.bfloat16
    torch.testing.assert_close(leaf.grad, leaf_t.grad)


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_torch_func_grad_gives_torchs_gradient(loss_name, rng):
    function, x, target = _problem(rng, loss_name, torch.float64)
    torch_function = getattr(F, f"{loss_name}_loss")
    ours = torch.func.grad(lambda scores: function(scores, target))(x)
    theirs = torch.func.grad(lambda scores: torch_function(scores, target))(x)
    # The custom op (the kernels, float64 accumulation) under the transform: the
    # tolerances of the compiled path.
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_torch_compile_captures_the_custom_op(loss_name, rng):
    function, x, target = _problem(rng, loss_name, torch.float64)
    torch_function = getattr(F, f"{loss_name}_loss")
    leaf, leaf_t = (x.clone().requires_grad_() for _ in range(2))
    compiled = torch.compile(lambda scores: function(2 * scores, target), backend="eager",
                             fullgraph=True)
    out = compiled(leaf)
    # The graph calls the op, whose autograd node is torch.library's.
    assert type(out.grad_fn).__name__ == (
        f"GeneratedBackwardFor_marginloss_{loss_name}_loss_defaultBackward")
    out.backward()
    torch_function(2 * leaf_t, target).backward()
    torch.testing.assert_close(out, torch_function(2 * x, target), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(leaf.grad, leaf_t.grad, rtol=1e-12, atol=1e-14)


def test_tensor_subclass_with_torch_function_uses_torchs_op(rng):
    seen = []

    class Logged(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            seen.append(getattr(func, "__name__", func))
            return super().__torch_function__(func, types, args, kwargs or {})

    function, x, target = _problem(rng, "multi_margin", torch.float64)
    out = function(x.as_subclass(Logged), target)
    assert "multi_margin_loss" in seen
    torch.testing.assert_close(out.as_subclass(torch.Tensor), F.multi_margin_loss(x, target))


def test_torch_function_mode_sees_torchs_op(rng):
    class Seen(torch.overrides.TorchFunctionMode):
        names = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    function, x, target = _problem(rng, "multilabel_margin", torch.float64)
    with Seen():
        out = function(x, target)
    assert "multilabel_margin_loss" in Seen.names
    torch.testing.assert_close(out, F.multilabel_margin_loss(x, target), rtol=0, atol=0)


# --------------------------------------------------------------------- errors


def test_errors_name_the_argument(rng):
    x = torch.tensor(rng.standard_normal((3, 4)))
    y = torch.tensor([0, 3, 1])
    t = torch.tensor([[0, -1, -1, -1]] * 3)
    with pytest.raises(TypeError, match="input must be a torch.Tensor, got list"):
        mt.multi_margin_loss([[0.0, 1.0]], y)
    with pytest.raises(TypeError, match="target must be a torch.Tensor, got list"):
        mt.multilabel_margin_loss(x, [[0, -1, -1, -1]] * 3)
    with pytest.raises(TypeError, match="weight must be None or a torch.Tensor, got list"):
        mt.multi_margin_loss(x, y, weight=[1.0] * 4)
    with pytest.raises(TypeError, match="weight must be None or a torch.Tensor, got ndarray"):
        mt.MultiMarginLoss(weight=np.ones(4))
    with pytest.raises(ValueError, match="p must be 1 or 2, got 3"):
        mt.multi_margin_loss(x, y, p=3)
    with pytest.raises(ValueError, match="p must be 1 or 2, got 3"):
        mt.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="margin must be a finite real number"):
        mt.MultiMarginLoss(margin=float("inf"))
    with pytest.raises(ValueError, match="weight must be a 1-D array"):
        mt.MultiMarginLoss(weight=torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"weight must be finite, got weight\[1\] = nan"):
        mt.MultiMarginLoss(weight=torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        mt.MultiLabelMarginLoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        mt.multilabel_margin_loss(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"target out of range: target\[1\] = 4"):
        mt.multi_margin_loss(x.requires_grad_(), torch.tensor([0, 4, 1]))
    with pytest.raises(TypeError, match="target must be an array of integer class indices"):
        mt.multi_margin_loss(x, y.double())
    with pytest.raises(ValueError, match=r"expected shape \(4,\), got shape \(5,\)"):
        mt.multi_margin_loss(x, y, weight=torch.ones(5))
    with pytest.raises(ValueError, match="target must have the shape of input"):
        mt.multilabel_margin_loss(x, t[:2])


# ------------------------------------------------- the eager path's internals


from marginloss.torch import _eager, _functional  # noqa: E402


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_lean_path_checks_the_target_range_when_the_loss_is_nan(reduction, monkeypatch):
    """The lean multi-class path leaves the range to a NaN sum; the error is the usual one."""
    x = torch.zeros(3, 4, requires_grad=True)
    good = torch.tensor([0, 3, 1])
    calls = []
    fast = _eager.multi_margin_fast
    monkeypatch.setattr(_functional, "_multi_margin_fast",
                        lambda *args: calls.append(args) or fast(*args))
    out = mt.multi_margin_loss(x, good, reduction=reduction)
    assert calls and type(out.grad_fn).__name__ == "MultiMarginLossFunctionBackward"
    for bad, index in ((torch.tensor([0, 4, 1]), 1), (torch.tensor([0, 1, -1]), 2)):
        with pytest.raises(mt.TorchValueError, match=rf"target out of range: target\[{index}\]"):
            mt.multi_margin_loss(x, bad, reduction=reduction)
        with pytest.raises(RuntimeError, match="target out of range"):
            mt.multi_margin_loss(x.detach(), bad, reduction=reduction)


def test_lean_path_gives_the_general_paths_bits(rng):
    """The lean path (contiguous, int64) and the general one (int32 target,
    non-contiguous input) give the same loss and gradient, float32 overflow included."""
    for scale in (1.0, 1e38):
        scores = torch.from_numpy(rng.standard_normal((37, 6)).astype(np.float32)) * scale
        target = torch.from_numpy(rng.integers(0, 6, 37))
        lean = scores.clone().requires_grad_()
        general = scores.t().contiguous().t().requires_grad_()  # a column-major input
        for reduction in ("mean", "sum"):
            a = mt.multi_margin_loss(lean, target, reduction=reduction)
            b = mt.multi_margin_loss(general, target.int(), reduction=reduction)
            assert torch.equal(a, b) or (a.isnan() and b.isnan())
            a.backward()
            b.backward()
            assert torch.equal(lean.grad, general.grad)
            lean.grad = general.grad = None


def test_each_forward_has_its_own_gradient_and_a_retained_graph_recomputes(rng):
    """The node gives its gradient away on the first backward (autograd may keep it
    as .grad); a second backward through the retained graph computes it again."""
    scores = torch.from_numpy(rng.standard_normal((5, 4)))
    target = torch.tensor([0, 1, 2, 3, 0])
    x = scores.clone().requires_grad_()
    loss = mt.multi_margin_loss(x, target, p=2)
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    x.grad.zero_()  # changes the memory the first backward gave away
    loss.backward(retain_graph=True)
    loss.backward(torch.tensor(3.0))
    expected = torch.autograd.grad(F.multi_margin_loss(scores.requires_grad_(), target, p=2),
                                   scores)[0]
    torch.testing.assert_close(first, expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(x.grad, 4 * expected, rtol=1e-12, atol=1e-15)


def test_changing_the_class_weight_in_place_makes_backward_raise():
    x = torch.zeros(2, 3, requires_grad=True)
    weight = torch.ones(3)
    loss = mt.multi_margin_loss(x, torch.tensor([0, 2]), weight=weight)
    weight.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_fake_tensors_take_the_custom_op(loss_name):
    """Under FakeTensorMode (as torch.export's non-strict tracing) the op's fake
    implementation gives the shape and dtype."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    function = getattr(mt, f"{loss_name}_loss")
    with FakeTensorMode():
        x = torch.empty(7, 5, dtype=torch.float64)
        target = (torch.zeros(7, dtype=torch.int64) if loss_name == "multi_margin"
                  else torch.zeros(7, 5, dtype=torch.int64))
        for reduction, shape in (("none", (7,)), ("sum", ())):
            out = function(x, target, reduction=reduction)
            assert out.shape == shape and out.dtype == torch.float64


def test_routes():
    x, y = torch.zeros(2, 3), torch.tensor([0, 1])
    assert _functional._route(x, (x, y)) == "eager"
    assert _functional._route(x.half(), (x.half(), y)) == "torch"
    assert _functional._route(x.to("meta"), (x.to("meta"), y)) == "torch"
    with torch.no_grad():
        traced = []
        torch.jit.trace(lambda s: traced.append(_functional._route(s, (s, y))) or s, (x,),
                        check_trace=False)
    assert traced == ["op"]


# ------------------------------------------- the eager path at raw addresses


# (N, C): fewer rows than a row block, several blocks and a remainder, wide
# rows (class blocks), one class, and enough scores for two threads.
ADDRESS_SHAPES = [(1, 1), (3, 4), (32, 10), (37, 31), (45, 50), (129, 3), (2048, 10)]


@pytest.mark.parametrize("shape", ADDRESS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("p, margin", [(1, 1.0), (2, 0.7), (1, -0.3)])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_eager_multi_margin_equals_numpy_bits(shape, reduction, p, margin, dtype, rng):
    """The eager multi-class call (the kernel at the tensors' addresses, the
    per-sample losses summed in C) gives the NumPy function's bits, loss and
    gradient, on one thread and on two."""
    x = rng.standard_normal(shape).astype(dtype) * 2
    y = rng.integers(0, shape[1], shape[0])
    expected_loss, expected_grad = marginloss.multi_margin_loss_and_grad(
        x, y, p=p, margin=margin, reduction=reduction)
    for n_threads in (1, 2):
        previous = torch.get_num_threads()
        torch.set_num_threads(n_threads)
        try:
            scores = torch.from_numpy(x.copy()).requires_grad_()
            loss = mt.multi_margin_loss(scores, torch.from_numpy(y), p=p, margin=margin,
                                        reduction=reduction)
            loss.backward()
            with torch.no_grad():
                no_grad = mt.multi_margin_loss(scores, torch.from_numpy(y), p=p,
                                               margin=margin, reduction=reduction)
        finally:
            torch.set_num_threads(previous)
        assert type(loss.grad_fn).__name__ == "MultiMarginLossFunctionBackward"
        assert loss.dtype == scores.dtype and loss.shape == ()
        assert loss.item() == float(expected_loss) == no_grad.item()
        np.testing.assert_array_equal(scores.grad.numpy(), expected_grad)


def test_eager_multi_margin_out_of_range_target_raises_after_the_kernel(rng):
    """A target out of range gives the kernel a NaN row; the call raises the
    general path's error (and leaves no gradient)."""
    x = torch.tensor(rng.standard_normal((40, 10)), dtype=torch.float32, requires_grad=True)
    y = torch.from_numpy(rng.integers(0, 10, 40))
    y[17] = 10
    for reduction in ("mean", "sum"):
        with pytest.raises(RuntimeError, match="target"):
            mt.multi_margin_loss(x, y, reduction=reduction)
        with pytest.raises(ValueError, match="target"):
            mt.multi_margin_loss(x, y, reduction=reduction)
    assert x.grad is None


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_eager_losses_of_a_negative_view(reduction, rng):
    """A tensor with PyTorch's negative bit (a lazy negation) is read negated,
    as PyTorch reads it, not at its raw address."""
    x = torch.tensor(rng.standard_normal((6, 4)))
    negative = torch._neg_view(x)
    assert negative.is_neg()
    y = torch.from_numpy(rng.integers(0, 4, 6))
    torch.testing.assert_close(mt.multi_margin_loss(negative, y, reduction=reduction),
                               F.multi_margin_loss(-x, y, reduction=reduction),
                               rtol=1e-12, atol=1e-14)
    t = torch.tensor([[1, 3, -1, 0]] * 6)
    torch.testing.assert_close(mt.multilabel_margin_loss(negative, t, reduction=reduction),
                               F.multilabel_margin_loss(-x, t, reduction=reduction),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 4), (40, 500)], ids=["small", "threaded"])
def test_eager_losses_of_a_negative_view_target(reduction, shape, rng):
    """A target with the negative bit is read as its values, on the fast paths
    (small calls at raw addresses) and the threaded ones: the plain target's
    loss and gradient bit for bit, and PyTorch's."""
    n_samples, n_classes = shape
    x = torch.tensor(rng.standard_normal(shape), dtype=torch.float32)
    y = torch.from_numpy(rng.integers(0, n_classes, n_samples))
    t = torch.full(shape, -1, dtype=torch.int64)
    t[:, :3] = torch.from_numpy(rng.integers(0, n_classes, (n_samples, 3)))
    cases = [(mt.multi_margin_loss, F.multi_margin_loss, y),
             (mt.multilabel_margin_loss, F.multilabel_margin_loss, t)]
    for ours, theirs, target in cases:
        negative = torch._neg_view(-target)
        assert negative.is_neg() and torch.equal(negative, target)
        results = []
        for given in (target, negative, None):
            scores = x.clone().requires_grad_()
            loss = (theirs(scores, target, reduction=reduction) if given is None
                    else ours(scores, given, reduction=reduction))
            loss.sum().backward()
            results.append((loss.detach(), scores.grad))
        (loss, grad), (loss_negative, grad_negative), (loss_torch, grad_torch) = results
        torch.testing.assert_close(loss_negative, loss, rtol=0, atol=0)
        torch.testing.assert_close(grad_negative, grad, rtol=0, atol=0)
        torch.testing.assert_close(loss, loss_torch, rtol=RTOL[np.dtype(np.float32)], atol=1e-6)
        torch.testing.assert_close(grad, grad_torch, rtol=RTOL[np.dtype(np.float32)], atol=1e-6)


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_node_apply_is_the_backward(loss_name, rng):
    """The eager node's apply (what the engine calls) gives backward's result:
    grad_fn.apply called directly multiplies by its grad_output."""
    function, x, target = _problem(rng, loss_name, torch.float64)
    x.requires_grad_()
    (expected,) = torch.autograd.grad(function(x, target), [x])
    loss = function(x, target)
    (got, *rest) = loss.grad_fn.apply(torch.tensor(3.0, dtype=torch.float64))
    torch.testing.assert_close(got, 3.0 * expected, rtol=0, atol=0)
    assert all(item is None for item in rest)


def _index_rows(rng, n_samples, n_classes):
    """-1-padded label rows: none, some and all classes, and entries after the
    first -1 (which are not labels)."""
    t = np.full((n_samples, n_classes), -1, dtype=np.int64)
    for n in range(n_samples):
        k = int(rng.integers(0, n_classes + 1))
        t[n, :k] = rng.choice(n_classes, k, replace=False)
        if k + 1 < n_classes:
            t[n, k + 1:] = rng.integers(-1, n_classes, n_classes - k - 1)
    return t


@pytest.mark.parametrize("shape", [(1, 1), (3, 4), (32, 10), (7, 40), (200, 10), (2048, 10)],
                         ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_eager_multilabel_margin_equals_numpy_bits(shape, reduction, dtype, rng):
    """The eager multi-label call (the kernel at the tensors' addresses for small
    calls, NumPy views above) gives the NumPy function's bits, loss and gradient."""
    x = rng.standard_normal(shape).astype(dtype) * 2
    t = _index_rows(rng, *shape)
    expected_loss, expected_grad = marginloss.multilabel_margin_loss_and_grad(
        x, t, reduction=reduction)
    scores = torch.from_numpy(x.copy()).requires_grad_()
    loss = mt.multilabel_margin_loss(scores, torch.from_numpy(t), reduction=reduction)
    loss.backward()
    with torch.no_grad():
        no_grad = mt.multilabel_margin_loss(scores, torch.from_numpy(t), reduction=reduction)
    assert type(loss.grad_fn).__name__ == "MultiLabelMarginLossFunctionBackward"
    assert loss.dtype == scores.dtype and loss.shape == ()
    assert loss.item() == float(expected_loss) == no_grad.item()
    np.testing.assert_array_equal(scores.grad.numpy(), expected_grad)


@pytest.mark.parametrize("shape", [(40, 10), (2048, 10)], ids=str)
@pytest.mark.parametrize("bad", [10, -2])
def test_eager_multilabel_margin_out_of_range_target_raises(shape, bad, rng):
    """An entry outside [-1, C) (even after the first -1) raises the general
    path's error, from the small calls' path and the large ones'."""
    x = torch.tensor(rng.standard_normal(shape), dtype=torch.float32, requires_grad=True)
    t = torch.from_numpy(_index_rows(rng, *shape))
    t[shape[0] - 1, -1] = bad
    for reduction in ("mean", "sum"):
        with pytest.raises(RuntimeError, match="target"):
            mt.multilabel_margin_loss(x, t, reduction=reduction)
        with torch.no_grad(), pytest.raises(ValueError, match="target"):
            mt.multilabel_margin_loss(x, t, reduction=reduction)
    assert x.grad is None
