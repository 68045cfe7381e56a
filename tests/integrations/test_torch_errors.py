"""marginloss.torch's errors have PyTorch's classes and marginloss's messages.

Code written for PyTorch catches ``RuntimeError`` around these losses, so where
``torch.nn.functional`` raises a ``RuntimeError`` ours must be catchable as one
too -- and still as the ``ValueError`` / ``TypeError`` that marginloss raised
before, with the message naming the argument.  Where PyTorch raises a
``ValueError`` (``p``, ``reduction``, a weight that is not 1-D), ours is a
``ValueError``.  Each case first checks what PyTorch does, so the tests follow
PyTorch's behaviour.

TorchScript (``torch.jit.script``) is not supported: it raises an error that
says so and names what to use instead.
"""

import re

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import marginloss.torch as mt  # noqa: E402


def _x(*shape):
    return torch.linspace(-2, 2, int(torch.tensor(shape).prod())).reshape(shape).double()


X = _x(4, 5)
Y = torch.tensor([0, 1, 4, 2])
T = torch.tensor([[0, 3, -1, -1, -1], [1, -1, -1, -1, -1], [4, 0, 2, -1, -1],
                  [2, 2, -1, 0, 0]])

# (id, function name, positional args, keyword args, marginloss's class (of today),
#  a regex of marginloss's message, naming the argument)
RUNTIME_ERROR_CASES = [
    ("mm_target_too_large", "multi_margin_loss", (X, torch.tensor([0, 5, 1, 1])), {},
     ValueError, r"target out of range: target\[1\] = 5"),
    ("mm_target_negative", "multi_margin_loss", (X, torch.tensor([0, 1, -1, 1])), {},
     ValueError, r"target out of range: target\[2\] = -1"),
    ("mm_target_out_of_range_with_grad", "multi_margin_loss",
     (X.clone().requires_grad_(), torch.tensor([0, 1, 2, 7])), dict(reduction="none"),
     ValueError, r"target out of range: target\[3\] = 7"),
    ("mm_target_out_of_range_1d", "multi_margin_loss", (_x(5), torch.tensor(5)), {},
     ValueError, "target out of range"),
    ("mm_float_target", "multi_margin_loss", (X, Y.double()), {},
     TypeError, "target must be an array of integer class indices"),
    ("mm_float_target_with_grad", "multi_margin_loss",
     (X.clone().requires_grad_(), Y.float()), dict(p=2),
     TypeError, "target must be an array of integer class indices"),
    ("mm_weight_too_long", "multi_margin_loss", (X, Y), dict(weight=torch.ones(6).double()),
     ValueError, r"weight must have one entry per class: expected shape \(5,\), got shape \(6,\)"),
    ("mm_weight_too_short", "multi_margin_loss", (X, Y), dict(weight=torch.ones(4).double()),
     ValueError, r"weight .*expected shape \(5,\), got shape \(4,\)"),
    ("mm_target_too_short", "multi_margin_loss", (X, Y[:3]), {},
     ValueError, r"target must be a 1-D array of 4 class indices.*got shape \(3,\)"),
    ("mm_target_2d", "multi_margin_loss", (X, torch.zeros(4, 5, dtype=torch.long)), {},
     ValueError, r"target must be a 1-D array .*got shape \(4, 5\)"),
    ("mm_input_3d", "multi_margin_loss", (_x(2, 3, 4), torch.zeros(2, dtype=torch.long)), {},
     ValueError, r"input must be a non-empty vector .*got shape \(2, 3, 4\)"),
    ("mm_input_no_classes", "multi_margin_loss", (_x(3, 0), torch.zeros(3, dtype=torch.long)),
     {}, ValueError, r"input must be a non-empty vector .*got shape \(3, 0\)"),
    ("mlm_target_too_large", "multilabel_margin_loss",
     (X, torch.where(T == 4, 5, T)), {},
     ValueError, r"target out of range: target\[2, 0\] = 5"),
    ("mlm_target_below_minus_one", "multilabel_margin_loss",
     (X, torch.where(T == 3, -2, T)), {},
     ValueError, r"target out of range: target\[0, 1\] = -2"),
    ("mlm_target_out_of_range_with_grad", "multilabel_margin_loss",
     (X.clone().requires_grad_(), torch.where(T == 3, 9, T)), dict(reduction="sum"),
     ValueError, r"target out of range: target\[0, 1\] = 9"),
    ("mlm_float_target", "multilabel_margin_loss", (X, T.double()), {},
     TypeError, "target must be an array of integer class indices"),
    ("mlm_target_too_few_rows", "multilabel_margin_loss", (X, T[:2]), {},
     ValueError, r"target must have the shape of input \(4, 5\).*got shape \(2, 5\)"),
    ("mlm_target_too_few_columns", "multilabel_margin_loss", (X, T[:, :3]), {},
     ValueError, r"target must have the shape of input \(4, 5\).*got shape \(4, 3\)"),
    ("mlm_input_3d", "multilabel_margin_loss",
     (_x(2, 3, 4), torch.zeros(2, 3, 4, dtype=torch.long)), {},
     ValueError, r"input must be a non-empty vector .*got shape \(2, 3, 4\)"),
]


@pytest.mark.parametrize("name, args, kwargs, old_class, message",
                         [case[1:] for case in RUNTIME_ERROR_CASES],
                         ids=[case[0] for case in RUNTIME_ERROR_CASES])
def test_runtime_errors_of_torch_are_runtime_errors(name, args, kwargs, old_class, message):
    with pytest.raises(RuntimeError):
        getattr(F, name)(*args, **kwargs)  # PyTorch: a RuntimeError
    ours = getattr(mt, name)
    with pytest.raises(RuntimeError, match=message):
        ours(*args, **kwargs)
    with pytest.raises(old_class, match=message):  # and still marginloss's class
        ours(*args, **kwargs)


@pytest.mark.parametrize("name, args, kwargs, old_class, message",
                         [case[1:] for case in RUNTIME_ERROR_CASES],
                         ids=[case[0] for case in RUNTIME_ERROR_CASES])
def test_runtime_errors_through_the_modules(name, args, kwargs, old_class, message):
    """The modules raise the same errors as the functions."""
    if "weight" in kwargs:
        ours = mt.MultiMarginLoss(weight=kwargs["weight"])
        theirs = torch.nn.MultiMarginLoss(weight=kwargs["weight"])
    elif name == "multi_margin_loss":
        ours, theirs = mt.MultiMarginLoss(**kwargs), torch.nn.MultiMarginLoss(**kwargs)
    else:
        ours = mt.MultiLabelMarginLoss(**kwargs)
        theirs = torch.nn.MultiLabelMarginLoss(**kwargs)
    with pytest.raises(RuntimeError):
        theirs(*args)
    with pytest.raises(RuntimeError, match=message):
        ours(*args)
    with pytest.raises(old_class, match=message):
        ours(*args)


def test_runtime_error_is_caught_as_torch_users_do():
    """The pattern of code written for PyTorch: ``except RuntimeError``."""
    caught = []
    for function in (F.multi_margin_loss, mt.multi_margin_loss):
        try:
            function(X, torch.tensor([0, 5, 1, 1]))
        except RuntimeError as error:
            caught.append(str(error))
    assert len(caught) == 2 and all("target out of range" in message for message in caught)


# (id, callable for PyTorch, callable for marginloss, regex of marginloss's message)
VALUE_ERROR_CASES = [
    ("mm_p3", lambda: F.multi_margin_loss(X, Y, p=3),
     lambda: mt.multi_margin_loss(X, Y, p=3), "p must be 1 or 2, got 3"),
    ("mm_p0", lambda: F.multi_margin_loss(X, Y, p=0),
     lambda: mt.multi_margin_loss(X, Y, p=0), "p must be 1 or 2, got 0"),
    ("mm_module_p3", lambda: torch.nn.MultiMarginLoss(p=3),
     lambda: mt.MultiMarginLoss(p=3), "p must be 1 or 2, got 3"),
    ("mm_reduction", lambda: F.multi_margin_loss(X, Y, reduction="avg"),
     lambda: mt.multi_margin_loss(X, Y, reduction="avg"), "reduction must be one of"),
    ("mlm_reduction", lambda: F.multilabel_margin_loss(X, T, reduction="avg"),
     lambda: mt.multilabel_margin_loss(X, T, reduction="avg"), "reduction must be one of"),
    ("mm_weight_2d", lambda: F.multi_margin_loss(X, Y, weight=torch.ones(5, 1).double()),
     lambda: mt.multi_margin_loss(X, Y, weight=torch.ones(5, 1).double()),
     r"weight must be a 1-D array .*got shape \(5, 1\)"),
    ("mm_module_weight_2d", lambda: torch.nn.MultiMarginLoss(weight=torch.ones(5, 1)),
     lambda: mt.MultiMarginLoss(weight=torch.ones(5, 1)),
     r"weight must be a 1-D array .*got shape \(5, 1\)"),
]


@pytest.mark.parametrize("theirs, ours, message", [case[1:] for case in VALUE_ERROR_CASES],
                         ids=[case[0] for case in VALUE_ERROR_CASES])
def test_value_errors_of_torch_are_value_errors(theirs, ours, message):
    with pytest.raises(ValueError):
        theirs()
    with pytest.raises(ValueError, match=message):
        ours()


# ------------------------------------------------------------------ TorchScript


SCRIPT_MESSAGE = "TorchScript"
ALTERNATIVE = r"torch\.compile|torch\.export|torch\.jit\.trace"


class _Model(torch.nn.Module):
    """A user's module holding one of ours."""

    def __init__(self, criterion):
        super().__init__()
        self.linear = torch.nn.Linear(3, 5)
        self.criterion = criterion

    def forward(self, features, target):
        return self.criterion(self.linear(features), target)


@pytest.mark.parametrize("make", [
    lambda: mt.MultiMarginLoss(),
    lambda: mt.MultiMarginLoss(p=2, weight=torch.ones(5)),
    lambda: mt.MultiLabelMarginLoss(reduction="none"),
    lambda: _Model(mt.MultiMarginLoss()),
    lambda: _Model(mt.MultiLabelMarginLoss()),
], ids=["MultiMarginLoss", "MultiMarginLoss_weight", "MultiLabelMarginLoss",
        "model_with_MultiMarginLoss", "model_with_MultiLabelMarginLoss"])
def test_torchscript_says_it_is_not_supported(make):
    with pytest.raises(Exception, match=SCRIPT_MESSAGE) as info:
        torch.jit.script(make())
    message = str(info.value)
    assert re.search(ALTERNATIVE, message), message
    # One clear sentence of ours, not TorchScript's compiler output about a helper.
    assert "undefined value" not in message


def test_torchscript_of_torchs_modules_works():
    """The reference point: PyTorch's own modules script (ours refuse with a message)."""
    scripted = torch.jit.script(torch.nn.MultiMarginLoss())
    torch.testing.assert_close(scripted(X, Y), F.multi_margin_loss(X, Y))
