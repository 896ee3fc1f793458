"""Fully connected layers: ``nn.Linear`` and ``QuantLinear`` -> ``dense``, ``binary_dense`` or
``kbit_dense``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering import kbit
from onebit.convert.lowering.quantized import (
    accumulator_chain,
    float_op_weights,
    input_of,
    kbit_chain,
    kbit_weight_of,
    weight_of,
)
from onebit.convert.lowering.registry import lowers
from onebit.nn import QuantLinear
from onebit.runtime.reference import bitpack

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(nn.Linear, QuantLinear)
def linear(lowering: Lowering, call: Call, layer: nn.Linear, x: Value) -> Value:
    where = call.where
    x = input_of(lowering, layer, x, where)
    if len(x.shape) != 1:
        raise ConversionError(f"{where}: a linear layer needs a flattened input")
    bias = (
        np.zeros(layer.out_features) if layer.bias is None else layer.bias.detach().double().numpy()
    )
    if x.kind == "planes":
        return _kbit_linear(lowering, layer, x, bias, where)
    mode, weight, scale = weight_of(layer, where)
    weight = columns_as_runtime(weight, x)
    out = lowering.new_value("float", (layer.out_features,), (layer.out_features,))
    chain = [accumulator_chain(layer)]
    if x.kind == "bits":
        if mode != "binary":
            raise ConversionError(f"{where}: binary inputs need binary weights")
        packed = bitpack(weight.numpy()).reshape(layer.out_features, -1)
        lowering.emit(
            "binary_dense",
            [x],
            out,
            attrs={"k": layer.in_features},
            arrays={"weight": packed},
            accumulator="int",
            scale=scale,
            bias=bias,
            chain=chain,
            k=layer.in_features,
        )
    else:
        lowering.emit(
            "dense",
            [x],
            out,
            attrs={"in_features": layer.in_features, "out_features": layer.out_features},
            arrays=float_op_weights(mode, weight, layer.out_features),
            accumulator="float",
            scale=scale,
            bias=bias,
            chain=chain,
        )
    return out


def _kbit_linear(lowering: Lowering, layer: nn.Linear, x: Value, bias, where: str) -> Value:
    """``kbit_dense`` on bit planes."""
    codes, w_encoding, w_scale = kbit_weight_of(layer, where)
    codes = columns_as_runtime(torch.from_numpy(codes), x).numpy()
    planes = kbit.weight_planes(codes, w_encoding).reshape(layer.out_features, w_encoding.bits, -1)
    quantization = x.quantization
    k = layer.in_features
    out = lowering.new_value("float", (layer.out_features,), (layer.out_features,))
    lowering.emit(
        "kbit_dense",
        [x],
        out,
        attrs={**kbit.layer_attrs(quantization.encoding, w_encoding, k, where), "k": k},
        arrays={"weight": planes},
        accumulator="int",
        scale=quantization.scale * w_scale,
        bias=bias,
        chain=[kbit_chain(quantization.scale, w_scale, layer)],
        k=kbit.accumulator_limit(quantization.encoding, w_encoding, k),
    )
    return out


def columns_as_runtime(weight: torch.Tensor, x: Value) -> torch.Tensor:
    """Reorder a linear weight's columns from torch's (C, H, W) flatten to ours (H, W, C);
    for packed bits, each pixel keeps its own words: (Cout, H, W, C). (Planes quantize the
    flattened vector: packed densely, as a float vector is laid out.)"""
    if x.flat_from is None:
        return weight
    c, h, w = x.flat_from
    grid = weight.reshape(weight.shape[0], c, h, w).permute(0, 2, 3, 1)
    return grid if x.kind == "bits" else grid.reshape(weight.shape[0], -1)
