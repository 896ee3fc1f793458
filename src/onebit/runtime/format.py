"""The ``.onebit`` file: a safetensors file whose header metadata holds the program graph as JSON.

Layout (safetensors): an 8-byte little-endian header length, the header (JSON), then the tensor
bytes. The tensors (packed weights as uint64 words, thresholds as int32, comparison flips as
uint8, float parameters as float32) are ordinary safetensors entries; the header's
``__metadata__`` holds three strings: ``onebit.format`` (``"onebit-program"``), ``onebit.graph``
(the versioned JSON graph, see ``onebit.runtime.program``) and ``onebit.sha256``, the SHA-256 of
the graph text and the tensor payload (:func:`payload_digest`), checked at load so flipped bytes
in the weights or the graph are refused.

A file is untrusted input. This module parses the header itself (rather than through the
safetensors reader) so that it can check everything before it reads a byte of tensor data:
JSON nesting depth, numbers, every entry's type, dtype, shape and offsets, and that the tensors
tile the data region exactly. Loading never executes code, and every problem is a
:class:`ProgramFileError` with one line naming what was wrong.

``csrc/executor/program_file.h`` reads files for :mod:`onebit.runtime` (:func:`load_program`):
the reader here (:func:`read_program`, :func:`parse_program`) is its Python reference, with the
same checks in the same order and the same messages (``tests/runtime/
test_program_file_native.py`` compares the two). A change to a check or a message here is a
change to make there too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from onebit._registry import OnebitError
from onebit.atomic import atomic_write
from onebit.runtime.errors import ProgramFileError

FORMAT = "onebit-program"
VERSION = 1
FORMAT_KEY = "onebit.format"
GRAPH_KEY = "onebit.graph"
DIGEST_KEY = "onebit.sha256"

DTYPES = {
    "U64": np.dtype("<u8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
    "F32": np.dtype("<f4"),
}
"""The safetensors dtypes a program may hold, by their header names."""
ALLOWED_DTYPES = frozenset(DTYPES.values())

MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own cap
MAX_JSON_DEPTH = 64
MAX_DIMENSION = 2**31 - 1
MAX_AXES = 8
MAX_TENSORS = 65_536
"""Tensors a file may hold (the zoo's largest program has a few hundred), checked before the
header is parsed (from a count of its ``data_offsets`` keys) and right after, before any
per-tensor work."""
MAX_OPS = 65_536
"""Ops a program graph may hold (checked by the program before it builds any op)."""


def payload_digest(tensors: Mapping[str, np.ndarray], graph_text: str = "") -> str:
    """SHA-256 (hex) of the graph text, then the tensors in sorted name order, each as its name,
    dtype, shape and little-endian bytes: the checksum stored under ``onebit.sha256``."""
    digest = hashlib.sha256()
    graph_bytes = graph_text.encode("utf-8", "surrogatepass")
    digest.update(len(graph_bytes).to_bytes(8, "little") + graph_bytes)
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        label = f"{name}\0{array.dtype.newbyteorder('<').str}\0{','.join(map(str, array.shape))}\0"
        digest.update(len(label).to_bytes(8, "little") + label.encode())
        digest.update(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    return digest.hexdigest()


def save_program(
    path: str | os.PathLike[str], graph: dict[str, Any], tensors: dict[str, np.ndarray]
) -> None:
    """Write ``graph`` and ``tensors`` to ``path`` atomically (temporary file, then rename),
    with the payload checksum in the metadata."""
    from safetensors.numpy import save_file

    for name, array in tensors.items():
        if np.dtype(array.dtype) not in ALLOWED_DTYPES:
            raise OnebitError(
                f"tensor {name!r} has dtype {array.dtype}, not uint64/int32/uint8/float32"
            )
    contiguous = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    graph_text = json.dumps({"version": VERSION, **graph}, allow_nan=False)
    metadata = {
        FORMAT_KEY: FORMAT,
        GRAPH_KEY: graph_text,
        DIGEST_KEY: payload_digest(contiguous, graph_text),
    }
    atomic_write(path, lambda tmp: save_file(contiguous, str(tmp), metadata=metadata))


# -- reading -----------------------------------------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_DEPTH_STEP = np.zeros(256, np.int8)
_DEPTH_STEP[list(b"[{")] = 1
_DEPTH_STEP[list(b"]}")] = -1


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped)."""
    outside = _STRING.sub(b"", text.encode("utf-8", "surrogatepass"))
    steps = _DEPTH_STEP[np.frombuffer(outside, np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds_surrogate(node: Any) -> bool:
    """Whether a string in ``node`` holds an unpaired surrogate (from a ``\\u`` escape)."""
    if isinstance(node, str):
        return _SURROGATE.search(node) is not None
    if isinstance(node, dict):
        return any(_holds_surrogate(k) or _holds_surrogate(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_holds_surrogate(v) for v in node)
    return False


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, what: str) -> Any:
    """``json.loads`` for untrusted text: nesting deeper than :data:`MAX_JSON_DEPTH`, NaN and
    Infinity, integers beyond Python's digit limit and unpaired surrogates (``"\\ud800"``) are a
    :class:`ProgramFileError`."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ProgramFileError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProgramFileError(f"{what} is not valid JSON ({message[:200]})") from None
    # A str may hold an unpaired surrogate; UTF-8 (the C++ reader's strings, the checksum's
    # tensor labels) cannot, so such text is refused.
    if _SURROGATE_ESCAPE.search(text) and _holds_surrogate(value):
        raise ProgramFileError(f"{what} is not valid JSON (a \\u escape is an unpaired surrogate)")
    return value


def _shape(name: str, entry: Any) -> tuple[int, ...]:
    shape = entry.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_AXES
        or not all(type(d) is int and 0 <= d <= MAX_DIMENSION for d in shape)
    ):
        raise ProgramFileError(
            f"tensor {name!r}: shape must be a list of at most {MAX_AXES} integers in [0, 2^31)"
        )
    return tuple(shape)


def read_header(data: bytes) -> tuple[dict[str, str], dict[str, tuple[np.dtype, tuple, int]]]:
    """The metadata and, per tensor, ``(dtype, shape, offset into data)``, all checked."""
    if len(data) < 8:
        raise ProgramFileError("the file is too short for a safetensors header")
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER_BYTES or 8 + size > len(data):
        raise ProgramFileError(f"the header length {size} runs past the end of the file")
    try:
        text = data[8 : 8 + size].decode("utf-8")
    except UnicodeDecodeError:
        raise ProgramFileError("the header is not UTF-8 text") from None
    # Every tensor entry spells this key, so its count (computed before the JSON is parsed) is
    # at least the entries' (+1 for a tensor named so); the parsed header is counted again below.
    listed = data.count(b'"data_offsets"', 8, 8 + size)
    if listed > MAX_TENSORS + 1:
        raise ProgramFileError(
            f"the header lists {listed} tensor entries, more than {MAX_TENSORS} tensors"
        )
    header = parse_json(text, "the safetensors header")
    if not isinstance(header, dict):
        raise ProgramFileError("the safetensors header is not a JSON object")
    if len(header) > MAX_TENSORS + 1:  # + __metadata__
        raise ProgramFileError(
            f"the header lists {len(header)} entries, more than {MAX_TENSORS} tensors"
        )
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ProgramFileError("the header's __metadata__ must be an object of strings")
    entries = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise ProgramFileError(f"tensor {name!r}: its header entry is not an object")
        dtype = DTYPES.get(entry.get("dtype")) if isinstance(entry.get("dtype"), str) else None
        if dtype is None:
            raise ProgramFileError(
                f"tensor {name!r} has dtype {entry.get('dtype')!r}, not one of {sorted(DTYPES)}"
            )
        shape = _shape(name, entry)
        offsets = entry.get("data_offsets")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int and 0 <= o <= len(data) for o in offsets)
        ):
            raise ProgramFileError(f"tensor {name!r}: data_offsets must be two byte offsets")
        count = 1
        for d in shape:
            count *= d
        if offsets[1] - offsets[0] != count * dtype.itemsize:
            raise ProgramFileError(
                f"tensor {name!r}: data_offsets {offsets} do not hold a {dtype.name} "
                f"{list(shape)} tensor"
            )
        entries.append((offsets[0], offsets[1], name, dtype, shape))
    entries.sort()
    end = 0
    for begin, stop, name, _, _ in entries:
        if begin != end:
            raise ProgramFileError(f"tensor {name!r} overlaps another or leaves a gap before it")
        end = stop
    if 8 + size + end != len(data):
        raise ProgramFileError(
            f"the tensors end at byte {8 + size + end} but the file has {len(data)} bytes"
        )
    start = 8 + size
    return metadata, {
        name: (dtype, shape, start + begin) for begin, _, name, dtype, shape in entries
    }


def load_program(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a ``.onebit`` file with the C++ reader: the graph (not yet validated as a program)
    and its tensors (64-byte aligned copies), after checking the header and the checksum.

    Raises:
        ProgramFileError: the file is missing, unreadable, corrupt or not a program.
    """
    from onebit.runtime.program import executor_module

    return executor_module().load_program_file(str(Path(path)))


def read_program(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """:func:`load_program` in Python: the reference reader (:func:`parse_program`)."""
    path = Path(path)
    if not path.is_file():
        raise ProgramFileError(f"program file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ProgramFileError(f"{path} cannot be read ({error.strerror or error})") from None
    try:
        return parse_program(data)
    except ProgramFileError as error:
        raise type(error)(f"{path}: {error}") from None


def parse_program(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """:func:`load_program` on the bytes of a file."""
    try:
        metadata, layout = read_header(data)
    except ProgramFileError as error:
        raise ProgramFileError(f"not a readable onebit program: {error}") from None
    if metadata.get(FORMAT_KEY) != FORMAT:
        raise ProgramFileError("not a onebit program (no onebit header)")
    if GRAPH_KEY not in metadata:
        raise ProgramFileError("the program graph is missing")
    text = metadata[GRAPH_KEY]
    tensors = {
        name: np.frombuffer(data, dtype, int(np.prod(shape, dtype=np.int64)), offset)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
        for name, (dtype, shape, offset) in layout.items()
    }
    expected = metadata.get(DIGEST_KEY)
    if expected is None:
        raise ProgramFileError(f"the file has no checksum ({DIGEST_KEY}); convert the model again")
    if payload_digest(tensors, text) != expected:
        raise ProgramFileError(
            "the graph or tensor data does not match its checksum (corrupt file)"
        )
    graph = parse_json(text, "the program graph")
    if not isinstance(graph, dict):
        raise ProgramFileError("the program graph is not a JSON object")
    if graph.get("version") != VERSION:
        raise ProgramFileError(
            f"program format version {graph.get('version')!r} is not supported "
            f"(this onebit reads version {VERSION})"
        )
    return graph, tensors
