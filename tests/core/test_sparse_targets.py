"""``target_format="indicator"`` with SciPy sparse targets.

A sparse 0/1 matrix must give exactly what the same matrix made dense gives
(the kernel collects each CSR row into the same label list a dense row gives,
so losses and gradients are the same bits), for every container and dtype,
every reduction, margin, sample_weight, grad_output and out=; duplicates and
explicit zeros as SciPy defines them; the dense indicator's errors; the
caller's matrix unchanged; and no N x C array made for the target.
"""

import tracemalloc

import numpy as np
import pytest

sparse = pytest.importorskip("scipy.sparse")

from marginloss import (  # noqa: E402
    MultiLabelMarginLoss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
    multilabel_margin_loss_grad,
)

INDICATOR = {"target_format": "indicator"}
REDUCTIONS = ["none", "mean", "sum"]
FLOAT_DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]
CONTAINERS = {
    "csr_array": sparse.csr_array, "csr_matrix": sparse.csr_matrix,
    "csc_array": sparse.csc_array, "csc_matrix": sparse.csc_matrix,
    "coo_array": sparse.coo_array, "coo_matrix": sparse.coo_matrix,
}
TARGET_DTYPES = [bool, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.uint64]


def _random_indicator(rng, n_samples, n_classes):
    """Rows with 0, 1, 2 labels (direct loop), 3 to 64 (counting), more (sorted),
    and every class."""
    indicator = np.zeros((n_samples, n_classes), dtype=bool)
    for n in range(n_samples):
        k = [0, 1, 2, 5, 40, n_classes][n] if n < 6 else rng.integers(0, n_classes + 1)
        indicator[n, rng.permutation(n_classes)[:min(k, n_classes)]] = True
    return indicator


def _all_results(x, target, reduction, **kwargs):
    """The loss and gradient of every function form (the loss object's too)."""
    loss, gradient = multilabel_margin_loss_and_grad(x, target, reduction, **INDICATOR,
                                                     **kwargs)
    forward_kwargs = {k: v for k, v in kwargs.items() if k not in ("grad_output", "out")}
    criterion = MultiLabelMarginLoss(reduction, target_format="indicator",
                                     margin=kwargs.get("margin", 1.0))
    weight = kwargs.get("sample_weight")
    return [
        loss, gradient,
        multilabel_margin_loss(x, target, reduction, **INDICATOR, **forward_kwargs),
        multilabel_margin_loss_grad(x, target, reduction, **INDICATOR,
                                    **{k: v for k, v in kwargs.items() if k != "out"}),
        criterion(x, target, sample_weight=weight),
        criterion.gradient(x, target, sample_weight=weight,
                           grad_output=kwargs.get("grad_output", 1.0)),
    ]


def _assert_same(actual, expected):
    for a, e in zip(actual, expected):
        assert np.asarray(a).dtype == np.asarray(e).dtype
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("target_dtype", TARGET_DTYPES, ids=lambda d: np.dtype(d).name)
def test_sparse_gives_the_dense_indicators_bits(rng, dtype, container, target_dtype):
    for n_samples, n_classes in [(0, 3), (1, 1), (6, 7), (40, 100)]:
        x = rng.normal(size=(n_samples, n_classes)).astype(dtype)
        dense = _random_indicator(rng, n_samples, n_classes).astype(target_dtype)
        target = CONTAINERS[container](dense)
        for reduction in REDUCTIONS:
            s = rng.uniform(0.5, 2.0, n_samples)
            for kwargs in ({}, {"margin": 0.3}, {"sample_weight": s}):
                _assert_same(_all_results(x, target, reduction, **kwargs),
                             _all_results(x, dense, reduction, **kwargs))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_output_and_out(rng, dtype, reduction):
    x = rng.normal(size=(30, 50)).astype(dtype)
    dense = _random_indicator(rng, 30, 50)
    target = sparse.csr_array(dense)
    grad_output = rng.normal(size=30) if reduction == "none" else 2.5
    expected = multilabel_margin_loss_and_grad(x, dense, reduction, **INDICATOR,
                                               grad_output=grad_output)
    out = np.empty_like(x)
    loss, gradient = multilabel_margin_loss_and_grad(x, target, reduction, **INDICATOR,
                                                     grad_output=grad_output, out=out)
    assert gradient is out
    np.testing.assert_array_equal(loss, expected[0])
    np.testing.assert_array_equal(out, expected[1])


def test_out_aliasing_the_targets_indices_is_not_written_through(rng):
    # an out= buffer over the target's own index array: the kernel writes a temporary
    x = rng.normal(size=(4, 6))
    dense = np.eye(4, 6, dtype=np.int64)
    target = sparse.csr_array(dense)
    buffer = np.zeros(24)
    target.indices = buffer.view(np.int64)[:4]
    target.indices[:] = [0, 1, 2, 3]
    out = buffer.reshape(4, 6)
    expected = multilabel_margin_loss_grad(x, dense, "sum", **INDICATOR)
    multilabel_margin_loss_grad(x, target, "sum", **INDICATOR, out=out)
    np.testing.assert_array_equal(out, expected)


def test_csr_rows_under_many_threads(rng):
    # Each thread reads its own rows' bounds: many short rows, threads
    # interleaving, the dense indicator's bits every time.
    x = rng.normal(size=(4000, 24)).astype(np.float32)
    dense = _random_indicator(rng, 4000, 24)
    target = sparse.csr_array(dense)
    expected = multilabel_margin_loss_and_grad(x, dense, "none", **INDICATOR, n_threads=1)
    for _ in range(20):
        for n_threads in (2, 3, 4):
            _assert_same(multilabel_margin_loss_and_grad(x, target, "none", **INDICATOR,
                                                         n_threads=n_threads), expected)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_same_bits_for_every_thread_count(rng, n_threads):
    x = rng.normal(size=(300, 120)).astype(np.float32)
    dense = _random_indicator(rng, 300, 120)
    target = sparse.csr_array(dense)
    expected = multilabel_margin_loss_and_grad(x, dense, "none", **INDICATOR, n_threads=1)
    actual = multilabel_margin_loss_and_grad(x, target, "none", **INDICATOR,
                                             n_threads=n_threads)
    _assert_same(actual, expected)


def test_one_sample_shapes(rng):
    x = rng.normal(size=5)
    dense = np.array([1, 0, 0, 1, 0])
    for target in (sparse.coo_array(dense), sparse.csr_array(dense)):
        assert target.ndim == 1
        for reduction in REDUCTIONS:
            _assert_same(_all_results(x, target, reduction),
                         _all_results(x, dense, reduction))
    # a 0-d input: one sample of one class
    _assert_same(_all_results(np.float64(0.5), sparse.coo_array(np.array([1])), "none"),
                 _all_results(np.float64(0.5), np.array([1]), "none"))


def test_empty_rows_and_a_row_with_every_class(rng):
    x = rng.normal(size=(4, 9))
    dense = np.zeros((4, 9), dtype=np.int32)
    dense[1] = 1
    target = sparse.csr_matrix(dense)
    loss, gradient = multilabel_margin_loss_and_grad(x, target, "none", **INDICATOR)
    np.testing.assert_array_equal(loss, [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(gradient, np.zeros_like(x))
    empty = sparse.csr_array((4, 9), dtype=np.int8)
    assert float(multilabel_margin_loss(x, empty, "sum", **INDICATOR)) == 0.0


def test_duplicates_are_summed_and_explicit_zeros_are_not_labels(rng):
    x = rng.normal(size=(3, 6))
    # (0, 1) twice: 1 + 0 -> 1; (1, 2): 1 + -1 -> 0; (2, 4): explicit 0; (2, 5): 1
    rows = [0, 0, 1, 1, 2, 2, 0]
    columns = [1, 1, 2, 2, 4, 5, 3]
    values = [1, 0, 1, -1, 0, 1, 1]
    dense = np.zeros((3, 6), dtype=np.int64)
    dense[0, [1, 3]] = 1
    dense[2, 5] = 1
    expected = multilabel_margin_loss_and_grad(x, dense, "none", **INDICATOR)
    coo = sparse.coo_array((values, (rows, columns)), shape=(3, 6))
    for target in (coo, coo.tocsc(), sparse.csr_array((values, (rows, columns)), shape=(3, 6)),
                   coo.tocsr()):
        np.testing.assert_array_equal(target.toarray(), dense)
        _assert_same(multilabel_margin_loss_and_grad(x, target, "none", **INDICATOR),
                     expected)
    # a CSR with explicit zeros stored, canonical otherwise
    explicit = sparse.csr_array((np.array([1, 0, 1, 0, 0, 1]), np.array([1, 3, 0, 2, 4, 5]),
                                 np.array([0, 2, 4, 6])), shape=(3, 6))
    assert explicit.has_canonical_format
    dense_explicit = explicit.toarray()
    _assert_same(multilabel_margin_loss_and_grad(x, explicit, "none", **INDICATOR),
                 multilabel_margin_loss_and_grad(x, dense_explicit, "none", **INDICATOR))
    # bool duplicates: True + True is True, as SciPy's toarray() gives
    duplicated = sparse.coo_array((np.array([True, True]), ([0, 0], [2, 2])), shape=(3, 6))
    _assert_same(multilabel_margin_loss_and_grad(x, duplicated, "none", **INDICATOR),
                 multilabel_margin_loss_and_grad(x, duplicated.toarray(), "none", **INDICATOR))


def test_unsorted_csr_rows(rng):
    x = rng.normal(size=(2, 8)).astype(np.float32)
    target = sparse.csr_array((np.ones(5, dtype=np.int64), np.array([6, 2, 0, 7, 3]),
                               np.array([0, 3, 5])), shape=(2, 8))
    assert not target.has_canonical_format
    _assert_same(multilabel_margin_loss_and_grad(x, target, "none", **INDICATOR),
                 multilabel_margin_loss_and_grad(x, target.toarray(), "none", **INDICATOR))


@pytest.mark.parametrize("container", [*CONTAINERS, "lil_array", "dok_array", "bsr_array",
                                       "dia_array"])
def test_the_callers_matrix_is_unchanged(rng, container):
    x = rng.normal(size=(5, 6))
    rows = [0, 0, 3, 1, 3, 4]
    columns = [4, 4, 1, 0, 5, 2]
    values = np.array([1, 0, 1, 1, 1, 0], dtype=np.int16)  # a duplicate, an explicit zero
    coo = sparse.coo_array((values, (rows, columns)), shape=(5, 6))
    if container.startswith("coo"):
        target = CONTAINERS[container](coo)
    elif container in CONTAINERS:
        target = CONTAINERS[container]((values, (rows, columns)), shape=(5, 6))
    else:
        target = coo.asformat(container.split("_")[0])
    before = {name: np.array(value, copy=True) for name, value in vars(target).items()
              if isinstance(value, np.ndarray)}
    before_coords = [np.array(axis, copy=True) for axis in getattr(target, "coords", ())]
    dense = target.toarray()
    _assert_same(multilabel_margin_loss_and_grad(x, target, "none", **INDICATOR),
                 multilabel_margin_loss_and_grad(x, dense, "none", **INDICATOR))
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(target, name), value, err_msg=name)
    for axis, value in zip(getattr(target, "coords", ()), before_coords):
        np.testing.assert_array_equal(axis, value)
    np.testing.assert_array_equal(target.toarray(), dense)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("container", ["csr_array", "coo_matrix"])
def test_a_sparse_target_needs_target_format_indicator(container):
    x = np.zeros((2, 3))
    target = CONTAINERS[container](np.eye(2, 3, dtype=np.int64))
    message = (rf"target must be a dense array of class indices, got a SciPy sparse "
               rf"{container} of shape \(2, 3\); pass target_format='indicator'")
    with pytest.raises(TypeError, match=message):
        multilabel_margin_loss(x, target)
    with pytest.raises(TypeError, match=message):
        multilabel_margin_loss_and_grad(x, target, "none")
    with pytest.raises(TypeError, match=message):
        MultiLabelMarginLoss()(x, target)
    with pytest.raises(TypeError, match="target must be a dense array of class indices"):
        multi_margin_loss(x, sparse.csr_array(np.array([[1, 0]])))


@pytest.mark.parametrize("container", CONTAINERS)
def test_values_other_than_0_and_1(container):
    x = np.zeros((3, 4))
    dense = np.array([[0, 1, 0, 0], [0, 0, 0, 2], [1, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"only 0 and 1 with target_format='indicator'; "
                                         r"got target\[1, 3\] = 2"):
        multilabel_margin_loss(x, dense, **INDICATOR)
    with pytest.raises(ValueError, match=r"only 0 and 1 with target_format='indicator'; "
                                         r"got target\[1, 3\] = 2"):
        multilabel_margin_loss(x, CONTAINERS[container](dense), **INDICATOR)
    negative = CONTAINERS[container](np.array([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, -1, 0]]))
    with pytest.raises(ValueError, match=r"got target\[2, 2\] = -1"):
        multilabel_margin_loss_grad(x, negative, **INDICATOR)


def test_duplicates_summing_to_two_are_the_dense_error():
    x = np.zeros((2, 4))
    target = sparse.coo_array(([1, 1], ([1, 1], [2, 2])), shape=(2, 4))
    assert target.toarray()[1, 2] == 2
    with pytest.raises(ValueError, match=r"got target\[1, 2\] = 2"):
        multilabel_margin_loss(x, target, **INDICATOR)


def test_a_float_dtype_is_the_dense_error():
    x = np.zeros((2, 3))
    with pytest.raises(TypeError, match="target must be an integer or bool 0/1 indicator array "
                                        "with target_format='indicator', got dtype float64"):
        multilabel_margin_loss(x, np.eye(2, 3), **INDICATOR)
    with pytest.raises(TypeError, match="target must be an integer or bool 0/1 indicator array "
                                        "with target_format='indicator', got a sparse "
                                        "csr_array of dtype float64"):
        multilabel_margin_loss(x, sparse.csr_array(np.eye(2, 3)), **INDICATOR)


@pytest.mark.parametrize("shape, input_shape", [((3, 4), (2, 4)), ((2, 5), (2, 4)),
                                                ((1, 4), (4,)), ((5,), (4,)), ((2,), (2, 4))])
def test_a_shape_other_than_the_inputs(shape, input_shape):
    x = np.zeros(input_shape)
    target = sparse.coo_array(np.ones(shape, dtype=np.int64))
    message = (rf"target must have the shape of input \({input_shape[0]},"
               rf".*\(a 0/1 indicator of each class\); got shape \({shape[0]},")
    with pytest.raises(ValueError, match=message):
        multilabel_margin_loss(x, np.ones(shape, dtype=np.int64), **INDICATOR)
    with pytest.raises(ValueError, match=message):
        multilabel_margin_loss(x, target, **INDICATOR)
    with pytest.raises(ValueError, match=message):
        multilabel_margin_loss(x, target.tocsr(), **INDICATOR)


def test_a_corrupted_csr_structure():
    x = np.zeros((2, 3))
    target = sparse.csr_array(np.eye(2, 3, dtype=np.int64))
    target.indices[1] = 7  # past the last column
    with pytest.raises(ValueError, match=r"target is not a valid sparse matrix: an index "
                                         r"lies outside \[0, 3\)"):
        multilabel_margin_loss(x, target, **INDICATOR)
    for indptr in ([0, 5, 2], [0, 2, 1], [1, 1, 2]):
        target = sparse.csr_array(np.eye(2, 3, dtype=np.int64))
        target.indptr[:] = indptr
        with pytest.raises(ValueError, match="target is not a valid sparse matrix: indptr must "
                                             "rise from 0 to at most the number of entries"):
            multilabel_margin_loss(x, target, **INDICATOR)
    target = sparse.csr_array(np.eye(2, 3, dtype=np.int64))
    target.indptr = np.array([0, 1], dtype=target.indptr.dtype)  # one row short
    with pytest.raises(ValueError, match=r"target is not a valid sparse matrix: indptr has "
                                         r"shape \(2,\), expected \(3,\)"):
        multilabel_margin_loss(x, target, **INDICATOR)
    target = sparse.csc_array(np.eye(2, 3, dtype=np.int64))
    target.indices[0] = 2  # past the last row
    with pytest.raises(ValueError, match=r"an index lies outside \[0, 2\)"):
        multilabel_margin_loss(x, target, **INDICATOR)
    target = sparse.coo_array(np.eye(2, 3, dtype=np.int64))
    target.coords[1][0] = -1
    with pytest.raises(ValueError, match=r"a coordinate lies outside \[0, 3\)"):
        multilabel_margin_loss(x, target, **INDICATOR)


# ---------------------------------------------------------------- memory


@pytest.mark.parametrize("gradient", [False, True], ids=["loss", "loss_and_grad"])
def test_no_n_by_c_array_is_made_for_the_target(rng, gradient):
    # (512, 20000): a dense bool target would be 10 MB, the one-thread scratch is
    # about 1 MB, the float32 gradient (the result) 41 MB
    n_samples, n_classes = 512, 20_000
    x = rng.normal(size=(n_samples, n_classes)).astype(np.float32)
    rows = np.repeat(np.arange(n_samples), 5)
    columns = np.concatenate([rng.choice(n_classes, 5, replace=False)
                              for _ in range(n_samples)])
    target = sparse.coo_array((np.ones(rows.size, dtype=np.int64), (rows, columns)),
                              shape=(n_samples, n_classes))
    out = np.empty_like(x) if gradient else None
    call = ((lambda: multilabel_margin_loss_and_grad(x, target, **INDICATOR, out=out,
                                                     n_threads=1))
            if gradient else (lambda: multilabel_margin_loss(x, target, **INDICATOR,
                                                              n_threads=1)))
    call()
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n_samples * n_classes // 4, peak  # a quarter of a bool N x C


# ---------------------------------------------------------------- Dask


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dask_input_with_a_sparse_target(rng, reduction):
    da = pytest.importorskip("dask.array")
    scores = rng.normal(size=(60, 40)).astype(np.float32)
    dense = _random_indicator(rng, 60, 40)
    x = da.from_array(scores, chunks=(17, 40))
    s = rng.uniform(0.5, 2.0, 60)
    for target in (sparse.csr_array(dense), sparse.coo_matrix(dense.astype(np.int8))):
        for kwargs in ({}, {"sample_weight": s}):
            loss, gradient = multilabel_margin_loss_and_grad(x, target, reduction, **INDICATOR,
                                                             **kwargs)
            expected = multilabel_margin_loss_and_grad(scores, dense, reduction, **INDICATOR,
                                                       **kwargs)
            np.testing.assert_array_equal(np.asarray(loss.compute()), expected[0])
            np.testing.assert_array_equal(gradient.compute(), expected[1])
    with pytest.raises(TypeError, match="got a SciPy sparse csr_array of shape \\(60, 40\\); "
                                        "pass target_format='indicator'"):
        multilabel_margin_loss(x, sparse.csr_array(dense), reduction)
