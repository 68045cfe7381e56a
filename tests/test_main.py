"""`python -m marginloss` (the README's first command) runs and agrees with NumPy."""

import subprocess
import sys


def test_demo_runs_and_agrees_with_numpy():
    result = subprocess.run([sys.executable, "-m", "marginloss"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("matches NumPy") == 2
    assert "DIFFERS" not in result.stdout
    assert "multi_margin_loss(x, target=[3]) = 0.325000" in result.stdout
    assert "gradient = [[-0.5, 0.5, 0.5, -0.5]]" in result.stdout
