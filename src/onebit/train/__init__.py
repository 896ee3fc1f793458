"""Training: the loop, checkpoints, metrics and distributed data parallelism."""

from onebit.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from onebit.train.distributed import DistributedContext
from onebit.train.loop import TrainConfig, TrainResult, evaluate, fit

__all__ = [
    "DistributedContext",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "fit",
    "load_checkpoint",
    "model_from_checkpoint",
    "save_checkpoint",
]
