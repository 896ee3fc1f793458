"""Plain NumPy references of the packed kernels: the definition each native kernel must equal.

Packed data follows :mod:`onebit.runtime.bit_format` (+1 is bit 0, -1 is bit 1, ``x >= 0`` maps
to +1; channel ``c`` is bit ``c % WORD_BITS`` of word ``c // WORD_BITS``; unused high bits 0, so
padding bits cancel in the XOR); windows follow :mod:`onebit.runtime.window`.

These functions favour clarity over speed; tests compare the native kernels with them exactly.
"""

from __future__ import annotations

import numpy as np

from onebit.runtime.bit_format import WORD_BITS, WORD_DTYPE, words_for
from onebit.runtime.window import output_sides, padding_sides


def bitpack(x: np.ndarray) -> np.ndarray:
    """Pack the signs of ``x`` (float or int8, shape ``(..., C)``) into ``words_for(C)`` words.

    NaN packs as -1 (it is not ``>= 0``).
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("bitpack needs at least one axis (the channel axis is the last)")
    channels = x.shape[-1]
    bits = ~(x >= 0)
    padded = words_for(channels) * WORD_BITS
    if padded != channels:
        pad = [(0, 0)] * (x.ndim - 1) + [(0, padded - channels)]
        bits = np.pad(bits, pad, constant_values=False)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view(WORD_DTYPE)


def unpack(words: np.ndarray, channels: int) -> np.ndarray:
    """The ``±1.0`` float32 values of ``(..., words_for(C))`` words, shape ``(..., channels)``."""
    words = np.ascontiguousarray(words, dtype=WORD_DTYPE)
    if words.shape[-1] != words_for(channels):
        raise ValueError(
            f"{words.shape[-1]} words cannot hold exactly {channels} channels "
            f"({words_for(channels)} needed)"
        )
    bits = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")[..., :channels]
    return (1.0 - 2.0 * bits).astype(np.float32)


def bgemm(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Binary matrix product of packed rows: ``out[m, n] = k - 2 * popcount(a[m] XOR b[n])``.

    Equals ``unpack(a, k) @ unpack(b, k).T`` exactly, as int32.

    Args:
        a: ``(M, words)`` packed rows.
        b: ``(N, words)`` packed rows (the weights, one output per row).
        k: the true number of channels (at most ``WORD_BITS * words``).
    """
    a = np.asarray(a, dtype=WORD_DTYPE)
    b = np.asarray(b, dtype=WORD_DTYPE)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"bgemm needs (M, W) and (N, W) words, got {a.shape} and {b.shape}")
    if not 0 < k <= a.shape[1] * WORD_BITS:
        raise ValueError(f"k={k} does not fit in {a.shape[1]} words")
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.int32)
    rows_per_chunk = max(1, 2**22 // max(1, b.shape[0] * b.shape[1]))
    for start in range(0, a.shape[0], rows_per_chunk):
        chunk = a[start : start + rows_per_chunk]
        differing = np.bitwise_count(chunk[:, None, :] ^ b[None, :, :]).sum(axis=-1, dtype=np.int64)
        out[start : start + rows_per_chunk] = k - 2 * differing
    return out


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _conv_shapes(
    x: np.ndarray,
    w: np.ndarray,
    cin: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
    pad_value: float,
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> tuple[int, int]:
    """Check the arguments of ``bconv2d`` and return the output size ``(Ho, Wo)``."""
    if x.ndim != 4:
        raise ValueError(f"x must be (N, H, W, words) packed NHWC, got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"w must be (Cout, KH, KW, words) packed weights, got shape {w.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be an int >= 1, got {groups!r}")
    if cin > 0 and (cin % groups or w.shape[0] % groups):
        raise ValueError(
            f"groups={groups} must divide both cin={cin} and cout={w.shape[0]} "
            "(the weight's first axis)"
        )
    group_cin = cin // groups
    if cin <= 0 or words_for(cin) != x.shape[3] or words_for(group_cin) != w.shape[3]:
        in_w = "" if groups == 1 else f" and {words_for(group_cin)} per tap in w (groups={groups})"
        raise ValueError(
            f"cin={cin} needs {words_for(cin) if cin > 0 else '?'} words per pixel{in_w}; "
            f"x has {x.shape[3]} and w has {w.shape[3]}"
        )
    if min(stride) < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if min(dilation) < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    if pad_value not in (0.0, 1.0):
        raise ValueError(
            f"pad_value must be 1.0 (one-padding) or 0.0 (zero padding), got {pad_value}"
        )
    kh, kw = w.shape[1:3]
    span = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    ho, wo = output_sides(x.shape[1], x.shape[2], span, stride, padding_sides(padding))
    if kh < 1 or kw < 1 or ho < 1 or wo < 1:
        dilated = "" if dilation == (1, 1) else f" dilated by {dilation} (spanning {span})"
        raise ValueError(
            f"kernel {kh}x{kw}{dilated} does not fit the padded {x.shape[1]}x{x.shape[2]} input "
            f"(padding {padding})"
        )
    return ho, wo


def _channel_slice(x: np.ndarray, start: int, count: int) -> np.ndarray:
    """The packed words of channels ``[start, start + count)`` of packed ``x``, re-based at bit 0
    (unused high bits 0)."""
    x = np.ascontiguousarray(x)
    bits = np.unpackbits(x.view(np.uint8), axis=-1, bitorder="little")[..., start : start + count]
    padded = words_for(count) * WORD_BITS
    bits = np.pad(bits, [(0, 0)] * (x.ndim - 1) + [(0, padded - count)])
    return np.ascontiguousarray(np.packbits(bits, axis=-1, bitorder="little")).view(WORD_DTYPE)


def weight_tap_sums(w: np.ndarray, cin: int) -> np.ndarray:
    """Per ``(cout, kh, kw)`` the sum of the ``±1`` weights over the ``cin`` input channels of a
    weight row (``cin // groups`` for a grouped convolution), int32."""
    w = np.asarray(w, dtype=WORD_DTYPE)
    return (cin - 2 * np.bitwise_count(w).sum(axis=-1, dtype=np.int64)).astype(np.int32)


def bconv2d(
    x: np.ndarray,
    w: np.ndarray,
    cin: int,
    stride: int | tuple[int, int] = (1, 1),
    padding: int | tuple[int, int] = (0, 0),
    pad_value: float = 1.0,
    dilation: int | tuple[int, int] = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Binary 2-D convolution (cross-correlation, like ``torch.nn.functional.conv2d``), int32 NHWC.

    Equals ``conv2d`` of the unpacked ``±1`` input and weights exactly (with the same stride,
    padding, dilation and groups). The algorithm is im2col on packed words followed by ``bgemm``:
    each output pixel's patch is the ``KH * KW * words`` words under the kernel; the unused high
    bits of every pixel's last word are 0 in both operands, so they cancel and
    ``k = KH * KW * cin / groups``.

    Dilation ``(dh, dw)``: tap ``(i, j)`` of output ``(oh, ow)`` reads input pixel
    ``(oh * sh - ph + i * dh, ow * sw - pw + j * dw)``. Groups ``G``: output channel ``o`` reads
    the input channels ``[g * cin / G, (g + 1) * cin / G)`` of its group ``g = o // (Cout / G)``;
    each group is a convolution of those channels, re-packed from bit 0, with its weight rows.

    Padding: with ``pad_value=1.0`` the padded pixels are +1 (all-zero words), purely binary. With
    ``pad_value=0.0`` they contribute 0 instead of ``+1 * w``: the one-padded result minus, for each
    padded tap of the output position, the channel sum of that tap's weights.

    Args:
        x: ``(N, H, W, words_for(cin))`` packed input.
        w: ``(Cout, KH, KW, words_for(cin // groups))`` packed weights.
        cin: the true number of input channels.
        stride: ``(sh, sw)`` or one int.
        padding: symmetric ``(ph, pw)`` or one int.
        pad_value: 1.0 (one-padding) or 0.0 (zero padding).
        dilation: ``(dh, dw)`` or one int, each >= 1.
        groups: divides ``cin`` and ``Cout``.

    Returns:
        ``(N, Ho, Wo, Cout)`` int32.
    """
    x = np.asarray(x, dtype=WORD_DTYPE)
    w = np.asarray(w, dtype=WORD_DTYPE)
    stride = _pair(stride, "stride")
    padding = _pair(padding, "padding")
    dilation = _pair(dilation, "dilation")
    ho, wo = _conv_shapes(x, w, cin, stride, padding, pad_value, dilation, groups)
    n, cout, kh, kw = x.shape[0], w.shape[0], w.shape[1], w.shape[2]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    group_cin, group_cout = cin // groups, cout // groups

    def taps(padded: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
        """The (Ho, Wo) windows of dilated taps: (..., Ho, Wo, ..., KH, KW)."""
        windows = np.lib.stride_tricks.sliding_window_view(padded, span, axis=axes)
        windows = windows[..., ::dh, ::dw]
        index = [slice(None)] * windows.ndim
        index[axes[0]] = slice(None, (ho - 1) * sh + 1, sh)
        index[axes[1]] = slice(None, (wo - 1) * sw + 1, sw)
        return windows[tuple(index)]

    out = np.empty((n, ho, wo, cout), dtype=np.int32)
    for g in range(groups):
        xg = x if groups == 1 else _channel_slice(x, g * group_cin, group_cin)
        wg = w[g * group_cout : (g + 1) * group_cout]
        padded = np.pad(xg, [(0, 0), (ph, ph), (pw, pw), (0, 0)])  # all-zero words: +1
        windows = taps(padded, (1, 2))  # (N, Ho, Wo, Wg, KH, KW)
        cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, -1)  # (kh, kw, c) order
        acc = bgemm(cols, wg.reshape(group_cout, -1), kh * kw * group_cin)
        out[..., g * group_cout : (g + 1) * group_cout] = acc.reshape(n, ho, wo, group_cout)

    if pad_value == 0.0 and (ph or pw):
        is_pad = np.pad(
            np.zeros(x.shape[1:3], dtype=np.int32), [(ph, ph), (pw, pw)], constant_values=1
        )
        padded_taps = taps(is_pad, (0, 1))  # (Ho, Wo, KH, KW)
        sums = weight_tap_sums(w, group_cin)
        correction = np.einsum("hwij,oij->hwo", padded_taps, sums, dtype=np.int64)
        out -= correction.astype(np.int32)[None]
    return out


def output_float(acc: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``acc * scale + bias`` per channel (the last axis), in float32.

    Computed as ``float(acc) * scale + bias`` with two float32 roundings (the product, then the
    sum), no fused multiply-add.

    Args:
        acc: ``(..., C)`` int32 accumulators.
        scale: ``(C,)`` float32.
        bias: ``(C,)`` float32.
    """
    acc, scale, bias = _check_epilogue(acc, scale, bias, np.float32, "scale", "bias")
    return acc.astype(np.float32) * scale + bias


def output_bits(acc: np.ndarray, threshold: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Threshold int32 accumulators into packed words ``(..., words_for(C))``.

    The output is -1 (bit 1) where ``acc < threshold[c]`` if ``flip[c] == 0``, and where
    ``acc > threshold[c]`` if ``flip[c] == 1``; +1 (bit 0) elsewhere. ``sign(scale * acc + bias)``
    (with sign(0) = +1) is ``threshold = ceil(-bias / scale), flip = 0`` for ``scale > 0`` and
    ``threshold = floor(-bias / scale), flip = 1`` for ``scale < 0``; INT32_MIN and INT32_MAX
    thresholds make constant channels.

    Args:
        acc: ``(..., C)`` int32 accumulators.
        threshold: ``(C,)`` int32.
        flip: ``(C,)`` uint8, 0 or 1.
    """
    acc, threshold, flip = _check_epilogue(acc, threshold, flip, np.int32, "threshold", "flip")
    if np.any(flip > 1):
        raise ValueError(f"flip must hold 0 or 1, got {flip.max()}")
    negative = np.where(flip.astype(bool), acc > threshold, acc < threshold)
    return bitpack(np.where(negative, np.int8(-1), np.int8(1)))


def _check_epilogue(acc, first, second, dtype, first_name: str, second_name: str):
    acc = np.asarray(acc)
    first = np.asarray(first)
    second = np.asarray(second)
    # wrong dtype: TypeError, wrong shape or value: ValueError (as the native module)
    if acc.dtype != np.int32:
        raise TypeError(f"acc must be int32 accumulators, got {acc.dtype}")
    if acc.ndim < 1:
        raise ValueError(f"acc must have at least one axis (..., C), got shape {acc.shape}")
    channels = acc.shape[-1]
    second_dtype = np.uint8 if second_name == "flip" else dtype
    for name, value, want in ((first_name, first, dtype), (second_name, second, second_dtype)):
        if value.dtype != want:
            raise TypeError(f"{name} must be {np.dtype(want)}, got {value.dtype}")
        if value.shape != (channels,):
            raise ValueError(f"{name} must have shape ({channels},), got {value.shape}")
    return acc, first, second


def bconv2d_float(
    x: np.ndarray,
    w: np.ndarray,
    cin: int,
    scale: np.ndarray,
    bias: np.ndarray,
    stride: int | tuple[int, int] = (1, 1),
    padding: int | tuple[int, int] = (0, 0),
    pad_value: float = 1.0,
    dilation: int | tuple[int, int] = (1, 1),
    groups: int = 1,
    post=None,
) -> np.ndarray:
    """``output_float(bconv2d(x, w, cin, ...), scale, bias)``: float32 NHWC, then the ``post``
    steps of :func:`float_chain` (e.g. ReLU, batch norm and a residual add after the conv)."""
    acc = bconv2d(x, w, cin, stride, padding, pad_value, dilation, groups)
    y = output_float(acc, scale, bias)
    return float_chain(y, post) if post else y


def bconv2d_bits(
    x: np.ndarray,
    w: np.ndarray,
    cin: int,
    threshold: np.ndarray,
    flip: np.ndarray,
    stride: int | tuple[int, int] = (1, 1),
    padding: int | tuple[int, int] = (0, 0),
    pad_value: float = 1.0,
    dilation: int | tuple[int, int] = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """``output_bits(bconv2d(x, w, cin, ...), threshold, flip)``: packed NHWC words."""
    acc = bconv2d(x, w, cin, stride, padding, pad_value, dilation, groups)
    return output_bits(acc, threshold, flip)


def bmaxpool2d(
    x: np.ndarray,
    kernel: int | tuple[int, int] = (2, 2),
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Max-pool of packed ``±1`` NHWC words: the max is +1 (bit 0) if any value is +1, so the
    output bit is the AND of the window's bits. Padded positions never win (they are ignored).

    Output size as ``torch.nn.functional.max_pool2d`` (floor mode); like torch, padding may be at
    most half the kernel, so every window holds at least one real pixel.

    Args:
        x: ``(N, H, W, words)`` packed input.
        kernel: ``(kh, kw)`` or one int.
        stride: ``(sh, sw)``, one int, or None for the kernel size.
        padding: symmetric ``(ph, pw)`` or one int.
    """
    x = np.asarray(x, dtype=WORD_DTYPE)
    kernel = _pair(kernel, "kernel")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if x.ndim != 4:
        raise ValueError(f"x must be (N, H, W, words) packed NHWC, got shape {x.shape}")
    if min(kernel) < 1 or min(stride) < 1:
        raise ValueError(f"kernel and stride must be >= 1, got {kernel} and {stride}")
    if min(padding) < 0 or 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise ValueError(f"padding must be between 0 and half the kernel {kernel}, got {padding}")
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = output_sides(x.shape[1], x.shape[2], (kh, kw), (sh, sw), padding_sides(padding))
    if ho < 1 or wo < 1:
        raise ValueError(f"kernel {kernel} does not fit the padded {x.shape[1]}x{x.shape[2]} input")
    ones = np.iinfo(WORD_DTYPE).max  # all bits set: the identity of AND
    padded = np.pad(x, [(0, 0), (ph, ph), (pw, pw), (0, 0)], constant_values=ones)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    windows = windows[:, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]
    return np.bitwise_and.reduce(windows.reshape(*windows.shape[:4], -1), axis=-1)


# -- float kernels ---------------------------------------------------------------------------

CHAIN_STEPS = ("affine", "relu", "prelu", "hardtanh", "add")


def float_chain(x: np.ndarray, post) -> np.ndarray:
    """Per-channel steps on a float32 ``(..., C)`` map, in order, as float32 NumPy arithmetic:
    ``("affine", scale, bias)`` -> ``x * scale + bias`` (two roundings), ``("relu",)``,
    ``("prelu", slope)`` -> ``x if x >= 0 else x * slope``, ``("hardtanh", low, high)`` -> clip,
    ``("add", residual)`` -> ``x + residual`` (a map of x's shape).

    This is the tail of a layer (batch norm, activation, residual add) that the native kernels
    run on each output tile while it is in cache.
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(f"x must be float32, got {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"x must have at least one axis (..., C), got shape {x.shape}")
    channels = x.shape[-1]
    y = x.copy()
    for i, step in enumerate(post or ()):
        where = f"post[{i}]"
        if not isinstance(step, tuple) or not step or not isinstance(step[0], str):
            raise TypeError(f"{where} must be a tuple starting with a step name")
        name, *args = step
        vectors = [np.asarray(a) for a in args] if name in ("affine", "prelu") else []
        for v in vectors:
            if v.dtype != np.float32:
                raise TypeError(f"{where}: {name}'s vectors must be float32, got {v.dtype}")
            if v.shape != (channels,):
                raise ValueError(f"{where}: {name}'s vectors must have shape ({channels},)")
        if name == "affine" and len(args) == 2:
            y = y * vectors[0] + vectors[1]
        elif name == "relu" and not args:  # a select, like torch: -0.0 and NaN pass unchanged
            y = np.where(y < 0, np.float32(0), y)
        elif name == "prelu" and len(args) == 1:
            y = np.where(y >= 0, y, y * vectors[0])
        elif name == "hardtanh" and len(args) == 2:
            low, high = np.float32(args[0]), np.float32(args[1])
            y = np.where(y < low, low, y)  # selects, like torch's clamp (signed zeros kept)
            y = np.where(y > high, high, y)
        elif name == "add" and len(args) == 1:
            residual = np.asarray(args[0])
            if residual.dtype != np.float32:
                raise TypeError(f"{where}: the residual must be float32, got {residual.dtype}")
            if residual.shape != y.shape:
                raise ValueError(
                    f"{where}: the residual has shape {residual.shape}, the output has {y.shape}"
                )
            y = y + residual
        elif name in CHAIN_STEPS:
            raise ValueError(f"{where}: wrong arguments for {name}: {len(args)}")
        else:
            raise ValueError(f"{where}: unknown step {name!r} ({', '.join(CHAIN_STEPS)})")
    return y


def _padding_sides(padding) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, a pair (rows, columns) or four ints."""
    four = not isinstance(padding, int) and len(padding) == 4
    sides = padding_sides(padding if four else _pair(padding, "padding"))
    if min(sides) < 0:
        raise ValueError(f"padding must be >= 0 on every side, got {padding}")
    return sides


def depthwise_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    stride: int | tuple[int, int] = (1, 1),
    padding=(0, 0),
    pad_value: float = 0.0,
    post=None,
) -> np.ndarray:
    """Float depthwise convolution of an NHWC map with a depth multiplier ``M``.

    ``x``: ``(N, H, W, C)`` float32; ``w``: ``(KH, KW, C * M)`` float32, output channel ``o``
    reading input channel ``o // M`` (torch's ``groups=C``); padding: an int, a pair, or
    ``(top, bottom, left, right)``, padded pixels holding ``pad_value``. Each output adds
    ``x * w`` tap by tap in ``(kh, kw)`` order from 0 (float32, two roundings per tap), then
    ``* scale + bias`` and the ``post`` steps of :func:`float_chain`.
    """
    x, w = np.asarray(x), np.asarray(w)
    if x.dtype != np.float32 or w.dtype != np.float32:
        raise TypeError(f"x and w must be float32, got {x.dtype} and {w.dtype}")
    if x.ndim != 4 or w.ndim != 3:
        raise ValueError(f"x must be (N, H, W, C) and w (KH, KW, C * M), got {x.shape}, {w.shape}")
    n, h, width, c = x.shape
    kh, kw, cout = w.shape
    if c < 1 or cout < c or cout % c:
        raise ValueError(f"w must be (KH, KW, C * multiplier) for C = {c}, got {w.shape}")
    sh, sw = _pair(stride, "stride")
    if min(sh, sw) < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    top, bottom, left, right = sides = _padding_sides(padding)
    ho, wo = output_sides(h, width, (kh, kw), (sh, sw), sides)
    if kh < 1 or kw < 1 or ho < 1 or wo < 1:
        raise ValueError(f"kernel {kh}x{kw} does not fit the padded {h}x{width} input")
    padded = np.pad(
        x, [(0, 0), (top, bottom), (left, right), (0, 0)], constant_values=np.float32(pad_value)
    )
    expanded = np.repeat(padded, cout // c, axis=-1)  # input channel o // M for output o
    y = np.zeros((n, ho, wo, cout), np.float32)
    for i in range(kh):
        for j in range(kw):
            tap = expanded[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
            y = y + tap * w[i, j]
    return float_chain(y, [("affine", scale, bias), *(post or ())])


def _float_map(x) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        raise TypeError(f"x must be float32, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim != 4:
        raise ValueError(f"x must be a 4-D map, got shape {x.shape}")
    if not x.flags.c_contiguous:
        raise ValueError("x must be C-contiguous; pass np.ascontiguousarray(x)")
    return x


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    """A float32 ``(N, C, H, W)`` map (torch's layout) as a new ``(N, H, W, C)`` array."""
    return np.ascontiguousarray(_float_map(x).transpose(0, 2, 3, 1))


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    """A float32 ``(N, H, W, C)`` map as a new ``(N, C, H, W)`` array (torch's layout)."""
    return np.ascontiguousarray(_float_map(x).transpose(0, 3, 1, 2))


def _window_geometry(x, kernel, stride, padding):
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(f"x must be float32, got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x must be an (N, H, W, C) map, got shape {x.shape}")
    kh, kw = _pair(kernel, "kernel")
    sh, sw = _pair(stride, "stride")
    if min(kh, kw, sh, sw) < 1:
        raise ValueError("kernel and stride must be >= 1")
    top, bottom, left, right = sides = _padding_sides(padding)
    ho, wo = output_sides(x.shape[1], x.shape[2], (kh, kw), (sh, sw), sides)
    if ho < 1 or wo < 1:
        raise ValueError(f"kernel {kh}x{kw} does not fit the padded {x.shape[1:3]} input")
    return x, (kh, kw), (sh, sw), (top, bottom, left, right), (ho, wo)


def _window_taps(padded, kernel, stride, out):
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out
    for i in range(kh):
        for j in range(kw):
            yield padded[:, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw]


def float_im2col(x, kernel, stride=(1, 1), padding=(0, 0), pad_value: float = 0.0) -> np.ndarray:
    """``(N * Ho * Wo, KH * KW * C)`` rows of the windows of a float32 NHWC map, each in
    ``(kh, kw, c)`` order, padded pixels holding ``pad_value``; padding as in
    :func:`depthwise_conv2d`. A float convolution is these rows times ``(KH * KW * C, Cout)``
    weights."""
    x, kernel, stride, (top, bottom, left, right), out = _window_geometry(
        x, kernel, stride, padding
    )
    padded = np.pad(
        x, [(0, 0), (top, bottom), (left, right), (0, 0)], constant_values=np.float32(pad_value)
    )
    taps = np.stack(list(_window_taps(padded, kernel, stride, out)), axis=3)  # (N,Ho,Wo,T,C)
    return taps.reshape(len(x) * out[0] * out[1], -1)


def maxpool2d(x, kernel, stride=(1, 1), padding=(0, 0)) -> np.ndarray:
    """Max-pool of a float32 NHWC map; padded pixels hold -inf (they never win), NaN
    propagates; padding as in :func:`depthwise_conv2d`."""
    x, kernel, stride, (top, bottom, left, right), out = _window_geometry(
        x, kernel, stride, padding
    )
    padded = np.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)], constant_values=-np.inf)
    taps = _window_taps(padded, kernel, stride, out)
    result = np.array(next(taps))
    for tap in taps:
        np.maximum(result, tap, out=result)
    return result


def sgemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The float32 matrix product ``a @ b``: ``(M, K)`` times ``(K, N)`` -> a new ``(M, N)`` array.

    The native kernel sums each output in float32 in increasing k (with fused multiply-adds on its
    SIMD paths); NumPy's BLAS here sums in another order, so the two agree within float32
    summation error, not bit for bit.

    Raises:
        TypeError: ``a`` or ``b`` is not float32.
        ValueError: either is not 2-D or not C-contiguous, or their K differ.
    """
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            dtype = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
            raise TypeError(f"{name} must be float32, got {dtype}")
        if x.ndim != 2:
            raise ValueError(f"{name} must have 2 axes, got shape {x.shape}")
        if not x.flags.c_contiguous:
            raise ValueError(
                f"{name} must be C-contiguous (got strides of a view); pass "
                f"np.ascontiguousarray({name})"
            )
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"a (M, K) and b (K, N) must agree on K, got a {a.shape} and b {b.shape}")
    return np.matmul(a, b)


def embedding(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Row ``ids[n, i]`` of ``table`` for every id: ``(N, L)`` ids -> ``(N, L, *table.shape[1:])``.

    The table is float32 ``(V, D)`` or packed ``(V, words_for(D))`` words (a binary embedding's
    signs, :func:`bitpack`'s layout); the ids are float32 integers in ``[0, V)``, as a program
    receives them.

    Raises:
        ValueError: an id that is not an integer in ``[0, V)`` (NaN and inf included).
    """
    ids = np.asarray(ids)
    rows = len(table)
    with np.errstate(invalid="ignore"):
        bad = ~((ids >= 0) & (ids < rows) & (ids == np.floor(ids)))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"id {float(ids[where]):.9g} at {where} is not an integer in [0, {rows})")
    return table[ids.astype(np.int64)]
