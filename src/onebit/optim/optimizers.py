"""The optimizer registry. Every entry is built from ``(model, lr, weight_decay)``.

Entries take the model, not a parameter list, so that an entry can split it: ``bop`` gives the
binary weights (as the layers declare them, ``onebit.nn.binary_parameters``) to Bop and every
other parameter to Adam.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from onebit._registry import OnebitError, Registry
from onebit.optim.bop import DEFAULT_GAMMA, DEFAULT_THRESHOLD
from onebit.optim.groups import bop_with_adam
from onebit.optim.shift_adamax import ShiftAdaMax

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry(
    "optimizer", instance_type=torch.optim.Optimizer
)


@OPTIMIZERS.register("adam")
def adam(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015), the usual choice for latent-weight BNN training."""
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay."""
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("adamax")
def adamax(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdaMax (Kingma & Ba 2015, sec. 7), the BNN paper's optimizer before its shift version."""
    return torch.optim.Adamax(model.parameters(), lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("sgd")
def sgd(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum 0.9."""
    return torch.optim.SGD(
        model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay
    )


@OPTIMIZERS.register("shift_adamax")
def shift_adamax(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Shift-based AdaMax (Courbariaux et al. 2016, Alg. 4): power-of-two steps and moments."""
    return ShiftAdaMax(model.parameters(), lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("bop")
def bop(
    model: nn.Module,
    lr: float,
    weight_decay: float = 0.0,
    gamma: float = DEFAULT_GAMMA,
    threshold: float = DEFAULT_THRESHOLD,
) -> torch.optim.Optimizer:
    """Bop (Helwegen et al. 2019, Alg. 1) for the binary weights, with adaptivity rate ``gamma``
    and flip threshold ``threshold`` (Larq's defaults 1e-4 and 1e-8 suit long ImageNet runs; a
    run of a few thousand steps wants a larger gamma), both scaled by the schedule as the learning
    rate is; Adam(lr, weight_decay) for every other parameter."""
    return bop_with_adam(model, lr, weight_decay, threshold=threshold, gamma=gamma)


def create_optimizer(
    name: str, model: nn.Module, lr: float, weight_decay: float = 0.0, **options: Any
) -> torch.optim.Optimizer:
    """Build optimizer ``name`` for ``model`` with the entry's own ``options`` (e.g. Bop's
    ``gamma``); a non-positive rate, a negative decay or an option the entry lacks is refused."""
    if not lr > 0:
        raise OnebitError(f"learning rate must be positive, got {lr}")
    if weight_decay < 0:
        raise OnebitError(f"weight decay must be non-negative, got {weight_decay}")
    return OPTIMIZERS.create(name, model=model, lr=lr, weight_decay=weight_decay, **options)
