"""Shift-based AdaMax: AdaMax whose multiplications are binary shifts.

Algorithm 4 of Courbariaux, Hubara, Soudry, El-Yaniv & Bengio, "Binarized Neural Networks:
Training Deep Neural Networks with Weights and Activations Constrained to +1 or -1"
(arXiv:1602.02830), "Shift based AdaMax learning rule", after AdaMax (Kingma & Ba 2015, Alg. 2)::

    m_t     <- beta1 * m_{t-1} + (1 - beta1) * g_t          biased 1st moment
    v_t     <- max(beta2 * v_{t-1}, |g_t|)                  exponentially weighted infinity norm
    theta_t <- theta_{t-1} - (alpha ≪≫ (1 - beta1^t)) * (m_t ≪≫ v_t^-1)

with ``≪≫`` a left or right binary shift by the approximate power-of-2 ``AP2`` (see
:mod:`onebit.shift`). The paper's defaults, ``alpha = 2**-10``, ``1 - beta1 = 2**-3`` and
``1 - beta2 = 2**-10``, are this class's defaults: with them the moment products are shifts too
(``(1 - beta1) * g = g >> 3`` and ``beta1 * m = m - (m >> 3)``), so no step multiplies.

Concretely, per parameter and step ``t`` (counted per parameter, as ``torch.optim.Adamax``)::

    step    = AP2(lr / (1 - beta1**t))                      bias-corrected step size, a power of 2
    theta  -= step * m_t / AP2(max(v_t, eps))               two products by powers of two: exact

which is what the authors' Torch code (``adaMax_binary_clip_shift.lua``) computes. Where the paper
is silent, this class chooses:

* **State.** ``m`` and ``v`` are kept unrounded, exactly as the first two lines; AP2 is applied only
  where the algorithm divides by ``v`` and multiplies by the step size. (The Torch code overwrote
  ``v`` with ``AP2(v) + eps``, which feeds the rounding back into the next ``max``.)
* **eps.** A floor on ``v`` before AP2, so a parameter that has only seen zero gradients (``m = v =
  0``) gets no update instead of ``0 / 0``; once ``v >= eps`` it has no effect.
* **betas.** Used as given. When ``1 - beta`` is not a power of two the moment products are
  ordinary multiplications (:meth:`ShiftAdaMax.multiplies_replaced` counts this).
* **weight_decay.** L2, added to the gradient (``g += weight_decay * theta``) as in
  ``torch.optim.Adamax``; the product is exact only when ``weight_decay`` is a power of two.
* **Learning-rate schedules.** ``lr`` is read from the parameter group at every step, so torch
  schedulers work; the step size is ``AP2`` of the scheduled value, so a smooth schedule acts as a
  staircase of powers of two.
* **No weight clipping.** The Torch code also clipped binary weights to [-1, 1]; here that is
  :func:`onebit.nn.clip_latent_weights`, which works with every optimizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from onebit.shift import ap2, ap2_float, is_power_of_two

__all__ = ["ShiftAdaMax"]

PAPER_LR = 2.0**-10
PAPER_BETAS = (1.0 - 2.0**-3, 1.0 - 2.0**-10)


class ShiftAdaMax(torch.optim.Optimizer):
    """AdaMax with power-of-two step sizes (arXiv:1602.02830, Algorithm 4).

    See :mod:`onebit.optim.shift_adamax` for the update and the choices where the paper is silent.

    Args:
        params: parameters or parameter groups.
        lr: learning rate ``alpha`` (paper: ``2**-10``; the authors' CIFAR-10 and MNIST scripts
            use ``2**-6``). It is rounded to a power of two, after bias correction, at every step.
        betas: ``(beta1, beta2)``; the paper's defaults ``(1 - 2**-3, 1 - 2**-10)`` make the moment
            updates shifts as well.
        eps: floor on ``v`` before it is rounded to a power of two.
        weight_decay: L2 penalty added to the gradient.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = PAPER_LR,
        betas: tuple[float, float] = PAPER_BETAS,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}")
        if weight_decay < 0:
            raise ValueError(f"weight decay must be non-negative, got {weight_decay}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("ShiftAdaMax does not support sparse gradients")
                self._update(p, group, beta1, beta2)
        return loss

    def _update(self, p: torch.Tensor, group: dict[str, Any], beta1: float, beta2: float) -> None:
        grad = p.grad
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_inf"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_inf"]
        m.mul_(beta1).add_(grad, alpha=1.0 - beta1)  # biased 1st moment
        torch.maximum(v.mul_(beta2), grad.abs(), out=v)  # infinity norm
        step_size = ap2_float(group["lr"] / (1.0 - beta1 ** state["step"]))  # alpha ≪≫ (1 - b1^t)
        p.add_(m / ap2(v.clamp(min=group["eps"])), alpha=-step_size)  # m ≪≫ v^-1, then ≪≫ step

    @staticmethod
    def multiplies_replaced(
        betas: tuple[float, float] = PAPER_BETAS, weight_decay: float = 0.0
    ) -> dict[str, int]:
        """How many multiplications per parameter per step become shifts, against AdaMax.

        AdaMax multiplies 5 times per parameter and step: ``beta1 * m``, ``(1 - beta1) * g``,
        ``beta2 * v``, ``m / v`` and ``step * (m / v)``, plus ``weight_decay * theta`` when there is
        decay. Shift-based AdaMax always turns the last two into shifts; a product by a constant
        ``c`` is a shift too when ``c`` (for ``beta * x``: ``1 - beta``, as ``x - (x >> k)``) is a
        power of two, which the paper's betas are.

        Returns:
            ``{"per_parameter": replaced, "adamax_per_parameter": multiplies in AdaMax}``.
        """
        beta1, beta2 = betas
        total = 5 + (weight_decay != 0)
        replaced = 2
        replaced += 2 * is_power_of_two(1.0 - beta1)
        replaced += is_power_of_two(1.0 - beta2)
        replaced += weight_decay != 0 and is_power_of_two(weight_decay)
        return {"per_parameter": int(replaced), "adamax_per_parameter": int(total)}
