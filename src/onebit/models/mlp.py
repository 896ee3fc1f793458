"""The multilayer perceptrons of the BNN paper, binary and full precision.

Layout (Courbariaux et al., "Binarized Neural Networks", 2016, sec. 2.2 and the MNIST MLP of
sec. 2.5): ``Flatten -> [Linear -> BatchNorm -> sign] x depth -> Linear -> BatchNorm``. The first
layer's input stays full precision (the pixels), its weights are binary; every later layer is
binary in both operands, the sign being the next layer's input quantizer. The paper's MNIST MLP
has 3 hidden layers of 4096 units; here depth and width are arguments.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from torch import nn

from onebit._registry import OnebitError
from onebit.models._factory import zoo_entry
from onebit.nn import QuantLinear, ShiftBatchNorm1d

NORMS = {"batch": nn.BatchNorm1d, "shift": ShiftBatchNorm1d}


class MLP(nn.Sequential):
    """A sequential MLP that knows its input shape and class count (for summary and conversion)."""

    def __init__(self, layers: Sequence[nn.Module], input_shape: tuple[int, ...], num_classes: int):
        super().__init__(*layers)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes


def _check(input_shape: Sequence[int], num_classes: int, hidden: int, depth: int, dropout: float):
    if not input_shape or any(int(d) < 1 for d in input_shape):
        raise OnebitError(f"input_shape must be positive sizes, got {tuple(input_shape)}")
    if num_classes < 2:
        raise OnebitError(f"num_classes must be at least 2, got {num_classes}")
    if hidden < 1 or depth < 1:
        raise OnebitError(f"hidden and depth must be at least 1, got hidden={hidden} depth={depth}")
    if not 0.0 <= dropout < 1.0:
        raise OnebitError(f"dropout must be in [0, 1), got {dropout}")


@zoo_entry("binarynet-mlp", binary=True, momentum=0.1)
@zoo_entry("float-mlp", binary=False, momentum=0.1, input_quantizer=None, weight_quantizer=None)
def build_mlp(
    input_shape: Sequence[int],
    num_classes: int,
    hidden: int = 1024,
    depth: int = 3,
    binary: bool = True,
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
    dropout: float = 0.0,
    momentum: float = 0.1,
    norm: str = "batch",
) -> MLP:
    """Build a binary MLP (``binary=True``) or its full-precision twin (ReLU in place of sign).

    Args:
        input_shape: shape of one input, e.g. (1, 28, 28).
        num_classes: output units.
        hidden: units per hidden layer.
        depth: number of hidden layers.
        binary: binarize weights and hidden activations.
        input_quantizer: activation quantizer of the hidden layers' inputs (binary only).
        weight_quantizer: weight quantizer of every layer (binary only).
        dropout: dropout after each hidden BatchNorm (and on the binary net before the sign).
        momentum: BatchNorm momentum.
        norm: "batch" (``nn.BatchNorm1d``) or "shift" (``ShiftBatchNorm1d``, the BNN paper's
            shift-based batch normalization, Alg. 3).
    """
    _check(input_shape, num_classes, hidden, depth, dropout)
    if norm not in NORMS:
        raise OnebitError(f"norm must be one of {sorted(NORMS)}, got {norm!r}")
    widths = [math.prod(input_shape), *([hidden] * depth), num_classes]
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        if binary:
            layers.append(
                QuantLinear(
                    fan_in,
                    fan_out,
                    bias=False,
                    input_quantizer=None if i == 0 else input_quantizer,
                    weight_quantizer=weight_quantizer,
                )
            )
        else:
            layers.append(nn.Linear(fan_in, fan_out, bias=False))
        layers.append(NORMS[norm](fan_out, momentum=momentum))
        if i < depth:
            if not binary:
                layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return MLP(layers, tuple(input_shape), num_classes)
