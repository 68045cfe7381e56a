"""Vectorised NumPy versions of both losses (reduction='mean'), for comparisons.

They build N x C (and, for the multi-label loss, N x C x C) temporaries, which
is what a NumPy one-liner costs; the demo and the benchmarks time them against
the compiled kernels.  They follow PyTorch's semantics except for NaN scores.
"""

import numpy as np


def multi_margin_loss_and_grad(input, target, p=1, margin=1.0, weight=None):
    """Mean multi-class margin loss of (N, C) scores and its gradient."""
    n_samples, n_classes = input.shape
    rows = np.arange(n_samples)
    z = (input.dtype.type(margin) - input[rows, target])[:, None] + input
    z[rows, target] = 0
    active = z > 0
    class_weight = 1.0 if weight is None else np.asarray(weight)[target][:, None]
    if p == 1:
        loss = (class_weight * np.where(active, z, 0)).sum(axis=1)
        grad = active * class_weight
    else:
        z = np.where(active, z, 0)
        loss = (class_weight * z * z).sum(axis=1)
        grad = 2 * z * class_weight
    grad[rows, target] = -grad.sum(axis=1)
    scale = 1.0 / (n_samples * n_classes)
    return input.dtype.type(loss.sum() * scale), (grad * scale).astype(input.dtype)


def multilabel_margin_loss_and_grad(input, target):
    """Mean multi-label margin loss of (N, C) scores, -1-padded targets, and its gradient."""
    n_samples, n_classes = input.shape
    rows = np.arange(n_samples)[:, None]
    listed = np.cumprod(target >= 0, axis=1).astype(bool)  # entries before the first -1
    label = np.where(listed, target, 0)
    is_target = np.zeros(input.shape, dtype=bool)
    is_target[np.broadcast_to(rows, target.shape)[listed], target[listed]] = True
    # z[n, j, d] = 1 - x[n, t[n, j]] + x[n, d] for listed j and non-target d
    z = (1 - input[rows, label])[:, :, None] + input[:, None, :]
    active = (z > 0) & listed[:, :, None] & ~is_target[:, None, :]
    loss = np.where(active, z, 0).sum(axis=(1, 2))
    grad = active.sum(axis=1).astype(np.float64)
    np.add.at(grad, (np.broadcast_to(rows, target.shape), label), -active.sum(axis=2))
    scale = 1.0 / (n_samples * n_classes)
    return input.dtype.type(loss.sum() * scale), (grad * scale).astype(input.dtype)
