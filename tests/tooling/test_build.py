"""The build: the variant asked for, the serial fallback, the debug switch, Cython's annotation.

``setup.py`` builds with OpenMP when the compiler has it, serially when it has
not or when ``MARGINLOSS_NO_OPENMP=1`` is set; ``MARGINLOSS_DEBUG=1`` turns the
bounds checks on.  The tests that run ``setup.py`` build small projects in a
temporary directory (a copy of ``setup.py`` and one or two ``.pyx`` files) in a
few seconds each, so they need the source checkout, Cython and a C compiler
(the test extras install Cython).  CI sets ``MARGINLOSS_EXPECT_OPENMP`` to 1 or
0 for the build it tests.
"""

import glob
import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import marginloss
from marginloss import _openmp
from marginloss._threads import effective_n_threads

ROOT = Path(__file__).resolve().parents[2]
SETUP_PY = ROOT / "setup.py"
PYX = ROOT / "pyx"

needs_source = pytest.mark.skipif(
    not SETUP_PY.is_file(), reason="needs the source checkout (setup.py, pyx/)")
posix_compiler = pytest.mark.skipif(
    os.name != "posix", reason="builds with a Unix C compiler driven from a shell script")


def _modules(package_dir, shared=False):
    """The compiled modules in package_dir; with ``shared``, Cython's shared helpers
    (_cyutility, which every build makes beside the kernels) too."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return sorted(path for path in glob.glob(os.path.join(package_dir, "_*" + suffix))
                  if shared or not os.path.basename(path).startswith("_cyutility."))


def _links_openmp_runtime(path):
    """Whether the shared object needs an OpenMP runtime (GNU, LLVM or Intel)."""
    result = subprocess.run(["ldd", path], capture_output=True, text=True, check=True)
    return re.search(r"\blib(g|i)?omp\d*[.-]", result.stdout) is not None


# ------------------------------------------------------------------ the build in use


def test_the_build_is_the_variant_ci_asked_for():
    expected = os.environ.get("MARGINLOSS_EXPECT_OPENMP")
    if expected is None:
        pytest.skip("MARGINLOSS_EXPECT_OPENMP is not set (CI sets it to 1 or 0)")
    assert expected in {"0", "1"}, f"MARGINLOSS_EXPECT_OPENMP must be 0 or 1, got {expected!r}"
    assert marginloss.openmp_enabled() is (expected == "1")


def test_a_serial_build_runs_every_call_on_one_thread():
    if marginloss.openmp_enabled():
        assert _openmp.num_procs() >= 1 and _openmp.max_threads() >= 1
        return
    assert _openmp.max_threads() == 1 and _openmp.num_procs() == 1
    for n_threads in (None, -1, 2, 8):
        assert effective_n_threads(n_threads, 100_000, 10_000_000) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                    reason="reads the shared objects' dependencies with ldd (Linux)")
def test_openmp_enabled_says_whether_the_modules_link_an_openmp_runtime():
    modules = _modules(os.path.dirname(marginloss.__file__), shared=True)
    names = {os.path.basename(path).split(".")[0] for path in modules}
    assert {"_openmp", "_multi_margin", "_multilabel_margin", "_crammer_singer",
            "_cyutility"} <= names
    linked = {os.path.basename(path).split(".")[0]: _links_openmp_runtime(path)
              for path in modules}
    # _reductions (the pairwise sum of the per-sample losses) and Cython's shared
    # helpers (_cyutility) have no parallel loop.
    assert linked.pop("_reductions") is False
    assert linked.pop("_cyutility") is False
    assert linked == dict.fromkeys(linked, marginloss.openmp_enabled())


# ------------------------------------------------------------------ setup.py in a scratch project


def _project(tmp_path, pyx_sources):
    """A scratch project: setup.py, pyx/ with the given files, an empty marginloss/."""
    (tmp_path / "pyx").mkdir(parents=True)
    (tmp_path / "marginloss").mkdir()
    (tmp_path / "marginloss" / "__init__.py").write_text("")
    shutil.copy(SETUP_PY, tmp_path / "setup.py")
    for name, source in pyx_sources.items():
        (tmp_path / "pyx" / name).write_text(source)
    return tmp_path


def _build(project, **env):
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=project, check=False,
        env={**os.environ, "MARGINLOSS_NO_OPENMP": "", "MARGINLOSS_DEBUG": "", **env},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _run(project, code):
    result = subprocess.run([sys.executable, "-c", code], cwd=project, check=False,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _fake_compiler(tmp_path):
    """The real C compiler behind a script that refuses -fopenmp, logging every call."""
    real = os.environ.get("CC") or sysconfig.get_config_var("CC")
    log = tmp_path / "cc.log"
    script = tmp_path / "cc-without-openmp"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        for arg in "$@"; do
            case "$arg" in
                -fopenmp*|-qopenmp*|-lgomp|-lomp|-liomp*)
                    echo "refused $*" >> '{log}'
                    echo "cc-without-openmp: unsupported option $arg" >&2
                    exit 1;;
            esac
        done
        echo "ran $*" >> '{log}'
        exec {real} "$@"
        """))
    script.chmod(0o755)
    return script, log


@needs_source
@posix_compiler
def test_setup_builds_serially_when_the_compiler_has_no_openmp(tmp_path):
    pytest.importorskip("Cython", reason="building needs Cython (in the test extras)")
    project = _project(tmp_path / "project", {"_openmp.pyx": (PYX / "_openmp.pyx").read_text()})
    compiler, log = _fake_compiler(tmp_path)
    output = _build(project, CC=str(compiler))
    assert ("marginloss: building WITHOUT OpenMP, the kernels will run serially: the compiler "
            "cannot build and link an OpenMP program with -fopenmp") in output
    calls = log.read_text().splitlines()
    # The check asked for OpenMP and was refused; the module was then compiled
    # and linked by the fake compiler, without OpenMP.
    assert any(call.startswith("refused") and "check_openmp.c" in call for call in calls)
    assert any(call.startswith("ran") and "pyx/_openmp.c" in call and " -c " in call
               for call in calls)
    assert all("pyx/_openmp.c" not in call for call in calls if call.startswith("refused"))
    runtime = _run(project, "import marginloss._openmp as m; "
                            "print(m.openmp_enabled(), m.max_threads(), m.num_procs())")
    assert runtime == "False 1 1"
    if sys.platform.startswith("linux") and shutil.which("ldd"):
        (module,) = _modules(project / "marginloss")
        assert not _links_openmp_runtime(module)
    # The real compiler, in the same place: OpenMP when it has it (CI: it must).
    output = _build(project)
    openmp = "marginloss: building with OpenMP (-fopenmp)" in output
    if os.environ.get("MARGINLOSS_EXPECT_OPENMP") == "1":
        assert openmp, output
    assert _run(project, "import marginloss._openmp as m; print(m.openmp_enabled())") == \
        str(openmp)


def _build_fails(project, **env):
    """Run a build that must fail; return its output."""
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=project, check=False,
        env={**os.environ, "MARGINLOSS_NO_OPENMP": "", "MARGINLOSS_DEBUG": "", **env},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode != 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@needs_source
def test_setup_stops_without_kernel_sources(tmp_path):
    # An sdist without pyx/ used to build a pure-Python wheel that installed
    # "successfully" and failed at import.
    pytest.importorskip("Cython", reason="setup.py needs Cython (in the test extras)")
    project = _project(tmp_path, {})
    output = _build_fails(project)
    assert ("error: marginloss: no kernel sources found "
            f"({project / 'pyx' / '*.pyx'} matches nothing)") in output
    assert "the Cython kernels in pyx/ are needed to build marginloss" in output
    assert "running build_ext" not in output  # stopped before any build step


@needs_source
@posix_compiler
@pytest.mark.parametrize("compiler", ["/bin/false", "no-such-compiler-for-marginloss"])
def test_setup_stops_without_a_working_c_compiler(tmp_path, compiler):
    pytest.importorskip("Cython", reason="building needs Cython (in the test extras)")
    project = _project(tmp_path, {"_openmp.pyx": (PYX / "_openmp.pyx").read_text()})
    output = _build_fails(project, CC=compiler)
    assert ("error: marginloss needs a working C compiler to build its Cython kernels, and "
            f"the C compiler '{compiler}' (from the CC environment variable) could not "
            "compile and link a one-line C file. Install a C compiler (e.g. gcc) or set CC "
            "to a working one.") in output
    # It stops first: no misleading probe results before the error.
    assert "marginloss: no AVX2 build" not in output
    assert "OpenMP" not in output
    assert not _modules(project / "marginloss")


def _logging_compiler(tmp_path):
    """The real C compiler behind a script that logs every call."""
    real = os.environ.get("CC") or sysconfig.get_config_var("CC")
    log = tmp_path / "cc.log"
    script = tmp_path / "cc-logging"
    script.write_text(f"#!/bin/sh\necho \"$*\" >> '{log}'\nexec {real} \"$@\"\n")
    script.chmod(0o755)
    return script, log


@needs_source
@posix_compiler
def test_the_openmp_probe_compiles_and_links_with_cflags_and_ldflags(tmp_path):
    # Sanitizer or coverage flags in CFLAGS need their runtime at the link: a
    # probe linked without them failed and the build silently went serial.
    pytest.importorskip("Cython", reason="building needs Cython (in the test extras)")
    project = _project(tmp_path / "project", {"_openmp.pyx": (PYX / "_openmp.pyx").read_text()})
    compiler, log = _logging_compiler(tmp_path)
    output = _build(project, CC=str(compiler), CFLAGS="-DMARGINLOSS_CFLAGS_SEEN",
                    LDFLAGS="-Wl,--defsym=marginloss_ldflags_seen=0")
    probe = [call for call in log.read_text().splitlines() if "check_openmp" in call]
    compile_calls = [call for call in probe if " -c " in call]
    link_calls = [call for call in probe if " -c " not in call]
    assert compile_calls and link_calls, probe
    assert all("-DMARGINLOSS_CFLAGS_SEEN" in call for call in compile_calls)
    assert all("-DMARGINLOSS_CFLAGS_SEEN" in call
               and "-Wl,--defsym=marginloss_ldflags_seen=0" in call for call in link_calls)
    if os.environ.get("MARGINLOSS_EXPECT_OPENMP") == "1":
        assert "marginloss: building with OpenMP (-fopenmp)" in output


def _has_debug_info(path):
    with open(path, "rb") as f:
        return b".debug_info" in f.read()


def _setup_module():
    """setup.py as a module (runs no build: setup() is under __main__)."""
    spec = importlib.util.spec_from_file_location("_marginloss_setup", SETUP_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # two builds of a small module
@needs_source
@posix_compiler
def test_release_builds_carry_no_debug_information(tmp_path):
    pytest.importorskip("Cython", reason="building needs Cython (in the test extras)")
    project = _project(tmp_path, {"_openmp.pyx": (PYX / "_openmp.pyx").read_text()})
    _build(project, CFLAGS="")  # -g0 overrides a -g in Python's own CFLAGS
    (module,) = _modules(project / "marginloss")
    assert not _has_debug_info(module)
    _build(project, CFLAGS="-g")  # asked for (e.g. a sanitizer build's stack traces)
    (module,) = _modules(project / "marginloss")
    assert _has_debug_info(module)


@needs_source
def test_debug_builds_keep_debug_information(monkeypatch):
    pytest.importorskip("Cython", reason="setup.py needs Cython (in the test extras)")
    setup_module = _setup_module()

    class Compiler:
        compiler_type = "unix"

    monkeypatch.setattr(setup_module, "_compiles_with", lambda compiler, flag: True)
    for cflags in ("", "-O2 -Wall", "-g0"):
        monkeypatch.setenv("CFLAGS", cflags)
        assert setup_module._no_debug_info_flags(Compiler(), debug=False) == ["-g0"]
        assert setup_module._no_debug_info_flags(Compiler(), debug=True) == []
    for cflags in ("-g", "-O1 -g3", "-ggdb"):
        monkeypatch.setenv("CFLAGS", cflags)
        assert setup_module._no_debug_info_flags(Compiler(), debug=False) == []


@needs_source
def test_marginloss_opt_level_picks_the_optimisation_level(monkeypatch):
    pytest.importorskip("Cython", reason="setup.py needs Cython (in the test extras)")
    setup_module = _setup_module()

    class Compiler:
        compiler_type = "unix"

    monkeypatch.setenv("CFLAGS", "-O2 -g")  # CFLAGS' level does not count: -O3 comes last
    for level, flags in (("", ["-O3"]), ("1", ["-O1"]), (" 0 ", ["-O0"]), ("s", ["-Os"])):
        monkeypatch.setenv("MARGINLOSS_OPT_LEVEL", level)
        assert setup_module._optimization_flags(Compiler()) == flags
    for level in ("4", "-O1", "fast"):
        monkeypatch.setenv("MARGINLOSS_OPT_LEVEL", level)
        with pytest.raises(SystemExit, match=rf"MARGINLOSS_OPT_LEVEL must be one of 0, 1, 2, "
                                             rf"3 or s .*got '{level}'"):
            setup_module._optimization_flags(Compiler())
    Compiler.compiler_type = "msvc"
    monkeypatch.setenv("MARGINLOSS_OPT_LEVEL", "")
    assert setup_module._optimization_flags(Compiler()) == []


PROBE_PYX = '''
def item(const double[::1] values, Py_ssize_t i):
    return values[i]
'''


@pytest.mark.slow  # four builds of a module with memoryviews: about a minute
@needs_source
@posix_compiler
def test_switching_a_build_variable_rebuilds_in_place(tmp_path):
    # Neither Cython nor build_ext looks at the variables: without setup.py's
    # variant record, a second build in place kept the first build's modules.
    pytest.importorskip("Cython", reason="building needs Cython (in the test extras)")
    project = _project(tmp_path, {"_openmp.pyx": (PYX / "_openmp.pyx").read_text(),
                                  "_probe.pyx": PROBE_PYX})
    check = ("import numpy as np, marginloss._openmp as m, marginloss._probe as p\n"
             "values = np.arange(10.0)[:3]\n"
             "try:\n    item = p.item(values, 5)\nexcept IndexError:\n    item = 'IndexError'\n"
             "print(m.openmp_enabled(), item)")
    _build(project)
    openmp, item = _run(project, check).split()
    assert item == "5.0"  # no bounds check: the read goes past the view, inside its base
    if os.environ.get("MARGINLOSS_EXPECT_OPENMP") == "1":
        assert openmp == "True"
    _build(project, MARGINLOSS_DEBUG="1")
    assert _run(project, check).split() == [openmp, "IndexError"]
    output = _build(project, MARGINLOSS_NO_OPENMP="1")
    assert "building WITHOUT OpenMP, the kernels will run serially: MARGINLOSS_NO_OPENMP is set" \
        in output
    assert _run(project, check).split() == ["False", "5.0"]
    _build(project)
    assert _run(project, check).split() == [openmp, "5.0"]


# ------------------------------------------------------------------ cython -a


# What Cython's annotation may show on a prange line: the GIL released before
# the loop and taken back after it, once per call.
GIL_CALLS = {"PyEval_SaveThread", "PyEval_RestoreThread",
             "__Pyx_FastGIL_Remember", "__Pyx_FastGIL_Forget"}


def _annotation(html_text):
    """{line number: (score, names of the Python C-API calls in its C code)}."""
    lines = {}
    pattern = re.compile(
        r'<pre class="cython line score-(\d+)"[^>]*>(?:\+|&#xA0;)'
        r'<span class="">(\d+)</span>:.*?</pre>'
        r"\s*(?:<pre class='cython code[^']*'>(.*?)</pre>)?", re.DOTALL)
    for score, number, code in pattern.findall(html_text):
        code = html.unescape(re.sub(r"<[^>]+>", "", code or ""))
        calls = set(re.findall(r"\b(Py[A-Z][A-Za-z_]*|__Pyx_[A-Za-z_]+)\s*\(", code))
        lines[int(number)] = (int(score), calls)
    return lines


def _nogil_regions(source):
    """Line numbers of the bodies of prange loops and of nogil cdef functions,
    and the line numbers of the prange headers."""
    lines = source.splitlines()
    bodies, headers = set(), set()

    def indent(text):
        return len(text) - len(text.lstrip())

    number = 0
    while number < len(lines):
        text = lines[number]
        start = None
        if re.match(r"\s*for .* in prange\(", text):
            headers.add(number + 1)
            start = number
        elif re.match(r"cdef [^=]*\(", text):  # a function, not a local declaration
            end = number
            while not lines[end].rstrip().endswith(":"):
                end += 1
            if "nogil" in lines[end]:
                start = end
        if start is not None:
            level = indent(text)
            body = start + 1
            while body < len(lines) and (not lines[body].strip()
                                         or indent(lines[body]) > level):
                if lines[body].strip():
                    bodies.add(body + 1)
                body += 1
        number += 1
    return bodies, headers


@pytest.mark.slow
@needs_source
@pytest.mark.parametrize("name", ["_bandwidth", "_crammer_singer", "_multi_margin",
                                  "_multilabel_margin"])
def test_no_python_interaction_inside_the_kernel_loops(tmp_path, name):
    """``cython -a`` of the release build: every line inside a prange loop or
    a nogil function is white, and a prange line only releases the GIL."""
    pytest.importorskip("Cython", reason="annotating needs Cython (in the test extras)")
    spec = importlib.util.spec_from_file_location("_marginloss_setup", SETUP_PY)
    setup_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_module)  # runs no build: setup() is under __main__
    directives = setup_module.cython_directives(debug=False)
    for path in PYX.iterdir():  # the module and the files it includes
        if path.suffix in {".pyx", ".pxi", ".h"}:
            shutil.copy(path, tmp_path)
    command = [sys.executable, "-m", "cython", "-a", f"{name}.pyx", "-o", f"{name}.c"]
    for key, value in directives.items():
        command += ["-X", f"{key}={value}"]
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=600)
    # cython -a writes one page per source file: the module's and each include's
    n_headers = n_bodies = 0
    for page in tmp_path.glob("*.html"):
        source = (tmp_path / f"{page.stem}.pyx").read_text() if page.stem == name else (
            tmp_path / f"{page.stem}.pxi").read_text()
        annotation = _annotation(page.read_text())
        bodies, headers = _nogil_regions(source)
        n_headers += len(headers)
        n_bodies += len(bodies)
        assert set(annotation) == set(range(1, len(source.splitlines()) + 1))
        source_lines = source.splitlines()
        yellow = {number: source_lines[number - 1].strip()
                  for number in sorted(bodies) if annotation[number][0] > 0}
        assert yellow == {}, page.name
        for number in headers:
            assert annotation[number][1] <= GIL_CALLS, source_lines[number - 1]
    assert n_headers and n_bodies > 10  # the parse found the loops
