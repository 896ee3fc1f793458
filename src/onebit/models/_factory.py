"""The model registry and factory.

A zoo entry is a decorator line on its family's builder, ``@zoo_entry(name, **architecture)``: it
fixes the architecture's arguments, takes the default input shape and class count from the
entry's row of the config table (:mod:`onebit.models.configs`), and leaves every other argument of
the builder to the user. ``create(name, **overrides)`` drops overrides that are None, so the CLI can
pass unset flags straight through.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from torch import nn

from onebit._registry import OnebitError, Registry
from onebit.models.configs import CONFIGS, ModelConfig

MODELS: Registry[nn.Module] = Registry("model", instance_type=nn.Module)

register_model = MODELS.register

Builder = TypeVar("Builder", bound=Callable[..., nn.Module])


def _config_defaults(config: ModelConfig, arguments: Sequence[str]) -> dict[str, Any]:
    """The config's input and classes, as the builder takes them: a vector model (an MLP) takes
    ``input_shape``, an image model ``in_channels`` and ``input_size``, a text model
    ``vocab_size`` and ``seq_len``."""
    if "vocab_size" in arguments:
        return {
            "vocab_size": config.vocab_size,
            "seq_len": config.input_shape[0],
            "num_classes": config.num_classes,
        }
    if "input_shape" in arguments:
        return {"input_shape": config.input_shape, "num_classes": config.num_classes}
    return {
        "num_classes": config.num_classes,
        "input_size": config.input_size,
        "in_channels": config.in_channels,
    }


def zoo_entry(name: str, /, **architecture: Any) -> Callable[[Builder], Builder]:
    """Decorator: register ``name`` as the decorated builder with ``architecture`` fixed.

    The entry takes every other argument of the builder as a keyword, with the defaults of
    ``CONFIGS[name]`` for the input and the classes and the builder's own for the rest; its
    signature says so, which is what ``create`` checks arguments against. The builder is returned
    unchanged, so one builder carries the decorators of all its entries.
    """
    config = CONFIGS[name]

    def decorate(builder: Builder) -> Builder:
        signature = inspect.signature(builder)
        signature.bind_partial(**architecture)  # an argument the builder does not take fails here
        defaults = _config_defaults(config, list(signature.parameters))
        options = []
        for parameter in signature.parameters.values():
            if parameter.name in architecture:
                continue
            default = defaults.get(parameter.name, parameter.default)
            if default is inspect.Parameter.empty:
                raise TypeError(f"{name}: no default for {parameter.name!r}")
            options.append(parameter.replace(kind=parameter.KEYWORD_ONLY, default=default))

        def entry(**overrides: Any) -> nn.Module:
            return builder(**architecture, **{**defaults, **overrides})

        entry.__signature__ = signature.replace(parameters=options)  # type: ignore[attr-defined]
        entry.__name__ = entry.__qualname__ = name
        entry.__module__ = builder.__module__
        entry.__doc__ = config.description
        register_model(name)(entry)
        return builder

    return decorate


def create(name: str, **overrides: Any) -> nn.Module:
    """Build the registered model ``name``; overrides that are None keep the entry's defaults.

    The model remembers how it was made in ``model.onebit_config`` (``{"name": ..., **kwargs}``),
    which checkpoints store so the model can be rebuilt without pickled code.
    """
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    model = MODELS.create(name, **kwargs)
    # a builder may resolve an argument (a file's path to its contents) so the config stands alone
    model.onebit_config = {"name": name, **kwargs, **getattr(model, "resolved_config", {})}
    return model


def config(name: str) -> ModelConfig:
    """The config table's record of model ``name``; an unknown name suggests the nearest ones."""
    MODELS.builder(name)
    return CONFIGS[name]


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style wildcard."""
    return MODELS.list(pattern)


def data_kwargs(
    name: str, input_shape: Sequence[int], num_classes: int, vocab_size: int | None = None
) -> dict[str, Any]:
    """The arguments that fit model ``name`` to a dataset's input shape and class count.

    Vector models (the MLPs) take ``input_shape``; image models take ``in_channels`` and the side
    ``input_size`` of a square image, so a ``(C, H, W)`` dataset must have ``H == W`` for them;
    text models take ``vocab_size`` and ``seq_len`` from a ``(seq_len,)`` dataset of token ids.
    """
    parameters = inspect.signature(MODELS.builder(name)).parameters
    takes_text = "vocab_size" in parameters
    if takes_text != (vocab_size is not None):
        data = "token ids" if vocab_size is not None else f"inputs of shape {tuple(input_shape)}"
        raise OnebitError(
            f"{name} is {'a text' if takes_text else 'not a text'} model; the data has {data}"
        )
    if takes_text:
        return {
            "vocab_size": vocab_size,
            "seq_len": int(input_shape[0]),
            "num_classes": num_classes,
        }
    if "input_shape" in parameters:
        return {"input_shape": tuple(input_shape), "num_classes": num_classes}
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise OnebitError(
            f"{name} takes square (C, H, W) images; the data has {tuple(input_shape)}"
        )
    channels, size, _ = input_shape
    return {"in_channels": int(channels), "input_size": int(size), "num_classes": num_classes}
