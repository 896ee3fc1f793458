"""Quantizers whose bit width is chosen at run time, for Bit-Mixer's meta-quantized networks
(Bulat & Tzimiropoulos, "Bit-Mixer: Mixed-precision networks with runtime bit-width selection",
ICCV 2021).

- ``switchable_lsq`` (activations): one LSQ step per bit width, the one of the current width used.
- ``nested_lsq`` (weights): one step and nested levels, so the weights are stored once. At the
  widest width ``B`` a weight is the nearest odd multiple of the step, ``s * sum_i 2^i s_i`` with
  ``s_i = +-1``; at ``b < B`` bits it keeps the ``b`` most significant of those +-1 planes,
  ``s * sum_{i >= B-b} 2^i s_i``: the centre of the ``b``-bit bin that holds the ``B``-bit level.
  The packed engine stores the ``B`` planes once and runs ``b`` bits by reading the top ``b``.

Deviation from the paper: Bit-Mixer quantizes the shared latent weights with a separate learned
scale per bit width; nested levels trade that freedom for weights stored once at the widest
width (the paper's deployment keeps the real-valued weights).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.quantizers.base import Quantizer
from onebit.quantizers.multibit import (
    MIN_STEP,
    _ScaleGradient,
    _shape_only,
    _StraightThrough,
    lsq,
    lsq_levels,
)


def _check_options(bit_options: Sequence[int], low: int) -> tuple[int, ...]:
    options = tuple(sorted({int(b) for b in bit_options}))
    if not options or options[0] < low or options[-1] > 8 or len(options) != len(bit_options):
        raise OnebitError(
            f"bit_options must be distinct bit widths from {low} to 8, got {list(bit_options)}"
        )
    return options


def nested_lsq(
    x: torch.Tensor, step: torch.Tensor, bits: int, max_bits: int, grad_scale: float = 1.0
) -> torch.Tensor:
    """Nested odd levels: ``x`` to ``max_bits`` +-1 planes of step ``s``, then the top ``bits``.

    Forward: ``u = round(clamp((x/s + 2^B - 1) / 2, 0, 2^B - 1))`` (the ``B``-bit code of the
    nearest odd level), ``u_b = floor(u / 2^(B-b))``, ``q = s * 2^(B-b) * (2 u_b - (2^b - 1))``.
    Backward: straight through the rounding and the floor (so 1 inside the range for ``x``); for
    ``s``, what autograd gives through ``x * (1/s)`` and the final product, times ``grad_scale``
    (LSQ's step gradient, Esser et al. 2020, eq. 3, for these levels).

    Args:
        x: the tensor (weights).
        step: ``s``, a positive scalar tensor.
        bits: the width to run at, 1 to ``max_bits``.
        max_bits: ``B``, the width the codes are stored at.
        grad_scale: the step's gradient factor.
    """
    top = 2**max_bits - 1
    s = _ScaleGradient.apply(step, grad_scale).abs().clamp_min(MIN_STEP)  # see lsq
    codes = _StraightThrough.apply(torch.clamp((x * s.reciprocal() + top) / 2, 0, top), torch.round)
    shift = 2 ** (max_bits - bits)
    kept = _StraightThrough.apply(codes / shift, torch.floor)
    return s * (shift * (2 * kept - (2**bits - 1)))


def switchable_lsq(
    x: torch.Tensor,
    steps: torch.Tensor,
    bits: int,
    bit_options: Sequence[int] = (2, 3, 4),
    signed: bool = False,
    grad_scale: float = 1.0,
) -> torch.Tensor:
    """:func:`onebit.quantizers.lsq` at ``bits`` with that width's step, ``steps[i]`` being the
    step of ``bit_options[i]``."""
    # a copy, not a view of ``steps``: another width's step may be initialized in place before
    # this graph's backward (several widths per training step, onebit.train.bit_mixer)
    step = steps[list(bit_options).index(bits)].clone()
    return lsq(x, step, bits, signed, grad_scale)


class _Switchable(Quantizer):
    """The current bit width (``bits``) among ``bit_options``; the widest by default."""

    def __init__(self, bit_options: Sequence[int], low: int) -> None:
        super().__init__()
        self.bit_options = _check_options(bit_options, low)
        self._bits = self.bit_options[-1]

    @property
    def bits(self) -> int:
        return self._bits

    @bits.setter
    def bits(self, value: int) -> None:
        if value not in self.bit_options:
            raise OnebitError(f"bits must be one of {list(self.bit_options)}, got {value!r}")
        self._bits = int(value)


class SwitchableLSQ(_Switchable):
    """LSQ (:func:`onebit.quantizers.lsq`) with one learned step per bit width; ``bits`` picks
    the one in use. Each step starts at ``2 mean|x| / sqrt(Q_P)`` of the first training batch
    quantized at its width.

    Args:
        bit_options: the widths it can run at (1 to 8; 2 or more when signed).
        signed: two's complement codes instead of unsigned ones.
        enabled: False clips ``x`` to the current width's range ``[-Q_N s, Q_P s]`` without
            rounding it: Bit-Mixer's first stage trains with real-valued activations, and the
            clip keeps the nonlinearity that a network whose only one is the quantizer (such as
            ``bitmixer-mlp``) would otherwise lose, turning that stage into a linear model.
            The step learns the range (the gradient LSQ gives it outside the range).
    """

    name = "switchable_lsq"

    def __init__(
        self, bit_options: Sequence[int] = (2, 3, 4), signed: bool = False, enabled: bool = True
    ) -> None:
        super().__init__(bit_options, 2 if signed else 1)
        self.signed = bool(signed)
        self.enabled = bool(enabled)
        count = len(self.bit_options)
        self.steps = nn.Parameter(torch.ones(count))
        self.register_buffer("initialized", torch.zeros(count, dtype=torch.bool))

    @property
    def precision(self) -> int:  # type: ignore[override]
        return self.bits if self.enabled else 32

    def step(self, bits: int | None = None) -> torch.Tensor:
        """The step of ``bits`` (default: the current width)."""
        return self.steps[self.bit_options.index(self.bits if bits is None else bits)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = self.bit_options.index(self.bits)
        q_n, q_p = lsq_levels(self.bits, self.signed)
        if self.training and not _shape_only(x) and not self.initialized[index]:
            with torch.no_grad():
                mean = x.detach().abs().mean().clamp_min(1e-8)
                self.steps[index] = 2 * mean / math.sqrt(q_p)
                self.initialized[index] = True
        per_sample = x[0].numel() if x.ndim else 1
        grad_scale = 1.0 / math.sqrt(per_sample * q_p)
        if not self.enabled:
            step = self.steps[index].clone()  # a copy: see switchable_lsq
            s = _ScaleGradient.apply(step, grad_scale).abs().clamp_min(MIN_STEP)
            return torch.minimum(torch.maximum(x, -q_n * s), q_p * s)
        return switchable_lsq(x, self.steps, self.bits, self.bit_options, self.signed, grad_scale)

    def arguments(self) -> dict[str, Any]:
        options = list(self.bit_options)
        return {"bit_options": options, "signed": self.signed, "enabled": self.enabled}


class NestedLSQ(_Switchable):
    """Weights at any of ``bit_options`` from one set of ``max(bit_options)``-bit codes
    (:func:`nested_lsq`), with one learned step that starts at ``2 mean|w| / sqrt(2^B - 1)``
    of the first training call."""

    name = "nested_lsq"

    def __init__(self, bit_options: Sequence[int] = (2, 3, 4)) -> None:
        super().__init__(bit_options, 1)
        self.step = nn.Parameter(torch.ones(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    @property
    def max_bits(self) -> int:
        return self.bit_options[-1]

    @property
    def precision(self) -> int:  # type: ignore[override]
        return self.max_bits  # what is stored

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = 2**self.max_bits - 1
        if self.training and not _shape_only(x) and not self.initialized:
            with torch.no_grad():
                mean = x.detach().abs().mean().clamp_min(1e-8)
                self.step.copy_(2 * mean / math.sqrt(levels))
                self.initialized.fill_(True)
        grad_scale = 1.0 / math.sqrt(x.numel() * levels)
        return nested_lsq(x, self.step, self.bits, self.max_bits, grad_scale)

    def arguments(self) -> dict[str, Any]:
        return {"bit_options": list(self.bit_options)}
