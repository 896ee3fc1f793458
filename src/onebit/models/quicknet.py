"""QuickNet: Larq's ResNet-like BNN designed for fast inference with Larq Compute Engine.

Bannink, Hillier, Geiger, de Bruin, Overweel, Neeven, Helwegen, "Larq Compute Engine: Design,
Benchmark, and Deploy State-of-the-Art Binarized Neural Networks" (MLSys 2021), which introduces
QuickNet.

Code source: Larq zoo, ``larq_zoo/sota/quicknet.py`` (``QuickNetFactory`` and its ``Small`` and
``Large`` subclasses, weights v1.0). Layout::

    stem        conv 3x3/2 (real, -> f/4) -> BN -> ReLU
                -> depthwise conv 3x3/2 (real) -> BN without scale and shift
                -> conv 1x1 (real, -> f) -> BN                       f = the first section's width
    residual    x + BN(ReLU(binary conv 3x3 (x)))        one-padding (pad_value 1), same width
    transition  ReLU -> max-pool 2x2 stride 1 -> depthwise 3x3/2 blur (fixed [1 2 1]^T[1 2 1]/16)
                -> conv 1x1 (real, -> new width) -> BN               before a section's first block
    top         ReLU -> global average pool -> real fully connected layer (with bias) -> logits

Sections of residual blocks (blocks, widths): ``quicknet-small`` (4, 4, 4, 4) x (32, 64, 256,
512); ``quicknet`` (4, 4, 4, 4) x (64, 128, 256, 512); ``quicknet-large`` (6, 8, 12, 6) x (64, 128,
256, 512). A transition comes wherever the width changes, so never before the first section.

The binary convs use Larq's ``SteSign(clip_value=1.25)`` for inputs and weights and clip the latent
weights to [-1.25, 1.25]. The stem's BNs keep Keras' defaults (momentum 0.99, i.e. 0.01 in
PyTorch's convention, epsilon 1e-3), the others use momentum 0.9 (0.1) and epsilon 1e-5. The blur
filter is a frozen parameter (``requires_grad=False``), as Keras' ``trainable=False`` weight.

Padding is Keras' ``padding="same"``, worked out for the input size the model is built for: a
stride-2 3x3 conv on an even side pads one row and column after the map and none before it
(``nn.ZeroPad2d`` then an unpadded conv), on an odd side one on each side. At 224x224 the stem's two
convs pad after only, and the blur of each transition sees an odd side (the 2x2 stride-1 max-pool
takes one off an even side) and pads both sides.

The model returns logits; Larq's final softmax is left to the loss.

The full-precision twin (``binary=False``) replaces each binary conv by ``Hardtanh(-1.25, 1.25)``
(the sign's clipped-identity relaxation, at the sign's gradient clip) and a float ``nn.Conv2d``
with zero padding; everything else is unchanged, so the parameter count is the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import ImageClassifier, check_image_args
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv2d

CLIP = 1.25  # Larq's SteSign(clip_value=1.25) and WeightClip(1.25)
SECTIONS = {
    "quicknet-small": ((4, 4, 4, 4), (32, 64, 256, 512)),
    "quicknet": ((4, 4, 4, 4), (64, 128, 256, 512)),
    "quicknet-large": ((6, 8, 12, 6), (64, 128, 256, 512)),
}
STEM_BN = {"momentum": 0.01, "eps": 1e-3}  # Keras' BatchNormalization defaults
BLOCK_BN = {"momentum": 0.1, "eps": 1e-5}  # Keras momentum=0.9, epsilon=1e-5


def same_padding(side: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras' ``padding="same"`` along one axis of length ``side``: (before, after)."""
    total = max((math.ceil(side / stride) - 1) * stride + kernel - side, 0)
    return total // 2, total - total // 2


def same_conv(
    side: int, in_channels: int, out_channels: int, kernel: int, stride: int, groups: int = 1
) -> list[nn.Module]:
    """A float conv without bias padded as Keras' "same" for a ``side`` x ``side`` input: a
    ``ZeroPad2d`` before it when the padding is asymmetric."""
    before, after = same_padding(side, kernel, stride)
    symmetric = before == after
    conv = nn.Conv2d(
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        padding=before if symmetric else 0,
        groups=groups,
        bias=False,
    )
    return [conv] if symmetric else [nn.ZeroPad2d((before, after, before, after)), conv]


def blur_pool(side: int, channels: int) -> list[nn.Module]:
    """A fixed depthwise 3x3/2 blur (``[1, 2, 1]^T [1, 2, 1] / 16`` per channel), Larq zoo's
    ``blurpool_initializer`` with ``trainable=False`` (Zhang, "Making Convolutional Networks
    Shift-Invariant Again", ICML 2019); "same" padding for a ``side`` x ``side`` input."""
    layers = same_conv(side, channels, channels, 3, 2, groups=channels)
    conv = layers[-1]
    taps = torch.tensor([1.0, 2.0, 1.0], device=conv.weight.device)
    with torch.no_grad():
        conv.weight.copy_((torch.outer(taps, taps) / 16.0).expand_as(conv.weight))
    conv.weight.requires_grad_(False)
    return layers


class QuickNetStem(nn.Sequential):
    """Real conv 3x3/2 -> BN -> ReLU -> depthwise 3x3/2 -> BN (no scale, no shift) -> conv 1x1
    -> BN, for a ``side`` x ``side`` input; the side shrinks by 4, the channels become ``width``."""

    def __init__(self, side: int, in_channels: int, width: int) -> None:
        if width % 4:
            raise OnebitError(f"quicknet: the first width must be a multiple of 4, got {width}")
        narrow = width // 4
        half = math.ceil(side / 2)
        super().__init__(
            *same_conv(side, in_channels, narrow, 3, 2),
            nn.BatchNorm2d(narrow, **STEM_BN),
            nn.ReLU(),
            *same_conv(half, narrow, narrow, 3, 2, groups=narrow),
            nn.BatchNorm2d(narrow, affine=False, **STEM_BN),
            nn.Conv2d(narrow, width, 1, bias=False),
            nn.BatchNorm2d(width, **STEM_BN),
        )


class QuickNetResidual(nn.Module):
    """``x + BN(ReLU(binary conv 3x3 (x)))``, one-padded, the width unchanged."""

    def __init__(self, width: int, binary: bool) -> None:
        super().__init__()
        if binary:
            self.conv: nn.Module = QuantConv2d(
                width,
                width,
                3,
                padding=1,
                bias=False,
                input_quantizer={"name": "ste_sign", "clip_value": CLIP},
                weight_quantizer={"name": "ste_sign", "clip_value": CLIP},
                pad_value=1.0,
                weight_clip=CLIP,
            )
        else:
            self.conv = nn.Sequential(
                nn.Hardtanh(-CLIP, CLIP), nn.Conv2d(width, width, 3, padding=1, bias=False)
            )
        self.relu = nn.ReLU()
        self.bn = nn.BatchNorm2d(width, **BLOCK_BN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.relu(self.conv(x))) + x


class QuickNetTransition(nn.Sequential):
    """ReLU -> max-pool 2x2 stride 1 -> fixed blur 3x3/2 -> real conv 1x1 -> BN, for a ``side``
    x ``side`` input: halves the side and changes the width, all in full precision."""

    def __init__(self, side: int, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.ReLU(),
            nn.MaxPool2d(2, stride=1),
            *blur_pool(side - 1, in_channels),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels, **BLOCK_BN),
        )


class QuickNet(ImageClassifier):
    """QuickNet; see the module docstring for the layout and :func:`build_quicknet`."""

    def __init__(
        self,
        section_blocks: Sequence[int],
        section_widths: Sequence[int],
        input_shape: tuple[int, int, int],
        num_classes: int,
        binary: bool,
    ) -> None:
        super().__init__(input_shape, num_classes, binary)
        width, side = section_widths[0], input_shape[1]
        self.stem = QuickNetStem(side, input_shape[0], width)
        side = math.ceil(math.ceil(side / 2) / 2)
        sections = []
        for blocks, out_width in zip(section_blocks, section_widths, strict=True):
            layers: list[nn.Module] = []
            if out_width != width:
                layers.append(QuickNetTransition(side, width, out_width))
                width, side = out_width, math.ceil((side - 1) / 2)
            layers.extend(QuickNetResidual(width, binary) for _ in range(blocks))
            sections.append(nn.Sequential(*layers))
        self.sections = nn.Sequential(*sections)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sections(self.stem(x))
        return self.fc(self.flatten(self.pool(self.relu(x))))


@zoo_entry("quicknet-small", variant="quicknet-small")
@zoo_entry("quicknet", variant="quicknet")
@zoo_entry("quicknet-large", variant="quicknet-large")
def build_quicknet(
    variant: str, *, num_classes: int, input_size: int, in_channels: int, binary: bool = True
) -> QuickNet:
    """Build a QuickNet, binary or its full-precision twin.

    Args:
        variant: "quicknet-small", "quicknet" or "quicknet-large" (sections as in Larq zoo).
        num_classes: output units.
        input_size: side of the square input, at least 32.
        in_channels: channels of the input image.
        binary: the binary network, or its full-precision twin (Hardtanh in place of each sign).
    """
    if variant not in SECTIONS:
        raise OnebitError(f"quicknet: variant must be one of {sorted(SECTIONS)}, got {variant!r}")
    shape = check_image_args(variant, num_classes, input_size, in_channels, minimum_size=32)
    blocks, widths = SECTIONS[variant]
    return QuickNet(blocks, widths, shape, num_classes, binary)
