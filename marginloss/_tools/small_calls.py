"""The fixed cost of one small call, as a ratio to PyTorch's forward.

``python -m marginloss._tools.small_calls`` prints, for each case, the median
time of one call of marginloss and of PyTorch's ``torch.nn.functional``
forward on the same data under ``torch.no_grad()``, and their ratio.  Both are
timed in the same process in interleaved rounds (a batch of calls of one,
then of the other), and the medians over the rounds are compared, so that a
busy machine slows both alike.  ``asv_benchmarks/benchmarks/small_calls.py``
tracks the same ratios.  See docs/design.md, "Python layer".
"""

import argparse
import statistics
import sys
import time

import numpy as np

import marginloss

# (name, loss, N, C, labels per row or None, dtype, target ratio)
CASES = (
    ("multi_margin_loss", "mm", 32, 10, None, "float32", 1.5),
    ("MultiMarginLoss()", "mm_object", 32, 10, None, "float32", 1.5),
    ("multi_margin_loss_and_grad", "mm_and_grad", 32, 10, None, "float32", 2.0),
    ("multi_margin_loss", "mm", 32, 10, None, "float64", 1.5),
    ("MultiMarginLoss()", "mm_object", 32, 10, None, "float64", 1.5),
    ("multi_margin_loss_and_grad", "mm_and_grad", 32, 10, None, "float64", 2.0),
    ("multilabel_margin_loss", "ml", 32, 10, 3, "float32", 1.5),
    ("multilabel_margin_loss_and_grad", "ml_and_grad", 32, 10, 3, "float32", 2.0),
    ("multilabel_margin_loss", "ml", 32, 10, 3, "float64", 1.5),
    ("multilabel_margin_loss_and_grad", "ml_and_grad", 32, 10, 3, "float64", 2.0),
    ("multi_margin_loss", "mm", 512, 10, None, "float32", 1.0),
    ("MultiMarginLoss()", "mm_object", 512, 10, None, "float32", 1.0),
    ("multi_margin_loss_and_grad", "mm_and_grad", 512, 10, None, "float32", 1.5),
)


def case_id(case):
    name, _, n_samples, n_classes, n_labels, dtype, _ = case
    labels = f" k={n_labels}" if n_labels else ""
    return f"{name} ({n_samples}, {n_classes}){labels} {dtype}"


def problem(kind, n_samples, n_classes, n_labels, dtype, seed=0):
    """``(scores, target)``: standard normal scores and int64 targets."""
    rng = np.random.default_rng([seed, n_samples, n_classes])
    scores = rng.standard_normal((n_samples, n_classes)).astype(dtype)
    if kind.startswith("mm"):
        return scores, rng.integers(0, n_classes, n_samples)
    target = np.full((n_samples, n_classes), -1, dtype=np.int64)
    for row in target:
        row[:n_labels] = rng.permutation(n_classes)[:n_labels]
    return scores, target


def calls(case):
    """``(ours, theirs)``: two functions of no argument, one call each."""
    import torch
    import torch.nn.functional as F

    _, kind, n_samples, n_classes, n_labels, dtype, _ = case
    x, target = problem(kind, n_samples, n_classes, n_labels, dtype)
    tx, ttarget = torch.from_numpy(x), torch.from_numpy(target)
    if kind.startswith("mm"):
        function, torch_function = marginloss.multi_margin_loss, F.multi_margin_loss
    else:
        function, torch_function = marginloss.multilabel_margin_loss, F.multilabel_margin_loss
    if kind == "mm_object":
        ours = marginloss.MultiMarginLoss()
    elif kind == "mm_and_grad":
        ours = marginloss.multi_margin_loss_and_grad
    elif kind == "ml_and_grad":
        ours = marginloss.multilabel_margin_loss_and_grad
    else:
        ours = function

    def theirs():
        with torch.no_grad():
            return torch_function(tx, ttarget)

    return (lambda: ours(x, target)), theirs


def _batch_seconds(function, number):
    start = time.perf_counter()
    for _ in range(number):
        function()
    return (time.perf_counter() - start) / number


def measure(ours, theirs, rounds=301, number=20):
    """``(ours_s, theirs_s)``: medians over interleaved rounds of one call's time."""
    for _ in range(3):  # warm up (OpenMP teams, caches)
        _batch_seconds(ours, number)
        _batch_seconds(theirs, number)
    ours_times, theirs_times = [], []
    for _ in range(rounds):
        ours_times.append(_batch_seconds(ours, number))
        theirs_times.append(_batch_seconds(theirs, number))
    return statistics.median(ours_times), statistics.median(theirs_times)


def ratio(case, rounds=301, number=20):
    """marginloss's median time over PyTorch's for one case."""
    ours_s, theirs_s = measure(*calls(case), rounds=rounds, number=number)
    return ours_s / theirs_s


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m marginloss._tools.small_calls",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=301)
    parser.add_argument("--number", type=int, default=20, help="calls per round")
    args = parser.parse_args(argv)
    import torch

    print(f"marginloss {marginloss.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); medians of {args.rounds} interleaved "
          f"rounds of {args.number} calls")
    print("| call | marginloss µs | torch µs | ratio | target |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for case in CASES:
        ours_s, theirs_s = measure(*calls(case), rounds=args.rounds, number=args.number)
        value = ours_s / theirs_s
        worst = max(worst, value / case[-1])
        print(f"| {case_id(case)} | {1e6 * ours_s:.2f} | {1e6 * theirs_s:.2f} | "
              f"{value:.2f}× | ≤ {case[-1]}× |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
