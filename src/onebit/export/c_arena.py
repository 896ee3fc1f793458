"""The static memory plan of a generated C model: one arena, every buffer at a fixed offset.

Each buffer (an intermediate value or an op's scratch) lives from the op that writes it to the
last op that reads it. Buffers are placed largest first, each at the lowest offset where it
overlaps no placed buffer that is alive at the same time (the greedy-by-size plan of TensorFlow
Lite Micro's ``GreedyMemoryPlanner``; Pisarchyk and Lee, "Efficient Memory Management for Deep
Neural Net Inference", 2020). The arena is the highest end of any placement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ALIGNMENT = 8
"""Bytes every offset is a multiple of (a float, an int32 and a 32-bit word all fit it)."""


@dataclass(frozen=True)
class Buffer:
    """``size`` bytes needed from op ``first`` through op ``last`` (inclusive)."""

    name: str
    size: int
    first: int
    last: int

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


def aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


def plan_arena(buffers: Iterable[Buffer]) -> tuple[dict[str, int], int]:
    """Offsets for ``buffers`` (by name) and the arena's size in bytes.

    Two buffers share bytes only if their lifetimes do not overlap.
    """
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[str, int] = {}
    for buffer in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        if buffer.name in offsets:
            raise ValueError(f"buffer {buffer.name!r} is planned twice")
        busy = sorted(
            (offset, offset + aligned(other.size))
            for other, offset in placed
            if other.overlaps_in_time(buffer)
        )
        offset = 0
        for start, end in busy:
            if offset + aligned(buffer.size) <= start:
                break
            offset = max(offset, end)
        placed.append((buffer, offset))
        offsets[buffer.name] = offset
    size = max((offset + aligned(b.size) for b, offset in placed), default=0)
    return offsets, size
