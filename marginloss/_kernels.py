"""Which build of the multi-class kernels this process uses.

``_multi_margin`` is compiled for x86-64's baseline (SSE2) and runs on every
CPU; ``_multi_margin_avx2``, the same source compiled with ``-mavx2``, runs
its lane loops about 1.7x faster on CPUs with AVX2 and gives the same bits.
The AVX2 build is used when it was built, the CPU (and the OS) support AVX2
as NumPy's own CPU dispatch detects it, and ``MARGINLOSS_KERNELS`` is not
``baseline``.
"""

import os

from . import _multi_margin as _baseline


def _cpu_has_avx2():
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return False
    return bool(__cpu_features__.get("AVX2", False))


def _choose():
    if os.environ.get("MARGINLOSS_KERNELS", "").strip().lower() == "baseline":
        return _baseline
    if not _cpu_has_avx2():
        return _baseline
    try:
        from . import _multi_margin_avx2
    except ImportError:  # not built (no compiler support)
        return _baseline
    return _multi_margin_avx2


multi_margin = _choose()


def kernel_build():
    """'avx2' or 'baseline': the build of the multi-class kernels in use."""
    return "avx2" if multi_margin is not _baseline else "baseline"
