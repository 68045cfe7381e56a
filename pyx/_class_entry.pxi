# The entry points of the multi-class kernel modules (included after the
# module's ``_sample`` and ``_blocks``, see below).
#
#   _sample(x, gradient, n_classes, y, weight, weight_stride, margin, p,
#           with_gradient, scale, grad_output, loss_out)
#       one row with an in-range target y: loss_out[0], and with_gradient
#       its gradient row;
#   _blocks(x, gradient, target, n_samples, n_classes, weight, weight_stride,
#           margin, p, with_gradient, scale, grad_output, grad_output_stride,
#           loss_out, n_threads) -> rows done
#       the first rows, several at a time where the module can (0 if not).
#
# Per-sample losses go to loss_out inside the parallel loop; the Python layer
# reduces them in a fixed order, so no result depends on the thread count.

from cython.parallel cimport prange
from libc.stdint cimport int64_t


cdef inline void _checked_sample(
    const floating* x,
    floating* gradient,
    Py_ssize_t n_classes,
    Py_ssize_t y,
    const double* weight,
    Py_ssize_t weight_stride,
    floating margin,
    int p,
    bint with_gradient,
    double scale,
    double grad_output,
    double* loss_out,
) noexcept nogil:
    """_sample, or a NaN loss (and gradient row) for an out-of-range target."""
    if not _in_range(y, n_classes):
        loss_out[0] = NAN
        if with_gradient:
            _fill_nan(gradient, n_classes)
    elif p == 1:
        _sample(x, gradient, n_classes, y, weight, weight_stride, margin, 1, with_gradient,
                scale, grad_output, loss_out)
    else:
        _sample(x, gradient, n_classes, y, weight, weight_stride, margin, 2, with_gradient,
                scale, grad_output, loss_out)


def loss(
    const floating[:, ::1] input,
    const int64_t[::1] target,
    const double[:] weight,  # strided: ones are a stride-0 view
    double margin,
    int p,
    double[::1] loss_out,
    int n_threads,
):
    """Per-sample loss of every row into ``loss_out`` (the module's formula)."""
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, done
        floating margin_in_dtype = <floating> margin
        # raw pointers: an empty dimension has no element to point at
        const floating* x = &input[0, 0] if n_samples > 0 and n_classes > 0 else NULL
        const double* w = &weight[0] if weight.shape[0] > 0 else NULL
        Py_ssize_t w_stride = weight.strides[0] // sizeof(double)
    done = _blocks(x, NULL, &target[0] if n_samples > 0 else NULL, n_samples, n_classes, w,
                   w_stride, margin_in_dtype, p, False, 0.0, NULL, 0, &loss_out[0]
                   if n_samples > 0 else NULL, n_threads)
    for n in prange(done, n_samples, schedule="static", nogil=True, num_threads=n_threads):
        _checked_sample(x + n * n_classes, NULL, n_classes, target[n], w, w_stride,
                        margin_in_dtype, p, False, 0.0, 0.0, &loss_out[n])


def loss_gradient(
    const floating[:, ::1] input,
    const int64_t[::1] target,
    const double[:] weight,  # strided: ones are a stride-0 view
    double margin,
    int p,
    double scale,
    const double[::1] grad_output,
    Py_ssize_t grad_output_stride,
    double[::1] loss_out,
    floating[:, ::1] gradient_out,
    int n_threads,
):
    """Per-sample loss (as ``loss``) and its gradient in one pass over ``input``.

    gradient_out[n] = (d loss_n / dx_n with the weight, times ``scale``) *
    grad_output[n * grad_output_stride]: ``scale`` is the reduction's factor
    (the module's docstring), ``grad_output_stride`` 0 for a scalar.
    """
    cdef:
        Py_ssize_t n_samples = input.shape[0]
        Py_ssize_t n_classes = input.shape[1]
        Py_ssize_t n, done
        floating margin_in_dtype = <floating> margin
        const floating* x = &input[0, 0] if n_samples > 0 and n_classes > 0 else NULL
        floating* g = &gradient_out[0, 0] if n_samples > 0 and n_classes > 0 else NULL
        const double* w = &weight[0] if weight.shape[0] > 0 else NULL
        Py_ssize_t w_stride = weight.strides[0] // sizeof(double)
    done = _blocks(x, g, &target[0] if n_samples > 0 else NULL, n_samples, n_classes, w,
                   w_stride, margin_in_dtype, p, True, scale,
                   &grad_output[0] if grad_output.shape[0] > 0 else NULL, grad_output_stride,
                   &loss_out[0] if n_samples > 0 else NULL, n_threads)
    for n in prange(done, n_samples, schedule="static", nogil=True, num_threads=n_threads):
        _checked_sample(x + n * n_classes, g + n * n_classes, n_classes, target[n], w,
                        w_stride, margin_in_dtype, p, True, scale,
                        grad_output[n * grad_output_stride], &loss_out[n])
