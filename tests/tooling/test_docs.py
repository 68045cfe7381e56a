"""The examples in the docstrings and in README.md run and print what they say."""

import doctest
import importlib
import importlib.util
import pathlib
import re

import numpy as np
import pytest

import marginloss
import marginloss.functional
import marginloss.loss
import marginloss.sklearn

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


_NO_TORCH = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                               reason="PyTorch is not installed (marginloss[torch])")


@pytest.mark.parametrize("module_name", [
    "marginloss.functional", "marginloss.loss", "marginloss.sklearn",
    # marginloss.torch is a package: its public objects are defined in these modules.
    *(pytest.param(f"marginloss.torch.{name}", marks=_NO_TORCH)
      for name in ("_functional", "_modules", "_eager", "_errors")),
])
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_public_objects_have_examples():
    for name in marginloss.__all__:
        obj = getattr(marginloss, name)
        assert ">>> " in (obj.__doc__ or ""), name


def _readme_python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_examples_run_and_match_their_comments():
    blocks = _readme_python_blocks()
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # the values the README states in its comments
    x, y = namespace["x"], namespace["t"]
    assert marginloss.multilabel_margin_loss(x, y) == pytest.approx(0.85, rel=1e-15)
    np.testing.assert_array_equal(namespace["grad"], [[-0.5, 0.5, 0.5, -0.5]])
    xm = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]], dtype=np.float32)
    value = marginloss.multi_margin_loss(xm, [3, 0])
    assert isinstance(value, np.float32) and value == np.float32(0.35)
