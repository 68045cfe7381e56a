"""How many OpenMP threads a kernel call uses."""

import os

from ._openmp import max_threads, openmp_enabled

# Below this many scores a call runs on one thread: starting a team costs more
# than it saves, and far more on a busy machine, where a thread may wait a
# scheduler tick for a core.  Results do not depend on it.  Measured on the
# 2-core machine, quiet, float32 multi-class loss+gradient, 2 threads against 1:
# 0.72-1.20x at 2000 scores, 1.02-1.38x at 4000, 1.09-1.64x at 8000,
# 1.34-1.86x at 16000 (C = 10, 100, 1000; docs/design.md, "Threads").  The
# multi-label kernel does more work per score, so the same cut is safe there.
SERIAL_BELOW = 1 << 14

# GNU OpenMP's thread pool does not survive fork(): a child of a process that
# has run a parallel region hangs in its first one.  Such a child runs every
# call on one thread (as PyTorch does); results are the same bits.
_team_started = False
_forked_after_team = False


def _after_fork_in_child():
    global _forked_after_team
    _forked_after_team = _forked_after_team or _team_started


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def cpu_count():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def effective_n_threads(n_threads, n_samples, work):
    """The team size for a call.

    None means OpenMP's default (which honours OMP_NUM_THREADS and
    threadpoolctl); a negative value counts back from the number of cores, so
    -1 is all of them (joblib's convention).  Never more threads than samples
    or than max(64, 4 x cores), one thread below SERIAL_BELOW units of work,
    and one in a build without OpenMP or in a process forked after a team ran.
    """
    global _team_started
    if work < SERIAL_BELOW or _forked_after_team or not openmp_enabled():
        return 1
    if n_threads is None:
        n_threads = max_threads()
    elif n_threads < 0:
        n_threads = max(cpu_count() + 1 + n_threads, 1)
    # Clip absurd requests: OpenMP aborts the process when it cannot create threads.
    limit = max(64, 4 * cpu_count())
    n_threads = max(1, min(n_threads, n_samples, limit))
    if n_threads > 1:
        _team_started = True
    return n_threads
