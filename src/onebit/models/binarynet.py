"""The ConvNet of the BNN paper for CIFAR-10, binary and full precision.

Courbariaux, Hubara, Soudry, El-Yaniv, Bengio, "Binarized Neural Networks: Training Deep Neural
Networks with Weights and Activations Constrained to +1 or -1" (arXiv:1602.02830, 2016): the
CIFAR-10 architecture ``(2x128C3)-MP2-(2x256C3)-MP2-(2x512C3)-MP2-(2x1024FC)-10`` (taken from
BinaryConnect, Courbariaux et al. 2015), Table 1 for its test error (11.40 % with the Theano code,
10.15 % with the Torch7 code). Code: the authors' ``MatthieuCourbariaux/BinaryNet``,
``Train-time/cifar10.py`` and ``binary_net.py``, whose layer order this file follows:

* every 3x3 convolution (padding 1) and every dense layer is binary with a bias (Lasagne's
  default, redundant before batch norm but kept as the authors had it);
* each is followed by batch norm (epsilon 1e-4, moving-average factor 0.1) and the sign; a pooled
  stage puts the 2x2 max-pool between the convolution and its batch norm;
* the first layer sees the real-valued image (binary weights); the last dense layer's batch norm
  gives the scores (the paper trains them with a squared hinge loss; this model returns logits).

``binary_tanh_unit`` of the authors' code is the sign in the forward pass with the gradient of
the hard tanh, i.e. ``ste_sign`` with ``clip_value=1``; their weights are binarized with
``sign(0) = +1``, updated straight through and clipped to [-1, 1], i.e. ``ste_sign`` with
``weight_clip=1``. In the full-precision twin (``binary=False``) each sign becomes ``nn.Hardtanh``,
the function whose gradient the sign borrows. Not carried over: the uniform(-1, 1) initialization
and the per-layer "Glorot" learning-rate scale of the binary weights (optimizer settings).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import FeatureClassifier, check_image_args, quantizer_or_none
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv2d, QuantLinear

# (output channels, max-pool after it) of each 3x3 convolution, at width 1
CONVOLUTIONS = ((128, False), (128, True), (256, False), (256, True), (512, False), (512, True))
HIDDEN_UNITS = (1024, 1024)
BATCH_NORM = {"eps": 1e-4, "momentum": 0.1}


class BinaryNetVGG(FeatureClassifier):
    """The BNN paper's CIFAR-10 ConvNet; see :func:`build_binarynet_vgg`."""


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def _sign_slot(binary: bool) -> list[nn.Module]:
    """What follows a hidden batch norm: nothing in the binary network, whose sign is the next
    layer's input quantizer; the hard tanh in the float twin."""
    return [] if binary else [nn.Hardtanh()]


@zoo_entry("binarynet-vgg")
def build_binarynet_vgg(
    *,
    num_classes: int,
    input_size: int,
    in_channels: int,
    binary: bool = True,
    width: float = 1.0,
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
) -> BinaryNetVGG:
    """Build the BNN paper's CIFAR-10 ConvNet (``binary=True``) or its float twin.

    Args:
        num_classes: output units.
        input_size: side of the square input image; the first dense layer's fan-in follows it
            (``512 * (input_size // 8) ** 2`` at width 1).
        in_channels: channels of the input image.
        binary: binarize weights and hidden activations; False gives the float twin, with
            ``nn.Hardtanh`` after each hidden batch norm, where the binary network signs.
        width: multiplies every layer's channels and units (1.0 is the paper's network; smaller
            values make quick tests).
        input_quantizer: the sign of the hidden activations (binary only).
        weight_quantizer: the quantizer of every weight (binary only).
    """
    shape = check_image_args("binarynet-vgg", num_classes, input_size, in_channels, 8)
    if not width > 0:
        raise OnebitError(f"binarynet-vgg: width must be positive, got {width!r}")
    activations = quantizer_or_none(binary, input_quantizer)
    weights = quantizer_or_none(binary, weight_quantizer)

    features: list[nn.Module] = []
    fan_in, side = in_channels, input_size
    for i, (channels, pool) in enumerate(CONVOLUTIONS):
        channels = _scaled(channels, width)
        features.append(
            QuantConv2d(
                fan_in,
                channels,
                3,
                padding=1,
                input_quantizer=None if i == 0 else activations,
                weight_quantizer=weights,
            )
        )
        if pool:
            features.append(nn.MaxPool2d(2))
            side //= 2
        features += [nn.BatchNorm2d(channels, **BATCH_NORM), *_sign_slot(binary)]
        fan_in = channels

    classifier: list[nn.Module] = []
    fan_in = fan_in * side * side
    for units in (_scaled(u, width) for u in HIDDEN_UNITS):
        classifier += [
            QuantLinear(fan_in, units, input_quantizer=activations, weight_quantizer=weights),
            nn.BatchNorm1d(units, **BATCH_NORM),
            *_sign_slot(binary),
        ]
        fan_in = units
    classifier += [
        QuantLinear(fan_in, num_classes, input_quantizer=activations, weight_quantizer=weights),
        nn.BatchNorm1d(num_classes, **BATCH_NORM),
    ]
    return BinaryNetVGG(
        nn.Sequential(*features), nn.Sequential(*classifier), shape, num_classes, binary
    )
