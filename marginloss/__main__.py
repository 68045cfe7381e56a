"""``python -m marginloss``: a demonstration, and ``bench``, the benchmark.

``python -m marginloss`` (or ``python -m marginloss demo``) prints a small
worked example, then times the fused loss+gradient on generated problems
against a vectorised NumPy implementation and, when it is installed,
PyTorch's forward+backward.

``python -m marginloss bench`` times the fused loss+gradient on larger
problems, on one thread and on all of them, against NumPy, PyTorch and the
memory floor; ``--help`` lists its options.  Both live in
``marginloss._tools`` (``demo`` and ``bench``).
"""

import argparse
import sys

import marginloss
from marginloss._tools import bench as _bench
from marginloss._tools.demo import demo


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
    bench.add_argument("--floor", action="store_true",
                       help="instead, the kernels against the memory floor: one-thread time "
                            "over a one-thread copy of the scores on the few-classes and "
                            "few-labels problems, and two-thread speed-ups over PyTorch, each "
                            "beside its target (--repeat sets the interleaved rounds, "
                            f"default {_bench.FLOOR_ROUNDS})")
    bench.add_argument("--sparse", action="store_true",
                       help="instead, multi-label targets side by side: -1-padded indices, "
                            "a bool indicator and a SciPy CSR matrix of the same 5 labels "
                            "per sample, one-thread time over a copy of the scores "
                            "(--repeat sets the interleaved rounds)")
    bench.add_argument("--only", default="", metavar="TEXT",
                       help="with --floor: only the problems whose name contains TEXT "
                            "(e.g. 'mm ', 'ml ', 'x10')")
    bench.set_defaults(error=bench.error)
    return parser


def main(argv=None):
    """Parse the command line and run the demo or the benchmark; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        return demo()
    if args.sparse:
        return _bench.sparse_main(
            rounds=args.repeat if args.repeat is not None else _bench.FLOOR_ROUNDS)
    if args.floor:
        return _bench.floor_main(
            rounds=args.repeat if args.repeat is not None else _bench.FLOOR_ROUNDS,
            only=args.only)
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
