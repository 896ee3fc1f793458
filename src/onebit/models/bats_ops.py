"""The operations of BATS' binary search space, and the pieces its cells are made of.

Bulat, Martinez & Tzimiropoulos, "BATS: Binary ArchitecTure Search", ECCV 2020; layout as the
first author's ``1adrianb/binary-networks-pytorch`` (``bnn/models/layers/bats_ops.py``). A
convolution op is ::

    x -> BN -> sign -> binary KxK conv (grouped; dilated for the dil_ ops) -> PReLU
      -> channel shuffle  (+ x at stride 1)

with binary weights ``sign(W)`` scaled per output channel by XNOR-Net's ``mean |W_c|``. The
other ops are 3x3 max and average pooling, the identity (at stride 2: the reduce skip below) and
``none`` (zeros, used only during the search).

Deviations, and why:

* The shuffle uses as many groups as the convolution (ShuffleNet's rule, so every group of the
  next convolution sees every group of this one); the authors' code shuffles by 4 whatever the
  convolution's groups.
* The stride-2 skip is Bi-Real Net's downsampling shortcut, a 3x3/2 average pool (padding 1)
  -> BN -> sign -> binary 1x1 conv -> PReLU, instead of DARTS' ``FactorizedReduce``: that one
  needs a feature map shifted by one pixel, which the engine has no op for; the pool keeps every
  pixel's information just the same, and its output side matches the 3x3/2 convolutions' on odd
  inputs as well.
* Average pooling counts the zero padding (``count_include_pad=True``), as the engine's
  ``avgpool2d`` does.
* Convolutions pad their binary input with +1 (``pad_value=1.0``, Larq's one-padding), so they
  stay purely binary.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.nn import ChannelShuffle, QuantConv2d

CONV_OPS = {
    # name: (kernel, dilation)
    "group_conv_3x3": (3, 1),
    "group_conv_5x5": (5, 1),
    "dil_group_conv_3x3": (3, 2),
    "dil_group_conv_5x5": (5, 2),
}
"""The binary convolution ops: grouped KxK, and grouped KxK at dilation 2."""

PRIMITIVES = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    *CONV_OPS,
)
"""Every op of the search space, in the order the architecture weights list them."""


def binary_conv(
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
) -> QuantConv2d:
    """A binary KxK convolution: ``ste_sign`` input and weights, XNOR-Net scaling, one-padding,
    'same' padding at stride 1."""
    return QuantConv2d(
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        padding=dilation * (kernel - 1) // 2,
        dilation=dilation,
        groups=groups,
        bias=False,
        input_quantizer="ste_sign",
        weight_quantizer="ste_sign",
        pad_value=1.0,
        alpha_scaling=True,
    )


class BinaryConvOp(nn.Module):
    """BN -> sign -> binary grouped (dilated) conv -> PReLU -> channel shuffle, plus the input
    at stride 1 (see the module docstring)."""

    def __init__(self, channels: int, kernel: int, stride: int, dilation: int, groups: int) -> None:
        super().__init__()
        if channels % groups:
            raise OnebitError(f"BATS: groups={groups} must divide the {channels} channels")
        self.residual = stride == 1
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels),
            binary_conv(channels, channels, kernel, stride, dilation, groups),
            nn.PReLU(channels),
            ChannelShuffle(groups),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class BinaryPointwise(nn.Module):
    """BN -> sign -> binary 1x1 conv -> PReLU: a cell's input projection (BATS'
    ``ReLUConvBN``, binarized as the authors' code does)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            binary_conv(in_channels, out_channels, 1),
            nn.PReLU(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ReduceSkip(nn.Module):
    """The stride-2 skip: 3x3/2 average pool -> BN -> sign -> binary 1x1 conv -> PReLU (Bi-Real
    Net's downsampling shortcut, Liu et al., ECCV 2018; see the module docstring)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.project = BinaryPointwise(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.pool(x))


class Zero(nn.Module):
    """The ``none`` op: zeros of the output's shape (the search's way to drop an edge)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return torch.zeros_like(x)
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


def _pool(kind: type[nn.Module]) -> Callable[[int, int, int], nn.Module]:
    return lambda channels, stride, groups: kind(3, stride=stride, padding=1)


def _conv(kernel: int, dilation: int) -> Callable[[int, int, int], nn.Module]:
    return lambda channels, stride, groups: BinaryConvOp(channels, kernel, stride, dilation, groups)


def _skip(channels: int, stride: int, groups: int) -> nn.Module:
    return nn.Identity() if stride == 1 else ReduceSkip(channels, channels)


OPS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "none": lambda channels, stride, groups: Zero(stride),
    "max_pool_3x3": _pool(nn.MaxPool2d),
    "avg_pool_3x3": _pool(nn.AvgPool2d),
    "skip_connect": _skip,
    **{name: _conv(kernel, dilation) for name, (kernel, dilation) in CONV_OPS.items()},
}
"""``OPS[name](channels, stride, groups)`` builds op ``name`` of the search space."""


def build_op(name: str, channels: int, stride: int, groups: int) -> nn.Module:
    """Op ``name`` of :data:`PRIMITIVES` on ``channels`` channels at ``stride`` (1 or 2)."""
    if name not in OPS:
        raise OnebitError(f"BATS: unknown op {name!r}; the search space has {list(PRIMITIVES)}")
    return OPS[name](channels, stride, groups)
