"""Binary AlexNets of the Larq zoo: BinaryAlexNet (the BNN paper's) and XNOR-Net.

Both follow ``larq/zoo`` (``larq_zoo/literature/binary_alex_net.py`` and ``xnornet.py``) layer for
layer, Keras conventions included:

* batch norm is Keras' ``BatchNormalization(scale=False)``: no learned scale, only a learned
  shift, here ``nn.BatchNorm2d(affine=False)`` followed by a :class:`~onebit.nn.LearnableBias`;
  Keras' momentum 0.9 is PyTorch's 0.1, and each layer keeps the source's epsilon;
* ``padding="same"`` pads ``k // 2`` for the stride-1 layers; for the 11x11 stride-4 first layer
  it pads ``(pad // 2, pad - pad // 2)``, asymmetric at most input sizes (224 included), which
  an ``nn.ZeroPad2d`` in front of the convolution reproduces; binary layers pad with zeros;
* max-pools are 3x3 with stride 2 and no padding.

The float twins (``binary=False``) put ``nn.ReLU``, AlexNet's activation, where the binary
networks have their signs, and use full-precision weights everywhere.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import FeatureClassifier, check_image_args, quantizer_or_none
from onebit.models._factory import zoo_entry
from onebit.nn import LearnableBias, QuantConv2d, QuantLinear

KERAS_EPSILON = 1e-3  # BatchNormalization's default
MIN_INPUT_SIZE = 57  # the three 3x3 stride-2 max-pools need a 15x15 map after the first layer


class BinaryAlexNet(FeatureClassifier):
    """The Larq zoo's BinaryAlexNet; see :func:`build_binary_alexnet`."""


class XNORNet(FeatureClassifier):
    """The Larq zoo's XNOR-Net; see :func:`build_xnornet`."""


def shift_batch_norm(channels: int, eps: float = KERAS_EPSILON, dims: int = 2) -> nn.Sequential:
    """Keras' ``BatchNormalization(scale=False, momentum=0.9)``: normalize, then a learned shift."""
    norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return nn.Sequential(
        norm(channels, eps=eps, momentum=0.1, affine=False), LearnableBias(channels)
    )


def _sign_slot(binary: bool) -> list[nn.Module]:
    """What follows a batch norm that feeds a sign: nothing in the binary network, whose sign is
    the next layer's input quantizer; ReLU in the float twin."""
    return [] if binary else [nn.ReLU()]


def _pool_side(side: int) -> int:
    return (side - 3) // 2 + 1


def _stem(
    in_channels: int, out_channels: int, input_size: int, layer: type[nn.Conv2d], **kwargs: Any
) -> tuple[list[nn.Module], int]:
    """The 11x11 stride-4 first layer with Keras' "same" padding; returns (modules, output side)."""
    side = math.ceil(input_size / 4)
    pad = max((side - 1) * 4 + 11 - input_size, 0)
    before, after = pad // 2, pad - pad // 2
    if before == after:
        return [layer(in_channels, out_channels, 11, stride=4, padding=before, **kwargs)], side
    return [
        nn.ZeroPad2d((before, after, before, after)),
        layer(in_channels, out_channels, 11, 4, **kwargs),
    ], side


@zoo_entry("binary-alexnet")
def build_binary_alexnet(
    *,
    num_classes: int,
    input_size: int,
    in_channels: int,
    binary: bool = True,
    inflation_ratio: int = 1,
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
) -> BinaryAlexNet:
    """Build the Larq zoo's BinaryAlexNet (``binary=True``) or its float twin.

    Five binary convolutions (64 11x11/4, 192 5x5, 384 3x3, 384 3x3, 256 3x3, no bias), max-pools
    after the first, second and fifth, a scale-free batch norm after each (after the pool where
    there is one), then three binary dense layers (4096, 4096, ``num_classes``, no bias) each
    with its batch norm. Every layer's weights are binary; every input is binary except the
    image. The last batch norm gives the logits (the source ends in a softmax).

    Args:
        num_classes: output units.
        input_size: side of the square input image (at least 57).
        in_channels: channels of the input image.
        binary: binarize weights and activations; False gives the float twin (ReLU for the sign).
        inflation_ratio: widens the first four convolutions (the zoo's ``inflation_ratio``).
        input_quantizer: the activation sign (binary only).
        weight_quantizer: the weight quantizer of every layer (binary only).
    """
    shape = check_image_args("binary-alexnet", num_classes, input_size, in_channels, MIN_INPUT_SIZE)
    if not isinstance(inflation_ratio, int) or inflation_ratio < 1:
        raise OnebitError(
            f"binary-alexnet: inflation_ratio must be a positive integer, got {inflation_ratio!r}"
        )
    activations = quantizer_or_none(binary, input_quantizer)
    weights = quantizer_or_none(binary, weight_quantizer)
    binary_layer = {"weight_quantizer": weights, "bias": False}

    stem, side = _stem(in_channels, 64 * inflation_ratio, input_size, QuantConv2d, **binary_layer)
    features: list[nn.Module] = [
        *stem,
        nn.MaxPool2d(3, 2),
        shift_batch_norm(64 * inflation_ratio),
        *_sign_slot(binary),
    ]
    side = _pool_side(side)
    fan_in = 64 * inflation_ratio
    for channels, kernel, pool in (
        (192, 5, True),
        (384, 3, False),
        (384, 3, False),
        (256, 3, True),
    ):
        channels = channels if channels == 256 else channels * inflation_ratio
        features.append(
            QuantConv2d(
                fan_in,
                channels,
                kernel,
                padding=kernel // 2,
                input_quantizer=activations,
                **binary_layer,
            )
        )
        if pool:
            features.append(nn.MaxPool2d(3, 2))
            side = _pool_side(side)
        features += [shift_batch_norm(channels), *_sign_slot(binary)]
        fan_in = channels

    classifier: list[nn.Module] = []
    fan_in = fan_in * side * side
    for units in (4096, 4096):
        classifier += [
            QuantLinear(fan_in, units, input_quantizer=activations, **binary_layer),
            shift_batch_norm(units, dims=1),
            *_sign_slot(binary),
        ]
        fan_in = units
    classifier += [
        QuantLinear(fan_in, num_classes, input_quantizer=activations, **binary_layer),
        shift_batch_norm(num_classes, dims=1),
    ]
    return BinaryAlexNet(
        nn.Sequential(*features), nn.Sequential(*classifier), shape, num_classes, binary
    )


@zoo_entry("xnornet-alexnet")
def build_xnornet(
    *,
    num_classes: int,
    input_size: int,
    in_channels: int,
    binary: bool = True,
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
) -> XNORNet:
    """Build the Larq zoo's XNOR-Net (``binary=True``) or its float twin.

    A full-precision first layer (96 11x11/4, no bias) with batch norm, ReLU, max-pool and batch
    norm; then XNOR-Net's blocks, batch norm -> sign -> binary convolution (-> max-pool): 256
    5x5 (pooled), 384 3x3, 384 3x3, 256 3x3 (pooled), a 6x6 "valid" convolution of 4096 filters
    and a 1x1 one of 4096, all without bias; a batch norm and ReLU after the last, and a
    full-precision dense classifier without bias. Binary weights are scaled per output channel
    by ``alpha = mean |W|`` (XNOR-Net eq. (4); the zoo's ``xnor_weight_scale``), which
    ``QuantConv2d(alpha_scaling=True)`` computes with the gradient flowing through alpha, as in
    the zoo. Where the map before the 6x6 layer is smaller than 6 (input below 224), that layer's
    kernel covers the whole map, so the model builds at small input sizes.

    Args:
        num_classes: output units.
        input_size: side of the square input image (at least 57).
        in_channels: channels of the input image.
        binary: binarize the middle layers; False gives the float twin (ReLU for the sign, no
            alpha scaling).
        input_quantizer: the activation sign (binary only).
        weight_quantizer: the weight quantizer, scaled by alpha (binary only).
    """
    shape = check_image_args(
        "xnornet-alexnet", num_classes, input_size, in_channels, MIN_INPUT_SIZE
    )
    activations = quantizer_or_none(binary, input_quantizer)
    binary_layer = {
        "input_quantizer": activations,
        "weight_quantizer": quantizer_or_none(binary, weight_quantizer),
        "alpha_scaling": binary,
        "bias": False,
    }

    stem, side = _stem(in_channels, 96, input_size, nn.Conv2d, bias=False)
    features: list[nn.Module] = [
        *stem,
        shift_batch_norm(96, eps=1e-5),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        shift_batch_norm(96, eps=1e-4),
        *_sign_slot(binary),
    ]
    side = _pool_side(side)
    fan_in = 96
    for channels, kernel, pool in (
        (256, 5, True),
        (384, 3, False),
        (384, 3, False),
        (256, 3, True),
    ):
        features.append(QuantConv2d(fan_in, channels, kernel, padding=kernel // 2, **binary_layer))
        if pool:
            features.append(nn.MaxPool2d(3, 2))
            side = _pool_side(side)
        features += [shift_batch_norm(channels, eps=1e-4), *_sign_slot(binary)]
        fan_in = channels
    kernel = min(6, side)
    side = side - kernel + 1
    features += [
        QuantConv2d(fan_in, 4096, kernel, **binary_layer),
        shift_batch_norm(4096, eps=1e-4),
        *_sign_slot(binary),
        QuantConv2d(4096, 4096, 1, **binary_layer),
        shift_batch_norm(4096, eps=1e-3),
        nn.ReLU(),
    ]
    classifier = nn.Linear(4096 * side * side, num_classes, bias=False)
    return XNORNet(nn.Sequential(*features), classifier, shape, num_classes, binary)
