"""ReActNet-A: a binary MobileNetV1 with real-valued shortcuts, RSign and RPReLU.

Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Network with Generalized
Activation Functions" (ECCV 2020): the MobileNetV1-based baseline whose depthwise 3x3 convs become
full 3x3 binary convs, each 3x3 and each 1x1 with its own shortcut, the downsampling 1x1
duplicated and concatenated; RSign, eq. (3); RPReLU, eq. (4). ImageNet top-1 69.4% (ReActNet-A).

Code source: the official PyTorch code, ``liuzechun/ReActNet``, ``mobilenet/*/reactnet.py``
(``reactnet``, ``BasicBlock``). Layout::

    stem    conv 3x3/2 (real, 3 -> 32) -> BN
    block   (in -> out channels, stride s)
            y = BN(conv3x3_s(sign(x + b1))) + pool(x)         pool: AvgPool2d(2) when s = 2
            y = RPReLU(y)
            z = sign(y + b2)
            in == out:   y = BN(conv1x1(z)) + y
            out == 2 in: y = cat(BN(conv1x1_a(z)) + y, BN(conv1x1_b(z)) + y)
            out = RPReLU(y)
    top     global average pool -> real fully connected layer (1024 -> classes, with bias)

13 blocks, output channels 64, 128, 128, 256, 256, 512 x 6, 1024 x 2; stride 2 where the channel
count changes, except the first block (32 -> 64, stride 1).

Signs are ``approx_sign``; binary weights are ``magnitude_aware_sign`` (the official code's
``HardBinaryConv``: ``alpha_c * sign(W)`` with ``alpha_c = mean |W_c|``); its latent weights are not
clipped. The official code's gradient with respect to the latent weights is the clipped identity,
without the factor ``alpha_c`` that ``magnitude_aware_sign`` puts in; the forward pass is the same.
All 3x3 convs zero-pad by 1.

RSign (``sign(x - alpha_c)``) is written as its two halves: a ``LearnableBias`` (``move11`` and
``move21`` in the official code) and the input quantizer of the binary conv that reads it, so each
binary layer declares its own 1-bit input (the summary and the converter read that declaration).
The two 1x1 convs of a downsampling block each binarize the same input, as the official code's
shared sign does. RPReLU is :class:`onebit.nn.RPReLU` (``move12, prelu1, move13`` and
``move22, prelu2, move23``).

The full-precision twin (``binary=False``) keeps every learnable bias, RPReLU and BN, replaces each
sign by ``Hardtanh`` and each binary conv by a float ``nn.Conv2d``; the parameter count is the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import ImageClassifier, check_image_args
from onebit.models._factory import zoo_entry
from onebit.nn import LearnableBias, QuantConv2d, RPReLU

STEM_WIDTH = 32
# (output channels, stride) of the 13 blocks: ``stage_out_channel`` of the official code
BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    *((512, 1),) * 5,
    (1024, 2),
    (1024, 1),
)


def binary_conv(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, binary: bool
) -> nn.Module:
    """sign -> binary conv (zero padding) or, in the float twin, Hardtanh -> float conv."""
    padding = kernel_size // 2
    if binary:
        return QuantConv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=False,
            input_quantizer="approx_sign",
            weight_quantizer="magnitude_aware_sign",
            weight_clip=None,
        )
    return nn.Sequential(
        nn.Hardtanh(),
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=padding, bias=False),
    )


class ReActBlock(nn.Module):
    """One ReActNet-A block: binary 3x3 and binary 1x1, each with a real shortcut; see the
    module docstring. ``out_channels`` is ``in_channels`` or twice it."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, binary: bool) -> None:
        super().__init__()
        if out_channels not in (in_channels, 2 * in_channels) or stride not in (1, 2):
            raise OnebitError(
                f"a ReActNet block keeps or doubles its channels with stride 1 or 2, "
                f"got {in_channels} -> {out_channels}, stride {stride}"
            )
        self.move1 = LearnableBias(in_channels)
        self.conv3x3 = binary_conv(in_channels, in_channels, 3, stride, binary)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pool = nn.AvgPool2d(2) if stride == 2 else nn.Identity()
        self.act1 = RPReLU(in_channels)
        self.move2 = LearnableBias(in_channels)
        copies = out_channels // in_channels
        self.conv1x1 = nn.ModuleList(
            binary_conv(in_channels, in_channels, 1, 1, binary) for _ in range(copies)
        )
        self.bn2 = nn.ModuleList(nn.BatchNorm2d(in_channels) for _ in range(copies))
        self.act2 = RPReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn1(self.conv3x3(self.move1(x))) + self.pool(x)
        y = self.act1(y)
        z = self.move2(y)
        branches = [bn(conv(z)) + y for conv, bn in zip(self.conv1x1, self.bn2, strict=True)]
        y = branches[0] if len(branches) == 1 else torch.cat(branches, dim=1)
        return self.act2(y)


class ReActNet(ImageClassifier):
    """ReActNet-A; see the module docstring for the layout and :func:`build_reactnet`."""

    def __init__(
        self,
        blocks: Sequence[tuple[int, int]],
        input_shape: tuple[int, int, int],
        num_classes: int,
        binary: bool,
    ) -> None:
        super().__init__(input_shape, num_classes, binary)
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], STEM_WIDTH, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(STEM_WIDTH),
        )
        layers, width = [], STEM_WIDTH
        for out_width, stride in blocks:
            layers.append(ReActBlock(width, out_width, stride, binary))
            width = out_width
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.blocks(self.stem(x)))))


@zoo_entry("reactnet-a")
def build_reactnet(
    *, num_classes: int, input_size: int, in_channels: int, binary: bool = True
) -> ReActNet:
    """Build ReActNet-A, binary or its full-precision twin.

    Args:
        num_classes: output units.
        input_size: side of the square input; a multiple of 32, so that every downsampling block
            halves an even side (its shortcut pool and its strided conv then agree).
        in_channels: channels of the input image.
        binary: the binary network, or its full-precision twin (Hardtanh in place of each sign).
    """
    shape = check_image_args("reactnet-a", num_classes, input_size, in_channels, minimum_size=32)
    if input_size % 32:
        raise OnebitError(f"reactnet-a: input_size must be a multiple of 32, got {input_size}")
    return ReActNet(BLOCKS, shape, num_classes, binary)
