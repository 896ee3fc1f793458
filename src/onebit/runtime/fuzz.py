"""Structured fuzzing of the ``.onebit`` loader: a file is untrusted input, so no file may crash,
hang, raise anything but :class:`ProgramFileError` / :class:`ProgramError`, or load and then
return non-finite outputs for finite inputs.

Seed programs (small graphs built here with NumPy, covering every op, or any ``.onebit`` files
given) are mutated in ways a fuzzer learns to try (JSON type swaps, sizes near 2^31, 2^32 and
2^63, huge integers, deep nesting, renamed or missing names, tensor dtypes, shapes and values,
header fields, flipped bytes, truncations). Graph mutations are saved with a valid checksum, so
they reach the graph's validation rather than stopping at the checksum.

Each case runs in a worker process (load, a call on a finite batch within ``[-1, 1]``, a call on
an empty batch) supervised with a timeout: a worker that dies or hangs is recorded with the case
and replaced, so one process serves many files. Used by ``tests/runtime/test_fuzz.py`` (a few
thousand cases) and ``benchmarks/fuzz_programs.py`` (the long run).
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onebit.runtime.format import DIGEST_KEY, FORMAT, FORMAT_KEY, GRAPH_KEY, payload_digest
from onebit.runtime.reference import bitpack

FAILURES = ("error", "nonfinite", "crash", "hang")
"""Outcome classes that fail a run; the others are ``ok`` and ``refused``."""

WORKER_MAX_MEMORY = 256 * 2**20
WORKER_MAX_WORK = 2**28

# -- seed programs ------------------------------------------------------------------------------


class _Graph:
    """A small program under construction: ops, tensors and fresh value names."""

    def __init__(self, seed: int, shape: list[int]) -> None:
        self.rng = np.random.default_rng(seed)
        self.ops: list[dict] = []
        self.tensors: dict[str, np.ndarray] = {}
        self.input = {"name": "input", "shape": shape}

    def add(self, kind: str, inputs: list[str], attrs: dict | None = None, **tensors) -> str:
        output = f"v{len(self.ops)}"
        roles = {}
        for role, array in tensors.items():
            name = f"op{len(self.ops)}.{role}"
            self.tensors[name] = array
            roles[role] = name
        self.ops.append(
            {
                "type": kind,
                "inputs": inputs,
                "output": output,
                "attrs": attrs or {},
                "tensors": roles,
            }
        )
        return output

    def floats(self, *shape: int, scale: float = 0.5) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def packed(self, *shape: int) -> np.ndarray:
        *outer, channels = shape
        return bitpack(self.rng.standard_normal((*outer, channels)).astype(np.float32))

    def thresholds(self, channels: int, k: int) -> dict[str, np.ndarray]:
        return {
            "threshold": self.rng.integers(-k // 4, k // 4 + 1, channels).astype(np.int32),
            "flip": self.rng.integers(0, 2, channels).astype(np.uint8),
        }

    def affine(self, channels: int) -> dict[str, np.ndarray]:
        return {"scale": self.floats(channels), "bias": self.floats(channels)}

    def graph(self, output: str) -> dict:
        return {"input": self.input, "output": output, "ops": self.ops, "metadata": {"seed": 1}}


def mlp_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """Flatten, sign, binary dense layers (bits, float with a post tail, int), float dense."""
    g = _Graph(1, [1, 8, 8])
    x = g.add("flatten", ["input"])
    x = g.add("sign_pack", [x])
    x = g.add(
        "binary_dense",
        [x],
        {"k": 64, "epilogue": "bits"},
        weight=g.packed(40, 64),
        **g.thresholds(40, 64),
    )
    post = [{"step": "affine"}, {"step": "prelu"}, {"step": "hardtanh", "min": -2.0, "max": 2.0}]
    y = g.add(
        "binary_dense",
        [x],
        {"k": 40, "epilogue": "float", "post": post},
        weight=g.packed(24, 40),
        **g.affine(24),
        post0_scale=g.floats(24),
        post0_bias=g.floats(24),
        post1_slope=g.floats(24),
    )
    y = g.add("relu", [y])
    y = g.add("affine", [y], {"channels": 24}, **g.affine(24))
    y = g.add("hardtanh", [y], {"min": -1.5, "max": 1.0})
    y = g.add("prelu", [y], slope=g.floats(1))
    z = g.add(
        "dense",
        [y],
        {"in_features": 24, "out_features": 24, "epilogue": "affine"},
        weight_bits=g.packed(24, 24),
        **g.affine(24),
    )
    z = g.add("add", [z, y])
    z = g.add(
        "dense",
        [z],
        {"in_features": 24, "out_features": 16, "epilogue": "sign"},
        weight=g.floats(16, 24),
        **g.affine(16),
    )
    z = g.add("binary_dense", [z], {"k": 16, "epilogue": "int"}, weight=g.packed(10, 16))
    return g.graph(z), g.tensors


def cnn_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """Float, depthwise and grouped convs, pad, pools, binary convs with a residual tail,
    concat, add, global average pool and a float classifier."""
    g = _Graph(2, [3, 12, 12])
    x = g.add("nchw_to_nhwc", ["input"])
    conv = {"kernel": [3, 3], "stride": [1, 1], "padding": [1, 1, 1, 1], "pad_value": 0.0}
    x = g.add(
        "conv2d",
        [x],
        {**conv, "cin": 3, "cout": 8, "epilogue": "affine"},
        weight=g.floats(8, 3, 3, 3),
        **g.affine(8),
    )
    x = g.add("relu", [x])
    x = g.add("maxpool2d", [x], {"kernel": [2, 2], "stride": [2, 2], "padding": [1, 1]})
    x = g.add(  # depthwise, multiplier 2, with a post tail
        "conv2d",
        [x],
        {
            **conv,
            "cin": 8,
            "cout": 16,
            "groups": 8,
            "epilogue": "affine",
            "post": [{"step": "relu"}],
        },
        weight=g.floats(16, 3, 3, 1),
        **g.affine(16),
    )
    x = g.add(
        "conv2d",
        [x],
        {
            "kernel": [1, 1],
            "stride": [1, 1],
            "padding": [0, 0],
            "pad_value": 0.0,
            "cin": 16,
            "cout": 8,
            "groups": 2,
            "epilogue": "none",
        },
        weight_bits=g.packed(8, 1, 1, 8),
    )
    f = g.add("pad", [x], {"padding": [1, 0, 0, 1], "value": 0.5})  # (8, 8, 8)
    b = g.add("sign_pack", [f])
    b = g.add(
        "binary_conv2d",
        [b],
        {"cin": 8, "stride": [1, 1], "padding": [1, 1], "pad_value": 1.0, "epilogue": "bits"},
        weight=g.packed(16, 3, 3, 8),
        **g.thresholds(16, 72),
    )
    b = g.add("binary_maxpool2d", [b], {"kernel": [2, 2], "stride": [1, 1], "padding": [0, 0]})
    r = g.add("avgpool2d", [f], {"kernel": [3, 3], "stride": [2, 2], "padding": [0, 0]})
    y = g.add(  # (7, 7) -> (3, 3) with the average-pooled residual
        "binary_conv2d",
        [b, r],
        {
            "cin": 16,
            "stride": [2, 2],
            "padding": [0, 0],
            "pad_value": 0.0,
            "epilogue": "float",
            "post": [{"step": "add"}],
        },
        weight=g.packed(8, 3, 3, 16),
        **g.affine(8),
    )
    j = g.add("concat", [y, r], {"channels": [8, 8]})
    s = g.add("affine", [j], {"channels": 16}, **g.affine(16))
    j = g.add("add", [j, s])
    big = g.add("avgpool2d", [f], {"kernel": [9, 8], "stride": [1, 1], "padding": [1, 0]})
    p = g.add("global_avgpool", [j])
    q = g.add("global_avgpool", [big])
    p = g.add("concat", [p, q], {"channels": [16, 8]})
    out = g.add(
        "dense",
        [p],
        {"in_features": 24, "out_features": 5, "epilogue": "affine"},
        weight=g.floats(5, 24),
        **g.affine(5),
    )
    return g.graph(out), g.tensors


def packed_seed() -> tuple[dict, dict[str, np.ndarray]]:
    """Packed concatenation (word-aligned and not), a feature map back in torch's layout,
    and a binary conv with an int epilogue flattened to the output."""
    g = _Graph(3, [4, 5, 6])
    x = g.add("nchw_to_nhwc", ["input"])
    a = g.add("sign_pack", [x])
    w = g.add(
        "binary_conv2d",
        [a],
        {"cin": 4, "stride": [1, 1], "padding": [1, 1], "pad_value": 1.0, "epilogue": "bits"},
        weight=g.packed(64, 3, 3, 4),
        **g.thresholds(64, 36),
    )
    aligned = g.add("binary_concat", [w, a], {"channels": [64, 4]})
    mixed = g.add("binary_concat", [a, aligned], {"channels": [4, 68]})
    y = g.add(
        "binary_conv2d",
        [mixed],
        {"cin": 72, "stride": [1, 2], "padding": [0, 1], "pad_value": 0.0, "epilogue": "float"},
        weight=g.packed(6, 1, 3, 72),
        **g.affine(6),
    )
    y = g.add("nhwc_to_nchw", [y])
    t = g.add("nchw_to_nhwc", [y])
    t = g.add("sign_pack", [t])
    t = g.add(
        "binary_conv2d",
        [t],
        {"cin": 6, "stride": [1, 1], "padding": [0, 0], "pad_value": 0.0, "epilogue": "int"},
        weight=g.packed(3, 2, 2, 6),
    )
    return g.graph(g.add("flatten", [t])), g.tensors


SEEDS: dict[str, Callable[[], tuple[dict, dict[str, np.ndarray]]]] = {
    "mlp": mlp_seed,
    "cnn": cnn_seed,
    "packed": packed_seed,
}

# -- writing files byte by byte -----------------------------------------------------------------

_SAFETENSORS_DTYPES = {"<u8": "U64", "<i4": "I32", "|u1": "U8", "<f4": "F32"}


def assemble(graph_text: str, tensors: dict[str, np.ndarray], digest: str | None = None) -> bytes:
    """A ``.onebit`` file's bytes: any graph text (valid JSON or not) with the tensors, as
    safetensors lays them out, and the payload checksum (``digest`` overrides it)."""
    arrays = {name: np.ascontiguousarray(a) for name, a in sorted(tensors.items())}
    header: dict[str, Any] = {}
    offset = 0
    for name, array in arrays.items():
        dtype = _SAFETENSORS_DTYPES[array.dtype.newbyteorder("<").str]
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    metadata = {
        FORMAT_KEY: FORMAT,
        GRAPH_KEY: "\0GRAPH\0",
        DIGEST_KEY: payload_digest(arrays) if digest is None else digest,
    }
    text = json.dumps({"__metadata__": metadata, **header})
    text = text.replace('"\\u0000GRAPH\\u0000"', json.dumps(graph_text))
    raw = text.encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(a.tobytes() for a in arrays.values())


def graph_text(graph: dict) -> str:
    return json.dumps({"version": 1, **graph})


def seed_files() -> dict[str, bytes]:
    """The built-in seed programs as file bytes."""
    files = {}
    for name, build in SEEDS.items():
        graph, tensors = build()
        files[name] = assemble(graph_text(graph), tensors)
    return files


# -- mutations ----------------------------------------------------------------------------------

EDGE_INTS = [
    0,
    -1,
    1,
    2,
    3,
    7,
    63,
    64,
    65,
    127,
    65535,
    65536,
    2**31 - 2,
    2**31 - 1,
    2**31,
    2**31 + 1,
    2**32 - 3,
    2**32 - 1,
    2**32,
    2**32 + 1,
    2**33,
    2**62,
    2**63 - 1,
    2**63,
    2**63 + 1,
    2**64,
    -(2**31),
    -(2**63),
    1073741820,
    4294967293,
]
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    5,
    -1,
    0.5,
    1e39,
    "x",
    "",
    [],
    {},
    [1, 2],
    [[1]],
    {"a": 1},
    ["v0"],
    [1.5, 2],
    ["1", "2"],
    2**64,
]
EDGE_FLOATS = [1e39, -1e39, 3.4e38, -3.4e38, 1e30, 1e300, -1e300, 0.0, -0.0, 1e-45]
FOREIGN_DTYPES = ["BF16", "F16", "F64", "F8_E4M3", "F8_E5M2", "I64", "I8", "U16", "BOOL", "??", 5]


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _set(root: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        root = root[key]
    root[path[-1]] = value


def _pick(rng: np.random.Generator, items: list) -> Any:
    return items[int(rng.integers(len(items)))]


@dataclass
class Case:
    """One mutated file and how it was made."""

    seed: str
    kind: str
    detail: str
    data: bytes


class Mutator:
    """Structured mutations of seed files; ``case(index)`` is a pure function of the run's seed
    and the index, so any case replays alone."""

    def __init__(self, seeds: dict[str, bytes], seed: int = 0) -> None:
        from onebit.runtime.format import parse_program

        self.seed = seed
        self.seeds = {name: (data, *parse_program(data)) for name, data in seeds.items()}
        self.names = sorted(self.seeds)
        self.kinds: dict[str, Callable] = {
            name.removeprefix("_m_"): getattr(self, name)
            for name in sorted(dir(self))
            if name.startswith("_m_")
        }

    def case(self, index: int) -> Case:
        rng = np.random.default_rng([self.seed, index])
        name = _pick(rng, self.names)
        kind = _pick(rng, sorted(self.kinds))
        data, graph, tensors = self.seeds[name]
        graph = json.loads(json.dumps(graph))
        tensors = dict(tensors)
        detail, mutated = self.kinds[kind](rng, data, graph, tensors)
        return Case(name, kind, detail, mutated)

    # Graph mutations: saved with a valid checksum --------------------------------------------
    @staticmethod
    def _save(graph: dict, tensors: dict) -> bytes:
        return assemble(json.dumps(graph), tensors)

    def _m_int_field(self, rng, data, graph, tensors):
        paths = [p for p, v in _paths(graph) if type(v) is int and p != ("version",)]
        path, value = _pick(rng, paths), _pick(rng, EDGE_INTS)
        _set(graph, path, value)
        return f"{list(path)} = {value}", self._save(graph, tensors)

    def _m_attr_sizes(self, rng, data, graph, tensors):
        op = _pick(rng, [op for op in graph["ops"] if op["attrs"]])
        key = _pick(rng, sorted(op["attrs"]))
        value = _pick(rng, EDGE_INTS)
        old = op["attrs"][key]
        if isinstance(old, list) and old and rng.random() < 0.7:
            new = [value if rng.random() < 0.6 else v for v in old]
            if rng.random() < 0.3:
                new = [value] * 4 if len(old) == 2 else [value] * 2
            op["attrs"][key] = new
        else:
            op["attrs"][key] = value
        return f"{op['output']}.{key} = {op['attrs'][key]}", self._save(graph, tensors)

    def _m_float_field(self, rng, data, graph, tensors):
        paths = [p for p, v in _paths(graph) if type(v) is float]
        paths += [
            ("ops", i, "attrs", "pad_value")
            for i, op in enumerate(graph["ops"])
            if "pad_value" in op["attrs"]
        ]
        value = _pick(rng, EDGE_FLOATS)
        if not paths:
            return "no float field", self._save(graph, tensors)
        path = _pick(rng, paths)
        _set(graph, path, value)
        return f"{list(path)} = {value}", self._save(graph, tensors)

    def _m_type_swap(self, rng, data, graph, tensors):
        path = _pick(rng, [p for p, _ in _paths(graph) if p])
        value = _pick(rng, ODD_VALUES)
        _set(graph, path, value)
        return f"{list(path)} = {value!r}", self._save(graph, tensors)

    def _m_delete_key(self, rng, data, graph, tensors):
        path = _pick(rng, [p for p, v in _paths(graph) if p and isinstance(v, dict | list)])
        parent = graph
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        return f"del {list(path)}", self._save(graph, tensors)

    def _m_names(self, rng, data, graph, tensors):
        ops = graph["ops"]
        values = ["input", *(op["output"] for op in ops)]
        i = int(rng.integers(len(ops)))
        choice = int(rng.integers(6))
        if choice == 0 and ops[i]["inputs"]:
            ops[i]["inputs"][0] = _pick(rng, [*values, "nowhere", ""])
        elif choice == 1:
            ops[i]["output"] = _pick(rng, values)
        elif choice == 2:
            graph["output"] = _pick(rng, values)
        elif choice == 3 and ops[i]["tensors"]:
            role = _pick(rng, sorted(ops[i]["tensors"]))
            ops[i]["tensors"][role] = _pick(rng, [*sorted(tensors), "missing"])
        elif choice == 4:
            ops[i]["inputs"] = ops[i]["inputs"] + [_pick(rng, values)]
        else:
            graph["input"]["name"] = _pick(rng, values)
        return f"op {i} names ({choice})", self._save(graph, tensors)

    def _m_ops(self, rng, data, graph, tensors):
        ops = graph["ops"]
        i, j = int(rng.integers(len(ops))), int(rng.integers(len(ops)))
        choice = int(rng.integers(4))
        if choice == 0:
            ops.insert(j, json.loads(json.dumps(ops[i])))
        elif choice == 1:
            del ops[i]
        elif choice == 2:
            ops[i], ops[j] = ops[j], ops[i]
        else:
            ops[i]["type"] = _pick(rng, [op["type"] for op in ops] + ["teleport"])
        return f"ops ({choice}) {i} {j}", self._save(graph, tensors)

    def _m_input_shape(self, rng, data, graph, tensors):
        shape = list(graph["input"]["shape"])
        k = int(rng.integers(len(shape)))
        shape[k] = _pick(rng, [1, 2, 3, 5, 65, 1000, 65536, 2**31 - 1, 2**32 + 1])
        if rng.random() < 0.2:
            shape = _pick(rng, [[1, 2, 2], [1], [], [3, 1, 1, 1], [64]])
        graph["input"]["shape"] = shape
        return f"input shape {shape}", self._save(graph, tensors)

    def _m_tensor_shape(self, rng, data, graph, tensors):
        name = _pick(rng, sorted(tensors))
        array = tensors[name]
        choice = int(rng.integers(4))
        if choice == 0:
            array = array.reshape(-1)[: max(0, array.size - 1)]
        elif choice == 1:
            array = np.concatenate([array.reshape(-1), array.reshape(-1)[:1]])
        elif choice == 2:
            array = array.reshape(1, *array.shape)
        else:
            array = array.reshape(-1)[::-1].reshape(*array.shape[::-1])
        tensors[name] = np.ascontiguousarray(array)
        return f"{name} shape {array.shape}", self._save(graph, tensors)

    def _m_tensor_dtype(self, rng, data, graph, tensors):
        name = _pick(rng, sorted(tensors))
        dtype = _pick(rng, [np.float32, np.int32, np.uint8, np.uint64])
        tensors[name] = tensors[name].astype(dtype)
        return f"{name} as {np.dtype(dtype)}", self._save(graph, tensors)

    def _m_tensor_values(self, rng, data, graph, tensors):
        name = _pick(rng, sorted(n for n, a in tensors.items() if a.size))
        array = tensors[name].copy()
        flat = array.reshape(-1)
        k = int(rng.integers(flat.size))
        if array.dtype == np.float32:
            flat[k] = _pick(rng, [np.inf, -np.inf, np.nan, 3.4e38, -3.4e38, 1e30, 1e20, 1e10])
            if rng.random() < 0.3:
                flat[:] = flat[k]
        elif array.dtype == np.int32:
            flat[k] = _pick(rng, [2**31 - 1, -(2**31), 0, 1 << 20])
        elif array.dtype == np.uint8:
            flat[k] = _pick(rng, [2, 255])
        else:
            flat[k] = _pick(rng, [0, 2**64 - 1, 1 << 63])
        tensors[name] = array
        return f"{name}[{k}] = {flat[k]}", self._save(graph, tensors)

    def _m_huge_int(self, rng, data, graph, tensors):
        paths = [p for p, v in _paths(graph) if type(v) is int and p != ("version",)]
        path = _pick(rng, paths)
        digits = int(_pick(rng, [20, 400, 4300, 5000]))
        _set(graph, path, "\0HUGE\0")
        text = json.dumps(graph).replace('"\\u0000HUGE\\u0000"', "9" * digits)
        return f"{list(path)} = {digits} digits", assemble(text, tensors)

    def _m_deep_nesting(self, rng, data, graph, tensors):
        path = _pick(rng, [p for p, _ in _paths(graph) if p])
        depth = int(_pick(rng, [65, 1000, 5000, 100000]))
        _set(graph, path, "\0DEEP\0")
        opener, closer = _pick(rng, [("[", "]"), ('{"a":', "}")])
        text = json.dumps(graph).replace(
            '"\\u0000DEEP\\u0000"', opener * depth + "1" + closer * depth
        )
        return f"{list(path)} nested {depth}", assemble(text, tensors)

    def _m_graph_text(self, rng, data, graph, tensors):
        text = json.dumps(graph)
        k = int(rng.integers(len(text)))
        choice = int(rng.integers(4))
        if choice == 0:
            text = text[:k]
        elif choice == 1:
            text = (
                text[:k]
                + _pick(rng, ["NaN", "Infinity", "-Infinity", "1e999", "\\ud800", "}"])
                + text[k:]
            )
        elif choice == 2:
            text = _pick(rng, ["5", "[]", "null", '"x"', '{"version": 1}', "{}"])
        else:
            text = text.replace(
                '"version": 1', '"version": ' + _pick(rng, ["2", "1.0", "true", '"1"'])
            )
        return f"graph text ({choice}) at {k}", assemble(text, tensors)

    # File-level mutations ------------------------------------------------------------------
    def _header(self, data: bytes) -> tuple[dict, bytes]:
        size = struct.unpack("<Q", data[:8])[0]
        return json.loads(data[8 : 8 + size]), data[8 + size :]

    @staticmethod
    def _with_header(header: dict, payload: bytes) -> bytes:
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        return struct.pack("<Q", len(raw)) + raw + payload

    def _m_header_dtype(self, rng, data, graph, tensors):
        header, payload = self._header(data)
        name = _pick(rng, sorted(k for k in header if k != "__metadata__"))
        header[name]["dtype"] = _pick(rng, FOREIGN_DTYPES)
        return f"{name} dtype {header[name]['dtype']}", self._with_header(header, payload)

    def _m_header_shape(self, rng, data, graph, tensors):
        header, payload = self._header(data)
        name = _pick(rng, sorted(k for k in header if k != "__metadata__"))
        entry = header[name]
        choice = int(rng.integers(4))
        if choice == 0 and entry["shape"]:
            entry["shape"][int(rng.integers(len(entry["shape"])))] = _pick(rng, EDGE_INTS)
        elif choice == 1:
            entry["shape"] = entry["shape"][::-1]
        elif choice == 2:
            entry["data_offsets"][int(rng.integers(2))] += int(_pick(rng, [-8, -1, 1, 8, 2**40]))
        else:
            entry[_pick(rng, ["shape", "data_offsets", "dtype"])] = _pick(rng, ODD_VALUES)
        return f"{name} header ({choice})", self._with_header(header, payload)

    def _m_header_metadata(self, rng, data, graph, tensors):
        header, payload = self._header(data)
        metadata = header["__metadata__"]
        key = _pick(rng, sorted(metadata))
        choice = int(rng.integers(3))
        if choice == 0:
            del metadata[key]
        elif choice == 1:
            metadata[key] = _pick(rng, ODD_VALUES)
        else:
            header["__metadata__"] = _pick(rng, ODD_VALUES)
        return f"metadata {key} ({choice})", self._with_header(header, payload)

    def _m_byte_flip(self, rng, data, graph, tensors):
        mutated = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            k = int(rng.integers(len(mutated)))
            mutated[k] ^= 1 << int(rng.integers(8))
        return "bytes flipped", bytes(mutated)

    def _m_payload_flip(self, rng, data, graph, tensors):
        size = struct.unpack("<Q", data[:8])[0]
        mutated = bytearray(data)
        k = int(rng.integers(8 + size, len(mutated)))
        mutated[k] ^= 1 << int(rng.integers(8))
        return f"payload byte {k} flipped", bytes(mutated)

    def _m_truncate(self, rng, data, graph, tensors):
        k = int(rng.integers(len(data)))
        if rng.random() < 0.3:
            return f"{k} junk bytes appended", data + rng.bytes(k % 64 + 1)
        return f"cut at {k}", data[:k]


# -- running cases in a supervised worker -------------------------------------------------------


def run_case(path: str, max_memory: int, max_work: int) -> tuple[str, str]:
    """Load and run one file in this process: ``(outcome, detail)``."""
    from onebit.runtime import ProgramError, ProgramFileError, load

    try:
        program = load(path, max_memory=max_memory, max_work=max_work)
    except (ProgramFileError, ProgramError) as error:
        message = str(error)
        if "\n" in message or not message:
            return "error", f"refusal is not one line: {message!r}"
        return "refused", message
    except Exception as error:  # any other exception is the finding
        return "error", f"load: {type(error).__name__}: {str(error)[:300]}"
    try:
        batch = 2 if program.memory_needed(2) <= program.max_memory else 1
        x = np.random.default_rng(0).uniform(-1, 1, (batch, *program.input_shape))
        y = program(x.astype(np.float32))
        empty = program(np.zeros((0, *program.input_shape), np.float32))
    except Exception as error:
        return "error", f"call: {type(error).__name__}: {str(error)[:300]}"
    if y.shape != (batch, *program.output_shape) or empty.shape != (0, *program.output_shape):
        return "error", f"shapes {y.shape} and {empty.shape}, expected {program.output_shape}"
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        return "nonfinite", f"{int((~np.isfinite(y)).sum())} non-finite outputs"
    return "ok", ""


def worker_main(max_memory: int, max_work: int) -> None:
    """Serve cases: read a path per line on stdin, answer one JSON line on stdout."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # stray prints must not garble the replies
    for line in sys.stdin:
        outcome, detail = run_case(line.rstrip("\n"), max_memory, max_work)
        out.write(json.dumps([outcome, detail]) + "\n")
        out.flush()


class Worker:
    """A worker process, restarted after a crash or a hang."""

    def __init__(self, max_memory: int, max_work: int) -> None:
        self.command = [
            sys.executable,
            "-c",
            f"from onebit.runtime.fuzz import worker_main; worker_main({max_memory}, {max_work})",
        ]
        self.process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.process is None:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        return self.process

    def run(self, path: str, timeout: float) -> tuple[str, str]:
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(path + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            return self._died(process)
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            self.close()
            return "hang", f"no answer in {timeout:g} s"
        line = process.stdout.readline()
        if not line:
            return self._died(process)
        outcome, detail = json.loads(line)
        return outcome, detail

    def _died(self, process: subprocess.Popen) -> tuple[str, str]:
        code = process.wait()
        self.process = None
        return "crash", f"worker exited with {code}" + (f" (signal {-code})" if code < 0 else "")

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@dataclass
class Report:
    """Counts per outcome and per mutation kind, and the failing cases."""

    outcomes: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    failures: list[tuple[int, Case, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.outcomes[name] for name in FAILURES)

    def summary(self) -> str:
        lines = [
            f"{sum(self.outcomes.values())} files in {self.seconds:.0f} s: "
            + ", ".join(f"{name} {self.outcomes[name]}" for name in ("ok", "refused", *FAILURES))
        ]
        for kind in sorted(self.by_kind):
            counts = self.by_kind[kind]
            lines.append(f"  {kind:15s} " + " ".join(f"{k}={counts[k]}" for k in sorted(counts)))
        for index, case, outcome, detail in self.failures[:20]:
            lines.append(
                f"  FAIL #{index} {case.seed}/{case.kind} ({case.detail}): {outcome} {detail}"
            )
        return "\n".join(lines)


def fuzz(
    cases: int,
    seed: int = 0,
    seeds: dict[str, bytes] | None = None,
    timeout: float = 10.0,
    max_memory: int = WORKER_MAX_MEMORY,
    max_work: int = WORKER_MAX_WORK,
    keep: Path | None = None,
    start: int = 0,
) -> Report:
    """Run ``cases`` mutations (indices ``start ..``) of the seed files and count outcomes.

    Args:
        cases: how many files to try.
        seed: the run's seed; with the index it fixes each case.
        seeds: seed files (default: :func:`seed_files`).
        timeout: seconds a worker may take on one file before it counts as a hang.
        max_memory: the loader's memory limit in the worker (small, so cases stay fast).
        max_work: the loader's work limit per sample in the worker.
        keep: a folder to save failing files in, named by index and kind.
        start: the first case index.
    """
    mutator = Mutator(seeds if seeds is not None else seed_files(), seed)
    report = Report()
    worker = Worker(max_memory, max_work)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onebit-fuzz-") as folder:
        path = os.path.join(folder, "case.onebit")
        try:
            for index in range(start, start + cases):
                case = mutator.case(index)
                with open(path, "wb") as handle:
                    handle.write(case.data)
                outcome, detail = worker.run(path, timeout)
                report.outcomes[outcome] += 1
                report.by_kind.setdefault(case.kind, Counter())[outcome] += 1
                if outcome in FAILURES:
                    report.failures.append((index, case, outcome, detail))
                    if keep is not None:
                        keep.mkdir(parents=True, exist_ok=True)
                        (keep / f"{index}-{case.kind}.onebit").write_bytes(case.data)
        finally:
            worker.close()
    report.seconds = time.perf_counter() - began
    return report
