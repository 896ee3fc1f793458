"""Lowerings of the model's layers and tensor operations to program ops, one module per family:
``linear``, ``conv`` (2-D, and 1-D over sequences), ``embedding`` (token ids), ``norm`` (batch
norm and shifts), ``pool``, ``elementwise``, ``join``, ``shape`` (flatten, pad, the swap of a
sequence's axes), ``resize`` (nearest upsampling), ``shuffle`` (channel shuffle), ``sign``
(quantizer modules) and ``dynamic`` (DyBNN's input-dependent sign and PReLU). Each registers what
it lowers in ``registry``; importing this package registers them all."""

from onebit.convert.lowering import (  # noqa: F401  (registers the lowerings)
    conv,
    dynamic,
    elementwise,
    embedding,
    join,
    linear,
    norm,
    pool,
    resize,
    shape,
    shuffle,
    sign,
)
from onebit.convert.lowering.registry import call_name, is_registered_subclass, module_lowering

__all__ = ["call_name", "is_registered_subclass", "module_lowering"]
