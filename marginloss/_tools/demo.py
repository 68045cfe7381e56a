"""The demonstration of ``python -m marginloss``: a worked example and short timings.

The timings use the benchmark's problems and timer (`bench`), on two
generated problems; then, with scikit-learn, the digits comparison
(`digits_demo`).
"""

import numpy as np

import marginloss
from marginloss import _kernels
from marginloss._threads import effective_n_threads
from marginloss._tools import bench


def _worked_example():
    print("\nA worked example (PyTorch's documentation example):")
    x = np.array([[0.1, 0.2, 0.4, 0.8]], dtype=np.float32)
    loss, grad = marginloss.multi_margin_loss_and_grad(x, [3])
    print(f"  x = {np.array2string(x, separator=', ')} (float32)")
    print(f"  multi_margin_loss(x, target=[3]) = {float(loss):.6f}")
    print(f"  gradient = {grad.tolist()}")
    loss, grad = marginloss.multilabel_margin_loss_and_grad(x, [[3, 0, -1, 1]])
    print(f"  multilabel_margin_loss(x, target=[[3, 0, -1, 1]]) = {float(loss):.6f}")
    print(f"  gradient = {grad.tolist()}")


# The demo's problems: titles and bench.Problem's.
PROBLEMS = (
    ("MultiMarginLoss, (100000, 100) float32, p=1",
     bench.Problem("multi_margin", 100_000, 100)),
    ("MultiLabelMarginLoss, (2000, 50) float32, 10 labels per sample",
     bench.Problem("multilabel", 2_000, 50, k=10)),
)


def _compare(title, problem, torch):
    """Time one problem; return whether our loss and gradient match NumPy's."""
    scores, target = bench.make_data(problem)
    # The gradient goes to a reused array, as in a training loop: a fresh 40 MB
    # array costs page faults, and NumPy's huge-page advice on big arrays can
    # stall them in the kernel's memory compaction (tens of ms at times).
    ours = bench.ours_call(problem, scores, target, None, np.empty_like(scores))
    numpy_version = bench.numpy_call(problem, scores, target)
    (loss, grad), (ref_loss, ref_grad) = ours(), numpy_version()
    agree = np.isclose(loss, ref_loss, rtol=1e-4) and np.allclose(grad, ref_grad, atol=1e-7)
    print(f"  {title}: loss {float(loss):.6f} ({'matches' if agree else 'DIFFERS FROM'} NumPy)")
    ours_ms = 1e3 * bench.time_call(ours, repeat=7).seconds
    print(f"    marginloss             {ours_ms:9.2f} ms")
    numpy_ms = 1e3 * bench.time_call(numpy_version, repeat=3).seconds
    print(f"    NumPy (vectorised)     {numpy_ms:9.2f} ms   ({numpy_ms / ours_ms:5.1f}x slower)")
    if torch is None:
        print("    PyTorch                not installed")
    else:
        torch_ms = 1e3 * bench.time_call(bench.torch_call(torch, problem, scores, target),
                                         repeat=3).seconds
        print(f"    PyTorch fwd+bwd        {torch_ms:9.2f} ms   "
              f"({torch_ms / ours_ms:5.1f}x slower)")
    return agree


def demo():
    """The worked example and the short timings; return the exit status."""
    print(f"marginloss {marginloss.__version__}: OpenMP "
          f"{'enabled' if marginloss.openmp_enabled() else 'NOT enabled (serial build)'}, "
          f"{effective_n_threads(None, 1 << 30, 1 << 30)} threads by default, "
          f"{_kernels.kernel_build()} build of the multi-class kernels")
    _worked_example()
    torch = bench.import_torch()
    # The NumPy versions are the reference for the check below.
    print("\nFused loss+gradient, reduction='mean' (median of 7 runs; marginloss writes"
          " the gradient\ninto a reused out= array, NumPy and PyTorch allocate theirs):")
    for title, problem in PROBLEMS:
        if not _compare(title, problem, torch):
            return 1
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("\nscikit-learn is not installed: pip install 'marginloss[sklearn]' for the "
              "digits comparison with LinearSVC and LogisticRegression.")
        return 0
    from marginloss._tools import digits_demo

    digits_demo.run()
    return 0
