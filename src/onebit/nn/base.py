"""What every quantized layer shares: its quantizers, its latent-weight clip and its declaration of
which parameters are stored at low precision.

The declaration (``QuantizedLayer.quantized_parameters``) is the single source the optimizer
grouping, the model summary and the converter read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from onebit import quantizers
from onebit._registry import OnebitError


class QuantizedLayer:
    """Mixin for layers whose input and weight pass through quantizers before the float op.

    Latent real-valued weights are kept for training; ``weight_clip`` bounds them to
    ``[-weight_clip, weight_clip]`` after each optimizer step (see :func:`clip_latent_weights`),
    which keeps them where the straight-through gradient is non-zero (Courbariaux et al., 2016,
    sec. 1.2). ``weight_clip=None`` switches the clip off; it never applies to a layer whose
    weight is not quantized (no quantizer, or the 32-bit ``identity``).
    """

    weight: nn.Parameter

    def _init_quantization(
        self,
        input_quantizer: Any,
        weight_quantizer: Any,
        weight_clip: float | None,
        alpha_scaling: bool,
    ) -> None:
        self.input_quantizer = quantizers.get(input_quantizer)
        self.weight_quantizer = quantizers.get(weight_quantizer)
        if weight_clip is not None and not weight_clip > 0:
            raise OnebitError(f"weight_clip must be positive or None, got {weight_clip!r}")
        self.weight_clip = None if weight_clip is None else float(weight_clip)
        self.alpha_scaling = bool(alpha_scaling)

    @property
    def input_precision(self) -> int:
        return quantizers.precision_of(self.input_quantizer)

    @property
    def weight_precision(self) -> int:
        return quantizers.precision_of(self.weight_quantizer)

    @property
    def is_binary(self) -> bool:
        """Both operands are 1 bit: the layer runs as XNOR-popcount in the engine."""
        return self.input_precision == 1 and self.weight_precision == 1

    def quantized_parameters(self) -> dict[str, int]:
        """Parameter name -> stored bit width, for the parameters stored below 32 bits."""
        precision = self.weight_precision
        return {"weight": precision} if precision < 32 else {}

    def quantized_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.input_quantizer is None else self.input_quantizer(x)

    def quantized_weight(self) -> torch.Tensor:
        w = self.weight
        return w if self.weight_quantizer is None else self.weight_quantizer(w)

    def alpha(self) -> torch.Tensor:
        """XNOR-Net's per-output-channel scale ``alpha_c = mean |W_c|`` (Rastegari et al. 2016,
        eq. (4)), shaped to broadcast over the output; gradients flow through it, as in eq. (7)."""
        reduce_dims = tuple(range(1, self.weight.ndim))
        a = self.weight.abs().mean(dim=reduce_dims)
        return a.view(1, -1, *([1] * (self.weight.ndim - 2)))

    @torch.no_grad()
    def clip_weight_(self) -> None:
        """Clip the latent weight in place, when this layer has a clip and a weight quantizer."""
        if self.weight_clip is not None and self.weight_precision < 32:
            self.weight.clamp_(-self.weight_clip, self.weight_clip)

    def quantization_config(self) -> dict[str, Any]:
        def config_of(q: Any) -> Any:
            if q is None:
                return None
            if hasattr(q, "get_config"):
                return q.get_config()
            raise OnebitError(f"quantizer {q!r} has no get_config(); it cannot be saved as config")

        return {
            "input_quantizer": config_of(self.input_quantizer),
            "weight_quantizer": config_of(self.weight_quantizer),
            "weight_clip": self.weight_clip,
            "alpha_scaling": self.alpha_scaling,
        }

    def quantization_repr(self) -> str:
        parts = []
        if self.weight_quantizer is not None:
            parts.append(f"weight_clip={self.weight_clip}")
        if self.alpha_scaling:
            parts.append("alpha_scaling=True")
        return ", ".join(parts)


def quantized_layers(model: nn.Module) -> Iterator[tuple[str, QuantizedLayer]]:
    """Every quantized layer of ``model`` with its qualified name."""
    for name, module in model.named_modules():
        if isinstance(module, QuantizedLayer):
            yield name, module


def binary_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """The latent parameters that a layer declares 1-bit, with their qualified names."""
    for layer_name, layer in quantized_layers(model):
        for param_name, bits in layer.quantized_parameters().items():
            if bits == 1:
                prefix = f"{layer_name}." if layer_name else ""
                yield prefix + param_name, getattr(layer, param_name)


def clip_latent_weights(model: nn.Module) -> None:
    """Apply every quantized layer's latent-weight clip; call after each optimizer step."""
    for _, layer in quantized_layers(model):
        layer.clip_weight_()


def register_weight_clip(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Make ``optimizer.step()`` clip ``model``'s latent weights afterwards; returns the handle."""
    return optimizer.register_step_post_hook(lambda *_: clip_latent_weights(model))
