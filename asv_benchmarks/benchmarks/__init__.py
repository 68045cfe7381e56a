"""asv benchmarks of marginloss (see ../README.md)."""
