"""`python -m marginloss` (the README's first command) runs and agrees with NumPy.

The command line dispatches: no command or ``demo`` to the demo, ``bench`` to
``marginloss._tools.bench`` (tested in test_bench.py).
"""

import subprocess
import sys

import pytest

import marginloss
from marginloss import __main__ as cli
from marginloss import _kernels
from marginloss._tools import bench as _bench


def test_demo_runs_and_agrees_with_numpy():
    result = subprocess.run([sys.executable, "-m", "marginloss"], check=False,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    # the first line names the build: OpenMP or serial, AVX2 or baseline kernels
    first = result.stdout.splitlines()[0]
    openmp = "enabled" if marginloss.openmp_enabled() else "NOT enabled (serial build)"
    assert first.startswith(f"marginloss {marginloss.__version__}: OpenMP {openmp}, ")
    assert first.endswith(f", {_kernels.kernel_build()} build of the multi-class kernels")
    assert result.stdout.count("matches NumPy") == 2
    assert "DIFFERS" not in result.stdout
    assert "multi_margin_loss(x, target=[3]) = 0.325000" in result.stdout
    assert "gradient = [[-0.5, 0.5, 0.5, -0.5]]" in result.stdout
    # scikit-learn is in the test extras: the digits comparison runs too
    assert "held-out accuracy" in result.stdout
    assert "accuracy within 1.0 point of LinearSVC's: yes" in result.stdout
    assert "tuning alpha of MultiMarginClassifier" in result.stderr


def test_digits_demo_rows():
    import io

    from marginloss._tools import digits_demo as _digits_demo

    out, err = io.StringIO(), io.StringIO()
    rows = _digits_demo.run(stdout=out, stderr=err)
    names = [name for name, _, _ in rows]
    assert names[0].startswith("MultiMarginClassifier (alpha=")
    assert names[1:] == ["LinearSVC(multi_class='crammer_singer')", "LogisticRegression"]
    for _, accuracy, seconds in rows:
        assert 0.9 < accuracy <= 1.0 and seconds > 0
    assert abs(rows[0][1] - rows[1][1]) <= 0.01  # within 1 point of LinearSVC's accuracy
    assert "fit time no worse than LinearSVC's" in out.getvalue()
    assert "grid search (9 fits)" in err.getvalue()


def test_demo_without_scikit_learn_names_the_extra():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "from marginloss.__main__ import main\n"
            "sys.exit(main([]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "scikit-learn is not installed: pip install 'marginloss[sklearn]'" in result.stdout


@pytest.mark.parametrize("argv", [[], ["demo"]], ids=["no-command", "demo"])
def test_no_command_and_demo_run_the_demo(monkeypatch, argv):
    calls = []
    monkeypatch.setattr(cli, "demo", lambda: calls.append("demo") or 0)
    assert cli.main(argv) == 0
    assert calls == ["demo"]


def test_bench_passes_its_options(monkeypatch):
    calls = []
    monkeypatch.setattr(_bench, "main", lambda *args, **kwargs: calls.append((args, kwargs)) or 0)
    assert cli.main(["bench", "--shape", "100", "20", "--loss", "multilabel", "--k", "5",
                     "--dtype", "float64", "--repeat", "3", "--threads", "1", "-1"]) == 0
    (problems,), kwargs = calls[0]
    assert problems == [_bench.Problem("multilabel", 100, 20, dtype="float64", p=1, k=5)]
    assert kwargs == {"threads": [1, -1], "repeat": 3}

    calls.clear()
    assert cli.main(["bench"]) == 0
    (problems,), kwargs = calls[0]
    assert problems == _bench.make_problems()
    assert kwargs == {"threads": [1, None], "repeat": None}


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m marginloss [-h] {demo,bench}")
    assert "demo" in out and "time the fused loss+gradient" in out


def test_unknown_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["benchmark"])
    assert exit_info.value.code == 2
    assert "argument {demo,bench}: invalid choice: 'benchmark'" in capsys.readouterr().err
