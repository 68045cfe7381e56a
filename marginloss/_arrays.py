"""Turning an argument into a NumPy array, with errors that name the argument.

The primitives under every check of ``_validation``: NumPy's conversion,
refusing what it would silently misread (masked arrays, pandas' missing
values) and naming the argument when it fails.
"""

import numbers

import numpy as np


def _describe(value):
    """A short ``type value`` description for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _has_pandas_missing(value):
    """Whether a pandas object of nullable (extension) dtypes holds pd.NA.

    NumPy would turn it into a float or object array, and the error would blame
    a dtype the caller never chose.  Plain NumPy-backed columns are left alone
    (their NaN is a value, propagated as PyTorch does).
    """
    if not type(value).__module__.startswith("pandas") or not hasattr(value, "isna"):
        return False
    dtypes = [value.dtype] if hasattr(value, "dtype") else list(getattr(value, "dtypes", []))
    if all(isinstance(dtype, np.dtype) for dtype in dtypes):
        return False
    return bool(np.asarray(value.isna()).any())


def _as_array(value, name):
    """`_to_array`, refusing first a pandas nullable column with missing values."""
    if _has_pandas_missing(value):
        raise ValueError(
            f"{name} contains missing values (pandas' NA); drop or fill them before "
            f"the call"
        )
    return _to_array(value, name)


def _to_array(value, name):
    """np.asarray, with errors that name the argument.

    A ragged sequence gives a ValueError; anything else NumPy cannot convert
    (a torch tensor that requires grad, an unsupported dtype, ...) a TypeError.
    Masked arrays are refused: np.asarray would silently use the masked values.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{name} must not be a masked array (its masked entries would be used); "
            f"pass {name}.filled(...) or select the entries to use"
        )
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be array-like with a regular shape; {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any conversion failure is a type problem
        raise TypeError(
            f"{name} must be convertible to a NumPy array; got {type(value).__name__} "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _is_real_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def as_kernel_array(array, dtype):
    """``array`` as a C-contiguous, aligned array of ``dtype``: itself when it is
    one, else a copy.  The kernels load typed values from the buffer, which C
    allows only at addresses aligned for the type; NumPy arrays can be
    unaligned (a view at an odd byte offset, or a buffer unpickled by Dask)."""
    return np.require(array, dtype, ("C_CONTIGUOUS", "ALIGNED"))
