"""The losses as descriptions, and their validated settings.

One pipeline (``marginloss._engine``) runs every loss; what differs between
them is written down once here, in a `Loss`: how its target is read, how its
kernel is called, whether its gradient scale divides by the number of
classes, and the scratch memory its kernel needs.  A `Settings` is a loss
with validated settings, made once (by a public function per call, or by a
loss object at construction) and trusted afterwards.  See docs/design.md,
"Python layer".
"""

import threading
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from . import _crammer_singer
from ._kernels import multilabel_margin as _multilabel_margin
from ._kernels import multi_margin as _multi_margin
from ._validation import (
    SparseRows,
    as_class_target,
    as_indicator_target,
    as_label_target,
    check_class_target_range,
    check_margin,
    check_multi_class,
    check_n_threads,
    check_p,
    check_reduction,
    check_target_format,
    check_weight,
)
from ._validation import _FLOAT32_MAX


@dataclass(frozen=True)
class Loss:
    """What the pipeline needs to know about one loss.

    ``read_target(target, scores, input_shape, check_range, n_threads)``
    validates the target and returns ``(target, loss_shape)``; ``loss`` and
    ``loss_gradient`` call the kernels with the pipeline's arguments;
    ``scratch(n_threads, n_classes, dtype, gradient)`` returns the kernel's
    per-thread work arrays.
    """

    name: str
    option: str  # the keyword that selects it among its family's losses
    read_target: Callable[..., Any]
    loss: Callable[..., Any]
    loss_gradient: Callable[..., Any]
    scratch: Optional[Callable[..., tuple]]  # None: the kernel needs none
    divides_by_classes: bool  # loss = (sum over classes) / C, so d/d row sum has 1/C
    target_index: str  # "i": one class per sample; "ij": one entry per score
    # For a kernel that gives a row whose target is out of range a NaN loss:
    # the check to run when the loss is NaN, instead of before the kernel.
    check_target_range: Optional[Callable[..., Any]] = None


# The kernel modules are looked up when called (not bound here), so that a
# test can stand in for one.  The multi-class kernels take the class weight,
# the margin and p; the multi-label kernel the margin and the target format.


def _weston_watkins_loss(scores, target, weight, margin, p, scratch, loss_out, n_threads):
    _multi_margin.loss(scores, target, weight, margin, p, loss_out, n_threads)


def _weston_watkins_loss_gradient(scores, target, weight, margin, p, scale, grad_output,
                                  stride, scratch, loss_out, gradient_out, n_threads):
    _multi_margin.loss_gradient(scores, target, weight, margin, p, scale, grad_output, stride,
                                loss_out, gradient_out, n_threads)


def _crammer_singer_loss(scores, target, weight, margin, p, scratch, loss_out, n_threads):
    _crammer_singer.loss(scores, target, weight, margin, p, loss_out, n_threads)


def _crammer_singer_loss_gradient(scores, target, weight, margin, p, scale, grad_output,
                                  stride, scratch, loss_out, gradient_out, n_threads):
    _crammer_singer.loss_gradient(scores, target, weight, margin, p, scale, grad_output, stride,
                                  loss_out, gradient_out, n_threads)


def _new_multilabel_scratch(n_threads, n_classes, dtype, gradient):
    """One row per thread: labels and non-target classes, the class mask (left
    zeroed after each sample), sorted shifts, prefix sums, and for the
    gradient the per-class counts (zeroed, and left so)."""
    scratch = (np.empty((n_threads, 2 * n_classes), dtype=np.intp),
               np.zeros((n_threads, n_classes), dtype=np.uint8),
               np.empty((n_threads, 2 * n_classes), dtype=dtype),
               np.empty((n_threads, 3 * (n_classes + 1))))
    return scratch + (np.zeros((n_threads, n_classes)),) if gradient else scratch


# Small scratch is kept per Python thread and reused: the kernel leaves the
# arrays it needs zeroed zeroed, and a thread runs one call at a time.  Four
# fresh arrays cost about as much as a small call's validation.
_SCRATCH_CACHE_MAX = 4096  # n_threads * n_classes (about 230 kB of scratch)
_scratch_cache = threading.local()


def _multilabel_scratch(n_threads, n_classes, dtype, gradient):
    if n_threads * n_classes > _SCRATCH_CACHE_MAX:
        return _new_multilabel_scratch(n_threads, n_classes, dtype, gradient)
    cache = _scratch_cache.__dict__
    key = (n_threads, n_classes, dtype, gradient)
    scratch = cache.get(key)
    if scratch is None:
        if len(cache) >= 8:
            cache.clear()
        scratch = cache[key] = _new_multilabel_scratch(n_threads, n_classes, dtype, gradient)
    return scratch


def _multilabel_loss(indicator):
    def loss(scores, target, weight, margin, p, scratch, loss_out, n_threads):
        if indicator and type(target) is SparseRows:  # a sparse target: its CSR rows
            _multilabel_margin.loss_csr(scores, target.indptr, target.indices, loss_out,
                                        *scratch, n_threads, margin)
            return
        _multilabel_margin.loss(scores, target, loss_out, *scratch, n_threads, margin,
                                indicator)
    return loss


def _multilabel_loss_gradient(indicator):
    def loss_gradient(scores, target, weight, margin, p, scale, grad_output, stride, scratch,
                      loss_out, gradient_out, n_threads):
        if indicator and type(target) is SparseRows:
            _multilabel_margin.loss_gradient_csr(scores, target.indptr, target.indices, scale,
                                                 grad_output, stride, loss_out, gradient_out,
                                                 *scratch, n_threads, margin)
            return
        _multilabel_margin.loss_gradient(scores, target, scale, grad_output, stride, loss_out,
                                         gradient_out, *scratch, n_threads, margin, indicator)
    return loss_gradient


WESTON_WATKINS = Loss(
    name="weston_watkins", option="multi_class", read_target=as_class_target,
    loss=_weston_watkins_loss, loss_gradient=_weston_watkins_loss_gradient,
    scratch=None, divides_by_classes=True, target_index="i",
    check_target_range=check_class_target_range,
)
# Only the largest wrong score counts, and the loss is not divided by C.
CRAMMER_SINGER = Loss(
    name="crammer_singer", option="multi_class", read_target=as_class_target,
    loss=_crammer_singer_loss, loss_gradient=_crammer_singer_loss_gradient,
    scratch=None, divides_by_classes=False, target_index="i",
    check_target_range=check_class_target_range,
)
MULTILABEL = Loss(
    name="indices", option="target_format", read_target=as_label_target,
    loss=_multilabel_loss(False), loss_gradient=_multilabel_loss_gradient(False),
    scratch=_multilabel_scratch, divides_by_classes=True, target_index="ij",
)
# The same loss, its labels read from a 0/1 matrix.
MULTILABEL_INDICATOR = Loss(
    name="indicator", option="target_format", read_target=as_indicator_target,
    loss=_multilabel_loss(True), loss_gradient=_multilabel_loss_gradient(True),
    scratch=_multilabel_scratch, divides_by_classes=True, target_index="ij",
)

_MULTI_CLASS = {loss.name: loss for loss in (WESTON_WATKINS, CRAMMER_SINGER)}
_TARGET_FORMATS = {loss.name: loss for loss in (MULTILABEL, MULTILABEL_INDICATOR)}


class Settings(NamedTuple):
    """A loss with validated settings (p and weight are those of the multi-class losses).

    ``range_deferrable``: the loss's kernel flags a target out of range and
    nothing checked after the target can fail (no class weight, a margin
    that fits float32), so a call may check the target's range only when its
    loss is NaN (``marginloss._engine``).
    """

    loss: Loss
    p: int
    margin: float
    weight: Optional[np.ndarray]
    reduction: str
    n_threads: Optional[int]
    range_deferrable: bool


def _settings(loss: Loss, p: int, margin: float, weight: Optional[np.ndarray], reduction: str,
              n_threads: Optional[int]) -> Settings:
    deferrable = (loss.check_target_range is not None and weight is None
                  and abs(margin) <= _FLOAT32_MAX)
    return Settings(loss, p, margin, weight, reduction, n_threads, deferrable)


_MEAN = "mean"  # identity tests below: an interned str, as the literals of callers
_WESTON_WATKINS = "weston_watkins"
_INDICES = "indices"


def multi_margin_settings(p: Any, margin: Any, weight: Any, reduction: Any, n_threads: Any,
                          size_average: Any, reduce: Any, stacklevel: int,
                          multi_class: Any = "weston_watkins") -> Settings:
    """Validated settings of a multi-class margin loss (``stacklevel`` for warnings)."""
    if (type(p) is int and p == 1 and type(margin) is float and margin == 1.0
            and weight is None and reduction is _MEAN and n_threads is None
            and size_average is None and reduce is None and multi_class is _WESTON_WATKINS):
        return _DEFAULT_MULTI_MARGIN  # PyTorch's defaults: nothing to check
    p = check_p(p)  # the checks run in the order of the arguments
    margin = check_margin(margin)
    weight = check_weight(weight)
    reduction = check_reduction(reduction, size_average, reduce, stacklevel=stacklevel + 1)
    n_threads = check_n_threads(n_threads)
    loss = _MULTI_CLASS[check_multi_class(multi_class)]
    return _settings(loss, p, margin, weight, reduction, n_threads)


def multilabel_margin_settings(reduction: Any, n_threads: Any, size_average: Any, reduce: Any,
                               stacklevel: int, margin: Any = 1.0,
                               target_format: Any = "indices") -> Settings:
    """Validated settings of a multi-label margin loss (``stacklevel`` for warnings)."""
    if (reduction is _MEAN and n_threads is None and size_average is None and reduce is None
            and type(margin) is float and margin == 1.0 and target_format is _INDICES):
        return _DEFAULT_MULTILABEL_MARGIN
    loss = _TARGET_FORMATS[check_target_format(target_format)]
    margin = check_margin(margin)
    reduction = check_reduction(reduction, size_average, reduce, stacklevel=stacklevel + 1)
    return _settings(loss, 1, margin, None, reduction, check_n_threads(n_threads))


_DEFAULT_MULTI_MARGIN = _settings(WESTON_WATKINS, 1, 1.0, None, "mean", None)
_DEFAULT_MULTILABEL_MARGIN = _settings(MULTILABEL, 1, 1.0, None, "mean", None)
