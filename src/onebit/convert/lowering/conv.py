"""Convolutions: ``nn.Conv2d`` and ``QuantConv2d`` -> ``conv2d``, ``binary_conv2d`` or
``kbit_conv2d``; ``nn.Conv1d`` and ``QuantConv1d`` over a sequence -> the same ops of height 1."""

from __future__ import annotations

from dataclasses import dataclass
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
from onebit.nn import QuantConv1d, QuantConv2d
from onebit.runtime.reference import bitpack
from onebit.runtime.window import padding_attr

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution as the engine's 2-D one: a ``Conv1d`` over a sequence (C, L) is a conv of
    height 1 over the map (1, L, C), with kernel (1, k), stride (1, s), dilation (1, d) and
    padding (0, 0, p, p)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, bottom, left, right
    out: tuple[int, int, int]  # (Cout, H, W)
    layout: str  # of the input and the output: "map" or "sequence"

    @classmethod
    def of(cls, layer: nn.Module, out_shape: tuple[int, ...]) -> ConvGeometry:
        left, right, *vertical = layer._reversed_padding_repeated_twice
        top, bottom = vertical or (0, 0)
        if isinstance(layer, nn.Conv1d):
            cout, length = out_shape
            return cls(
                (1, layer.kernel_size[0]),
                (1, layer.stride[0]),
                (1, layer.dilation[0]),
                (0, 0, left, right),
                (cout, 1, length),
                "sequence",
            )
        cout, h, w = out_shape
        return cls(
            tuple(layer.kernel_size),
            tuple(layer.stride),
            tuple(layer.dilation),
            (top, bottom, left, right),
            (cout, h, w),
            "map",
        )

    def weight_4d(self, weight: torch.Tensor) -> torch.Tensor:
        """(Cout, Cin / groups, KH, KW): a Conv1d's (Cout, Cin / groups, k) gets its height."""
        return weight[:, :, None, :] if weight.ndim == 3 else weight


@lowers(nn.Conv2d, QuantConv2d, nn.Conv1d, QuantConv1d)
def conv2d(lowering: Lowering, call: Call, layer: nn.Module, x: Value) -> Value:
    """``binary_conv2d`` on packed inputs (any groups and dilation, symmetric padding),
    ``kbit_conv2d`` on bit planes (groups 1, dilation 1, zero padding), else a float ``conv2d``
    (any groups, dilation 1, any zero padding). A ``Conv1d`` runs as these ops of height 1."""
    where = call.where
    geometry = ConvGeometry.of(layer, call.out_shape)
    dilated = geometry.dilation != (1, 1)
    top, bottom, left, right = geometry.padding
    if layer.padding_mode != "zeros" and any((left, right, top, bottom)):
        raise ConversionError(f"{where}: padding_mode {layer.padding_mode!r} unsupported")
    padding = padding_attr(top, bottom, left, right)
    pad_value = float(getattr(layer, "pad_value", 0.0))
    x = lowering.as_map(x, where)
    if x.layout != geometry.layout:
        needs = "an image" if geometry.layout == "map" else "a (C, L) sequence"
        raise ConversionError(f"{where}: a convolution needs {needs} input, not {x.torch_shape}")
    x = input_of(lowering, layer, x, where)
    mode, weight, scale = weight_of(layer, where)
    weight = geometry.weight_4d(weight).permute(0, 2, 3, 1)  # (Cout, KH, KW, Cin / groups)
    cout, h, w = geometry.out
    (kh, kw), stride = geometry.kernel, list(geometry.stride)
    bias = np.zeros(cout) if layer.bias is None else layer.bias.detach().double().numpy()
    out = lowering.new_value("float", (h, w, cout), call.out_shape, geometry.layout)
    chain = [accumulator_chain(layer)]
    common = {"stride": stride, "padding": padding, "pad_value": pad_value}
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
            attrs["dilation"] = list(geometry.dilation)
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
            k=layer.in_channels // layer.groups * kh * kw,
        )
    elif x.kind == "planes":
        if layer.groups != 1:
            raise ConversionError(f"{where}: groups={layer.groups} on a multi-bit input")
        if pad_value != 0.0 and any(padding):
            raise ConversionError(f"{where}: pad_value={pad_value} on a multi-bit input")
        codes, w_encoding, w_scale = kbit_weight_of(layer, where)
        quantization = x.quantization
        k = layer.in_channels * kh * kw
        attrs = kbit.layer_attrs(quantization.encoding, w_encoding, k, where)
        codes = codes.reshape(cout, layer.in_channels, kh, kw)
        codes = np.ascontiguousarray(codes.transpose(0, 2, 3, 1))  # (Cout, KH, KW, Cin)
        lowering.emit(
            "kbit_conv2d",
            [x],
            out,
            attrs={
                **attrs,
                "cin": layer.in_channels,
                "stride": stride,
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
            "kernel": [kh, kw],
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
