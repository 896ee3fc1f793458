"""Stochastic rounding to a k-bit fixed-point grid, and an optimizer wrapper that applies it.

Gupta, Agrawal, Gopalakrishnan, Narayanan, "Deep Learning with Limited Numerical Precision",
ICML 2015, sec. 2. A fixed-point format ``<IL, FL>`` has word length ``WL = IL + FL`` bits,
``FL`` of them fractional, so its grid step is ``ε = 2^-FL`` and it represents
``[-2^(IL-1), 2^(IL-1) - 2^-FL]``. With ``⌊x⌋`` the largest multiple of ε not above ``x``,
stochastic rounding (eq. (2)) is::

    Round(x, <IL, FL>) = ⌊x⌋       with probability 1 - (x - ⌊x⌋) / ε
                         ⌊x⌋ + ε   with probability (x - ⌊x⌋) / ε

so ``E[Round(x)] = x``: unbiased, unlike round-to-nearest (eq. (1)), which loses every update
smaller than ε/2. Values outside the representable range saturate to its ends, as the paper's
conversion does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from onebit._registry import OnebitError
from onebit.optim.groups import _DelegatingOptimizer

MAX_BITS = 32
MAX_FRAC_BITS = 64  # grid steps down to 2^-64, ranges up to 2^95: all finite in float32


def stochastic_round(
    x: torch.Tensor,
    bits: int = 8,
    frac_bits: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Round ``x`` stochastically and without bias to a ``bits``-bit signed fixed-point grid.

    Two grids (``k = bits``):

    * ``frac_bits`` given: Gupta et al.'s ``<IL, FL>`` with ``FL = frac_bits``, ``IL = k - FL``:
      step ``ε = 2^-FL``, values ``q ε`` for integers ``q`` in ``[-2^(k-1), 2^(k-1) - 1]``.
      Values outside saturate to the ends first.
    * ``frac_bits=None``: a per-tensor dynamic scale, ``ε = max|x| / (2^(k-1) - 1)``, ``q`` in
      ``[-(2^(k-1) - 1), 2^(k-1) - 1]``: the largest magnitude lands on the end of the grid, so
      nothing saturates.

    Then eq. (2): ``x`` goes to ``⌊x/ε⌋ ε`` or ``(⌊x/ε⌋ + 1) ε``, the latter with probability
    ``x/ε - ⌊x/ε⌋``, so ``E[stochastic_round(x)] = x`` exactly for ``x`` within the range (up to
    the resolution of the uniform draw: 2^-24 of a step in float32). Zeros stay zero, and so do
    values already on a fixed (``frac_bits``) grid. NaN stays NaN; with the dynamic scale a NaN
    or inf anywhere makes the scale, and so the whole result, non-finite.

    Args:
        x: a floating-point tensor.
        bits: word length ``k``, 2 to 32 (the sign included).
        frac_bits: fractional bits ``FL`` (-64 to 64; may exceed ``bits`` for small values such
            as gradients), or ``None`` for the dynamic per-tensor scale.
        generator: the source of the uniform draws; ``None`` uses torch's default generator on
            ``x.device``. A generator on another device (say a CPU one for a CUDA ``x``) draws
            there and the draws are moved, so results do not depend on where ``x`` lives.

    Returns:
        A new tensor of ``x``'s dtype, shape and device. The arithmetic runs in float32 (float64
        for float64 input); casting back to a narrower dtype may round again (bfloat16 holds a
        ``frac_bits`` grid of up to 9 bits exactly, float16 one of up to 12, within its range).
    """
    _check_format(bits, frac_bits)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise OnebitError(f"stochastic_round rounds floating-point tensors, got {_describe(x)}")
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.detach().to(work)
    qmax = 2 ** (bits - 1) - 1
    if x.numel() == 0:
        return x.detach().clone()
    if frac_bits is None:
        qmin = -qmax
        amax = xf.abs().amax()
        step: torch.Tensor | float = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    else:
        qmin = -(2 ** (bits - 1))
        step = 2.0**-frac_bits
        xf = xf.clamp(qmin * step, qmax * step)  # saturate (the ends are on the grid)
    scaled = xf / step
    low = torch.floor(scaled)
    device = generator.device if generator is not None else x.device
    u = torch.rand(x.shape, generator=generator, dtype=work, device=device).to(x.device)
    q = (low + (u < scaled - low).to(work)).clamp_(qmin, qmax)
    return (q * step).to(x.dtype)


class StochasticRounding(_DelegatingOptimizer):
    """Wrap an optimizer so it sees stochastically rounded gradients (Gupta et al., 2015).

    Each ``step`` rounds every gradient of the inner optimizer's parameters with
    :func:`stochastic_round` (in place, so the inner step reads the rounded values), steps the
    inner optimizer and, with ``round_weights``, rounds the updated parameters the same way.
    Tensors are visited in ``param_groups`` order, each drawing from this wrapper's own CPU
    generator, so a seed fixes the whole run.

    It delegates like :class:`~onebit.optim.groups.CaseOptimizer`: ``param_groups`` are the inner
    optimizer's (schedules drive it), ``state_dict`` holds the inner optimizer's and the
    generator's state, so a run resumed from it continues exactly.

    Args:
        optimizer: the optimizer to wrap (``CaseOptimizer`` included).
        bits: fixed-point word length, see :func:`stochastic_round`.
        frac_bits: fractional bits, or ``None`` for a per-tensor dynamic scale.
        round_weights: also round the parameters after each step. Rounding Bop's ±1 weights with
            the dynamic scale keeps them, as their magnitude is the largest on the grid.
        seed: seeds the generator; ``None`` draws the seed from torch's default generator, so
            ``torch.manual_seed`` still makes the run reproducible.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        bits: int = 8,
        frac_bits: int | None = None,
        round_weights: bool = False,
        seed: int | None = None,
    ) -> None:
        _check_format(bits, frac_bits)
        super().__init__([optimizer])
        self.optimizer = optimizer
        self.bits = bits
        self.frac_bits = frac_bits
        self.round_weights = round_weights
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(seed)

    def _round_(self, tensor: torch.Tensor) -> None:
        tensor.copy_(stochastic_round(tensor, self.bits, self.frac_bits, self.generator))

    @torch.no_grad()
    def _round_all_(self, which: str) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                target = p.grad if which == "grad" else p
                if target is None:
                    continue
                if target.is_sparse:
                    raise OnebitError("StochasticRounding does not support sparse gradients")
                self._round_(target)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Round the gradients, step the inner optimizer, round the weights if asked."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._round_all_("grad")
        self.optimizer.step()
        if self.round_weights:
            self._round_all_("weight")
        return loss

    def _own_state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def _load_own_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "generator" not in state_dict:
            raise OnebitError("the state dict holds no generator state; not a StochasticRounding's")
        self.generator.set_state(state_dict["generator"])


def _check_format(bits: Any, frac_bits: Any) -> None:
    if not _is_int(bits) or not 2 <= bits <= MAX_BITS:
        raise OnebitError(f"bits must be an integer from 2 to {MAX_BITS}, got {bits!r}")
    if frac_bits is not None and (
        not _is_int(frac_bits) or not -MAX_FRAC_BITS <= frac_bits <= MAX_FRAC_BITS
    ):
        raise OnebitError(
            f"frac_bits must be None or an integer from {-MAX_FRAC_BITS} to {MAX_FRAC_BITS}, "
            f"got {frac_bits!r}"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(x: Any) -> str:
    return f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
