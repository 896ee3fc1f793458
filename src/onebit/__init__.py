"""onebit: binary neural networks on PyTorch.

Train with quantizers and binary layers (``onebit.quantizers``, ``onebit.nn``), build models from
the zoo (``onebit.models``), load real data (``onebit.data``), train (``onebit.train``), see what
binarization buys (``onebit.summary``), convert a model to a packed program (``onebit.convert``)
and run it without PyTorch (``onebit.runtime``).

Submodules load on first use, so ``import onebit.runtime`` works where torch is not installed.
"""

from __future__ import annotations

import importlib
from typing import Any

from onebit._registry import OnebitError, Registry, UnknownNameError

__version__ = "0.1.0"

_SUBMODULES = ("convert", "data", "models", "nn", "optim", "quantizers", "runtime", "train")
_FROM_SUMMARY = ("print_summary", "summarize")

__all__ = [
    "OnebitError",
    "Registry",
    "UnknownNameError",
    "__version__",
    *_SUBMODULES,
    *_FROM_SUMMARY,
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"onebit.{name}")
    if name in _FROM_SUMMARY:
        return getattr(importlib.import_module("onebit.summary"), name)
    raise AttributeError(f"module 'onebit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
