"""The margin losses of Dask arrays chunked along samples, as lazy Dask results.

``marginloss.functional`` hands a call here when ``input``, ``target``,
``sample_weight`` or ``grad_output`` is a Dask array (``import marginloss``
never imports Dask).  Shapes, chunks, dtypes and settings are checked at the
call; every block of rows then runs through the steps of the NumPy call path
(``marginloss._engine``: the same checks, kernels and reduction), and 'sum'
and 'mean' add the blocks' float64 sums SPLIT_EVERY at a time in block order.
See docs/design.md, "Dask".
"""

import contextlib
import functools

import dask.array as da
import numpy as np

from . import _engine
from ._validation import (
    LABEL_TARGETS,
    _as_array,
    as_grad_output,
    check_sample_weight,
    check_weight_total,
    class_target_shape_error,
    grad_output_shape_error,
    is_sparse,
    label_target_shape_error,
    sample_weight_shape_error,
    sparse_index_target_error,
)

# Block sums are added this many at a time (Dask's split_every), fixed so that
# the order of the additions depends only on the number of blocks.
SPLIT_EVERY = 16


def forward(settings, input, target, sample_weight):
    """The loss as a lazy Dask array (see the module's docstring)."""
    batch = _Batch(settings, input, target, sample_weight)
    scores, target, sample_weight, _ = batch.empty()
    dtype = _engine.forward(settings, scores, target, sample_weight).dtype
    block = functools.partial(_loss_block, settings)
    if settings.reduction == "none":
        return da.blockwise(block, "i", *batch.blockwise_args(), align_arrays=False,
                            concatenate=True, meta=np.empty(0, dtype))
    partials = da.blockwise(block, "i", *batch.blockwise_args(), align_arrays=False,
                            concatenate=True, adjust_chunks={"i": 1}, meta=np.empty(0))
    return _total(partials, settings.reduction, dtype, batch)


def loss_and_gradient(settings, input, target, grad_output, out, sample_weight):
    """``(loss, gradient)`` as lazy Dask arrays (see the module's docstring)."""
    if out is not None:
        raise ValueError(
            "out must be None when an argument is a Dask array: the gradient is a lazy "
            f"Dask array (write it with dask.array.store or to_zarr); got "
            f"{type(out).__name__}"
        )
    batch = _Batch(settings, input, target, sample_weight, grad_output)
    scores, target, sample_weight, grad_output = batch.empty()
    loss_meta, grad_meta = _engine.loss_and_gradient(settings, scores, target, grad_output,
                                                     None, sample_weight)
    block = functools.partial(_gradient_block, settings, batch.n_samples)
    # One task per block returns the pair; two light tasks per block take it apart.
    pairs = da.blockwise(block, "i", *batch.blockwise_args(grad_output=True),
                         align_arrays=False, concatenate=True, meta=np.empty(0, dtype=object))
    gradient = pairs.map_blocks(_second, new_axis=1, chunks=batch.scores.chunks,
                                meta=np.empty((0, 0), grad_meta.dtype))
    if gradient.chunks != batch.input_chunks:
        gradient = gradient.rechunk(batch.input_chunks)
    if settings.reduction == "none":
        value = pairs.map_blocks(_first, meta=np.empty(0, loss_meta.dtype))
    else:
        partials = pairs.map_blocks(_first, chunks=((1,) * pairs.numblocks[0],),
                                    meta=np.empty(0))
        value = _total(partials, settings.reduction, loss_meta.dtype, batch)
    return value, gradient


# ------------------------------------------------------------ the graphs


def _total(partials, reduction, dtype, batch):
    """The 0-d reduced loss from the (n_blocks,) float64 block sums."""
    total = partials.sum(split_every=SPLIT_EVERY)
    weight_total = batch.weight_total
    finish = functools.partial(_finish, reduction, dtype, batch.n_samples)
    return da.blockwise(finish, "", total, "", *_split(weight_total, ""),
                        meta=np.empty((), dtype))


def _finish(reduction, dtype, n_samples, total, weight_total):
    return _engine.finish(total, reduction, dtype, n_samples, weight_total)


# ------------------------------------------------------------ the arguments


class _Batch:
    """The arguments of one call, checked and lined up along the input's row chunks.

    ``scores`` has one chunk along classes; ``target``, ``sample_weight`` and
    an (N,) ``grad_output`` have the same row chunks; ``starts`` holds each
    block's first row (for error messages); ``weight_total`` is sum(s) for a
    weighted 'mean' (a float, or a 0-d Dask array), else None.
    """

    def __init__(self, settings, input, target, sample_weight, grad_output=None):
        for name, value in (("input", input), ("target", target),
                            ("sample_weight", sample_weight), ("grad_output", grad_output)):
            if isinstance(value, da.Array):
                _check_known_chunks(name, value)
        self.reduction = settings.reduction
        scores = input if isinstance(input, da.Array) else _as_array(input, "input")
        if scores.ndim != 2 or scores.shape[1] == 0:
            raise ValueError(
                "input must be a matrix (N, C) with C >= 1 when an argument is a Dask array "
                f"(its rows are split into blocks); got shape {scores.shape}"
            )
        self.n_samples, self.n_classes = scores.shape
        input_shape = scores.shape
        if is_sparse(target):
            if settings.loss.name != "indicator":
                raise sparse_index_target_error(target)
        elif not isinstance(target, da.Array):
            target = _as_array(target, "target")
        _check_target_shape(settings, target, input_shape)
        if sample_weight is not None:
            if not isinstance(sample_weight, da.Array):
                sample_weight = _as_array(sample_weight, "sample_weight")
            if sample_weight.shape != (self.n_samples,):
                raise sample_weight_shape_error(sample_weight.shape, (self.n_samples,))
        if grad_output is not None:
            grad_output = _check_grad_output(grad_output, self.n_samples, self.reduction)

        rows = _row_chunks(scores, target, sample_weight, grad_output)
        self.starts = da.from_array(np.cumsum((0,) + rows[:-1], dtype=np.int64), chunks=1)
        self.target_index = settings.loss.target_index
        if isinstance(scores, da.Array):
            self.input_chunks = scores.chunks
            self.scores = scores.rechunk({1: -1}) if len(scores.chunks[1]) > 1 else scores
        else:
            self.scores = da.from_array(scores, chunks=(rows, -1))
            self.input_chunks = self.scores.chunks
        self.target = _along_rows(target, rows)
        self.sample_weight, self.weight_total = self._sample_weight(sample_weight, rows)
        self.grad_output = (_along_rows(grad_output, rows)
                            if grad_output is not None and grad_output.ndim == 1
                            else grad_output)

    def _sample_weight(self, sample_weight, rows):
        if sample_weight is None:
            return None, None
        mean = self.reduction == "mean"
        if not isinstance(sample_weight, da.Array):
            # NumPy's weights are checked now, and summed as the NumPy call sums them.
            checked = check_sample_weight(sample_weight, (self.n_samples,), self.n_samples,
                                          self.reduction)
            return da.from_array(checked, chunks=(rows,)), checked.sum() if mean else None
        sample_weight = _along_rows(sample_weight, rows)
        if not mean:
            return sample_weight, None
        sums = da.blockwise(_sample_weight_block_sum, "i", sample_weight, "i", self.starts, "i",
                            align_arrays=False, adjust_chunks={"i": 1}, meta=np.empty(0))
        total = sums.sum(split_every=SPLIT_EVERY)
        return sample_weight, total.map_blocks(
            functools.partial(_nonzero_weight_total, self.n_samples), meta=np.empty(()))

    def blockwise_args(self, grad_output=False):
        """``(array, index)`` pairs for da.blockwise, in the block functions' order."""
        args = [(self.scores, "ij"), (self.target, self.target_index),
                _split(self.sample_weight, "i")]
        if grad_output:
            go = self.grad_output
            args += [_split(go, "i" if go.ndim else ""), _split(self.weight_total, "")]
        args.append((self.starts, "i"))
        return [item for pair in args for item in pair]

    def empty(self):
        """``(scores, target, sample_weight, grad_output)``: NumPy stand-ins with no rows.

        The NumPy call on them checks every dtype and setting that the blocks
        will meet, and tells the results' dtypes.
        """
        def empty(array):
            if array is None:
                return None
            return np.zeros((0,) * (array.ndim > 0) + array.shape[1:], array.dtype)

        return (empty(self.scores), empty(self.target), empty(self.sample_weight),
                empty(self.grad_output))


def _split(value, index):
    """``(value, index)`` for da.blockwise: a Dask array is split along index (""
    for a 0-d one), anything else (None, a scalar, a float) goes whole to every block."""
    return (value, index) if isinstance(value, da.Array) else (value, None)


def _check_known_chunks(name, array):
    if any(np.isnan(size) for sizes in array.chunks for size in sizes):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {array.shape}): its blocks must be "
            f"lined up by rows before anything is computed; call {name}.compute_chunk_sizes() "
            f"first"
        )


def _check_target_shape(settings, target, input_shape):
    n_samples, n_classes = input_shape
    if settings.loss.target_index == "i":
        if target.shape != (n_samples,):
            raise class_target_shape_error(target.shape, input_shape, single_sample=False)
    elif target.shape != input_shape:
        raise label_target_shape_error(target.shape, input_shape,
                                       LABEL_TARGETS[settings.loss.name])


def _check_grad_output(grad_output, n_samples, reduction):
    """grad_output as a 0-d or (N,) array (Dask, or NumPy through as_grad_output)."""
    if not isinstance(grad_output, da.Array):
        array, stride = as_grad_output(grad_output, (n_samples,), reduction)
        return array if stride else array.reshape(())
    if grad_output.ndim == 0 or (reduction == "none" and grad_output.shape == (n_samples,)):
        return grad_output
    raise grad_output_shape_error(grad_output.shape, (n_samples,), reduction)


def _row_chunks(*arrays):
    """The row chunks of the first Dask array among the arguments (one block if none)."""
    for array in arrays:
        if isinstance(array, da.Array) and array.ndim:
            return array.chunks[0]
    return (arrays[0].shape[0],)


def _along_rows(array, rows):
    """A Dask array with these row chunks (and one chunk along any second axis)."""
    chunks = (rows,) + (-1,) * (array.ndim - 1)
    if isinstance(array, da.Array):
        return array.rechunk(chunks)
    if is_sparse(array):  # blocks of SciPy sparse rows (CSR slices), never made dense
        return da.from_array(array.tocsr(), chunks=chunks, asarray=False)
    return da.from_array(array, chunks=chunks)


# ------------------------------------------------------------ the blocks
# Module-level functions bound with functools.partial, so that the graphs
# pickle (dask.distributed).


@contextlib.contextmanager
def _rows_named(start, block):
    """A ValueError raised for a block names the block's rows of the batch."""
    first = int(start[0])
    try:
        yield
    except ValueError as exc:
        raise ValueError(
            f"{exc} (in the Dask block of rows {first}:{first + block.shape[0]}; positions "
            f"count from its first row)"
        ) from exc


def _loss_block(settings, scores, target, sample_weight, start):
    """The block's losses ('none'), or their float64 sum as a (1,) array."""
    with _rows_named(start, scores):
        if settings.reduction == "none":
            return _engine.forward(settings, scores, target, sample_weight)
        # checked as 'sum', not 'mean': a block whose weights sum to 0 is no error
        block = settings._replace(reduction="sum")
        problem = _engine.validate(block, scores, target, sample_weight)
        loss_out = _engine.run_loss(block, problem)
        return np.array([_engine.weighted_sum(loss_out, problem.sample_weight)])


def _gradient_block(settings, n_samples, scores, target, sample_weight, grad_output,
                    weight_total, start):
    """``(loss, gradient)`` of a block: the loss as rows ('none') or a (1,) partial sum.

    The gradient is scaled as in the call on the whole batch: by its N for the
    mean, and by its sum of the sample weights ``weight_total`` for the
    weighted mean.
    """
    with _rows_named(start, scores):
        if settings.reduction == "none":
            return _engine.loss_and_gradient(settings, scores, target, grad_output, None,
                                             sample_weight)
        problem = _engine.validate(settings._replace(reduction="sum"), scores, target,
                                   sample_weight, grad_output)
        grad_output, stride = problem.grad_output, problem.stride
        weighted = problem.sample_weight is not None
        if weighted:
            grad_output, stride = _engine.weighted_grad_output(
                grad_output, stride, problem.sample_weight, settings.reduction, weight_total)
        scale = _engine.gradient_scale(settings, n_samples, problem.scores.shape[1], weighted)
        gradient = np.empty_like(problem.scores)
        loss_out = _engine.run_loss_gradient(settings, problem, scale, grad_output, stride,
                                             gradient)
        return np.array([_engine.weighted_sum(loss_out, problem.sample_weight)]), gradient


def _sample_weight_block_sum(sample_weight, start):
    with _rows_named(start, sample_weight):
        checked = check_sample_weight(sample_weight, sample_weight.shape,
                                      sample_weight.shape[0], "sum")
    return np.array([checked.sum()])


def _nonzero_weight_total(n_samples, total):
    return check_weight_total(total, n_samples)


def _first(pair):
    return pair[0]


def _second(pair):
    return pair[1]
