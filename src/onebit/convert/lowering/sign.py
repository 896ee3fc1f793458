"""Quantizer modules in the graph (e.g. ReActNet's RSign): a sign -> packed bits; the identity
quantizer passes its input on; the others (multi-bit, magnitude-aware activations) are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onebit import quantizers as q
from onebit.convert.ir import ConversionError
from onebit.convert.lowering.quantized import describe, quantizer_kind
from onebit.convert.lowering.registry import lowers

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(*(q.QUANTIZERS.builder(name) for name in q.QUANTIZERS))
def quantizer(lowering: Lowering, call: Call, module: q.Quantizer, x: Value) -> Value:
    kind = quantizer_kind(module, "the", call.where)
    if kind == "identity":
        return x
    if kind == "sign":
        return lowering.as_bits(x, call.where)
    raise ConversionError(f"{call.where}: quantizer {describe(module)} is not 1-bit")
