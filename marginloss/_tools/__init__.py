"""Tooling beside the runtime: the demo, the benchmarks and their yardsticks.

Nothing here is imported by ``import marginloss``.  ``python -m marginloss``
runs the demo (`demo`, `digits_demo`) and ``python -m marginloss bench`` the
benchmark (`bench`); `numpy_reference` holds the vectorised NumPy versions
both compare against, and `small_calls` the per-call cost against PyTorch
(also tracked by ``asv_benchmarks/benchmarks/small_calls.py``).
"""
