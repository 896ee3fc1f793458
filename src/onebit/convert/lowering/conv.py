"""Convolutions: ``nn.Conv2d`` and ``QuantConv2d`` -> ``conv2d``, ``binary_conv2d`` or
``kbit_conv2d``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
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
from onebit.nn import QuantConv2d
from onebit.runtime.reference import bitpack
from onebit.runtime.window import padding_attr

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(nn.Conv2d, QuantConv2d)
def conv2d(lowering: Lowering, call: Call, layer: nn.Conv2d, x: Value) -> Value:
    """``binary_conv2d`` on packed inputs (any groups and dilation, symmetric padding),
    ``kbit_conv2d`` on bit planes (groups 1, dilation 1, zero padding), else a float ``conv2d``
    (any groups, dilation 1, any zero padding)."""
    where = call.where
    dilated = tuple(layer.dilation) != (1, 1)
    left, right, top, bottom = layer._reversed_padding_repeated_twice
    if layer.padding_mode != "zeros" and any((left, right, top, bottom)):
        raise ConversionError(f"{where}: padding_mode {layer.padding_mode!r} unsupported")
    padding = padding_attr(top, bottom, left, right)
    pad_value = float(getattr(layer, "pad_value", 0.0))
    x = input_of(lowering, layer, lowering.as_map(x, where), where)
    if len(x.shape) != 3:
        raise ConversionError(f"{where}: a convolution needs an image input")
    mode, weight, scale = weight_of(layer, where)
    weight = weight.permute(0, 2, 3, 1)  # (Cout, KH, KW, Cin / groups)
    cout, h, w = call.out_shape
    bias = np.zeros(cout) if layer.bias is None else layer.bias.detach().double().numpy()
    out = lowering.new_value("float", (h, w, cout), call.out_shape)
    chain = [accumulator_chain(layer)]
    common = {"stride": list(layer.stride), "padding": padding, "pad_value": pad_value}
    if dilated and x.kind != "bits":
        raise ConversionError(
            f"{where}: dilation={tuple(layer.dilation)} is only supported on binarized inputs "
            f"(binary_conv2d), not on {'multi-bit' if x.kind == 'planes' else 'float'} ones"
        )
    if x.kind == "bits":
        if len(padding) != 2:
            raise ConversionError(
                f"{where}: asymmetric padding {padding} is only supported on float inputs"
            )
        if mode != "binary":
            raise ConversionError(f"{where}: binary inputs need binary weights")
        attrs = {"cin": layer.in_channels, **common}
        if dilated:  # written only when not 1, so that older programs stay byte for byte
            attrs["dilation"] = list(layer.dilation)
        if layer.groups != 1:
            attrs["groups"] = layer.groups
        lowering.emit(
            "binary_conv2d",
            [x],
            out,
            attrs=attrs,
            arrays={"weight": bitpack(weight.numpy())},  # (Cout, KH, KW, words of cin / groups)
            accumulator="int",
            scale=scale,
            bias=bias,
            chain=chain,
            k=layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1],
        )
    elif x.kind == "planes":
        if layer.groups != 1:
            raise ConversionError(f"{where}: groups={layer.groups} on a multi-bit input")
        if pad_value != 0.0 and any(padding):
            raise ConversionError(f"{where}: pad_value={pad_value} on a multi-bit input")
        codes, w_encoding, w_scale = kbit_weight_of(layer, where)
        quantization = x.quantization
        k = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
        attrs = kbit.layer_attrs(quantization.encoding, w_encoding, k, where)
        codes = np.ascontiguousarray(codes.transpose(0, 2, 3, 1))  # (Cout, KH, KW, Cin)
        lowering.emit(
            "kbit_conv2d",
            [x],
            out,
            attrs={
                **attrs,
                "cin": layer.in_channels,
                "stride": list(layer.stride),
                "padding": padding,
                "pad_code": quantization.zero_point,  # the code of the value 0
            },
            arrays={"weight": kbit.weight_planes(codes, w_encoding)},
            accumulator="int",
            scale=quantization.scale * w_scale,
            bias=bias,
            chain=[kbit_chain(quantization.scale, w_scale, layer)],
            k=kbit.accumulator_limit(quantization.encoding, w_encoding, k),
        )
    else:
        attrs = {
            "cin": layer.in_channels,
            "cout": cout,
            "kernel": list(layer.kernel_size),
            "groups": layer.groups,
            **common,
        }
        lowering.emit(
            "conv2d",
            [x],
            out,
            attrs=attrs,
            arrays=float_op_weights(mode, weight, cout),
            accumulator="float",
            scale=scale,
            bias=bias,
            chain=chain,
        )
    return out
