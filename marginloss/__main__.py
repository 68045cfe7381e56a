"""``python -m marginloss``: a short demonstration of both losses, with timings.

Prints a small worked example, then times the fused loss+gradient on generated
problems against a vectorised NumPy implementation and, when it is installed,
PyTorch's forward+backward.
"""

import sys
import time

import numpy as np

import marginloss
from marginloss import _numpy
from marginloss._threads import effective_n_threads


def _median_ms(function, repeat=7):
    function()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _torch_timers(torch_module, scores, target, kind):
    import torch.nn.functional as F

    x = torch_module.from_numpy(scores)
    t = torch_module.from_numpy(target.astype(np.int64))

    def run():
        leaf = x.detach().requires_grad_()
        if kind == "multi_margin":
            F.multi_margin_loss(leaf, t).backward()
        else:
            F.multilabel_margin_loss(leaf, t).backward()
    return run


def main():
    print(f"marginloss {marginloss.__version__}: OpenMP "
          f"{'enabled' if marginloss.openmp_enabled() else 'NOT enabled (serial build)'}, "
          f"{effective_n_threads(None, 1 << 30, 1 << 30)} threads by default")

    print("\nA worked example (PyTorch's documentation example):")
    x = np.array([[0.1, 0.2, 0.4, 0.8]], dtype=np.float32)
    loss, grad = marginloss.multi_margin_loss_and_grad(x, [3])
    print(f"  x = {np.array2string(x, separator=', ')} (float32)")
    print(f"  multi_margin_loss(x, target=[3]) = {float(loss):.6f}")
    print(f"  gradient = {grad.tolist()}")
    loss, grad = marginloss.multilabel_margin_loss_and_grad(x, [[3, 0, -1, 1]])
    print(f"  multilabel_margin_loss(x, target=[[3, 0, -1, 1]]) = {float(loss):.6f}")
    print(f"  gradient = {grad.tolist()}")

    try:
        import torch
    except ImportError:
        torch = None

    rng = np.random.default_rng(0)
    problems = []
    n, c = 100_000, 100
    scores = rng.standard_normal((n, c), dtype=np.float32)
    target = rng.integers(0, c, n)
    problems.append((
        f"MultiMarginLoss, ({n}, {c}) float32, p=1",
        lambda: marginloss.multi_margin_loss_and_grad(scores, target),
        lambda: _numpy.multi_margin_loss_and_grad(scores, target),
        _torch_timers(torch, scores, target, "multi_margin") if torch else None,
    ))
    n2, c2, k = 2_000, 50, 10
    scores2 = rng.standard_normal((n2, c2), dtype=np.float32)
    labels = np.argsort(rng.random((n2, c2)), axis=1)[:, :k]
    target2 = np.full((n2, c2), -1, dtype=np.int64)
    target2[:, :k] = labels
    problems.append((
        f"MultiLabelMarginLoss, ({n2}, {c2}) float32, {k} labels per sample",
        lambda: marginloss.multilabel_margin_loss_and_grad(scores2, target2),
        lambda: _numpy.multilabel_margin_loss_and_grad(scores2, target2),
        _torch_timers(torch, scores2, target2, "multilabel_margin") if torch else None,
    ))

    # The NumPy versions are the reference for the check below.
    print("\nFused loss+gradient, reduction='mean' (median of 7 runs):")
    for title, ours, numpy_version, torch_version in problems:
        (loss, grad), (ref_loss, ref_grad) = ours(), numpy_version()
        agree = np.isclose(loss, ref_loss, rtol=1e-4) and np.allclose(grad, ref_grad, atol=1e-7)
        print(f"  {title}: loss {float(loss):.6f} ({'matches' if agree else 'DIFFERS FROM'} NumPy)")
        ours_ms = _median_ms(ours)
        print(f"    marginloss             {ours_ms:9.2f} ms")
        numpy_ms = _median_ms(numpy_version, repeat=3)
        print(f"    NumPy (vectorised)     {numpy_ms:9.2f} ms   ({numpy_ms / ours_ms:5.1f}x slower)")
        if torch_version is None:
            print("    PyTorch                not installed")
        else:
            torch_ms = _median_ms(torch_version, repeat=3)
            print(f"    PyTorch fwd+bwd        {torch_ms:9.2f} ms   ({torch_ms / ours_ms:5.1f}x slower)")
        if not agree:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
