"""The ``.onebit`` file: a safetensors file whose header metadata holds the program graph as JSON.

Layout: the tensors (packed weights as uint64 words, thresholds as int32, comparison flips as
uint8, float parameters as float32) are ordinary safetensors entries; the header's ``__metadata__``
holds two strings, ``onebit.format`` (``"onebit-program"``) and ``onebit.graph`` (the versioned
JSON graph, see ``onebit.runtime.program``). Loading parses JSON and raw little-endian arrays only:
it never executes code. A file that is truncated, corrupt or not ours is refused with a clear
error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from onebit._registry import OnebitError
from onebit.atomic import atomic_write

FORMAT = "onebit-program"
VERSION = 1
FORMAT_KEY = "onebit.format"
GRAPH_KEY = "onebit.graph"

ALLOWED_DTYPES = frozenset(np.dtype(t) for t in (np.uint64, np.int32, np.uint8, np.float32))


class ProgramFileError(OnebitError):
    """A ``.onebit`` file that cannot be loaded: missing, truncated, corrupt or foreign."""


def save_program(
    path: str | os.PathLike[str], graph: dict[str, Any], tensors: dict[str, np.ndarray]
) -> None:
    """Write ``graph`` and ``tensors`` to ``path`` atomically (temporary file, then rename)."""
    from safetensors.numpy import save_file

    for name, array in tensors.items():
        if np.dtype(array.dtype) not in ALLOWED_DTYPES:
            raise OnebitError(
                f"tensor {name!r} has dtype {array.dtype}, not uint64/int32/uint8/float32"
            )
    metadata = {FORMAT_KEY: FORMAT, GRAPH_KEY: json.dumps({"version": VERSION, **graph})}
    contiguous = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    atomic_write(path, lambda tmp: save_file(contiguous, str(tmp), metadata=metadata))


def load_program(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a ``.onebit`` file: the graph (validated later by the program) and its tensors."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ProgramFileError(f"program file not found: {path}")
    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
            if metadata.get(FORMAT_KEY) != FORMAT:
                raise ProgramFileError(f"{path} is not a onebit program (no onebit header)")
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        raise ProgramFileError(f"{path} is not a readable onebit program ({error})") from None
    try:
        graph = json.loads(metadata[GRAPH_KEY])
    except (KeyError, json.JSONDecodeError) as error:
        raise ProgramFileError(
            f"{path}: the program graph is missing or not JSON ({error})"
        ) from None
    if not isinstance(graph, dict):
        raise ProgramFileError(f"{path}: the program graph is not a JSON object")
    if graph.get("version") != VERSION:
        raise ProgramFileError(
            f"{path}: program format version {graph.get('version')!r} is not supported "
            f"(this onebit reads version {VERSION})"
        )
    for name, array in tensors.items():
        if array.dtype not in ALLOWED_DTYPES:
            raise ProgramFileError(f"{path}: tensor {name!r} has unexpected dtype {array.dtype}")
    return graph, tensors
