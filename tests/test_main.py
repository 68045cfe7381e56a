"""`python -m marginloss` (the README's first command) runs and agrees with NumPy.

The command line dispatches: no command or ``demo`` to the demo, ``bench`` to
``marginloss._bench`` (tested in test_bench.py).
"""

import subprocess
import sys

import pytest

from marginloss import __main__ as cli
from marginloss import _bench


def test_demo_runs_and_agrees_with_numpy():
    result = subprocess.run([sys.executable, "-m", "marginloss"], check=False,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("matches NumPy") == 2
    assert "DIFFERS" not in result.stdout
    assert "multi_margin_loss(x, target=[3]) = 0.325000" in result.stdout
    assert "gradient = [[-0.5, 0.5, 0.5, -0.5]]" in result.stdout


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
