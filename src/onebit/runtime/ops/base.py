"""The pieces every op shares: the :class:`Op` base that validates a spec, the op registry, the
epilogues that turn an accumulator into the next op's input, and the fused elementwise tail."""

from __future__ import annotations

import math
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
    arity: ClassVar[int | None] = 1  # None: one or more inputs, the op checks how many

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
        if self.arity is not None and len(spec["inputs"]) != self.arity:
            raise ProgramError(f"op {self.where} takes {self.arity} input(s)")
        if not spec["inputs"]:
            raise ProgramError(f"op {self.where} needs at least one input")

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

    def padding_attr(self, name: str = "padding") -> tuple[int, int, int, int]:
        """``[top, bottom, left, right]``, or the symmetric ``[ph, pw]`` of older files."""
        value = self.attrs.get(name)
        if (
            isinstance(value, Sequence)
            and len(value) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        ):
            return int(value[0]), int(value[1]), int(value[2]), int(value[3])
        if isinstance(value, Sequence) and len(value) == 4:
            raise ProgramError(f"op {self.where}: {name} must be four integers >= 0")
        ph, pw = self.pair_attr(name, 0)
        return ph, ph, pw, pw

    def float_attr(self, name: str, allowed: Sequence[float] | None = None) -> float:
        value = self.attrs.get(name)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise ProgramError(f"op {self.where}: {name} must be a finite number")
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

    def __call__(
        self, y: np.ndarray, post: PostSteps | None = None, residuals: Sequence[np.ndarray] = ()
    ) -> np.ndarray:
        """The epilogue, then ``post``'s steps, in one ``float_chain`` pass over ``y``."""
        steps = post.steps(residuals) if post else []
        if self.kind != "none":
            steps = [("affine", self.scale, self.bias), *steps]
        if steps:
            y = kernels.float_chain(np.ascontiguousarray(y, dtype=np.float32), steps)
        return kernels.bitpack(y) if self.kind == "sign" else y


class PostSteps:
    """The elementwise tail fused into a layer: the spec's ``post`` list, applied after its
    epilogue by the layer's kernel (``float_chain`` steps; see ``csrc/float_chain.h``).

    Each entry is an object ``{"step": name}``: ``affine`` (tensors ``post{i}_scale`` and
    ``post{i}_bias``), ``relu``, ``prelu`` (tensor ``post{i}_slope``), ``hardtanh`` (attrs ``min``
    and ``max``) or ``add`` (the next of the op's extra inputs, a map of the output's shape).
    """

    def __init__(self, op: Op, channels: int) -> None:
        entries = op.attrs.get("post", [])
        if not isinstance(entries, Sequence) or isinstance(entries, str):
            raise ProgramError(f"op {op.where}: post must be a list of steps")
        self.templates: list[tuple] = []
        self.adds = 0
        for i, entry in enumerate(entries):
            name = entry.get("step") if isinstance(entry, Mapping) else None
            if name == "affine":
                scale = op.channel_vector(f"post{i}_scale", channels)
                self.templates.append(
                    ("affine", scale, op.channel_vector(f"post{i}_bias", channels))
                )
            elif name == "relu":
                self.templates.append(("relu",))
            elif name == "prelu":
                self.templates.append(("prelu", op.channel_vector(f"post{i}_slope", channels)))
            elif name == "hardtanh":
                low, high = entry.get("min"), entry.get("max")
                if not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    for v in (low, high)
                ):
                    raise ProgramError(f"op {op.where}: post[{i}] hardtanh needs numbers min, max")
                self.templates.append(("hardtanh", float(low), float(high)))
            elif name == "add":
                self.templates.append(("add", self.adds))
                self.adds += 1
            else:
                raise ProgramError(
                    f"op {op.where}: post[{i}] must be a step affine, relu, prelu, hardtanh or add"
                )

    def __bool__(self) -> bool:
        return bool(self.templates)

    def steps(self, residuals: Sequence[np.ndarray]) -> list[tuple]:
        """The kernels' ``post`` argument, with this call's residual maps."""
        return [("add", residuals[t[1]]) if t[0] == "add" else t for t in self.templates]

    def __call__(self, y: np.ndarray, residuals: Sequence[np.ndarray]) -> np.ndarray:
        return kernels.float_chain(y, self.steps(residuals)) if self.templates else y


def init_post(op: Op, channels: int, allowed: bool = True) -> PostSteps:
    """Read ``op``'s ``post`` tail and check that it has one extra input per ``add`` step."""
    post = PostSteps(op, channels)
    if post and not allowed:
        raise ProgramError(f"op {op.where}: a post tail needs a float output")
    if len(op.spec["inputs"]) != 1 + post.adds:
        raise ProgramError(
            f"op {op.where} takes {1 + post.adds} input(s): its own and one per add step"
        )
    return post


def weights_float(op: Op, shape: tuple[int, ...]) -> np.ndarray:
    """A float op's weights: float32 as stored, or ±1 unpacked from ``weight_bits``."""
    if "weight_bits" in op._roles:
        *outer, channels = shape
        words = op.tensor("weight_bits", WORD_DTYPE, (*outer, words_for(channels)))
        return kernels.unpack(words, channels)
    return op.tensor("weight", np.float32, shape)


def pad_nhwc(x: np.ndarray, padding: tuple[int, ...], value: float) -> np.ndarray:
    """Pad height and width: ``(ph, pw)`` on both sides, or ``(top, bottom, left, right)``."""
    if len(padding) == 2:
        padding = (padding[0], padding[0], padding[1], padding[1])
    top, bottom, left, right = padding
    if not (top or bottom or left or right):
        return x
    return np.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)], constant_values=value)


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """(N, Ho, Wo, C, KH, KW) strided view of the windows of an NHWC map."""
    view = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(1, 2))
    return view[:, :: stride[0], :: stride[1]]


def check_map(op: Op, x: np.ndarray, channels: int, dtype: Any) -> None:
    if x.ndim != 4 or x.shape[-1] != channels or x.dtype != np.dtype(dtype):
        raise OnebitError(
            f"op {op.where} expects a ({'N, H, W'}, {channels}) {np.dtype(dtype)} map, "
            f"got {x.dtype} {x.shape}"
        )
