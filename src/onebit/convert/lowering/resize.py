"""Resizing: nearest-neighbour upsampling by integer factors (``nn.Upsample``,
``F.interpolate``) -> ``upsample_nearest``, on float or packed maps."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch.nn.functional as F
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.registry import lowers, lowers_call

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(nn.Upsample)
def upsample(lowering: Lowering, call: Call, module: nn.Module, x: Value) -> Value:
    if module.size is not None:
        raise ConversionError(f"{call.where}: give Upsample a scale_factor, not a size")
    extra = {"align_corners": module.align_corners, "recompute": module.recompute_scale_factor}
    return upsample_nearest(lowering, call, x, module.mode, module.scale_factor, extra)


@lowers_call("interpolate", F.interpolate)
def interpolate(lowering: Lowering, call: Call) -> Value:
    names = ["input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"]
    defaults = {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None}
    args = call.arguments(names, {**defaults, "recompute_scale_factor": None})
    if args["size"] is not None:
        raise ConversionError(f"{call.where}: give interpolate a scale_factor, not a size")
    extra = {
        "align_corners": args["align_corners"],
        "recompute": args["recompute_scale_factor"],
    }
    x = lowering.arg(args["input"], call.where)
    return upsample_nearest(lowering, call, x, args["mode"], args["scale_factor"], extra)


def upsample_nearest(
    lowering: Lowering, call: Call, x: Value, mode: str, scale: Any, extra: dict[str, Any]
) -> Value:
    """One ``upsample_nearest`` op for an integer scale factor (one, or one per side)."""
    where = call.where
    if mode != "nearest" or any(value for value in extra.values()):
        raise ConversionError(
            f"{where}: only mode 'nearest' without align_corners or recompute_scale_factor "
            f"is supported, got mode {mode!r}"
        )
    factors = tuple(scale) if isinstance(scale, list | tuple) else (scale, scale)
    if len(factors) != 2 or not all(
        isinstance(f, int | float) and math.isfinite(f) and f >= 1 and float(f).is_integer()
        for f in factors
    ):
        raise ConversionError(
            f"{where}: the scale factor must be an integer >= 1 (or one per side), got {scale!r}"
        )
    x = lowering.as_map(x, where)
    if len(x.shape) != 3:
        raise ConversionError(f"{where}: upsampling needs an image input")
    c, h, w = call.out_shape
    out = lowering.new_value(x.kind, (h, w, c), call.out_shape)
    lowering.emit("upsample_nearest", [x], out, attrs={"scale": [int(f) for f in factors]})
    return out
