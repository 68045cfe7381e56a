"""marginloss.torch with sparse COO and CSR target tensors (0/1 indicator matrices).

The oracle is the same labels as a dense -1-padded target listing each row's
labels in ascending order: marginloss gives those the same bits (loss and
gradient), and PyTorch's own ``multilabel_margin_loss`` agrees to the suite's
tolerances.  The gradient flows to the dense input through both forms
(function and module), and the caller's tensor is not changed.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import marginloss.torch as mt  # noqa: E402

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]
RTOL = {torch.float32: 2e-5, torch.float64: 1e-11}

pytestmark = pytest.mark.filterwarnings(
    "ignore:Sparse CSR tensor support is in beta state:UserWarning",
    "ignore:Sparse invariant checks are implicitly disabled:UserWarning")


def _indicator(rng, n_samples, n_classes):
    """Rows of 0, 1, 2, 5 labels, every class, and random counts."""
    dense = np.zeros((n_samples, n_classes), dtype=np.int64)
    for n in range(n_samples):
        k = [0, 1, 2, 5, n_classes][n] if n < 5 else int(rng.integers(0, n_classes + 1))
        dense[n, rng.permutation(n_classes)[:min(k, n_classes)]] = 1
    return torch.from_numpy(dense)


def _index_target(dense):
    """The -1-padded index target listing each row's labels in ascending order."""
    target = torch.full(dense.shape, -1, dtype=torch.int64)
    for n in range(dense.shape[0]):
        labels = torch.nonzero(dense[n]).flatten()
        target[n, :labels.numel()] = labels
    return target


def _sparse_forms(dense):
    """The same 0/1 matrix as COO (coalesced, and not: a duplicate 1 + 0) and CSR tensors."""
    coo = dense.to_sparse()
    indices, values = coo.indices(), coo.values()
    extra = torch.tensor([[0], [0]]) if dense.numel() else torch.zeros((2, 0), dtype=torch.int64)
    uncoalesced = torch.sparse_coo_tensor(
        torch.cat([indices, extra], 1),
        torch.cat([values, torch.zeros(extra.shape[1], dtype=values.dtype)]), dense.shape)
    assert not uncoalesced.is_coalesced() or coo._nnz() == 0
    return {"coo": coo, "coo_uncoalesced": uncoalesced, "csr": dense.to_sparse_csr()}


def _loss_and_grad(function, x, target, reduction, grad_output=None):
    x = x.detach().clone().requires_grad_(True)
    loss = function(x, target, reduction=reduction)
    loss.backward(grad_output if grad_output is not None else torch.ones_like(loss))
    return loss.detach(), x.grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target_dtype", [torch.int64, torch.int32, torch.uint8, torch.bool],
                         ids=str)
def test_sparse_target_gives_the_dense_targets_bits(rng, dtype, reduction, target_dtype):
    for n_samples, n_classes in [(1, 1), (6, 9), (40, 100)]:
        x = torch.from_numpy(rng.normal(size=(n_samples, n_classes))).to(dtype)
        dense = _indicator(rng, n_samples, n_classes)
        index_target = _index_target(dense)
        grad_output = torch.from_numpy(rng.normal(size=n_samples)).to(dtype) \
            if reduction == "none" else torch.tensor(1.5, dtype=dtype)
        expected = _loss_and_grad(mt.multilabel_margin_loss, x, index_target, reduction,
                                  grad_output)
        theirs = _loss_and_grad(F.multilabel_margin_loss, x, index_target, reduction,
                                grad_output)
        for name, target in _sparse_forms(dense.to(target_dtype)).items():
            for function in (mt.multilabel_margin_loss,
                             lambda x, t, reduction: mt.MultiLabelMarginLoss(
                                 reduction=reduction)(x, t)):
                loss, grad = _loss_and_grad(function, x, target, reduction, grad_output)
                assert loss.dtype == dtype and grad.dtype == dtype
                torch.testing.assert_close(loss, expected[0], rtol=0, atol=0)
                torch.testing.assert_close(grad, expected[1], rtol=0, atol=0)
                torch.testing.assert_close(loss, theirs[0], rtol=RTOL[dtype],
                                           atol=RTOL[dtype])
                torch.testing.assert_close(grad, theirs[1], rtol=RTOL[dtype],
                                           atol=RTOL[dtype])


def test_no_grad_and_a_one_sample_input(rng):
    x = torch.from_numpy(rng.normal(size=7))
    dense = torch.tensor([0, 1, 0, 0, 1, 1, 0])
    with torch.no_grad():
        for target in (dense.to_sparse(), dense.bool().to_sparse()):
            for reduction in REDUCTIONS:
                loss = mt.multilabel_margin_loss(x, target, reduction=reduction)
                assert loss.shape == ()
                torch.testing.assert_close(
                    loss, F.multilabel_margin_loss(x, torch.tensor([1, 4, 5, -1, -1, -1, -1]),
                                                   reduction=reduction))


def test_unsorted_csr_rows_and_the_callers_tensor_unchanged(rng):
    x = torch.from_numpy(rng.normal(size=(2, 8)))
    crow, col = torch.tensor([0, 3, 5]), torch.tensor([6, 2, 0, 7, 3])
    values = torch.ones(5, dtype=torch.int64)
    target = torch.sparse_csr_tensor(crow, col, values, (2, 8))
    expected = F.multilabel_margin_loss(
        x, torch.tensor([[0, 2, 6, -1, -1, -1, -1, -1], [3, 7, -1, -1, -1, -1, -1, -1]]),
        reduction="none")
    torch.testing.assert_close(mt.multilabel_margin_loss(x, target, reduction="none"), expected)
    assert torch.equal(target.col_indices(), col) and torch.equal(target.crow_indices(), crow)
    uncoalesced = torch.sparse_coo_tensor(torch.tensor([[1, 0, 0, 1, 0], [3, 6, 0, 7, 2]]),
                                          torch.tensor([1, 1, 1, 1, 1]), (2, 8))
    torch.testing.assert_close(mt.multilabel_margin_loss(x, uncoalesced, reduction="none"),
                               expected)
    assert not uncoalesced.is_coalesced()


def test_second_derivative_raises(rng):
    x = torch.from_numpy(rng.normal(size=(3, 5))).requires_grad_(True)
    target = torch.eye(3, 5, dtype=torch.int64).to_sparse()
    loss = mt.multilabel_margin_loss(x, target)
    (gradient,) = torch.autograd.grad(loss, x, create_graph=True)
    expected = _loss_and_grad(mt.multilabel_margin_loss, x,
                              torch.tensor([[0, -1, -1, -1, -1], [1, -1, -1, -1, -1],
                                            [2, -1, -1, -1, -1]]), "mean")[1]
    torch.testing.assert_close(gradient.detach(), expected, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="derivative for marginloss::"
                                           "multilabel_margin_loss_backward is not implemented"):
        torch.autograd.grad(gradient.sum(), x)


def test_autocast_float16_input(rng):
    x = torch.from_numpy(rng.normal(size=(4, 6))).half()
    target = torch.eye(4, 6, dtype=torch.int64).to_sparse()
    with torch.autocast("cpu", dtype=torch.float16):
        loss = mt.multilabel_margin_loss(x, target)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(
        loss, mt.multilabel_margin_loss(x.float(), torch.eye(4, 6, dtype=torch.int64)
                                        .to_sparse_csr()), rtol=0, atol=0)


# ---------------------------------------------------------------- errors


def test_errors():
    x = torch.zeros(2, 3)
    with pytest.raises(mt.TorchValueError, match=r"target must hold only 0 and 1 with "
                                                 r"target_format='indicator'; got "
                                                 r"target\[1, 2\] = 2"):
        mt.multilabel_margin_loss(x, torch.tensor([[1, 0, 0], [0, 0, 2]]).to_sparse())
    with pytest.raises(mt.TorchValueError, match=r"got target\[0, 1\] = 2"):
        mt.multilabel_margin_loss(x, torch.sparse_coo_tensor(
            torch.tensor([[0, 0], [1, 1]]), torch.tensor([1, 1]), (2, 3)))  # 1 + 1
    with pytest.raises(mt.TorchTypeError, match="target must be an integer or bool 0/1 "
                                                "indicator array with target_format="
                                                "'indicator', got a sparse target of dtype "
                                                "float32"):
        mt.multilabel_margin_loss(x, torch.eye(2, 3).to_sparse())
    with pytest.raises(mt.TorchValueError, match=r"target must have the shape of input "
                                                 r"\(2, 3\) \(a 0/1 indicator of each "
                                                 r"class\); got shape \(2, 4\)"):
        mt.MultiLabelMarginLoss()(x, torch.eye(2, 4, dtype=torch.int64).to_sparse_csr())
    with pytest.raises(mt.TorchValueError, match="without dense dimensions; got a "
                                                 "torch.sparse_coo tensor of shape \\(2, 3\\) "
                                                 "with 1 dense dimension"):
        mt.multilabel_margin_loss(x, torch.eye(2, 3, dtype=torch.int64).to_sparse(1))
    with pytest.raises(mt.TorchTypeError, match="input must be a dense CPU float32 or float64 "
                                                "tensor, got torch.strided torch.int64 on cpu"):
        mt.multilabel_margin_loss(torch.zeros(2, 3, dtype=torch.int64),
                                  torch.eye(2, 3, dtype=torch.int64).to_sparse())
    with pytest.raises(mt.TorchTypeError, match="got torch.strided torch.float32 on meta"):
        mt.multilabel_margin_loss(torch.zeros(2, 3, device="meta"),
                                  torch.eye(2, 3, dtype=torch.int64).to_sparse())
    with pytest.raises(mt.TorchTypeError, match="a sparse target must be on the CPU .*, got "
                                                "a tensor on meta"):
        mt.multilabel_margin_loss(x, torch.eye(2, 3, dtype=torch.int64).to_sparse().to("meta"))
    with pytest.raises(TypeError, match="input must be a torch.Tensor, got ndarray"):
        mt.multilabel_margin_loss(np.zeros((2, 3)), torch.eye(2, 3).to_sparse())
    with pytest.raises(ValueError, match="reduction must be one of"):
        mt.multilabel_margin_loss(x, torch.eye(2, 3, dtype=torch.int64).to_sparse(),
                                  reduction="avg")


def test_invalid_sparse_structures_are_clear_errors():
    # PyTorch checks a sparse tensor's invariants only when asked to.
    x = torch.randn(3, 5, requires_grad=True)
    cases = {
        r"an index lies outside \[0, 5\)": torch.sparse_coo_tensor(
            torch.tensor([[0, 1, 2], [0, 9, -1]]), torch.tensor([1, 1, 1]), (3, 5)),
        r"a row index lies outside \[0, 3\)": torch.sparse_coo_tensor(
            torch.tensor([[0, 7, 2], [0, 1, 1]]), torch.tensor([1, 1, 1]), (3, 5)),
        "indptr must rise from 0 to at most the number of entries": torch.sparse_csr_tensor(
            torch.tensor([0, 3, 1, 2]), torch.tensor([4, 1, 2]), torch.tensor([1, 1, 1]),
            (3, 5)),
    }
    for message, target in cases.items():
        with pytest.raises(mt.TorchValueError, match="target is not a valid sparse matrix: "
                           + message):
            mt.multilabel_margin_loss(x, target)
    assert x.grad is None


def test_a_capturing_call_says_sparse_targets_are_eager_only():
    x = torch.zeros(2, 3)
    target = torch.eye(2, 3, dtype=torch.int64).to_sparse()
    with pytest.raises(mt.TorchTypeError, match="a sparse target is supported in eager calls "
                                                "only"):
        torch.func.grad(lambda x: mt.multilabel_margin_loss(x, target))(x)


def test_size_average_is_mapped_with_a_warning():
    x = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
    target = torch.tensor([[1, 0, 0, 1]]).to_sparse()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = mt.multilabel_margin_loss(x, target, size_average=False)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    torch.testing.assert_close(loss, F.multilabel_margin_loss(x, torch.tensor([[0, 3, -1, -1]]),
                                                              reduction="sum"))
