"""Token embeddings: ``nn.Embedding`` and ``QuantEmbedding`` -> ``embedding``, reading the
program's token ids. A binary table (a 1-bit sign weight quantizer) is stored as its packed signs
and gives packed bits; a float one (no quantizer) gives floats. The output, torch's (L, D) rows,
is the engine map (1, L, D); ``x.transpose(1, 2)`` makes it the (D, L) sequence a ``Conv1d``
reads without an op (``ir.LAYOUTS``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from onebit.convert.ir import ConversionError
from onebit.convert.lowering.quantized import check_finite, describe, quantizer_kind
from onebit.convert.lowering.registry import lowers
from onebit.nn import QuantEmbedding
from onebit.runtime.reference import bitpack
from onebit.runtime.shapes import MAX_TOKEN_ID

if TYPE_CHECKING:
    from onebit.convert.ir import Value
    from onebit.convert.lower import Call, Lowering


@lowers(nn.Embedding, QuantEmbedding)
def embedding(lowering: Lowering, call: Call, layer: nn.Embedding, x: Value) -> Value:
    where = call.where
    if x.kind != "tokens":
        raise ConversionError(f"{where}: an embedding reads the program's token ids (its input)")
    if layer.max_norm is not None:
        raise ConversionError(
            f"{where}: max_norm={layer.max_norm} renormalizes the rows it looks up (in place); "
            "the engine's table is fixed"
        )
    if layer.num_embeddings > MAX_TOKEN_ID:
        raise ConversionError(
            f"{where}: {layer.num_embeddings} rows; the engine's embedding holds at most 2^24 "
            "(the ids float32 holds exactly)"
        )
    quantizer = getattr(layer, "weight_quantizer", None)
    kind = quantizer_kind(quantizer, "weight", where)
    if kind not in ("sign", "identity"):
        raise ConversionError(
            f"{where}: weight quantizer {describe(quantizer)} is not a 1-bit sign: only binary "
            "(e.g. 'ste_sign') or float tables are supported"
        )
    weight = layer.weight.detach()
    check_finite(weight, f"{where}: the table")
    (length,), dim = x.shape, layer.embedding_dim
    binary = kind == "sign"
    out = lowering.new_value(
        "bits" if binary else "float", (1, length, dim), call.out_shape, "rows"
    )
    if binary:
        arrays = {"table": bitpack(weight.numpy())}  # (V, words): sign(0) = +1 is bit 0
    else:
        arrays = {"table": np.ascontiguousarray(weight.numpy(), dtype=np.float32)}
    attrs = {"dim": dim, "output": "bits" if binary else "float"}
    lowering.emit("embedding", [x], out, attrs=attrs, arrays=arrays)
    return out
