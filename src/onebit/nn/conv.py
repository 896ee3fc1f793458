"""``QuantConv2d`` and ``QuantConv1d``: ``nn.Conv2d`` and ``nn.Conv1d`` with quantized input and
weight, and a choice of pad value."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from onebit._registry import OnebitError
from onebit.nn.base import QuantizedLayer


class _QuantConv(QuantizedLayer):
    """What QuantConv1d and QuantConv2d share: the arguments, the pad value, the forward and the
    config; ``_torch_conv`` is the torch layer a subclass extends."""

    _torch_conv: Any  # nn.Conv1d or nn.Conv2d
    _functional: Any  # F.conv1d or F.conv2d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        input_quantizer: Any = None,
        weight_quantizer: Any = None,
        pad_value: float = 0.0,
        weight_clip: float | None = 1.0,
        alpha_scaling: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        self._torch_conv.__init__(
            self,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device=device,
            dtype=dtype,
        )
        if pad_value not in (0.0, 1.0):
            raise OnebitError(f"pad_value must be 0.0 or 1.0, got {pad_value!r}")
        if pad_value == 1.0 and padding_mode != "zeros":
            raise OnebitError(
                f"pad_value=1.0 pads with a constant; it cannot combine with "
                f"padding_mode={padding_mode!r}"
            )
        self.pad_value = float(pad_value)
        self._init_quantization(input_quantizer, weight_quantizer, weight_clip, alpha_scaling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quantized_input(x)
        w = self.quantized_weight()
        bias = None if self.alpha_scaling else self.bias
        if self.pad_value == 0.0 or not any(self._reversed_padding_repeated_twice):
            y = self._conv_forward(x, w, bias)
        else:
            x = F.pad(x, self._reversed_padding_repeated_twice, value=self.pad_value)
            y = self._functional(x, w, bias, self.stride, 0, self.dilation, self.groups)
        if self.alpha_scaling:
            y = y * self.alpha()
            if self.bias is not None:
                y = y + self.bias.view(1, -1, *([1] * (y.ndim - 2)))
        return y

    def get_config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias is not None,
            "padding_mode": self.padding_mode,
            "pad_value": self.pad_value,
            **self.quantization_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        for key in ("kernel_size", "stride", "dilation"):
            config[key] = tuple(config[key])
        if not isinstance(config["padding"], str):
            config["padding"] = tuple(config["padding"])
        return cls(**config)

    def extra_repr(self) -> str:
        extra = [super().extra_repr(), self.quantization_repr()]
        if self.pad_value:
            extra.append(f"pad_value={self.pad_value}")
        return ", ".join(filter(None, extra))


class QuantConv2d(_QuantConv, nn.Conv2d):
    """A drop-in ``nn.Conv2d`` whose input and weight pass through quantizers first.

    Zero padding is not a binary value: a binarized input padded with zeros needs three values
    (-1, 0, +1). ``pad_value=1.0`` pads the quantized input with +1 instead ("one-padding", as
    Larq's ``pad_values=1.0``), which keeps the layer purely binary; ``pad_value=0.0`` is
    ordinary zero padding. The packed engine runs both exactly.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, device, dtype: as ``nn.Conv2d``.
        input_quantizer: name, config dict, module or None.
        weight_quantizer: name, config dict, module or None.
        pad_value: 0.0 or 1.0, the value the quantized input is padded with.
        weight_clip: bound of the latent weights, applied after each optimizer step; None: off.
        alpha_scaling: multiply each output channel by XNOR-Net's ``alpha_c = mean |W_c|``
            (Rastegari et al., "XNOR-Net", ECCV 2016, eq. (4)).

    Reference: Courbariaux et al., "Binarized Neural Networks" (2016); Rastegari et al.,
    "XNOR-Net" (ECCV 2016).
    """

    _torch_conv = nn.Conv2d
    _functional = staticmethod(F.conv2d)


class QuantConv1d(_QuantConv, nn.Conv1d):
    """A drop-in ``nn.Conv1d`` whose input and weight pass through quantizers first: the binary
    convolution over a sequence (N, C, L), e.g. over the token embeddings of a text.

    As :class:`QuantConv2d` in every argument (one-padding with ``pad_value=1.0`` included); the
    converter runs it as a binary 2-D convolution of height 1. Kim, "Convolutional Neural
    Networks for Sentence Classification" (EMNLP 2014) is the text CNN this layer binarizes.
    """

    _torch_conv = nn.Conv1d
    _functional = staticmethod(F.conv1d)
