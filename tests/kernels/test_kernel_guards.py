"""The kernels' own bounds guards: an out-of-range target never reads out of bounds.

The Python layer refuses such targets before any kernel runs, but another
thread of the caller may change the target in place during a call (see
``runtime/test_robustness.py``).  Each kernel must then stay in bounds: a
multi-class row with a bad target becomes NaN, a multi-label entry out of range
ends the row's labels, like -1.

These tests call the compiled modules directly, with their internal signatures.
"""

import numpy as np
import pytest

from marginloss import _crammer_singer, _multi_margin, _multilabel_margin


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multi_margin_kernel_guards_out_of_range_targets(dtype):
    # The Python layer never passes such targets; a caller's thread changing the
    # target in place during a call could.  The kernel must stay in bounds: NaN rows.
    x = np.arange(12, dtype=dtype).reshape(3, 4) / 10
    target = np.array([1, 1 << 40, -5])
    weight = np.ones(4)
    loss = np.empty(3)
    _multi_margin.loss(x, target, weight, 1.0, 1, loss, 1)
    assert np.isfinite(loss[0]) and np.isnan(loss[1:]).all()
    gradient = np.zeros_like(x)
    _multi_margin.loss_gradient(x, target, weight, 1.0, 2, 0.25, np.ones(1), 0, loss, gradient, 1)
    assert np.isfinite(gradient[0]).all() and np.isnan(gradient[1:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("target_dtype", [np.int32, np.int64])
def test_multilabel_kernel_guards_out_of_range_targets(dtype, target_dtype):
    # An out-of-range entry ends the sample's labels, like -1.
    x = np.array([[0.1, 0.2, 0.4, 0.8]] * 2, dtype=dtype)
    target = np.array([[3, 0, 1 << 30, 1], [3, 0, -1, 1]], dtype=target_dtype)
    scratch = (np.empty((1, 8), dtype=np.intp), np.zeros((1, 4), dtype=np.uint8),
               np.empty((1, 8), dtype=dtype), np.empty((1, 15)))
    loss = np.empty(2)
    _multilabel_margin.loss(x, target, loss, *scratch, 1)
    assert loss[0] == loss[1] and not scratch[1].any()
    gradient = np.empty_like(x)
    _multilabel_margin.loss_gradient(x, target, 0.25, np.ones(1), 0, loss, gradient, *scratch,
                                     np.zeros((1, 4)), 1)
    np.testing.assert_array_equal(gradient[0], gradient[1])


def test_crammer_singer_kernel_guards_out_of_range_targets():
    # The Python layer refuses such targets; the kernel's own guard (for a target
    # changed by another thread after validation) gives a NaN row, never a bad read.
    x = np.zeros((3, 4))
    target = np.array([0, 7, -2], dtype=np.int64)
    loss = np.empty(3)
    _crammer_singer.loss(x, target, np.ones(4), 1.0, 1, loss, 1)
    assert loss[0] == 1.0 and np.all(np.isnan(loss[1:]))
    gradient = np.empty_like(x)
    _crammer_singer.loss_gradient(x, target, np.ones(4), 1.0, 1, 1.0, np.ones(1), 0, loss,
                                  gradient, 1)
    np.testing.assert_array_equal(gradient[0], [-1.0, 1.0, 0.0, 0.0])
    assert np.all(np.isnan(gradient[1:]))
