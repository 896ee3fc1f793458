"""A binary text CNN: binary token embeddings, binary 1-D convolutions over the sequence, a mean
over time, and a binary classifier.

The layout is Kim's sentence CNN ("Convolutional Neural Networks for Sentence Classification",
EMNLP 2014: embeddings, convolutions over word windows, max-over-time pooling, a dense
classifier), made binary with the BNN paper's parts (Courbariaux et al., "Binarized Neural
Networks", 2016: +-1 weights and activations, a batch norm before each sign)::

    token ids (N, L) -> binary embedding (a D-bit vector per token) -> (N, D, L)
      -> [binary conv1d k (one-padded) -> BatchNorm1d] x layers   (the sign is the next input)
      -> mean over time -> binary dense -> BatchNorm1d -> one score per class

Deviations from Kim: the windows are stacked (``layers`` convolutions of one width) rather than
parallel widths, there is no dropout, and the pool over time is a mean by default. Kim's max
over time (``pool="max"``) follows the batch norm, so it is a maximum of signs, an OR of packed
bits in the engine: over a whole description nearly every channel fires somewhere, and the
classifier sees little. On debian-packages (3 epochs, lr 3e-3, selection seed 100) the mean
reached 64.2% validation accuracy against 39.9% for the max. Token 0 is padding: its binary
embedding is all +1, the value the convolutions pad with. ``binary=False`` gives the float twin:
the same layers with real weights, a real embedding and ``nn.Hardtanh`` where the binary network
signs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import quantizer_or_none
from onebit.models._factory import zoo_entry
from onebit.nn import QuantConv1d, QuantEmbedding, QuantLinear

PAD_TOKEN = 0
"""The id of padding; a text shorter than the sequence ends in it."""
BATCH_NORM = {"eps": 1e-4, "momentum": 0.1}


class TextCNN(nn.Module):
    """Token ids (N, L) in, one score per class out; see :func:`build_text_cnn`."""

    def __init__(
        self,
        embedding: QuantEmbedding,
        features: nn.Sequential,
        classifier: nn.Sequential,
        seq_len: int,
        num_classes: int,
        binary: bool,
        pool: str = "mean",
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.features = features
        self.pool = nn.AdaptiveMaxPool1d(1) if pool == "max" else nn.AdaptiveAvgPool1d(1)
        self.classifier = classifier
        self.input_shape = (seq_len,)
        self.input_dtype = torch.int64
        self.vocab_size = embedding.num_embeddings
        self.num_classes = num_classes
        self.binary = binary

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@zoo_entry("text-cnn")
def build_text_cnn(
    *,
    vocab_size: int,
    seq_len: int,
    num_classes: int,
    binary: bool = True,
    embedding_dim: int = 64,
    channels: int = 128,
    kernel_size: int = 3,
    layers: int = 2,
    pool: str = "mean",
    input_quantizer: Any = "ste_sign",
    weight_quantizer: Any = "ste_sign",
) -> TextCNN:
    """Build the binary text CNN (``binary=True``) or its float twin.

    Args:
        vocab_size: token ids run over ``0..vocab_size - 1`` (0 is padding).
        seq_len: tokens per text (the data pads or cuts every text to it).
        num_classes: output units.
        binary: binarize the embedding, the weights and the hidden activations.
        embedding_dim: bits (binary) or reals per token.
        channels: output channels of every convolution.
        kernel_size: tokens per convolution window (odd: padded by ``kernel_size // 2``).
        layers: convolutions in sequence.
        pool: "mean" over time, or "max" (Kim's max over time).
        input_quantizer: the sign of the hidden activations (binary only).
        weight_quantizer: the quantizer of the embedding and every weight (binary only).
    """
    for arg, value, least in (
        ("vocab_size", vocab_size, 2),
        ("seq_len", seq_len, 1),
        ("num_classes", num_classes, 2),
        ("embedding_dim", embedding_dim, 1),
        ("channels", channels, 1),
        ("kernel_size", kernel_size, 1),
        ("layers", layers, 1),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise OnebitError(f"text-cnn: {arg} must be an integer >= {least}, got {value!r}")
    if pool not in ("max", "mean"):
        raise OnebitError(f"text-cnn: pool must be 'max' or 'mean', got {pool!r}")
    if kernel_size % 2 == 0:
        raise OnebitError(f"text-cnn: kernel_size must be odd, got {kernel_size}")
    activations = quantizer_or_none(binary, input_quantizer)
    weights = quantizer_or_none(binary, weight_quantizer)
    embedding = QuantEmbedding(
        vocab_size, embedding_dim, padding_idx=PAD_TOKEN, weight_quantizer=weights
    )
    features: list[nn.Module] = []
    fan_in = embedding_dim
    for _ in range(layers):
        features += [
            QuantConv1d(
                fan_in,
                channels,
                kernel_size,
                padding=kernel_size // 2,
                bias=False,
                input_quantizer=activations,
                weight_quantizer=weights,
                pad_value=1.0 if binary else 0.0,
            ),
            nn.BatchNorm1d(channels, **BATCH_NORM),
        ]
        if not binary:
            features.append(nn.Hardtanh())
        fan_in = channels
    classifier = nn.Sequential(
        QuantLinear(
            channels, num_classes, bias=False, input_quantizer=activations, weight_quantizer=weights
        ),
        nn.BatchNorm1d(num_classes, **BATCH_NORM),
    )
    return TextCNN(
        embedding, nn.Sequential(*features), classifier, seq_len, num_classes, binary, pool
    )
