"""Batch norm + sign folded into per-channel integer thresholds on a binary layer's accumulator.

A binary layer computes an integer ``acc`` per output channel; what follows it up to the next
sign (the layer's own scale ``a`` and bias ``b``, batch norm, a learnable shift) is a per-channel
affine map ``y = s * acc + t`` with ``s = a * gamma / sqrt(var + eps)`` and
``t = (b - mean) * gamma / sqrt(var + eps) + beta``. The next layer binarizes ``y``:

* ``s > 0``: ``y >= 0  <=>  acc >= -t / s  <=>  acc >= ceil(-t / s) =: T``; the output bit
  (1 for -1) is ``acc < T``.
* ``s < 0``: the inequality turns over: ``y >= 0  <=>  acc <= floor(-t / s) =: T``; the output
  bit is ``acc > T`` (a *flipped* comparison).
* ``s = 0``: ``y = t`` for every ``acc``: a constant channel (``T`` at the int32 limits).

Float arithmetic can put ``y`` on the other side of 0 than exact arithmetic does when ``-t / s``
is within rounding of an integer. So the threshold is not taken from the formula alone: the
layer's own torch modules are evaluated on the few integers around ``-t / s``, and ``T`` is the
integer where *they* change sign. The packed program then binarizes exactly as the PyTorch model
in eval mode does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

INT32_MIN = int(np.iinfo(np.int32).min)
INT32_MAX = int(np.iinfo(np.int32).max)

# How far from -t/s to look for the float sign change; rounding moves it by far less than one.
_WINDOW = 3


def fold_thresholds(
    chain: Callable[[torch.Tensor], torch.Tensor],
    scale: np.ndarray,
    bias: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds and flips that reproduce ``sign(chain(acc))`` for every reachable ``acc``.

    Args:
        chain: the float map from accumulator to pre-sign value, as the model computes it; takes
            and returns a (rows, C) float32 tensor, column c holding channel c.
        scale: ``s`` per channel (float64), for where to look and for the direction.
        bias: ``t`` per channel (float64).
        k: accumulators lie in ``[-k, k]``.

    Returns:
        ``threshold`` (int32) and ``flip`` (uint8) per channel, as ``output_bits`` takes them.
    """
    channels = len(scale)
    threshold = np.zeros(channels, dtype=np.int64)
    flip = (scale < 0).astype(np.uint8)
    live = scale != 0
    center = np.zeros(channels)
    center[live] = np.clip(-bias[live] / scale[live], -k - _WINDOW, k + _WINDOW)
    offsets = np.arange(-_WINDOW, _WINDOW + 1)
    candidates = np.floor(center)[None, :].astype(np.int64) + offsets[:, None]  # (rows, C)
    with torch.no_grad():
        values = chain(torch.from_numpy(candidates.astype(np.float32))).numpy()
    positive = values >= 0  # the model's sign(y) is +1 here
    at_zero = chain_at_zero(chain, channels) if not live.all() else None
    for c in range(channels):
        column = positive[:, c]
        if not live[c]:
            threshold[c] = INT32_MIN if at_zero[c] >= 0 else INT32_MAX
        elif scale[c] > 0:
            # +1 from the first positive candidate on; all positive: +1 everywhere in reach
            first = np.argmax(column) if column.any() else len(column)
            threshold[c] = candidates[first, c] if first < len(column) else candidates[-1, c] + 1
            if column.all():
                threshold[c] = min(threshold[c], -k)
        else:
            # +1 up to the last positive candidate; none positive: -1 everywhere in reach
            if column.any():
                last = len(column) - 1 - np.argmax(column[::-1])
                threshold[c] = candidates[last, c]
                if column.all():
                    threshold[c] = max(threshold[c], k)
            else:
                threshold[c] = candidates[0, c] - 1
    return np.clip(threshold, INT32_MIN, INT32_MAX).astype(np.int32), flip


def chain_at_zero(chain: Callable[[torch.Tensor], torch.Tensor], channels: int) -> np.ndarray:
    with torch.no_grad():
        return chain(torch.zeros(1, channels)).numpy()[0]
