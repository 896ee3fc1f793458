"""Learning-rate schedules, stepped once per optimizer step (not per epoch), by name."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from onebit._registry import OnebitError, Registry

SCHEDULES: Registry[LRScheduler] = Registry("schedule", instance_type=LRScheduler)


@SCHEDULES.register("constant")
def constant(optimizer: torch.optim.Optimizer, total_steps: int) -> LRScheduler:
    """The learning rate stays as given."""
    return LambdaLR(optimizer, lambda step: 1.0)


@SCHEDULES.register("cosine")
def cosine(optimizer: torch.optim.Optimizer, total_steps: int) -> LRScheduler:
    """Cosine decay from the given rate to zero over the run (Loshchilov & Hutter 2017)."""
    return LambdaLR(optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total_steps)))


@SCHEDULES.register("exponential")
def exponential(optimizer: torch.optim.Optimizer, total_steps: int) -> LRScheduler:
    """Exponential decay to 1% of the given rate over the run, as the BNN paper decays it
    (Courbariaux et al. 2016, sec. 2.5)."""
    return LambdaLR(optimizer, lambda step: 0.01 ** (step / total_steps))


@SCHEDULES.register("step")
def step(optimizer: torch.optim.Optimizer, total_steps: int) -> LRScheduler:
    """Divide the rate by 10 at 50% and again at 75% of the run."""
    return LambdaLR(
        optimizer, lambda s: 0.1 ** ((s >= total_steps // 2) + (s >= 3 * total_steps // 4))
    )


def create_schedule(name: str, optimizer: torch.optim.Optimizer, total_steps: int) -> LRScheduler:
    """Build schedule ``name`` spanning ``total_steps`` optimizer steps."""
    if total_steps < 1:
        raise OnebitError(f"a schedule needs at least one step, got {total_steps}")
    return SCHEDULES.create(name, optimizer=optimizer, total_steps=total_steps)
