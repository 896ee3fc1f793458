"""The model zoo: ``create(name, **kwargs)`` and ``list()``."""

from onebit.models import mlp as _mlp  # noqa: F401  (registers its entries)
from onebit.models._factory import MODELS, create, list_models, register_model
from onebit.models.mlp import MLP, build_mlp

list = list_models

__all__ = ["MLP", "MODELS", "build_mlp", "create", "list", "list_models", "register_model"]
