"""The model zoo: ``create(name, **kwargs)`` and ``list()``."""

from onebit.models import alexnet as _alexnet  # noqa: F401
from onebit.models import binarynet as _binarynet  # noqa: F401
from onebit.models import birealnet as _birealnet  # noqa: F401
from onebit.models import mlp as _mlp  # noqa: F401  (registers its entries)
from onebit.models import quicknet as _quicknet  # noqa: F401
from onebit.models import reactnet as _reactnet  # noqa: F401
from onebit.models import resnet as _resnet  # noqa: F401
from onebit.models import vgg as _vgg  # noqa: F401
from onebit.models._factory import MODELS, create, data_kwargs, list_models, register_model
from onebit.models.mlp import MLP, build_mlp

list = list_models

__all__ = [
    "MLP",
    "MODELS",
    "build_mlp",
    "create",
    "data_kwargs",
    "list",
    "list_models",
    "register_model",
]
