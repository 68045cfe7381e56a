"""The multi-label kernels of ``_multilabel_margin.pyx``, compiled for AVX2.

The same source (included below), built by setup.py with ``-mavx2``
so that GCC vectorises the counting passes and the lane sums with wider
registers.  The arithmetic is the same, term by term and in the same order
(no contraction into fused multiply-adds: ``-ffp-contract=off``; the one
explicit fused multiply-add adds exact products, so it rounds as a multiply and
an add do), so the results are the same bits.  ``marginloss._kernels`` picks
this module when the CPU has AVX2.
"""

include "_multilabel_margin.pyx"
