"""The docstrings of the functions of ``marginloss.functional``.

The three functions of each loss share one template (the loss, its
parameters, its differences from PyTorch) and differ in what they return and
in their examples.
"""

from typing import Any, Callable, Dict, TypeVar

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
    order.  See the README's Dask section.

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
        bool, uint8, int32 or int64.  It may be a SciPy sparse array or
        matrix (CSR, CSC, COO, ...; ``MultiLabelBinarizer(sparse_output=True)``):
        canonical CSR is read in place as rows of labels, other formats are
        converted once at O(nnz); duplicate entries are summed and explicit
        zeros are not labels, as SciPy defines them; no dense N x C target is
        made.  Never guessed from the values; a sparse target needs
        'indicator'.
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
    order.  See the README's Dask section.

    Examples
    --------
{examples}
"""

_LABEL_LOSS_RETURNS = """    loss : numpy scalar or ndarray
        A scalar of the computation's dtype for 'mean' and 'sum'; for 'none'
        an array of shape (N,), or 0-d for a 1-D input (as PyTorch)."""

DOCSTRINGS: Dict[str, str] = {}
F = TypeVar("F", bound=Callable[..., Any])


def _document(function_name, template, what, returns, examples, grad_params=""):
    DOCSTRINGS[function_name] = template.format(
        what=what,
        shared_params=_SHARED_PARAMS.format(grad_params=grad_params),
        returns=returns,
        examples=examples,
    )


def document(function: F) -> F:
    """Give ``function`` its docstring (by its name)."""
    function.__doc__ = DOCSTRINGS[function.__name__]
    return function


_document(
    "multi_margin_loss",
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
    "multi_margin_loss_grad",
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
    "multi_margin_loss_and_grad",
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

_document(
    "multilabel_margin_loss",
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
    "multilabel_margin_loss_grad",
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
    "multilabel_margin_loss_and_grad",
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
