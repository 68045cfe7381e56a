"""Argument checking and conversion for every public entry point.

Everything the kernels rely on is established here, before any kernel runs:
settings and options, shapes, dtypes, C-contiguity, target ranges, finite
weights and a margin that fits the input's dtype.  Each error names the
argument, what was expected and what was given: ``TypeError`` for a wrong
type or dtype, ``ValueError`` for a wrong value or shape.

Each check starts with a fast path for what a training loop passes (an int
p, a float margin, a C-contiguous float32/float64 array, an int64 target)
and falls back to the general conversion otherwise; both give the same
result (docs/design.md, "Python layer").
"""

import functools
import math
import numbers
import sys
import warnings
from typing import NamedTuple

import numpy as np

from ._arrays import _as_array, _describe, _is_real_number, as_kernel_array
from ._kernels import multi_margin as _multi_margin
from ._kernels import multilabel_margin as _multilabel_margin

REDUCTIONS = ("none", "mean", "sum")
MULTI_CLASS = ("weston_watkins", "crammer_singer")
TARGET_FORMATS = ("indices", "indicator")

# Float dtypes the kernels compute in natively; others are converted (see as_scores).
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)
_INT32 = np.dtype(np.int32)
_INT64 = np.dtype(np.int64)
_ndarray = np.ndarray


def _kernel_ready(array):
    """Whether the kernels can read ``array`` as it is: C-contiguous and aligned."""
    flags = array.flags
    return flags.c_contiguous and flags.aligned


# ---------------------------------------------------------------- settings


def check_reduction(reduction, size_average=None, reduce=None, *, stacklevel=3):
    """Return 'none', 'mean' or 'sum', mapping PyTorch's legacy arguments.

    As in PyTorch, ``size_average``/``reduce`` override ``reduction`` when
    either is given (``None`` counting as True): ``reduce=False`` gives 'none',
    else ``size_average=False`` gives 'sum', else 'mean'.
    """
    if size_average is not None or reduce is not None:
        for name, value in (("size_average", size_average), ("reduce", reduce)):
            if value is not None and not isinstance(value, (numbers.Integral, np.bool_)):
                raise TypeError(f"{name} must be None or a bool, got {_describe(value)}")
        if reduce is not None and not reduce:
            reduction = "none"
        elif size_average is not None and not size_average:
            reduction = "sum"
        else:
            reduction = "mean"
        warnings.warn(
            "size_average and reduce are deprecated (as in PyTorch); "
            f"use reduction={reduction!r} instead",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        return reduction
    if not isinstance(reduction, str):
        raise TypeError(
            f"reduction must be a str, one of 'none', 'mean', 'sum'; got {_describe(reduction)}"
        )
    if reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated (as in PyTorch); use reduction='mean'",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        return "mean"
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of 'none', 'mean', 'sum'; got {reduction!r}")
    return reduction


def check_p(p):
    """Return p as the int 1 or 2 (2.0 is accepted, as in PyTorch)."""
    if type(p) is int and (p == 1 or p == 2):
        return p
    if not _is_real_number(p):
        raise TypeError(f"p must be 1 or 2, got {_describe(p)}")
    if p != 1 and p != 2:
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    return int(p)


def check_margin(margin):
    """Return margin as a finite Python float."""
    if type(margin) is float and -math.inf < margin < math.inf:
        return margin
    if isinstance(margin, np.ndarray) and margin.ndim == 0:
        margin = margin[()]
    if not _is_real_number(margin):
        raise TypeError(f"margin must be a finite real number, got {_describe(margin)}")
    try:
        value = float(margin)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"margin must be a finite real number, got {margin!r}")
    return value


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def margin_in_dtype(margin, dtype):
    """Check that the margin stays finite once rounded to the input's dtype."""
    if dtype == np.float64 or abs(margin) <= _FLOAT32_MAX:
        return margin  # margin is a finite float: nothing to round past (fast path)
    with np.errstate(over="ignore"):
        rounded = dtype.type(margin)
    if not np.isfinite(rounded):
        raise ValueError(
            f"margin={margin!r} overflows {dtype.name}, the input's dtype "
            f"(largest finite value {np.finfo(dtype).max})"
        )
    return margin


def check_weight(weight):
    """Return the class weights as a read-only float64 (C,) array, or None."""
    if weight is None:
        return None
    array = _as_array(weight, "weight")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"weight must be an array of real numbers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(
            f"weight must be a 1-D array with one weight per class, got shape {array.shape}"
        )
    array = np.array(array, dtype=np.float64)  # a private copy
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"weight must be finite, got weight[{index}] = {array[index]}")
    array.flags.writeable = False
    return array


@functools.lru_cache(maxsize=16)
def _unit_weight(n_classes):
    """A read-only (C,) view of a single 1.0 with stride 0 (the kernels take a
    strided weight): no (C,) array, which for 2**31 classes would take 16 GB.
    Cached because np.broadcast_to costs a few microseconds a call."""
    return np.broadcast_to(np.ones(()), (n_classes,))


def weight_for(weight, n_classes):
    """The (C,) float64 weights for a problem with n_classes classes (ones for None)."""
    if weight is None:
        return _unit_weight(n_classes)
    if weight.shape != (n_classes,):
        raise ValueError(
            f"weight must have one entry per class: expected shape ({n_classes},), "
            f"got shape {weight.shape}"
        )
    return weight


def check_n_threads(n_threads):
    """Return n_threads unchanged if it is None or a non-zero int."""
    if n_threads is None:
        return None
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(
            f"n_threads must be None, a positive int or a negative int (-1 = all cores), "
            f"got {_describe(n_threads)}"
        )
    if n_threads == 0:
        raise ValueError(
            "n_threads must be None, a positive int or a negative int (-1 = all cores), got 0"
        )
    return int(n_threads)


def check_multi_class(multi_class):
    """Return multi_class, 'weston_watkins' or 'crammer_singer'."""
    if not isinstance(multi_class, str):
        raise TypeError(
            f"multi_class must be 'weston_watkins' or 'crammer_singer', "
            f"got {type(multi_class).__name__}"
        )
    if multi_class not in MULTI_CLASS:
        raise ValueError(
            f"multi_class must be 'weston_watkins' or 'crammer_singer', got {multi_class!r}"
        )
    return multi_class


def check_target_format(target_format):
    """Return target_format, 'indices' or 'indicator'."""
    if not isinstance(target_format, str) or target_format not in TARGET_FORMATS:
        raise (ValueError if isinstance(target_format, str) else TypeError)(
            f"target_format must be 'indices' or 'indicator', got {target_format!r}"
        )
    return target_format


# ---------------------------------------------------------------- shape errors
# The messages of the shape checks, shared with the Dask layer, which checks
# the shapes of lazy arrays before any block is computed.

# What a multi-label target holds, by target_format (for messages).
LABEL_TARGETS = {"indices": "class indices padded with -1",
                 "indicator": "a 0/1 indicator of each class"}


def class_target_shape_error(shape, input_shape, single_sample=True):
    """The ValueError for a multi-class target of the wrong shape."""
    hint = " (or 0-d for a single sample)" if single_sample else ""
    n_samples = input_shape[0] if len(input_shape) == 2 else 1
    return ValueError(
        f"target must be a 1-D array of {n_samples} class indices, one per sample "
        f"of input of shape {input_shape}{hint}; got shape {shape}"
    )


def label_target_shape_error(shape, input_shape, what):
    """The ValueError for a multi-label target of the wrong shape."""
    return ValueError(
        f"target must have the shape of input {input_shape} ({what}); got shape {shape}"
    )


def grad_output_shape_error(shape, loss_shape, reduction):
    """The ValueError for a grad_output of the wrong shape."""
    expected = (
        f"a scalar or an array of the loss's shape {tuple(loss_shape)}"
        if reduction == "none"
        else f"a scalar (the loss is a scalar with reduction={reduction!r})"
    )
    return ValueError(f"grad_output must be {expected}; got shape {shape}")


def sample_weight_shape_error(shape, expected):
    """The ValueError for sample weights of the wrong shape."""
    return ValueError(
        f"sample_weight must have one entry per sample: expected shape {tuple(expected)}, "
        f"got shape {shape}"
    )


# ---------------------------------------------------------------- arrays


def as_scores(input):
    """Return ``(scores, shape)``: input as a C-contiguous (N, C) float array and its shape.

    float32 and float64 are kept.  float16 is computed in float32; bool,
    integer and longdouble inputs are computed in float64.  A 0-d input is one
    sample of one class, a (C,) input one sample of C classes.  The caller's
    array is never written; it is copied only when it is not already a
    C-contiguous float32/float64 array in native byte order.
    """
    if type(input) is _ndarray:
        dtype = input.dtype
        if ((dtype is _FLOAT32 or dtype is _FLOAT64) and input.ndim == 2 and input.shape[1]
                and _kernel_ready(input)):
            return input, input.shape
    array = _as_array(input, "input")
    kind = array.dtype.kind
    if kind == "c":
        raise TypeError(f"input must be real, got complex dtype {array.dtype}")
    if kind not in "biuf":
        raise TypeError(f"input must be an array of real numbers, got dtype {array.dtype}")
    if kind == "f" and array.dtype.itemsize <= 4:
        dtype = _FLOAT32
    else:
        dtype = _FLOAT64
    shape = array.shape
    if array.ndim > 2 or (array.ndim >= 1 and shape[-1] == 0):
        raise ValueError(
            "input must be a non-empty vector (C,) or matrix (N, C) with C >= 1 "
            f"(N may be 0); got shape {shape}"
        )
    n_classes = shape[-1] if array.ndim else 1
    scores = as_kernel_array(array.reshape(-1, n_classes), dtype)
    return scores, shape


def sparse_index_target_error(target):
    """The TypeError for a SciPy sparse target where class indices are read."""
    return TypeError(
        f"target must be a dense array of class indices, got a SciPy sparse "
        f"{type(target).__name__} of shape {target.shape}; pass "
        f"target_format='indicator' to the multi-label loss to read a sparse "
        f"0/1 label matrix"
    )


def _as_index_array(target):
    if is_sparse(target):
        raise sparse_index_target_error(target)
    array = _as_array(target, "target")
    if array.dtype.kind not in "iu":
        if array.size == 0 and not isinstance(target, np.ndarray):
            return array.astype(np.int64)  # an empty list
        raise TypeError(
            f"target must be an array of integer class indices, got dtype {array.dtype}"
        )
    return array


def _first_out_of_range(target, low, high):
    """Raise a ValueError naming the first entry of target outside [low, high)."""
    if target.size == 0:
        return
    if target.min() >= low and target.max() < high:
        return
    offending = np.flatnonzero((target < low) | (target >= high))
    if offending.size == 0:  # the caller's thread changed the target since min/max
        return
    flat = int(offending[0])
    position = np.unravel_index(flat, target.shape) if target.ndim else ()
    name = f"target[{', '.join(str(int(i)) for i in position)}]" if target.ndim else "target"
    value = target[position]
    if low == 0:
        expected = f"0 <= target < {high} (the number of classes)"
    else:
        expected = f"-1 <= target < {high} (the number of classes; -1 ends a sample's labels)"
    raise ValueError(f"target out of range: {name} = {value}, expected {expected}")


def check_class_target_range(target, n_classes):
    """Raise the ValueError naming the first class index outside [0, n_classes)."""
    _first_out_of_range(target, 0, n_classes)


def as_class_target(target, scores, input_shape, check_range=True, n_threads=1):
    """MultiMargin target: one class index per sample, as C-contiguous int64 (N,).

    Returns ``(target, loss_shape)``, the shape of the 'none' result: the
    target's own shape, () for a 0-d target, as in PyTorch.  With
    ``check_range=False`` an int64 (N,) array is returned as it is, its range
    unchecked: the caller checks it with `check_class_target_range` when the
    kernel flags a row (docs/design.md, "Python layer").  ``n_threads``
    threads check the range of a large target.
    """
    n_samples, n_classes = scores.shape
    if (type(target) is _ndarray and target.dtype is _INT64 and target.ndim == 1
            and target.shape[0] == n_samples and len(input_shape) == 2
            and _kernel_ready(target)):
        if check_range and _multi_margin.count_outside(target, 0, n_classes, n_threads):
            _first_out_of_range(target, 0, n_classes)
        return target, target.shape
    array = _as_index_array(target)
    if array.ndim > 1 or array.size != n_samples:
        raise class_target_shape_error(array.shape, input_shape)
    _first_out_of_range(array, 0, n_classes)
    return as_kernel_array(array.reshape(-1), np.int64), array.shape


def _label_target_shape(array, scores, input_shape, what):
    """Check that a multi-label target has the input's shape; return the loss's shape:
    (N,) for a 2-D input, () otherwise, as in PyTorch."""
    n_samples, n_classes = scores.shape
    if len(input_shape) == 2:
        ok = array.shape == input_shape
        loss_shape = (n_samples,)
    else:
        ok = array.ndim <= 1 and array.size == n_classes
        loss_shape = ()
    if not ok:
        raise label_target_shape_error(array.shape, input_shape, what)
    return loss_shape


def as_label_target(target, scores, input_shape, check_range=True, n_threads=1):
    """MultiLabel target: class indices padded with -1, with the input's shape.

    Returns ``(target, loss_shape)`` with target a C-contiguous (N, C) int32 or
    int64 array (other integer dtypes are converted to int64) and loss_shape
    (N,) for a 2-D input, () otherwise, as in PyTorch.  The range is always
    checked (the kernel reads an entry out of range as the end of the labels).
    """
    n_samples, n_classes = scores.shape
    if (type(target) is _ndarray and (target.dtype is _INT64 or target.dtype is _INT32)
            and target.shape == input_shape and len(input_shape) == 2
            and _kernel_ready(target)):
        # the kernel module's check: its wide builds read the target at memory speed
        if _multilabel_margin.count_outside_rows(target, -1, n_classes, n_threads):
            _first_out_of_range(target, -1, n_classes)
        return target, (n_samples,)
    array = _as_index_array(target)
    loss_shape = _label_target_shape(array, scores, input_shape, LABEL_TARGETS["indices"])
    _first_out_of_range(array, -1, n_classes)
    dtype = array.dtype if array.dtype in (np.dtype(np.int32), np.dtype(np.int64)) else np.int64
    return as_kernel_array(array.reshape(n_samples, n_classes), dtype), loss_shape


def as_indicator_target(target, scores, input_shape, check_range=True, n_threads=1):
    """MultiLabel target as a 0/1 indicator matrix of the input's shape.

    Returns ``(target, loss_shape)`` with target a C-contiguous (N, C) array
    the kernel reads in place: bool (viewed as uint8), uint8, int32 and int64
    as given; other integer dtypes converted to int64.  Every entry must be 0
    or 1 (always checked).
    """
    n_samples, n_classes = scores.shape
    if type(target) is not _ndarray and (type(target) is SparseTarget or is_sparse(target)):
        return as_sparse_indicator_target(target, scores, input_shape)
    array = _as_array(target, "target")
    if array.dtype.kind not in "biu":
        raise TypeError(
            f"target must be an integer or bool 0/1 indicator array with "
            f"target_format='indicator', got dtype {array.dtype}"
        )
    loss_shape = _label_target_shape(array, scores, input_shape, LABEL_TARGETS["indicator"])
    if array.dtype.kind != "b":
        bad = (array != 0) & (array != 1)
        if bad.any():
            flat = int(np.flatnonzero(bad)[0])
            position = np.unravel_index(flat, array.shape) if array.ndim else ()
            raise _indicator_value_error(position, array[position])
    array = array.reshape(n_samples, n_classes)
    if array.dtype.kind == "b":
        array = np.ascontiguousarray(array).view(np.uint8)
    elif array.dtype not in (np.dtype(np.uint8), np.dtype(np.int32), np.dtype(np.int64)):
        array = array.astype(np.int64)
    return as_kernel_array(array, array.dtype), loss_shape


# ---------------------------------------------------------------- sparse indicator targets
# A sparse 0/1 label matrix is read by the kernel as CSR rows (docs/design.md,
# "Sparse targets"): nothing of the target's N x C size is made.


def is_sparse(value):
    """Whether ``value`` is a SciPy sparse array or matrix.  SciPy is looked for
    only in ``sys.modules`` (a caller holding a sparse matrix has imported it),
    so that SciPy stays optional and is never imported here."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(value)


class SparseTarget(NamedTuple):
    """A sparse 0/1 label matrix as canonical CSR parts, not yet checked: the
    columns of row n are ``indices[indptr[n]:indptr[n + 1]]``, ascending and
    without repeats, with their values in ``data``.  ``shape`` is the matrix's
    shape ((C,) for one sample).  The torch layer passes its sparse tensors as one."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple


class SparseRows(NamedTuple):
    """The labels of each sample as the kernel reads them: those of row n are
    ``indices[indptr[n]:indptr[n + 1]]``, ascending and without repeats
    (int32 or int64, both arrays the same dtype, C-contiguous)."""

    indptr: np.ndarray
    indices: np.ndarray
    shape: tuple


def _scipy_csr_parts(target):
    """A SciPy sparse array or matrix as canonical CSR parts, read in place when it
    is canonical CSR.  Other formats are converted once (O(nnz)), duplicate entries
    summed as SciPy sums them; the caller's matrix is never changed (a
    non-canonical CSR matrix is copied before its duplicates are summed)."""
    shape = tuple(target.shape)
    n_rows, n_columns = shape if len(shape) == 2 else (1, shape[0])
    # SciPy's own routines trust the structure: check it before they read it
    if target.format == "csr":
        _check_compressed(target.indptr, target.indices, target.data, n_rows, n_columns)
    elif target.format == "csc":
        _check_compressed(target.indptr, target.indices, target.data, n_columns, n_rows)
    elif target.format == "coo":
        coords = target.coords if hasattr(target, "coords") else (target.row, target.col)
        for axis, size in zip(coords, shape):
            if axis.size and (int(axis.min()) < 0 or int(axis.max()) >= size):
                raise _not_csr_error(f"a coordinate lies outside [0, {size})")
    if target.format != "csr":
        target = target.tocsr()  # a new matrix
        owned = True
    else:
        owned = False
    if not target.has_canonical_format:
        if not owned:
            target = target.copy()
        target.sum_duplicates()  # sorts each row's columns, sums repeats
    return SparseTarget(target.indptr, target.indices, target.data, tuple(target.shape))


def _sparse_shape_loss(shape, scores, input_shape):
    """The loss's shape for a sparse target of ``shape`` (the dense indicator's rules)."""
    n_samples, n_classes = scores.shape
    if len(input_shape) == 2:
        ok = shape == tuple(input_shape)
        loss_shape = (n_samples,)
    else:
        ok = len(shape) <= 1 and math.prod(shape) == n_classes
        loss_shape = ()
    if not ok:
        raise label_target_shape_error(shape, input_shape, LABEL_TARGETS["indicator"])
    return loss_shape


def _not_csr_error(what):
    return ValueError(f"target is not a valid sparse matrix: {what}")


def _check_compressed(indptr, indices, data, n_major, n_minor):
    """Check the structure of compressed rows (or columns); return the number of entries."""
    if indptr.ndim != 1 or indptr.shape[0] != n_major + 1:
        raise _not_csr_error(f"indptr has shape {indptr.shape}, expected ({n_major + 1},)")
    nnz = int(indptr[-1])
    if int(indptr[0]) != 0 or nnz > indices.shape[0] or nnz > data.shape[0] or (
            n_major and np.any(indptr[1:] < indptr[:-1])):
        raise _not_csr_error("indptr must rise from 0 to at most the number of entries")
    if nnz and (int(indices[:nnz].min()) < 0 or int(indices[:nnz].max()) >= n_minor):
        raise _not_csr_error(f"an index lies outside [0, {n_minor})")
    return nnz


def as_sparse_indicator_target(target, scores, input_shape):
    """A sparse 0/1 indicator target (SciPy's, or a `SparseTarget`) as `SparseRows`.

    Returns ``(rows, loss_shape)``.  The checks and errors are the dense
    indicator's (dtype, shape, values 0/1, at O(nnz)); explicit zeros are not
    labels (they are left out, by a copy of the parts, only when there are some).
    """
    if type(target) is not SparseTarget:
        dtype = target.dtype
        if dtype.kind not in "biu":
            raise TypeError(
                f"target must be an integer or bool 0/1 indicator array with "
                f"target_format='indicator', got a sparse {type(target).__name__} of "
                f"dtype {dtype}"
            )
        _sparse_shape_loss(tuple(target.shape), scores, input_shape)  # before converting
        target = _scipy_csr_parts(target)
    indptr, indices, data, shape = target
    if data.dtype.kind not in "biu":
        raise TypeError(
            f"target must be an integer or bool 0/1 indicator array with "
            f"target_format='indicator', got a sparse target of dtype {data.dtype}"
        )
    loss_shape = _sparse_shape_loss(shape, scores, input_shape)
    n_samples, n_classes = scores.shape
    # The structure, so that the kernel reads only what is there (it also skips,
    # memory-safely, anything a caller's thread changes during the call).
    nnz = _check_compressed(indptr, indices, data, n_samples, n_classes)
    indices = indices[:nnz]
    data = data[:nnz]
    if data.dtype.kind == "b":
        zero = ~data
    else:
        bad = (data != 0) & (data != 1)
        if bad.any():
            entry = int(np.flatnonzero(bad)[0])
            row = int(np.searchsorted(indptr, entry, side="right")) - 1
            position = (row, int(indices[entry])) if len(shape) == 2 else (int(indices[entry]),)
            raise _indicator_value_error(position, data[entry])
        zero = data == 0
    if zero.any():  # explicit zeros: not labels
        keep = ~zero
        kept = np.concatenate(([0], np.cumsum(keep, dtype=np.int64)))
        indptr = kept[indptr]
        indices = indices[keep]
    # SciPy's int32 or int64 indices are read in place; other dtypes, or two
    # different ones, as int64
    dtype = _INT32 if indptr.dtype == _INT32 and indices.dtype == _INT32 else _INT64
    rows = SparseRows(as_kernel_array(indptr, dtype), as_kernel_array(indices, dtype),
                      tuple(shape))
    return rows, loss_shape


def _indicator_value_error(position, value):
    """The ValueError for an indicator entry other than 0 and 1."""
    name = f"target[{', '.join(str(int(i)) for i in position)}]" if position else "target"
    return ValueError(
        f"target must hold only 0 and 1 with target_format='indicator'; got {name} = {value}"
    )


_ONE = np.ones(1)
_ONE.flags.writeable = False


def as_grad_output(grad_output, loss_shape, reduction):
    """Return ``(grad_output, stride)``: a float64 array read at ``n * stride``."""
    if type(grad_output) is float:
        return (_ONE if grad_output == 1.0 else np.array((grad_output,))), 0
    array = _as_array(grad_output, "grad_output")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"grad_output must be real, got dtype {array.dtype}")
    if array.ndim == 0:
        return np.full(1, array, dtype=np.float64), 0
    if reduction == "none" and array.shape == tuple(loss_shape):
        return as_kernel_array(array.reshape(-1), np.float64), 1
    raise grad_output_shape_error(array.shape, loss_shape, reduction)


def check_sample_weight(sample_weight, loss_shape, n_samples, reduction):
    """Return the per-sample weights as a private float64 (N,) array, or None.

    They must have the per-sample loss's shape ((N,), or () for one sample
    given as a 1-D input, where (1,) is accepted too), be finite and
    non-negative, and, for reduction='mean' on a non-empty batch, not sum to
    zero (the weighted mean would be undefined).
    """
    if sample_weight is None:
        return None
    array = _as_array(sample_weight, "sample_weight")
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"sample_weight must be an array of real numbers, got dtype {array.dtype}"
        )
    expected = tuple(loss_shape)
    if array.shape != expected and not (expected == () and array.shape == (1,)):
        raise sample_weight_shape_error(array.shape, expected)
    array = np.array(array, dtype=np.float64).reshape(n_samples)  # a private copy
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"sample_weight must be finite, got sample_weight[{index}] = {array[index]}"
        )
    negative = array < 0
    if negative.any():
        index = int(np.flatnonzero(negative)[0])
        raise ValueError(
            f"sample_weight must be non-negative, got sample_weight[{index}] = {array[index]}"
        )
    if reduction == "mean":
        check_weight_total(array.sum(), n_samples)
    return array


def check_weight_total(total, n_samples):
    """Return the sum of the sample weights, an error if the weighted mean of a
    non-empty batch would divide by zero."""
    if n_samples and not total > 0:
        raise ValueError(
            "sample_weight sums to zero, so the weighted mean (reduction='mean') is undefined"
        )
    return total


def check_out(out, shape, dtype):
    """Check a caller-supplied gradient buffer."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out must have the input's shape {tuple(shape)}, got shape {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {dtype.name} (the computation's dtype), got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(
            f"out must be C-contiguous, got an array with strides {out.strides} "
            f"({'Fortran-ordered' if out.flags.f_contiguous else 'not contiguous'})"
        )
    if not out.flags.writeable:
        raise ValueError("out must be writeable, got a read-only array")
    return out
