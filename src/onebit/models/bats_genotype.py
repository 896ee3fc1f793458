"""A BATS genotype: which two ops feed each node of the normal and the reduction cell.

The DARTS cell (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019),
as BATS searches it: two inputs (the outputs of the two previous cells, states 0 and 1) and
``nodes`` intermediate nodes; node ``i`` (state ``2 + i``) sums two ops, each applied to an
earlier state; the cell outputs the concatenation of its nodes.

On disk a genotype is a small JSON file (``onebit search bats`` writes it)::

    {"format": "onebit-bats-genotype", "version": 1,
     "normal": [["group_conv_3x3", 0], ["skip_connect", 1], ...],   # 2 per node
     "reduce": [...], "search": {...}}                               # "search": how it was found

A genotype file is untrusted input: :func:`load_genotype` refuses anything that is not one, with
an error naming what is wrong, and never executes code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onebit._registry import OnebitError
from onebit.atomic import atomic_open
from onebit.models.bats_ops import PRIMITIVES

FORMAT = "onebit-bats-genotype"
VERSION = 1
MAX_GENOTYPE_BYTES = 1 << 20
MAX_NODES = 16
CELL_TYPES = ("normal", "reduce")


@dataclass(frozen=True)
class Genotype:
    """The two cells of a BATS network.

    Attributes:
        normal: ``(op, input state)`` pairs of the normal cell, two per node.
        reduce: the same for the reduction cell (its ops on states 0 and 1 run at stride 2).
        search: how the genotype was found (dataset, epochs, temperature, ...), for reports.
    """

    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]
    search: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for cell in CELL_TYPES:
            check_cell(getattr(self, cell), cell)
        if len(self.normal) != len(self.reduce):
            raise OnebitError(
                f"genotype: the normal cell has {len(self.normal) // 2} nodes and the reduction "
                f"cell {len(self.reduce) // 2}; they must match"
            )

    @property
    def nodes(self) -> int:
        return len(self.normal) // 2

    def cell(self, reduction: bool) -> tuple[tuple[str, int], ...]:
        return self.reduce if reduction else self.normal

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "normal": [list(edge) for edge in self.normal],
            "reduce": [list(edge) for edge in self.reduce],
            "search": self.search,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "genotype") -> Genotype:
        """A genotype from its JSON form; anything else is refused, naming what is wrong."""
        if not isinstance(data, dict):
            raise OnebitError(f"{source}: a genotype is a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise OnebitError(f"{source}: not a onebit BATS genotype (format {FORMAT!r} missing)")
        if data.get("version") != VERSION:
            raise OnebitError(
                f"{source}: genotype version {data.get('version')!r} is not supported "
                f"(this onebit reads version {VERSION})"
            )
        unknown = set(data) - {"format", "version", "normal", "reduce", "search"}
        if unknown:
            raise OnebitError(f"{source}: unknown genotype keys {sorted(unknown)}")
        cells = {}
        for cell in CELL_TYPES:
            edges = data.get(cell)
            if not isinstance(edges, list):
                raise OnebitError(f"{source}: {cell!r} must be a list of [op, input] pairs")
            pairs = []
            for i, edge in enumerate(edges):
                if (
                    not isinstance(edge, list)
                    or len(edge) != 2
                    or not isinstance(edge[0], str)
                    or not isinstance(edge[1], int)
                    or isinstance(edge[1], bool)
                ):
                    raise OnebitError(
                        f"{source}: {cell} edge {i} must be [op name, input index], got {edge!r}"
                    )
                pairs.append((edge[0], edge[1]))
            cells[cell] = tuple(pairs)
        search = data.get("search", {})
        if not isinstance(search, dict):
            raise OnebitError(f"{source}: 'search' must be an object")
        try:
            return cls(cells["normal"], cells["reduce"], search)
        except OnebitError as err:
            raise OnebitError(f"{source}: {err}") from None


def check_cell(edges: tuple[tuple[str, int], ...], cell: str) -> None:
    """Two edges per node, known ops other than ``none``, each from an earlier state."""
    if not edges or len(edges) % 2 or len(edges) > 2 * MAX_NODES:
        raise OnebitError(
            f"genotype {cell} cell: needs two edges per node, 1 to {MAX_NODES} nodes; "
            f"got {len(edges)} edges"
        )
    for i, (op, source) in enumerate(edges):
        if op not in PRIMITIVES or op == "none":
            raise OnebitError(
                f"genotype {cell} cell, edge {i}: unknown op {op!r}; expected one of "
                f"{[p for p in PRIMITIVES if p != 'none']}"
            )
        node = i // 2
        if not 0 <= source < 2 + node:
            raise OnebitError(
                f"genotype {cell} cell, edge {i}: node {node} can read states 0 to "
                f"{1 + node}, got input {source}"
            )


def save_genotype(genotype: Genotype, path: str | os.PathLike[str]) -> Path:
    """Write ``genotype`` as JSON (atomically: a crash leaves the old file)."""
    with atomic_open(path, "w") as handle:
        json.dump(genotype.to_dict(), handle, indent=1)
        handle.write("\n")
    return Path(path)


def load_genotype(path: str | os.PathLike[str]) -> Genotype:
    """Read a genotype file written by :func:`save_genotype`; anything else is refused."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise OnebitError(f"cannot read genotype {path}: {err.strerror}") from None
    if size > MAX_GENOTYPE_BYTES:
        raise OnebitError(f"genotype {path}: {size} bytes is too large for a genotype file")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OnebitError(f"genotype {path} is not JSON: {err}") from None
    return Genotype.from_dict(data, str(path))


def resolve_genotype(value: Any) -> Genotype:
    """A :class:`Genotype`, its JSON dict (as a checkpoint's model config stores it), or the path
    of a genotype file."""
    if isinstance(value, Genotype):
        return value
    if isinstance(value, dict):
        return Genotype.from_dict(value)
    if isinstance(value, (str, os.PathLike)):
        return load_genotype(value)
    raise OnebitError(
        f"genotype must be a genotype file's path or its JSON object, got {type(value).__name__}"
    )
