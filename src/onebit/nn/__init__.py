"""Binary and quantized layers, and the block pieces of BNNs."""

from onebit.nn.activation import LearnableBias, RPReLU, RSign
from onebit.nn.base import (
    QuantizedLayer,
    binary_parameters,
    clip_latent_weights,
    quantized_layers,
    register_weight_clip,
)
from onebit.nn.conv import QuantConv1d, QuantConv2d
from onebit.nn.dynamic import DyPReLU, DySign, HyperFunction
from onebit.nn.embedding import QuantEmbedding
from onebit.nn.linear import QuantLinear
from onebit.nn.norm import ShiftBatchNorm1d, ShiftBatchNorm2d
from onebit.nn.shuffle import ChannelShuffle, channel_shuffle

__all__ = [
    "ChannelShuffle",
    "DyPReLU",
    "DySign",
    "HyperFunction",
    "LearnableBias",
    "QuantConv1d",
    "QuantConv2d",
    "QuantEmbedding",
    "QuantLinear",
    "QuantizedLayer",
    "RPReLU",
    "RSign",
    "ShiftBatchNorm1d",
    "ShiftBatchNorm2d",
    "binary_parameters",
    "channel_shuffle",
    "clip_latent_weights",
    "quantized_layers",
    "register_weight_clip",
]
