"""Shared test configuration: hypothesis profiles, the `slow` and `huge` markers, fixtures.

Layout of the suite (``python -m pytest tests/<folder>`` runs one part):

- ``core/``: what the losses compute, each file one concern, parametrised over
  the losses where the same property holds for each (values, PyTorch parity,
  PyTorch's own cases, special values, arrays and ``out=``, loss objects, error
  paths, options such as ``sample_weight``, multi-label and Crammer-Singer
  specifics, fuzzing of the public API);
- ``kernels/``: the compiled kernels' internals (blocks of classes, the
  multi-label sort, the AVX2 build, bounds guards);
- ``runtime/``: threads, concurrent calls, memory, arrays past 2**31 scores, fork;
- ``integrations/``: ``marginloss.torch``, scikit-learn, Dask;
- ``tooling/``: the build, ``python -m marginloss``, the bench, the docs.

``_reference.py`` holds the oracles (NumPy references, PyTorch), ``_helpers.py``
the losses as uniform test subjects and the bitwise checks.  This directory is on
``sys.path`` (pytest's default rootdir import mode puts it there for this file),
so every test module imports them by name.
"""

import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Bounded example counts keep CI short; `--hypothesis-profile=soak` runs long
# (`python -m pytest tests/core/test_fuzz.py --hypothesis-profile=soak
# --hypothesis-show-statistics`: 20,000 calls per fuzz test, under an hour on 2 cores).
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("soak", max_examples=20_000, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="run tests marked slow (builds, cython -a, long soaks)")
    parser.addoption("--runhuge", action="store_true", default=False,
                     help="run tests marked huge (arrays of more than 2**31 scores: "
                          "about 18 GB of memory and 10 minutes)")


def pytest_collection_modifyitems(config, items):
    # A huge test is also slow; --runhuge alone runs it.  CI gives --runslow, never --runhuge.
    run_huge, run_slow = config.getoption("--runhuge"), config.getoption("--runslow")
    for item in items:
        if "huge" in item.keywords:
            if not run_huge:
                item.add_marker(pytest.mark.skip(reason="huge: run with --runhuge"))
        elif "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow"))


@pytest.fixture
def rng(request):
    """A generator with a fixed seed of its own for each test (and parameter set)."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()) + 20_260_213)
