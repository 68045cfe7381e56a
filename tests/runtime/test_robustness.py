"""Robustness beyond argument checking: races on the caller's arrays, fork.

Each scenario runs in a child Python process, so that a crash or a hang fails
the test instead of the suite.  (The kernels' own bounds guards are tested in
``kernels/test_kernel_guards.py``.)
"""

import subprocess
import sys
import textwrap

import pytest


def _run_python(code, timeout=120):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------ targets changed during a call


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
