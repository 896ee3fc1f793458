"""The operations of a packed program, each built from its JSON spec and its tensors.

Feature maps are NHWC (channels last, the packed axis). A value is either float32 or packed bits
(uint64 words along the channel axis; see ``reference.py`` for the bit convention). Every op
validates its spec when the program loads, so a malformed file fails at load, not mid-inference.

Epilogues turn an int32 accumulator into the next op's input, as Larq Compute Engine's output
transforms do: ``float`` (``acc * scale + bias``) or ``bits`` (per-channel integer thresholds; the
converter derives them from batch norm + sign). Float-input ops take ``affine`` or ``sign``
(affine, then bit-packed) epilogues.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from onebit._registry import OnebitError, Registry
from onebit.runtime import kernels
from onebit.runtime.reference import WORD_DTYPE, words_for


class ProgramError(OnebitError):
    """A program graph that is malformed or inconsistent with its tensors."""


OPS: Registry[Op] = Registry("op")


class Op:
    """One step of a program: ``output = op(*inputs)``."""

    type: ClassVar[str]
    arity: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            OPS.register(cls.type)(cls)

    def __init__(self, spec: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        self.spec = spec
        self.attrs: Mapping[str, Any] = spec.get("attrs", {})
        self._tensors = tensors
        self._roles: Mapping[str, str] = spec.get("tensors", {})
        if not isinstance(self.attrs, Mapping) or not isinstance(self._roles, Mapping):
            raise ProgramError(f"op {self.where}: 'attrs' and 'tensors' must be objects")
        if len(spec["inputs"]) != self.arity:
            raise ProgramError(f"op {self.where} takes {self.arity} input(s)")

    @property
    def where(self) -> str:
        return f"{self.spec.get('output', '?')!r} ({self.type})"

    # -- spec readers ------------------------------------------------------------------------
    def int_attr(self, name: str, minimum: int = 0) -> int:
        value = self.attrs.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ProgramError(f"op {self.where}: {name} must be an integer >= {minimum}")
        return value

    def pair_attr(self, name: str, minimum: int = 0) -> tuple[int, int]:
        value = self.attrs.get(name)
        if (
            not isinstance(value, Sequence)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or min(value) < minimum
        ):
            raise ProgramError(f"op {self.where}: {name} must be two integers >= {minimum}")
        return int(value[0]), int(value[1])

    def float_attr(self, name: str, allowed: Sequence[float] | None = None) -> float:
        value = self.attrs.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ProgramError(f"op {self.where}: {name} must be a number")
        if allowed is not None and value not in allowed:
            raise ProgramError(f"op {self.where}: {name} must be one of {list(allowed)}")
        return float(value)

    def tensor(self, role: str, dtype: Any, shape: Sequence[int | None] | None = None):
        name = self._roles.get(role)
        if name is None or name not in self._tensors:
            raise ProgramError(f"op {self.where}: tensor {role!r} is missing")
        array = self._tensors[name]
        if array.dtype != np.dtype(dtype):
            raise ProgramError(f"op {self.where}: tensor {role!r} must be {np.dtype(dtype)}")
        if shape is not None and (
            array.ndim != len(shape)
            or any(want not in (None, got) for got, want in zip(array.shape, shape, strict=True))
        ):
            raise ProgramError(
                f"op {self.where}: tensor {role!r} has shape {array.shape}, expected "
                f"{tuple('?' if s is None else s for s in shape)}"
            )
        return array

    def channel_vector(self, role: str, channels: int, dtype: Any = np.float32) -> np.ndarray:
        return self.tensor(role, dtype, (channels,))

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


# -- epilogues -------------------------------------------------------------------------------


class IntEpilogue:
    """int32 accumulator -> float (``acc * scale + bias``) or packed bits (thresholds)."""

    def __init__(self, op: Op, channels: int) -> None:
        self.kind = op.attrs.get("epilogue")
        if self.kind == "float":
            self.scale = op.channel_vector("scale", channels)
            self.bias = op.channel_vector("bias", channels)
        elif self.kind == "bits":
            self.threshold = op.channel_vector("threshold", channels, np.int32)
            self.flip = op.channel_vector("flip", channels, np.uint8)
            if self.flip.max(initial=0) > 1:
                raise ProgramError(f"op {op.where}: flip must hold 0 or 1")
        elif self.kind != "int":
            raise ProgramError(f"op {op.where}: epilogue must be 'float', 'bits' or 'int'")

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        if self.kind == "float":
            return kernels.output_float(acc, self.scale, self.bias)
        if self.kind == "bits":
            return kernels.output_bits(acc, self.threshold, self.flip)
        return acc


class FloatEpilogue:
    """float accumulator -> itself, ``x * scale + bias``, or the packed signs of that."""

    def __init__(self, op: Op, channels: int) -> None:
        self.kind = op.attrs.get("epilogue", "none")
        if self.kind in ("affine", "sign"):
            self.scale = op.channel_vector("scale", channels)
            self.bias = op.channel_vector("bias", channels)
        elif self.kind != "none":
            raise ProgramError(f"op {op.where}: epilogue must be 'none', 'affine' or 'sign'")

    def __call__(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return y
        y = y * self.scale + self.bias
        return kernels.bitpack(y) if self.kind == "sign" else y


def _weights_float(op: Op, shape: tuple[int, ...]) -> np.ndarray:
    """A float op's weights: float32 as stored, or ±1 unpacked from ``weight_bits``."""
    if "weight_bits" in op._roles:
        *outer, channels = shape
        words = op.tensor("weight_bits", WORD_DTYPE, (*outer, words_for(channels)))
        return kernels.unpack(words, channels)
    return op.tensor("weight", np.float32, shape)


def _pad_nhwc(x: np.ndarray, padding: tuple[int, int], value: float) -> np.ndarray:
    ph, pw = padding
    if ph == pw == 0:
        return x
    return np.pad(x, [(0, 0), (ph, ph), (pw, pw), (0, 0)], constant_values=value)


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """(N, Ho, Wo, C, KH, KW) strided view of the windows of an NHWC map."""
    view = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(1, 2))
    return view[:, :: stride[0], :: stride[1]]


def _check_map(op: Op, x: np.ndarray, channels: int, dtype: Any) -> None:
    if x.ndim != 4 or x.shape[-1] != channels or x.dtype != np.dtype(dtype):
        raise OnebitError(
            f"op {op.where} expects a ({'N, H, W'}, {channels}) {np.dtype(dtype)} map, "
            f"got {x.dtype} {x.shape}"
        )


# -- layout ----------------------------------------------------------------------------------


class NchwToNhwc(Op):
    type = "nchw_to_nhwc"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


class Flatten(Op):
    """(N, ...) -> (N, features); on packed bits each pixel keeps its own words."""

    type = "flatten"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)


class SignPack(Op):
    """Binarize and pack along the channel axis: +1 where x >= 0 (bit 0), -1 elsewhere."""

    type = "sign_pack"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return kernels.bitpack(np.ascontiguousarray(x, dtype=np.float32))


# -- binary layers ---------------------------------------------------------------------------


class BinaryDense(Op):
    """Packed (N, words) x packed weights (Cout, words) -> bgemm -> epilogue."""

    type = "binary_dense"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.k = self.int_attr("k", 1)
        self.weight = self.tensor("weight", WORD_DTYPE, (None, None))
        if self.weight.shape[1] * 64 < self.k:
            raise ProgramError(f"op {self.where}: k={self.k} exceeds the weight's words")
        self.epilogue = IntEpilogue(self, self.weight.shape[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.epilogue(kernels.bgemm(np.ascontiguousarray(x), self.weight, self.k))


class BinaryConv2d(Op):
    """Packed NHWC map x packed weights (Cout, KH, KW, words) -> bconv2d -> epilogue."""

    type = "binary_conv2d"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.cin = self.int_attr("cin", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.pair_attr("padding", 0)
        self.pad_value = self.float_attr("pad_value", (0.0, 1.0))
        self.weight = self.tensor("weight", WORD_DTYPE, (None, None, None, words_for(self.cin)))
        self.epilogue = IntEpilogue(self, self.weight.shape[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        _check_map(self, x, words_for(self.cin), WORD_DTYPE)
        x = np.ascontiguousarray(x)
        geometry = (self.stride, self.padding, self.pad_value)
        epilogue = self.epilogue
        if epilogue.kind == "bits":  # fused: no int32 map is materialized
            return kernels.bconv2d_bits(
                x, self.weight, self.cin, epilogue.threshold, epilogue.flip, *geometry
            )
        if epilogue.kind == "float":
            return kernels.bconv2d_float(
                x, self.weight, self.cin, epilogue.scale, epilogue.bias, *geometry
            )
        return kernels.bconv2d(x, self.weight, self.cin, *geometry)


# -- float layers ----------------------------------------------------------------------------


class Dense(Op):
    """Float (N, F) @ weights.T, weights float32 or ±1 from packed bits; then an epilogue."""

    type = "dense"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        features = self.int_attr("in_features", 1)
        outputs = self.int_attr("out_features", 1)
        self.weight_t = np.ascontiguousarray(_weights_float(self, (outputs, features)).T)
        self.epilogue = FloatEpilogue(self, outputs)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.epilogue(np.asarray(x, dtype=np.float32) @ self.weight_t)


class Conv2d(Op):
    """Float NHWC convolution (im2col + matmul), groups 1; padded with ``pad_value``."""

    type = "conv2d"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.cin = self.int_attr("cin", 1)
        self.cout = self.int_attr("cout", 1)
        self.kernel = self.pair_attr("kernel", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.pair_attr("padding", 0)
        self.pad_value = self.float_attr("pad_value")
        weight = _weights_float(self, (self.cout, *self.kernel, self.cin))  # (Cout, KH, KW, Cin)
        self.weight_t = np.ascontiguousarray(weight.transpose(3, 1, 2, 0).reshape(-1, self.cout))
        self.epilogue = FloatEpilogue(self, self.cout)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        _check_map(self, x, self.cin, np.float32)
        windows = _windows(_pad_nhwc(x, self.padding, self.pad_value), self.kernel, self.stride)
        n, ho, wo = windows.shape[:3]
        columns = windows.reshape(n * ho * wo, -1)  # (C, KH, KW) order
        y = (columns @ self.weight_t).reshape(n, ho, wo, self.cout)
        return self.epilogue(y)


class Affine(Op):
    """Per-channel ``x * scale + bias`` (a batch norm or a learnable bias left unfolded)."""

    type = "affine"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        channels = self.int_attr("channels", 1)
        self.scale = self.channel_vector("scale", channels)
        self.bias = self.channel_vector("bias", channels)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x * self.scale + self.bias


class Add(Op):
    type = "add"
    arity = 2

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape != b.shape:
            raise OnebitError(f"op {self.where}: cannot add shapes {a.shape} and {b.shape}")
        return a + b


class Relu(Op):
    type = "relu"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, np.float32(0))


class Hardtanh(Op):
    type = "hardtanh"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.low = np.float32(self.float_attr("min"))
        self.high = np.float32(self.float_attr("max"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.low, self.high)


class Prelu(Op):
    """``max(x, 0) + slope_c * min(x, 0)``, per channel (or one slope for all)."""

    type = "prelu"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.slope = self.tensor("slope", np.float32, (None,))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x, x * self.slope)


# -- pooling ---------------------------------------------------------------------------------


class _Pool(Op):
    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.kernel = self.pair_attr("kernel", 1)
        self.stride = self.pair_attr("stride", 1)
        self.padding = self.pair_attr("padding", 0)


class MaxPool2d(_Pool):
    type = "maxpool2d"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        padded = _pad_nhwc(x, self.padding, -np.inf)
        return _windows(padded, self.kernel, self.stride).max(axis=(-2, -1))


class BinaryMaxPool2d(_Pool):
    """Max-pool on packed bits: the max of ±1 values is +1 if any is, an AND of the bits."""

    type = "binary_maxpool2d"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return kernels.bmaxpool2d(np.ascontiguousarray(x), self.kernel, self.stride, self.padding)


class AvgPool2d(_Pool):
    """Average pool; padded zeros count in the mean (torch's ``count_include_pad=True``)."""

    type = "avgpool2d"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        padded = _pad_nhwc(x, self.padding, 0.0)
        return _windows(padded, self.kernel, self.stride).mean(axis=(-2, -1), dtype=np.float32)


class GlobalAvgPool(Op):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    type = "global_avgpool"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=(1, 2), dtype=np.float32)
