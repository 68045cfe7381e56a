"""What the distribution carries: version, licence, extras, typing files, compiled modules.

Most tests read the installed package and its metadata, so they hold for an
editable install as for a wheel.  Those about the installed wheel itself (its
tag, that it holds every compiled module) run against a wheel installed into
site-packages, as CI's wheel stage does (``.ci/run``); there it also sets
``MARGINLOSS_EXPECT_INSTALLED=1``, and the suite checks that it tests the
installed package, not a source tree.
"""

import ast
import glob
import importlib
import importlib.metadata
import inspect
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import marginloss

PACKAGE = Path(marginloss.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[2]  # the checkout, or CI's copy of the tests
# _cyutility: Cython's helpers (typed memoryviews), built once for every kernel module.
COMPILED = {"_openmp", "_bandwidth", "_crammer_singer", "_multi_margin", "_multilabel_margin",
            "_cyutility"}


def _installed_dist_info():
    """The .dist-info folder beside the imported package, or None (an editable install)."""
    found = glob.glob(str(PACKAGE.parent / "marginloss-*.dist-info"))
    return Path(found[0]) if len(found) == 1 else None


def _compiled_modules():
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return {path.name[: -len(suffix)] for path in PACKAGE.glob("_*" + suffix)}


# ------------------------------------------------------------------ the version


def test_the_version_is_the_metadata_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", marginloss.__version__)
    assert importlib.metadata.version("marginloss") == marginloss.__version__


def test_python_m_marginloss_version():
    result = subprocess.run([sys.executable, "-m", "marginloss", "--version"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"marginloss {marginloss.__version__}\n"


def test_the_version_is_written_once():
    pyproject = ROOT / "pyproject.toml"
    if not (ROOT / "setup.py").is_file():
        pytest.skip("needs the source checkout (pyproject.toml, setup.py)")
    text = pyproject.read_text()
    project = text[text.index("[project]"):text.index("\n[", text.index("[project]") + 1)]
    assert re.search(r"^version\s*=", project, flags=re.M) is None
    assert re.search(r'^dynamic = \["version"\]', project, flags=re.M)
    assert 'version = {attr = "marginloss.__version__"}' in text


def test_the_changelog_has_this_release():
    changelog = ROOT / "CHANGELOG.md"
    if not changelog.is_file():
        pytest.skip("needs the source checkout or the sdist (CHANGELOG.md)")
    headings = re.findall(r"^## \[?(\d+\.\d+\.\d+)\]?", changelog.read_text(), flags=re.M)
    assert headings and headings[0] == marginloss.__version__


# ------------------------------------------------------------------ licence and metadata


def test_the_licence_is_in_the_metadata_and_installed():
    metadata = importlib.metadata.metadata("marginloss")
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata.get_all("License-File") == ["LICENSE"]
    dist_info = _installed_dist_info()
    if dist_info is not None:  # the wheel's copy
        text = (dist_info / "licenses" / "LICENSE").read_text()
    else:
        text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n")
    assert "Copyright (c) 2026, the marginloss developers" in text


def test_the_project_urls_are_absolute():
    urls = dict(entry.split(", ", 1)
                for entry in importlib.metadata.metadata("marginloss").get_all("Project-URL"))
    assert set(urls) >= {"Homepage", "Source", "Changelog"}
    assert all(url.startswith("https://") for url in urls.values())


def test_readme_links_are_absolute():
    """A package index shows the README without the repository: a relative link breaks."""
    links = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert relative == []
    source = dict(entry.split(", ", 1) for entry in
                  importlib.metadata.metadata("marginloss").get_all("Project-URL"))["Source"]
    for link in links:
        if "github.com/marginloss/" in link:
            assert link.startswith(source + "/"), link


def _requirements(extra):
    pattern = re.compile(rf"""\s*;\s*extra\s*==\s*["']{extra}["']\s*$""")
    return sorted(pattern.sub("", requirement)
                  for requirement in importlib.metadata.requires("marginloss")
                  if pattern.search(requirement))


def test_the_torch_and_bench_extras_take_any_torch_from_the_tested_release_on():
    from marginloss import torch as marginloss_torch  # noqa: F401 (skips without torch)

    minimum = ".".join(map(str, marginloss_torch._MIN_TORCH))
    assert [r for r in _requirements("torch") if r.startswith("torch")] == [f"torch>={minimum}"]
    assert [r for r in _requirements("bench") if r.startswith("torch")] == [f"torch>={minimum}"]
    # The tests pin the exact oracle release.
    assert [r for r in _requirements("test") if r.startswith("torch")] == [f"torch=={minimum}.0"]


def test_the_test_extra_has_mypy():
    assert any(r.startswith("mypy") for r in _requirements("test"))


# ------------------------------------------------------------------ the torch version check


def _fake_torch(folder, version):
    package = folder / "torch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"__version__ = {version!r}\n")
    (package / "nn").mkdir()
    (package / "nn" / "__init__.py").write_text("")
    (package / "nn" / "functional.py").write_text("")
    return folder


@pytest.mark.parametrize("version", ["2.12.1", "2.12.1+cpu", "1.13.0", "2.0.0"])
def test_marginloss_torch_refuses_an_older_torch(tmp_path, version):
    fake = _fake_torch(tmp_path / "fake", version)
    code = textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(fake)!r})
        try:
            import marginloss.torch
        except ImportError as error:
            print(error)
        else:
            print("imported")
        """)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"marginloss.torch needs PyTorch 2.13 or later, the oldest release it is tested "
        f"with; the installed torch is {version}. Upgrade it: pip install 'torch>=2.13'")


def test_the_torch_version_check_reads_release_numbers():
    marginloss_torch = pytest.importorskip("marginloss.torch")
    release = marginloss_torch._release
    assert release("2.13.0+cpu") == (2, 13)
    assert release("2.13.0a0+git1234") == (2, 13)
    assert release("2.9.1") == (2, 9)  # not compared as text: 2.9 < 2.13
    assert release("10.0") == (10, 0)
    assert release("unknown") is None
    assert release("2.9.1") < marginloss_torch._MIN_TORCH <= release("2.13.0")
    assert release("3.0.0") > marginloss_torch._MIN_TORCH


# ------------------------------------------------------------------ typing files


def test_the_package_is_typed():
    assert (PACKAGE / "py.typed").is_file()


def _stub_functions(path):
    tree = ast.parse(path.read_text())
    return {node.name: [arg.arg for arg in node.args.posonlyargs + node.args.args
                        + node.args.kwonlyargs]
            for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_the_public_names_from_compiled_modules_have_stubs():
    """Every public name that comes from a compiled module has a .pyi stub."""
    compiled = _compiled_modules()
    for name in marginloss.__all__:
        module = getattr(marginloss, name).__module__
        if module.rpartition(".")[2] in compiled:
            stub = PACKAGE / (module.rpartition(".")[2] + ".pyi")
            assert stub.is_file(), module
            assert name in _stub_functions(stub)
    assert marginloss.openmp_enabled.__module__ == "marginloss._openmp"


def test_the_stubs_match_the_compiled_modules():
    """Each stub names the module's functions with their parameters, no more, no fewer."""
    stubs = sorted(PACKAGE.glob("*.pyi"))
    assert stubs
    for stub in stubs:
        module = importlib.import_module(f"marginloss.{stub.stem}")
        assert stub.stem in _compiled_modules()
        runtime = {name: [p for p in inspect.signature(function).parameters]
                   for name, function in vars(module).items()
                   if callable(function) and not name.startswith("__")
                   and getattr(function, "__module__", None) == module.__name__}
        assert _stub_functions(stub) == runtime, stub.name


# ------------------------------------------------------------------ the installed wheel


def test_the_tested_package_is_the_installed_one():
    """CI's wheel stage: the suite imports the wheel from site-packages, not a source tree."""
    if os.environ.get("MARGINLOSS_EXPECT_INSTALLED") != "1":
        pytest.skip("MARGINLOSS_EXPECT_INSTALLED is not set (CI's wheel stage sets it)")
    site_packages = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    assert PACKAGE.parent in site_packages, marginloss.__file__
    assert _installed_dist_info() is not None


def test_the_installed_wheel_holds_every_compiled_module():
    dist_info = _installed_dist_info()
    if dist_info is None:
        pytest.skip("an editable install (CI's wheel stage installs the wheel)")
    wheel = (dist_info / "WHEEL").read_text()
    assert "Root-Is-Purelib: false" in wheel
    tags = re.findall(r"^Tag: (\S+)$", wheel, flags=re.M)
    assert tags and all(not tag.endswith("-none-any") for tag in tags), tags
    record = (dist_info / "RECORD").read_text()
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert COMPILED <= _compiled_modules()
    for name in sorted(_compiled_modules()):
        assert f"marginloss/{name}{suffix}," in record, name
    for name in ("py.typed", "_openmp.pyi"):
        assert f"marginloss/{name}," in record, name
    assert re.search(r"^marginloss-[^/]+\.dist-info/licenses/LICENSE,", record, flags=re.M)
