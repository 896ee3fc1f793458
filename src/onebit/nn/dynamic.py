"""Binarization that adapts to each input: DyBNN's dynamic sign and dynamic PReLU.

Zhang, Su, Feng, Lu, Pietikäinen, Liu, "Dynamic Binary Neural Network by learning channel-wise
thresholds" (ICASSP 2022, arXiv:2110.05185). ReActNet's RSign and RPReLU learn one threshold and
one pair of shifts per channel, the same for every input; DyBNN computes them per sample from the
input's global context with a small hyper function (as Dynamic ReLU, Chen et al., ECCV 2020):

* :class:`DySign`: ``y = sign(x - alpha_c(x))``, sign(0) = +1;
* :class:`DyPReLU`: ``y = PReLU_c(x - gamma_c(x)) + zeta_c(x)``;

each per-sample vector made by a :class:`HyperFunction` (global average pool, linear, ReLU,
linear). The paper does not say everything we need, so these details are our choices:

* reduction ratio ``r = 4`` with at least 8 hidden units (``max(8, C // 4)``);
* both linear maps have a bias; the last one's output is used as it is (no ``2 sigmoid - 1``
  bound as in Dynamic ReLU, so the branch is made of ops the packed engine already has);
* the last linear map starts at zero (weight and bias): a fresh DySign is the static sign at 0
  and a fresh DyPReLU is a plain PReLU, and training moves them from there. Its bias is the
  static part, so DySign contains RSign and DyPReLU contains RPReLU.

The converter lowers the hyper function to the engine's global average pool, dense layers and
ReLU, and the rest to two ops of their own (``onebit.runtime.ops.dynamic``): ``dynamic_sign_pack``
packs ``x >= alpha`` per channel, which is exactly ``sign(x - alpha)`` in float32 for finite
values, and ``dynamic_prelu`` computes the model's float32 operations in its order.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from onebit import quantizers
from onebit._registry import OnebitError

REDUCTION = 4
MIN_HIDDEN = 8


def _check_map(x: torch.Tensor, name: str) -> None:
    if x.ndim != 4:
        raise OnebitError(f"{name} takes (N, C, H, W) maps, got a tensor of shape {tuple(x.shape)}")


def _quantizer_config(quantizer: Any) -> Any:
    if not hasattr(quantizer, "get_config"):
        raise OnebitError(f"quantizer {quantizer!r} has no get_config(); it cannot be saved")
    return quantizer.get_config()


class HyperFunction(nn.Module):
    """Per-sample parameters from a map's global context: ``h(x) = W2 relu(W1 m + b1) + b2``,
    ``m`` the mean of ``x`` over height and width (DyBNN's and Dynamic ReLU's hyper function).

    ``W2`` and ``b2`` start at zero, so ``h(x) = 0`` until training moves them.

    Args:
        channels: channels of the input map (dimension 1).
        outputs: values per sample.
        reduction: the hidden layer has ``channels // reduction`` units...
        min_hidden: ...but at least this many.
    """

    def __init__(
        self, channels: int, outputs: int, reduction: int = REDUCTION, min_hidden: int = MIN_HIDDEN
    ) -> None:
        super().__init__()
        if min(channels, outputs, reduction, min_hidden) < 1:
            raise OnebitError(
                "HyperFunction: channels, outputs, reduction and min_hidden must be >= 1, got "
                f"{channels}, {outputs}, {reduction}, {min_hidden}"
            )
        self.channels, self.outputs = channels, outputs
        self.reduction, self.min_hidden = reduction, min_hidden
        hidden = max(min_hidden, channels // reduction)
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, outputs)
        nn.init.zeros_(self.expand.weight)
        nn.init.zeros_(self.expand.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_map(x, "HyperFunction")
        return self.expand(F.relu(self.reduce(x.mean(dim=(2, 3)))))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, outputs={self.outputs}, reduction={self.reduction}"


class DySign(nn.Module):
    """DyBNN's dynamic sign: ``y = sign(x - alpha_c(x))``, a threshold per sample and channel.

    ``alpha(x)`` is a :class:`HyperFunction` of ``x`` (C outputs). The sign is the quantizer's
    forward rule, and the gradient reaches both ``x`` and the threshold branch through its
    surrogate (``d y / d alpha = -d y / d x``).

    Args:
        num_channels: channels of the input map.
        quantizer: the sign quantizer (default ``ste_sign``; ReActNet and DyBNN use
            ``approx_sign``).
        reduction: the hyper function's reduction ratio.
        min_hidden: the hyper function's least hidden units.

    Reference: Zhang et al., "Dynamic Binary Neural Network by learning channel-wise thresholds"
    (ICASSP 2022), the dynamic sign (DySign); see the module docstring for the details we chose.
    """

    def __init__(
        self,
        num_channels: int,
        quantizer: Any = "ste_sign",
        reduction: int = REDUCTION,
        min_hidden: int = MIN_HIDDEN,
    ) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.threshold = HyperFunction(num_channels, num_channels, reduction, min_hidden)
        self.quantizer = quantizers.get(quantizer)
        if self.quantizer is None:
            raise OnebitError("DySign needs a sign quantizer, e.g. 'ste_sign', not None")

    def thresholds(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha(x)``, shape ``(N, C)``."""
        return self.threshold(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_map(x, "DySign")
        return self.quantizer(x - self.threshold(x)[:, :, None, None])

    def get_config(self) -> dict[str, Any]:
        return {
            "num_channels": self.num_channels,
            "quantizer": _quantizer_config(self.quantizer),
            "reduction": self.threshold.reduction,
            "min_hidden": self.threshold.min_hidden,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DySign:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}"


class DyPReLU(nn.Module):
    """DyBNN's dynamic PReLU: ``y = PReLU_c(x - gamma_c(x)) + zeta_c(x)``.

    ReActNet's RPReLU with its two shifts made per sample: ``[gamma, zeta]`` is a
    :class:`HyperFunction` of ``x`` (2C outputs); the slope stays one learned value per channel.

    Args:
        num_channels: channels of the input map.
        init: the slopes' initial value.
        reduction: the hyper function's reduction ratio.
        min_hidden: the hyper function's least hidden units.

    Reference: Zhang et al., "Dynamic Binary Neural Network by learning channel-wise thresholds"
    (ICASSP 2022), the dynamic PReLU (DyPReLU); ReActNet's RPReLU is eq. (4) of Liu et al.
    (ECCV 2020).
    """

    def __init__(
        self,
        num_channels: int,
        init: float = 0.25,
        reduction: int = REDUCTION,
        min_hidden: int = MIN_HIDDEN,
    ) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.init = init
        self.shifts = HyperFunction(num_channels, 2 * num_channels, reduction, min_hidden)
        self.prelu = nn.PReLU(num_channels, init=init)

    def gamma_zeta(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input shift ``gamma(x)`` and output shift ``zeta(x)``, each ``(N, C)``."""
        shifts = self.shifts(x)
        return shifts[:, : self.num_channels], shifts[:, self.num_channels :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_map(x, "DyPReLU")
        gamma, zeta = self.gamma_zeta(x)
        return self.prelu(x - gamma[:, :, None, None]) + zeta[:, :, None, None]

    def get_config(self) -> dict[str, Any]:
        return {
            "num_channels": self.num_channels,
            "init": self.init,
            "reduction": self.shifts.reduction,
            "min_hidden": self.shifts.min_hidden,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DyPReLU:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}"
