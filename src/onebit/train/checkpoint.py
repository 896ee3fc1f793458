"""Training checkpoints: written atomically, loaded without executing code.

A checkpoint is a ``torch.save`` of plain containers and tensors only, so it loads with
``torch.load(weights_only=True)``, which refuses pickled code. It records how to rebuild the model
(``model_config``: registry name and arguments), so no model class is pickled either.
"""

from __future__ import annotations

import os
import warnings
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
    """Read and validate a checkpoint.

    Raises:
        OnebitError: one line, ``cannot read checkpoint PATH: REASON``, for a file that is not
            there, a directory, a truncated or corrupt file, a file that is not a torch file, a
            pickle holding code or other objects, or a torch file that is not an onebit
            checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise OnebitError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise OnebitError(f"cannot read checkpoint {path}: it is a directory")
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise OnebitError(f"cannot read checkpoint {path}: {error.strerror}") from None
    try:
        with warnings.catch_warnings():  # e.g. a pickle protocol torch did not expect
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        reason = _unreadable_reason(head, error)
        raise OnebitError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise OnebitError(
            f"cannot read checkpoint {path}: a torch file, but not an onebit checkpoint "
            "(not written by `onebit train`)"
        )
    if state.get("version") != VERSION:
        raise OnebitError(
            f"cannot read checkpoint {path}: unsupported checkpoint version "
            f"{state.get('version')!r} (this onebit reads version {VERSION})"
        )
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise OnebitError(f"cannot read checkpoint {path}: it lacks {', '.join(missing)}")
    return state


def _unreadable_reason(head: bytes, error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in a few words instead of torch's page."""
    refused = "Weights only load failed" in str(error)
    if not head:
        return "the file is empty"
    if head.startswith(b"PK\x03\x04"):  # torch.save's zip archive
        if refused:
            return "it holds pickled objects other than tensors and plain values (not run)"
        return "truncated or corrupt (a damaged torch zip archive)"
    if head.startswith(b"\x80"):  # a bare pickle, or torch's legacy format
        if refused:
            return "a pickle that is not a torch checkpoint, or holds code (not run)"
        return "truncated or corrupt"
    return "not a torch file"


def model_from_checkpoint(path: str | os.PathLike[str]) -> torch.nn.Module:
    """Rebuild the model a checkpoint describes and load its weights, in eval mode."""
    from onebit import models

    state = load_checkpoint(path)
    config = dict(state["model_config"])
    name = config.pop("name", None)
    if not isinstance(name, str):
        raise OnebitError(f"cannot read checkpoint {path}: its model config names no model")
    model = models.create(name, **config)
    try:
        model.load_state_dict(state["model_state"])
    except (RuntimeError, TypeError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OnebitError(
            f"cannot read checkpoint {path}: its weights do not fit model {name} ({first})"
        ) from None
    return model.eval()
