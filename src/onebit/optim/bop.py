"""Bop, the binary optimizer (Helwegen et al., 2019): binary weights flip, they do not move.

Helwegen, Widdicombe, Geiger, Liu, Cheng, Nusselder, "Latent Weights Do Not Exist: Rethinking
Binarized Neural Network Optimization", NeurIPS 2019, Algorithm 1. Larq ships it as
``lq.optimizers.Bop(threshold=1e-8, gamma=1e-4)``; these are the defaults here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from onebit._registry import OnebitError

DEFAULT_GAMMA = 1e-4
DEFAULT_THRESHOLD = 1e-8


class Bop(torch.optim.Optimizer):
    """Binary optimizer: flip a weight when its averaged gradient is strong and agrees with it.

    Per parameter element ``i`` and step ``t`` (Algorithm 1)::

        m_t,i = (1 - γ) m_{t-1,i} + γ g_t,i             m_0 = 0
        w_t,i = -w_{t-1,i}   if |m_t,i| > τ and sign(m_t,i) = sign(w_{t-1,i})
                 w_{t-1,i}   otherwise

    A gradient that agrees in sign with the weight says the loss falls when the weight moves
    toward the other sign, so a consistent (``|m| > τ``) agreeing signal flips it. The comparison
    is strict, as in Larq (``w * m - τ > 0`` on ±1 weights).

    Differences from the paper, where it is silent:

    * The weights keep their magnitude and only change sign, so Bop also works on latent weights
      that are not exactly ±1 (their sign is what a binarizer reads). A weight exactly 0 has no
      sign and never flips.
    * γ lives under the param-group key ``lr``, so torch schedules (``LambdaLR`` ...) decay γ the
      way Larq's examples decay ``gamma``. ``gamma=`` is accepted as an alias of ``lr``.
    * ``threshold`` is a param-group key too, so it can be scheduled per group.
    * Parameters whose ``grad`` is ``None`` are skipped entirely: no state, no flip.

    Args:
        params: the binary (latent) weights, or param-group dicts.
        lr: the adaptivity rate γ in ``[0, 1]`` (default 1e-4).
        threshold: the flip threshold τ >= 0.
        gamma: alias of ``lr``; give one or the other.

    State per parameter: ``m``, the exponential moving average of its gradient.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        gamma: float | None = None,
    ) -> None:
        if lr is not None and gamma is not None:
            raise OnebitError("Bop takes the adaptivity rate as lr or as gamma, not both")
        rate = gamma if gamma is not None else lr if lr is not None else DEFAULT_GAMMA
        _check_rate(rate)
        _check_threshold(threshold)
        super().__init__(params, {"lr": rate, "threshold": threshold})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Bop step on every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            gamma, threshold = group["lr"], group["threshold"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise OnebitError("Bop does not support sparse gradients")
                state = self.state[p]
                if "m" not in state:
                    state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m = state["m"]
                m.lerp_(p.grad, gamma)  # m + γ (g - m) = (1 - γ) m + γ g
                flip = (m.abs() > threshold) & (torch.sign(m) == torch.sign(p))
                p.copy_(torch.where(flip, -p, p))
        return loss


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise OnebitError(f"Bop's adaptivity rate (lr / gamma) must lie in [0, 1], got {rate}")


def _check_threshold(threshold: float) -> None:
    if not threshold >= 0.0:
        raise OnebitError(f"Bop's threshold must be non-negative, got {threshold}")
