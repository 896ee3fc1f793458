"""``QuantEmbedding``: ``nn.Embedding`` whose table passes through a weight quantizer."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from onebit.nn.base import QuantizedLayer


class QuantEmbedding(QuantizedLayer, nn.Embedding):
    """A drop-in ``nn.Embedding`` whose table is quantized before the lookup.

    With ``weight_quantizer="ste_sign"`` every token maps to a vector of +-1, stored one bit per
    dimension: the binary embedding of binary text classifiers (Shen et al., "Binary Embedding-
    based Retrieval", 2019, and the 1-bit word vectors of Tissier et al., "Near-lossless
    Binarization of Word Embeddings", AAAI 2019). The latent table stays real for training and
    is clipped to ``[-weight_clip, weight_clip]`` after each step, as the other layers' weights;
    the straight-through gradient reaches only the rows that a batch looked up. The output is
    ``nn.Embedding``'s, (N, L, D); ``x.transpose(1, 2)`` gives a convolution its (N, D, L).

    Args:
        num_embeddings, embedding_dim, padding_idx, max_norm, norm_type, scale_grad_by_freq,
        sparse, device, dtype: as ``nn.Embedding``.
        weight_quantizer: name, config dict, module or None.
        weight_clip: bound of the latent table, applied after each optimizer step; None: off.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        weight_quantizer: Any = None,
        weight_clip: float | None = 1.0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        nn.Embedding.__init__(
            self,
            num_embeddings,
            embedding_dim,
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            device=device,
            dtype=dtype,
        )
        self._init_quantization(None, weight_quantizer, weight_clip, alpha_scaling=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(
            x,
            self.quantized_weight(),
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def get_config(self) -> dict[str, Any]:
        config = self.quantization_config()
        del config["input_quantizer"], config["alpha_scaling"]
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "padding_idx": self.padding_idx,
            "max_norm": self.max_norm,
            "norm_type": self.norm_type,
            "scale_grad_by_freq": self.scale_grad_by_freq,
            "sparse": self.sparse,
            **config,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> QuantEmbedding:
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [super().extra_repr(), self.quantization_repr()]))
