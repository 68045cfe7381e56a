"""The arrays the losses take and give: layouts, dtypes, shapes, ``out=``, array-likes.

Each result must be bitwise the same whatever the memory layout of the
arguments (strided, reversed, read-only, memory-mapped, lists, byte-swapped),
the caller's arrays are never written, integer and small float inputs are
computed in float64 / float32, the gradient has the input's shape and dtype,
and ``out=`` receives the gradient even when it aliases the input.
"""

import numpy as np
import pytest
from _helpers import (
    ALL_LOSSES,
    CS,
    FLOAT_DTYPES,
    MLM,
    MM,
    REDUCTIONS,
    assert_bitwise,
    mlm_target,
    mm_target,
)

from marginloss import (
    MultiLabelMarginLoss,
    MultiMarginLoss,
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multi_margin_loss_grad,
    multilabel_margin_loss,
    multilabel_margin_loss_and_grad,
)


# ================================================================== (c) input layouts


def _layout(array, layout, tmp_path):
    """A differently laid out array with the same values (None if not applicable)."""
    array = np.asarray(array)
    if layout == "C":
        return np.ascontiguousarray(array)
    if layout == "fortran":
        return np.asfortranarray(array) if array.ndim == 2 else None
    if layout == "strided-columns":
        if array.ndim != 2:
            return None
        big = np.full((array.shape[0], 2 * array.shape[1]), 99, dtype=array.dtype)
        big[:, ::2] = array
        return big[:, ::2]
    if layout == "strided-rows":
        big = np.full((2 * array.shape[0],) + array.shape[1:], 99, dtype=array.dtype)
        big[::2] = array
        return big[::2]
    if layout == "reversed":
        return np.ascontiguousarray(array[::-1])[::-1]
    if layout == "read-only":
        copy = array.copy()
        copy.flags.writeable = False
        return copy
    if layout == "memmap":
        path = tmp_path / f"array-{array.dtype}-{array.ndim}.dat"
        writer = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
        writer[...] = array
        writer.flush()
        del writer
        return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)
    if layout == "list":
        return array.tolist()
    if layout == "byteswapped":
        return array.astype(array.dtype.newbyteorder(">" if array.dtype.byteorder != ">"
                                                     else "<"))
    raise ValueError(layout)


LAYOUTS = ["C", "fortran", "strided-columns", "strided-rows", "reversed", "read-only",
           "memmap", "list", "byteswapped"]


def _snapshot(value):
    return None if value is None else np.array(value, copy=True)


def _results(loss_cls, x, target, kwargs):
    """Every public output for one problem, as a flat list."""
    out = []
    for reduction in REDUCTIONS:
        kw = dict(kwargs, reduction=reduction)
        out.append(loss_cls.loss(x, target, **kw))
        out.append(loss_cls.grad(x, target, **kw))
        out.extend(loss_cls.loss_and_grad(x, target, **kw))
    return out


def _layout_cases():
    cases = []
    for loss_cls in (MM, CS, MLM):
        for dtype in FLOAT_DTYPES:
            for layout in LAYOUTS:
                for which in ("input", "target", "weight", "all"):
                    if layout == "list" and dtype is np.float32 and which in ("input", "all"):
                        continue  # a list of floats is float64
                    if which == "weight" and not loss_cls.class_target:
                        continue  # no weight
                    if which == "weight" and layout in ("fortran", "strided-columns"):
                        continue  # 2-D only
                    if which == "target" and loss_cls.class_target and layout in ("fortran",
                                                                                 "strided-columns"):
                        continue  # 2-D only
                    cases.append(pytest.param(
                        loss_cls, dtype, layout, which,
                        id=f"{loss_cls.__name__}-{np.dtype(dtype).name}-{layout}-{which}"))
    return cases


@pytest.mark.parametrize("loss_cls, dtype, layout, which", _layout_cases())
def test_layouts_bitwise_and_untouched(rng, tmp_path, loss_cls, dtype, layout, which):
    x = rng.standard_normal((7, 6)).astype(dtype)
    x[2, 3] = np.nan  # NaN rows must be laid out the same too
    target = loss_cls.target(rng, 7, 6)
    kwargs = {}
    weight = None
    if loss_cls.class_target:
        weight = rng.uniform(-1, 2, 6)
        kwargs = dict(p=2, margin=0.6, weight=weight)
    expected = _results(loss_cls, x, target, kwargs)

    x2, target2, weight2 = x, target, weight
    if which in ("input", "all"):
        x2 = _layout(x, layout, tmp_path)
    if which in ("target", "all"):
        target2 = _layout(target, layout, tmp_path)
    if which in ("weight", "all") and weight is not None:
        weight2 = _layout(weight, layout, tmp_path)
    if which == "all":  # a 1-D target or weight has no Fortran / column-strided form
        target2 = target if target2 is None else target2
        weight2 = weight if weight2 is None else weight2
    assert x2 is not None and target2 is not None
    if loss_cls.class_target:
        kwargs = dict(kwargs, weight=weight2)
    before = [_snapshot(a) for a in (x2, target2, weight2)]

    actual = _results(loss_cls, x2, target2, kwargs)

    for a, e in zip(actual, expected):
        assert_bitwise(a, e)
    for value, snapshot in zip((x2, target2, weight2), before):
        if snapshot is not None:
            assert_bitwise(np.asarray(value), snapshot)


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
def test_inputs_never_written_with_out(rng, loss_cls):
    x = rng.standard_normal((5, 4))
    target = loss_cls.target(rng, 5, 4)
    go = rng.standard_normal(5)
    copies = [x.copy(), target.copy(), go.copy()]
    out = np.empty_like(x)
    loss_cls.loss_and_grad(x, target, reduction="none", grad_output=go, out=out)
    for value, copy in zip((x, target, go), copies):
        assert_bitwise(value, copy)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_weight_layouts_in_constructor(rng, tmp_path, dtype):
    x = rng.standard_normal((7, 6)).astype(dtype)
    y = mm_target(rng, 7, 6)
    weight = rng.uniform(0, 2, 6)
    expected = MultiMarginLoss(weight=weight, reduction="none")(x, y)
    for layout in ["strided-rows", "reversed", "read-only", "memmap", "list", "byteswapped"]:
        w = _layout(weight, layout, tmp_path)
        assert_bitwise(MultiMarginLoss(weight=w, reduction="none")(x, y), expected)


# ================================================================== (d) out=


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [np.float16], ids=["float32", "float64",
                                                                    "float16"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("and_loss", [False, True], ids=["grad", "and_grad"])
def test_out_is_used(rng, loss_cls, dtype, reduction, and_loss):
    x = rng.standard_normal((6, 5)).astype(dtype)
    target = loss_cls.target(rng, 6, 5)
    expected = loss_cls.grad(x, target, reduction=reduction)
    out = np.full(x.shape, -7.0, dtype=expected.dtype)
    if and_loss:
        loss, result = loss_cls.loss_and_grad(x, target, reduction=reduction, out=out)
        assert_bitwise(loss, loss_cls.loss(x, target, reduction=reduction))
    else:
        result = loss_cls.grad(x, target, reduction=reduction, out=out)
    assert result is out
    assert np.shares_memory(result, out)
    assert_bitwise(out, expected)


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_out_1d_input(rng, loss_cls, dtype):
    x = rng.standard_normal(5).astype(dtype)
    target = np.int64(2) if loss_cls.class_target else np.array([2, 0, -1, 3, 3])
    expected = loss_cls.grad(x, target)
    assert expected.shape == (5,)
    out = np.zeros(5, dtype=dtype)
    assert loss_cls.grad(x, target, out=out) is out
    assert_bitwise(out, expected)


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_out_aliasing_input(rng, loss_cls, dtype, reduction):
    x = rng.standard_normal((6, 5)).astype(dtype)
    x[4, 1] = np.nan
    target = loss_cls.target(rng, 6, 5)
    go = rng.standard_normal(6) if reduction == "none" else 0.75
    expected_loss, expected_grad = loss_cls.loss_and_grad(x, target, reduction=reduction,
                                                          grad_output=go)
    # out is the input itself.
    aliased = x.copy()
    loss, grad = loss_cls.loss_and_grad(aliased, target, reduction=reduction, grad_output=go,
                                        out=aliased)
    assert grad is aliased
    assert_bitwise(loss, expected_loss)
    assert_bitwise(grad, expected_grad)
    aliased = x.copy()
    assert loss_cls.grad(aliased, target, reduction=reduction, grad_output=go,
                         out=aliased) is aliased
    assert_bitwise(aliased, expected_grad)


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
def test_out_partially_overlapping_input(rng, loss_cls):
    # out is the input shifted by one row: writing row n in place would clobber row n + 1.
    x = rng.standard_normal((6, 5))
    target = loss_cls.target(rng, 6, 5)
    expected = loss_cls.grad(x, target, reduction="sum")
    buffer = np.zeros((7, 5))
    buffer[:6] = x
    result = loss_cls.grad(buffer[:6], target, reduction="sum", out=buffer[1:])
    assert np.shares_memory(result, buffer)
    assert_bitwise(buffer[1:], expected)


def test_out_aliasing_weight_and_grad_output():
    # out overlapping the weight or grad_output must not change the result either.
    x = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3], [1.0, 2.0, 3.0, 4.0],
                  [0.0, 0.0, 0.0, 0.0]])
    y = [3, 0, 1, 2]
    buffer = np.arange(1.0, 17.0).reshape(4, 4)
    weight = buffer[0]  # C-contiguous row of out
    expected = multi_margin_loss_grad(x, y, weight=weight.copy(), reduction="sum")
    result = multi_margin_loss_grad(x, y, weight=weight, reduction="sum", out=buffer)
    assert result is buffer
    assert_bitwise(buffer, expected)
    buffer = np.arange(1.0, 17.0).reshape(4, 4)
    go = buffer[:, 0]  # strided column: converted, never read in place
    expected = multi_margin_loss_grad(x, y, reduction="none", grad_output=go.copy())
    multi_margin_loss_grad(x, y, reduction="none", grad_output=go, out=buffer)
    assert_bitwise(buffer, expected)


def test_out_memmap(tmp_path, rng):
    x = rng.standard_normal((6, 5))
    y = mm_target(rng, 6, 5)
    out = np.memmap(tmp_path / "grad.dat", dtype=np.float64, mode="w+", shape=(6, 5))
    assert multi_margin_loss_grad(x, y, out=out) is out
    assert_bitwise(np.asarray(out), multi_margin_loss_grad(x, y))


def test_out_class_methods(rng):
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = mm_target(rng, 6, 5)
    t = mlm_target(rng, 6, 5)
    for loss, target in ((MultiMarginLoss(p=2), y), (MultiLabelMarginLoss(), t)):
        out = np.empty_like(x)
        assert loss.gradient(x, target, out=out) is out
        assert_bitwise(out, loss.gradient(x, target))
        out = np.empty_like(x)
        value, grad = loss.loss_and_gradient(x, target, 2.0, out)
        assert grad is out
        assert_bitwise(grad, loss.gradient(x, target, grad_output=2.0))


# ================================================================== (h) dtypes


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize(
    "dtype, computed",
    [
        (np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float32),
        (np.int64, np.float64), (np.int32, np.float64), (np.int8, np.float64),
        (np.uint8, np.float64), (np.bool_, np.float64), (np.longdouble, np.float64),
    ],
    ids=["float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool",
         "longdouble"],
)
def test_result_dtypes(rng, loss_cls, dtype, computed):
    x = (rng.standard_normal((6, 5)) * 3).astype(dtype)
    target = loss_cls.target(rng, 6, 5)
    reference_x = x.astype(computed)
    for reduction in REDUCTIONS:
        loss, grad = loss_cls.loss_and_grad(x, target, reduction=reduction)
        assert np.asarray(loss).dtype == computed
        assert grad.dtype == computed and grad.shape == x.shape
        if reduction != "none":
            assert type(loss) is computed
        # The same as computing on the converted array.
        assert_bitwise(loss, loss_cls.loss(reference_x, target, reduction=reduction))
        assert_bitwise(grad, loss_cls.grad(reference_x, target, reduction=reduction))


def test_python_scalars_and_lists_are_float64():
    assert type(multi_margin_loss([[1, 2, 3]], [0])) is np.float64
    assert type(multilabel_margin_loss([[True, False]], [[0, -1]])) is np.float64


TARGET_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                 np.uint64]


@pytest.mark.parametrize("target_dtype", TARGET_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_target_dtypes_multi_margin(rng, target_dtype, dtype):
    x = rng.standard_normal((9, 6)).astype(dtype)
    y = mm_target(rng, 9, 6)
    for reduction in REDUCTIONS:
        expected = multi_margin_loss_and_grad(x, y, reduction=reduction, p=2)
        actual = multi_margin_loss_and_grad(x, y.astype(target_dtype), reduction=reduction, p=2)
        assert_bitwise(actual[0], expected[0])
        assert_bitwise(actual[1], expected[1])


@pytest.mark.parametrize("target_dtype", [np.int8, np.int16, np.int32, np.int64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_target_dtypes_multilabel_margin(rng, target_dtype, dtype):
    # -1 padding needs a signed dtype; unsigned targets work for rows without padding.
    x = rng.standard_normal((9, 6)).astype(dtype)
    t = mlm_target(rng, 9, 6)
    for reduction in REDUCTIONS:
        expected = multilabel_margin_loss_and_grad(x, t, reduction=reduction)
        actual = multilabel_margin_loss_and_grad(x, t.astype(target_dtype), reduction=reduction)
        assert_bitwise(actual[0], expected[0])
        assert_bitwise(actual[1], expected[1])


@pytest.mark.parametrize("target_dtype", [np.uint8, np.uint16, np.uint32, np.uint64],
                         ids=lambda d: np.dtype(d).name)
def test_unsigned_targets_multilabel_margin(rng, target_dtype):
    x = rng.standard_normal((4, 5))
    t = np.array([rng.permutation(5) for _ in range(4)])
    expected = multilabel_margin_loss_and_grad(x, t, reduction="none")
    actual = multilabel_margin_loss_and_grad(x, t.astype(target_dtype), reduction="none")
    assert_bitwise(actual[0], expected[0])
    assert_bitwise(actual[1], expected[1])


@pytest.mark.parametrize("weight_dtype", [np.int64, np.int32, np.uint8, np.float32, np.bool_],
                         ids=["int64", "int32", "uint8", "float32", "bool"])
def test_weight_dtypes(rng, weight_dtype):
    x = rng.standard_normal((6, 4))
    y = mm_target(rng, 6, 4)
    w = np.array([1, 2, 0, 3]).astype(weight_dtype)
    expected = multi_margin_loss_and_grad(x, y, weight=w.astype(np.float64), reduction="none")
    actual = multi_margin_loss_and_grad(x, y, weight=w, reduction="none")
    assert_bitwise(actual[0], expected[0])
    assert_bitwise(actual[1], expected[1])
    assert MultiMarginLoss(weight=w).weight.dtype == np.float64


# ================================================================== (i) shapes


def test_multi_margin_none_shape_follows_target(rng):
    x = rng.standard_normal((1, 4))
    assert multi_margin_loss(x, np.int64(2), reduction="none").shape == ()
    assert multi_margin_loss(x, [2], reduction="none").shape == (1,)
    x1 = rng.standard_normal(4)
    assert multi_margin_loss(x1, np.int64(2), reduction="none").shape == ()
    assert multi_margin_loss(x1, [2], reduction="none").shape == (1,)
    assert multi_margin_loss(x1, 2, reduction="none").shape == ()
    assert multi_margin_loss(rng.standard_normal((3, 4)), [0, 1, 2], reduction="none").shape \
        == (3,)
    # 0-d input: one sample of one class.
    assert multi_margin_loss(np.float64(1.5), 0, reduction="none").shape == ()
    assert multi_margin_loss(np.float64(1.5), [0], reduction="none").shape == (1,)
    # The values do not depend on the target's shape.
    np.testing.assert_array_equal(multi_margin_loss(x1, [2], reduction="none"),
                                  multi_margin_loss(x1, 2, reduction="none").reshape(1))
    np.testing.assert_array_equal(multi_margin_loss(x1, 2, reduction="none"),
                                  multi_margin_loss(x1[None], [2], reduction="none")[0])


def test_multilabel_margin_none_shape():
    x = np.array([0.1, 0.2, 0.4, 0.8])
    loss = multilabel_margin_loss(x, [3, 0, -1, 1], reduction="none")
    assert isinstance(loss, np.ndarray) and loss.shape == ()
    assert multilabel_margin_loss(x[None], [[3, 0, -1, 1]], reduction="none").shape == (1,)
    assert loss == multilabel_margin_loss(x[None], [[3, 0, -1, 1]], reduction="none")[0]
    # 0-d input: the target is (1,) or 0-d, 0 or -1; the loss is 0.
    assert multilabel_margin_loss(np.float64(0.3), [0], reduction="none").shape == ()
    assert multilabel_margin_loss(np.float64(0.3), np.int64(-1), reduction="none") == 0


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
@pytest.mark.parametrize("shape", [(), (5,), (1, 5), (3, 5), (0, 5), (2, 1)],
                         ids=["0d", "1d", "1xC", "NxC", "0xC", "Nx1"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["float32", "float64"])
def test_gradient_shape_equals_input_shape(rng, loss_cls, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    n_samples = shape[0] if len(shape) == 2 else 1
    n_classes = shape[-1] if shape else 1
    if loss_cls.class_target:
        target = mm_target(rng, n_samples, n_classes)
        if len(shape) < 2:
            target = target[0]
    else:
        target = mlm_target(rng, n_samples, n_classes)
        target = target.reshape(shape) if len(shape) == 2 else target.reshape(-1)
    for reduction in REDUCTIONS:
        loss, grad = loss_cls.loss_and_grad(x, target, reduction=reduction)
        assert grad.shape == shape and grad.dtype == dtype
        assert_bitwise(loss_cls.grad(x, target, reduction=reduction), grad)
        if reduction != "none":
            assert type(loss) is dtype  # a NumPy scalar, not an array
            assert not isinstance(loss, np.ndarray)


# ================================================================== array-likes: tensors, masked arrays


def test_tensor_that_requires_grad_is_a_type_error():
    import torch  # a tensor is an array-like

    x = torch.zeros(2, 3, requires_grad=True)
    with pytest.raises(TypeError, match=r"^input must be convertible to a NumPy array; "
                                        r"got Tensor \(RuntimeError: .*detach"):
        multi_margin_loss(x, [0, 1])


def test_unsupported_tensor_dtype_is_a_type_error():
    import torch  # a tensor is an array-like

    x = torch.zeros(2, 3, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match=r"^input must be convertible to a NumPy array; "
                                        r"got Tensor \(TypeError: .*BFloat16"):
        multilabel_margin_loss(x, [[0, -1, -1], [1, -1, -1]])


def test_cpu_tensors_work_like_arrays():
    import torch  # a tensor is an array-like

    x = torch.randn(5, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0])
    assert multi_margin_loss(x, y) == multi_margin_loss(x.numpy(),
                                                                              y.numpy())


@pytest.mark.parametrize("argument", ["input", "target", "weight", "grad_output"])
def test_masked_arrays_are_refused(argument):
    args = dict(input=np.zeros((2, 3)), target=np.array([0, 1]), weight=np.ones(3),
                grad_output=np.ones(2))
    args[argument] = np.ma.masked_array(args[argument])
    with pytest.raises(TypeError, match=rf"^{argument} must not be a masked array"):
        multi_margin_loss_grad(args["input"], args["target"], weight=args["weight"],
                                          reduction="none", grad_output=args["grad_output"])


def test_pandas_missing_values_are_named():
    # A nullable pandas column with NA: NumPy would give a float or object array,
    # and the error would blame that dtype; the missing value is the problem.
    pd = pytest.importorskip("pandas")
    scores = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"^target contains missing values \(pandas' NA\)"):
        multi_margin_loss(scores, pd.Series([0, 1, None], dtype="Int64"))
    indices = pd.DataFrame([[0, 1, None, -1]] * 3, dtype="Int64")
    with pytest.raises(ValueError, match=r"^target contains missing values \(pandas' NA\)"):
        multilabel_margin_loss(scores, indices)
    with pytest.raises(ValueError, match=r"^input contains missing values \(pandas' NA\)"):
        multi_margin_loss(pd.DataFrame(scores, dtype="Float64").mask(scores == 0), [0, 1, 2])
    # Without NA a nullable column is an ordinary array, and a NumPy-backed NaN a value.
    assert multi_margin_loss(scores, pd.Series([0, 1, 2], dtype="Int64")) == np.float32(0.75)
    nan_scores = pd.DataFrame(np.full((3, 4), np.nan))
    assert np.isnan(multi_margin_loss(nan_scores, [0, 1, 2]))


def _unaligned(array):
    """A copy of ``array`` at an odd byte address (as Dask's unpickled buffers can be)."""
    buffer = np.empty(array.nbytes + 1, np.uint8)[1:]
    view = buffer.view(array.dtype).reshape(array.shape)
    view[...] = array
    assert not view.flags.aligned and view.flags.c_contiguous
    return view


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_unaligned_arrays_give_the_same_bits(rng, dtype):
    # The kernels load typed values, which C allows only at aligned addresses: an
    # unaligned input, target, grad_output or out is copied (out: written through a
    # temporary), with the same results as aligned arrays.
    scores = rng.standard_normal((37, 5)).astype(dtype)
    target = rng.integers(0, 5, 37)
    grad_output = rng.standard_normal(37)
    labels = np.full((37, 5), -1)
    labels[:, :2] = rng.integers(0, 5, (37, 2))
    indicator = (rng.random((37, 5)) < 0.4).astype(np.int64)
    expected = multi_margin_loss_and_grad(scores, target, reduction="none",
                                          grad_output=grad_output)
    out = _unaligned(np.zeros_like(scores))
    got = multi_margin_loss_and_grad(_unaligned(scores), _unaligned(target), reduction="none",
                                     grad_output=_unaligned(grad_output), out=out)
    assert_bitwise(got[0], expected[0])
    assert_bitwise(got[1], expected[1])
    assert got[1] is out
    assert_bitwise(multi_margin_loss(_unaligned(scores), _unaligned(target)),
                   multi_margin_loss(scores, target))
    for target_value, target_format in ((labels, "indices"), (indicator, "indicator")):
        assert_bitwise(
            multilabel_margin_loss(_unaligned(scores), _unaligned(target_value),
                                   target_format=target_format),
            multilabel_margin_loss(scores, target_value, target_format=target_format))
