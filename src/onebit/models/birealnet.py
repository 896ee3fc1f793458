"""Bi-Real Net: a ResNet whose every binary 3x3 convolution has its own real-valued shortcut.

Liu, Wu, Luo, Yang, Liu, Cheng, "Bi-Real Net: Enhancing the Performance of 1-bit CNNs With Improved
Representational Capability and Advanced Training Algorithm" (ECCV 2018): the shortcut around
each 1-bit convolution, the ApproxSign gradient (eq. (5)-(6)) and magnitude-aware weights.
ImageNet top-1 in the paper: 56.4% (18 layers), 62.2% (34 layers).

Layout, the same in both code sources::

    stem    conv 7x7/2 (real) -> BN -> max-pool 3x3/2
    block   x -> sign -> binary conv 3x3 -> BN -> + shortcut(x)
            shortcut: identity, or when a block halves the map and doubles the channels:
            AvgPool2d(2) -> real conv 1x1 -> BN
    top     global average pool -> real fully connected layer (with bias) -> logits

The sign is ``approx_sign`` (forward sign, gradient ``2 - 2|x|`` on [-1, 1]); the binary weights are
``magnitude_aware_sign`` (``alpha_c * sign(W)``, ``alpha_c = mean |W_c|`` per output channel). Four
stages of 64, 128, 256 and 512 channels; 4 blocks each for 18 layers, 6, 8, 12 and 6 for 34.

Code sources: ``birealnet18`` follows Larq zoo's ``larq_zoo/literature/birealnet.py`` (BN momentum
0.8 in Keras terms and epsilon 1e-3, latent weights clipped to [-1, 1]); ``birealnet34`` follows the
official PyTorch code, ``liuzechun/Bi-Real-net``, ``pytorch_implementation/BiReal18_34/
birealnet.py`` (PyTorch's BN defaults, no latent-weight clip). The official code's gradient with
respect to the latent weights is the clipped identity, without the factor ``alpha_c`` that
``magnitude_aware_sign`` (like Larq's) puts in; the forward pass is the same.

Padding: torch pads symmetrically (3 for the 7x7 stem, 1 for the 3x3 convs and the max-pool), as the
official code does. Keras ``padding="same"`` with stride 2 on an even side pads only the bottom and
right; the output sizes are the same, the sampling grid of those three layers is shifted by one
pixel. That is the one difference from Larq's layout.

The model returns logits; Larq's final softmax is left to the loss.

The full-precision twin (``binary=False``) replaces each sign by ``Hardtanh`` (the clip function
the paper pre-trains its real-valued network with, in place of ReLU) and each binary convolution
by a float ``nn.Conv2d``; everything else is unchanged, so the parameter count is the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import ImageClassifier, check_image_args
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv2d

STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_BLOCKS = {18: (4, 4, 4, 4), 34: (6, 8, 12, 6)}


def binary_conv3x3(
    in_channels: int, out_channels: int, stride: int, binary: bool, weight_clip: float | None
) -> nn.Module:
    """sign -> binary 3x3 conv (zero padding 1) or, in the float twin, Hardtanh -> float conv."""
    if binary:
        return QuantConv2d(
            in_channels,
            out_channels,
            3,
            stride=stride,
            padding=1,
            bias=False,
            input_quantizer="approx_sign",
            weight_quantizer="magnitude_aware_sign",
            weight_clip=weight_clip,
        )
    return nn.Sequential(
        nn.Hardtanh(), nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
    )


class BiRealBlock(nn.Module):
    """``BN(conv3x3(sign(x))) + shortcut(x)``; with ``stride=2`` the shortcut is
    ``AvgPool2d(2) -> real 1x1 conv -> BN`` (the conv also changes the channel count)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        binary: bool,
        momentum: float,
        eps: float,
        weight_clip: float | None,
    ) -> None:
        super().__init__()
        self.conv = binary_conv3x3(in_channels, out_channels, stride, binary, weight_clip)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif stride == 2:
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(2),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum),
            )
        else:
            raise OnebitError(f"a Bi-Real block changes channels only with stride 2, got {stride}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x)) + self.shortcut(x)


class BiRealNet(ImageClassifier):
    """Bi-Real Net; see the module docstring for the layout and :func:`build_birealnet`."""

    def __init__(
        self,
        stage_blocks: Sequence[int],
        input_shape: tuple[int, int, int],
        num_classes: int,
        binary: bool,
        momentum: float,
        eps: float,
        weight_clip: float | None,
    ) -> None:
        super().__init__(input_shape, num_classes, binary)
        width = STAGE_WIDTHS[0]
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width, eps=eps, momentum=momentum),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        for stage, (blocks, out_width) in enumerate(zip(stage_blocks, STAGE_WIDTHS, strict=True)):
            layers = []
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(
                    BiRealBlock(width, out_width, stride, binary, momentum, eps, weight_clip)
                )
                width = out_width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.stages(self.stem(x)))))


@zoo_entry("birealnet18", depth=18, momentum=0.2, eps=1e-3, weight_clip=1.0)
@zoo_entry("birealnet34", depth=34, momentum=0.1, eps=1e-5, weight_clip=None)
def build_birealnet(
    depth: int,
    momentum: float,
    eps: float,
    weight_clip: float | None,
    *,
    num_classes: int,
    input_size: int,
    in_channels: int,
    binary: bool = True,
) -> BiRealNet:
    """Build Bi-Real Net-18 or -34 (``depth``), binary or its full-precision twin.

    Args:
        depth: 18 or 34.
        momentum: every BatchNorm's momentum, in PyTorch's convention (Keras' is 1 minus it).
        eps: every BatchNorm's epsilon.
        weight_clip: bound of the binary layers' latent weights; None: no clip.
        num_classes: output units.
        input_size: side of the square input; a multiple of 32, so that every downsampling block
            halves an even side (its shortcut pool and its strided conv then agree).
        in_channels: channels of the input image.
        binary: the binary network, or its full-precision twin (Hardtanh in place of each sign).
    """
    if depth not in STAGE_BLOCKS:
        raise OnebitError(f"birealnet: depth must be one of {sorted(STAGE_BLOCKS)}, got {depth}")
    name = f"birealnet{depth}"
    shape = check_image_args(name, num_classes, input_size, in_channels, minimum_size=32)
    if input_size % 32:
        raise OnebitError(f"{name}: input_size must be a multiple of 32, got {input_size}")
    return BiRealNet(STAGE_BLOCKS[depth], shape, num_classes, binary, momentum, eps, weight_clip)
