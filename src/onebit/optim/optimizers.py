"""The optimizer registry. Every entry takes ``(params, lr, weight_decay)``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from onebit._registry import OnebitError, Registry

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry(
    "optimizer", instance_type=torch.optim.Optimizer
)


@OPTIMIZERS.register("adam")
def adam(params: Iterable[Any], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015), the usual choice for latent-weight BNN training."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable[Any], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("adamax")
def adamax(params: Iterable[Any], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdaMax (Kingma & Ba 2015, sec. 7), the BNN paper's optimizer before its shift version."""
    return torch.optim.Adamax(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable[Any], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum 0.9."""
    return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)


def create_optimizer(
    name: str, params: Iterable[Any], lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Build optimizer ``name``; a non-positive learning rate or negative decay is refused."""
    if not lr > 0:
        raise OnebitError(f"learning rate must be positive, got {lr}")
    if weight_decay < 0:
        raise OnebitError(f"weight decay must be non-negative, got {weight_decay}")
    return OPTIMIZERS.create(name, params=params, lr=lr, weight_decay=weight_decay)
