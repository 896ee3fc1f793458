"""Multi-bit quantizers: DoReFa-Net's fixed-range k-bit rule and LSQ's learned step."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.quantizers.base import Quantizer


class _RoundIdentityGradient(torch.autograd.Function):
    """Forward ``round(x * n) / n`` (round half to even); backward the identity."""

    @staticmethod
    def forward(x: torch.Tensor, levels: int):
        return torch.round(x * levels) / levels

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


def dorefa(x: torch.Tensor, k_bit: int = 2, mode: str = "activations") -> torch.Tensor:
    """Quantize to ``k_bit`` bits, DoReFa-Net style.

    Activations: ``q(x) = round((2^k - 1) * clip(x, 0, 1)) / (2^k - 1)``; the gradient passes
    through the rounding unchanged and is cancelled outside [0, 1] by the clip.
    Weights: ``w' = tanh(w) / (2 max|tanh(w)|) + 1/2`` (the max treated as a constant), quantized
    as above, then mapped back to [-1, 1] by ``2 q - 1``.

    Args:
        x: the tensor to quantize.
        k_bit: the bit width (at least 1).
        mode: "activations" or "weights".

    Reference: Zhou, Wu, Ni, Zhou, Wen, Zou, "DoReFa-Net: Training Low Bitwidth Convolutional
    Neural Networks with Low Bitwidth Gradients" (2016), eq. (5), (9) and (11).
    """
    if mode not in ("activations", "weights"):
        raise OnebitError(f"dorefa mode must be 'activations' or 'weights', got {mode!r}")
    try:
        valid = int(k_bit) == k_bit and k_bit >= 1
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise OnebitError(f"dorefa k_bit must be a positive integer, got {k_bit!r}")
    if mode == "weights":
        limited = torch.tanh(x)
        # an all-zero tensor would divide 0 by 0; it maps to the level nearest zero instead
        largest = limited.abs().max().detach().clamp_min(torch.finfo(x.dtype).tiny)
        x = limited / (2.0 * largest) + 0.5
    x = x.clamp(0.0, 1.0)
    out = _RoundIdentityGradient.apply(x, 2 ** int(k_bit) - 1)
    return 2.0 * out - 1.0 if mode == "weights" else out


class DoReFa(Quantizer):
    __doc__ = dorefa.__doc__
    name = "dorefa"

    def __init__(self, k_bit: int = 2, mode: str = "activations") -> None:
        super().__init__()
        dorefa(torch.zeros(1), k_bit, mode)  # validates the arguments now, not at the first batch
        self.k_bit = int(k_bit)
        self.mode = mode
        self.precision = self.k_bit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dorefa(x, self.k_bit, self.mode)

    def arguments(self) -> dict[str, Any]:
        return {"k_bit": self.k_bit, "mode": self.mode}


class _ScaleGradient(torch.autograd.Function):
    """Forward the identity; backward the gradient times ``factor``."""

    @staticmethod
    def forward(x: torch.Tensor, factor: float):
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.factor = inputs[1]

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.factor, None


class _StraightThrough(torch.autograd.Function):
    """Forward ``step(x)`` (``torch.round``, half to even, or ``torch.floor``); backward the
    identity."""

    @staticmethod
    def forward(x: torch.Tensor, step):
        return step(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


MIN_STEP = 1e-12
"""The smallest step a learned step size quantizer uses: ``|s|``, at least this. Gradient steps can
carry ``s`` through zero; the quantizer reads its magnitude (its levels are the same either way for
symmetric codes, and asymmetric ones need a positive step)."""


def _shape_only(x: torch.Tensor) -> bool:
    """A tensor on the meta device (shapes without data): nothing to initialize a step from."""
    return x.device.type == "meta"


def lsq_levels(bits: int, signed: bool) -> tuple[int, int]:
    """``(Q_N, Q_P)``: codes run over ``[-Q_N, Q_P]``; two's complement when signed."""
    if signed:
        return 2 ** (bits - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def lsq(
    x: torch.Tensor,
    step: torch.Tensor,
    bits: int = 2,
    signed: bool = False,
    grad_scale: float = 1.0,
) -> torch.Tensor:
    """Quantize with a learned step size (LSQ).

    Forward: ``q(x) = round(clamp(x * (1 / s), -Q_N, Q_P)) * s`` (``s`` read as ``|s|``, at least
    :data:`MIN_STEP`) with ``(Q_N, Q_P) =
    (2^(b-1), 2^(b-1) - 1)`` when signed, ``(0, 2^b - 1)`` otherwise; round half to even. ``x``
    is multiplied by the float32 reciprocal of ``s`` (not divided by ``s``), so the packed engine's
    ``round(x * multiplier)`` gives the same codes bit for bit.
    Backward: straight through the rounding; for ``s``, ``-x/s + round(x/s)`` inside the range and
    ``-Q_N`` or ``Q_P`` outside (eq. 3), times ``grad_scale``.

    Args:
        x: the tensor to quantize.
        step: the step size ``s`` (a positive scalar tensor).
        bits: the bit width, 1 to 8 (1 bit unsigned holds {0, s}; signed needs 2 bits or more).
        signed: codes in ``[-2^(b-1), 2^(b-1) - 1]`` (weights) or ``[0, 2^b - 1]`` (activations
            after a ReLU).
        grad_scale: the step's gradient factor ``g``; the paper's ``1 / sqrt(N * Q_P)``.

    Reference: Esser, McKinstry, Bablani, Appuswamy, Modha, "Learned Step Size Quantization"
    (ICLR 2020), eq. (1)-(4).
    """
    q_n, q_p = lsq_levels(bits, signed)
    s = _ScaleGradient.apply(step, grad_scale).abs().clamp_min(MIN_STEP)
    v = torch.clamp(x * s.reciprocal(), -q_n, q_p)
    return _StraightThrough.apply(v, torch.round) * s


class LSQ(Quantizer):
    """Module form of :func:`lsq`, holding the learned step as a parameter.

    The step starts at ``2 mean|x| / sqrt(Q_P)`` of the first tensor it sees in training (sec.
    2.1), and its gradient is scaled by ``1 / sqrt(N Q_P)`` with ``N`` the elements of one sample
    (features per layer for activations, weights per layer for weights; sec. 2.2).

    Args:
        bits: the bit width, 1 to 8.
        signed: two's complement codes (default: signed for weights, unsigned for activations).
        mode: "activations" or "weights"; picks the default ``signed`` and ``N``.

    A weight quantized with LSQ keeps its own range, so give its layer ``weight_clip=None``.
    """

    name = "lsq"

    def __init__(self, bits: int = 2, signed: bool | None = None, mode: str = "activations"):
        super().__init__()
        if mode not in ("activations", "weights"):
            raise OnebitError(f"lsq mode must be 'activations' or 'weights', got {mode!r}")
        if type(bits) is not int or not 1 <= bits <= 8:
            raise OnebitError(f"lsq bits must be an integer from 1 to 8, got {bits!r}")
        signed = mode == "weights" if signed is None else bool(signed)
        if signed and bits < 2:
            raise OnebitError("signed lsq needs at least 2 bits (1-bit two's complement: {-1, 0})")
        self.bits, self.signed, self.mode = bits, signed, mode
        self.precision = bits
        self.step = nn.Parameter(torch.ones(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    @property
    def levels(self) -> tuple[int, int]:
        return lsq_levels(self.bits, self.signed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q_p = self.levels[1]
        if self.training and not _shape_only(x) and not self.initialized:
            with torch.no_grad():
                mean = x.detach().abs().mean().clamp_min(1e-8)
                self.step.copy_(2 * mean / math.sqrt(q_p))
                self.initialized.fill_(True)
        per_sample = x.numel() if self.mode == "weights" else x[0].numel() if x.ndim else 1
        return lsq(x, self.step, self.bits, self.signed, 1.0 / math.sqrt(per_sample * q_p))

    def arguments(self) -> dict[str, Any]:
        return {"bits": self.bits, "signed": self.signed, "mode": self.mode}
