"""Pooling: max and average pools, and the global average (``AdaptiveAvgPool2d(1)``, ``mean``);
over a sequence (C, L), ``MaxPool1d`` and the max or mean over time (``AdaptiveMaxPool1d(1)``,
``AdaptiveAvgPool1d(1)``) as the same pools with a (1, k) window."""

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
    if x.layout != "map":
        raise ConversionError(f"{where}: pooling needs an image input")
    kind = "avgpool2d" if isinstance(module, nn.AvgPool2d) else "maxpool2d"
    return window_pool(lowering, x, kind, (kernel, stride, padding), call.out_shape, where)


@lowers(nn.MaxPool1d, nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d)
def pool1d(lowering: Lowering, call: Call, module: nn.Module, x: Value) -> Value:
    """A max-pool over time, or the max or mean of the whole sequence: a (1, k) window."""
    where = call.where
    if x.layout != "sequence":
        raise ConversionError(f"{where}: a 1-D pool needs a (C, L) sequence, not {x.torch_shape}")
    if isinstance(module, nn.MaxPool1d):
        if module.dilation not in (1, (1,)) or module.ceil_mode or module.return_indices:
            raise ConversionError(
                f"{where}: dilation, ceil_mode and return_indices are not supported"
            )
        k, s, p = (
            _pair(getattr(module, n), where)[-1] for n in ("kernel_size", "stride", "padding")
        )
    else:
        if module.output_size not in (1, (1,)) or getattr(module, "return_indices", False):
            raise ConversionError(f"{where}: only output_size=1 (the whole sequence) is supported")
        k, s, p = x.torch_shape[1], x.torch_shape[1], 0
    kind = "avgpool2d" if isinstance(module, nn.AdaptiveAvgPool1d) else "maxpool2d"
    return window_pool(lowering, x, kind, ([1, k], [1, s], [0, p]), call.out_shape, where)


def window_pool(lowering, x: Value, kind: str, window, out_shape, where: str) -> Value:
    """One pool op over ``x``'s map (a max over packed bits is ``binary_maxpool2d``) with
    ``window`` = (kernel, stride, padding) pairs; its output keeps ``x``'s layout."""
    if kind == "maxpool2d" and x.kind == "bits":
        kind = "binary_maxpool2d"
    elif x.kind == "bits":
        raise ConversionError(f"{where}: average pooling needs a float input")
    x = lowering.as_float(x, where) if x.kind != "bits" else x
    kernel, stride, padding = window
    if x.layout == "sequence":
        c, length = out_shape
        shape = (1, length, c)
    else:
        c, h, w = out_shape
        shape = (h, w, c)
    out = lowering.new_value(x.kind, shape, out_shape, x.layout)
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
