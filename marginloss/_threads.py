"""How many OpenMP threads a kernel call uses (docs/design.md, "Threads")."""

import os

from ._openmp import max_threads, openmp_enabled

# Below this many scores a call runs on one thread: starting a team costs more
# than it saves (measured in docs/design.md, "Threads").  Results do not depend on it.
SERIAL_BELOW = 1 << 14

# GNU OpenMP's thread pool does not survive fork(): a child of a process that
# has run a parallel region runs every call on one thread (docs/design.md, "Threads").
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
