"""onebit: binary neural networks on PyTorch.

Train with quantizers and binary layers (``onebit.quantizers``, ``onebit.nn``), build models from
the zoo (``onebit.models``), load real data (``onebit.data``), train (``onebit.train``) and see what
binarization buys (``onebit.summary``).
"""

from onebit import data, models, nn, optim, quantizers, train
from onebit._registry import OnebitError, Registry, UnknownNameError
from onebit.summary import print_summary, summarize

__version__ = "0.1.0"

__all__ = [
    "OnebitError",
    "Registry",
    "UnknownNameError",
    "__version__",
    "data",
    "models",
    "nn",
    "optim",
    "print_summary",
    "quantizers",
    "summarize",
    "train",
]
