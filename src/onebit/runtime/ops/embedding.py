"""The token embedding: a table lookup from the program's token ids to a sequence map.

A sequence of ``L`` tokens is the map ``(1, L, C)`` (height 1, width ``L``): torch's ``(N, C, L)``
in the engine's NHWC, so that the 2-D ops (``binary_conv2d`` with a ``(1, k)`` kernel, the pools)
run over it. The ids come as float32 (the program's input is float32) and every one is checked
when the op runs: an id that is not an integer in ``[0, V)`` (NaN and inf included) is an
:class:`~onebit.OnebitError` naming the op, the sample, the position and the value.
"""

from __future__ import annotations

import numpy as np

from onebit._registry import OnebitError
from onebit.runtime import reference
from onebit.runtime.bit_format import WORD_DTYPE, words_for
from onebit.runtime.ops.base import Op, ProgramError, check_padding_bits
from onebit.runtime.shapes import MAX_TOKEN_ID, Value, abs_max, bits_value, float_value


class Embedding(Op):
    """Row ``id`` of a table for each token id of the program's ``tokens`` input ``(L,)``.

    Attrs: ``dim`` (``D``, >= 1) and ``output``: ``"bits"``, a binary embedding whose table is the
    packed signs ``(V, words_for(D))`` uint64 (padding bits zero; sign(0) = +1 is bit 0), giving
    a packed map ``(1, L, words)``; or ``"float"``, a float32 table ``(V, D)``, giving a float map
    ``(1, L, D)``. ``V`` is 1 to 2^24 (the ids float32 holds exactly). Tensor: ``table``.
    """

    type = "embedding"

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.dim = self.int_attr("dim", 1)
        self.output = self.attrs.get("output")
        if self.output not in ("bits", "float"):
            raise ProgramError(f"op {self.where}: output must be 'bits' or 'float'")
        if self.output == "bits":
            self.table = self.tensor("table", WORD_DTYPE, (None, words_for(self.dim)))
            check_padding_bits(self, "table", self.table, self.dim)
        else:
            self.table = self.tensor("table", np.float32, (None, self.dim))
        self.rows = self.table.shape[0]
        if not 1 <= self.rows <= MAX_TOKEN_ID:
            raise ProgramError(
                f"op {self.where}: the table has {self.rows} rows; an embedding has 1 to 2^24 "
                "(the ids float32 holds exactly)"
            )

    def infer(self, inputs: list[Value]) -> Value:
        x = inputs[0]
        self.expect(x, "tokens", 1)
        length, width = x.shape[0], self.table.shape[1]
        self.work = length * width
        if self.output == "bits":
            return bits_value((1, length, width), self.dim, self.where)
        return float_value((1, length, width), abs_max(self.table), self.where)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.dtype != np.float32:
            raise OnebitError(
                f"op {self.where} expects (N, L) float32 ids, got {x.dtype} {x.shape}"
            )
        check_ids(self, x, self.rows)
        rows = reference.embedding(x, self.table)
        return np.ascontiguousarray(rows[:, None])  # (N, 1, L, width)


def check_ids(op: Op, ids: np.ndarray, rows: int) -> None:
    """Refuse the first id (in sample, then position order) that is not an integer in
    ``[0, rows)``, as the C++ op does."""
    with np.errstate(invalid="ignore"):
        bad = ~((ids >= 0) & (ids < rows) & (ids == np.floor(ids)))
    if bad.any():
        sample, position = (int(i) for i in np.argwhere(bad)[0])
        value = float(ids[sample, position])
        raise OnebitError(
            f"op {op.where}: token id {value:.9g} at sample {sample}, position {position} is not "
            f"an integer in [0, {rows})"
        )
