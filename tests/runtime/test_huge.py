"""Arrays of more than 2**31 scores: every index is a Py_ssize_t.

One float32 input of 2 150 000 x 1000 scores (8.6 GB, 2.5 million scores
past 2**31), standard normal, filled block by block:

- as (N, C) rows, the offset of a row (n * C) passes 2**31 in the last 2516
  rows (row 2147483 straddles it): the multi-class loss and gradient (into ``out=``, another 8.6 GB) and
  the multi-label loss (indicator target, 2.2 GB) of a few rows, including the
  ones that straddle 2**31 and the last ones, must be the bits of the same
  call on those rows alone, and close to the NumPy reference;
- viewed as one row of 2.15e9 classes, the class index itself passes 2**31:
  the target class, the largest rival and the gradient's blocks lie beyond
  it, checked against a float64 sum over the row in chunks.  (The multi-label
  kernels need O(C) scratch per thread, 34 GB for such a row, so only the
  multi-class losses run on it.)

Marked slow and huge: run with ``--runhuge`` (CI's ``--runslow`` leaves it out), under ``flock /tmp/marginloss-bigmem.lock``
on a shared machine.  Each test skips itself when the machine has less
memory available than it needs.  Measured (2 cores shared with other jobs,
load 7): 9 min 18 s, peak resident size 16.8 GiB (18.0 GB).
"""

import gc

import numpy as np
import pytest

from _reference import (
    reference_multi_margin,
    reference_multi_margin_grad,
    reference_multilabel_margin,
)
from marginloss import (
    multi_margin_loss,
    multi_margin_loss_and_grad,
    multilabel_margin_loss,
)

pytestmark = [pytest.mark.slow, pytest.mark.huge]

N_SAMPLES, N_CLASSES = 2_150_000, 1000
TWO_31 = 2**31
GB = 10**9
# Rows to check: the first, the two that hold scores 2**31 - 1 and 2**31
# (row 2147483 holds both), the first row wholly past 2**31, a random few, the last.
STRADDLE = TWO_31 // N_CLASSES
ROWS = np.array(sorted({0, 1, STRADDLE - 1, STRADDLE, STRADDLE + 1, 1_234_567,
                        2_000_000, N_SAMPLES - 2, N_SAMPLES - 1}))
BLOCK_ROWS = 50_000
CHUNK = 2**25  # scores per chunk of the wide-row reference (128 MB float32)


def _available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def _need(n_bytes):
    """Skip unless n_bytes more (plus 1 GB of room) are available."""
    gc.collect()
    available = _available_bytes()
    if available < n_bytes + GB:
        pytest.skip(f"needs {(n_bytes + GB) / GB:.1f} GB free, {available / GB:.1f} GB available")


@pytest.fixture(scope="module")
def scores():
    _need(N_SAMPLES * N_CLASSES * 4)
    x = np.empty((N_SAMPLES, N_CLASSES), dtype=np.float32)
    assert x.size > TWO_31
    rng = np.random.default_rng(20261126)
    for start in range(0, N_SAMPLES, BLOCK_ROWS):
        rng.standard_normal(out=x[start:start + BLOCK_ROWS], dtype=np.float32)
    yield x
    del x
    gc.collect()


def test_checked_rows_lie_past_2_31():
    assert STRADDLE * N_CLASSES < TWO_31 < (STRADDLE + 1) * N_CLASSES
    assert (N_SAMPLES - 1) * N_CLASSES > TWO_31


def test_multi_margin_rows_past_2_31(scores):
    rng = np.random.default_rng(1)
    y = rng.integers(0, N_CLASSES, N_SAMPLES)
    weight = rng.uniform(0.5, 1.5, N_CLASSES)
    x_rows, y_rows = scores[ROWS], y[ROWS]
    losses = {}
    for multi_class in ("weston_watkins", "crammer_singer"):
        loss = multi_margin_loss(scores, y, p=2, weight=weight, reduction="none",
                                 multi_class=multi_class)
        alone = multi_margin_loss(x_rows, y_rows, p=2, weight=weight, reduction="none",
                                  multi_class=multi_class)
        np.testing.assert_array_equal(loss[ROWS], alone, err_msg=multi_class)
        assert np.isfinite(loss).all() and (loss > 0).mean() > 0.5
        losses[multi_class] = loss[ROWS]
    np.testing.assert_allclose(
        losses["weston_watkins"],
        reference_multi_margin(x_rows, y_rows, p=2, weight=weight, reduction="none"),
        rtol=2e-5)

    _need(scores.nbytes)
    grad_output = rng.normal(size=N_SAMPLES)
    out = np.full_like(scores, np.nan)
    loss, grad = multi_margin_loss_and_grad(scores, y, reduction="none",
                                            grad_output=grad_output, out=out)
    assert grad is out
    alone_loss, alone_grad = multi_margin_loss_and_grad(x_rows, y_rows, reduction="none",
                                                        grad_output=grad_output[ROWS])
    np.testing.assert_array_equal(loss[ROWS], alone_loss)
    np.testing.assert_array_equal(grad[ROWS], alone_grad)
    np.testing.assert_allclose(
        grad[ROWS], reference_multi_margin_grad(x_rows, y_rows, reduction="none",
                                                grad_output=grad_output[ROWS]),
        rtol=2e-5, atol=1e-9)
    # Every row past 2**31 was written (out was NaN).
    assert np.isfinite(grad[STRADDLE:]).all()
    del out, grad


def test_multilabel_rows_past_2_31(scores):
    _need(scores.size)
    rng = np.random.default_rng(2)
    indicator = np.empty(scores.shape, dtype=bool)
    for start in range(0, N_SAMPLES, BLOCK_ROWS):
        # About 10 labels per row: the sorted path, and the direct loop on rows
        # with at most 2 labels (about 3 in 1000).
        indicator[start:start + BLOCK_ROWS] = (
            rng.random((min(BLOCK_ROWS, N_SAMPLES - start), N_CLASSES), dtype=np.float32)
            < 0.01)
    indicator[ROWS[-1]] = False
    indicator[ROWS[-1], [3, 997]] = True  # the last row takes the direct loop
    loss = multilabel_margin_loss(scores, indicator, reduction="none",
                                  target_format="indicator")
    x_rows = scores[ROWS]
    alone = multilabel_margin_loss(x_rows, indicator[ROWS], reduction="none",
                                   target_format="indicator")
    np.testing.assert_array_equal(loss[ROWS], alone)
    indices = np.full((ROWS.size, N_CLASSES), -1)
    for i, row in enumerate(indicator[ROWS]):
        labels = np.flatnonzero(row)
        indices[i, :labels.size] = labels
    np.testing.assert_allclose(loss[ROWS],
                               reference_multilabel_margin(x_rows, indices, reduction="none"),
                               rtol=2e-5)
    assert np.isfinite(loss).all() and (loss > 0).mean() > 0.9
    del indicator


def _wide_row_reference(row, y, p, margin=np.float32(1.0)):
    """(sum_{i != y} max(0, z_i) ** p in float64, #{i != y: z_i > 0}), z_i in float32."""
    shift = margin - row[y]
    total, n_active = 0.0, 0
    for start in range(0, row.size, CHUNK):
        z = shift + row[start:start + CHUNK]
        if start <= y < start + CHUNK:
            z[y - start] = 0
        active = np.maximum(z, 0).astype(np.float64)
        total += float(np.sum(active if p == 1 else active * active))
        n_active += int(np.count_nonzero(z > 0))
    return total, n_active


def test_multi_margin_one_row_of_more_than_2_31_classes(scores):
    row = scores.reshape(1, -1)  # a view: one sample of 2.15e9 classes
    n_classes = row.shape[1]
    flat = row[0]
    y = n_classes - 3  # the target class lies past 2**31
    rival = TWO_31 + 12_345  # so does the unique largest other score
    saved = flat[[y, rival]].copy()
    flat[y], flat[rival] = 0.25, 20.0
    try:
        reference = {p: _wide_row_reference(flat, y, p) for p in (1, 2)}
        for p in (1, 2):
            loss = multi_margin_loss(row, [y], p=p, reduction="none")
            np.testing.assert_allclose(loss, [reference[p][0] / n_classes], rtol=1e-6,
                                       err_msg=f"p={p}")
        assert multi_margin_loss(row, [y], multi_class="crammer_singer") == np.float32(20.75)

        _need(scores.nbytes)
        out = np.empty_like(row)
        loss, grad = multi_margin_loss_and_grad(row, [y], reduction="none", out=out)
        total, n_active = reference[1]
        np.testing.assert_allclose(loss, [total / n_classes], rtol=1e-6)
        # The gradient, chunk by chunk: 1/C where z > 0, else 0; minus the count at y.
        coef = np.float32(1.0 / n_classes)
        shift = np.float32(1.0) - flat[y]
        for start in range(0, n_classes, CHUNK):
            expected = np.where(shift + flat[start:start + CHUNK] > 0, coef, np.float32(0))
            if start <= y < start + CHUNK:
                expected[y - start] = np.float32((0.0 - (1.0 / n_classes) * n_active))
            np.testing.assert_array_equal(grad[0, start:start + CHUNK], expected,
                                          err_msg=f"gradient of classes {start}...")
        del out, grad
        loss, grad = multi_margin_loss_and_grad(row, [y], multi_class="crammer_singer",
                                                out=np.empty_like(row))
        assert loss == np.float32(20.75)
        assert grad[0, rival] == 1 and grad[0, y] == -1
        assert np.count_nonzero(grad) == 2
        del grad
    finally:
        flat[[y, rival]] = saved
