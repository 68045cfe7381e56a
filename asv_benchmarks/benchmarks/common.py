"""What the benchmark modules share: the profile, asv's timing settings, the data.

The profile (fast | regular | large) comes from the environment variable
``MARGINLOSS_BENCH_PROFILE``, else from ``default_profile`` in config.json.
Every array is generated in ``setup`` from a fixed seed, so each commit is
timed on the same data.

asv imports the suite once in a server process that forks one process per
benchmark and parameter combination (launch_method "forkserver" in
asv.conf.json).  So nothing at import time runs a marginloss kernel (a
process forked after an OpenMP team ran would be limited to one thread), and
PyTorch is imported here, once, rather than in every torch benchmark.
"""

import inspect
import json
import os
import time
import timeit

import numpy as np

PROFILE_VARIABLE = "MARGINLOSS_BENCH_PROFILE"
CONFIG_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.json")


def load_config(path=CONFIG_PATH):
    """config.json without its // comment lines."""
    with open(path, encoding="utf-8") as f:
        text = "".join(line for line in f if not line.lstrip().startswith("//"))
    return json.loads(text)


def select_profile(config):
    """Return ``(name, settings)`` of the profile in force."""
    name = os.environ.get(PROFILE_VARIABLE, "").strip().lower() or config["default_profile"]
    if name not in config["profiles"]:
        raise ValueError(
            f"{PROFILE_VARIABLE}={name!r}: expected one of {sorted(config['profiles'])}"
        )
    return name, config["profiles"][name]


CONFIG = load_config()
PROFILE_NAME, PROFILE = select_profile(CONFIG)
# A profile may narrow n_threads (the "shared" profile keeps only 1).  Every
# benchmark that takes n_threads has it as its LAST parameter, so that
# "-b ', 1\)$'" selects the one-thread entries; keep it so in new benchmarks.
N_THREADS = list(PROFILE.get("n_threads", CONFIG["n_threads"]))
DTYPES = list(CONFIG["dtypes"])
P_VALUES = [1, 2]
WEIGHTS = ["none", "random"]
NUMPY_MAX_ELEMENTS = PROFILE["numpy_max_elements"]
RATIO_REPEAT = PROFILE["ratio_repeat"]


# What a time_ benchmark measures, per the profile's "timer": "wall" (the
# default: elapsed time, what a caller waits) or "cpu" (CPU time of the whole
# process: on a machine whose cores are shared with other jobs, a one-thread
# call's CPU time barely moves when it is preempted, where its wall time grows
# by the time it waits for a core; with n threads it adds up all threads,
# OpenMP's spin-waiting included, so use it for one-thread entries only).
TIMERS = {"wall": timeit.default_timer, "cpu": time.process_time}
TIMER_NAME = PROFILE.get("timer", "wall")
if TIMER_NAME not in TIMERS:
    raise ValueError(f"timer={TIMER_NAME!r} in profile {PROFILE_NAME!r}: expected one of "
                     f"{sorted(TIMERS)}")


class Benchmark:
    """Base of every benchmark class: the profile's timer and timing settings."""

    timer = staticmethod(TIMERS[TIMER_NAME])


for _name, _value in PROFILE["timing"].items():
    setattr(Benchmark, _name, tuple(_value) if isinstance(_value, list) else _value)


# ----------------------------------------------------------------- problems
#
# A problem is a readable string, asv's parameter value:
# "16384x100" (N samples x C classes) or "16384x100 k=25" (k labels per row).


def problem_name(n_samples, n_classes, n_labels=None):
    name = f"{n_samples}x{n_classes}"
    return name if n_labels is None else f"{name} k={n_labels}"


def parse_problem(name):
    """``(n_samples, n_classes)`` or ``(n_samples, n_classes, n_labels)``."""
    shape, _, labels = name.partition(" k=")
    n_samples, n_classes = (int(part) for part in shape.split("x"))
    return (n_samples, n_classes) if not labels else (n_samples, n_classes, int(labels))


MULTI_MARGIN_PROBLEMS = [problem_name(n, c) for n, c in PROFILE["multi_margin_problems"]]
MULTILABEL_PROBLEMS = [problem_name(n, c, k) for n, c, k in PROFILE["multilabel_problems"]]


# --------------------------------------------------------------------- data


def _rng(*key):
    return np.random.default_rng([20240611, *key])


def scores(n_samples, n_classes, dtype):
    """Standard normal (N, C) scores: with margin 1 about three terms in four are active."""
    return _rng(0, n_samples, n_classes).standard_normal(
        (n_samples, n_classes), dtype=np.dtype(dtype).type
    )


def class_targets(n_samples, n_classes):
    """(N,) int64 classes, uniform in [0, C)."""
    return _rng(1, n_samples, n_classes).integers(0, n_classes, n_samples, dtype=np.int64)


def class_weight(n_classes, kind):
    """None, or (C,) float64 weights uniform in [0.5, 1.5)."""
    if kind == "none":
        return None
    if kind == "random":
        return _rng(2, n_classes).uniform(0.5, 1.5, n_classes)
    raise ValueError(f"weight: expected 'none' or 'random', got {kind!r}")


def label_targets(n_samples, n_classes, n_labels):
    """(N, C) int64 targets: ``n_labels`` distinct classes per row, then -1.

    Each row is the start of one of at most 1024 random permutations (drawn
    per row), which is O(N x C) copying instead of N permutations.
    """
    if not 0 <= n_labels <= n_classes:
        raise ValueError(f"n_labels={n_labels} is not in [0, {n_classes}]")
    rng = _rng(3, n_samples, n_classes, n_labels)
    target = np.full((n_samples, n_classes), -1, dtype=np.int64)
    if n_labels and n_samples:
        n_perms = min(n_samples, 1024)
        orders = np.broadcast_to(np.arange(n_classes, dtype=np.int64), (n_perms, n_classes))
        starts = rng.permuted(orders, axis=1)[:, :n_labels]
        target[:, :n_labels] = starts[rng.integers(0, n_perms, n_samples)]
    return target


def start_threads(n_threads):
    """Start marginloss's OpenMP team of ``n_threads`` before timing.

    The first parallel call of a process creates the threads (a few ms), which
    "asv run --quick" (one call per benchmark) would otherwise time.  64 x 512
    scores are just enough work for a call to use more than one thread.
    """
    import marginloss

    scores = np.zeros((64, 512))
    marginloss.multi_margin_loss(scores, np.zeros(64, dtype=np.int64), n_threads=n_threads)


def start_torch_threads(torch):
    """Start PyTorch's intra-op thread pool before timing (as start_threads)."""
    leaf = torch.zeros((64, 1024), requires_grad=True)
    (leaf * 2).sum().backward()


def faulted_like(array):
    """An array like ``array`` whose pages are already mapped (no first-touch faults)."""
    out = np.empty_like(array)
    out.fill(0)
    return out


# -------------------------------------------------- optional implementations


# PyTorch is imported with the suite, once, in the process that forks the
# benchmark processes: importing it in each torch benchmark's setup would cost
# over a second per parameter combination.  Importing it starts no thread.  It
# puts its ~200 MB of libraries in every benchmark process, so all peakmem_
# results (ours, PyTorch's, NumPy's) share that baseline and their differences
# are the memory of the computations themselves.
try:
    import torch as _torch
    import torch.nn.functional as _torch_functional
except ImportError as _error:
    _torch = _torch_functional = None
    _TORCH_ERROR = str(_error)


def import_torch():
    """``(torch, torch.nn.functional)``; NotImplementedError (asv: skipped) without torch."""
    if _torch is None:
        raise NotImplementedError(f"PyTorch is not installed: {_TORCH_ERROR}")
    return _torch, _torch_functional


def import_submodule(name):
    """``marginloss.<name>``, or NotImplementedError on commits without it.

    The module must come from the package's own directory: with marginloss
    also installed in editable mode elsewhere, setuptools' editable finder
    would otherwise supply a module that the commit being timed lacks (for
    instance when another commit's build is put first with ASV_PYTHONPATH).
    """
    import importlib

    import marginloss

    try:
        module = importlib.import_module(f"marginloss.{name}")
    except ImportError as error:
        raise NotImplementedError(f"marginloss.{name} is missing: {error}") from None
    package_dir = os.path.dirname(os.path.abspath(marginloss.__file__))
    if not os.path.abspath(module.__file__).startswith(package_dir + os.sep):
        raise NotImplementedError(
            f"marginloss.{name} is missing from {package_dir} "
            f"(the one found is {module.__file__})"
        )
    return module


def import_numpy_implementation():
    """The vectorised NumPy version (``marginloss._tools.numpy_losses``; ``marginloss._numpy``
    on older commits), if this commit has it."""
    try:
        return import_submodule("_tools.numpy_losses")
    except NotImplementedError:
        return import_submodule("_numpy")


def import_bandwidth():
    """``marginloss._bandwidth`` (parallel copy and read floors), if this commit has it."""
    return import_submodule("_bandwidth")


def require_keywords(function, *names):
    """NotImplementedError unless ``function`` accepts all these keywords (older commits)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # no signature to read: assume it accepts them
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    missing = [name for name in names if name not in parameters]
    if missing:
        raise NotImplementedError(
            f"{getattr(function, '__name__', function)} takes no {', '.join(missing)} "
            "in this version of marginloss"
        )


def check_numpy_size(n_samples, n_classes):
    """Skip a NumPy multi-label run whose N x C x C temporaries exceed the profile's budget."""
    elements = n_samples * n_classes * n_classes
    if elements > NUMPY_MAX_ELEMENTS:
        raise NotImplementedError(
            f"the NumPy version would build {elements} element temporaries "
            f"(more than numpy_max_elements={NUMPY_MAX_ELEMENTS})"
        )


def best_time(function, repeat):
    """The shortest of ``repeat`` wall-clock runs of ``function`` (after one warm-up)."""
    function()
    best = float("inf")
    for _ in range(repeat):
        start = timeit.default_timer()
        function()
        best = min(best, timeit.default_timer() - start)
    return best
