"""Ops that change a value's shape: flatten, constant padding, and the swap of a sequence's
axes (no op: ``ir.LAYOUTS``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.registry import lowers, lowers_call

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(nn.Flatten)
def flatten_module(lowering: Lowering, call: Call, module: nn.Flatten, x: Value) -> Value:
    return flatten(lowering, x, module.start_dim, module.end_dim, call.where)


@lowers_call("flatten", torch.flatten)
def flatten_call(lowering: Lowering, call: Call) -> Value:
    # torch.flatten starts at dim 0; the tensor method too
    args = call.arguments(["input", "start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
    x = lowering.arg(args["input"], call.where)
    return flatten(lowering, x, args["start_dim"], args["end_dim"], call.where)


def flatten(lowering: Lowering, x: Value, start: Any, end: Any, where: str) -> Value:
    """``flatten(start_dim, end_dim)`` of a batch: every dim after the batch into one (a map to a
    vector), or a range of one dim (nothing to do); other ranges are refused."""
    ndim = len(x.torch_shape) + 1
    if not (isinstance(start, int) and isinstance(end, int) and -ndim <= start < ndim):
        raise ConversionError(f"{where}: flatten dims must be integers within the tensor's {ndim}")
    if not -ndim <= end < ndim:
        raise ConversionError(f"{where}: flatten dims must be integers within the tensor's {ndim}")
    start, end = start % ndim, end % ndim
    if start == end:
        return x
    if start != 1 or end != ndim - 1:
        raise ConversionError(
            f"{where}: only flatten(start_dim=1, end_dim=-1) is supported, not "
            f"({start}, {end}) of a batch of {x.torch_shape}"
        )
    if len(x.shape) == 1:  # a vector, or a pooled (C, 1, 1) map that is one already
        return x if x.torch_shape == x.shape else replace(x, torch_shape=x.shape)
    return lowering.flatten_value(x)


@lowers(nn.ZeroPad2d, nn.ConstantPad2d)
def pad_module(lowering: Lowering, call: Call, module: nn.Module, x: Value) -> Value:
    return pad(lowering, x, module.padding, module.value, call.out_shape, call.where)


@lowers_call("pad", F.pad)
def pad_call(lowering: Lowering, call: Call) -> Value:
    args = call.arguments(["input", "pad", "mode", "value"], {"mode": "constant", "value": None})
    if args["mode"] != "constant":
        raise ConversionError(f"{call.where}: only constant padding is supported")
    x = lowering.arg(args["input"], call.where)
    return pad(lowering, x, args["pad"], args["value"], call.out_shape, call.where)


def pad(lowering: Lowering, x: Value, padding: Any, value: Any, out_shape, where: str) -> Value:
    """Constant padding of height and width; torch orders it ``(left, right, top, bottom)``."""
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        padding += [0, 0]
    x = lowering.as_map(x, where)
    if len(padding) != 4 or min(padding) < 0 or x.layout != "map":
        raise ConversionError(
            f"{where}: only non-negative padding of an image's height and width is supported"
        )
    value = float(value or 0.0)
    if not np.isfinite(value):
        raise ConversionError(f"{where}: the pad value must be finite")
    left, right, top, bottom = padding
    c, h, w = out_shape
    out = lowering.new_value("float", (h, w, c), out_shape)
    attrs = {"padding": [top, bottom, left, right], "value": value}
    lowering.emit("pad", [lowering.as_float(x, where)], out, attrs=attrs)
    return out


@lowers_call("transpose", torch.transpose, torch.swapaxes, torch.swapdims)
def transpose_call(lowering: Lowering, call: Call) -> Value:
    args = call.arguments(["input", "dim0", "dim1"], {})
    x = lowering.arg(args["input"], call.where)
    return swap_sequence(lowering, x, [args["dim0"], args["dim1"]], call.where)


@lowers_call("permute", torch.permute)
def permute_call(lowering: Lowering, call: Call) -> Value:
    node = call.node
    dims = list(node.args[1:]) or [node.kwargs.get("dims")]
    if len(dims) == 1 and isinstance(dims[0], list | tuple):
        dims = list(dims[0])
    x = lowering.arg(node.args[0] if node.args else node.kwargs.get("input"), call.where)
    if len(dims) != 3 or not all(isinstance(d, int) for d in dims) or dims[0] % 3 != 0:
        raise ConversionError(f"{call.where}: only permute(0, 2, 1) of a sequence is supported")
    return swap_sequence(lowering, x, dims[1:], call.where)


def swap_sequence(lowering: Lowering, x: Value, dims: list[Any], where: str) -> Value:
    """Swap the two axes after the batch of a sequence (C, L) or an embedding's rows (L, C): one
    engine map (1, L, C), so no op, only the value's torch shape and layout change."""
    swaps = {"rows": "sequence", "sequence": "rows"}
    if (
        x.layout not in swaps
        or not all(isinstance(d, int) for d in dims)
        or sorted(d % 3 for d in dims) != [1, 2]
    ):
        raise ConversionError(
            f"{where}: only the swap of a sequence's two axes, (N, L, C) <-> (N, C, L), is "
            f"supported, not dims {dims} of {x.torch_shape}"
        )
    if lowering.flattened_source(x) is not None or x.flat_from is not None:
        raise ConversionError(f"{where}: swaps the axes of a flattened value")
    return replace(x, torch_shape=x.torch_shape[::-1], layout=swaps[x.layout])
