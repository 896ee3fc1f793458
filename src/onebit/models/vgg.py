"""A binary VGG-16 in the style of BinaryNet.pytorch.

BinaryNet.pytorch (``itayhubara/BinaryNet.pytorch``, the PyTorch code of Hubara, Courbariaux,
Soudry, El-Yaniv, Bengio, "Binarized Neural Networks", NIPS 2016) has one VGG, the CIFAR-10
network of ``models/vgg_cifar10_binary.py``, and no VGG-16. This model puts VGG-16's layers
(Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015, Table 1 configuration D: thirteen 3x3 convolutions of 64-64, 128-128, 256x3, 512x3,
512x3 channels with a 2x2 max-pool after each group, then 4096-4096-``num_classes`` dense layers)
into that file's binary layer pattern:

* each ``BinarizeConv2d`` (3x3, padding 1, with bias) is followed by the group's max-pool when it
  closes a group, then ``BatchNorm2d`` and Hardtanh (pool *before* batch norm);
* the image input of the first convolution stays real-valued, its weights are binary; every
  other layer binarizes its input and weights (``sign(0) = +1``, straight-through gradient);
* the classifier is ``BinarizeLinear`` (with bias) -> ``BatchNorm1d`` -> Hardtanh twice, without
  dropout (commented out in the source), then ``BinarizeLinear`` -> ``BatchNorm1d(affine=False)``;
  the source's LogSoftmax is left to the loss, so the model returns logits;
* the flattened features go straight to the classifier (``512 * (input_size // 32) ** 2`` of
  them; 25088 at 224, as in torchvision's VGG-16).

In the binary network each Hardtanh only feeds the next layer's sign, and
``sign(hardtanh(x)) = sign(x)`` with the gradient of the hard tanh: that is ``ste_sign`` with
``clip_value=1``, the next layer's input quantizer, so the binary network has no separate
Hardtanh and its batch norms fold into integer thresholds when converted. The full-precision twin
(``binary=False``) keeps the source's Hardtanh layers and drops only the binarization.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from onebit.models._common import FeatureClassifier, check_image_args, quantizer_or_none
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv2d, QuantLinear

# VGG configuration D: channels, "M" = 2x2 max-pool
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
HIDDEN_UNITS = (4096, 4096)


class BinaryVGG(FeatureClassifier):
    """A binary VGG in BinaryNet.pytorch's style; see :func:`build_binary_vgg`."""


def _sign_slot(binary: bool) -> list[nn.Module]:
    """What follows a hidden batch norm: nothing in the binary network, whose sign is the next
    layer's input quantizer; the source's Hardtanh in the float twin."""
    return [] if binary else [nn.Hardtanh()]


@zoo_entry("binary-vgg16", layers=VGG16, name="binary-vgg16")
def build_binary_vgg(
    layers: tuple[int | str, ...],
    name: str,
    *,
    num_classes: int,
    input_size: int,
    in_channels: int,
    binary: bool = True,
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
) -> BinaryVGG:
    """Build a binary VGG of configuration ``layers`` (``binary=True``) or its float twin.

    Args:
        layers: channels of each 3x3 convolution, "M" for a 2x2 max-pool (closing a group).
        name: the model's name in error messages.
        num_classes: output units.
        input_size: side of the square input image, at least ``2 ** pools``.
        in_channels: channels of the input image.
        binary: binarize weights and activations; False gives the float twin (Hardtanh).
        input_quantizer: the sign of every layer's input but the first (binary only).
        weight_quantizer: the quantizer of every layer's weights (binary only).
    """
    pools = layers.count("M")
    shape = check_image_args(name, num_classes, input_size, in_channels, 2**pools)
    activations = quantizer_or_none(binary, input_quantizer)
    weights = quantizer_or_none(binary, weight_quantizer)

    features: list[nn.Module] = []
    fan_in, side = in_channels, input_size
    for i, item in enumerate(layers):
        if item == "M":
            continue
        first = not features
        features.append(
            QuantConv2d(
                fan_in,
                item,
                3,
                padding=1,
                input_quantizer=None if first else activations,
                weight_quantizer=weights,
            )
        )
        if i + 1 < len(layers) and layers[i + 1] == "M":
            features.append(nn.MaxPool2d(2, 2))
            side //= 2
        features += [nn.BatchNorm2d(item), *_sign_slot(binary)]
        fan_in = item

    classifier: list[nn.Module] = []
    fan_in = fan_in * side * side
    for units in HIDDEN_UNITS:
        classifier += [
            QuantLinear(fan_in, units, input_quantizer=activations, weight_quantizer=weights),
            nn.BatchNorm1d(units),
            *_sign_slot(binary),
        ]
        fan_in = units
    classifier += [
        QuantLinear(fan_in, num_classes, input_quantizer=activations, weight_quantizer=weights),
        nn.BatchNorm1d(num_classes, affine=False),  # as in the source: no affine parameters
    ]
    return BinaryVGG(
        nn.Sequential(*features), nn.Sequential(*classifier), shape, num_classes, binary
    )
