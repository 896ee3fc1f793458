"""Bit-Mixer's meta-quantized MLP: every layer can run at any of its bit widths at test time
(Bulat & Tzimiropoulos, "Bit-Mixer: Mixed-precision networks with runtime bit-width selection",
ICCV 2021), and its fixed-precision counterpart (one width only).

Layout: ``Flatten -> [Linear -> TransitionalBatchNorm] x (depth + 1)``. A layer's width applies
to its weights (``nested_lsq``: stored once at the widest width) and to its input
(``switchable_lsq``, signed: the batch norm's output has both signs); the first layer reads the
pixels unquantized (8-bit planes in the packed engine: ``convert(..., input_quantization=...)``).

Training (``stage``, see ``onebit.train.bit_mixer``): in training mode the model draws a
configuration before each forward: stage 1 with real-valued activations (clipped to the
quantizer's range, which keeps the only nonlinearity) and one width for the whole network,
stage 2 with quantized activations, stage 3 per layer with probability
``layerwise_probability`` (ramped from 0 to 1 by the training schedule), else network-wide. In
eval mode it runs the configuration last set with :meth:`BitMixerMLP.set_bits` (the widest by
default), whatever training drew last. ``model(x, bits=...)`` runs one given configuration
in either mode (the widest one of in-place distillation, ``onebit.train.bit_mixer``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._factory import zoo_entry
from onebit.nn import QuantLinear
from onebit.nn.bitmixer import TransitionalBatchNorm, bit_layers, layer_bits, sample_bits, set_bits
from onebit.quantizers.switchable import NestedLSQ, SwitchableLSQ

STAGES = (1, 2, 3)


class BitMixerMLP(nn.Sequential):
    """An MLP of bit layers and transitional norms that draws its widths while training."""

    def __init__(
        self,
        layers: Sequence[nn.Module],
        input_shape: tuple[int, ...],
        num_classes: int,
        stage: int,
        train_bits: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__(*layers)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.stage = stage
        self.train_bits = train_bits
        self.layerwise_probability = 0.0  # saved with the state dict (get_extra_state)

    @property
    def bit_options(self) -> tuple[int, ...]:
        return bit_layers(self)[0].weight_quantizer.bit_options

    def set_bits(self, bits: int | Sequence[int]) -> None:
        """Run at ``bits`` (one width for every layer, or one per layer) in eval mode; training
        draws its own and eval mode returns to these."""
        set_bits(self, bits)
        self.eval_bits = layer_bits(self)

    def train(self, mode: bool = True) -> BitMixerMLP:
        super().train(mode)
        if not mode and hasattr(self, "eval_bits"):
            set_bits(self, self.eval_bits)
        return self

    @property
    def bits(self) -> tuple[int, ...]:
        return layer_bits(self)

    def get_extra_state(self) -> dict[str, float]:
        return {"layerwise_probability": self.layerwise_probability}

    def set_extra_state(self, state: dict[str, float]) -> None:
        self.layerwise_probability = float(state["layerwise_probability"])

    @property
    def widest(self) -> tuple[int, ...]:
        """The configuration with every layer at its widest width."""
        return (max(self.bit_options),) * len(self.bits)

    def draw_bits(self) -> tuple[int, ...]:
        """The configuration training runs at next: ``train_bits`` if set, else a draw that
        follows the stage (network-wide, or per layer with ``layerwise_probability``)."""
        if self.train_bits is not None:
            return self.train_bits
        draw = float(torch.rand((), device="cpu"))
        layerwise = self.stage == 3 and draw < self.layerwise_probability
        return sample_bits(self, layerwise)

    def forward(self, x: torch.Tensor, bits: Sequence[int] | None = None) -> torch.Tensor:
        """Run at ``bits`` (one width per layer) if given, else in training at a configuration
        :meth:`draw_bits` draws and in eval mode at the one last set with :meth:`set_bits`
        (``bits`` does not change that one)."""
        if bits is not None:
            set_bits(self, bits)
        elif self.training:
            set_bits(self, self.draw_bits())
        try:
            return super().forward(x)
        finally:
            if bits is not None and not self.training and hasattr(self, "eval_bits"):
                set_bits(self, self.eval_bits)


@zoo_entry("bitmixer-mlp", bit_options=(2, 3, 4))
def build_bitmixer_mlp(
    input_shape: Sequence[int],
    num_classes: int,
    hidden: int = 512,
    depth: int = 2,
    bit_options: Sequence[int] = (2, 3, 4),
    stage: int = 3,
    train_bits: Sequence[int] | None = None,
    momentum: float = 0.1,
) -> BitMixerMLP:
    """Build a Bit-Mixer MLP, or (``train_bits``) its fixed-precision counterpart.

    Args:
        input_shape: shape of one input, e.g. (1, 28, 28).
        num_classes: output units.
        hidden: units per hidden layer.
        depth: hidden layers.
        bit_options: the widths every layer can run at (2 to 8: the activations are signed).
        stage: the training stage (1, 2 or 3) whose sampling the model follows in training.
        train_bits: train at these widths only, one per layer (no draws): the fixed-precision
            network of that configuration (it runs at it in eval mode too).
        momentum: batch norm momentum.
    """
    if stage not in STAGES:
        raise OnebitError(f"stage must be 1, 2 or 3, got {stage!r}")
    if hidden < 1 or depth < 1 or num_classes < 2:
        raise OnebitError("hidden and depth must be at least 1 and num_classes at least 2")
    options = tuple(bit_options)
    widths = [math.prod(input_shape), *([hidden] * depth), num_classes]
    layers: list[nn.Module] = [nn.Flatten()]
    count = len(widths) - 1
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        activation = None if i == 0 else SwitchableLSQ(options, signed=True, enabled=stage > 1)
        layers.append(
            QuantLinear(
                fan_in,
                fan_out,
                bias=False,
                input_quantizer=activation,
                weight_quantizer=NestedLSQ(options),
                weight_clip=None,
            )
        )
        following = options if i + 1 < count else None
        layers.append(TransitionalBatchNorm(fan_out, options, following, momentum=momentum))
    fixed = None if train_bits is None else tuple(int(b) for b in train_bits)
    model = BitMixerMLP(layers, tuple(input_shape), num_classes, stage, fixed)
    model.set_bits(max(options) if fixed is None else fixed)
    return model
