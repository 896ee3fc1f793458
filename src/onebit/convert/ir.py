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


@dataclass
class Value:
    """A value of the program: float32, packed bits or k-bit planes, with its per-sample shapes
    (a planes value's shape leaves out its plane axis)."""

    name: str
    kind: str  # "float", "bits" or "planes"
    shape: tuple[int, ...]  # runtime layout: (H, W, C) or (F,)
    torch_shape: tuple[int, ...]  # the model's layout: (C, H, W) or (F,)
    flat_from: tuple[int, ...] | None = None  # (C, H, W) of the map this vector flattens
    quantization: Any = None  # planes: their lowering.kbit.ActivationQuantization

    @property
    def channels(self) -> int:
        return self.shape[-1]


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
