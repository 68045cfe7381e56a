"""Shared test configuration: hypothesis profiles, the `slow` and `huge` markers, fixtures.

The suite's layout (core/, kernels/, runtime/, integrations/, tooling/) and its
shared modules (``_reference.py``, ``_helpers.py``) are described in README.md
next to this file.  This directory is on ``sys.path`` (pytest's default import
mode puts it there for this file), so test modules import those by name.
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


# Run first: the hand-computed cases at the kernels' edges fail in seconds on an
# off-by-one in a block's tail, before the long parametrised files.
FIRST = ("test_hand_cases.py",)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in FIRST)  # stable: order kept otherwise
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
