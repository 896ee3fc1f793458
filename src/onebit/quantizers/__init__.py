"""Quantizers: the forward rule that binarizes (or k-bit quantizes) a tensor, and its surrogate
gradient.

Each quantizer is a function (``ste_sign``) built on a ``torch.autograd.Function`` and a small
module (``SteSign``) that holds its arguments; the registry name is the function's name. Where Larq
has the same quantizer, the argument names, the forward rule and the gradient are Larq's, so a
model moved from Larq gets the same numbers.

The sign convention is written down once, here: ``sign(0) = +1``. The packed engine stores +1 as a
0 bit and -1 as a 1 bit, and relies on this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from onebit.quantizers.base import QUANTIZERS, Identity, Quantizer, identity, sign
from onebit.quantizers.binary import (
    ApproxSign,
    MagnitudeAwareSign,
    SteSign,
    StochasticSign,
    SwishSign,
    approx_sign,
    magnitude_aware_sign,
    ste_sign,
    stochastic_sign,
    swish_sign,
)
from onebit.quantizers.multibit import LSQ, DoReFa, dorefa, lsq
from onebit.quantizers.switchable import NestedLSQ, SwitchableLSQ, nested_lsq, switchable_lsq

__all__ = [
    "LSQ",
    "QUANTIZERS",
    "ApproxSign",
    "DoReFa",
    "Identity",
    "MagnitudeAwareSign",
    "NestedLSQ",
    "Quantizer",
    "SteSign",
    "StochasticSign",
    "SwishSign",
    "SwitchableLSQ",
    "approx_sign",
    "dorefa",
    "get",
    "identity",
    "lsq",
    "magnitude_aware_sign",
    "nested_lsq",
    "precision_of",
    "sign",
    "ste_sign",
    "stochastic_sign",
    "swish_sign",
    "switchable_lsq",
]


_FUNCTIONS: dict[Callable[..., torch.Tensor], str] = {
    ste_sign: "ste_sign",
    stochastic_sign: "stochastic_sign",
    approx_sign: "approx_sign",
    swish_sign: "swish_sign",
    magnitude_aware_sign: "magnitude_aware_sign",
    dorefa: "dorefa",
    lsq: "lsq",
    nested_lsq: "nested_lsq",
    switchable_lsq: "switchable_lsq",
    identity: "identity",
}


def get(spec: Any) -> nn.Module | Callable[[torch.Tensor], torch.Tensor] | None:
    """Resolve a quantizer: a name, a config dict, a module, one of our functions, or None.

    A name, a config dict or one of our functions builds the module (so its precision is known);
    another callable passes through unchanged; None stays None.
    """
    if isinstance(spec, type) and issubclass(spec, Quantizer):
        return spec()
    if callable(spec) and not isinstance(spec, nn.Module) and spec in _FUNCTIONS:
        return QUANTIZERS.create(_FUNCTIONS[spec])
    return QUANTIZERS.get(spec)


def precision_of(quantizer: Any) -> int:
    """Bit width a resolved quantizer outputs: 32 for None or a callable that does not say."""
    if quantizer is None:
        return 32
    return int(getattr(quantizer, "precision", 32))
