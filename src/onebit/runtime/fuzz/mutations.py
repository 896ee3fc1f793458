"""Structured mutations of ``.onebit`` files: what a fuzzer learns to try against a loader.

Graph mutations (JSON type swaps, sizes near 2^31, 2^32 and 2^63, names, ops, input shapes,
tensor shapes, dtypes and values) are saved with a valid checksum, so they reach the graph's
validation; text and file mutations (huge integers, deep nesting, broken JSON, header dtypes,
shapes and offsets, flipped bytes, truncation) test the parser and the checksum.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from onebit.runtime.fuzz.seeds import assemble

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
            shape = _pick(rng, [[1, 2, 2], [1], [], [3, 1, 1, 1], [64], [1] * 65])
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
        choice = int(rng.integers(5))
        if choice == 0 and entry["shape"]:
            entry["shape"][int(rng.integers(len(entry["shape"])))] = _pick(rng, EDGE_INTS)
        elif choice == 1:
            entry["shape"] = entry["shape"][::-1]
        elif choice == 4:  # the same elements over more axes than NumPy holds
            entry["shape"] = [*entry["shape"], *[1] * int(_pick(rng, [1, 7, 60, 100]))]
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
