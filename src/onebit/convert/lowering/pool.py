"""Pooling: max and average pools, and the global average (``AdaptiveAvgPool2d(1)``, ``mean``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.registry import lowers, lowers_call

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(nn.MaxPool2d, nn.AvgPool2d)
def pool2d(lowering: Lowering, call: Call, module: nn.Module, x: Value) -> Value:
    where = call.where
    kernel, stride, padding = (
        _pair(getattr(module, n), where) for n in ("kernel_size", "stride", "padding")
    )
    if isinstance(module, nn.MaxPool2d) and (
        module.dilation not in (1, (1, 1)) or module.ceil_mode or module.return_indices
    ):
        raise ConversionError(f"{where}: dilation, ceil_mode and return_indices are not supported")
    if isinstance(module, nn.AvgPool2d) and (
        module.ceil_mode or not module.count_include_pad or module.divisor_override
    ):
        raise ConversionError(f"{where}: only the default average pool is supported")
    x = lowering.as_map(x, where)
    if len(x.shape) != 3:
        raise ConversionError(f"{where}: pooling needs an image input")
    c, h, w = call.out_shape
    kind = "avgpool2d" if isinstance(module, nn.AvgPool2d) else "maxpool2d"
    if kind == "maxpool2d" and x.kind == "bits":
        kind = "binary_maxpool2d"
    elif x.kind == "bits":
        raise ConversionError(f"{where}: average pooling needs a float input")
    out = lowering.new_value(x.kind, (h, w, c), call.out_shape)
    lowering.emit(kind, [x], out, attrs={"kernel": kernel, "stride": stride, "padding": padding})
    return out


@lowers(nn.AdaptiveAvgPool2d)
def adaptive_avg_pool2d(lowering: Lowering, call: Call, module: nn.Module, x: Value) -> Value:
    return global_avgpool(lowering, x, call.out_shape, call.where)


@lowers_call("adaptive_avg_pool2d", F.adaptive_avg_pool2d)
def adaptive_avg_pool2d_call(lowering: Lowering, call: Call) -> Value:
    args = call.arguments(["input", "output_size"], {})
    return global_avgpool(
        lowering, lowering.arg(args["input"], call.where), call.out_shape, call.where
    )


@lowers_call("mean", torch.mean)
def mean(lowering: Lowering, call: Call) -> Value:
    args = call.arguments(["input", "dim", "keepdim"], {"dim": None, "keepdim": False})
    x = lowering.arg(args["input"], call.where)
    dims = args["dim"] if isinstance(args["dim"], list | tuple) else [args["dim"]]
    if (
        len(x.torch_shape) != 3
        or not all(isinstance(d, int) for d in dims)
        or sorted(d % 4 for d in dims) != [2, 3]
        or set(call.node.kwargs) - {"input", "dim", "keepdim"}
    ):
        raise ConversionError(f"{call.where}: only the mean over height and width is supported")
    return global_avgpool(lowering, x, call.out_shape, call.where)


def global_avgpool(lowering: Lowering, x: Value, out_shape, where: str) -> Value:
    """Mean over height and width: a (C,) vector, also where torch keeps it (C, 1, 1) (the value
    remembers its map, for a consumer or a model output that needs the (C, 1, 1) map)."""
    if len(x.shape) != 3 or tuple(out_shape[1:]) not in ((), (1, 1)):
        raise ConversionError(f"{where}: only a global average (output size 1) is supported")
    value = lowering.new_value("float", (x.channels,), out_shape)
    lowering.emit("global_avgpool", [lowering.as_float(x, where)], value)
    if len(out_shape) == 3:
        lowering.pooled[value.name] = x
    return value


def _pair(value: Any, where: str) -> list[int]:
    if value is None:
        raise ConversionError(f"{where}: pooling without a stride is not supported")
    return [int(value), int(value)] if isinstance(value, int) else [int(v) for v in value]
