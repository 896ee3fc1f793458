"""Ops that move values between layouts and forms: NCHW <-> NHWC, flatten, sign-packing,
constant padding, nearest upsampling, channel shuffling and channel concatenation (float and
packed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from onebit._registry import OnebitError
from onebit.runtime import kernels
from onebit.runtime.bit_format import WORD_BITS, WORD_DTYPE, words_for
from onebit.runtime.ops.base import (
    Op,
    ProgramError,
    init_post,
    pad_nhwc,
    post_output,
)
from onebit.runtime.shapes import MAX_SIZE, Value, bits_value, checked, float_value, product


def _float_map(op: Op, x: np.ndarray) -> np.ndarray:
    if x.ndim != 4:
        raise OnebitError(f"op {op.where} expects a 4-D map, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


class NchwToNhwc(Op):
    """A float map from torch's (N, C, H, W) to the engine's (N, H, W, C)."""

    type = "nchw_to_nhwc"

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float", 3)
        channels, height, width = x.shape
        return float_value((height, width, channels), x.bound, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return kernels.nchw_to_nhwc(_float_map(self, x))


class NhwcToNchw(Op):
    """Back to torch's layout, for a model whose output is a feature map (or its flatten)."""

    type = "nhwc_to_nchw"

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float", 3)
        height, width, channels = x.shape
        return float_value((channels, height, width), x.bound, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return kernels.nhwc_to_nchw(_float_map(self, x))


class Flatten(Op):
    """(N, ...) -> (N, features); on packed bits each pixel keeps its own words, and planes
    ``(N, P, ...)`` flatten to ``(N, P, features)``."""

    type = "flatten"
    keeps_planes = False  # set by infer

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        size = product(x.shape, "the flattened size", self.where)
        if x.kind == "bits":  # every pixel keeps its words, so its padding bits too
            rows = size // x.shape[-1]
            channels = checked(rows * x.channels, "the flattened bits", self.where)
            return bits_value((size,), channels, self.where, x.row_bits)
        self.keeps_planes = x.kind == "planes"
        if self.keeps_planes:  # each plane flattens as a packed value does
            planes, rest = x.shape[0], size // x.shape[0]
            rows = rest // x.shape[-1]
            channels = checked(rows * x.channels, "the flattened bits", self.where)
            return Value("planes", (planes, rest), channels, 0.0, x.row_bits)
        return Value(x.kind, (size,), size, x.bound)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.keeps_planes:
            return x.reshape(*x.shape[:2], -1)
        return x.reshape(len(x), -1)


class SignPack(Op):
    """Binarize and pack along the channel axis: +1 where x >= 0 (bit 0), -1 elsewhere.

    Attrs: ``epilogue`` "none" (the default) or "affine": the sign of ``x * scale + bias``
    (tensors ``scale`` and ``bias``, one float32 per channel, the product rounded first), as a
    batch norm before a sign runs when its input is also read elsewhere (a hierarchical block's
    concatenation), so that it cannot fold into the layer that made that input.
    """

    type = "sign_pack"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.epilogue = self.attrs.get("epilogue", "none")
        if self.epilogue not in ("none", "affine"):
            raise ProgramError(f"op {self.where}: epilogue must be 'none' or 'affine'")
        if self.epilogue == "affine":
            self.scale = self.tensor("scale", np.float32, (None,))
            self.bias = self.tensor("bias", np.float32, (None,))

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float")
        channels = x.shape[-1]
        if self.epilogue == "affine" and not len(self.scale) == len(self.bias) == channels:
            raise ProgramError(
                f"op {self.where}: {len(self.scale)} scales and {len(self.bias)} biases for "
                f"{channels} channels"
            )
        return bits_value((*x.shape[:-1], words_for(channels)), channels, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.epilogue == "affine":
            with np.errstate(over="ignore"):  # +-inf keeps its sign; a finite bias adds no NaN
                x = x * self.scale + self.bias
        return kernels.bitpack(x)


class Pad(Op):
    """Constant padding of a float NHWC map's height and width (torch's ``ZeroPad2d``, ``F.pad``).

    Attrs: ``padding`` ``[top, bottom, left, right]`` and ``value``. The converter folds a pad into
    the float convolution that reads it; one that is left pads e.g. the input of a ``sign_pack``.
    """

    type = "pad"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.padding = self.padding_attr()
        self.value = self.float_attr("value")

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float", 3)
        height, width, channels = x.shape
        top, bottom, left, right = self.padding
        shape = (
            checked(height + top + bottom, "the padded height", self.where),
            checked(width + left + right, "the padded width", self.where),
            channels,
        )
        return float_value(shape, max(x.bound, abs(self.value)), self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.dtype != np.float32:
            raise OnebitError(
                f"op {self.where} expects a float32 NHWC map, got {x.dtype} {x.shape}"
            )
        return pad_nhwc(x, self.padding, self.value)


class UpsampleNearest(Op):
    """Nearest-neighbour upsampling by integer factors of a float NHWC map or a packed one:
    output pixel ``(y, x)`` is input pixel ``(y // sh, x // sw)`` (torch's ``nearest`` mode at an
    integer ``scale_factor``, as the hourglass upsamples). Packed bits copy whole words, so they
    stay exact. Attrs: ``scale`` ``[sh, sw]``, each at least 1."""

    type = "upsample_nearest"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.scale = self.pair_attr("scale", 1)

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "bits" if x.kind == "bits" else "float", 3)
        height, width, last = x.shape
        shape = (
            checked(height * self.scale[0], "the upsampled height", self.where),
            checked(width * self.scale[1], "the upsampled width", self.where),
            last,
        )
        if x.kind == "bits":
            return bits_value(shape, x.channels, self.where, x.row_bits)
        return float_value(shape, x.bound, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4:
            raise OnebitError(f"op {self.where} expects a 4-D map, got shape {x.shape}")
        return np.repeat(np.repeat(x, self.scale[0], axis=1), self.scale[1], axis=2)


class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle of a float NHWC map, or of a (C,) vector: output channel ``c``
    is input channel ``(c % groups) * (C // groups) + c // groups``, torch's ``view(N, g, C / g,
    H, W).transpose(1, 2)`` of an NCHW map (``onebit.nn.ChannelShuffle``). A copy, so exact.

    Attrs: ``groups``, an integer >= 1 that divides the channel count.
    """

    type = "channel_shuffle"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.groups = self.int_attr("groups", 1)

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "float")
        if len(x.shape) not in (1, 3):
            raise ProgramError(
                f"op {self.where}: its input must be a float map (H, W, C) or vector (C,) per "
                f"sample, got {x.describe()}"
            )
        channels = x.shape[-1]
        if channels % self.groups:
            raise ProgramError(
                f"op {self.where}: groups={self.groups} must divide the {channels} channels"
            )
        return float_value(x.shape, x.bound, self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.dtype != np.float32 or x.ndim not in (2, 4) or x.shape[-1] % self.groups:
            raise OnebitError(
                f"op {self.where} expects float32 maps (N, H, W, C) or vectors (N, C) with "
                f"channels divisible by {self.groups}, got {x.dtype} {x.shape}"
            )
        grid = x.reshape(*x.shape[:-1], self.groups, x.shape[-1] // self.groups)
        return np.ascontiguousarray(grid.swapaxes(-1, -2)).reshape(x.shape)


class Concat(Op):
    """Float maps (N, H, W, C_i), or vectors (N, C_i), joined along the last axis: torch's
    ``cat(dim=1)`` of NCHW maps, then an optional ``post`` tail (:class:`PostSteps`: a residual
    add, a ReLU, a batch norm...) run on each tile of the joined map while it is in cache, as a
    layer's is.

    Attrs: ``channels``, the channel count of each joined input, in order (at least one), and
    ``post``. The inputs are the joined maps, then one residual (a map of the output's shape) per
    ``add`` step of ``post``; without ``post`` every input is joined.
    """

    type = "concat"
    arity = None
    dtype: ClassVar[Any] = np.float32

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        channels = self.attrs.get("channels")
        inputs, tail = len(spec["inputs"]), "post" in self.attrs
        if (
            not isinstance(channels, Sequence)
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels)
            or not (1 <= len(channels) <= inputs if tail else len(channels) == inputs)
        ):
            raise ProgramError(
                f"op {self.where}: channels must be one integer >= 1 per joined input "
                f"({inputs} inputs: the joined, then one per add step)"
                if tail
                else f"op {self.where}: channels must be one integer >= 1 per input "
                f"({inputs} inputs)"
            )
        self.channels = [int(c) for c in channels]
        joined = sum(self.channels)
        if tail and joined > MAX_SIZE:
            raise ProgramError(f"op {self.where}: a post tail needs at most 2^31-1 joined channels")
        self.post = init_post(self, joined, self.dtype == np.float32, len(self.channels))

    def infer(self, inputs: list[Value]) -> Value:
        kind = "bits" if self.dtype == WORD_DTYPE else "float"
        joined, residuals = inputs[: len(self.channels)], inputs[len(self.channels) :]
        first = joined[0]
        for i, (x, channels) in enumerate(zip(joined, self.channels, strict=True)):
            self.expect(x, kind, name=f"input #{i}")
            if (
                len(x.shape) not in (1, 3)
                or x.shape[:-1] != first.shape[:-1]
                or x.shape[-1] != self._width(channels)
                or x.channels != channels
            ):
                raise ProgramError(
                    f"op {self.where}: cannot join {[v.describe() for v in joined]} as "
                    f"{self.channels} channels of equal height and width"
                )
        total = checked(sum(self.channels), "the joined channels", self.where)
        shape = (*first.shape[:-1], self._width(total))
        if kind == "bits":
            if not self.aligned:  # unpacked to float, joined, packed again
                self.scratch = 8 * product((*shape[:-1], total), "the unpacked map", self.where)
            return bits_value(shape, total, self.where)
        return post_output(self, residuals, shape, max(x.bound for x in joined), self.post)

    def _width(self, channels: int) -> int:
        return channels

    def _check(self, inputs: Sequence[np.ndarray]) -> None:
        first = inputs[0]
        for x, channels in zip(inputs, self.channels, strict=True):
            if (
                x.dtype != np.dtype(self.dtype)
                or x.ndim not in (2, 4)
                or x.shape[:-1] != first.shape[:-1]
                or x.shape[-1] != self._width(channels)
            ):
                raise OnebitError(
                    f"op {self.where} cannot join {[(a.dtype.name, a.shape) for a in inputs]}: "
                    f"it expects {np.dtype(self.dtype)} maps of equal (N, H, W) with "
                    f"{self.channels} channels"
                )

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        joined, residuals = inputs[: len(self.channels)], inputs[len(self.channels) :]
        self._check(joined)
        return self.post(np.concatenate(joined, axis=-1), residuals)


class BinaryConcat(Concat):
    """Packed maps joined along the channel axis, exactly.

    Where every input but the last fills whole words (a multiple of ``WORD_BITS`` channels), the
    words are joined as they are. Otherwise the channels of a later input start inside a word, so
    the op unpacks every input to ±1, joins them and packs again: the same bits, at float speed.
    (The alternative, a float concat, would need the consumer to sign the map again.)
    """

    type = "binary_concat"
    dtype = WORD_DTYPE

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.aligned = all(c % WORD_BITS == 0 for c in self.channels[:-1])

    def _width(self, channels: int) -> int:
        return words_for(channels)

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        self._check(inputs)
        if self.aligned:
            return np.concatenate(inputs, axis=-1)
        signs = [kernels.unpack(x, c) for x, c in zip(inputs, self.channels, strict=True)]
        return kernels.bitpack(np.concatenate(signs, axis=-1))
