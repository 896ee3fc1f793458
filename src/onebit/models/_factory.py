"""The model registry and factory.

A model entry point is a short decorated function that sets one architecture's arguments and calls
that family's builder. ``create(name, **overrides)`` drops overrides that are None, so the CLI can
pass unset flags straight through.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from onebit._registry import Registry

MODELS: Registry[nn.Module] = Registry("model", instance_type=nn.Module)

register_model = MODELS.register


def create(name: str, **overrides: Any) -> nn.Module:
    """Build the registered model ``name``; overrides that are None keep the entry's defaults.

    The model remembers how it was made in ``model.onebit_config`` (``{"name": ..., **kwargs}``),
    which checkpoints store so the model can be rebuilt without pickled code.
    """
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    model = MODELS.create(name, **kwargs)
    model.onebit_config = {"name": name, **kwargs}
    return model


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style wildcard."""
    return MODELS.list(pattern)
