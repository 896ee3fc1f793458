"""Block pieces of modern BNNs: a learnable per-channel shift, ReActNet's RSign and RPReLU.

Per-channel parameters broadcast over dimension 1, so each module serves both ``(N, C)`` and
``(N, C, H, W)`` inputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from onebit import quantizers


def _per_channel(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return p.view(1, -1, *([1] * (x.ndim - 2)))


class LearnableBias(nn.Module):
    """Adds a learnable per-channel bias: ``y = x + b_c`` (ReActNet's "move" operation).

    Reference: Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Network with
    Generalized Activation Functions" (ECCV 2020), eq. (2)-(3).
    """

    def __init__(self, num_channels: int) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _per_channel(self.bias, x)

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}"


class RSign(nn.Module):
    """ReActNet's RSign: ``y = sign(x - alpha_c)`` with a learnable per-channel threshold.

    The threshold is a :class:`LearnableBias` (``bias = -alpha``) followed by a quantizer, so the
    converter folds it into the next layer's integer threshold like any other shift.

    Args:
        num_channels: channels of the input (dimension 1).
        quantizer: the sign quantizer (default ``ste_sign``; ReActNet uses ``approx_sign``).

    Reference: Liu et al., "ReActNet" (ECCV 2020), eq. (3).
    """

    def __init__(self, num_channels: int, quantizer: Any = "ste_sign") -> None:
        super().__init__()
        self.shift = LearnableBias(num_channels)
        self.quantizer = quantizers.get(quantizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantizer(self.shift(x))


class RPReLU(nn.Module):
    """ReActNet's RPReLU: ``y = PReLU_c(x - gamma_c) + zeta_c``, all three per channel.

    Reference: Liu et al., "ReActNet" (ECCV 2020), eq. (4).
    """

    def __init__(self, num_channels: int, init: float = 0.25) -> None:
        super().__init__()
        self.shift_in = LearnableBias(num_channels)
        self.prelu = nn.PReLU(num_channels, init=init)
        self.shift_out = LearnableBias(num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shift_out(self.prelu(self.shift_in(x)))
