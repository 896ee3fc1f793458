"""A binary CNN keyword spotter for microcontrollers: about 31 KB of packed weights.

The task and input follow Zhang et al., "Hello Edge: Keyword Spotting on Microcontrollers",
arXiv:1711.07128 (2017): a one-second clip as a 40 x 49 log-mel spectrogram (mel bands x 20 ms
frames, :data:`onebit.audio.FRONTEND`), classified by a small CNN. The layers are the BNN paper's
(Courbariaux et al., "Binarized Neural Networks", 2016: binary weights and activations, batch norm
before each sign, the first layer's input left real), in the layout of onebit's ``mcu-bnn``:
each stage is ``3x3 conv (padding 1) -> batch norm -> 2x2 max-pool``, the sign being the next
layer's input quantizer, so the converter pools packed bits; a binary dense layer and a batch
norm give the scores.

Where it departs from Hello Edge's CNNs: every weight and hidden activation is one bit (Hello
Edge quantizes to 8 bits); the convolutions are square 3x3 with max-pooling instead of its
rectangular time-frequency filters with strides (pooling after the batch norm is what lets the
binary network pool signs); and the features are log-mel energies, not MFCCs (a DCT would mix
the bands the binary first layer adds and subtracts). Four stages of 32, 64, 128 and 128
channels keep the packed weights near 31 KB, under the 64 KB budget of a small microcontroller's
flash, with room for the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import FeatureClassifier, quantizer_or_none
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv2d, QuantLinear

CHANNELS = (32, 64, 128, 128)
BATCH_NORM = {"eps": 1e-4, "momentum": 0.1}


class KwsBNN(FeatureClassifier):
    """The keyword spotter; see :func:`build_kws_bnn`."""


def _check_args(num_classes: Any, input_shape: Any, channels: Any) -> tuple[int, int, int]:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise OnebitError(f"kws-bnn: num_classes must be an integer >= 2, got {num_classes!r}")
    if (
        not isinstance(channels, Sequence)
        or not channels
        or any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in channels)
    ):
        raise OnebitError(f"kws-bnn: channels must be positive integers, got {channels!r}")
    least = 2 ** len(channels)
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else ()
    if (
        len(shape) != 3
        or any(not isinstance(d, int) or isinstance(d, bool) for d in shape)
        or shape[0] < 1
        or min(shape[1:]) < least
    ):
        raise OnebitError(
            f"kws-bnn: input_shape must be (channels, mel bands, frames) with both sides >= "
            f"{least} for {len(channels)} pooling stages, got {input_shape!r}"
        )
    return shape  # type: ignore[return-value]


@zoo_entry("kws-bnn")
def build_kws_bnn(
    *,
    num_classes: int,
    input_shape: Sequence[int],
    binary: bool = True,
    channels: Sequence[int] = CHANNELS,
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
) -> KwsBNN:
    """Build the keyword spotter (``binary=True``) or its float twin.

    Args:
        num_classes: keywords (output units).
        input_shape: ``(1, n_mels, frames)`` of the log-mel input; each stage halves both
            sides (floor).
        binary: binarize weights and hidden activations; False gives the float twin, with
            ``nn.Hardtanh`` where the binary network signs.
        channels: output channels of each stage.
        input_quantizer: the sign of the hidden activations (binary only).
        weight_quantizer: the quantizer of every weight (binary only).
    """
    shape = _check_args(num_classes, input_shape, channels)
    activations = quantizer_or_none(binary, input_quantizer)
    weights = quantizer_or_none(binary, weight_quantizer)
    features: list[nn.Module] = []
    fan_in, height, width = shape
    for i, out in enumerate(channels):
        features += [
            QuantConv2d(
                fan_in,
                out,
                3,
                padding=1,
                bias=False,
                input_quantizer=None if i == 0 else activations,
                weight_quantizer=weights,
            ),
            nn.BatchNorm2d(out, **BATCH_NORM),
            nn.MaxPool2d(2),
        ]
        if not binary:
            features.append(nn.Hardtanh())
        fan_in, height, width = out, height // 2, width // 2
    classifier = [
        QuantLinear(
            fan_in * height * width,
            num_classes,
            bias=False,
            input_quantizer=activations,
            weight_quantizer=weights,
        ),
        nn.BatchNorm1d(num_classes, **BATCH_NORM),
    ]
    return KwsBNN(nn.Sequential(*features), nn.Sequential(*classifier), shape, num_classes, binary)
