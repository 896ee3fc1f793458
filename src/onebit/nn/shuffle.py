"""Channel shuffle: the permutation that lets grouped convolutions exchange information.

Reference: Zhang, Zhou, Lin, Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural Network
for Mobile Devices" (CVPR 2018), section 3.1. BATS (Bulat, Martinez & Tzimiropoulos, ECCV 2020)
shuffles after each grouped binary convolution of its search space.
"""

from __future__ import annotations

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Reorder the channels (dimension 1) of ``x`` as a ``(groups, C / groups)`` grid, transposed.

    Output channel ``c`` is input channel ``(c % groups) * (C // groups) + c // groups``: the
    first output channels take the first channel of every group in turn.

    Raises:
        ValueError: ``groups`` is not positive or does not divide the channel count.
    """
    if x.ndim < 2:
        raise ValueError(f"channel_shuffle needs a (N, C, ...) input, got shape {tuple(x.shape)}")
    channels = x.shape[1]
    if groups < 1 or channels % groups:
        raise ValueError(f"channel_shuffle: groups={groups} must divide the {channels} channels")
    n, rest = x.shape[0], x.shape[2:]
    return (
        x.reshape(n, groups, channels // groups, *rest).transpose(1, 2).reshape(n, channels, *rest)
    )


class ChannelShuffle(nn.Module):
    """:func:`channel_shuffle` as a module (the converter lowers it to the engine's
    ``channel_shuffle`` op)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        if groups < 1:
            raise ValueError(f"ChannelShuffle: groups must be >= 1, got {groups}")
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
