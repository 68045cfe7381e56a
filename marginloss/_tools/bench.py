"""``python -m marginloss bench``: the fused loss+gradient against its yardsticks.

For each problem (a loss, a shape, a dtype) and each thread count, times

- ``ours``: ``multi_margin_loss_and_grad`` / ``multilabel_margin_loss_and_grad``
  with ``out=`` a preallocated gradient, reduction='mean';
- ``ours+alloc``: the same call without ``out=`` (a new gradient each call);
- ``numpy``: the vectorised NumPy version (``numpy_losses`` beside this module), which is
  single-threaded and so timed once per problem;
- ``torch``: PyTorch's forward+backward on a new leaf tensor (so it allocates
  its gradient), with ``torch.set_num_threads`` set to the thread count;
- ``copy``: ``marginloss._bandwidth.copy`` of an array of the scores' size on
  the same threads, the memory floor of a call that reads every score and
  writes its gradient;

and prints their medians and the ratios ours/copy, torch/ours and numpy/ours
as a table on stdout, with a progress bar on stderr.  Benchmarks for
regression tracking live in ``asv_benchmarks/``; this is the quick look.

``python -m marginloss bench --floor`` prints instead the kernels' distance
from the memory floor (``FLOOR_CASES``: the few-classes and few-labels
problems of docs/design.md, "Memory floor", each beside its target): the
median over interleaved rounds of the one-thread CPU time of a fused call
with ``out=`` over that of a one-thread ``np.copyto`` of its scores, and
the two-thread speed-ups over PyTorch's forward+backward (``TORCH_CASES``).
The asv benchmark ``kernel_floor`` tracks the same numbers.
"""

import functools
import gc
import sys
import time
from dataclasses import dataclass

import numpy as np

import marginloss
from marginloss import _bandwidth, _kernels
from marginloss._threads import cpu_count, effective_n_threads
from marginloss._tools import numpy_losses
from marginloss._tools.report import COLUMNS, Progress, Row, format_table  # noqa: F401

LOSSES = ("multi_margin", "multilabel")

# Each entry runs for about BUDGET seconds: between MIN_RUNS and MAX_RUNS runs
# after a warm-up, or only the warm-up when that alone takes longer.
BUDGET = 0.3
MIN_RUNS = 3
MAX_RUNS = 25

# The NumPy versions are skipped when their temporaries would need more memory.
NUMPY_MEMORY_LIMIT = 1 << 30


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Parameters
    ----------
    loss : {'multi_margin', 'multilabel'}
        Which loss.
    n_samples, n_classes : int
        The scores' shape (N, C).
    dtype : {'float32', 'float64'}, default='float32'
        The scores' dtype.
    p : {1, 2}, default=1
        The power of the multi-class loss (unused by the multi-label loss).
    k : int, default=None
        Labels per sample of the multi-label loss; None means C // 4.
    """

    loss: str
    n_samples: int
    n_classes: int
    dtype: str = "float32"
    p: int = 1
    k: int | None = None

    @property
    def n_labels(self):
        """Labels per sample of the multi-label loss (k, or C // 4)."""
        return self.n_classes // 4 if self.k is None else self.k

    @property
    def size(self):
        """Number of scores, N * C."""
        return self.n_samples * self.n_classes

    def title(self):
        """A short description, e.g. ``multilabel (2048, 1000) float32 k=250``."""
        setting = f"p={self.p}" if self.loss == "multi_margin" else f"k={self.n_labels}"
        return f"{self.loss} ({self.n_samples}, {self.n_classes}) {self.dtype} {setting}"


DEFAULT_SHAPES = {
    "multi_margin": ((1_000_000, 10), (16_384, 100), (2_048, 1_000)),
    "multilabel": ((16_384, 100), (2_048, 1_000)),
}


def make_problems(loss="both", shape=None, dtype="float32", p=1, k=None):
    """The problems to run: the default shapes, or one shape, for one loss or both.

    Parameters
    ----------
    loss : {'multi_margin', 'multilabel', 'both'}, default='both'
        Which losses.
    shape : tuple of (int, int), default=None
        (N, C) of a single problem per loss; None for the default shapes
        (multi-class (1000000, 10), (16384, 100), (2048, 1000); multi-label
        (16384, 100), (2048, 1000)).
    dtype : {'float32', 'float64'}, default='float32'
        The scores' dtype.
    p : {1, 2}, default=1
        Power of the multi-class loss.
    k : int, default=None
        Labels per sample of the multi-label loss; None means C // 4.

    Returns
    -------
    list of Problem

    Raises
    ------
    ValueError
        If ``k`` is negative or larger than a multi-label problem's C.
    """
    losses = LOSSES if loss == "both" else (loss,)
    problems = [
        Problem(name, n_samples, n_classes, dtype=dtype, p=p, k=k)
        for name in losses
        for n_samples, n_classes in ((shape,) if shape is not None else DEFAULT_SHAPES[name])
    ]
    for problem in problems:
        if problem.loss == "multilabel" and not 0 <= problem.n_labels <= problem.n_classes:
            raise ValueError(
                f"k must be between 0 and the number of classes, got k={problem.n_labels} "
                f"for shape ({problem.n_samples}, {problem.n_classes})"
            )
    return problems


def make_data(problem, seed=0):
    """Random standard-normal scores and a valid target for ``problem``.

    Parameters
    ----------
    problem : Problem
    seed : int, default=0

    Returns
    -------
    scores : ndarray of shape (N, C)
    target : ndarray of int64, shape (N,) for the multi-class loss, or (N, C)
        for the multi-label loss (k distinct random labels, then -1)
    """
    rng = np.random.default_rng(seed)
    shape = (problem.n_samples, problem.n_classes)
    scores = rng.standard_normal(shape, dtype=np.dtype(problem.dtype))
    if problem.loss == "multi_margin":
        return scores, rng.integers(0, problem.n_classes, problem.n_samples)
    k = problem.n_labels
    target = np.full(shape, -1, dtype=np.int64)
    classes = np.broadcast_to(np.arange(problem.n_classes, dtype=np.int64), shape)
    target[:, :k] = rng.permuted(classes, axis=1)[:, :k]
    return scores, target


def numpy_skip_reason(problem):
    """Why the NumPy version is not run on ``problem``, or None when it is.

    The multi-class version builds a few (N, C) temporaries; the multi-label
    one (N, C, C) temporaries of about two floats and three booleans per
    entry.  Either is skipped when that needs more than 1 GiB.
    """
    itemsize = np.dtype(problem.dtype).itemsize
    if problem.loss == "multi_margin":
        entries, per_entry, what = problem.size, 3 * itemsize + 17, "N*C"
    else:
        entries = problem.size * problem.n_classes
        per_entry, what = 2 * itemsize + 3, "N*C*C"
    needed = entries * per_entry
    if needed <= NUMPY_MEMORY_LIMIT:
        return None
    return (f"its {what} = {entries / 1e6:,.0f} million-entry temporaries would need "
            f"~{needed / 2**30:,.1f} GiB (limit {NUMPY_MEMORY_LIMIT / 2**30:g} GiB)")


@dataclass
class Timing:
    """Median wall time of a callable and what its last run returned."""

    seconds: float
    n_runs: int
    result: object


def time_call(function, repeat=None, budget=BUDGET):
    """Time ``function()``: a warm-up run, then the median of the timed runs.

    Parameters
    ----------
    function : callable
        Called with no arguments.
    repeat : int, default=None
        Number of timed runs after the warm-up.  None chooses it from the
        warm-up's time t: ``budget / t`` runs, clipped to [MIN_RUNS, MAX_RUNS],
        and no further run when t alone exceeds ``budget`` (the warm-up is
        then the measurement).
    budget : float, default=BUDGET
        Seconds to spend when ``repeat`` is None.

    Returns
    -------
    Timing
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = function()
        warm_up = time.perf_counter() - start
        if repeat is None:
            if warm_up >= budget:
                return Timing(warm_up, 1, result)
            repeat = int(min(max(budget / max(warm_up, 1e-9), MIN_RUNS), MAX_RUNS))
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - start)
        return Timing(float(np.median(times)), repeat, result)
    finally:
        if gc_was_enabled:
            gc.enable()


def thread_counts(requested, problem):
    """The distinct thread counts ``requested`` gives on ``problem``.

    Parameters
    ----------
    requested : list of int or None
        ``n_threads`` values (None for the package's default).
    problem : Problem

    Returns
    -------
    list of (n_threads, team)
        Each ``n_threads`` value to pass, with the team size the kernels use
        for it (see ``marginloss._threads.effective_n_threads``); values giving
        the same team are kept once.
    """
    counts = {}
    for n_threads in requested:
        team = effective_n_threads(n_threads, problem.n_samples, problem.size)
        counts.setdefault(team, n_threads)
    return [(n_threads, team) for team, n_threads in counts.items()]


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def ours_call(problem, scores, target, n_threads, out):
    if problem.loss == "multi_margin":
        return lambda: marginloss.multi_margin_loss_and_grad(
            scores, target, p=problem.p, out=out, n_threads=n_threads)
    return lambda: marginloss.multilabel_margin_loss_and_grad(
        scores, target, out=out, n_threads=n_threads)


def numpy_call(problem, scores, target):
    if problem.loss == "multi_margin":
        return lambda: numpy_losses.multi_margin_loss_and_grad(scores, target, p=problem.p)
    return lambda: numpy_losses.multilabel_margin_loss_and_grad(scores, target)


def torch_call(torch, problem, scores, target):
    import torch.nn.functional as F

    x = torch.from_numpy(scores)
    t = torch.from_numpy(target)

    def run():
        leaf = x.detach().requires_grad_()
        if problem.loss == "multi_margin":
            loss = F.multi_margin_loss(leaf, t, p=problem.p)
        else:
            loss = F.multilabel_margin_loss(leaf, t)
        loss.backward()
        return loss.detach(), leaf.grad
    return run


def _steps(problems, threads, torch_available):
    """Number of timed entries, for the progress bar."""
    total = 0
    for problem in problems:
        total += numpy_skip_reason(problem) is None
        total += len(thread_counts(threads, problem)) * (3 + torch_available)
    return total


def run(problems, threads=(1, None), repeat=None, budget=BUDGET, progress_stream=None):
    """Time every problem on every thread count.

    Parameters
    ----------
    problems : list of Problem
    threads : sequence of int or None, default=(1, None)
        ``n_threads`` values; None is the package's default (all cores unless
        ``OMP_NUM_THREADS`` or threadpoolctl say otherwise).
    repeat : int, default=None
        Timed runs per entry; None adapts them to ``budget`` (see ``time_call``).
    budget : float, default=BUDGET
        Seconds per entry when ``repeat`` is None.
    progress_stream : file, default=sys.stderr
        Where the progress bar goes.

    Returns
    -------
    rows : list of Row
    notes : list of str
        Why entries were skipped, and whether the losses agreed.
    agree : bool
        Whether every loss agreed with NumPy's and PyTorch's where they ran
        (rtol 1e-4 in float32, 1e-9 in float64).
    """
    torch = import_torch()
    progress = Progress(_steps(problems, threads, torch is not None), progress_stream)
    notes = [] if torch is not None else ["torch: not installed"]
    torch_threads = torch.get_num_threads() if torch is not None else None

    def measure(label, function):
        progress.start(label)
        timing = time_call(function, repeat=repeat, budget=budget)
        progress.finish_step()
        return timing

    rows, compared = [], set()
    try:
        for problem in problems:
            rows += _time_problem(problem, threads, torch, measure, notes, compared)
    finally:
        if torch is not None:
            torch.set_num_threads(torch_threads)
        progress.close()
    agree = not any("DIFFERS" in note for note in notes)
    if agree and compared:
        names = " and ".join(f"{name}'s" for name in sorted(compared))
        notes.append(f"every loss agrees with {names} where they ran "
                     f"(rtol 1e-4 in float32, 1e-9 in float64)")
    return rows, notes, agree


def _agrees(problem, name, ours_loss, other_loss, notes, compared):
    """Whether our loss agrees with another's; a note when it does not."""
    compared.add(name)
    rtol = 1e-4 if problem.dtype == "float32" else 1e-9
    if np.isclose(float(ours_loss), float(other_loss), rtol=rtol, atol=0):
        return True
    notes.append(f"{problem.title()}: loss {float(ours_loss)!r} DIFFERS from "
                 f"{name}'s {float(other_loss)!r}")
    return False


def _time_problem(problem, threads, torch, measure, notes, compared):
    """The rows of one problem, one per team size (see `run`)."""
    title = problem.title()
    scores, target = make_data(problem)
    gradient = np.empty_like(scores)
    source, destination = scores.reshape(-1), np.empty(problem.size, scores.dtype)
    numpy_seconds = None
    reason = numpy_skip_reason(problem)
    if reason is not None:
        notes.append(f"numpy: skipped for {title}: {reason}")
    else:
        timing = measure(f"numpy on {title}", numpy_call(problem, scores, target))
        numpy_seconds, numpy_loss = timing.seconds, timing.result[0]
    rows = []
    for n_threads, team in thread_counts(threads, problem):
        where = f"{title}, {team} thread{'s' if team > 1 else ''}"
        # The team size, not n_threads: None follows OpenMP's default, which
        # torch.set_num_threads below changes (torch and marginloss share libgomp).
        ours = measure(f"ours on {where}", ours_call(problem, scores, target, team, gradient))
        ours_alloc = measure(f"ours+alloc on {where}",
                             ours_call(problem, scores, target, team, None))
        copy = measure(f"copy on {where}",
                       functools.partial(_bandwidth.copy, source, destination, team))
        torch_seconds = None
        if torch is not None:
            torch.set_num_threads(team)
            timing = measure(f"torch on {where}", torch_call(torch, problem, scores, target))
            torch_seconds = timing.seconds
            _agrees(problem, "torch", ours.result[0], timing.result[0], notes, compared)
        if numpy_seconds is not None:
            _agrees(problem, "numpy", ours.result[0], numpy_loss, notes, compared)
        rows.append(Row(problem, team, ours.seconds, ours_alloc.seconds, numpy_seconds,
                        torch_seconds, copy.seconds))
    return rows


def _header(repeat, budget):
    torch = import_torch()
    openmp = "OpenMP" if marginloss.openmp_enabled() else "no OpenMP (serial build)"
    versions = f"NumPy {np.__version__}, " + (
        f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not installed")
    runs = (f"{repeat} run{'s' if repeat > 1 else ''} after a warm-up" if repeat is not None
            else f"{MIN_RUNS}-{MAX_RUNS} runs after a warm-up, about {budget:g} s an entry; "
                 f"the warm-up alone for calls over {budget:g} s")
    return (
        f"marginloss {marginloss.__version__} ({openmp}, {cpu_count()} cores, "
        f"{_kernels.kernel_build()} multi-class kernels), {versions}\n"
        f"Fused loss+gradient, reduction='mean'.  Median wall time in ms ({runs})."
    )


LEGEND = """\
ours        *_and_grad(scores, target, out=gradient): the gradient goes to a preallocated array
ours+alloc  the same call without out= (a new gradient array each call)
numpy       the vectorised NumPy version (single-threaded: timed once per problem)
torch       forward + backward on a new leaf tensor (which allocates its gradient), on
            torch.set_num_threads(threads)
copy        marginloss._bandwidth.copy of an array of the scores' size: the memory floor of a
            pass that reads every score and writes its gradient"""


def main(problems, threads=(1, None), repeat=None, budget=BUDGET, stdout=None,
         progress_stream=None):
    """Run the benchmark and print the report; return the exit status.

    Parameters
    ----------
    problems : list of Problem
    threads : sequence of int or None, default=(1, None)
        See ``run``.
    repeat : int, default=None
        See ``time_call``.
    budget : float, default=BUDGET
        See ``time_call``.
    stdout : file, default=sys.stdout
        Where the report goes.
    progress_stream : file, default=sys.stderr
        Where the progress bar goes.

    Returns
    -------
    int
        0, or 1 when a loss disagreed with NumPy's or PyTorch's.
    """
    stdout = sys.stdout if stdout is None else stdout
    rows, notes, agree = run(problems, threads, repeat, budget, progress_stream)
    print(_header(repeat, budget), file=stdout)
    print(file=stdout)
    print(format_table(rows), file=stdout)
    print(file=stdout)
    print(LEGEND, file=stdout)
    for note in notes:
        print(f"note: {note}", file=stdout)
    return 0 if agree else 1


# ------------------------------------------------------------ memory floor

# name: (loss, N, C, dtype, options, target ratio to the copy); options are p=
# and weight= for the multi-class loss, k= labels (and indicator=True) for the
# multi-label loss.  The targets are those of docs/design.md, "Memory floor".
FLOOR_CASES = {
    "mm 1000000x10 p=1": ("mm", 1_000_000, 10, "float32", {}, 2.0),
    "mm 2000000x4 p=1": ("mm", 2_000_000, 4, "float32", {}, 3.0),
    "mm 400000x16 p=1": ("mm", 400_000, 16, "float32", {}, 2.0),
    "mm 200000x50 p=1": ("mm", 200_000, 50, "float32", {}, 2.0),
    "mm 1000000x10 p=2 weight": ("mm", 1_000_000, 10, "float32", {"p": 2, "weight": True},
                                 2.5),
    "mm 1000000x10 p=1 float64": ("mm", 1_000_000, 10, "float64", {}, 2.0),
    "ml 4096x1000 k=5": ("ml", 4096, 1000, "float32", {"k": 5}, 3.0),
    "ml 8192x80 k=3": ("ml", 8192, 80, "float32", {"k": 3}, 3.5),
    "ml 4096x1000 k=20": ("ml", 4096, 1000, "float32", {"k": 20}, 3.5),
    "ml 1024x4000 k=50": ("ml", 1024, 4000, "float32", {"k": 50}, 5.0),
    "ml 1024x4000 k=200": ("ml", 1024, 4000, "float32", {"k": 200}, 10.0),
    "ml 4096x1000 k=5 indicator": ("ml", 4096, 1000, "float32",
                                   {"k": 5, "indicator": True}, 2.0),
}

# name: (loss, N, C, k, target speed-up over PyTorch) on two threads, float32.
TORCH_CASES = {
    "mm 1000000x10": ("mm", 1_000_000, 10, None, 25.0),
    "ml 16384x100 k=25": ("ml", 16384, 100, 25, 30.0),
}

FLOOR_ROUNDS = 7


def faulted_like(array):
    """An array like ``array`` whose pages are already mapped (no first-touch faults)."""
    out = np.empty_like(array)
    out.fill(0)
    return out


def floor_call(loss, n_samples, n_classes, dtype, options, n_threads, seed=0):
    """A no-argument fused loss+gradient call with ``out=``, its scores and target.

    Parameters
    ----------
    loss : {'mm', 'ml'}
        The multi-class or the multi-label loss.
    n_samples, n_classes : int
        The scores' shape.
    dtype : {'float32', 'float64'}
        The scores' dtype.
    options : dict
        ``p`` (default 1) and ``weight`` (True: random class weights in
        [0.5, 1.5)) for 'mm'; ``k`` labels and ``indicator`` (True: a bool
        indicator target instead of indices) for 'ml'.
    n_threads : int
        Passed to the call.
    seed : int, default=0

    Returns
    -------
    call : callable
    scores : ndarray of shape (N, C)
    target : ndarray

    Examples
    --------
    >>> from marginloss._tools.bench import floor_call
    >>> call, scores, target = floor_call("mm", 8, 3, "float32", {}, 1)
    >>> loss, gradient = call()
    >>> gradient.shape
    (8, 3)
    """
    problem = Problem("multi_margin" if loss == "mm" else "multilabel", n_samples, n_classes,
                      dtype, options.get("p", 1), options.get("k"))
    scores, target = make_data(problem, seed)
    out = faulted_like(scores)
    if loss == "mm":
        weight = (np.random.default_rng(seed + 1).uniform(0.5, 1.5, n_classes)
                  if options.get("weight") else None)
        p = problem.p

        def call():
            return marginloss.multi_margin_loss_and_grad(
                scores, target, p=p, weight=weight, out=out, n_threads=n_threads)
        return call, scores, target
    target_format = "indices"
    if options.get("indicator"):
        indicator = np.zeros(scores.shape, dtype=bool)
        rows = np.arange(n_samples)[:, None]
        indicator[rows, target[:, :problem.n_labels]] = True
        target, target_format = indicator, "indicator"

    def call():
        return marginloss.multilabel_margin_loss_and_grad(
            scores, target, target_format=target_format, out=out, n_threads=n_threads)
    return call, scores, target


def _elapsed(call, clock):
    start = clock()
    call()
    return clock() - start


def median_ratio(first, second, rounds=FLOOR_ROUNDS, clock=time.perf_counter):
    """Median over interleaved rounds of time(first) / time(second), after a warm-up."""
    first()
    second()
    ratios = [_elapsed(first, clock) / max(_elapsed(second, clock), 1e-9)
              for _ in range(rounds)]
    return float(np.median(ratios))


def floor_ratio(name, rounds=FLOOR_ROUNDS):
    """The case's one-thread CPU time over a one-thread ``np.copyto`` of its scores.

    CPU time of the calling thread (one-thread calls run on it): on a machine
    shared with other work, wall time would also count the time the thread
    waits for a core.
    """
    loss, n_samples, n_classes, dtype, options, _ = FLOOR_CASES[name]
    call, scores, _ = floor_call(loss, n_samples, n_classes, dtype, options, 1)
    destination = faulted_like(scores)
    return median_ratio(call, lambda: np.copyto(destination, scores), rounds,
                        clock=time.thread_time)


def torch_speedup(torch, name, rounds=FLOOR_ROUNDS, n_threads=2):
    """PyTorch's forward+backward wall time over ours, both on ``n_threads`` threads."""
    import torch.nn.functional as F

    loss, n_samples, n_classes, k, _ = TORCH_CASES[name]
    options = {} if k is None else {"k": k}
    call, scores, target = floor_call(loss, n_samples, n_classes, "float32", options,
                                      n_threads)
    function = F.multi_margin_loss if loss == "mm" else F.multilabel_margin_loss
    leaf = torch.from_numpy(scores).clone().requires_grad_()
    torch_target = torch.from_numpy(target)

    def run_torch():
        leaf.grad = None
        function(leaf, torch_target).backward()

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        call()  # start the OpenMP team of n_threads before timing
        return median_ratio(run_torch, call, rounds)
    finally:
        torch.set_num_threads(previous)


def floor_main(rounds=FLOOR_ROUNDS, only="", stdout=None, progress_stream=None):
    """Print the memory-floor table (``--floor``); return the exit status (0).

    Parameters
    ----------
    rounds : int, default=FLOOR_ROUNDS
        Interleaved rounds per ratio (after a warm-up of each side).
    only : str, default=''
        Run only the cases whose name contains it.
    stdout : file, default=sys.stdout
    progress_stream : file, default=sys.stderr

    Returns
    -------
    int
    """
    stdout = sys.stdout if stdout is None else stdout
    torch = import_torch()
    floor_names = [name for name in FLOOR_CASES if only in name]
    torch_names = [name for name in TORCH_CASES if only in name] if torch is not None else []
    progress = Progress(len(floor_names) + len(torch_names), progress_stream)
    floor_rows, torch_rows = [], []
    try:
        for name in floor_names:
            progress.start(f"floor {name}")
            floor_rows.append((name, floor_ratio(name, rounds), FLOOR_CASES[name][-1]))
            progress.finish_step()
        for name in torch_names:
            progress.start(f"torch {name}")
            torch_rows.append((name, torch_speedup(torch, name, rounds),
                               TORCH_CASES[name][-1]))
            progress.finish_step()
    finally:
        progress.close()
    print(f"marginloss {marginloss.__version__} ({_kernels.kernel_build()} multi-class "
          f"kernels), NumPy {np.__version__}; median of {rounds} interleaved "
          f"round{'s' if rounds > 1 else ''} after a warm-up", file=stdout)
    print(file=stdout)
    width = max(len(name) for name in list(FLOOR_CASES) + list(TORCH_CASES)) + 2
    print(f"{'one thread, out=: CPU time / copy':{width}s}", file=stdout)
    print(f"{'problem':{width}s}{'ratio':>7s}{'target':>8s}  met", file=stdout)
    for name, ratio, target in floor_rows:
        print(f"{name:{width}s}{ratio:7.2f}{target:7.1f}x  "
              f"{'yes' if ratio <= target else 'NO'}", file=stdout)
    if torch_rows:
        print(file=stdout)
        print(f"{'two threads: torch time / ours':{width}s}", file=stdout)
        print(f"{'problem':{width}s}{'ratio':>7s}{'target':>8s}  met", file=stdout)
        for name, ratio, target in torch_rows:
            print(f"{name:{width}s}{ratio:7.1f}{target:7.0f}x  "
                  f"{'yes' if ratio >= target else 'NO'}", file=stdout)
    elif torch is None:
        print(file=stdout)
        print("note: torch: not installed (no speed-ups over PyTorch)", file=stdout)
    return 0


# ------------------------------------------------------------ --sparse

# Sparse multi-label targets (docs/design.md, "Sparse targets"): the same k
# labels per sample as PyTorch's -1-padded int64 target, a bool indicator and a
# SciPy CSR matrix, each timed one-thread with out= over a one-thread copy of
# the scores.  name: (N, C, k, target ratio of the sparse target).
SPARSE_CASES = {
    "ml 256x200000 k=5": (256, 200_000, 5, 2.0),
    "ml 4096x1000 k=5": (4096, 1000, 5, 3.0),
}
SPARSE_KINDS = ("index", "bool", "sparse")


def sparse_calls(n_samples, n_classes, k, seed=0):
    """The one-thread fused calls (``out=``) with each kind of target of the same labels.

    Returns
    -------
    calls : dict
        ``{kind: (call, target bytes)}`` for the kinds 'index' (int64, -1-padded),
        'bool' (a dense indicator) and 'sparse' (a SciPy CSR matrix of bools).
    scores : ndarray of shape (N, C), float32

    Examples
    --------
    >>> from marginloss._tools.bench import sparse_calls
    >>> calls, scores = sparse_calls(8, 20, 3)
    >>> losses = [float(call()[0]) for call, _ in calls.values()]
    >>> losses[0] == losses[1] == losses[2]
    True
    """
    from scipy import sparse

    call, scores, target = floor_call("ml", n_samples, n_classes, "float32", {"k": k}, 1,
                                      seed)
    labels = np.sort(target[:, :k], axis=1)
    indicator = np.zeros(scores.shape, dtype=bool)
    indicator[np.arange(n_samples)[:, None], labels] = True
    csr = sparse.csr_array((np.ones(labels.size, dtype=bool), labels.ravel(),
                            np.arange(0, labels.size + 1, k)), shape=scores.shape)
    out = faulted_like(scores)

    def fused(target, target_format):
        return lambda: marginloss.multilabel_margin_loss_and_grad(
            scores, target, target_format=target_format, out=out, n_threads=1)

    sparse_bytes = csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes
    return {"index": (call, target.nbytes),
            "bool": (fused(indicator, "indicator"), indicator.nbytes),
            "sparse": (fused(csr, "indicator"), sparse_bytes)}, scores


def sparse_ratios(name, rounds=FLOOR_ROUNDS):
    """``({kind: median CPU time / copy}, {kind: target bytes}, copy seconds)``:
    per round, a one-thread ``np.copyto`` of the scores, then each kind's call."""
    n_samples, n_classes, k, _ = SPARSE_CASES[name]
    calls, scores = sparse_calls(n_samples, n_classes, k)
    destination = faulted_like(scores)

    def copy():
        np.copyto(destination, scores)

    copy()
    for call, _ in calls.values():
        call()  # warm-up
    ratios = {kind: [] for kind in calls}
    copies = []
    for _ in range(rounds):
        base = max(_elapsed(copy, time.thread_time), 1e-9)
        copies.append(base)
        for kind, (call, _) in calls.items():
            ratios[kind].append(_elapsed(call, time.thread_time) / base)
    return ({kind: float(np.median(values)) for kind, values in ratios.items()},
            {kind: nbytes for kind, (_, nbytes) in calls.items()}, float(np.median(copies)))


def sparse_main(rounds=FLOOR_ROUNDS, stdout=None, progress_stream=None):
    """Print the sparse-target table (``--sparse``); return the exit status (0, or
    1 without SciPy)."""
    stdout = sys.stdout if stdout is None else stdout
    try:
        import scipy.sparse  # noqa: F401
    except ImportError:
        print("bench --sparse needs SciPy (pip install marginloss[sklearn])", file=stdout)
        return 1
    progress = Progress(len(SPARSE_CASES), progress_stream)
    rows = []
    try:
        for name in SPARSE_CASES:
            progress.start(f"sparse {name}")
            rows.append((name, *sparse_ratios(name, rounds)))
            progress.finish_step()
    finally:
        progress.close()
    print(f"marginloss {marginloss.__version__} ({_kernels.kernel_build()} kernels), NumPy "
          f"{np.__version__}; median of {rounds} interleaved round{'s' if rounds > 1 else ''} "
          f"after a warm-up", file=stdout)
    print(file=stdout)
    print("multilabel_margin_loss_and_grad, one thread, out=, float32: CPU time / copy of the "
          "scores (target MB)", file=stdout)
    width = max(len(name) for name in SPARSE_CASES) + 2
    kinds = "".join(f"{kind:>17s}" for kind in SPARSE_KINDS)
    print(f"{'problem':{width}s}{'copy ms':>9s}{kinds}{'target':>8s}  met", file=stdout)
    for name, ratios, nbytes, copy_seconds in rows:
        target = SPARSE_CASES[name][-1]
        cells = "".join(f"{ratios[kind]:8.2f} ({nbytes[kind] / 1e6:6.2f})"
                        for kind in SPARSE_KINDS)
        print(f"{name:{width}s}{copy_seconds * 1e3:9.2f}{cells}{target:7.1f}x  "
              f"{'yes' if ratios['sparse'] <= target else 'NO'}", file=stdout)
    return 0
