"""How many OpenMP threads a kernel call uses."""

import os

from ._openmp import max_threads, openmp_enabled

# Below this many scores a call runs on one thread: starting a team costs more
# than it saves (and far more on a busy machine).  Results do not depend on it.
SERIAL_BELOW = 1 << 15


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
    and one in a build without OpenMP.
    """
    if not openmp_enabled():
        return 1
    if n_threads is None:
        n_threads = max_threads()
    elif n_threads < 0:
        n_threads = max(cpu_count() + 1 + n_threads, 1)
    if work < SERIAL_BELOW:
        return 1
    # Clip absurd requests: OpenMP aborts the process when it cannot create threads.
    limit = max(64, 4 * cpu_count())
    return max(1, min(n_threads, n_samples, limit))
