"""NumPy references of the dynamic-binarization kernels (DyBNN, ``onebit.nn.dynamic``): the
definitions the C++ executor's loops (``csrc/executor/ops_dynamic.cpp``) equal bit for bit.

Both take a batch of maps ``x`` of shape ``(N, ..., C)`` and, per sample, a vector computed from
that sample (a threshold per channel, or two shifts per channel): what makes them dynamic is only
that the vector has a batch axis.
"""

from __future__ import annotations

import numpy as np

from onebit.runtime.reference import bitpack


def _per_sample(x: np.ndarray, vector: np.ndarray, width: int, name: str) -> np.ndarray:
    """``vector`` (N, width) checked against ``x`` (N, ..., C) and shaped to broadcast over it."""
    x, vector = np.asarray(x), np.asarray(vector)
    if x.dtype != np.float32 or vector.dtype != np.float32:
        raise TypeError(f"x and {name} must be float32, got {x.dtype} and {vector.dtype}")
    if x.ndim < 2 or vector.shape != (len(x), width):
        raise ValueError(
            f"{name} must have shape (N, {width}) for x of shape (N, ..., C), got {vector.shape} "
            f"and {x.shape}"
        )
    return vector.reshape(len(x), *([1] * (x.ndim - 2)), width)


def dynamic_sign_pack(x: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """The packed signs of ``x - threshold``: +1 (bit 0) where ``x >= threshold``, per sample and
    channel. ``threshold`` is ``(N, C)``; the output is ``(N, ..., words_for(C))`` words.

    Comparing is subtracting, exactly: for finite float32 ``x`` and ``t``, the rounded difference
    ``x - t`` is 0 only where ``x == t`` (the exact difference is a multiple of the smallest
    subnormal, so a nonzero one never rounds to 0) and rounding keeps the sign of a nonzero
    difference (it is monotone and 0 is a float), so ``x - t >= 0`` exactly where ``x >= t``.
    A NaN packs as -1, as ``bitpack`` packs it.
    """
    x = np.asarray(x)
    t = _per_sample(x, threshold, x.shape[-1] if x.ndim else 0, "threshold")
    return bitpack(np.where(x >= t, np.float32(1), np.float32(-1)))


def dynamic_prelu(x: np.ndarray, shifts: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """``prelu(x - gamma) + zeta`` per sample and channel, in float32 in this order: ``d = x -
    gamma`` (rounded), ``p = d if d >= 0 else d * slope`` (rounded), ``p + zeta`` (rounded).

    Args:
        x: float32 ``(N, ..., C)``.
        shifts: float32 ``(N, 2C)``: ``gamma`` then ``zeta`` of each sample.
        slope: float32 ``(C,)``.
    """
    x = np.asarray(x)
    channels = x.shape[-1] if x.ndim else 0
    both = _per_sample(x, shifts, 2 * channels, "shifts")
    slope = np.asarray(slope)
    if slope.dtype != np.float32 or slope.shape != (channels,):
        raise ValueError(
            f"slope must be float32 of shape ({channels},), got {slope.dtype} {slope.shape}"
        )
    gamma, zeta = both[..., :channels], both[..., channels:]
    d = x - gamma
    return np.where(d >= 0, d, d * slope) + zeta
