"""Build the compiled kernels of marginloss.

Metadata lives in pyproject.toml; this file only defines the extension modules
and their compiler flags.  OpenMP is used when the compiler supports it, unless
MARGINLOSS_NO_OPENMP=1 is set; without it the kernels run serially and
``marginloss.openmp_enabled()`` returns False.  Set MARGINLOSS_DEBUG=1 to build
with bounds checks on (for tests of the kernels themselves).  Switching either
variable rebuilds everything on the next build, also in place (the C files of
the two Cython variants live apart under build/, and build/variant.txt records
the flags of the last build).  No -march=native:
the build must run on any CPU of its architecture; the multi-class kernels get
AVX2 and AVX-512 builds instead, chosen at run time (marginloss/_kernels.py).

The build stops early with a plain error when the kernel sources (pyx/*.pyx)
are missing or when the C compiler cannot build a minimal extension.  Release
builds carry no debug information (-g0) unless MARGINLOSS_DEBUG=1 is set or
CFLAGS asks for it (-g, e.g. for a sanitizer build).  The kernels are built at
-O3; MARGINLOSS_OPT_LEVEL=1 (0, 1, 2, 3 or s) picks another level (CI's sanitizer
build: faster to compile, the same results).
"""

import glob
import os
import shlex
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError, PlatformError

# Every pyx/NAME.pyx becomes the extension module marginloss.NAME.
PYX_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyx")
# Cython's own helpers (the typed-memoryview type and its functions, about 1 MB of
# C) are generated once, into this module, which the others import, instead of
# into each of them: the build compiles about 40 % less C.
SHARED_UTILITY = "marginloss._cyutility"

KERNELS = sorted(
    os.path.splitext(os.path.basename(path))[0]
    for path in glob.glob(os.path.join(PYX_DIR, "*.pyx"))
)


def _check_kernel_sources():
    """Stop with a plain error when there is no pyx/*.pyx to build.

    Without it setuptools would build a pure-Python package that installs
    "successfully" and fails at ``import marginloss``.
    """
    if not KERNELS:
        raise SystemExit(
            f"error: marginloss: no kernel sources found ({os.path.join(PYX_DIR, '*.pyx')} "
            "matches nothing); this source tree or sdist is incomplete: the Cython "
            "kernels in pyx/ are needed to build marginloss"
        )


def _user_flags(name):
    """The flags in the environment variable ``name`` (CFLAGS, LDFLAGS), split."""
    return shlex.split(os.environ.get(name, ""))


def _compiler_name(compiler):
    """The C compiler a build uses, as a user would name it (and where it comes from)."""
    if compiler.compiler_type == "msvc":
        return "MSVC (cl.exe)"
    command = getattr(compiler, "compiler_so", None) or ["cc"]
    origin = " (from the CC environment variable)" if os.environ.get("CC") else ""
    return f"'{command[0]}'{origin}"


def _check_c_compiler(compiler):
    """Stop with a plain error unless the compiler builds a minimal extension.

    A broken or missing compiler would otherwise show up first as misleading
    probe results (no AVX2, no OpenMP) and end in a generic error of setuptools.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check_compiler.c")
        with open(path, "w") as f:
            f.write("int marginloss_check(void) { return 0; }\n")
        try:
            objects = compiler.compile([path], output_dir=tmp)
            if compiler.compiler_type != "msvc":
                compiler.link_shared_object(objects, "check_compiler.so", output_dir=tmp)
        except (CompileError, LinkError, OSError) as error:  # OSError: no such program
            raise PlatformError(
                "marginloss needs a working C compiler to build its Cython kernels, and "
                f"the C compiler {_compiler_name(compiler)} could not compile and link a "
                "one-line C file. Install a C compiler (e.g. gcc) or set CC to a working "
                f"one. (What failed: {error}; the compiler's own output, if any, is above.)"
            ) from None


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _openmp_flags(compiler):
    """Return ((compile_args, link_args), None) for OpenMP, or (None, why not).

    The check builds and links a program calling the OpenMP runtime, so a
    compiler that takes -fopenmp but has no runtime (or no omp.h) also gives
    a serial build.  It compiles with the user's CFLAGS (the compiler command
    carries them) and links with the user's LDFLAGS and CFLAGS, as the
    extensions are linked: a -fsanitize or --coverage flag needs its runtime
    at the link too.
    """
    if _env_flag("MARGINLOSS_NO_OPENMP"):
        return None, "MARGINLOSS_NO_OPENMP is set"
    if compiler.compiler_type == "msvc":
        return (["/openmp"], []), None
    flags = ["-fopenmp"]
    source = textwrap.dedent(
        """
        #include <omp.h>
        int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check_openmp.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(
                objects, "check_openmp", output_dir=tmp,
                extra_postargs=flags + _user_flags("LDFLAGS") + _user_flags("CFLAGS"),
            )
        except (CompileError, LinkError):  # no OpenMP, whatever the compiler said
            return None, ("the compiler cannot build and link an OpenMP program with "
                          "-fopenmp (its errors are above)")
    return (flags, flags), None


# Flags that change no result (each kept only if the compiler takes it):
# -fno-trapping-math: the kernels never trap on floating-point exceptions, so
#   GCC may if-convert the branch-free selects and vectorise the lane loops;
# -fdisable-tree-cunrolli: GCC's early complete unrolling would turn the
#   fixed-size lane loops into straight-line code that it then leaves scalar;
# -ffp-contract=off: no fused multiply-adds, so every product is rounded as
#   the code (and PyTorch) writes it, on every architecture;
# -fno-tree-loop-distribute-patterns: GCC would turn the zeroing of a row's
#   lane sums into a memset call (rep stos, about 5 ns a row, a third of the
#   per-row cost of the multi-class kernel); as a loop it is a few stores.
# Never -ffast-math or -ffinite-math-only: the kernels propagate NaN and keep
# signed zeros, and every sum is evaluated in the order the code writes.
SPEED_FLAGS = [
    "-fno-trapping-math",
    "-fdisable-tree-cunrolli",
    "-ffp-contract=off",
    "-fno-tree-loop-distribute-patterns",
]
# Modules named *_avx2 are a second build of a kernel for CPUs with AVX2,
# chosen at run time (marginloss/_kernels.py); they are left out when the
# compiler cannot target AVX2 (another architecture, MSVC).
AVX2_FLAGS = ["-mavx2"]
# Likewise *_avx512 for CPUs with AVX-512 (F, BW, DQ, VL: x86-64-v4).
AVX512_FLAGS = ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl"]


def _compiles_with(compiler, flag):
    """Whether the compiler accepts ``flag`` (GCC-only flags are dropped elsewhere)."""
    if compiler.compiler_type == "msvc":
        return False
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check_flag.c")
        with open(path, "w") as f:
            f.write("int main(void) { return 0; }\n")
        try:
            compiler.compile([path], output_dir=tmp, extra_postargs=[flag, "-Werror"])
        except CompileError:  # the compiler refused the flag
            return False
    return True


def _no_debug_info_flags(compiler, debug):
    """-g0 for a release build: no debug information in the shipped modules
    (it made them about 5x larger).  Kept with MARGINLOSS_DEBUG=1, and when
    CFLAGS asks for debug information (-g, -g3, ..., e.g. a sanitizer build
    that wants readable stack traces)."""
    if debug or compiler.compiler_type == "msvc":
        return []
    if any(flag.startswith("-g") and flag != "-g0" for flag in _user_flags("CFLAGS")):
        return []
    return ["-g0"] if _compiles_with(compiler, "-g0") else []


def _optimization_flags(compiler):
    """-O3, or -O<level> when MARGINLOSS_OPT_LEVEL=<level> is set (0, 1, 2, 3, s):
    CI's sanitizer build takes -O1, which compiles in about half the time.  The
    kernels give the same bits at any level (floating-point contraction is off
    in every build); only their speed changes."""
    if compiler.compiler_type == "msvc":
        return []
    level = os.environ.get("MARGINLOSS_OPT_LEVEL", "").strip() or "3"
    if level not in ("0", "1", "2", "3", "s"):
        raise SystemExit(
            f"error: marginloss: MARGINLOSS_OPT_LEVEL must be one of 0, 1, 2, 3 or s "
            f"(the compiler's -O level), got {level!r}"
        )
    return [f"-O{level}"]


def _record_variant(path, variant):
    """Write ``variant`` to ``path`` unless the file already holds it.

    Every extension depends on this file, so a build of another variant (other
    flags, OpenMP or not, debug or not) gives it a newer time than every
    module built before, and build_ext rebuilds them all, in place too:
    otherwise it would skip modules whose sources did not change and leave
    the previous variant in place.
    """
    try:
        with open(path) as f:
            if f.read() == variant:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(variant)


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:  # no -j given: compile the modules on every core
            self.parallel = True

    def build_extensions(self):
        _check_c_compiler(self.compiler)
        openmp, why_serial = _openmp_flags(self.compiler)
        speed_flags = [flag for flag in SPEED_FLAGS if _compiles_with(self.compiler, flag)]
        no_debug_info = _no_debug_info_flags(self.compiler, _env_flag("MARGINLOSS_DEBUG"))
        for suffix, isa_flags in (("_avx2", AVX2_FLAGS), ("_avx512", AVX512_FLAGS)):
            if not all(_compiles_with(self.compiler, flag) for flag in isa_flags):
                print(f"marginloss: no {suffix[1:].upper()} build of the kernels "
                      f"(the compiler cannot target it)")
                self.extensions = [
                    ext for ext in self.extensions if not ext.name.endswith(suffix)
                ]
        if openmp is None:
            print(f"marginloss: building WITHOUT OpenMP, the kernels will run serially: "
                  f"{why_serial}")
        else:
            print(f"marginloss: building with OpenMP ({' '.join(openmp[0])})")
        for ext in self.extensions:
            if openmp is not None and ext.name != SHARED_UTILITY:  # no parallel loop in it
                ext.extra_compile_args += openmp[0]
                ext.extra_link_args += openmp[1]
            if self.compiler.compiler_type != "msvc":
                ext.extra_compile_args += _optimization_flags(self.compiler) + speed_flags
            ext.extra_compile_args += no_debug_info
            if ext.name.endswith("_avx2"):
                ext.extra_compile_args += AVX2_FLAGS
            if ext.name.endswith("_avx512"):
                ext.extra_compile_args += AVX512_FLAGS
        variant = "".join(
            f"{ext.name}: {ext.sources} {ext.extra_compile_args} {ext.extra_link_args}\n"
            for ext in self.extensions
        )
        stamp = os.path.join("build", "variant.txt")
        _record_variant(stamp, variant)
        for ext in self.extensions:
            ext.depends.append(stamp)
        super().build_extensions()


def cython_directives(debug):
    """The Cython directives of the build (``debug``: bounds checks on)."""
    return {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": debug,
        "cpow": True,
    }


def main():
    from Cython.Build import cythonize

    _check_kernel_sources()
    debug = _env_flag("MARGINLOSS_DEBUG")
    extensions = [
        Extension(
            f"marginloss.{name}",
            [os.path.join("pyx", f"{name}.pyx")],
            include_dirs=["pyx"],  # C headers included by the kernels
            depends=[path for pattern in ("*.h", "*.pxi")
                     for path in glob.glob(os.path.join("pyx", pattern))],
        )
        for name in KERNELS
    ]
    # Cython writes its C file into build_dir (build/cython/marginloss/_cyutility.c).
    extensions.append(Extension(SHARED_UTILITY, [os.path.join("marginloss", "_cyutility.c")]))
    setup(
        # The two variants' C files live apart: Cython regenerates a C file
        # only when its .pyx is newer, not when the directives change.
        ext_modules=cythonize(
            extensions,
            compiler_directives=cython_directives(debug),
            shared_utility_qualified_name=SHARED_UTILITY,
            build_dir=os.path.join("build", "cython-debug" if debug else "cython"),
        ),
        cmdclass={"build_ext": BuildExt},
    )


# setuptools runs this file as __main__; tests import it for its functions.
if __name__ == "__main__":
    main()
