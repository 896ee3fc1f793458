"""The model zoo: ``create(name, **kwargs)``, ``list()`` and the default config table."""

from onebit.models import alexnet as _alexnet  # noqa: F401  (each module registers its entries)
from onebit.models import bats as _bats  # noqa: F401
from onebit.models import binarynet as _binarynet  # noqa: F401
from onebit.models import birealnet as _birealnet  # noqa: F401
from onebit.models import bitmixer as _bitmixer  # noqa: F401
from onebit.models import dybnn as _dybnn  # noqa: F401
from onebit.models import hourglass as _hourglass  # noqa: F401
from onebit.models import kws as _kws  # noqa: F401
from onebit.models import mcu as _mcu  # noqa: F401
from onebit.models import mlp as _mlp  # noqa: F401
from onebit.models import quicknet as _quicknet  # noqa: F401
from onebit.models import reactnet as _reactnet  # noqa: F401
from onebit.models import resnet as _resnet  # noqa: F401
from onebit.models import text_cnn as _text_cnn  # noqa: F401
from onebit.models import vgg as _vgg  # noqa: F401
from onebit.models._factory import (
    MODELS,
    config,
    create,
    data_kwargs,
    list_models,
    register_model,
    zoo_entry,
)
from onebit.models.configs import (
    CONFIGS,
    COUNTINGS,
    ModelConfig,
    count_parameters,
    markdown_table,
)
from onebit.models.mlp import MLP, build_mlp

list = list_models

__all__ = [
    "CONFIGS",
    "COUNTINGS",
    "MLP",
    "MODELS",
    "ModelConfig",
    "build_mlp",
    "config",
    "count_parameters",
    "create",
    "data_kwargs",
    "list",
    "list_models",
    "markdown_table",
    "register_model",
    "zoo_entry",
]
