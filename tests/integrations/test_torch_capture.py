"""marginloss.torch under torch.compile and torch.export: captured, not a graph break.

- ``torch.compile(..., fullgraph=True)`` of a function calling our functional
  loss, and of a model holding our module (``MultiMarginLoss`` with a
  ``weight`` buffer, ``MultiLabelMarginLoss``), compiles without a graph
  break; the forward graph that AOTAutograd hands to the backend calls an op
  of the ``marginloss`` namespace (our kernels inside the graph, not
  PyTorch's decomposition); loss and gradients equal PyTorch's eager ones;
- ``torch.export.export(module, args, strict=True)`` works, its graph calls a
  ``marginloss`` op, and ``ep.module()`` gives PyTorch's loss and gradient on
  new inputs (with a dynamic batch size too).

The backends here are AOTAutograd with Python graphs (as ``aot_eager``), which
compile in about a second; the one test with Inductor (the default backend,
tens of seconds to compile on two cores) is marked ``slow``.
"""

import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import marginloss.torch as mt  # noqa: E402

NAMESPACE = "marginloss"


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from scratch and leaves no compiled state behind."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()) + 20_261_207)


def _our_ops(graph_module):
    """The ``marginloss`` ops that a graph module (and its subgraphs) calls."""
    found = []
    for module in graph_module.modules():
        graph = getattr(module, "graph", None)
        if graph is None:
            continue
        for node in graph.nodes:
            target = node.target
            namespace = getattr(target, "namespace", None)
            if namespace is None:  # an OpOverloadPacket or another callable
                namespace = getattr(getattr(target, "_qualified_op_name", ""), "split",
                                    lambda _: [""])("::")[0]
            if node.op == "call_function" and namespace == NAMESPACE:
                found.append(str(target))
    return found


def _recording_backend():
    """AOTAutograd with Python graphs (as backend="aot_eager") that keeps the graphs."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    graphs = {"forward": [], "backward": [], "dynamo": []}

    def compiler(kind):
        def compile_graph(graph_module, example_inputs):
            graphs[kind].append(graph_module)
            return make_boxed_func(graph_module.forward)
        return compile_graph

    aot = aot_autograd(fw_compiler=compiler("forward"), bw_compiler=compiler("backward"))

    def backend(graph_module, example_inputs):
        graphs["dynamo"].append(graph_module)
        return aot(graph_module, example_inputs)

    return backend, graphs


def _tolerance(dtype):
    if dtype == torch.float32:
        return dict(rtol=2e-5, atol=1e-6)
    return dict(rtol=1e-12, atol=1e-14)


def _label_rows(rng, n_samples, n_classes):
    t = np.full((n_samples, n_classes), -1, dtype=np.int64)
    for n in range(n_samples):
        k = int(rng.integers(0, n_classes + 1))
        t[n, :k] = rng.choice(n_classes, k, replace=False)
    return torch.from_numpy(t)


# (id, loss, p, reduction, dtype, weighted)
CASES = [
    ("mm_p1_mean_f32", "mm", 1, "mean", torch.float32, False),
    ("mm_p2_sum_f64_weight", "mm", 2, "sum", torch.float64, True),
    ("mm_p1_none_f64_weight", "mm", 1, "none", torch.float64, True),
    ("mm_p2_mean_f32_weight", "mm", 2, "mean", torch.float32, True),
    ("mm_p2_none_f32", "mm", 2, "none", torch.float32, False),
    ("mlm_mean_f32", "mlm", None, "mean", torch.float32, False),
    ("mlm_sum_f64", "mlm", None, "sum", torch.float64, False),
    ("mlm_none_f32", "mlm", None, "none", torch.float32, False),
]
CASE_IDS = [case[0] for case in CASES]


def _problem(rng, loss, p, reduction, dtype, weighted, n_samples=12, n_classes=7):
    """(scores, target, our function, PyTorch's function, our module, PyTorch's module)."""
    x = torch.tensor(rng.standard_normal((n_samples, n_classes)), dtype=dtype)
    if loss == "mm":
        target = torch.from_numpy(rng.integers(0, n_classes, n_samples))
        weight = (torch.tensor(rng.uniform(0.5, 2.0, n_classes), dtype=dtype) if weighted
                  else None)
        kwargs = dict(p=p, margin=0.9, weight=weight, reduction=reduction)
        return (x, target,
                lambda s, t: mt.multi_margin_loss(s, t, **kwargs),
                lambda s, t: F.multi_margin_loss(s, t, **kwargs),
                mt.MultiMarginLoss(**kwargs), torch.nn.MultiMarginLoss(**kwargs))
    target = _label_rows(rng, n_samples, n_classes)
    return (x, target,
            lambda s, t: mt.multilabel_margin_loss(s, t, reduction=reduction),
            lambda s, t: F.multilabel_margin_loss(s, t, reduction=reduction),
            mt.MultiLabelMarginLoss(reduction=reduction),
            torch.nn.MultiLabelMarginLoss(reduction=reduction))


def _grad_output(out):
    return torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).reshape(out.shape)


def _loss_and_grad(function, x, target):
    """Loss and input gradient of ``function(x, target)`` (a ramp as grad_output)."""
    leaf = x.clone().requires_grad_()
    out = function(leaf, target)
    out.backward(_grad_output(out))
    return out.detach(), leaf.grad


# -------------------------------------------------------------- torch.compile


@pytest.mark.parametrize("loss, p, reduction, dtype, weighted", [c[1:] for c in CASES],
                         ids=CASE_IDS)
def test_compile_fullgraph_captures_the_functional_loss(loss, p, reduction, dtype, weighted,
                                                        rng):
    x, target, ours, theirs, _, _ = _problem(rng, loss, p, reduction, dtype, weighted)
    backend, graphs = _recording_backend()

    def step(scores, t):
        return ours(2 * scores - 0.5, t)

    compiled = torch.compile(step, fullgraph=True, backend=backend, dynamic=False)
    got, got_grad = _loss_and_grad(compiled, x, target)
    expected, expected_grad = _loss_and_grad(lambda s, t: theirs(2 * s - 0.5, t), x, target)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    torch.testing.assert_close(got, expected, **_tolerance(dtype))
    torch.testing.assert_close(got_grad, expected_grad, **_tolerance(dtype))
    # One graph, whose forward runs our op (not PyTorch's decomposition).
    assert len(graphs["dynamo"]) == 1 and len(graphs["forward"]) == 1
    assert _our_ops(graphs["forward"][0]), graphs["forward"][0].code
    # A second call with new values reuses the graph and follows the new values.
    x2 = torch.tensor(rng.standard_normal(x.shape), dtype=dtype)
    got2, got2_grad = _loss_and_grad(compiled, x2, target)
    expected2, expected2_grad = _loss_and_grad(lambda s, t: theirs(2 * s - 0.5, t), x2, target)
    torch.testing.assert_close(got2, expected2, **_tolerance(dtype))
    torch.testing.assert_close(got2_grad, expected2_grad, **_tolerance(dtype))
    assert len(graphs["dynamo"]) == 1


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_no_graph_break(loss, rng):
    """``torch._dynamo.explain``: one graph, no break (without fullgraph=True as well)."""
    x, target, ours, _, _, _ = _problem(rng, loss, 2 if loss == "mm" else None, "mean",
                                        torch.float32, loss == "mm")
    # Ops before and after the loss: a break at the loss would split them in two graphs.
    explanation = torch._dynamo.explain(lambda s, t: 3 * ours(s.relu(), t) + 1)(x, target)
    assert explanation.graph_break_count == 0 and not explanation.break_reasons, (
        explanation.break_reasons)
    assert explanation.graph_count == 1


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_compile_with_changing_batch_sizes(loss, rng):
    """Default dynamism: a new batch size recompiles with a symbolic one (our op's shape
    function sees symbolic sizes); every size gives PyTorch's loss and gradient."""
    case = CASES[1][1:] if loss == "mm" else CASES[7][1:]
    x, target, ours, theirs, _, _ = _problem(rng, *case)
    backend, graphs = _recording_backend()
    compiled = torch.compile(lambda s, t: ours(s * 1.5, t), fullgraph=True, backend=backend)
    for n_samples in (12, 20, 33):
        x_new, target_new, *_ = _problem(rng, *case, n_samples=n_samples)
        got, got_grad = _loss_and_grad(compiled, x_new, target_new)
        expected, expected_grad = _loss_and_grad(lambda s, t: theirs(s * 1.5, t), x_new,
                                                 target_new)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, **_tolerance(x.dtype))
        torch.testing.assert_close(got_grad, expected_grad, **_tolerance(x.dtype))
    assert all(_our_ops(graph) for graph in graphs["forward"])


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_compile_under_no_grad(loss, rng):
    """An inference graph (no backward): our op, PyTorch's loss."""
    case = CASES[2][1:] if loss == "mm" else CASES[6][1:]
    x, target, ours, theirs, _, _ = _problem(rng, *case)
    backend, graphs = _recording_backend()
    compiled = torch.compile(lambda s, t: ours(s - 0.25, t), fullgraph=True, backend=backend)
    with torch.no_grad():
        got = compiled(x, target)
    assert not got.requires_grad
    torch.testing.assert_close(got, theirs(x - 0.25, target), **_tolerance(x.dtype))
    assert graphs["forward"] and _our_ops(graphs["forward"][0])


class _Net(torch.nn.Module):
    """A small model ending in a criterion, as a training step compiles it."""

    def __init__(self, criterion, n_features, n_classes, dtype):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 16), torch.nn.ReLU(),
                                        torch.nn.Linear(16, n_classes)).to(dtype)
        self.criterion = criterion

    def forward(self, features, target):
        return self.criterion(self.body(features), target)


def _nets(case, rng, n_features=5):
    loss, p, reduction, dtype, weighted = case
    _, target, _, _, ours, theirs = _problem(rng, loss, p, reduction, dtype, weighted)
    n_samples, n_classes = 12, 7
    torch.manual_seed(0)
    net = _Net(ours, n_features, n_classes, dtype)
    twin = _Net(theirs, n_features, n_classes, dtype)
    twin.load_state_dict(net.state_dict())
    features = torch.tensor(rng.standard_normal((n_samples, n_features)), dtype=dtype)
    return net, twin, features, target


def _parameter_grads(net, features, target):
    net.zero_grad()
    out = net(features, target)
    out.backward(_grad_output(out))
    return out.detach(), [p.grad.clone() for p in net.parameters()]


MODULE_CASES = [CASES[1], CASES[3], CASES[5], CASES[7]]


@pytest.mark.parametrize("loss, p, reduction, dtype, weighted",
                         [c[1:] for c in MODULE_CASES], ids=[c[0] for c in MODULE_CASES])
def test_compile_fullgraph_captures_the_module(loss, p, reduction, dtype, weighted, rng):
    net, twin, features, target = _nets((loss, p, reduction, dtype, weighted), rng)
    if weighted:
        assert "criterion.weight" in dict(net.named_buffers())  # a buffer in the graph
    backend, graphs = _recording_backend()
    compiled = torch.compile(net, fullgraph=True, backend=backend, dynamic=False)
    got, got_grads = _parameter_grads(compiled, features, target)
    expected, expected_grads = _parameter_grads(twin, features, target)
    torch.testing.assert_close(got, expected, **_tolerance(dtype))
    for got_grad, expected_grad in zip(got_grads, expected_grads):
        torch.testing.assert_close(got_grad, expected_grad, **_tolerance(dtype))
    assert len(graphs["dynamo"]) == 1 and _our_ops(graphs["forward"][0])


def test_compiled_module_follows_a_new_weight(rng):
    """The weight buffer is an input of the graph, not a constant baked into it."""
    net, twin, features, target = _nets(CASES[1][1:], rng)
    compiled = torch.compile(net, fullgraph=True, backend=_recording_backend()[0],
                             dynamic=False)
    new_weight = torch.linspace(0.25, 3.0, 7, dtype=torch.float64)
    with torch.no_grad():
        compiled(features, target)
        net.criterion.weight.copy_(new_weight)
        twin.criterion.weight.copy_(new_weight)
        torch.testing.assert_close(compiled(features, target), twin(features, target),
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_compile_with_inductor(loss, rng):
    """The default backend (Inductor) runs our op in its graph: forward and backward."""
    case = CASES[3][1:] if loss == "mm" else CASES[5][1:]
    x, target, ours, theirs, _, _ = _problem(rng, *case)
    compiled = torch.compile(lambda s, t: ours(2 * s - 0.5, t), fullgraph=True)
    got, got_grad = _loss_and_grad(compiled, x, target)
    expected, expected_grad = _loss_and_grad(lambda s, t: theirs(2 * s - 0.5, t), x, target)
    torch.testing.assert_close(got, expected, **_tolerance(x.dtype))
    torch.testing.assert_close(got_grad, expected_grad, **_tolerance(x.dtype))


# --------------------------------------------------------------- torch.export


@pytest.mark.parametrize("loss, p, reduction, dtype, weighted", [c[1:] for c in CASES],
                         ids=CASE_IDS)
def test_export_strict_of_the_criterion(loss, p, reduction, dtype, weighted, rng):
    x, target, _, theirs, module, _ = _problem(rng, loss, p, reduction, dtype, weighted)
    exported = torch.export.export(module, (x, target), strict=True)
    assert _our_ops(exported.graph_module), str(exported.graph)
    runnable = exported.module()
    for _ in range(2):  # new inputs: the exported program follows them
        x_new = torch.tensor(rng.standard_normal(x.shape), dtype=dtype)
        got, got_grad = _loss_and_grad(runnable, x_new, target)
        expected, expected_grad = _loss_and_grad(theirs, x_new, target)
        torch.testing.assert_close(got, expected, **_tolerance(dtype))
        torch.testing.assert_close(got_grad, expected_grad, **_tolerance(dtype))


@pytest.mark.parametrize("loss, p, reduction, dtype, weighted",
                         [c[1:] for c in MODULE_CASES], ids=[c[0] for c in MODULE_CASES])
def test_export_strict_of_a_model(loss, p, reduction, dtype, weighted, rng):
    net, twin, features, target = _nets((loss, p, reduction, dtype, weighted), rng)
    exported = torch.export.export(net, (features, target), strict=True)
    assert _our_ops(exported.graph_module), str(exported.graph)
    if weighted:
        assert "criterion.weight" in exported.state_dict  # the buffer stays a buffer
    runnable = exported.module()
    features_new = torch.tensor(rng.standard_normal(features.shape), dtype=dtype)
    with torch.no_grad():
        torch.testing.assert_close(runnable(features_new, target), twin(features_new, target),
                                   **_tolerance(dtype))


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_export_with_a_dynamic_batch(loss, rng):
    """A symbolic batch size (our op's shape function handles it): two sizes, one program."""
    case = CASES[2][1:] if loss == "mm" else CASES[6][1:]
    x, target, _, theirs, module, _ = _problem(rng, *case)
    batch = torch.export.Dim("batch", min=2, max=1024)
    dynamic_shapes = (({0: batch}, {0: batch}))
    exported = torch.export.export(module, (x, target), dynamic_shapes=dynamic_shapes,
                                   strict=True)
    assert _our_ops(exported.graph_module)
    runnable = exported.module()
    for n_samples in (3, 40):
        x_new, target_new, *_ = _problem(rng, *case, n_samples=n_samples)
        got, got_grad = _loss_and_grad(runnable, x_new, target_new)
        expected, expected_grad = _loss_and_grad(theirs, x_new, target_new)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, **_tolerance(x.dtype))
        torch.testing.assert_close(got_grad, expected_grad, **_tolerance(x.dtype))
