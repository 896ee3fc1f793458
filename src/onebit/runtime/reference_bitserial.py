"""Bit-serial kernels for k-bit operands, in NumPy: the definitions the native ones
(``csrc/bitserial/``) are tested against.

A k-bit tensor of integer codes is stored as ``k`` bit planes: plane ``i`` holds bit ``i`` of every
code, packed exactly as a binary value is (``bit_format.py``: channel ``c`` is bit ``c % 64`` of
word ``c // 64``, zero padding bits). The planes are the outermost axis, so each plane is an
ordinary packed value: a ``(P, H, W, words)`` map is ``P`` binary ``(H, W, words)`` maps.

An operand's integer value is affine in its bits, ``v = offset + sum_i plane_weights[i] * bit_i``,
which covers every encoding the quantizers use:

- unsigned codes ``u`` with a zero point ``z``: offset ``-z``, weights ``2^i`` (DoReFa and LSQ
  activations; the 8-bit input of the BNN paper's first layer);
- two's complement: weights ``2^i``, the top one ``-2^(k-1)``;
- a sum of +-1 planes, ``v = sum_i 2^i s_i`` with ``s_i = +1`` for bit 0 and ``-1`` for bit 1 (the
  binary convention): offset ``2^k - 1``, weights ``-2^(i+1)``. These are DoReFa's weight levels
  (the odd integers in ``[-(2^k - 1), 2^k - 1]``), and at ``k = 1`` the binary layers' +-1.

Over ``k`` elements, with ``pc`` a popcount and ``x_i``, ``w_j`` the planes (Umuroglu & Jahre,
"Streamlined Deployment for Quantized Neural Networks", 2017, sec. 3; Courbariaux et al.,
"Binarized Neural Networks", 2016, sec. 2.6 for the 8-bit first layer)::

    sum_e x_e w_e = k ox ow + ox sum_j ww_j pc(w_j) + ow sum_i xw_i pc(x_i)
                    + sum_ij xw_i ww_j pc(x_i AND w_j)

so a k-bit by l-bit product costs ``k * l`` AND-popcounts of binary rows, and is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from onebit.runtime.bit_format import WORD_BITS, WORD_DTYPE, words_for
from onebit.runtime.reference import _padding_sides

MAX_PLANES = 8
"""The most bits an operand may have."""

INT32_MAX = 2**31 - 1


def check_encoding(offset: int, plane_weights: Sequence[int], name: str) -> tuple[int, ...]:
    """``plane_weights`` as a tuple of ints, refused unless there are 1 to 8 and every value
    (``offset`` too) lies within ``±2^16``."""
    weights = tuple(plane_weights)
    if not 1 <= len(weights) <= MAX_PLANES:
        raise ValueError(f"{name} needs 1 to {MAX_PLANES} plane weights, got {len(weights)}")
    for value in (offset, *weights):
        if type(value) not in (int, np.int32, np.int64) or abs(int(value)) > 2**16:
            raise ValueError(f"{name}: offset and plane weights must be integers within ±2^16")
    return tuple(int(w) for w in weights)


def value_range(offset: int, plane_weights: Sequence[int]) -> tuple[int, int]:
    """The smallest and largest integer an operand of this encoding can hold."""
    low = offset + sum(w for w in plane_weights if w < 0)
    high = offset + sum(w for w in plane_weights if w > 0)
    return low, high


def accumulator_bound(
    k: int, x_offset: int, x_weights: Sequence[int], w_offset: int, w_weights: Sequence[int]
) -> int:
    """The largest ``|sum_e x_e w_e|`` over ``k`` elements of these encodings."""
    x_max = max(abs(v) for v in value_range(x_offset, x_weights))
    w_max = max(abs(v) for v in value_range(w_offset, w_weights))
    return k * x_max * w_max


def encode_planes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Integer codes ``(..., C)`` in ``[0, 2^bits)`` -> ``(bits, ..., words_for(C))`` planes."""
    codes = np.asarray(codes)
    if not 1 <= bits <= MAX_PLANES:
        raise ValueError(f"bits must be 1 to {MAX_PLANES}, got {bits}")
    if codes.ndim == 0:
        raise ValueError("encode_planes needs at least one axis (the channel axis is the last)")
    if codes.size and (codes.min() < 0 or codes.max() >= 2**bits):
        raise ValueError(f"codes must lie in [0, {2**bits})")
    channels = codes.shape[-1]
    padded = words_for(channels) * WORD_BITS
    planes = []
    for i in range(bits):
        plane = ((codes.astype(np.int64) >> i) & 1).astype(bool)
        if padded != channels:
            pad = [(0, 0)] * (codes.ndim - 1) + [(0, padded - channels)]
            plane = np.pad(plane, pad, constant_values=False)
        packed = np.packbits(plane, axis=-1, bitorder="little")
        planes.append(np.ascontiguousarray(packed).view(WORD_DTYPE))
    return np.stack(planes)


def decode_planes(planes: np.ndarray, channels: int) -> np.ndarray:
    """``(P, ..., words)`` planes -> the unsigned codes ``(..., channels)`` as int64."""
    planes = np.asarray(planes, dtype=WORD_DTYPE)
    if planes.ndim < 2 or planes.shape[-1] * WORD_BITS < channels:
        raise ValueError(f"planes of shape {planes.shape} cannot hold {channels} channels")
    bits = np.unpackbits(planes.view(np.uint8), axis=-1, bitorder="little")[..., :channels]
    weights = (np.int64(1) << np.arange(len(planes), dtype=np.int64)).reshape(
        (-1,) + (1,) * (planes.ndim - 1)
    )
    return (bits.astype(np.int64) * weights).sum(axis=0)


def quantize_pack(x: np.ndarray, bits: int, multiplier: float, zero_point: int) -> np.ndarray:
    """Float ``(..., C)`` -> ``bits`` planes of the codes
    ``u = clamp(round(x * multiplier) + zero_point, 0, 2^bits - 1)``.

    ``x * multiplier`` is a float32 product and ``round`` rounds half to even, as ``torch.round``
    does, so the codes are the ones the model's quantizer computes. NaN becomes code 0.
    """
    x = np.asarray(x, dtype=np.float32)
    if not 1 <= bits <= MAX_PLANES:
        raise ValueError(f"bits must be 1 to {MAX_PLANES}, got {bits}")
    if not -(2**bits) <= zero_point <= 2**bits:
        raise ValueError(f"zero_point {zero_point} is outside ±2^{bits}")
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.rint(x * np.float32(multiplier)).astype(np.float64) + zero_point
    codes = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 2**bits - 1).astype(np.int64)
    return encode_planes(codes, bits)


def bitserial_gemm(
    x: np.ndarray,
    w: np.ndarray,
    k: int,
    x_offset: int,
    x_weights: Sequence[int],
    w_offset: int,
    w_weights: Sequence[int],
) -> np.ndarray:
    """``out[n, m] = sum_e X[n, e] W[m, e]`` over ``k`` elements, as int32, where ``X`` and ``W``
    are the integer values of the planes ``x`` ``(N, P, words)`` and ``w`` ``(M, Q, words)`` in
    the encodings ``(x_offset, x_weights)`` and ``(w_offset, w_weights)``.

    Raises:
        ValueError: shapes that disagree, padding bits set, or a product that could pass int32.
    """
    x = np.asarray(x, dtype=WORD_DTYPE)
    w = np.asarray(w, dtype=WORD_DTYPE)
    xw = np.array(check_encoding(x_offset, x_weights, "x"), dtype=np.int64)
    ww = np.array(check_encoding(w_offset, w_weights, "w"), dtype=np.int64)
    if x.ndim != 3 or w.ndim != 3 or x.shape[2] != w.shape[2]:
        raise ValueError(
            f"bitserial_gemm needs (N, P, W) and (M, Q, W) words, got {x.shape}, {w.shape}"
        )
    if x.shape[1] != len(xw) or w.shape[1] != len(ww):
        raise ValueError(
            f"x has {x.shape[1]} planes and w {w.shape[1]}, but {len(xw)} and {len(ww)} weights"
        )
    if not 0 < k <= x.shape[2] * WORD_BITS:
        raise ValueError(f"k={k} does not fit in {x.shape[2]} words")
    if accumulator_bound(k, x_offset, xw, w_offset, ww) > INT32_MAX:
        raise ValueError(f"a sum over k={k} of these encodings could pass int32")
    x_counts = np.bitwise_count(x).sum(axis=-1, dtype=np.int64)  # (N, P)
    w_counts = np.bitwise_count(w).sum(axis=-1, dtype=np.int64)  # (M, Q)
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.int32)
    rows = max(1, 2**21 // max(1, w.size * x.shape[1]))
    for start in range(0, x.shape[0], rows):
        chunk = x[start : start + rows]
        both = np.bitwise_count(chunk[:, None, :, None, :] & w[None, :, None, :, :])
        both = both.sum(axis=-1, dtype=np.int64)  # (n, M, P, Q)
        acc = np.einsum("nmpq,p,q->nm", both, xw, ww)
        acc += k * x_offset * w_offset
        acc += x_offset * (w_counts @ ww)[None, :]
        acc += w_offset * (x_counts[start : start + rows] @ xw)[:, None]
        out[start : start + rows] = acc
    return out


def bitserial_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    cin: int,
    stride: int | tuple[int, int],
    padding,
    pad_code: int,
    x_offset: int,
    x_weights: Sequence[int],
    w_offset: int,
    w_weights: Sequence[int],
) -> np.ndarray:
    """A k-bit convolution: planes ``x`` ``(N, P, H, W, words)`` of ``cin`` channels, weights
    ``w`` ``(M, Q, KH, KW, words)`` -> int32 ``(N, Ho, Wo, M)``, each the exact sum over its
    window of ``X * W`` (:func:`bitserial_gemm`).

    The border is padded with the code ``pad_code`` (``(ph, pw)`` or ``(top, bottom, left,
    right)``): the code whose value is 0 makes it zero padding.
    """
    x = np.asarray(x, dtype=WORD_DTYPE)
    w = np.asarray(w, dtype=WORD_DTYPE)
    if x.ndim != 5 or w.ndim != 5:
        raise ValueError(f"bitserial_conv2d needs 5-axis planes, got {x.shape} and {w.shape}")
    n, planes, h, width, words = x.shape
    cout, wplanes, kh, kw, _ = w.shape
    if not 0 <= pad_code < 2**planes:
        raise ValueError(f"pad_code {pad_code} is not a {planes}-bit code")
    top, bottom, left, right = _padding_sides(padding)
    sh, sw = _stride_pair(stride)
    if words != words_for(cin) or w.shape[4] != words:
        raise ValueError(
            f"cin={cin} needs {words_for(cin)} words per pixel, got {x.shape}, {w.shape}"
        )
    ho = (h + top + bottom - kh) // sh + 1
    wo = (width + left + right - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"a {kh}x{kw} kernel does not fit the padded {h}x{width} map")
    codes = decode_planes(np.moveaxis(x, 1, 0), cin)  # (N, H, W, cin)
    padded = np.pad(codes, [(0, 0), (top, bottom), (left, right), (0, 0)], constant_values=pad_code)
    view = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    view = view[:, ::sh, ::sw][:, :ho, :wo]  # (N, Ho, Wo, cin, KH, KW)
    taps = np.ascontiguousarray(view.transpose(0, 1, 2, 4, 5, 3))  # (N, Ho, Wo, KH, KW, cin)
    rows = encode_planes(taps.reshape(n * ho * wo, kh * kw, cin), planes)
    rows = rows.reshape(planes, n * ho * wo, kh * kw * words).transpose(1, 0, 2)
    weights = w.reshape(cout, wplanes, kh * kw * words)
    acc = bitserial_gemm(rows, weights, cin * kh * kw, x_offset, x_weights, w_offset, w_weights)
    return acc.reshape(n, ho, wo, cout)


def _stride_pair(stride: int | tuple[int, int]) -> tuple[int, int]:
    pair = (stride, stride) if isinstance(stride, int) else tuple(stride)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"stride must be positive, got {stride}")
    return int(pair[0]), int(pair[1])
