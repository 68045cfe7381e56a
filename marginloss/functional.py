"""Margin losses and their gradients as functions of NumPy arrays.

Each call reads top-down: validate the settings and arrays
(``marginloss._validation``), prepare the outputs, run the compiled kernel
(one pass over the scores, OpenMP threads over samples), reduce the
per-sample losses in a fixed order, return.
"""

import sys
from typing import NamedTuple, Optional

import numpy as np

from . import _crammer_singer, _multilabel_margin
from ._kernels import multi_margin as _multi_margin
from ._threads import effective_n_threads
from ._validation import (
    as_class_target,
    as_grad_output,
    as_indicator_target,
    as_label_target,
    as_scores,
    check_margin,
    check_n_threads,
    check_out,
    check_p,
    check_reduction,
    check_sample_weight,
    check_weight,
    margin_in_dtype,
    weight_for,
)

__all__ = [
    "multi_margin_loss",
    "multi_margin_loss_grad",
    "multi_margin_loss_and_grad",
    "multilabel_margin_loss",
    "multilabel_margin_loss_grad",
    "multilabel_margin_loss_and_grad",
]


MULTI_CLASS = ("weston_watkins", "crammer_singer")
TARGET_FORMATS = ("indices", "indicator")


class MultiMarginSettings(NamedTuple):
    """Validated settings of a multi-class margin loss."""

    p: int
    margin: float
    weight: Optional[np.ndarray]
    reduction: str
    n_threads: Optional[int]
    multi_class: str = "weston_watkins"


class MultiLabelMarginSettings(NamedTuple):
    """Validated settings of a multi-label margin loss."""

    margin: float
    reduction: str
    n_threads: Optional[int]
    target_format: str = "indices"


def multi_margin_settings(p, margin, weight, reduction, n_threads, size_average, reduce,
                          stacklevel, multi_class="weston_watkins"):
    return MultiMarginSettings(
        p=check_p(p),
        margin=check_margin(margin),
        weight=check_weight(weight),
        reduction=check_reduction(reduction, size_average, reduce, stacklevel=stacklevel + 1),
        n_threads=check_n_threads(n_threads),
        multi_class=_check_multi_class(multi_class),
    )


def _check_multi_class(multi_class):
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


def multilabel_margin_settings(reduction, n_threads, size_average, reduce, stacklevel,
                               margin=1.0, target_format="indices"):
    if not isinstance(target_format, str) or target_format not in TARGET_FORMATS:
        raise (ValueError if isinstance(target_format, str) else TypeError)(
            f"target_format must be 'indices' or 'indicator', got {target_format!r}"
        )
    return MultiLabelMarginSettings(
        target_format=target_format,
        margin=check_margin(margin),
        reduction=check_reduction(reduction, size_average, reduce, stacklevel=stacklevel + 1),
        n_threads=check_n_threads(n_threads),
    )


# ------------------------------------------------------------------ helpers


# Dask arrays: the four calls below hand them to marginloss._dask, which calls
# the same functions again on NumPy blocks with two keyword-only extras:
# ``reducer`` replaces _reduce (it returns a block's float64 partial sum), and
# ``batch_rows`` is the N of the whole batch, so that a block's 'mean'
# gradient is scaled by 1/(N*C) exactly as the call on the whole array.


def _any_dask(*arrays):
    """Whether an argument is a Dask array: then marginloss._dask takes the call.

    Dask is looked for only when the caller has imported it, so that
    ``import marginloss`` never imports Dask.
    """
    dask_array = sys.modules.get("dask.array")
    if dask_array is None:
        return False
    array_type = getattr(dask_array, "Array", ())  # () while dask.array is being imported
    for array in arrays:  # a loop, not any(): this runs on every NumPy call
        if isinstance(array, array_type):
            return True
    return False


def _dask_layer():
    from . import _dask

    return _dask


def _reduce(loss_per_sample, reduction, dtype, loss_shape, sample_weight=None):
    """Reduce float64 per-sample losses; round once to the input's dtype.

    With ``sample_weight`` each loss is first multiplied by its weight, and
    'mean' divides by the sum of the weights (``np.average``'s convention).
    NumPy's pairwise sum of the (N,) float64 buffer has a fixed order, so the
    result does not depend on how many threads computed the buffer.
    """
    # A float32 result beyond float32's range becomes inf, and inf - inf or 0 * inf
    # NaN, quietly (as PyTorch's, and as the kernels' NaN rows).
    with np.errstate(over="ignore", invalid="ignore"):
        if sample_weight is not None:
            loss_per_sample = loss_per_sample * sample_weight
        if reduction == "none":
            return loss_per_sample.astype(dtype, copy=False).reshape(loss_shape)
        total = loss_per_sample.sum()
        if reduction == "mean":
            n_samples = loss_per_sample.shape[0]
            if not n_samples:
                total = np.nan
            elif sample_weight is None:
                total = total / n_samples
            else:
                total = total / sample_weight.sum()
        return dtype.type(total)


def _gradient_scale(reduction, n_samples, n_classes, weighted=False):
    """d reduction / d (row sum): 1/C, or 1/(N*C) for the unweighted mean.

    With sample weights the rest of the factor (s_n, or s_n / sum(s) for the
    mean) goes into the per-sample grad_output (_weighted_grad_output).
    """
    if reduction == "mean" and not weighted:
        return 1.0 / (n_samples * n_classes) if n_samples else 0.0
    return 1.0 / n_classes


def _weighted_grad_output(grad_output, stride, sample_weight, reduction):
    """Per-sample ``grad_output * s_n`` (``/ sum(s)`` for the mean), stride 1."""
    with np.errstate(over="ignore", invalid="ignore"):  # quiet inf and NaN, as _reduce
        factor = sample_weight / sample_weight.sum() if reduction == "mean" else sample_weight
        per_sample = grad_output if stride else grad_output[0]
        return np.ascontiguousarray(per_sample * factor, dtype=np.float64), 1


def _gradient_buffer(out, scores, input_shape, arrays_read):
    """Return ``(buffer, out)``: the (N, C) array the kernel writes, and the result.

    Without ``out`` a new array; with ``out`` a view of it, unless it overlaps
    an array the kernel reads, in which case the kernel writes a temporary
    that is copied into ``out`` afterwards (as NumPy's ufuncs do).
    """
    if out is None:
        buffer = np.empty_like(scores)
        return buffer, buffer.reshape(input_shape)
    check_out(out, input_shape, scores.dtype)
    if any(np.may_share_memory(out, array) for array in arrays_read):
        return np.empty_like(scores), out
    return out.reshape(scores.shape), out


def _finish_gradient(buffer, result):
    if not np.may_share_memory(buffer, result):
        np.copyto(result, buffer.reshape(result.shape))
    return result


# ------------------------------------------------------------ multi-class


def _multi_margin_prepare(settings, input, target):
    scores, input_shape = as_scores(input)
    target, loss_shape = as_class_target(target, scores, input_shape)
    n_samples, n_classes = scores.shape
    weight = weight_for(settings.weight, n_classes)
    margin = margin_in_dtype(settings.margin, scores.dtype)
    n_threads = effective_n_threads(settings.n_threads, n_samples, n_samples * n_classes)
    return scores, input_shape, target, loss_shape, weight, margin, n_threads


def multi_margin_forward(settings, input, target, sample_weight=None, *, reducer=_reduce):
    if _any_dask(input, target, sample_weight):
        return _dask_layer().multi_margin_forward(settings, input, target, sample_weight)
    scores, _, target, loss_shape, weight, margin, n_threads = _multi_margin_prepare(
        settings, input, target
    )
    sample_weight = check_sample_weight(sample_weight, loss_shape, scores.shape[0],
                                        settings.reduction)
    loss_per_sample = np.empty(scores.shape[0])
    kernels = _crammer_singer if settings.multi_class == "crammer_singer" else _multi_margin
    kernels.loss(scores, target, weight, margin, settings.p, loss_per_sample, n_threads)
    return reducer(loss_per_sample, settings.reduction, scores.dtype, loss_shape,
                   sample_weight)


def multi_margin_loss_gradient(settings, input, target, grad_output, out, sample_weight=None,
                               *, reducer=_reduce, batch_rows=None):
    if _any_dask(input, target, sample_weight, grad_output):
        return _dask_layer().multi_margin_loss_gradient(settings, input, target, grad_output,
                                                        out, sample_weight)
    scores, input_shape, target, loss_shape, weight, margin, n_threads = (
        _multi_margin_prepare(settings, input, target)
    )
    n_samples, n_classes = scores.shape
    grad_output, stride = as_grad_output(grad_output, loss_shape, settings.reduction)
    sample_weight = check_sample_weight(sample_weight, loss_shape, n_samples,
                                        settings.reduction)
    if sample_weight is not None:
        grad_output, stride = _weighted_grad_output(grad_output, stride, sample_weight,
                                                    settings.reduction)
    buffer, result = _gradient_buffer(
        out, scores, input_shape, (scores, target, weight, grad_output)
    )
    loss_per_sample = np.empty(n_samples)
    mean_rows = n_samples if batch_rows is None else batch_rows
    if settings.multi_class == "crammer_singer":
        # no division by C: the scale is d reduction / d (row loss)
        kernels, scale = _crammer_singer, _gradient_scale(
            settings.reduction, mean_rows, 1, sample_weight is not None)
    else:
        kernels, scale = _multi_margin, _gradient_scale(
            settings.reduction, mean_rows, n_classes, sample_weight is not None)
    kernels.loss_gradient(
        scores, target, weight, margin, settings.p, scale,
        grad_output, stride, loss_per_sample, buffer, n_threads,
    )
    loss = reducer(loss_per_sample, settings.reduction, scores.dtype, loss_shape,
                   sample_weight)
    return loss, _finish_gradient(buffer, result)


_SHARED_PARAMS = """    reduction : {{'none', 'mean', 'sum'}}, default='mean'
    sample_weight : array_like of shape (N,), default=None
        Non-negative, finite weight of each sample (scikit-learn's convention):
        each sample's loss and gradient are multiplied by its weight, and
        'mean' becomes the weighted average ``sum(s * loss) / sum(s)``, as
        ``np.average`` (a zero sum is an error).  For a 1-D input (one sample)
        a scalar or shape (1,).  None weighs every sample 1 (PyTorch's
        numbers).{grad_params}
    n_threads : int, default=None
        OpenMP threads over samples: None for OpenMP's default (honours
        ``OMP_NUM_THREADS`` and threadpoolctl), a positive count, or -1 for all
        cores (at most max(64, 4 x cores)).  Results are bitwise identical for
        every value.
    size_average, reduce : bool, default=None
        Deprecated, as in PyTorch; when either is given it overrides
        ``reduction`` with PyTorch's mapping and a ``DeprecationWarning``."""


def _document(function, template, what, returns, examples, grad_params=""):
    function.__doc__ = template.format(
        what=what,
        shared_params=_SHARED_PARAMS.format(grad_params=grad_params),
        returns=returns,
        examples=examples,
    )


_MULTI_MARGIN_DOC = """
    The multi-class margin (hinge) loss, PyTorch's ``multi_margin_loss``{what}.

    For each sample with scores ``x`` (C classes) and target class ``y``::

        loss = 1/C * sum_{{i != y}} weight[y] * max(0, margin - x[y] + x[i]) ** p

    Only terms with ``margin - x[y] + x[i] > 0`` count (the gradient is 0 at
    the kink).  'none' gives the per-sample losses, 'sum' their sum and 'mean'
    their sum divided by N (class weights do not change the denominator).

    Parameters
    ----------
    input : array_like of shape (N, C), (C,) or ()
        Scores.  float32 and float64 are computed natively; float16 is computed
        in float32; bool, integer and longdouble scores in float64.
    target : array_like of int, shape (N,) or () (or (1,) for one sample)
        The class index of each sample, ``0 <= target < C``.
    p : {{1, 2}}, default=1
        Power of each hinge term.
    margin : float, default=1.0
        Margin, a finite real (0 and negative values are allowed).
    weight : array_like of shape (C,), default=None
        Weight of each class, applied to a sample's terms through its target
        class, after the power.  Any finite reals (negative too).
    multi_class : {{'weston_watkins', 'crammer_singer'}}, default='weston_watkins'
        Keyword-only.  'weston_watkins' is PyTorch's loss above (a sum over
        the wrong classes, divided by C).  'crammer_singer' keeps only the
        largest wrong score: ``loss = weight[y] * max(0, margin - x[y] +
        max_{{i != y}} x[i]) ** p``, not divided by C; with p=1, margin=1 and
        'mean' it equals ``sklearn.metrics.hinge_loss(y, x)``.  At a tie for
        the largest wrong score the gradient goes to the first such class.
{shared_params}

    Returns
    -------
{returns}

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype (complex or non-numeric
        scores, a non-integer target, ``out`` of the wrong dtype, ...).
    ValueError
        If an argument has the wrong value or shape (p not 1 or 2, unknown
        reduction, non-finite margin or weight, target out of range, ...).

    Notes
    -----
    Differences from PyTorch: the sum over classes and all later arithmetic
    run in float64 (a float32 result is rounded once); a NaN score makes the
    sample's loss and gradient row NaN (PyTorch drops NaN terms silently); an
    empty batch gives nan for 'mean' and 0 for 'sum'; the loop over samples
    runs on several threads.

    Dask arrays (``input``, ``target``, ``sample_weight`` or ``grad_output``)
    chunked along samples give lazy Dask results, computed block by block by
    this function: 'none' and the gradient with the input's row chunks, 'sum'
    and 'mean' a 0-d Dask array from float64 block sums added in a fixed
    order.  See marginloss/_dask.py and the README's Dask section.

    Examples
    --------
{examples}
"""

_LOSS_RETURNS = """    loss : numpy scalar or ndarray
        A scalar of the computation's dtype for 'mean' and 'sum'; for 'none'
        an array of the target's shape (PyTorch's)."""

_GRAD_RETURNS = """    grad : ndarray
        d loss / d input times ``grad_output``, of the input's shape and the
        computation's dtype (``out`` when given)."""

_GRAD_PARAMS = """
    grad_output : float or array_like, default=1.0
        The gradient of the objective with respect to the loss: a scalar, or
        with reduction='none' an array of the loss's shape.
    out : ndarray, optional
        C-contiguous, writeable array of the input's shape and computation
        dtype to receive the gradient (it may overlap the inputs)."""


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean", *,
                      multi_class="weston_watkins", sample_weight=None, n_threads=None,
                      size_average=None, reduce=None):
    settings = multi_margin_settings(p, margin, weight, reduction, n_threads,
                                     size_average, reduce, stacklevel=3,
                                     multi_class=multi_class)
    return multi_margin_forward(settings, input, target, sample_weight)


def multi_margin_loss_grad(input, target, p=1, margin=1.0, weight=None, reduction="mean", *,
                           multi_class="weston_watkins", sample_weight=None, grad_output=1.0,
                           out=None, n_threads=None, size_average=None, reduce=None):
    settings = multi_margin_settings(p, margin, weight, reduction, n_threads,
                                     size_average, reduce, stacklevel=3,
                                     multi_class=multi_class)
    return multi_margin_loss_gradient(settings, input, target, grad_output, out,
                                      sample_weight)[1]


def multi_margin_loss_and_grad(input, target, p=1, margin=1.0, weight=None, reduction="mean",
                               *, multi_class="weston_watkins", sample_weight=None,
                               grad_output=1.0, out=None, n_threads=None, size_average=None,
                               reduce=None):
    settings = multi_margin_settings(p, margin, weight, reduction, n_threads,
                                     size_average, reduce, stacklevel=3,
                                     multi_class=multi_class)
    return multi_margin_loss_gradient(settings, input, target, grad_output, out,
                                      sample_weight)


_document(
    multi_margin_loss,
    _MULTI_MARGIN_DOC,
    what="",
    returns=_LOSS_RETURNS,
    examples="""    >>> import numpy as np
    >>> from marginloss import multi_margin_loss
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8]], dtype=np.float32)
    >>> float(multi_margin_loss(x, [3]))
    0.32499998807907104
    >>> multi_margin_loss([[0.1, 0.2, 0.4, 0.8], [1.0, 0.0, 0.0, 0.0]], [3, 0],
    ...                   p=2, reduction="none")
    array([0.1525, 0.    ])""",
)
_document(
    multi_margin_loss_grad,
    _MULTI_MARGIN_DOC,
    what=": the gradient with respect to ``input``",
    grad_params=_GRAD_PARAMS,
    returns=_GRAD_RETURNS,
    examples="""    >>> import numpy as np
    >>> from marginloss import multi_margin_loss_grad
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> multi_margin_loss_grad(x, [3])
    array([[ 0.25,  0.25,  0.25, -0.75]])""",
)
_document(
    multi_margin_loss_and_grad,
    _MULTI_MARGIN_DOC,
    what=": the loss and its gradient from one pass over ``input``",
    grad_params=_GRAD_PARAMS,
    returns=_LOSS_RETURNS + "\n" + _GRAD_RETURNS,
    examples="""    >>> import numpy as np
    >>> from marginloss import multi_margin_loss_and_grad
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.2, -1.0, 0.3]])
    >>> loss, grad = multi_margin_loss_and_grad(x, [3, 0], reduction="sum")
    >>> float(loss)
    0.7
    >>> grad
    array([[ 0.25,  0.25,  0.25, -0.75],
           [-0.5 ,  0.25,  0.  ,  0.25]])""",
)


# ------------------------------------------------------------ multi-label


def _multilabel_margin_prepare(settings, input, target):
    scores, input_shape = as_scores(input)
    if settings.target_format == "indicator":
        target, loss_shape = as_indicator_target(target, scores, input_shape)
    else:
        target, loss_shape = as_label_target(target, scores, input_shape)
    margin_in_dtype(settings.margin, scores.dtype)
    n_samples, n_classes = scores.shape
    n_threads = effective_n_threads(settings.n_threads, n_samples, n_samples * n_classes)
    # One row per thread of labels and non-target classes, class mask (left
    # zeroed after each sample), sorted shifts, prefix sums (pyx/_multilabel_margin.pyx).
    scratch = (np.empty((n_threads, 2 * n_classes), dtype=np.intp),
               np.zeros((n_threads, n_classes), dtype=np.uint8),
               np.empty((n_threads, 2 * n_classes), dtype=scores.dtype),
               np.empty((n_threads, 3 * (n_classes + 1))))
    return scores, input_shape, target, loss_shape, n_threads, scratch


def multilabel_margin_forward(settings, input, target, sample_weight=None, *,
                              reducer=_reduce):
    if _any_dask(input, target, sample_weight):
        return _dask_layer().multilabel_margin_forward(settings, input, target, sample_weight)
    scores, _, target, loss_shape, n_threads, scratch = _multilabel_margin_prepare(
        settings, input, target
    )
    sample_weight = check_sample_weight(sample_weight, loss_shape, scores.shape[0],
                                        settings.reduction)
    loss_per_sample = np.empty(scores.shape[0])
    _multilabel_margin.loss(scores, target, loss_per_sample, *scratch, n_threads,
                            settings.margin, settings.target_format == "indicator")
    return reducer(loss_per_sample, settings.reduction, scores.dtype, loss_shape,
                   sample_weight)


def multilabel_margin_loss_gradient(settings, input, target, grad_output, out,
                                    sample_weight=None, *, reducer=_reduce, batch_rows=None):
    if _any_dask(input, target, sample_weight, grad_output):
        return _dask_layer().multilabel_margin_loss_gradient(settings, input, target,
                                                             grad_output, out, sample_weight)
    scores, input_shape, target, loss_shape, n_threads, scratch = (
        _multilabel_margin_prepare(settings, input, target)
    )
    n_samples, n_classes = scores.shape
    grad_output, stride = as_grad_output(grad_output, loss_shape, settings.reduction)
    sample_weight = check_sample_weight(sample_weight, loss_shape, n_samples,
                                        settings.reduction)
    if sample_weight is not None:
        grad_output, stride = _weighted_grad_output(grad_output, stride, sample_weight,
                                                    settings.reduction)
    buffer, result = _gradient_buffer(out, scores, input_shape, (scores, target, grad_output))
    loss_per_sample = np.empty(n_samples)
    count_scratch = np.zeros((n_threads, n_classes))
    mean_rows = n_samples if batch_rows is None else batch_rows
    _multilabel_margin.loss_gradient(
        scores, target,
        _gradient_scale(settings.reduction, mean_rows, n_classes, sample_weight is not None),
        grad_output, stride, loss_per_sample, buffer, *scratch, count_scratch, n_threads,
        settings.margin, settings.target_format == "indicator",
    )
    loss = reducer(loss_per_sample, settings.reduction, scores.dtype, loss_shape,
                   sample_weight)
    return loss, _finish_gradient(buffer, result)


_MULTILABEL_MARGIN_DOC = """
    The multi-label margin (pairwise ranking hinge) loss, PyTorch's
    ``multilabel_margin_loss``{what}.

    Each sample's target row lists its classes by index, padded with -1: the
    labels are the entries before the first -1 (later entries are ignored but
    must still lie in [-1, C-1]; a class listed twice counts twice).  With
    scores ``x`` (C classes), labels T and non-labels D::

        loss = 1/C * sum_{{j in T}} sum_{{d in D}} max(0, margin - x[j] + x[d])

    with PyTorch's margin of 1 by default.  'none' gives the per-sample
    losses, 'sum' their sum and 'mean' their sum divided by N.

    Parameters
    ----------
    input : array_like of shape (N, C), (C,) or ()
        Scores.  float32 and float64 are computed natively; float16 is computed
        in float32; bool, integer and longdouble scores in float64.
    target : array_like of int, the shape of ``input`` (or (C,) for a 0-d input)
        Class indices padded with -1, each in ``[-1, C-1]``.
    target_format : {{'indices', 'indicator'}}, default='indices'
        Keyword-only.  'indices': PyTorch's class indices padded with -1.
        'indicator': a 0/1 matrix of the input's shape (bool or integer,
        scikit-learn's ``MultiLabelBinarizer`` output) whose nonzero entries
        are the labels; read in place by the kernel when it is C-contiguous
        bool, uint8, int32 or int64.  Never guessed from the values.
    margin : float, default=1.0
        Keyword-only; PyTorch's loss has the fixed margin 1 (a marginloss
        extension).  A finite real, representable in the input's dtype.
{shared_params}

    Returns
    -------
{returns}

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype.
    ValueError
        If an argument has the wrong value or shape (unknown reduction, target
        of the wrong shape or out of range, ...).

    Notes
    -----
    Differences from PyTorch: sums and gradient counts are kept in float64 (a
    float32 result is rounded once); a NaN score makes the sample's loss and
    gradient row NaN
    (PyTorch gives 0); an empty batch gives nan for 'mean' and 0 for 'sum';
    the memory used beyond the outputs is O(C) per thread, not N x C.

    Dask arrays (``input``, ``target``, ``sample_weight`` or ``grad_output``)
    chunked along samples give lazy Dask results, computed block by block by
    this function: 'none' and the gradient with the input's row chunks, 'sum'
    and 'mean' a 0-d Dask array from float64 block sums added in a fixed
    order.  See marginloss/_dask.py and the README's Dask section.

    Examples
    --------
{examples}
"""

_LABEL_LOSS_RETURNS = """    loss : numpy scalar or ndarray
        A scalar of the computation's dtype for 'mean' and 'sum'; for 'none'
        an array of shape (N,), or 0-d for a 1-D input (as PyTorch)."""


def multilabel_margin_loss(input, target, reduction="mean", *, target_format="indices",
                           margin=1.0, sample_weight=None, n_threads=None, size_average=None,
                           reduce=None):
    settings = multilabel_margin_settings(reduction, n_threads, size_average, reduce,
                                          stacklevel=3, margin=margin,
                                          target_format=target_format)
    return multilabel_margin_forward(settings, input, target, sample_weight)


def multilabel_margin_loss_grad(input, target, reduction="mean", *, target_format="indices",
                                margin=1.0, sample_weight=None, grad_output=1.0, out=None,
                                n_threads=None, size_average=None, reduce=None):
    settings = multilabel_margin_settings(reduction, n_threads, size_average, reduce,
                                          stacklevel=3, margin=margin,
                                          target_format=target_format)
    return multilabel_margin_loss_gradient(settings, input, target, grad_output, out,
                                           sample_weight)[1]


def multilabel_margin_loss_and_grad(input, target, reduction="mean", *,
                                    target_format="indices", margin=1.0, sample_weight=None,
                                    grad_output=1.0, out=None, n_threads=None,
                                    size_average=None, reduce=None):
    settings = multilabel_margin_settings(reduction, n_threads, size_average, reduce,
                                          stacklevel=3, margin=margin,
                                          target_format=target_format)
    return multilabel_margin_loss_gradient(settings, input, target, grad_output, out,
                                           sample_weight)


_document(
    multilabel_margin_loss,
    _MULTILABEL_MARGIN_DOC,
    what="",
    returns=_LABEL_LOSS_RETURNS,
    examples="""    >>> import numpy as np
    >>> from marginloss import multilabel_margin_loss
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8]], dtype=np.float32)
    >>> float(multilabel_margin_loss(x, [[3, 0, -1, 1]]))
    0.8500000238418579""",
)
_document(
    multilabel_margin_loss_grad,
    _MULTILABEL_MARGIN_DOC,
    what=": the gradient with respect to ``input``",
    grad_params=_GRAD_PARAMS,
    returns=_GRAD_RETURNS,
    examples="""    >>> import numpy as np
    >>> from marginloss import multilabel_margin_loss_grad
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> multilabel_margin_loss_grad(x, [[3, 0, -1, 1]])
    array([[-0.5,  0.5,  0.5, -0.5]])""",
)
_document(
    multilabel_margin_loss_and_grad,
    _MULTILABEL_MARGIN_DOC,
    what=": the loss and its gradient from one pass over ``input``",
    grad_params=_GRAD_PARAMS,
    returns=_LABEL_LOSS_RETURNS + "\n" + _GRAD_RETURNS,
    examples="""    >>> import numpy as np
    >>> from marginloss import multilabel_margin_loss_and_grad
    >>> x = np.array([[0.1, 0.2, 0.4, 0.8]])
    >>> loss, grad = multilabel_margin_loss_and_grad(x, [[3, 0, -1, 1]], reduction="none")
    >>> loss
    array([0.85])
    >>> grad
    array([[-0.5,  0.5,  0.5, -0.5]])""",
)
