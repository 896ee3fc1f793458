"""The model registry and factory.

A model entry point is a short decorated function that sets one architecture's arguments and calls
that family's builder. ``create(name, **overrides)`` drops overrides that are None, so the CLI can
pass unset flags straight through.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from torch import nn

from onebit._registry import OnebitError, Registry

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


def data_kwargs(name: str, input_shape: Sequence[int], num_classes: int) -> dict[str, Any]:
    """The arguments that fit model ``name`` to a dataset's input shape and class count.

    Vector models (the MLPs) take ``input_shape``; image models take ``in_channels`` and the side
    ``input_size`` of a square image, so a ``(C, H, W)`` dataset must have ``H == W`` for them.
    """
    parameters = inspect.signature(MODELS.builder(name)).parameters
    if "input_shape" in parameters:
        return {"input_shape": tuple(input_shape), "num_classes": num_classes}
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise OnebitError(
            f"{name} takes square (C, H, W) images; the data has {tuple(input_shape)}"
        )
    channels, size, _ = input_shape
    return {"in_channels": int(channels), "input_size": int(size), "num_classes": num_classes}
