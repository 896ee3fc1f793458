"""The quantizer base: the :class:`Quantizer` module every quantizer subclasses, its registry,
the sign convention, and the full-precision ``identity`` slot."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from onebit._registry import Registry


def sign(x: torch.Tensor) -> torch.Tensor:
    """Sign with ``sign(0) = +1``, in the dtype of ``x``; no gradient rule of its own."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def identity(x: torch.Tensor) -> torch.Tensor:
    """The full-precision slot: returns ``x`` unchanged (32 bits)."""
    return x


QUANTIZERS: Registry[Quantizer] = Registry("quantizer", instance_type=nn.Module)


class Quantizer(nn.Module):
    """Base of the quantizer modules.

    Attributes:
        name: the registry name, equal to the functional quantizer's name.
        precision: the bit width of what it outputs (1 for the sign family, 32 for identity).
    """

    name: ClassVar[str]
    precision: int = 32

    def __init__(self) -> None:
        super().__init__()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            QUANTIZERS.register(cls.name)(cls)

    def arguments(self) -> dict[str, Any]:
        """The constructor arguments, JSON-safe."""
        return {}

    def get_config(self) -> dict[str, Any]:
        """A JSON-safe config that ``onebit.quantizers.get`` turns back into an equal module."""
        return {"name": self.name, **self.arguments()}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.arguments().items())


class Identity(Quantizer):
    __doc__ = identity.__doc__
    name = "identity"
    precision = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
