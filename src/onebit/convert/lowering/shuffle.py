"""Channel shuffle (ShuffleNet's; ``onebit.nn.ChannelShuffle``, ``torch.nn.ChannelShuffle`` and
their functions) -> ``channel_shuffle``, on float maps and vectors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.registry import lowers, lowers_call
from onebit.nn.shuffle import ChannelShuffle, channel_shuffle

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(ChannelShuffle, nn.ChannelShuffle)
def shuffle_module(lowering: Lowering, call: Call, module: nn.Module, x: Value) -> Value:
    return shuffle(lowering, call, x, module.groups)


@lowers_call("channel_shuffle", channel_shuffle, torch.channel_shuffle)
def shuffle_call(lowering: Lowering, call: Call) -> Value:
    args = call.arguments(["input", "groups"], {})
    return shuffle(lowering, call, lowering.arg(args["input"], call.where), args["groups"])


def shuffle(lowering: Lowering, call: Call, x: Value, groups: Any) -> Value:
    """One ``channel_shuffle`` op over the channels of a float map, or of a vector that is not a
    flattened map (whose features the engine holds in another order than torch)."""
    where = call.where
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ConversionError(f"{where}: groups must be an integer >= 1, got {groups!r}")
    x = lowering.as_float(x, where)
    if len(x.torch_shape) == 3:
        x = lowering.as_map(x, where)
    elif len(x.torch_shape) != 1 or x.flat_from is not None:
        raise ConversionError(
            f"{where}: shuffles the channels of a (C, H, W) map or of a vector that is not a "
            f"flattened map, got {x.torch_shape}"
        )
    if x.channels % groups:
        raise ConversionError(f"{where}: groups={groups} must divide the {x.channels} channels")
    out = lowering.new_value("float", x.shape, x.torch_shape, x.layout)
    lowering.emit("channel_shuffle", [x], out, attrs={"groups": groups})
    return out
