"""The package is typed: ``mypy --strict`` accepts code that uses its public API.

Three short files use the public API of ``marginloss``, ``marginloss.sklearn``
and ``marginloss.torch`` as a user would; one mypy run (``--strict``, the
package found as installed, or from the source checkout for an editable
install, whose import hook mypy cannot follow) must report no error in any of
them.  An unannotated public function fails here: under ``--strict`` a call to
it is an error (``no-untyped-call``).  Errors inside marginloss's own private
modules are not this test's business (``--follow-imports=silent``).
"""

import os
import re
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import marginloss

pytest.importorskip("mypy", reason="needs mypy (in the test extras)")

USES = {
    "marginloss": '''
        import numpy as np

        import marginloss
        from marginloss import MultiLabelMarginLoss, MultilabelMarginLoss, MultiMarginLoss

        x = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]], dtype=np.float32)
        y = np.array([3, 0])
        t = np.array([[3, 0, -1, 1], [0, -1, -1, -1]])
        out = np.empty_like(x)

        version: str = marginloss.__version__
        enabled: bool = marginloss.openmp_enabled()
        loss_1 = marginloss.multi_margin_loss(x, y, p=2, margin=0.5, weight=[1.0, 2.0, 1.0, 1.0],
                                              reduction="sum", sample_weight=np.ones(2),
                                              n_threads=1)
        grad_1 = marginloss.multi_margin_loss_grad(x, y, grad_output=2.0, out=out)
        loss_2, grad_2 = marginloss.multi_margin_loss_and_grad(x, y, multi_class="crammer_singer")
        loss_3 = marginloss.multilabel_margin_loss(x, t, reduction="none")
        grad_3 = marginloss.multilabel_margin_loss_grad(x, t)
        loss_4, grad_4 = marginloss.multilabel_margin_loss_and_grad(x, t, margin=1.0)

        criterion = MultiMarginLoss(p=1, margin=1.0, reduction="mean", n_threads=None)
        loss_5 = criterion(x, y)
        grad_5 = criterion.gradient(x, y, grad_output=2.0)
        loss_6, grad_6 = criterion.loss_and_gradient(x, y)
        multilabel = MultiLabelMarginLoss(reduction="sum")
        loss_7 = multilabel(x, t)
        grad_7 = multilabel.gradient(x, t)
        loss_8, grad_8 = MultilabelMarginLoss().loss_and_gradient(x, t)
    ''',
    "marginloss.sklearn": '''
        import numpy as np

        from marginloss.sklearn import (
            MultiMarginClassifier,
            multi_margin_loss_metric,
            multi_margin_scorer,
            multilabel_margin_loss_metric,
            multilabel_margin_scorer,
        )

        rng = np.random.default_rng(0)
        X = rng.normal(size=(30, 4))
        labels = np.arange(30) % 3

        classifier = MultiMarginClassifier(p=2, alpha=1e-3, max_iter=50)
        fitted = classifier.fit(X, labels, sample_weight=np.ones(30))
        scores = fitted.decision_function(X)
        predicted = fitted.predict(X)
        value_1 = multi_margin_loss_metric(labels, scores, multi_class="crammer_singer")
        value_2 = multilabel_margin_loss_metric(np.eye(3, dtype=int)[labels], scores)
        scorer = multi_margin_scorer(p=1)
        score = scorer(fitted, X, labels)
        multilabel_scorer = multilabel_margin_scorer()
    ''',
    "marginloss.torch": '''
        import torch

        from marginloss.torch import (
            MultiLabelMarginLoss,
            MultiMarginLoss,
            multi_margin_loss,
            multilabel_margin_loss,
        )

        x = torch.randn(4, 3, requires_grad=True)
        y = torch.tensor([0, 1, 2, 0])
        t = torch.tensor([[0, -1, -1], [1, 2, -1], [2, -1, -1], [0, 1, 2]])

        loss: torch.Tensor = multi_margin_loss(x, y, p=2, margin=0.5, weight=torch.ones(3),
                                               reduction="sum")
        (gradient,) = torch.autograd.grad(loss, [x])
        loss = multilabel_margin_loss(x, t, reduction="none")
        criterion = MultiMarginLoss(p=1, margin=1.0, weight=None, reduction="mean")
        loss = criterion(x, y)
        loss = criterion.forward(x, y)
        weight: torch.Tensor | None = criterion.weight
        p: int = criterion.p
        multilabel = MultiLabelMarginLoss(reduction="sum")
        loss = multilabel.forward(x, t)
        reduction: str = multilabel.reduction
    ''',
}


def _file_name(module):
    return "use_" + module.replace(".", "_") + ".py"


def _in_site_packages(folder):
    folders = set(site.getsitepackages() + [site.getusersitepackages()])
    return any(os.path.realpath(folder) == os.path.realpath(path) for path in folders)


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory):
    """{file name: mypy's error lines for it}, from one run over the three files."""
    folder = tmp_path_factory.mktemp("typing")
    for module, code in USES.items():
        (folder / _file_name(module)).write_text(textwrap.dedent(code))
    env = dict(os.environ)
    env.pop("MYPYPATH", None)
    package_parent = str(Path(marginloss.__file__).resolve().parents[1])
    if not _in_site_packages(package_parent):
        # An editable install: mypy cannot follow setuptools' import hook.
        env["MYPYPATH"] = package_parent
    command = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
               "--python-executable", sys.executable, "--cache-dir", str(folder / "cache"),
               "--no-color-output", "--show-error-codes",
               *sorted(_file_name(module) for module in USES)]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    # 0: no error, 1: errors reported; anything else is mypy failing to run.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    errors = {}
    for line in result.stdout.splitlines():
        match = re.match(r"(use_\w+\.py):\d+: error: ", line)
        if match:
            errors.setdefault(match[1], []).append(line)
        elif ": error: " in line:
            errors.setdefault("elsewhere", []).append(line)
    return errors


@pytest.mark.parametrize("module", list(USES))
def test_mypy_strict_accepts_code_using_the_public_api(mypy_errors, module):
    errors = mypy_errors.get(_file_name(module), []) + mypy_errors.get("elsewhere", [])
    assert not errors, "mypy --strict:\n" + "\n".join(errors)
