"""The pieces every op shares: the :class:`Op` base that validates a spec and infers its output
(:mod:`onebit.runtime.shapes`), the op registry, the epilogues that turn an accumulator into the
next op's input, and the fused elementwise tail."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from onebit._registry import OnebitError, Registry
from onebit.runtime import kernels
from onebit.runtime.bit_format import WORD_BITS, WORD_DTYPE, words_for
from onebit.runtime.errors import ProgramError
from onebit.runtime.shapes import MAX_SIZE, Value, abs_max, bits_value, float_value
from onebit.runtime.window import padding_sides

OPS: Registry[Op] = Registry("op")

FLOAT32_MAX = float(np.finfo(np.float32).max)


def is_float32(value: Any) -> bool:
    """A JSON number that float32 holds as a finite value (an integer of any length included:
    it is compared exactly, never converted to a float that could overflow)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (
        abs(value) <= FLOAT32_MAX
        if isinstance(value, int)
        else math.isfinite(value) and abs(value) <= FLOAT32_MAX
    )


class Op:
    """One step of a program: ``output = op(*inputs)``."""

    type: ClassVar[str]
    arity: ClassVar[int | None] = 1  # None: one or more inputs, the op checks how many

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            OPS.register(cls.type)(cls)

    scratch: int = 0
    """Bytes per sample the op allocates besides its output (set by :meth:`infer`)."""
    work: int = 0
    """Multiply-adds, comparisons or word operations per sample (set by :meth:`infer`)."""

    def __init__(self, spec: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        self.spec = spec
        self.attrs: Mapping[str, Any] = spec.get("attrs", {})
        self._tensors = tensors
        self._roles: Mapping[str, str] = spec.get("tensors", {})
        self.roles_read: set[str] = set()
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
        """An integer attribute in ``[minimum, 2^31)``."""
        value = self.attrs.get(name)
        if type(value) is not int or not minimum <= value <= MAX_SIZE:
            raise ProgramError(f"op {self.where}: {name} must be an integer >= {minimum}, < 2^31")
        return value

    def ints_attr(self, name: str, count: int, minimum: int = 0) -> tuple[int, ...]:
        """A list of ``count`` integers in ``[minimum, 2^31)``."""
        value = self.attrs.get(name)
        if (
            not isinstance(value, list | tuple)
            or len(value) != count
            or not all(type(v) is int and minimum <= v <= MAX_SIZE for v in value)
        ):
            number = {2: "two", 4: "four"}.get(count, str(count))
            raise ProgramError(
                f"op {self.where}: {name} must be {number} integers >= {minimum}, < 2^31"
            )
        return tuple(value)

    def pair_attr(self, name: str, minimum: int = 0) -> tuple[int, int]:
        first, second = self.ints_attr(name, 2, minimum)
        return first, second

    def padding_attr(self, name: str = "padding") -> tuple[int, int, int, int]:
        """``[top, bottom, left, right]``, or the symmetric ``[ph, pw]`` of older files."""
        value = self.attrs.get(name)
        four = isinstance(value, list | tuple) and len(value) == 4
        return padding_sides(self.ints_attr(name, 4) if four else self.pair_attr(name, 0))

    def float_attr(self, name: str, allowed: Sequence[float] | None = None) -> float:
        value = self.attrs.get(name)
        if not is_float32(value):
            raise ProgramError(
                f"op {self.where}: {name} must be a finite number within float32 range"
            )
        if allowed is not None and value not in allowed:
            raise ProgramError(f"op {self.where}: {name} must be one of {list(allowed)}")
        return float(value)

    def tensor(self, role: str, dtype: Any, shape: Sequence[int | None] | None = None):
        name = self._roles.get(role)
        if not isinstance(name, str) or name not in self._tensors:
            raise ProgramError(f"op {self.where}: tensor {role!r} is missing")
        self.roles_read.add(role)
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

    # -- shape inference ---------------------------------------------------------------------
    def infer(self, inputs: Sequence[Value]) -> Value:
        """The output of one sample given its inputs', every attribute checked against them."""
        raise NotImplementedError

    def expect(self, value: Value, kind: str, ndim: int | None = None, name: str = "input") -> None:
        """Refuse an input of another kind or rank."""
        if value.kind != kind or (ndim is not None and len(value.shape) != ndim):
            rank = f"{ndim}-axis " if ndim is not None else ""
            raise ProgramError(
                f"op {self.where}: its {name} must be a {rank}{kind} value per sample, "
                f"got {value.describe()}"
            )

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

    def bound(self, acc_bound: float) -> float:
        """The largest magnitude of a float or int output for accumulators within ±acc_bound."""
        if self.kind == "float":
            return acc_bound * abs_max(self.scale) + abs_max(self.bias)
        return acc_bound

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

    def bound(self, y_bound: float) -> float:
        if self.kind == "none":
            return y_bound
        return y_bound * abs_max(self.scale) + abs_max(self.bias)

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
    """The elementwise tail fused into a layer or a float ``concat``: the spec's ``post`` list,
    applied after the layer's epilogue (or the join) by its kernel (``float_chain`` steps; see
    ``csrc/float/float_chain.h``).

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
                if not (is_float32(low) and is_float32(high)):
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

    def bound(self, y_bound: float, residual_bounds: Sequence[float]) -> float:
        """The largest magnitude after the tail for a layer output within ±y_bound."""
        bound = y_bound
        for template in self.templates:
            if template[0] == "affine":
                bound = bound * abs_max(template[1]) + abs_max(template[2])
            elif template[0] == "prelu":
                bound = bound * max(1.0, abs_max(template[1]))
            elif template[0] == "hardtanh":
                bound = hardtanh_bound(bound, template[1], template[2])
            elif template[0] == "add":
                bound = bound + residual_bounds[template[1]]
        return bound

    def steps(self, residuals: Sequence[np.ndarray]) -> list[tuple]:
        """The kernels' ``post`` argument, with this call's residual maps."""
        return [("add", residuals[t[1]]) if t[0] == "add" else t for t in self.templates]

    def __call__(self, y: np.ndarray, residuals: Sequence[np.ndarray]) -> np.ndarray:
        return kernels.float_chain(y, self.steps(residuals)) if self.templates else y


def init_post(op: Op, channels: int, allowed: bool = True, joined: int | None = None) -> PostSteps:
    """Read ``op``'s ``post`` tail and check that it has one extra input per ``add`` step after
    its own: one for a layer, the ``joined`` maps for a concat."""
    post = PostSteps(op, channels)
    if post and not allowed:
        raise ProgramError(f"op {op.where}: a post tail needs a float output")
    own, count = ("its own", 1) if joined is None else (f"the {joined} it joins", joined)
    if len(op.spec["inputs"]) != count + post.adds:
        raise ProgramError(
            f"op {op.where} takes {count + post.adds} input(s): {own} and one per add step"
        )
    return post


def hardtanh_bound(bound: float, low: float, high: float) -> float:
    """The largest magnitude of ``min(max(x, low), high)`` over ``|x| <= bound`` (the limits
    as float32, as the kernels use them)."""
    with np.errstate(over="ignore"):
        low, high = float(np.float32(low)), float(np.float32(high))
    lower = min(max(-bound, low), high)
    upper = min(max(bound, low), high)
    return max(abs(lower), abs(upper))


def layer_output(
    op: Op,
    inputs: Sequence[Value],
    prefix: tuple[int, ...],
    channels: int,
    bound: float,
    epilogue: IntEpilogue | FloatEpilogue,
    post: PostSteps,
) -> Value:
    """A layer's output of shape ``(*prefix, channels)``: its epilogue's kind, and for a float
    output the bound after the epilogue and the post tail (whose residuals are checked)."""
    if epilogue.kind in ("bits", "sign"):
        return bits_value((*prefix, words_for(channels)), channels, op.where)
    bound = epilogue.bound(bound)
    if epilogue.kind == "int":
        return Value("int", (*prefix, channels), channels, bound)
    return post_output(op, inputs[1:], (*prefix, channels), bound, post)


def post_output(
    op: Op, residuals: Sequence[Value], shape: tuple[int, ...], bound: float, post: PostSteps
) -> Value:
    """A float output of ``shape`` within ±bound before ``post``: its residuals (one per add
    step) checked to be float maps of that shape, and the bound after the tail."""
    residual_bounds = []
    for residual in residuals:
        op.expect(residual, "float", name="residual")
        if residual.shape != shape:
            raise ProgramError(
                f"op {op.where}: a residual of shape {residual.shape} cannot be added to its "
                f"output of shape {shape}"
            )
        residual_bounds.append(residual.bound)
    return float_value(shape, post.bound(bound, residual_bounds), op.where)


def check_padding_bits(op: Op, role: str, words: np.ndarray, row_bits: int) -> None:
    """Refuse packed words whose last axis (rows of ``words_for(row_bits)`` words) has a bit set
    beyond each row's ``row_bits`` real bits: the kernels count those bits (bgemm's ``k - 2 *
    popcount``), so a set one would move an accumulator outside ``±k``."""
    per_row, rest = words_for(row_bits), row_bits % WORD_BITS
    if rest == 0 or words.size == 0 or words.shape[-1] % per_row:
        return
    last = words.reshape(*words.shape[:-1], -1, per_row)[..., -1]
    if (last & ~WORD_DTYPE.type((1 << rest) - 1)).any():
        rows = words.shape[-1] // per_row
        per_pixel = " per pixel" if rows > 1 else ""
        raise ProgramError(
            f"op {op.where}: tensor {op._roles[role]!r} ({role}) has bits set beyond its "
            f"{row_bits} channels{per_pixel}"
        )


def weights_float(op: Op, shape: tuple[int, ...]) -> np.ndarray:
    """A float op's weights: float32 as stored, or ±1 unpacked from ``weight_bits``."""
    if "weight_bits" in op._roles:
        *outer, channels = shape
        words = op.tensor("weight_bits", WORD_DTYPE, (*outer, words_for(channels)))
        check_padding_bits(op, "weight_bits", words, channels)
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
