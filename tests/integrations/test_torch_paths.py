"""marginloss.torch on PyTorch's other paths: torch.func, autocast, DDP.

Each path gives PyTorch's numbers (``torch.nn.functional`` with plain
autograd is the oracle):

- ``torch.func.grad``, ``grad_and_value``, ``vjp`` and ``functional_call``;
  ``vmap`` (and ``jacrev``, which uses it) either gives PyTorch's numbers or
  raises an error that names vmap -- never wrong numbers;
- ``torch.autocast("cpu", dtype=torch.bfloat16)``: the same output dtype,
  values and gradients (dtype included) as PyTorch's losses, which autocast
  computes in float32;
- ``DistributedDataParallel`` with the gloo backend, two processes: the
  all-reduced gradients of a small model with our loss equal those with
  PyTorch's.
"""

import os
import tempfile
import time
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import marginloss.torch as mt  # noqa: E402


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()) + 20_261_207)


def _label_rows(rng, n_samples, n_classes):
    t = np.full((n_samples, n_classes), -1, dtype=np.int64)
    for n in range(n_samples):
        k = int(rng.integers(0, n_classes + 1))
        t[n, :k] = rng.choice(n_classes, k, replace=False)
    return torch.from_numpy(t)


def _tolerance(dtype):
    if dtype == torch.float64:
        return dict(rtol=1e-12, atol=1e-14)
    return dict(rtol=2e-5, atol=1e-6)


# (id, loss, keyword arguments; "w" is a random class weight)
CASES = [
    ("mm_p1_mean", "mm", dict(p=1)),
    ("mm_p2_weight_sum", "mm", dict(p=2, margin=0.6, weight="w", reduction="sum")),
    ("mm_p1_weight_none", "mm", dict(p=1, weight="w", reduction="none")),
    ("mlm_mean", "mlm", dict()),
    ("mlm_none", "mlm", dict(reduction="none")),
]
CASE_IDS = [case[0] for case in CASES]


def _problem(rng, loss, kwargs, dtype=torch.float64, shape=(6, 5)):
    """(scores, target, ours, PyTorch's) with the keyword arguments bound."""
    x = torch.tensor(rng.standard_normal(shape), dtype=dtype)
    kwargs = dict(kwargs)
    if loss == "mm":
        if kwargs.get("weight") == "w":
            kwargs["weight"] = torch.tensor(rng.uniform(0.5, 2.0, shape[-1]), dtype=dtype)
        target = torch.from_numpy(rng.integers(0, shape[-1], shape[:-1]))
        return (x, target, lambda s, t: mt.multi_margin_loss(s, t, **kwargs),
                lambda s, t: F.multi_margin_loss(s, t, **kwargs))
    target = _label_rows(rng, int(np.prod(shape[:-1])), shape[-1]).reshape(shape)
    return (x, target, lambda s, t: mt.multilabel_margin_loss(s, t, **kwargs),
            lambda s, t: F.multilabel_margin_loss(s, t, **kwargs))


def _autograd(function, x, target, cotangent=None):
    leaf = x.clone().requires_grad_()
    out = function(leaf, target)
    if cotangent is None:
        cotangent = torch.ones_like(out)
    out.backward(cotangent)
    return out.detach(), leaf.grad


# ------------------------------------------------------------------ torch.func


@pytest.mark.parametrize("loss, kwargs", [case[1:] for case in CASES], ids=CASE_IDS)
def test_func_grad_and_value(loss, kwargs, rng):
    x, target, ours, theirs = _problem(rng, loss, kwargs)
    expected, expected_grad = _autograd(lambda s, t: theirs(s, t).sum(), x, target)
    grad, value = torch.func.grad_and_value(lambda s: ours(s, target).sum())(x)
    torch.testing.assert_close(value, expected, **_tolerance(x.dtype))
    torch.testing.assert_close(grad, expected_grad, **_tolerance(x.dtype))
    grad_only = torch.func.grad(lambda s: ours(s, target).sum())(x)
    torch.testing.assert_close(grad_only, expected_grad, **_tolerance(x.dtype))


@pytest.mark.parametrize("loss, kwargs", [case[1:] for case in CASES], ids=CASE_IDS)
def test_func_vjp(loss, kwargs, rng):
    x, target, ours, theirs = _problem(rng, loss, kwargs)
    out, vjp_fn = torch.func.vjp(lambda s: ours(s, target), x)
    cotangent = torch.linspace(-1.5, 2.0, out.numel(), dtype=x.dtype).reshape(out.shape)
    (grad,) = vjp_fn(cotangent)
    expected, expected_grad = _autograd(theirs, x, target, cotangent)
    torch.testing.assert_close(out, expected, **_tolerance(x.dtype))
    torch.testing.assert_close(grad, expected_grad, **_tolerance(x.dtype))


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_func_functional_call_of_a_model(loss, rng):
    """The torch.func way of training: gradients of the parameters of a model and criterion."""
    n_samples, n_features, n_classes = 8, 4, 5
    weight = torch.tensor(rng.uniform(0.5, 2.0, n_classes))
    if loss == "mm":
        ours, theirs = (mt.MultiMarginLoss(p=2, weight=weight),
                        torch.nn.MultiMarginLoss(p=2, weight=weight))
        target = torch.from_numpy(rng.integers(0, n_classes, n_samples))
    else:
        ours, theirs = mt.MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss()
        target = _label_rows(rng, n_samples, n_classes)
    torch.manual_seed(0)
    model = torch.nn.Linear(n_features, n_classes).double()
    features = torch.tensor(rng.standard_normal((n_samples, n_features)))
    params = {name: p.detach() for name, p in model.named_parameters()}

    def objective(criterion):
        def run(parameters):
            scores = torch.func.functional_call(model, parameters, (features,))
            return criterion(scores, target)
        return run

    grads = torch.func.grad(objective(ours))(params)
    expected = torch.func.grad(objective(theirs))(params)
    for name in params:
        torch.testing.assert_close(grads[name], expected[name], rtol=1e-12, atol=1e-14)


def _vmap_or_clear_error(run):
    """``run()``'s result, or None if it raised an error that names vmap."""
    try:
        return run()
    except (RuntimeError, NotImplementedError, ValueError) as error:
        assert "vmap" in str(error).lower() or "batch" in str(error).lower(), str(error)
        return None


@pytest.mark.parametrize("loss, kwargs", [case[1:] for case in CASES], ids=CASE_IDS)
def test_vmap_is_right_or_raises(loss, kwargs, rng):
    x, target, ours, theirs = _problem(rng, loss, kwargs, shape=(3, 6, 5))
    got = _vmap_or_clear_error(lambda: torch.func.vmap(ours)(x, target))
    if got is not None:
        expected = torch.stack([theirs(a, b) for a, b in zip(x, target)])
        torch.testing.assert_close(got, expected, **_tolerance(x.dtype))
    got_grad = _vmap_or_clear_error(
        lambda: torch.func.vmap(torch.func.grad(lambda s, t: ours(s, t).sum()))(x, target))
    if got_grad is not None:
        expected_grad = torch.stack([_autograd(lambda s, t: theirs(s, t).sum(), a, b)[1]
                                     for a, b in zip(x, target)])
        torch.testing.assert_close(got_grad, expected_grad, **_tolerance(x.dtype))


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_vmap_over_single_samples_is_right_or_raises(loss, rng):
    """vmap of a per-sample (1-D input) loss over a batch: the 'none' losses of the batch."""
    kwargs = dict(p=2) if loss == "mm" else {}
    x, target, ours, theirs = _problem(rng, loss, kwargs, shape=(7, 4))
    got = _vmap_or_clear_error(lambda: torch.func.vmap(ours)(x, target))
    if got is not None:
        expected = torch.stack([theirs(a, b) for a, b in zip(x, target)])
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_jacrev_is_right_or_raises(loss, rng):
    """jacrev (vmap over vjp) of the 'none' losses: PyTorch's Jacobian, or a clear error."""
    kwargs = dict(p=2, reduction="none") if loss == "mm" else dict(reduction="none")
    x, target, ours, theirs = _problem(rng, loss, kwargs, shape=(4, 3))
    got = _vmap_or_clear_error(lambda: torch.func.jacrev(lambda s: ours(s, target))(x))
    if got is not None:
        expected = torch.autograd.functional.jacobian(lambda s: theirs(s, target), x)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


# -------------------------------------------------------------------- autocast


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32,
                                   torch.float64], ids=str)
@pytest.mark.parametrize("loss, kwargs", [case[1:] for case in CASES], ids=CASE_IDS)
def test_autocast_bfloat16_like_torch(loss, kwargs, dtype, rng):
    # A weight of the dtype autocast computes in: float32, or float64 for float64 scores
    # (which autocast leaves as they are).
    x, target, ours, theirs = _problem(
        rng, loss, kwargs, dtype=torch.float64 if dtype == torch.float64 else torch.float32)
    x = x.to(dtype)
    results = []
    for function in (ours, theirs):
        leaf = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = function(leaf, target)
        out.backward(torch.ones_like(out))
        results.append((out.detach(), leaf.grad))
    (out, grad), (expected, expected_grad) = results
    assert out.dtype == expected.dtype  # float32 for bfloat16/float16/float32 scores
    assert grad.dtype == expected_grad.dtype == dtype
    torch.testing.assert_close(out, expected, **_tolerance(out.dtype))
    torch.testing.assert_close(grad, expected_grad, **_tolerance(grad.dtype))


@pytest.mark.parametrize("loss", ["mm", "mlm"])
def test_autocast_training_step_like_torch(loss, rng):
    """A model run under autocast (bfloat16 scores from its Linear) and our loss:
    the parameters' gradients equal those with PyTorch's loss."""
    n_samples, n_features, n_classes = 16, 6, 5
    weight = torch.tensor(rng.uniform(0.5, 2.0, n_classes), dtype=torch.float32)
    if loss == "mm":
        criteria = (mt.MultiMarginLoss(p=2, weight=weight),
                    torch.nn.MultiMarginLoss(p=2, weight=weight))
        target = torch.from_numpy(rng.integers(0, n_classes, n_samples))
    else:
        criteria = (mt.MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss())
        target = _label_rows(rng, n_samples, n_classes)
    features = torch.tensor(rng.standard_normal((n_samples, n_features)), dtype=torch.float32)
    grads = []
    for criterion in criteria:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.ReLU(),
                                    torch.nn.Linear(8, n_classes))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            scores = model(features)
            assert scores.dtype == torch.bfloat16
            out = criterion(scores, target)
        out.backward()
        grads.append([p.grad for p in model.parameters()])
    for ours_grad, theirs_grad in zip(*grads):
        torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ DDP


WORLD_SIZE = 2
DDP_TIMEOUT = 150  # seconds, for the whole spawned run (two processes import torch)


def _ddp_run(rank, world_size, loss):
    """Two SGD steps of DDP models (ours, PyTorch's) on this rank's shard."""
    from torch.nn.parallel import DistributedDataParallel

    generator = np.random.default_rng(1234)  # the same data in every process
    n_samples, n_features, n_classes = 8 * world_size, 6, 5
    features = torch.tensor(generator.standard_normal((n_samples, n_features)))
    weight = torch.tensor(generator.uniform(0.5, 2.0, n_classes))
    if loss == "mm":
        target = torch.from_numpy(generator.integers(0, n_classes, n_samples))
        criteria = (mt.MultiMarginLoss(p=2, weight=weight),
                    torch.nn.MultiMarginLoss(p=2, weight=weight))
    else:
        target = _label_rows(generator, n_samples, n_classes)
        criteria = (mt.MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss())
    shard = slice(rank * 8, (rank + 1) * 8)
    results = {}
    for name, criterion in zip(("ours", "torch"), criteria):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.ReLU(),
                                    torch.nn.Linear(8, n_classes)).double()
        ddp = DistributedDataParallel(model)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
        for step in range(2):
            optimizer.zero_grad()
            criterion(ddp(features[shard]), target[shard]).backward()
            results[f"{name}_grad{step}"] = [p.grad.clone() for p in model.parameters()]
            optimizer.step()
        results[f"{name}_params"] = [p.detach().clone() for p in model.parameters()]
    return results


def _ddp_worker(rank, world_size, init_file, out_dir):
    """One process of the DDP run, for both losses."""
    import datetime

    import torch.distributed as dist

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback: no interface lookup
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=60))
    try:
        results = {loss: _ddp_run(rank, world_size, loss) for loss in ("mm", "mlm")}
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_gloo_gradients_like_torch():
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.fail("this PyTorch build has no gloo backend")
    with tempfile.TemporaryDirectory() as out_dir:
        init_file = os.path.join(out_dir, "store")
        context = mp.start_processes(_ddp_worker, args=(WORLD_SIZE, init_file, out_dir),
                                     nprocs=WORLD_SIZE, join=False, start_method="spawn")
        deadline = time.monotonic() + DDP_TIMEOUT
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                for process in context.processes:
                    process.kill()
                pytest.fail(f"the DDP run took more than {DDP_TIMEOUT} s")
        results = [torch.load(os.path.join(out_dir, f"rank{rank}.pt"))
                   for rank in range(WORLD_SIZE)]
    for loss in ("mm", "mlm"):
        for rank_results in results:
            for key in ("grad0", "grad1", "params"):
                for ours, theirs in zip(rank_results[loss][f"ours_{key}"],
                                        rank_results[loss][f"torch_{key}"]):
                    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)
        # All-reduced: every process has the same gradients.
        for ours0, ours1 in zip(results[0][loss]["ours_grad1"], results[1][loss]["ours_grad1"]):
            torch.testing.assert_close(ours0, ours1, rtol=0, atol=0)
