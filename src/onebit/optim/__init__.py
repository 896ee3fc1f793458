"""Optimizers and learning-rate schedules, by name.

``OPTIMIZERS.create(name, model=..., lr=..., weight_decay=...)`` and
``SCHEDULES.create(name, optimizer, total_steps=...)`` let the CLI and configs pick them by flag.
"""

from onebit.optim.bop import Bop
from onebit.optim.groups import CaseOptimizer, bop_with_adam
from onebit.optim.optimizers import OPTIMIZERS, create_optimizer
from onebit.optim.rounding import StochasticRounding, stochastic_round
from onebit.optim.schedules import SCHEDULES, create_schedule
from onebit.optim.shift_adamax import ShiftAdaMax

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Bop",
    "CaseOptimizer",
    "ShiftAdaMax",
    "StochasticRounding",
    "bop_with_adam",
    "create_optimizer",
    "create_schedule",
    "stochastic_round",
]
