"""CPU training steps: marginloss.torch's losses against torch.nn's, in a PyTorch loop.

The cases of the per-call table in the design note (float32, reduction
'mean', margin 1, p=1):

- ``LossStep``: the loss alone, forward + backward through autograd, on
  scores that require grad (a fresh gradient per call): multi-margin at
  (32, 10), (128, 10) and (512, 10), multi-label at (32, 10) with 3 labels per
  sample, and the former (512, 10) / (512, 100, 10 labels) problems;
- ``SmallTrainingStep``: one SGD step (forward, loss, backward, step) of a
  ``Linear(64, 128) - ReLU - Linear(128, 10)`` MLP on a batch of 32, the size
  where a loss's fixed cost per call shows;
- ``TrainingStep``: the same step for a ``Linear(784, 256) - ReLU -
  Linear(256, C)`` MLP on a batch of 512 (C = 10 for ``MultiMarginLoss``,
  C = 100 with 10 labels for ``MultiLabelMarginLoss``);
- ``CompiledLossStep``: forward + backward of ``torch.compile`` of the loss at
  (16384, 100) (multi-margin), compiled (Inductor, the default backend) and
  warmed up in ``setup``.  On commits whose loss is not captured in the graph,
  "marginloss" times the loss run eagerly between compiled graphs;
- ``TrainingStepRatioTorch``: ``track_time_ratio_to_torch``, each case above (the
  two-thread default of PyTorch) as marginloss's median time per call over
  PyTorch's, from interleaved rounds in one process -- the numbers the
  per-call targets are about.  Lower is better; 1.0 is PyTorch's cost.  A
  ratio: not for regression checks (its name ends in ``Torch``, which the
  regression-check regex of README.md leaves out).

``implementation`` is "marginloss" (``marginloss.torch``) or "torch"
(``torch.nn``); ``n_threads`` is set with ``torch.set_num_threads``, which both
PyTorch's ops and ``marginloss.torch`` follow.  The problems are the same in
every profile.  Skipped without PyTorch, and on commits without
``marginloss.torch``.
"""

import statistics
import timeit

from . import common
from .common import Benchmark

# Loss problems: "multi_margin NxC" or "multilabel NxC k=K"
LOSS_PROBLEMS = [
    "multi_margin 32x10",
    "multi_margin 128x10",
    "multi_margin 512x10",
    "multilabel 32x10 k=3",
    "multilabel 512x100 k=10",
]
# The big MLP step: loss -> (classes, labels per sample or None)
N_SAMPLES, N_FEATURES, N_HIDDEN = 512, 784, 256
LOSSES = {"multi_margin": (10, None), "multilabel_margin": (100, 10)}
# The small MLP step
SMALL_BATCH, SMALL_FEATURES, SMALL_HIDDEN, SMALL_CLASSES, SMALL_LABELS = 32, 64, 128, 10, 3
# The compiled loss
COMPILED_PROBLEM = "multi_margin 16384x100"
IMPLEMENTATIONS = ["marginloss", "torch"]


def _criterion_class(loss, implementation):
    """``MultiMarginLoss`` or ``MultiLabelMarginLoss`` of marginloss.torch or torch.nn."""
    torch, _ = common.import_torch()
    library = (common.import_submodule("torch") if implementation == "marginloss"
               else torch.nn)
    return getattr(library, "MultiMarginLoss" if loss.startswith("multi_margin")
                   else "MultiLabelMarginLoss")


def _target(loss, n_samples, n_classes, n_labels=None):
    torch, _ = common.import_torch()
    if loss.startswith("multi_margin"):
        return torch.from_numpy(common.class_targets(n_samples, n_classes))
    return torch.from_numpy(common.label_targets(n_samples, n_classes, n_labels))


def loss_step(problem, implementation):
    """A function of no argument: forward + backward of the loss on (N, C) float32 scores."""
    torch, _ = common.import_torch()
    loss, _, shape = problem.partition(" ")
    n_samples, n_classes, *labels = common.parse_problem(shape)
    criterion = _criterion_class(loss, implementation)()
    target = _target(loss, n_samples, n_classes, *labels)
    leaf = torch.from_numpy(common.scores(n_samples, n_classes, "float32")).requires_grad_()

    def step():
        leaf.grad = None
        criterion(leaf, target).backward()

    return step


def mlp_step(loss, implementation, n_samples, n_features, n_hidden, n_classes, n_labels):
    """A function of no argument: one SGD step of an MLP ending in the loss."""
    torch, _ = common.import_torch()
    criterion = _criterion_class(loss, implementation)()
    target = _target(loss, n_samples, n_classes, n_labels)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(n_features, n_hidden), torch.nn.ReLU(),
                                torch.nn.Linear(n_hidden, n_classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.from_numpy(common.scores(n_samples, n_features, "float32"))

    def step():
        optimizer.zero_grad()
        criterion(model(x), target).backward()
        optimizer.step()

    step()  # the optimizer's and autograd's first-call costs
    return step


def compiled_loss_step(problem, implementation):
    """A function of no argument: forward + backward of ``torch.compile`` of the loss
    (compiled and warmed up here)."""
    torch, _ = common.import_torch()
    loss, _, shape = problem.partition(" ")
    n_samples, n_classes, *labels = common.parse_problem(shape)
    criterion = _criterion_class(loss, implementation)()
    target = _target(loss, n_samples, n_classes, *labels)
    leaf = torch.from_numpy(common.scores(n_samples, n_classes, "float32")).requires_grad_()
    compiled = torch.compile(lambda scores, t: criterion(scores, t), dynamic=False)

    def step():
        leaf.grad = None
        compiled(leaf, target).backward()

    for _ in range(3):  # compiles forward and backward, then runs them warm
        step()
    return step


def interleaved_medians(ours, theirs, rounds, target_seconds=2e-3):
    """``(ours_s, theirs_s)``: median time per call over ``rounds`` interleaved rounds
    (a batch of calls of one, then of the other; the order alternates)."""
    ours(), theirs()
    start = timeit.default_timer()
    ours(), theirs()
    pair = max(timeit.default_timer() - start, 1e-7)
    number = max(1, int(2 * target_seconds / pair))  # a batch takes about target_seconds
    times = {ours: [], theirs: []}
    for k in range(rounds):
        for function in ((ours, theirs) if k % 2 == 0 else (theirs, ours)):
            start = timeit.default_timer()
            for _ in range(number):
                function()
            times[function].append((timeit.default_timer() - start) / number)
    return statistics.median(times[ours]), statistics.median(times[theirs])


class _TorchBenchmark(Benchmark):
    def _threads(self, n_threads):
        torch, _ = common.import_torch()
        common.import_submodule("torch")
        torch.set_num_threads(n_threads)
        common.start_torch_threads(torch)
        common.start_threads(n_threads)


class LossStep(_TorchBenchmark):
    param_names = ["problem", "implementation", "n_threads"]
    params = [LOSS_PROBLEMS, IMPLEMENTATIONS, common.N_THREADS]

    def setup(self, problem, implementation, n_threads):
        self._threads(n_threads)
        self.step = loss_step(problem, implementation)
        self.step()

    def time_forward_backward(self, *params):
        self.step()


class SmallTrainingStep(_TorchBenchmark):
    param_names = ["loss", "implementation", "n_threads"]
    params = [list(LOSSES), IMPLEMENTATIONS, common.N_THREADS]

    def setup(self, loss, implementation, n_threads):
        self._threads(n_threads)
        labels = None if loss == "multi_margin" else SMALL_LABELS
        self.step = mlp_step(loss, implementation, SMALL_BATCH, SMALL_FEATURES, SMALL_HIDDEN,
                             SMALL_CLASSES, labels)

    def time_step(self, *params):
        self.step()


class TrainingStep(_TorchBenchmark):
    param_names = ["loss", "implementation", "n_threads"]
    params = [list(LOSSES), IMPLEMENTATIONS, common.N_THREADS]

    def setup(self, loss, implementation, n_threads):
        self._threads(n_threads)
        n_classes, n_labels = LOSSES[loss]
        self.step = mlp_step(loss, implementation, N_SAMPLES, N_FEATURES, N_HIDDEN, n_classes,
                             n_labels)

    def time_step(self, *params):
        self.step()


class CompiledLossStep(_TorchBenchmark):
    param_names = ["implementation", "n_threads"]
    params = [IMPLEMENTATIONS, common.N_THREADS]
    # Setup compiles with Inductor: tens of seconds on two busy cores.
    timeout = max(getattr(Benchmark, "timeout", 60), 600)

    def setup(self, implementation, n_threads):
        self._threads(n_threads)
        self.step = compiled_loss_step(COMPILED_PROBLEM, implementation)

    def time_forward_backward(self, *params):
        self.step()


# The rows of the per-call table: id -> function(implementation) giving a step.
RATIO_CASES = {
    **{f"loss {problem}": (lambda problem: lambda impl: loss_step(problem, impl))(problem)
       for problem in LOSS_PROBLEMS[:4]},
    "sgd step 64-128-10 batch 32": lambda impl: mlp_step(
        "multi_margin", impl, SMALL_BATCH, SMALL_FEATURES, SMALL_HIDDEN, SMALL_CLASSES, None),
    f"compiled {COMPILED_PROBLEM}": lambda impl: compiled_loss_step(COMPILED_PROBLEM, impl),
}


class TrainingStepRatioTorch(Benchmark):
    param_names = ["case"]
    params = [list(RATIO_CASES)]
    # Compiling both sides (the compiled case) and the interleaved rounds.
    timeout = max(getattr(Benchmark, "timeout", 60), 900)

    def setup(self, case):
        torch, _ = common.import_torch()
        common.import_submodule("torch")
        common.start_torch_threads(torch)
        common.start_threads(torch.get_num_threads())
        self.ours = RATIO_CASES[case]("marginloss")
        self.theirs = RATIO_CASES[case]("torch")
        # At least 101 rounds of about 2 ms per side; more with the profile's ratio_repeat.
        self.rounds = max(101, 40 * common.RATIO_REPEAT + 1)

    def track_time_ratio_to_torch(self, case):
        ours, theirs = interleaved_medians(self.ours, self.theirs, self.rounds)
        return ours / theirs

    track_time_ratio_to_torch.unit = "ratio"


def main():
    """Print the per-call table: ``cd asv_benchmarks && python -m benchmarks.training_step``."""
    torch, _ = common.import_torch()
    benchmark = TrainingStepRatioTorch()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of "
          f"interleaved rounds (marginloss.torch / torch.nn)")
    for case in RATIO_CASES:
        benchmark.setup(case)
        ours, theirs = interleaved_medians(benchmark.ours, benchmark.theirs, benchmark.rounds)
        print(f"{case:34s} {ours * 1e6:10.1f} us {theirs * 1e6:10.1f} us {ours / theirs:7.2f}",
              flush=True)


if __name__ == "__main__":
    main()
