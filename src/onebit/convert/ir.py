"""The converter's intermediate form: values between ops, and ops being built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from onebit._registry import OnebitError


class ConversionError(OnebitError):
    """A model (or a layer of it) that the packed engine cannot run."""


LAYOUTS = {
    "map": "torch (C, H, W) is the engine's (H, W, C)",
    "vector": "torch (F,) is (F,); a global pool's (C, 1, 1) too, kept as its (C,) vector",
    "sequence": "torch (C, L) is the engine's map (1, L, C): height 1, width L",
    "rows": "torch (L, C) (an embedding's output, a token's channels last) is the map (1, L, C)",
}
"""How a value's torch shape lies in the engine's layout. A sequence and an embedding's rows are
one engine map: ``x.transpose(1, 2)`` turns one into the other without an op."""


def default_layout(shape: tuple[int, ...], torch_shape: tuple[int, ...]) -> str:
    """The layout a value's shapes imply: a vector or a map; a 2-D torch value (a sequence or
    an embedding's rows) must say which it is."""
    if len(shape) == 1:
        return "vector"
    if len(shape) == 3 and len(torch_shape) == 3:
        return "map"
    raise ConversionError(
        f"a value of torch shape {torch_shape} in the engine's {shape} needs its layout"
    )


@dataclass
class Value:
    """A value of the program: float32, packed bits or k-bit planes, with its per-sample shapes
    (a planes value's shape leaves out its plane axis) and how they correspond (``layout``, one
    of :data:`LAYOUTS`; derived for a map or a vector)."""

    name: str
    kind: str  # "float", "bits", "planes" or "tokens" (the program's input of token ids)
    shape: tuple[int, ...]  # runtime layout: (H, W, C) or (F,)
    torch_shape: tuple[int, ...]  # the model's layout: (C, H, W), (C, L), (L, C) or (F,)
    flat_from: tuple[int, ...] | None = None  # (C, H, W) of the map this vector flattens
    quantization: Any = None  # planes: their lowering.kbit.ActivationQuantization
    layout: str = ""

    def __post_init__(self) -> None:
        if not self.layout:
            self.layout = default_layout(self.shape, self.torch_shape)
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}")

    @property
    def channels(self) -> int:
        return self.shape[-1]

    @property
    def as_chw(self) -> tuple[int, ...]:
        """The torch shape as the (C, H, W) map whose flatten has torch's order: a sequence
        (C, L) is (C, 1, L)."""
        if self.layout == "sequence":
            c, length = self.torch_shape
            return (c, 1, length)
        if self.layout != "map":
            raise ConversionError(f"a {self.layout} value {self.torch_shape} is not a map")
        return self.torch_shape


@dataclass
class Node:
    """One op being built; ``scale``/``bias``/``chain`` describe its foldable epilogue."""

    type: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    accumulator: str | None = None  # "int" (binary layer), "float" (float layer) or None
    scale: np.ndarray | None = None  # float64 per channel, applied after the accumulator
    bias: np.ndarray | None = None
    chain: list[Callable[[torch.Tensor], torch.Tensor]] = field(default_factory=list)
    k: int = 0
    where: str = ""  # the layer it comes from, for messages
