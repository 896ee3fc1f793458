"""Where a program's time goes: each op's wall time in the C++ executor (``onebit profile``).

The executor times every op of a call (``_native.Program.profile``); each figure here is the
median over ``repeats`` calls after one warm-up, on one batch of random inputs in [0, 1). The
share is of the ops' summed medians. GMAC/s is given for the layers that multiply and add: a
float ``dense``/``conv2d`` counts its multiply-adds; a binary one counts one binary
multiply-add per bit of its packed words (the reduction axis padded to 64 bits), which is what
its XNOR-popcount does. Like Larq Compute Engine's per-op benchmark output, this is for finding
what to fuse or speed up, not a benchmark against a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onebit._registry import OnebitError
from onebit.runtime.bit_format import WORD_BITS
from onebit.runtime.program import Program

MACS_PER_WORK = {"dense": 1, "conv2d": 1, "binary_dense": WORD_BITS, "binary_conv2d": WORD_BITS}
"""Multiply-adds per unit of an op's work count (binary layers count packed words)."""


@dataclass(frozen=True)
class OpTime:
    """One op's place in a profile."""

    index: int
    type: str
    output: str
    shape: tuple[int, ...]
    """Its output's per-sample shape."""
    seconds: float
    """Median wall time of the op for the whole batch."""
    share: float
    macs: float | None
    """Multiply-adds for the whole batch (None for ops that do not multiply and add)."""

    @property
    def gmacs_per_second(self) -> float | None:
        if self.macs is None or self.seconds <= 0:
            return None
        return self.macs / self.seconds / 1e9


def profile_program(
    program: Program, threads: int = 0, repeats: int = 20, batch: int = 1, seed: int = 0
) -> list[OpTime]:
    """Each op's median time over ``repeats`` calls on ``batch`` random samples with
    ``threads`` threads (0: the pool's count), in run order."""
    if type(batch) is not int or batch < 1:
        raise OnebitError(f"batch must be a positive int, got {batch!r}")
    if type(repeats) is not int or not 1 <= repeats <= 100_000:
        raise OnebitError(f"repeats must be 1 to 100000, got {repeats!r}")
    x = np.random.default_rng(seed).random((batch, *program.input_shape), dtype=np.float32)
    seconds = program.time_ops(x, threads=threads, repeats=repeats)
    total = sum(seconds) or 1.0
    rows = []
    for index, (op, (shape, work), time) in enumerate(
        zip(program.ops, program.op_outputs, seconds, strict=True)
    ):
        per_work = MACS_PER_WORK.get(op.type)
        macs = None if per_work is None else batch * work * per_work
        rows.append(OpTime(index, op.type, op.output, shape, time, time / total, macs))
    return rows


def print_profile(rows: list[OpTime], console, title: str) -> None:
    """The profile as a table, slowest op types summed under it."""
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for column in ("#", "op", "type", "output shape", "µs", "share", "GMAC/s"):
        table.add_column(column, justify="left" if column in ("op", "type") else "right")
    for row in rows:
        rate = row.gmacs_per_second
        table.add_row(
            str(row.index),
            row.output,
            row.type,
            "x".join(map(str, row.shape)),
            f"{row.seconds * 1e6:.1f}",
            f"{row.share:.1%}",
            "-" if rate is None else f"{rate:.1f}",
        )
    console.print(table)
    by_type: dict[str, float] = {}
    for row in rows:
        by_type[row.type] = by_type.get(row.type, 0.0) + row.seconds
    total = sum(by_type.values()) or 1e-30
    console.print(
        f"total {total * 1e3:.3f} ms over {len(rows)} ops; by type: "
        + ", ".join(
            f"{name} {seconds / total:.0%}"
            for name, seconds in sorted(by_type.items(), key=lambda item: -item[1])
        ),
        highlight=False,
        markup=False,
    )
