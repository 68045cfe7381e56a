"""Dask arrays chunked along samples: lazy results with the NumPy call's numbers.

The oracle is the same function called on the NumPy arrays (itself tested
against PyTorch and the reference elsewhere): 'none' losses and gradients must
be the same bits, 'sum' and 'mean' the same bits with one block of rows and
the same value up to the order of the float64 additions with several.
"""

import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import marginloss  # noqa: E402
from marginloss import (  # noqa: E402
    MultiLabelMarginLoss,
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

N_SAMPLES, N_CLASSES = 29, 6

# name -> (loss, grad, loss_and_grad, keyword arguments, target kind)
LOSSES = {
    "multi_margin": (multi_margin_loss, multi_margin_loss_grad, multi_margin_loss_and_grad,
                     {}, "class"),
    "multi_margin-p2-weight": (multi_margin_loss, multi_margin_loss_grad,
                               multi_margin_loss_and_grad,
                               {"p": 2, "margin": 0.7,
                                "weight": np.linspace(0.5, 2.0, N_CLASSES)}, "class"),
    "crammer_singer": (multi_margin_loss, multi_margin_loss_grad, multi_margin_loss_and_grad,
                       {"multi_class": "crammer_singer"}, "class"),
    "multilabel": (multilabel_margin_loss, multilabel_margin_loss_grad,
                   multilabel_margin_loss_and_grad, {}, "indices"),
    "multilabel-indicator": (multilabel_margin_loss, multilabel_margin_loss_grad,
                             multilabel_margin_loss_and_grad,
                             {"target_format": "indicator", "margin": 0.5}, "indicator"),
}

# name -> chunks of the (29, 6) input
LAYOUTS = {
    "one-block": (N_SAMPLES, N_CLASSES),
    "even": (10, N_CLASSES),
    "uneven": ((1, 12, 2, 14), N_CLASSES),
    "single-rows": (1, N_CLASSES),  # 29 blocks: more than SPLIT_EVERY, a two-level tree
    "class-chunks": ((12, 17), (4, 2)),
}

RTOL = {np.float32: 2.4e-7, np.float64: 1e-14}  # about two ulps of the result's dtype


def _target(kind, rng, n_samples, n_classes):
    if kind == "class":
        return rng.integers(0, n_classes, n_samples)
    if kind == "indicator":
        return rng.random((n_samples, n_classes)) < 0.4
    target = np.full((n_samples, n_classes), -1)
    for n in range(n_samples):
        k = rng.integers(0, n_classes + 1)
        target[n, :k] = rng.permutation(n_classes)[:k]
    return target


def _problem(kind, seed, dtype=np.float64, n_samples=N_SAMPLES, n_classes=N_CLASSES):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.7, size=(n_samples, n_classes)).astype(dtype)
    return x, _target(kind, rng, n_samples, n_classes), rng


def _row_chunks(array, rows):
    return da.from_array(array, chunks=(rows,) + array.shape[1:])


def _assert_same_value(actual, expected, dtype, exact):
    """A reduced loss: a NumPy scalar of the dtype, equal (or within RTOL)."""
    assert type(actual) is type(expected)
    if exact:
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=0)


def _forbid_compute(*args, **kwargs):
    raise AssertionError("computed while the graph was being built")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("sample_weight", [None, "numpy", "dask"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", LOSSES)
def test_matches_numpy_call(name, layout, reduction, sample_weight, dtype):
    loss, grad, loss_and_grad, kwargs, kind = LOSSES[name]
    x, target, rng = _problem(kind, [len(name), len(layout), len(reduction)], dtype)
    s = None if sample_weight is None else rng.uniform(0, 3, N_SAMPLES)
    if s is not None:
        s[13:15] = 0.0  # one block of the 'uneven' layout weighs nothing
    grad_output = rng.normal(size=N_SAMPLES) if reduction == "none" else 1.7

    dx = da.from_array(x, chunks=LAYOUTS[layout])
    dtarget = _row_chunks(target, 9)  # rechunked to the input's rows
    ds = s if sample_weight != "dask" else _row_chunks(s, 7)
    # for 'none', a per-sample grad_output: NumPy with NumPy weights, else Dask
    dgrad_output = grad_output
    if reduction == "none" and sample_weight != "numpy":
        dgrad_output = _row_chunks(grad_output, 11)
    kwargs = dict(kwargs, reduction=reduction)

    with dask.config.set(scheduler=_forbid_compute):
        lazy_loss = loss(dx, dtarget, sample_weight=ds, **kwargs)
        lazy_grad = grad(dx, dtarget, sample_weight=ds, grad_output=dgrad_output, **kwargs)
        lazy_pair = loss_and_grad(dx, dtarget, sample_weight=ds, grad_output=dgrad_output,
                                  **kwargs)
    for lazy in (lazy_loss, lazy_grad, *lazy_pair):
        assert isinstance(lazy, da.Array)
    assert lazy_grad.chunks == dx.chunks
    assert lazy_pair[1].chunks == dx.chunks

    value, gradient, (pair_value, pair_gradient) = dask.compute(
        lazy_loss, lazy_grad, lazy_pair, scheduler="sync")
    expected_value, expected_gradient = loss_and_grad(
        x, target, sample_weight=s, grad_output=grad_output, **kwargs)
    assert gradient.dtype == pair_gradient.dtype == dtype
    one_block = len(dx.chunks[0]) == 1
    if reduction == "none":
        assert lazy_loss.chunks == (dx.chunks[0],)
        np.testing.assert_array_equal(value, expected_value)
        np.testing.assert_array_equal(pair_value, expected_value)
        assert value.dtype == dtype
    else:
        assert lazy_loss.shape == ()
        _assert_same_value(value, expected_value, dtype, one_block)
        _assert_same_value(pair_value, expected_value, dtype, one_block)
    # The weighted mean's gradient has the factor s / sum(s); a Dask sum(s) of
    # several blocks may differ from NumPy's in its last bit.
    if reduction == "mean" and sample_weight == "dask" and not one_block:
        np.testing.assert_allclose(gradient, expected_gradient, rtol=RTOL[dtype], atol=0)
        np.testing.assert_array_equal(gradient, pair_gradient)
    else:
        np.testing.assert_array_equal(gradient, expected_gradient)
        np.testing.assert_array_equal(pair_gradient, expected_gradient)


@pytest.mark.parametrize("layout", ["even", "single-rows"])
def test_reduction_order_is_block_sums_in_a_fixed_tree(layout):
    """'sum' is NumPy's sum within each block, then sums of 16 block sums in order."""
    x, y, _ = _problem("class", 7)
    dx = da.from_array(x, chunks=LAYOUTS[layout])
    per_sample = multi_margin_loss(x, y, reduction="none")  # float64: the kernel's values
    starts = np.cumsum((0,) + dx.chunks[0])
    block_sums = np.array([per_sample[a:b].sum() for a, b in zip(starts[:-1], starts[1:])])
    level = block_sums
    while level.size > 1:
        level = np.array([level[i:i + 16].sum() for i in range(0, level.size, 16)])
    lazy = multi_margin_loss(dx, _row_chunks(y, 5), reduction="sum")
    for scheduler in ("sync", "threads"):
        assert lazy.compute(scheduler=scheduler) == level[0]
    assert multi_margin_loss(dx, y, reduction="mean").compute() == np.float64(
        level[0] / N_SAMPLES)


def test_numpy_input_with_dask_target_takes_the_target_chunks():
    x, target, _ = _problem("indices", 3, np.float32)
    dtarget = _row_chunks(target, 8)
    value, gradient = multilabel_margin_loss_and_grad(x, dtarget, reduction="none")
    assert value.chunks == (dtarget.chunks[0],)
    assert gradient.chunks == (dtarget.chunks[0], (N_CLASSES,))
    expected_value, expected_gradient = multilabel_margin_loss_and_grad(
        x, target, reduction="none")
    np.testing.assert_array_equal(value.compute(), expected_value)
    np.testing.assert_array_equal(gradient.compute(), expected_gradient)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_dask_grad_output_alone(reduction):
    x, y, _ = _problem("class", 5)
    grad_output = np.array(0.5) if reduction == "mean" else np.linspace(-1, 1, N_SAMPLES)
    dgrad_output = da.from_array(grad_output, chunks=grad_output.shape and (13,))
    gradient = multi_margin_loss_grad(x, y, reduction=reduction, grad_output=dgrad_output)
    assert isinstance(gradient, da.Array)
    expected = multi_margin_loss_grad(x, y, reduction=reduction, grad_output=grad_output)
    np.testing.assert_array_equal(gradient.compute(), expected)


def test_loss_objects_take_dask_arrays():
    x, y, rng = _problem("class", 11, np.float32)
    s = rng.uniform(0.5, 2, N_SAMPLES)
    dx, dy, ds = (_row_chunks(a, 10) for a in (x, y, s))
    criterion = MultiMarginLoss(p=2, reduction="mean")
    with dask.config.set(scheduler=_forbid_compute):
        lazy = criterion(dx, dy, sample_weight=ds)
        lazy_grad = criterion.gradient(dx, dy, sample_weight=ds)
    _assert_same_value(lazy.compute(), criterion(x, y, sample_weight=s), np.float32, False)
    np.testing.assert_allclose(lazy_grad.compute(), criterion.gradient(x, y, sample_weight=s),
                               rtol=RTOL[np.float32], atol=0)
    x, t, _ = _problem("indices", 12)
    criterion = MultiLabelMarginLoss(reduction="sum")
    value, gradient = criterion.loss_and_gradient(_row_chunks(x, 10), _row_chunks(t, 10))
    expected_value, expected_gradient = criterion.loss_and_gradient(x, t)
    _assert_same_value(value.compute(), expected_value, np.float64, False)
    np.testing.assert_array_equal(gradient.compute(), expected_gradient)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_empty_batch(reduction):
    x = np.empty((0, 4), dtype=np.float32)
    y = np.empty(0, dtype=np.int64)
    value, gradient = multi_margin_loss_and_grad(da.from_array(x), da.from_array(y),
                                                 reduction=reduction)
    expected_value, expected_gradient = multi_margin_loss_and_grad(x, y, reduction=reduction)
    np.testing.assert_array_equal(value.compute(), expected_value)
    assert gradient.compute().shape == (0, 4)
    np.testing.assert_array_equal(gradient.compute(), expected_gradient)


def test_n_threads_is_passed_to_each_block():
    # blocks of 1500 x 20 scores: above the serial cut, so a team really runs
    x, y, _ = _problem("class", 13, n_samples=4000, n_classes=20)
    dx, dy = _row_chunks(x, 1500), _row_chunks(y, 1500)
    expected = multi_margin_loss_grad(x, y, reduction="sum")
    for n_threads in (1, 2, -1):
        np.testing.assert_array_equal(
            multi_margin_loss_grad(dx, dy, reduction="sum", n_threads=n_threads).compute(),
            expected)


# ------------------------------------------------------------ schedulers


SCHEDULER_CASES = [
    ("multi_margin-p2-weight", "mean", "dask"),
    ("crammer_singer", "sum", "numpy"),
    ("multilabel", "none", None),
    ("multilabel-indicator", "mean", None),
]


def _scheduler_case(name, reduction, sample_weight):
    loss, _, loss_and_grad, kwargs, kind = LOSSES[name]
    x, target, rng = _problem(kind, [len(name), len(reduction)], np.float32, n_samples=2000)
    s = None if sample_weight is None else rng.uniform(0, 2, 2000)
    ds = s if sample_weight != "dask" else _row_chunks(s, 300)
    kwargs = dict(kwargs, reduction=reduction)
    lazy = loss_and_grad(da.from_array(x, chunks=(170, N_CLASSES)), _row_chunks(target, 400),
                         sample_weight=ds, **kwargs)
    expected = loss_and_grad(x, target, sample_weight=s, **kwargs)
    return lazy, expected


def _check_scheduler_result(result, expected, sync_result):
    for actual, oracle, sync in zip(result, expected, sync_result):
        np.testing.assert_array_equal(actual, sync)  # the same bits on every scheduler
        np.testing.assert_allclose(actual, oracle, rtol=RTOL[np.float32], atol=0)


@pytest.mark.parametrize("case", SCHEDULER_CASES, ids=lambda case: "-".join(map(str, case)))
def test_threaded_scheduler(case):
    lazy, expected = _scheduler_case(*case)
    sync_result = dask.compute(*lazy, scheduler="sync")
    for _ in range(3):
        _check_scheduler_result(dask.compute(*lazy, scheduler="threads"), expected,
                                sync_result)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    # Worker processes: the graphs must pickle, and the kernels run in another process.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            yield client


@pytest.mark.parametrize("case", SCHEDULER_CASES, ids=lambda case: "-".join(map(str, case)))
def test_distributed_local_cluster(client, case):
    lazy, expected = _scheduler_case(*case)
    sync_result = dask.compute(*lazy, scheduler="sync")
    result = client.gather(client.compute(list(lazy)))
    _check_scheduler_result(result, expected, sync_result)


def test_distributed_raises_the_block_error(client):
    y = np.zeros(100, dtype=np.int64)
    y[57] = 4
    lazy = multi_margin_loss(da.zeros((100, 4), chunks=(25, 4)), _row_chunks(y, 25))
    with pytest.raises(ValueError, match=r"target\[7\] = 4.*rows 50:75"):
        client.compute(lazy).result()


# ------------------------------------------------------------ errors


def test_class_axis_chunks_are_merged_and_restored():
    x, y, _ = _problem("class", 17)
    dx = da.from_array(x, chunks=(10, 2))
    gradient = multi_margin_loss_grad(dx, y, reduction="none")
    assert gradient.chunks == dx.chunks
    np.testing.assert_array_equal(gradient.compute(),
                                  multi_margin_loss_grad(x, y, reduction="none"))


def test_unknown_chunk_sizes_are_refused():
    x, y, _ = _problem("class", 19)
    dx = da.from_array(x, chunks=(10, N_CLASSES))
    dy = _row_chunks(y, 10)
    keep = dy >= 0  # every row, but Dask cannot know how many
    with pytest.raises(ValueError, match=r"input has unknown chunk sizes .*"
                                         r"input\.compute_chunk_sizes\(\)"):
        multi_margin_loss(dx[keep], y)
    with pytest.raises(ValueError, match=r"target has unknown chunk sizes .*"
                                         r"target\.compute_chunk_sizes\(\)"):
        multi_margin_loss_grad(dx, dy[keep])
    with pytest.raises(ValueError, match=r"sample_weight has unknown chunk sizes"):
        multi_margin_loss(dx, dy, sample_weight=da.ones(N_SAMPLES, chunks=10)[keep])


def test_shape_errors_before_any_computation():
    x, y, _ = _problem("class", 23)
    dx, dy = _row_chunks(x, 10), _row_chunks(y, 10)
    with dask.config.set(scheduler=_forbid_compute):
        with pytest.raises(ValueError, match=r"target must be a 1-D array of 29 class "
                                             r"indices.*got shape \(28,\)"):
            multi_margin_loss(dx, dy[:28])
        with pytest.raises(ValueError, match=r"target must be a 1-D array.*"
                                             r"got shape \(29, 6\)"):
            multi_margin_loss(dx, dx.astype(np.int64))
        with pytest.raises(ValueError, match=r"target must have the shape of input "
                                             r"\(29, 6\) \(class indices padded with -1\); "
                                             r"got shape \(29,\)"):
            multilabel_margin_loss(dx, dy)
        with pytest.raises(ValueError, match=r"target must have the shape of input "
                                             r"\(29, 6\) \(a 0/1 indicator"):
            multilabel_margin_loss(dx, dy, target_format="indicator")
        with pytest.raises(ValueError, match=r"input must be a matrix \(N, C\) with C >= 1 "
                                             r"when an argument is a Dask array.*\(6,\)"):
            multi_margin_loss(dx[0], dy[0])
        with pytest.raises(ValueError, match=r"input must be a matrix.*got shape \(29, 0\)"):
            multi_margin_loss(dx[:, :0], dy)
        with pytest.raises(ValueError, match=r"sample_weight must have one entry per sample: "
                                             r"expected shape \(29,\), got shape \(30,\)"):
            multi_margin_loss(dx, dy, sample_weight=da.ones(30))
        with pytest.raises(ValueError, match=r"grad_output must be a scalar \(the loss is a "
                                             r"scalar with reduction='sum'\); got shape \(29,\)"):
            multi_margin_loss_grad(dx, dy, reduction="sum", grad_output=da.ones(29))
        with pytest.raises(ValueError, match=r"grad_output must be a scalar or an array of "
                                             r"the loss's shape \(29,\); got shape \(3,\)"):
            multi_margin_loss_grad(dx, dy, reduction="none", grad_output=np.ones(3))
        with pytest.raises(ValueError, match=r"out must be None when an argument is a Dask "
                                             r"array.*got ndarray"):
            multi_margin_loss_grad(dx, dy, out=np.empty_like(x))


def test_dtype_and_setting_errors_are_the_numpy_call_s_and_eager():
    x, y, _ = _problem("class", 29)
    dx, dy = _row_chunks(x, 10), _row_chunks(y, 10)
    with dask.config.set(scheduler=_forbid_compute):
        with pytest.raises(TypeError, match="input must be real, got complex dtype"):
            multi_margin_loss(dx.astype(np.complex128), dy)
        with pytest.raises(TypeError, match="target must be an array of integer class "
                                            "indices, got dtype float64"):
            multi_margin_loss_grad(dx, dy.astype(np.float64))
        with pytest.raises(TypeError, match="target must be an integer or bool 0/1 indicator"):
            multilabel_margin_loss(dx, dx, target_format="indicator")
        with pytest.raises(ValueError, match=r"weight must have one entry per class: "
                                             r"expected shape \(6,\), got shape \(3,\)"):
            multi_margin_loss(dx, dy, weight=[1.0, 2.0, 3.0])
        with pytest.raises(TypeError, match="sample_weight must be an array of real numbers"):
            multi_margin_loss(dx, dy, sample_weight=da.from_array(np.array(["a"] * N_SAMPLES)))
        with pytest.raises(ValueError, match=r"margin=1e\+300 overflows float32"):
            multilabel_margin_loss(dx.astype(np.float32), dx.astype(np.int64) % 6 - 1,
                                   margin=1e300)
        # a NumPy sample_weight is checked at once, entirely
        s = np.ones(N_SAMPLES)
        s[25] = -1.0
        with pytest.raises(ValueError, match=r"sample_weight must be non-negative, got "
                                             r"sample_weight\[25\] = -1.0"):
            multi_margin_loss(dx, dy, sample_weight=s)
        with pytest.raises(ValueError, match="sample_weight sums to zero"):
            multi_margin_loss(dx, dy, sample_weight=np.zeros(N_SAMPLES))


def test_value_errors_are_raised_by_the_block_at_compute_time():
    x, y, _ = _problem("class", 31)
    y[23] = N_CLASSES
    dx, dy = _row_chunks(x, 10), _row_chunks(y, 10)
    with dask.config.set(scheduler=_forbid_compute):
        lazy = multi_margin_loss(dx, dy)  # the values are not read yet
    with pytest.raises(ValueError, match=r"target out of range: target\[3\] = 6, expected "
                                         r"0 <= target < 6 .* \(in the Dask block of rows "
                                         r"20:29; positions count from its first row\)"):
        lazy.compute(scheduler="sync")
    t = np.zeros((N_SAMPLES, N_CLASSES), dtype=np.int64)
    t[25, 2] = 2
    with pytest.raises(ValueError, match=r"target must hold only 0 and 1 .*target\[5, 2\] = "
                                         r"2 \(in the Dask block of rows 20:29"):
        multilabel_margin_loss_grad(dx, _row_chunks(t, 10),
                                    target_format="indicator").compute(scheduler="sync")
    s = da.ones(N_SAMPLES, chunks=10)
    s = da.where(da.arange(N_SAMPLES, chunks=10) == 12, np.nan, s)
    for lazy in (multi_margin_loss(dx, _row_chunks(y % N_CLASSES, 10), sample_weight=s),
                 multi_margin_loss_grad(dx, _row_chunks(y % N_CLASSES, 10),
                                        sample_weight=s)):
        with pytest.raises(ValueError, match=r"sample_weight must be finite, got "
                                             r"sample_weight\[2\] = nan \(in the Dask block "
                                             r"of rows 10:20"):
            lazy.compute(scheduler="sync")
    zero = da.zeros(N_SAMPLES, chunks=10)
    for lazy in (multi_margin_loss(dx, _row_chunks(y % N_CLASSES, 10), sample_weight=zero),
                 multi_margin_loss_grad(dx, _row_chunks(y % N_CLASSES, 10),
                                        sample_weight=zero)):
        with pytest.raises(ValueError, match=r"sample_weight sums to zero, so the weighted "
                                             r"mean \(reduction='mean'\) is undefined"):
            lazy.compute(scheduler="sync")
    # zero weights summed with 'sum' are no error
    assert multi_margin_loss(dx, _row_chunks(y % N_CLASSES, 10), sample_weight=zero,
                             reduction="sum").compute() == 0.0


# ------------------------------------------------------------ import


def test_import_marginloss_does_not_import_dask():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import marginloss, marginloss.functional, marginloss.loss
        marginloss.multi_margin_loss_and_grad(np.ones((3, 2)), [0, 1, 1])
        marginloss.MultiLabelMarginLoss()(np.ones((3, 2)), [[0, -1]] * 3)
        print(sorted(name for name in sys.modules if name.split(".")[0] in ("dask", "distributed")))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "[]"
