"""A binary CNN sized for microcontrollers: a few KB of packed weights, a few KB of activations.

onebit's own layout, built from the BNN paper's parts (Courbariaux et al., "Binarized Neural
Networks", 2016: binary weights and activations, batch norm before each sign, the first layer's
input left real). Each stage is ``3x3 conv (padding 1) -> batch norm -> 2x2 max-pool``, the sign
being the next layer's input quantizer; the pool follows the batch norm (as in XNOR-Net's block,
Rastegari et al. 2016) rather than preceding it as in the BNN paper's ConvNet, so that it pools
signs: the converter turns it into a binary max-pool on packed bits (an AND), and no float map
of the full resolution is ever stored. That is what keeps the exported C's arena in a few KB. The
classifier is one binary dense layer and a batch norm that gives the scores.

The first convolution sees the real-valued image with binary weights: in the exported C it adds
or subtracts pixels, no multiply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import FeatureClassifier, check_image_args, quantizer_or_none
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv2d, QuantLinear

CHANNELS = (32, 64, 128)
BATCH_NORM = {"eps": 1e-4, "momentum": 0.1}


class McuBNN(FeatureClassifier):
    """The microcontroller BNN; see :func:`build_mcu_bnn`."""


@zoo_entry("mcu-bnn")
def build_mcu_bnn(
    *,
    num_classes: int,
    input_size: int,
    in_channels: int,
    binary: bool = True,
    channels: Sequence[int] = CHANNELS,
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
) -> McuBNN:
    """Build the microcontroller BNN (``binary=True``) or its float twin.

    Args:
        num_classes: output units.
        input_size: side of the square input image; each stage halves it (floor).
        in_channels: channels of the input image.
        binary: binarize weights and hidden activations; False gives the float twin, with
            ``nn.Hardtanh`` where the binary network signs.
        channels: output channels of each stage (three by default: 32, 64, 128).
        input_quantizer: the sign of the hidden activations (binary only).
        weight_quantizer: the quantizer of every weight (binary only).
    """
    stages = len(channels)
    shape = check_image_args("mcu-bnn", num_classes, input_size, in_channels, 2**stages)
    if not channels or any(not isinstance(c, int) or c < 1 for c in channels):
        raise OnebitError(f"mcu-bnn: channels must be positive integers, got {channels!r}")
    activations = quantizer_or_none(binary, input_quantizer)
    weights = quantizer_or_none(binary, weight_quantizer)
    features: list[nn.Module] = []
    fan_in, side = in_channels, input_size
    for i, width in enumerate(channels):
        features += [
            QuantConv2d(
                fan_in,
                width,
                3,
                padding=1,
                bias=False,
                input_quantizer=None if i == 0 else activations,
                weight_quantizer=weights,
            ),
            nn.BatchNorm2d(width, **BATCH_NORM),
            nn.MaxPool2d(2),
        ]
        if not binary:
            features.append(nn.Hardtanh())
        fan_in, side = width, side // 2
    classifier = [
        QuantLinear(
            fan_in * side * side,
            num_classes,
            bias=False,
            input_quantizer=activations,
            weight_quantizer=weights,
        ),
        nn.BatchNorm1d(num_classes, **BATCH_NORM),
    ]
    return McuBNN(nn.Sequential(*features), nn.Sequential(*classifier), shape, num_classes, binary)
