"""Data-parallel training across processes with ``torch.distributed``.

The same ``onebit train`` command runs under ``torchrun --nproc_per_node=N``: torchrun sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address, and this module joins the
process group (gloo on CPU, nccl on GPU), wraps the model in ``DistributedDataParallel`` and
gives each process its shard of every epoch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from onebit._registry import OnebitError


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank, the number of processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "auto") -> DistributedContext:
        """Read torchrun's environment and join the process group when there are several ranks.

        Args:
            device: "cpu", "cuda" or "auto" (cuda when available).
        """
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in ("cpu", "cuda"):
            raise OnebitError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise OnebitError("device 'cuda' was asked for but torch sees no CUDA device")
        torch_device = torch.device("cuda", local_rank) if device == "cuda" else torch.device("cpu")
        if world_size > 1 and not dist.is_initialized():
            if device == "cuda":
                torch.cuda.set_device(torch_device)
            dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
        return cls(rank, world_size, local_rank, torch_device)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``DistributedDataParallel`` around ``model`` when distributed, else ``model`` itself."""
        if not self.enabled:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global sample order: every ``world_size``-th entry from ``rank``.

        Each rank's i-th batch of size ``b`` is then a slice of the global batch of size
        ``b * world_size`` that a single process would see at step i.
        """
        usable = len(order) - len(order) % self.world_size
        return order[self.rank : usable : self.world_size]

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum a few numbers over all ranks (identity when not distributed)."""
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def launched_as_main() -> bool:
    """Whether this process is rank 0 (or not distributed), read from torchrun's environment
    before the process group is joined: only that process writes the run directory."""
    return int(os.environ.get("RANK", "0")) == 0


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper, or ``model``."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
