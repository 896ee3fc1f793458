"""Joining values: ``torch.cat`` along the channels -> ``concat`` or ``binary_concat``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.registry import lowers_call

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers_call("cat", torch.cat, torch.concat, torch.concatenate)
def cat(lowering: Lowering, call: Call) -> Value:
    """``torch.cat(tensors, dim=1)``: a ``concat`` of float values, or a ``binary_concat`` of
    packed ones (exact for any channel counts, see ``runtime/ops``)."""
    where, out_shape = call.where, call.out_shape
    args = call.arguments(["tensors", "dim"], {"dim": 0})
    tensors, dim = args["tensors"], args["dim"]
    if not isinstance(tensors, list | tuple) or not tensors:
        raise ConversionError(f"{where}: needs a list of tensors")
    values = [lowering.arg(t, where) for t in tensors]
    if not isinstance(dim, int) or dim % (len(out_shape) + 1) != 1:
        raise ConversionError(f"{where}: only concatenation along the channels (dim=1) works")
    if len(values) == 1:
        return values[0]
    if any(v.flat_from is not None or v.name in lowering.pooled for v in values):
        raise ConversionError(f"{where}: join the feature maps before flattening them")
    layouts = {v.layout for v in values}
    if len(layouts) != 1 or "rows" in layouts:
        raise ConversionError(f"{where}: joins {sorted(layouts)} values; join maps or sequences")
    kinds = {v.kind for v in values}
    if len(kinds) != 1:
        raise ConversionError(f"{where}: cannot join packed bits with float values")
    if len({v.shape[:-1] for v in values}) != 1:
        raise ConversionError(f"{where}: the joined tensors differ in more than their channels")
    channels = [v.channels for v in values]
    shape = (*values[0].shape[:-1], sum(channels))
    out = lowering.new_value(values[0].kind, shape, out_shape, values[0].layout)
    kind = "binary_concat" if kinds == {"bits"} else "concat"
    lowering.emit(kind, values, out, attrs={"channels": channels})
    return out
