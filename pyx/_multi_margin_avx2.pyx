"""The multi-class kernels of ``_multi_margin.pyx``, compiled for AVX2.

The same source (included below), built by setup.py with ``-mavx2`` so that
GCC vectorises the lane loops with 256-bit registers instead of x86-64's
baseline SSE2.  The arithmetic is the same, term by term and in the same
order (no fused multiply-adds: ``-ffp-contract=off``), so the results are the
same bits.  ``marginloss._kernels`` picks this module when the CPU has AVX2.
"""

include "_multi_margin.pyx"
