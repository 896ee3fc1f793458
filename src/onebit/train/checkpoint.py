"""Training checkpoints: written atomically, loaded without executing code.

A checkpoint is a ``torch.save`` of plain containers and tensors only, so it loads with
``torch.load(weights_only=True)``, which refuses pickled code. It records how to rebuild the model
(``model_config``: registry name and arguments), so no model class is pickled either.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from onebit._registry import OnebitError
from onebit.atomic import atomic_open

FORMAT = "onebit-checkpoint"
VERSION = 1
_REQUIRED = ("format", "version", "model_config", "model_state", "epoch")


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain containers) to ``path`` via a temporary file + rename."""
    with atomic_open(path, "wb") as handle:
        torch.save({"format": FORMAT, "version": VERSION, **state}, handle)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a checkpoint; a missing, corrupt or foreign file is a clear OnebitError."""
    path = Path(path)
    if not path.is_file():
        raise OnebitError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise OnebitError(f"{path} is not a readable onebit checkpoint ({error})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise OnebitError(f"{path} is not an onebit checkpoint")
    if state.get("version") != VERSION:
        raise OnebitError(f"{path}: unsupported checkpoint version {state.get('version')!r}")
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise OnebitError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state


def model_from_checkpoint(path: str | os.PathLike[str]) -> torch.nn.Module:
    """Rebuild the model a checkpoint describes and load its weights, in eval mode."""
    from onebit import models

    state = load_checkpoint(path)
    config = dict(state["model_config"])
    model = models.create(config.pop("name"), **config)
    model.load_state_dict(state["model_state"])
    return model.eval()
