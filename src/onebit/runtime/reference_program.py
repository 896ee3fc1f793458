"""The executor in Python: the definition the C++ executor (``csrc/executor/``) must equal.

:class:`ReferenceProgram` validates a graph with the same rules and messages as
:class:`onebit.runtime.Program` and runs it op by op (``runtime/ops/``) over the same kernels
(``runtime/kernels.py``). It is not a second way to run programs: the tests build both on the
same graphs, fuzzed files included, and require the same verdict, the same message and the same
output bit for bit (``tests/runtime/test_executor*.py``). A change to a rule or a message here is
a change to make in C++ too.

The graph (JSON, stored in the ``.onebit`` file's header) is::

    {"version": 1,
     "input": {"name": "input", "shape": [C, H, W]},     # one sample, torch's layout
     "output": "v7",
     "ops": [{"type": "sign_pack", "inputs": ["v1"], "output": "v2",
              "attrs": {...}, "tensors": {"weight": "op3.weight", ...}}, ...],
     "metadata": {...}}

Values are named; each op reads values defined before it and defines one new value. A program
holds no per-call state, so one loaded program may be called from several threads at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from onebit._registry import OnebitError, UnknownNameError
from onebit.runtime.blas import blas_single_threaded
from onebit.runtime.format import MAX_AXES, MAX_OPS, MAX_TENSORS, read_program
from onebit.runtime.ops import OPS, Op, ProgramError
from onebit.runtime.program import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_WORK,
    checked_input,
    input_kind,
    resolve_limit,
    token_ids,
)
from onebit.runtime.shapes import INPUT_BOUND, MAX_SIZE, MAX_TOKEN_ID, Value, product
from onebit.runtime.switches import parse_switches, resolve, setting_of, variant_tensors


def _names(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ProgramError(f"{what} must be a list of value names (strings)")
    return value


class ReferenceProgram:
    """:class:`onebit.runtime.Program` in Python, with the same arguments, checks, messages,
    input contract and outputs; ``ops`` are the op objects of ``runtime/ops/`` (with the shapes
    they derived), run one at a time by ``__call__``."""

    def __init__(
        self,
        graph: Mapping[str, Any],
        tensors: Mapping[str, np.ndarray],
        max_memory: int | None = None,
        max_work: int | None = None,
        bits: Any = None,
    ) -> None:
        self.max_memory = resolve_limit(max_memory, "ONEBIT_MAX_MEMORY", DEFAULT_MAX_MEMORY)
        self.max_work = resolve_limit(max_work, "ONEBIT_MAX_WORK", DEFAULT_MAX_WORK)
        if not isinstance(graph, Mapping):
            raise ProgramError("the program graph must be an object")
        self.source_graph = graph
        if len(tensors) > MAX_TENSORS:
            raise ProgramError(f"the program has {len(tensors)} tensors, more than {MAX_TENSORS}")
        self.tensors = dict(tensors)
        self._check_tensors()
        used_tensors = variant_tensors(graph, self.tensors)
        self.switches = parse_switches(graph)
        self.bits = setting_of(self.switches, bits)
        if self.switches:
            graph = resolve(graph, self.bits)
        self.graph = graph
        spec = graph.get("input")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("shape"), list | tuple):
            raise ProgramError("the program graph needs an input with a shape")
        shape = spec["shape"]
        if not 0 < len(shape) <= MAX_AXES or not all(
            type(d) is int and 0 < d <= MAX_SIZE for d in shape
        ):
            raise ProgramError(
                f"the input shape {list(shape)[:8]} is not 1 to {MAX_AXES} positive integers"
            )
        product(shape, "the input's element count", "'input'")
        self.input_name = spec.get("name", "input")
        if not isinstance(self.input_name, str):
            raise ProgramError("the input's name must be a string")
        self.input_shape = tuple(shape)
        self.input_kind = input_kind(spec)
        metadata = graph.get("metadata", {})
        if not isinstance(metadata, Mapping):
            raise ProgramError("the program's metadata must be an object")
        self.metadata = dict(metadata)
        op_specs = graph.get("ops")
        if not isinstance(op_specs, list) or not op_specs:
            raise ProgramError("the program graph has no ops")
        if len(op_specs) > MAX_OPS:
            raise ProgramError(f"the program graph has {len(op_specs)} ops, more than {MAX_OPS}")
        if self.input_kind == "tokens":  # ids below 2^24, each checked by the op that reads it
            input_value = Value("tokens", self.input_shape, self.input_shape[-1], MAX_TOKEN_ID)
        else:
            input_value = Value("float", self.input_shape, self.input_shape[-1], INPUT_BOUND)
        self.values: dict[str, Value] = {self.input_name: input_value}
        self.ops: list[Op] = []
        self._expanded_bytes = 0
        for index, op_spec in enumerate(op_specs):
            op = self._build(index, op_spec)
            self.ops.append(op)
            used_tensors.update(op_spec.get("tensors", {}).values())
        self.output_name = graph.get("output")
        if not isinstance(self.output_name, str) or self.output_name not in self.values:
            raise ProgramError(f"the program's output {self.output_name!r} is never computed")
        unknown = set(self.tensors) - used_tensors
        if unknown:
            raise ProgramError(f"the file holds tensors no op uses: {sorted(unknown)[:5]}")
        self._plan()

    def _check_tensors(self) -> None:
        for name, array in self.tensors.items():
            if not isinstance(array, np.ndarray):
                raise ProgramError(f"tensor {name!r} is not an array")
            if array.dtype == np.float32 and not np.isfinite(array).all():
                raise ProgramError(f"tensor {name!r} holds non-finite values (inf or NaN)")

    def _build(self, index: int, spec: Any) -> Op:
        if not isinstance(spec, Mapping):
            raise ProgramError(f"op #{index} is not an object")
        output = spec.get("output")
        if not isinstance(output, str):
            raise ProgramError(f"op #{index} needs an output name (a string)")
        inputs = _names(spec.get("inputs"), f"op #{index} ({output!r}): inputs")
        missing = [name for name in inputs if name not in self.values]
        if missing:
            raise ProgramError(f"op #{index} ({output!r}) reads {missing[:5]} before they exist")
        if output in self.values:
            raise ProgramError(f"op #{index} redefines value {output!r}")
        if not isinstance(spec.get("type"), str) or len(spec["type"]) > 64:
            raise ProgramError(f"op #{index} ({output!r}): its type must be an op name")
        try:
            op_class = OPS.builder(spec["type"])
        except UnknownNameError as error:
            raise ProgramError(f"op #{index}: {error}") from None
        roles = spec.get("tensors", {})
        if not isinstance(roles, Mapping) or not all(
            isinstance(name, str) for name in roles.values()
        ):
            raise ProgramError(f"op #{index} ({output!r}): tensors must map roles to names")
        for role, name in roles.items():
            if name not in self.tensors:
                raise ProgramError(f"op #{index} ({output!r}): tensor {role}={name!r} is missing")
        if "weight_bits" in roles:  # float layers unpack these to 32 bits per weight at load
            self._expanded_bytes += 32 * self.tensors[roles["weight_bits"]].nbytes
            if self._expanded_bytes > self.max_memory:
                raise ProgramError(
                    f"op #{index} ({output!r}): its unpacked weights pass the memory limit "
                    f"{self.max_memory} (max_memory / ONEBIT_MAX_MEMORY)"
                )
        op = op_class(spec, self.tensors)
        unread = sorted(set(roles) - op.roles_read)
        if unread:
            raise ProgramError(f"op {op.where}: it has no tensor role {unread[0]!r}")
        self.values[output] = op.infer([self.values[name] for name in inputs])
        return op

    def _plan(self) -> None:
        """Per sample: the peak bytes of a call (each value freed after its last read, as
        ``__call__`` frees them), the largest buffer, and the total work."""
        last_read = {name: i for i, op in enumerate(self.ops) for name in op.spec["inputs"]}
        self._last_reads: list[list[str]] = [[] for _ in self.ops]
        for name, i in last_read.items():
            if name != self.output_name:
                self._last_reads[i].append(name)
        live = self.values[self.input_name].nbytes
        peak, largest, work = live, self.values[self.input_name].elements, 0
        for op, done in zip(self.ops, self._last_reads, strict=True):
            output = self.values[op.spec["output"]]
            peak = max(peak, live + output.nbytes + op.scratch)
            largest = max(largest, output.elements, op.scratch // 4)
            work += max(op.work, output.elements)
            live += output.nbytes - sum(self.values[name].nbytes for name in done)
        self.peak_bytes, self.largest_buffer, self.work = peak, largest, work
        if self.work > self.max_work:
            raise ProgramError(
                f"the program needs {self.work:.3g} operations per sample, above the limit "
                f"{self.max_work:.3g} (ONEBIT_MAX_WORK)"
            )
        if self.memory_needed(1) > self.max_memory:
            raise ProgramError(
                f"the program needs {self.memory_needed(1)} bytes at batch 1, above the limit "
                f"{self.max_memory} (max_memory / ONEBIT_MAX_MEMORY)"
            )
        output = self.values[self.output_name]
        if output.kind == "tokens":
            raise ProgramError("the program's output is its token ids: no op computes it")
        self.output_shape = output.shape
        self.output_dtype = output.dtype

    def memory_needed(self, batch: int) -> int:
        """Peak bytes of the values and scratch buffers of one call on ``batch`` samples (the
        loaded tensors not included)."""
        return batch * self.peak_bytes

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = checked_input(x, self.input_shape)
        batch = len(x)
        if batch == 0:
            return np.zeros((0, *self.output_shape), self.output_dtype)
        if self.memory_needed(batch) > self.max_memory or batch * self.largest_buffer > MAX_SIZE:
            raise OnebitError(
                f"a batch of {batch} needs {self.memory_needed(batch)} bytes (limit "
                f"{self.max_memory}) or a buffer over 2^31-1 elements; split the batch"
            )
        if self.input_kind == "tokens":  # the embedding checks each id
            x32 = token_ids(x)
        else:
            with np.errstate(
                over="ignore", invalid="ignore"
            ):  # float64 1e300 -> inf, refused below
                x32 = np.require(x, np.float32, ["C", "A"])  # aligned: the kernels read it in place
        low, high = x32.min(), x32.max()  # a NaN propagates to both and fails the comparisons
        if self.input_kind == "float" and not (low >= -INPUT_BOUND and high <= INPUT_BOUND):
            worst = high if np.isnan(high) or abs(high) >= abs(low) else low
            raise OnebitError(
                f"input values must be finite and within ±{INPUT_BOUND:g}, got {float(worst):g}"
            )
        values: dict[str, np.ndarray] = {self.input_name: x32}
        with blas_single_threaded():  # the cores go to the packed kernels (blas.py)
            for op, done in zip(self.ops, self._last_reads, strict=True):
                values[op.spec["output"]] = op(*(values[name] for name in op.spec["inputs"]))
                for name in done:  # freed early, so the next maps reuse warm memory
                    del values[name]
        y = values[self.output_name]
        return y.copy() if np.may_share_memory(y, x) else y  # never the caller's own array

    def __repr__(self) -> str:
        kinds = ", ".join(op.type for op in self.ops)
        return f"ReferenceProgram(input={self.input_shape}, ops=[{kinds}])"


def load_reference(
    path: str | os.PathLike[str],
    max_memory: int | None = None,
    max_work: int | None = None,
    bits: Any = None,
) -> ReferenceProgram:
    """:func:`onebit.runtime.load` in Python: the file read by ``format.read_program``.

    Raises:
        ProgramFileError: the file is missing, unreadable, corrupt (checksum) or not a program;
            its subclass ProgramError, the graph is inconsistent or beyond the limits.
    """
    graph, tensors = read_program(path)
    try:
        return ReferenceProgram(graph, tensors, max_memory=max_memory, max_work=max_work, bits=bits)
    except ProgramError as error:
        raise ProgramError(f"{path}: {error}") from None
