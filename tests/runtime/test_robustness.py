"""Robustness beyond argument checking: races on the caller's arrays, fork,
overflow of float32 results, signed zeros, odd array-likes."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

import marginloss
from marginloss import _multi_margin, _multilabel_margin


def _run_python(code, timeout=120):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------ targets changed during a call


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


@pytest.mark.parametrize("loss_name", ["multi_margin_loss", "multilabel_margin_loss"])
def test_target_changed_by_another_thread_never_crashes(loss_name):
    # A thread flips one target entry between valid and absurd values while calls run:
    # each call must raise the range error or return, never touch memory out of bounds.
    result = _run_python(f"""
        import threading, time
        import numpy as np, marginloss
        n, c = 2000, 100
        x = np.zeros((n, c))
        if "{loss_name}" == "multi_margin_loss":
            target = np.zeros(n, dtype=np.int64)
            index, bad = -1, 1 << 40
        else:
            target = np.tile(np.arange(c), (n, 1))
            index, bad = (-1, 0), 10**9
        stop = False
        def flip():
            while not stop:
                target[index] = bad
                target[index] = 0
        thread = threading.Thread(target=flip, daemon=True)
        thread.start()
        deadline = time.monotonic() + 2.0
        calls = 0
        try:
            while time.monotonic() < deadline:
                for f in (marginloss.{loss_name}, marginloss.{loss_name}_grad):
                    try:
                        f(x, target, n_threads=1)
                    except ValueError as exc:
                        assert str(exc).startswith("target out of range"), exc
                    calls += 1
        finally:
            stop = True
            thread.join()
        print("calls", calls)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 10


# ------------------------------------------------------------------------- fork


def test_forked_child_after_a_threaded_call_does_not_hang():
    # GNU OpenMP's pool does not survive fork(); the child must fall back to one thread.
    result = _run_python("""
        import os
        import numpy as np, marginloss
        rng = np.random.default_rng(0)
        x = rng.standard_normal((100000, 10)); y = rng.integers(0, 10, 100000)
        t = np.where(rng.random((100000, 10)) < 0.3, y[:, None], -1)
        parent = (marginloss.multi_margin_loss(x, y, n_threads=2),
                  marginloss.multilabel_margin_loss(x, t, n_threads=2))
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            child = (marginloss.multi_margin_loss(x, y, n_threads=2),
                     marginloss.multilabel_margin_loss(x, t, n_threads=2))
            os.write(write, repr([float(v) for v in child]).encode())
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        child = os.read(read, 1000).decode()
        assert status == 0
        assert child == repr([float(v) for v in parent]), (child, parent)
        print("ok")
    """, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


# ----------------------------------------------------------- float32 overflow


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_float32_result_beyond_range_is_inf_without_warning(reduction):
    # Finite in float64, beyond float32's range: inf, as PyTorch, with no warning or
    # FloatingPointError even when the caller asks NumPy to raise on overflow.
    x = np.array([[0.0, 1e20]], dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        loss, grad = marginloss.multi_margin_loss_and_grad(x, [0], p=2, reduction=reduction)
    assert np.isposinf(loss).all() and loss.dtype == np.float32
    expected = torch.nn.functional.multi_margin_loss(torch.tensor(x), torch.tensor([0]), p=2,
                                                     reduction=reduction)
    assert np.isposinf(expected.numpy()).all()
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.multi_margin_loss(xt, torch.tensor([0]), p=2,
                                          reduction=reduction).sum().backward()
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-6)


# ---------------------------------------------------------------- signed zeros


def test_loss_of_inactive_row_with_negative_weight_is_plus_zero_as_torch():
    x = np.array([[0.0, 5.0]])
    weight = np.array([1.0, -1.0])
    loss = marginloss.multi_margin_loss(x, [1], weight=weight, reduction="none")
    expected = torch.nn.functional.multi_margin_loss(torch.tensor(x), torch.tensor([1]),
                                                     weight=torch.tensor(weight),
                                                     reduction="none").numpy()
    assert loss[0] == 0 and not np.signbit(loss[0]) and not np.signbit(expected[0])


# ------------------------------------------------------------ odd array-likes


def test_tensor_that_requires_grad_is_a_type_error():
    x = torch.zeros(2, 3, requires_grad=True)
    with pytest.raises(TypeError, match=r"^input must be convertible to a NumPy array; "
                                        r"got Tensor \(RuntimeError: .*detach"):
        marginloss.multi_margin_loss(x, [0, 1])


def test_unsupported_tensor_dtype_is_a_type_error():
    x = torch.zeros(2, 3, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match=r"^input must be convertible to a NumPy array; "
                                        r"got Tensor \(TypeError: .*BFloat16"):
        marginloss.multilabel_margin_loss(x, [[0, -1, -1], [1, -1, -1]])


def test_cpu_tensors_work_like_arrays():
    x = torch.randn(5, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0])
    assert marginloss.multi_margin_loss(x, y) == marginloss.multi_margin_loss(x.numpy(),
                                                                              y.numpy())


@pytest.mark.parametrize("argument", ["input", "target", "weight", "grad_output"])
def test_masked_arrays_are_refused(argument):
    args = dict(input=np.zeros((2, 3)), target=np.array([0, 1]), weight=np.ones(3),
                grad_output=np.ones(2))
    args[argument] = np.ma.masked_array(args[argument])
    with pytest.raises(TypeError, match=rf"^{argument} must not be a masked array"):
        marginloss.multi_margin_loss_grad(args["input"], args["target"], weight=args["weight"],
                                          reduction="none", grad_output=args["grad_output"])
