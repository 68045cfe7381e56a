"""The multi-class kernels of ``_multi_margin.pyx``, compiled for AVX-512.

The same source (included below), built by setup.py with ``-mavx512f
-mavx512bw -mavx512dq -mavx512vl``: row blocks of 16 rows instead of AVX2's 8,
the same arithmetic in the same order, so the same bits.
``marginloss._kernels`` picks this module when the CPU has AVX-512.
"""

include "_multi_margin.pyx"
