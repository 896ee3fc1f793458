"""``QuantLinear``: ``nn.Linear`` with quantized input and weight."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from onebit.nn.base import QuantizedLayer


class QuantLinear(QuantizedLayer, nn.Linear):
    """A drop-in ``nn.Linear`` whose input and weight pass through quantizers first.

    ``y = q_in(x) @ q_w(W).T (* alpha) + b``. With ``ste_sign`` for both quantizers it is the
    binary fully connected layer of Courbariaux et al., "Binarized Neural Networks" (2016); a
    quantizer left None keeps that operand full precision (as for a BNN's first layer input).

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.
        input_quantizer: name, config dict, module or None.
        weight_quantizer: name, config dict, module or None.
        weight_clip: bound of the latent weights, applied after each optimizer step; None: off.
        alpha_scaling: multiply each output by XNOR-Net's ``alpha_c = mean |W_c|`` (Rastegari
            et al., "XNOR-Net", ECCV 2016, eq. (4)).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        input_quantizer: Any = None,
        weight_quantizer: Any = None,
        weight_clip: float | None = 1.0,
        alpha_scaling: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias, device=device, dtype=dtype)
        self._init_quantization(input_quantizer, weight_quantizer, weight_clip, alpha_scaling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quantized_input(x)
        w = self.quantized_weight()
        if not self.alpha_scaling:
            return F.linear(x, w, self.bias)
        y = F.linear(x, w) * self.alpha()
        return y if self.bias is None else y + self.bias

    def get_config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            **self.quantization_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> QuantLinear:
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, [super().extra_repr(), self.quantization_repr()]))
