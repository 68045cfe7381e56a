"""The memory floors (``marginloss._bandwidth``) and ``python -m marginloss bench``.

Values only: no timing is asserted.
"""

import io
import re
import subprocess
import sys

import numpy as np
import pytest

from marginloss import _bandwidth
from marginloss._tools import bench as _bench
from marginloss._threads import SERIAL_BELOW

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 7, 63, 64, 65, 1_000_003]
N_THREADS = [1, 2, 3]
UINT = {np.float32: np.uint32, np.float64: np.uint64}


def _bench_command(*args):
    return subprocess.run([sys.executable, "-m", "marginloss", "bench", *args],
                          check=False, capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------- _bandwidth


@pytest.mark.parametrize("n_threads", N_THREADS, ids=lambda t: f"threads={t}")
@pytest.mark.parametrize("size", SIZES, ids=lambda n: f"n={n}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_copy_is_bitwise_exact(dtype, size, n_threads):
    rng = np.random.default_rng(size)
    source = rng.standard_normal(size).astype(dtype)
    specials = np.array([np.nan, -0.0, np.inf, -np.inf, 1e-40], dtype=dtype)  # 1e-40: subnormal
    source[: min(size, 5)] = specials[: min(size, 5)]
    before = source.copy()
    destination = np.full(size, 7, dtype=dtype)

    assert _bandwidth.copy(source, destination, n_threads) is None

    np.testing.assert_array_equal(destination.view(UINT[dtype]), source.view(UINT[dtype]))
    np.testing.assert_array_equal(source.view(UINT[dtype]), before.view(UINT[dtype]))


def test_copy_reads_a_read_only_source():
    source = np.arange(1000, dtype=np.float64)
    source.flags.writeable = False
    destination = np.zeros_like(source)
    _bandwidth.copy(source, destination, 2)
    np.testing.assert_array_equal(destination, np.arange(1000))


@pytest.mark.parametrize("destination_size", [9, 11, 0])
def test_copy_refuses_a_destination_of_another_length(destination_size):
    with pytest.raises(ValueError, match=f"destination has {destination_size} values, "
                                         "source has 10"):
        _bandwidth.copy(np.ones(10), np.empty(destination_size), 2)


def test_copy_refuses_mixed_dtypes():
    with pytest.raises((TypeError, ValueError)):
        _bandwidth.copy(np.ones(10, np.float32), np.empty(10, np.float64), 1)


@pytest.mark.parametrize("n_threads", N_THREADS, ids=lambda t: f"threads={t}")
@pytest.mark.parametrize("size", SIZES, ids=lambda n: f"n={n}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_read_returns_the_exact_sum_of_integers(dtype, size, n_threads):
    values = np.random.default_rng(size).integers(-1000, 1001, size)
    source = values.astype(dtype)
    source.flags.writeable = False

    total = _bandwidth.read(source, n_threads)

    assert type(total) is float
    assert total == int(values.sum())


@pytest.mark.parametrize("n_threads", [1, 2])
def test_read_of_known_sums(n_threads):
    assert _bandwidth.read(np.ones(1_000_001, np.float32), n_threads) == 1_000_001.0
    # 1 + 2 + ... + n, exact in float64 (every partial sum is an integer below 2**53)
    n = 2_000_000
    assert _bandwidth.read(np.arange(1, n + 1, dtype=np.float64), n_threads) == n * (n + 1) / 2
    assert np.isnan(_bandwidth.read(np.array([1.0, np.nan, 2.0]), n_threads))


# ------------------------------------------------------------- _bench pieces


def test_default_problems():
    problems = _bench.make_problems()
    assert [problem.title() for problem in problems] == [
        "multi_margin (1000000, 10) float32 p=1",
        "multi_margin (16384, 100) float32 p=1",
        "multi_margin (2048, 1000) float32 p=1",
        "multilabel (16384, 100) float32 k=25",
        "multilabel (2048, 1000) float32 k=250",
    ]
    # NumPy's multi-label version builds N*C*C temporaries: skipped on the default shapes.
    assert [_bench.numpy_skip_reason(problem) is None for problem in problems] == [
        True, True, True, False, False
    ]
    assert "N*C*C = 164 million-entry temporaries would need ~1.7 GiB" in (
        _bench.numpy_skip_reason(problems[3]))


def test_one_shape_problems():
    problems = _bench.make_problems("multilabel", (64, 10), "float64", p=2, k=3)
    assert [problem.title() for problem in problems] == ["multilabel (64, 10) float64 k=3"]
    problems = _bench.make_problems("multi_margin", (64, 10), "float64", p=2)
    assert [problem.title() for problem in problems] == ["multi_margin (64, 10) float64 p=2"]


@pytest.mark.parametrize("k", [-1, 11])
def test_k_out_of_range(k):
    with pytest.raises(ValueError, match=rf"k must be between 0 and the number of classes, "
                                         rf"got k={k} for shape \(64, 10\)"):
        _bench.make_problems("both", (64, 10), k=k)


@pytest.mark.parametrize("k", [0, 3, 10])
def test_multilabel_data(k):
    problem = _bench.Problem("multilabel", 50, 10, dtype="float64", k=k)
    scores, target = _bench.make_data(problem)
    assert scores.shape == (50, 10) and scores.dtype == np.float64
    assert target.dtype == np.int64
    assert (target[:, k:] == -1).all()
    labels = np.sort(target[:, :k], axis=1)
    assert ((labels >= 0) & (labels < 10)).all()
    assert (np.diff(labels, axis=1) > 0).all()  # k distinct labels per sample


def test_multi_margin_data():
    scores, target = _bench.make_data(_bench.Problem("multi_margin", 1000, 7))
    assert scores.shape == (1000, 7) and scores.dtype == np.float32
    assert target.shape == (1000,) and target.dtype == np.int64
    assert set(np.unique(target)) == set(range(7))


def test_thread_counts_keep_distinct_teams():
    small = _bench.Problem("multi_margin", 10, 10)
    assert _bench.thread_counts([1, None, 2], small) == [(1, 1)]
    large = _bench.Problem("multi_margin", SERIAL_BELOW, 10)
    counts = _bench.thread_counts([1, 2, 2], large)
    assert counts[0] == (1, 1)
    assert all(n_threads == team for n_threads, team in counts)


@pytest.mark.parametrize("repeat", [1, 4])
def test_time_call_runs_a_warm_up_then_repeat_times(repeat):
    calls = []
    timing = _bench.time_call(lambda: calls.append(1) or len(calls), repeat=repeat)
    assert len(calls) == repeat + 1
    assert timing.n_runs == repeat and timing.result == repeat + 1
    assert timing.seconds >= 0


def test_time_call_adapts_to_the_budget():
    calls = []
    timing = _bench.time_call(lambda: calls.append(1), budget=0.0)
    assert len(calls) == 1 and timing.n_runs == 1  # the warm-up exceeded the budget
    calls.clear()
    timing = _bench.time_call(lambda: calls.append(1), budget=10.0)
    assert timing.n_runs == _bench.MAX_RUNS and len(calls) == _bench.MAX_RUNS + 1


def test_progress_on_a_pipe_writes_lines():
    stream = io.StringIO()
    progress = _bench.Progress(2, stream)
    progress.start("first")
    progress.finish_step()
    progress.start("second")
    progress.finish_step()
    progress.close()
    assert stream.getvalue() == "bench [1/2] first\nbench [2/2] second\n"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_rewrites_one_line():
    stream = _Terminal()
    progress = _bench.Progress(4, stream)
    progress.start("a long first label")
    progress.finish_step()
    progress.start("b")
    progress.close()
    first = "[" + "-" * 20 + "] 1/4 a long first label"
    second = "[" + "#" * 5 + "-" * 15 + "] 2/4 b"
    assert stream.getvalue() == (
        "\r" + first + "\r" + second.ljust(len(first)) + "\r" + " " * len(second) + "\r"
    )
    assert "\n" not in stream.getvalue()


def test_format_table_aligns_columns():
    problem = _bench.Problem("multi_margin", 64, 10)
    rows = [
        _bench.Row(problem, 1, 0.0125, 0.0131, None, 0.25, 0.0005),
        _bench.Row(problem, 12, 1.5, 2.0, 30.0, None, 0.001),
        _bench.Row(problem, 2, 2.5e-6, 4e-7, None, None, 1e-6),
    ]
    lines = _bench.format_table(rows).splitlines()
    assert lines[0].split() == list(_bench.COLUMNS)
    assert set(lines[1]) == {"-", " "}
    title = ["multi_margin", "(64,", "10)", "float32", "p=1"]
    assert lines[2].split() == title + ["1", "12.5", "13.1", "skipped", "250", "0.500",
                                        "25.0", "20.0", "-"]
    assert lines[3].split() == title + ["12", "1500", "2000", "30000", "skipped", "1.00",
                                        "1500.0", "-", "20.0"]
    assert lines[4].split() == title + ["2", "0.0025", "0.0004", "skipped", "skipped",
                                        "0.0010", "2.50", "-", "-"]
    # every column ends (right-aligned) or starts (the problem) at the same place
    assert len({len(line) for line in lines}) == 1


# ------------------------------------------------------------- the command


def test_bench_command_prints_the_table():
    result = _bench_command("--shape", "64", "10", "--repeat", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("problem"))
    assert lines[header].split() == [
        "problem", "threads", "ours", "ours+alloc", "numpy", "torch", "copy",
        "ours/copy", "torch/ours", "numpy/ours",
    ]
    rows = lines[header + 2: header + 4]
    # 640 scores: below the parallel threshold, so the default is one thread too
    assert [row.split()[:5] for row in rows] == [
        ["multi_margin", "(64,", "10)", "float32", "p=1"],
        ["multilabel", "(64,", "10)", "float32", "k=2"],
    ]
    assert lines[header + 4] == ""
    for row in rows:
        values = row.split()[5:]
        assert values[0] == "1"
        assert all(float(value) > 0 for value in values[1:])
    assert "1 run after a warm-up" in result.stdout
    assert "every loss agrees with numpy's and torch's" in result.stdout
    assert "DIFFERS" not in result.stdout
    # the progress went to stderr, one line per entry (stderr is a pipe)
    progress = result.stderr.splitlines()
    assert len(progress) == 10 and progress[-1].startswith("bench [10/10] ")


def test_bench_command_options():
    result = _bench_command("--shape", "40000", "3", "--loss", "multi_margin", "--dtype",
                            "float64", "--p", "2", "--repeat", "1", "--threads", "1", "2")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("multi_margin")]
    # 120000 scores: 2 threads in an OpenMP build, 1 in a serial one
    teams = [team for _, team in _bench.thread_counts(
        [1, 2], _bench.Problem("multi_margin", 40000, 3, dtype="float64", p=2))]
    assert [row.split()[:6] for row in rows] == [
        ["multi_margin", "(40000,", "3)", "float64", "p=2", str(team)] for team in teams
    ]
    assert "multilabel" not in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--shape", "0", "10"], "argument --shape: expected a positive integer, got '0'"),
    (["--shape", "64", "-3"], "argument --shape: expected a positive integer, got '-3'"),
    (["--shape", "64", "ten"], "argument --shape: expected a positive integer, got 'ten'"),
    (["--shape", "64"], "argument --shape: expected 2 arguments"),
    (["--shape", "64", "10", "--k", "11"],
     r"k must be between 0 and the number of classes, got k=11 for shape \(64, 10\)"),
    (["--threads", "0"], "argument --threads: expected a non-zero integer"),
    (["--repeat", "0"], "argument --repeat: expected a positive integer, got '0'"),
    (["--loss", "hinge"], "argument --loss: invalid choice: 'hinge'"),
    (["--p", "3"], "argument --p: invalid choice: 3"),
], ids=["shape-zero", "shape-negative", "shape-text", "shape-one-number", "k-too-large",
        "threads-zero", "repeat-zero", "unknown-loss", "p-3"])
def test_bench_command_argument_errors(args, message):
    result = _bench_command(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: python -m marginloss bench")
    last = result.stderr.splitlines()[-1]
    assert last.startswith("python -m marginloss bench: error: ")
    assert re.search(message, last), last


def test_run_passes_each_team_size_to_our_calls(monkeypatch):
    # n_threads=None follows OpenMP's default, which torch.set_num_threads
    # changes between rows (torch and marginloss share libgomp): the rows must
    # pass the team size they are labelled with.
    seen = []
    real = _bench.marginloss.multi_margin_loss_and_grad

    def recording(*args, n_threads=None, **kwargs):
        seen.append(n_threads)
        return real(*args, n_threads=n_threads, **kwargs)

    monkeypatch.setattr(_bench.marginloss, "multi_margin_loss_and_grad", recording)
    problems = _bench.make_problems("multi_margin", shape=(SERIAL_BELOW, 4))
    rows, _, _ = _bench.run(problems, threads=(1, None), repeat=1,
                            progress_stream=io.StringIO())
    teams = [row.threads for row in rows]
    assert teams[0] == 1
    assert set(seen) == set(teams)
    assert None not in seen


# ------------------------------------------------------------ --floor


def test_floor_table_lists_every_case_with_its_target(monkeypatch):
    # small problems, so that the table's layout is what is checked
    monkeypatch.setattr(_bench, "FLOOR_CASES", {
        "mm 512x10 p=1": ("mm", 512, 10, "float32", {}, 2.0),
        "mm 512x10 p=2 weight": ("mm", 512, 10, "float32", {"p": 2, "weight": True}, 2.5),
        "mm 512x10 p=1 float64": ("mm", 512, 10, "float64", {}, 2.0),
        "ml 64x80 k=3": ("ml", 64, 80, "float32", {"k": 3}, 3.5),
        "ml 64x80 k=3 indicator": ("ml", 64, 80, "float32", {"k": 3, "indicator": True}, 2.0),
    })
    monkeypatch.setattr(_bench, "TORCH_CASES", {
        "mm 512x10": ("mm", 512, 10, None, 25.0),
        "ml 64x100 k=25": ("ml", 64, 100, 25, 30.0),
    })
    stdout, progress = io.StringIO(), io.StringIO()
    assert _bench.floor_main(rounds=1, stdout=stdout, progress_stream=progress) == 0
    lines = stdout.getvalue().splitlines()
    assert lines[0].endswith("median of 1 interleaved round after a warm-up")
    assert lines[2].strip() == "one thread, out=: CPU time / copy"
    assert lines[3].split() == ["problem", "ratio", "target", "met"]
    rows = [line.rsplit(None, 3) for line in lines[4:9]]
    assert [row[0] for row in rows] == list(_bench.FLOOR_CASES)
    assert [row[2] for row in rows] == ["2.0x", "2.5x", "2.0x", "3.5x", "2.0x"]
    for name, ratio, target, met in rows:
        assert float(ratio) > 0
        assert met == ("yes" if float(ratio) <= float(target[:-1]) else "NO")
    if _bench.import_torch() is None:
        assert lines[-1] == "note: torch: not installed (no speed-ups over PyTorch)"
    else:
        assert lines[10].strip() == "two threads: torch time / ours"
        torch_rows = [line.rsplit(None, 3) for line in lines[12:14]]
        assert [row[0] for row in torch_rows] == ["mm 512x10", "ml 64x100 k=25"]
        assert [row[2] for row in torch_rows] == ["25x", "30x"]
        for name, ratio, target, met in torch_rows:
            assert met == ("yes" if float(ratio) >= float(target[:-1]) else "NO")
    assert len(progress.getvalue().splitlines()) == len(_bench.FLOOR_CASES) + (
        0 if _bench.import_torch() is None else 2)


def test_floor_cases_compute_the_documented_problems():
    for name, (loss, n_samples, n_classes, dtype, options, target) in (
            _bench.FLOOR_CASES.items()):
        assert name.startswith(f"{loss} {n_samples}x{n_classes}")
        assert target >= 1.0
    call, scores, target = _bench.floor_call("ml", 16, 20, "float32",
                                             {"k": 3, "indicator": True}, 1)
    assert target.dtype == bool and (target.sum(axis=1) == 3).all()
    loss, gradient = call()
    assert gradient.shape == scores.shape and np.isfinite(loss)
    call, scores, target = _bench.floor_call("mm", 16, 5, "float64", {"p": 2}, 1)
    assert scores.dtype == np.float64 and target.shape == (16,)


def test_bench_floor_command_prints_the_floor_table():
    result = _bench_command("--floor", "--only", "mm 2000000x4", "--repeat", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "multi-class kernels" in lines[0]
    assert lines[3].split() == ["problem", "ratio", "target", "met"]
    name, ratio, target, met = lines[4].rsplit(None, 3)
    assert name == "mm 2000000x4 p=1" and target == "3.0x" and float(ratio) > 0
    assert met in ("yes", "NO")
    assert len(lines) == 5  # no torch case has this name
