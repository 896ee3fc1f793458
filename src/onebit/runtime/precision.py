"""The bit widths a converted program computes with, layer by layer: what ``onebit convert`` and
``onebit summary --program`` report.

A layer's input and weight widths are read from its op: binary layers are 1 x 1, bit-serial
layers have as many bits as their encodings have planes, float layers 32 (their weights 1 when
stored as packed +-1). ``quantize_pack`` and ``sign_pack`` report the width they quantize to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

LAYER_TYPES = ("binary_dense", "binary_conv2d", "kbit_dense", "kbit_conv2d", "dense", "conv2d")


@dataclass(frozen=True)
class OpPrecision:
    """One layer's (or quantizing op's) widths; ``weight_bits`` is None for an op with none."""

    output: str
    type: str
    input_bits: int
    weight_bits: int | None
    output_bits: int


def op_precisions(ops: Iterable[Any]) -> list[OpPrecision]:
    """The layers and quantizing ops of ``ops`` (a program's ``ops``), with their widths."""
    rows = []
    for op in ops:
        attrs = op.attrs
        epilogue = attrs.get("epilogue")
        output_bits = 1 if epilogue in ("bits", "sign") else 32
        if op.type.startswith("binary_") and op.type in LAYER_TYPES:
            rows.append(OpPrecision(op.output, op.type, 1, 1, output_bits))
        elif op.type.startswith("kbit_"):
            planes_in = len(attrs["input_plane_weights"])
            planes_w = len(attrs["weight_plane_weights"])
            rows.append(OpPrecision(op.output, op.type, planes_in, planes_w, output_bits))
        elif op.type in ("dense", "conv2d"):
            weight_bits = 1 if "weight_bits" in op.tensors else 32
            rows.append(OpPrecision(op.output, op.type, 32, weight_bits, output_bits))
        elif op.type == "quantize_pack":
            rows.append(OpPrecision(op.output, op.type, 32, None, attrs["bits"]))
        elif op.type == "sign_pack":
            rows.append(OpPrecision(op.output, op.type, 32, None, 1))
    return rows
