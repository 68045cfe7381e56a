"""What the OpenMP runtime of this build offers.

Compiled with the same flags as the kernels, so ``openmp_enabled()`` reports
whether the kernels' ``prange`` loops really run in parallel.  Without OpenMP
the stubs below answer as a one-thread runtime would.
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define MARGINLOSS_OPENMP_ENABLED 1
    #else
    #define MARGINLOSS_OPENMP_ENABLED 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_num_procs(void) { return 1; }
    #endif
    """
    int MARGINLOSS_OPENMP_ENABLED
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_procs() noexcept nogil


def openmp_enabled():
    """Whether the kernels were compiled with OpenMP.

    Without OpenMP (a compiler without it, or ``MARGINLOSS_NO_OPENMP=1`` at
    build time) every call runs on one thread, whatever ``n_threads`` says;
    the results are the same bits either way.

    Returns
    -------
    bool
        True when the kernels' loops over samples can run on several threads.

    Examples
    --------
    >>> import marginloss
    >>> marginloss.openmp_enabled() in (True, False)
    True
    """
    return bool(MARGINLOSS_OPENMP_ENABLED)


def max_threads():
    """OpenMP's current default team size (honours OMP_NUM_THREADS and threadpoolctl)."""
    return omp_get_max_threads()


def num_procs():
    """Processors available to OpenMP (1 in a build without OpenMP)."""
    return omp_get_num_procs()
