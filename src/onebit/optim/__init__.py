"""Optimizers and learning-rate schedules, by name.

``OPTIMIZERS.create(name, params, lr=..., weight_decay=...)`` and
``SCHEDULES.create(name, optimizer, total_steps=...)`` let the CLI and configs pick them by flag.
"""

from onebit.optim.optimizers import OPTIMIZERS, create_optimizer
from onebit.optim.schedules import SCHEDULES, create_schedule

__all__ = ["OPTIMIZERS", "SCHEDULES", "create_optimizer", "create_schedule"]
