"""Which build of the multi-class kernels this process uses.

``_multi_margin`` is compiled for x86-64's baseline (SSE2) and runs on every
CPU; ``_multi_margin_avx2`` and ``_multi_margin_avx512`` are the same source
compiled with ``-mavx2`` and with ``-mavx512f -mavx512bw -mavx512dq
-mavx512vl``: they take float32 rows of up to 31 classes (float64: fewer
than 16) 8 or 16 at a time (one row a vector lane) and give the same bits
(docs/design.md, "Kernels").
At import the widest build that was built and that the CPU (and the OS)
support, as NumPy's own CPU dispatch detects them, is used;
``MARGINLOSS_KERNELS=baseline|avx2|avx512`` asks for one (a build the CPU
cannot run, or that was not built, falls back to the next narrower one).
Any other non-empty value gives a ``RuntimeWarning`` at import and the
automatic choice: every build gives the same bits, so a misspelt value
changes no result, only the speed, and should not stop ``import marginloss``.
"""

import importlib
import os
import warnings

from . import _multi_margin as _baseline

BUILDS = ("baseline", "avx2", "avx512")
# NumPy's names of the CPU features each build needs.
_FEATURES = {
    "baseline": (),
    "avx2": ("AVX2",),
    "avx512": ("AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL"),
}


def _cpu_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return __cpu_features__


def _cpu_has_avx2():
    return cpu_supports("avx2")


def cpu_supports(build):
    """Whether this CPU can run the kernel build ``build`` (one of BUILDS)."""
    features = _cpu_features()
    return all(features.get(name, False) for name in _FEATURES[build])


def load(build):
    """The module of kernel build ``build``, or None if it was not built."""
    if build == "baseline":
        return _baseline
    try:
        return importlib.import_module(f"{__package__}._multi_margin_{build}")
    except ImportError:  # not built (no compiler support)
        return None


def _wanted_build():
    """The build MARGINLOSS_KERNELS asks for, or None (unset, empty or unknown)."""
    value = os.environ.get("MARGINLOSS_KERNELS", "")
    wanted = value.strip().lower()
    if wanted in BUILDS:
        return wanted
    if wanted:
        warnings.warn(
            f"MARGINLOSS_KERNELS={value!r} is not a kernel build: expected one of "
            f"{', '.join(BUILDS)} (or unset); using the widest build this CPU runs",
            RuntimeWarning, stacklevel=2,
        )
    return None


def _choose():
    wanted = _wanted_build()
    candidates = BUILDS[: BUILDS.index(wanted) + 1] if wanted is not None else BUILDS
    for build in reversed(candidates):
        if cpu_supports(build):
            module = load(build)
            if module is not None:
                return build, module
    return "baseline", _baseline


_build, multi_margin = _choose()


def kernel_build():
    """'avx512', 'avx2' or 'baseline': the build of the multi-class kernels in use."""
    return _build


def load_multilabel(build):
    """The multi-label kernel module of build ``build`` (``_multilabel_margin``
    and its ``_avx2``/``_avx512`` builds, the same bits), or the baseline
    module if that build was not built."""
    suffix = "" if build == "baseline" else f"_{build}"
    try:
        return importlib.import_module(f"{__package__}._multilabel_margin{suffix}")
    except ImportError:  # not built (no compiler support)
        return importlib.import_module(f"{__package__}._multilabel_margin")


# The multi-label kernels follow the multi-class kernels' build.
multilabel_margin = load_multilabel(_build)
