"""``python -m marginloss``: a demonstration, and ``bench``, the benchmark.

``python -m marginloss`` (or ``python -m marginloss demo``) prints a small
worked example, then times the fused loss+gradient on generated problems
against a vectorised NumPy implementation and, when it is installed,
PyTorch's forward+backward.

``python -m marginloss bench`` times the fused loss+gradient on larger
problems, on one thread and on all of them, against NumPy, PyTorch and the
memory floor (see ``marginloss._bench``); ``--help`` lists its options.
"""

import argparse
import sys
import time

import numpy as np

import marginloss
from marginloss import _bench, _kernels, _numpy
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


def demo():
    """The worked example and the short timings; return the exit status."""
    print(f"marginloss {marginloss.__version__}: OpenMP "
          f"{'enabled' if marginloss.openmp_enabled() else 'NOT enabled (serial build)'}, "
          f"{effective_n_threads(None, 1 << 30, 1 << 30)} threads by default, "
          f"{_kernels.kernel_build()} build of the multi-class kernels")

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
    # The gradient goes to a reused array, as in a training loop: a fresh 40 MB
    # array costs page faults, and NumPy's huge-page advice on big arrays can
    # stall them in the kernel's memory compaction (tens of ms at times).
    gradient = np.empty_like(scores)
    problems.append((
        f"MultiMarginLoss, ({n}, {c}) float32, p=1",
        lambda: marginloss.multi_margin_loss_and_grad(scores, target, out=gradient),
        lambda: _numpy.multi_margin_loss_and_grad(scores, target),
        _torch_timers(torch, scores, target, "multi_margin") if torch else None,
    ))
    n2, c2, k = 2_000, 50, 10
    scores2 = rng.standard_normal((n2, c2), dtype=np.float32)
    labels = np.argsort(rng.random((n2, c2)), axis=1)[:, :k]
    target2 = np.full((n2, c2), -1, dtype=np.int64)
    target2[:, :k] = labels
    gradient2 = np.empty_like(scores2)
    problems.append((
        f"MultiLabelMarginLoss, ({n2}, {c2}) float32, {k} labels per sample",
        lambda: marginloss.multilabel_margin_loss_and_grad(scores2, target2,
                                                           out=gradient2),
        lambda: _numpy.multilabel_margin_loss_and_grad(scores2, target2),
        _torch_timers(torch, scores2, target2, "multilabel_margin") if torch else None,
    ))

    # The NumPy versions are the reference for the check below.
    print("\nFused loss+gradient, reduction='mean' (median of 7 runs; marginloss writes"
          " the gradient\ninto a reused out= array, NumPy and PyTorch allocate theirs):")
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
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("\nscikit-learn is not installed: pip install 'marginloss[sklearn]' for the "
              "digits comparison with LinearSVC and LogisticRegression.")
        return 0
    from marginloss import _digits_demo

    _digits_demo.run()
    return 0


# ------------------------------------------------------------ arguments


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _n_threads(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"expected a non-zero integer (-1 = all cores), got {text!r}")
    return value


def build_parser():
    """The command line: no subcommand (or ``demo``) for the demo, ``bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m marginloss",
        description="Demonstrate and benchmark marginloss.  Without a command, runs the demo; "
                    "--version prints the version.",
    )
    # Left out of the usage line (help=SUPPRESS), named in the description instead.
    parser.add_argument("--version", action="version", help=argparse.SUPPRESS,
                        version=f"marginloss {marginloss.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{demo,bench}")
    commands.add_parser("demo", help="a worked example and short timings (the default)",
                        description="A worked example and short timings (the default).")
    bench = commands.add_parser(
        "bench",
        help="time the fused loss+gradient against NumPy, PyTorch and the memory floor",
        description=(
            "Time the fused loss+gradient (reduction='mean') against the vectorised "
            "NumPy version, PyTorch's forward+backward and a parallel copy of the "
            "scores (the memory floor), on one thread and on the default number. "
            "Default problems: multi_margin (1000000, 10), (16384, 100), (2048, 1000); "
            "multilabel (16384, 100) k=25, (2048, 1000) k=250."
        ),
    )
    bench.add_argument("--shape", nargs=2, type=_positive_int, metavar=("N", "C"),
                       help="time one problem of N samples and C classes instead of the "
                            "default shapes")
    bench.add_argument("--loss", choices=("multi_margin", "multilabel", "both"),
                       default="both", help="which loss (default: both)")
    bench.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="dtype of the scores (default: float32)")
    bench.add_argument("--p", type=int, choices=(1, 2), default=1,
                       help="power of the multi-class loss (default: 1)")
    bench.add_argument("--k", type=int, default=None,
                       help="labels per sample of the multi-label loss (default: C // 4)")
    bench.add_argument("--repeat", type=_positive_int, default=None,
                       help="timed runs per entry after a warm-up (default: as many as fit "
                            "in about 0.3 s, 3 to 25)")
    bench.add_argument("--threads", nargs="+", type=_n_threads, default=None,
                       metavar="T",
                       help="n_threads values to time (default: 1 and the package's default, "
                            "all cores unless OMP_NUM_THREADS says otherwise); -1 = all cores")
    bench.set_defaults(error=bench.error)
    return parser


def main(argv=None):
    """Parse the command line and run the demo or the benchmark; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        return demo()
    try:
        problems = _bench.make_problems(
            loss=args.loss,
            shape=tuple(args.shape) if args.shape is not None else None,
            dtype=args.dtype,
            p=args.p,
            k=args.k,
        )
    except ValueError as error:
        args.error(str(error))  # exits with status 2, as argparse's own errors
    threads = [1, None] if args.threads is None else args.threads
    return _bench.main(problems, threads=threads, repeat=args.repeat)


if __name__ == "__main__":
    sys.exit(main())
