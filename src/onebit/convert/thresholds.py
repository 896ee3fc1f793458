"""Batch norm + sign folded into per-channel integer thresholds on a binary layer's accumulator.

A binary layer computes an integer ``acc`` in ``[-K, K]`` per output channel; what follows it up to
the next sign (the layer's own scale ``a`` and bias ``b``, batch norm, a learnable shift) is a
per-channel map ``y = f(acc)``, in exact arithmetic the affine ``s * acc + t`` with
``s = a * gamma / sqrt(var + eps)``. The next layer binarizes ``y`` (``sign(0) = +1``):

* ``s > 0``: ``y >= 0  <=>  acc >= T``; the output bit (1 for -1) is ``acc < T``.
* ``s < 0``: ``y >= 0  <=>  acc <= T``; the output bit is ``acc > T`` (a *flipped* comparison).
* a channel whose sign is the same for every ``acc`` in ``[-K, K]`` (``s = 0`` among them) is
  constant: ``T`` at the int32 limits.

The model computes ``f`` in float32, and float rounding can put ``y`` on the other side of 0 than
exact arithmetic does when ``-t / s`` is within rounding of an integer, or anywhere when ``|s|`` is
tiny against ``|t|``. So ``T`` is not taken from the formula: ``f`` is the model's own modules,
evaluated in float32 on integer accumulators, and ``T`` is where *their* sign changes, found by
bisection over ``[-K, K]``. That is exact because each float step (a product with a per-channel
factor, a sum, batch norm's ``x * alpha + beta``) is monotone in its input, so the sign of ``f``
changes at most once over the range, in the direction of ``s``'s sign. Where the whole range is
affordable, every accumulator is checked once more.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from onebit.convert.ir import ConversionError

INT32_MIN = int(np.iinfo(np.int32).min)
INT32_MAX = int(np.iinfo(np.int32).max)

_CHECK_ALL_UP_TO = 1 << 22  # accumulators x channels checked one by one after the bisection
_ROWS_PER_CHECK = 4096


def fold_thresholds(
    chain: Callable[[torch.Tensor], torch.Tensor],
    scale: np.ndarray,
    bias: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds and flips that reproduce ``sign(chain(acc))`` for every ``acc`` in ``[-k, k]``.

    Args:
        chain: the float map from accumulator to pre-sign value, as the model computes it; takes
            and returns a (rows, C) float32 tensor, column c holding channel c.
        scale: ``s`` per channel (float64): its sign is the direction of ``chain``.
        bias: ``t`` per channel (float64), checked finite.
        k: accumulators lie in ``[-k, k]``.

    Returns:
        ``threshold`` (int32) and ``flip`` (uint8) per channel, as ``output_bits`` takes them.
    """
    scale, bias = np.asarray(scale, np.float64), np.asarray(bias, np.float64)
    if not (np.isfinite(scale).all() and np.isfinite(bias).all()):
        raise ConversionError("the scale or shift before a sign is not finite (NaN or inf)")
    if k < 0:
        raise ConversionError(f"an accumulator range needs k >= 0, got {k}")
    falling = scale < 0

    def rising_predicate(acc: np.ndarray) -> np.ndarray:
        """Per channel: +1 at ``acc`` (``f >= 0``) where ``f`` rises, -1 where it falls, so the
        predicate goes from False to True at most once as ``acc`` grows."""
        with torch.no_grad():
            values = chain(torch.from_numpy(acc.astype(np.float32))).numpy()
        positive = values >= 0
        return np.where(falling[None, :], ~positive, positive)

    # bisection for the first acc in [-k, k + 1] where the predicate holds (k + 1: nowhere)
    low = np.full(len(scale), -k, dtype=np.int64)
    high = np.full(len(scale), k + 1, dtype=np.int64)
    while np.any(low < high):
        middle = (low + high) // 2
        holds = rising_predicate(np.minimum(middle, k)[None, :])[0] & (middle <= k)
        active = low < high
        high = np.where(active & holds, middle, high)
        low = np.where(active & ~holds, middle + 1, low)
    first = low

    threshold = np.where(falling, first - 1, first)
    everywhere, nowhere = first == -k, first == k + 1
    # constant channels: +1 everywhere or -1 everywhere, at the int32 limits
    plus = np.where(falling, nowhere, everywhere)
    minus = np.where(falling, everywhere, nowhere)
    threshold = np.where(plus, np.where(falling, INT32_MAX, INT32_MIN), threshold)
    threshold = np.where(minus, np.where(falling, INT32_MIN, INT32_MAX), threshold)
    threshold = threshold.astype(np.int32)
    flip = falling.astype(np.uint8)
    _check(rising_predicate, first, k)
    return threshold, flip


def _check(rising_predicate, first: np.ndarray, k: int) -> None:
    """Every accumulator (or, for a large range, the ends and both sides of each change) gives
    the predicate the bisection assumed; a chain that is not monotone is refused."""
    channels = len(first)
    if (2 * k + 1) * channels <= _CHECK_ALL_UP_TO:
        for start in range(-k, k + 1, _ROWS_PER_CHECK):
            acc = np.arange(start, min(start + _ROWS_PER_CHECK, k + 1))[:, None]
            got = rising_predicate(np.broadcast_to(acc, (len(acc), channels)))
            if not np.array_equal(got, acc >= first[None, :]):
                break
        else:
            return
    else:
        acc = np.stack([np.full(channels, -k), first - 1, first, np.full(channels, k)])
        acc = np.clip(acc, -k, k)
        if np.array_equal(rising_predicate(acc), acc >= first[None, :]):
            return
    raise ConversionError(
        "the float map between a binary layer and the next sign is not monotone in the "
        "accumulator, so no threshold reproduces it"
    )
