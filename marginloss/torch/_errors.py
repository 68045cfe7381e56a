"""Errors of marginloss.torch: marginloss's messages, PyTorch's classes.

PyTorch raises ``RuntimeError`` for a bad target, a weight of the wrong
length, a float target...; marginloss raises ``ValueError``, ``TypeError``
or ``IndexError`` naming the argument.  The errors of an array check are
raised here as classes deriving from both, so that code written for either
catches them.  Errors of a setting that PyTorch reports as ``ValueError``
(``p``, ``reduction``) stay plain.  See docs/design.md, "PyTorch integration".
"""




class TorchValueError(ValueError, RuntimeError):
    """A bad argument value, catchable as ``ValueError`` and as PyTorch's ``RuntimeError``.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import TorchValueError, multi_margin_loss
    >>> try:
    ...     multi_margin_loss(torch.zeros(2, 3), torch.tensor([0, 3]))
    ... except RuntimeError as error:
    ...     isinstance(error, ValueError) and isinstance(error, TorchValueError)
    True
    """


class TorchTypeError(TypeError, RuntimeError):
    """A bad argument type or dtype, catchable as ``TypeError`` and as ``RuntimeError``.

    Examples
    --------
    >>> import torch
    >>> from marginloss.torch import TorchTypeError, multi_margin_loss
    >>> try:
    ...     multi_margin_loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
    ... except RuntimeError as error:
    ...     isinstance(error, TorchTypeError)
    True
    """


class TorchIndexError(IndexError, RuntimeError):
    """An index out of range, catchable as ``IndexError`` and as ``RuntimeError``.

    Examples
    --------
    >>> issubclass(TorchIndexError, RuntimeError) and issubclass(TorchIndexError, IndexError)
    True
    """


_AS_TORCH = {ValueError: TorchValueError, TypeError: TorchTypeError,
             IndexError: TorchIndexError}
CHECK_ERRORS = (ValueError, TypeError, IndexError)


def as_torch_error(error):
    """The error ``error`` (a check's ValueError, TypeError or IndexError) as a
    class that is also a RuntimeError, with the same message."""
    if isinstance(error, RuntimeError):
        return error
    for base, torch_class in _AS_TORCH.items():
        if isinstance(error, base):
            converted = torch_class(*error.args)
            converted.__traceback__ = error.__traceback__
            return converted
    return error


TORCHSCRIPT_UNSUPPORTED = (
    "marginloss.torch does not support TorchScript (torch.jit.script): its losses run "
    "marginloss's compiled kernels through Python; use torch.compile or torch.export "
    "(which capture them as the custom ops torch.ops.marginloss.*), or torch.jit.trace, "
    "instead."
)


def torchscript_unsupported(*args, **kwargs):
    """``__prepare_scriptable__`` of the modules: raise the sentence above."""
    raise RuntimeError(TORCHSCRIPT_UNSUPPORTED)


def inplace_error(input, expected_version):
    """PyTorch's error for a saved tensor changed in place after the forward pass."""
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: [{input.type()} {list(input.shape)}] is at version "
        f"{input._version}; expected version {expected_version} instead. Hint: the input, "
        "target or class weight of a marginloss.torch loss was changed in place between "
        "the loss and its backward pass."
    )


__all__ = ["TorchValueError", "TorchTypeError", "TorchIndexError", "as_torch_error",
           "inplace_error"]
