"""DyBNN-mini and ReActNet-mini: a small ReActNet-style CNN for 28x28 images, with DyBNN's dynamic
sign and PReLU (``dybnn-mini``) or ReActNet's static RSign and RPReLU (``reactnet-mini``), and
otherwise the same layers: the pair for the ablation ``onebit experiment dybnn``.

Zhang, Su, Feng, Lu, Pietikäinen, Liu, "Dynamic Binary Neural Network by learning channel-wise
thresholds" (ICASSP 2022) replace ReActNet's RSign and RPReLU by DySign and DyPReLU
(:mod:`onebit.nn.dynamic`) in ReActNet's networks; this is onebit's own small layout in that
pattern (Liu, Shen, Savvides, Cheng, "ReActNet", ECCV 2020)::

    stem    conv 3x3/2 (real, C -> 32) -> BN                        28x28 -> 14x14
    block   (in -> out channels, stride s)
            y = BN(binary conv3x3_s(sign(x))) + shortcut(x)
            out = act(y)
            sign: DySign or RSign; act: DyPReLU or RPReLU
            shortcut: AvgPool2d(2) when s = 2, its channels twice (cat) when out = 2 in
    blocks  (32, 1), (64, 2), (64, 1)                                 -> 7x7x64
    top     flatten -> real fully connected layer (7 * 7 * 64 -> classes, with bias)

The signs are ``approx_sign`` and explicit (the sign module, then a ``QuantConv2d`` without an
input quantizer, whose weights are ``ste_sign``; zero padding). Binary weights carry no scale:
the batch norm after each conv scales its output. The classifier reads the flattened map rather
than its global average, as ReActNet's does: at this depth the average loses the digits' layout
(on mnist5k a first try with the average reached 78-90% validation accuracy in 5 epochs,
the flattened map 98%).

The full-precision twin (``binary=False``) keeps every parameter: each sign becomes ``Hardtanh``
after the same (static or dynamic) threshold, each binary conv a float one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import ImageClassifier, check_image_args
from onebit.models._factory import zoo_entry
from onebit.nn import DyPReLU, DySign, QuantConv2d, RPReLU, RSign

STEM_WIDTH = 32
BLOCKS = ((32, 1), (64, 2), (64, 1))
"""(output channels, stride) of each block."""
SIGN = "approx_sign"


class MiniBlock(nn.Module):
    """sign -> binary 3x3 conv -> BN, plus the shortcut, then the activation; see the module
    docstring. ``out_channels`` is ``in_channels`` or twice it."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, dynamic: bool, binary: bool = True
    ) -> None:
        super().__init__()
        if out_channels not in (in_channels, 2 * in_channels) or stride not in (1, 2):
            raise OnebitError(
                f"a mini block keeps or doubles its channels with stride 1 or 2, got "
                f"{in_channels} -> {out_channels}, stride {stride}"
            )
        sign = SIGN if binary else nn.Hardtanh()
        self.sign = DySign(in_channels, sign) if dynamic else RSign(in_channels, sign)
        self.conv = QuantConv2d(
            in_channels,
            out_channels,
            3,
            stride=stride,
            padding=1,
            bias=False,
            input_quantizer=None,
            weight_quantizer="ste_sign" if binary else None,
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.pool = nn.AvgPool2d(2) if stride == 2 else nn.Identity()
        self.copies = out_channels // in_channels
        self.act = DyPReLU(out_channels) if dynamic else RPReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.pool(x)
        if self.copies == 2:
            shortcut = torch.cat([shortcut, shortcut], dim=1)
        return self.act(self.bn(self.conv(self.sign(x))) + shortcut)


class MiniBNN(ImageClassifier):
    """The small ReActNet-style CNN; see the module docstring and :func:`build_mini_bnn`."""

    def __init__(
        self,
        blocks: Sequence[tuple[int, int]],
        input_shape: tuple[int, int, int],
        num_classes: int,
        dynamic: bool,
        binary: bool = True,
    ) -> None:
        super().__init__(input_shape, num_classes, binary)
        self.dynamic = dynamic
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], STEM_WIDTH, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(STEM_WIDTH),
        )
        layers, width, side = [], STEM_WIDTH, input_shape[-1] // 2
        for out_width, stride in blocks:
            layers.append(MiniBlock(width, out_width, stride, dynamic, binary))
            width, side = out_width, side // stride
        self.blocks = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.blocks(self.stem(x))))


@zoo_entry("dybnn-mini", dynamic=True)
@zoo_entry("reactnet-mini", dynamic=False)
def build_mini_bnn(
    *, num_classes: int, input_size: int, in_channels: int, dynamic: bool, binary: bool = True
) -> MiniBNN:
    """Build the mini CNN with DyBNN's dynamic sign and PReLU (``dynamic=True``) or ReActNet's
    RSign and RPReLU, binary or its full-precision twin.

    Args:
        num_classes: output units.
        input_size: side of the square input; a multiple of 4 (the stem and the strided block
            each halve it, and a block's shortcut pool and its strided conv agree on even sides).
        in_channels: channels of the input image.
        dynamic: DySign and DyPReLU, or RSign and RPReLU.
        binary: the binary network, or its full-precision twin (Hardtanh in place of each sign,
            float convs).
    """
    name = "dybnn-mini" if dynamic else "reactnet-mini"
    shape = check_image_args(name, num_classes, input_size, in_channels, minimum_size=4)
    if input_size % 4:
        raise OnebitError(f"{name}: input_size must be a multiple of 4, got {input_size}")
    return MiniBNN(BLOCKS, shape, num_classes, dynamic, binary)
