"""A packed program: a validated list of ops, callable on NumPy arrays.

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
from onebit.runtime.format import load_program, save_program
from onebit.runtime.ops import OPS, Op, ProgramError


class Program:
    """Run a packed binary network: ``program(x)`` maps a float batch ``(N, *input_shape)`` to
    the network's output (for classifiers, the logits)."""

    def __init__(self, graph: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        self.graph = graph
        self.tensors = dict(tensors)
        spec = graph.get("input")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("shape"), list):
            raise ProgramError("the program graph needs an input with a shape")
        if not all(isinstance(d, int) and d > 0 for d in spec["shape"]):
            raise ProgramError(f"the input shape {spec['shape']} is not positive integers")
        self.input_name = str(spec.get("name", "input"))
        self.input_shape = tuple(spec["shape"])
        self.metadata = dict(graph.get("metadata", {}))
        op_specs = graph.get("ops")
        if not isinstance(op_specs, list) or not op_specs:
            raise ProgramError("the program graph has no ops")
        defined = {self.input_name}
        used_tensors: set[str] = set()
        self.ops: list[Op] = []
        for index, op_spec in enumerate(op_specs):
            self.ops.append(self._build(index, op_spec, defined))
            used_tensors.update(op_spec.get("tensors", {}).values())
        self.output_name = graph.get("output")
        if self.output_name not in defined:
            raise ProgramError(f"the program's output {self.output_name!r} is never computed")
        last_read = {name: i for i, op in enumerate(op_specs) for name in op["inputs"]}
        self._last_reads: list[list[str]] = [[] for _ in op_specs]
        for name, i in last_read.items():
            if name != self.output_name:
                self._last_reads[i].append(name)
        unknown = set(self.tensors) - used_tensors
        if unknown:
            raise ProgramError(f"the file holds tensors no op uses: {sorted(unknown)[:5]}")

    def _build(self, index: int, spec: Any, defined: set[str]) -> Op:
        if not isinstance(spec, Mapping):
            raise ProgramError(f"op #{index} is not an object")
        inputs, output = spec.get("inputs"), spec.get("output")
        if not isinstance(inputs, list) or not isinstance(output, str):
            raise ProgramError(f"op #{index} needs a list of inputs and an output name")
        missing = [name for name in inputs if name not in defined]
        if missing:
            raise ProgramError(f"op #{index} ({output!r}) reads {missing} before they exist")
        if output in defined:
            raise ProgramError(f"op #{index} redefines value {output!r}")
        try:
            op_class = OPS.builder(str(spec.get("type")))
        except UnknownNameError as error:
            raise ProgramError(f"op #{index}: {error}") from None
        for role, name in spec.get("tensors", {}).items():
            if name not in self.tensors:
                raise ProgramError(f"op #{index} ({output!r}): tensor {role}={name!r} is missing")
        defined.add(output)
        return op_class(spec, self.tensors)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.shape[1:] != self.input_shape:
            raise OnebitError(
                f"input must have shape (N, {', '.join(map(str, self.input_shape))}), got {x.shape}"
            )
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise OnebitError(f"input must be real numbers, got dtype {x.dtype}")
        values: dict[str, np.ndarray] = {self.input_name: np.ascontiguousarray(x, np.float32)}
        with blas_single_threaded():  # the cores go to the packed kernels (blas.py)
            for op, done in zip(self.ops, self._last_reads, strict=True):
                values[op.spec["output"]] = op(*(values[name] for name in op.spec["inputs"]))
                for name in done:  # freed early, so the next maps reuse warm memory
                    del values[name]
        return values[self.output_name]

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Predicted class of each sample (argmax of the output), in batches."""
        return np.concatenate(
            [self(x[i : i + batch_size]).argmax(axis=-1) for i in range(0, len(x), batch_size)]
        )

    @property
    def nbytes(self) -> int:
        """Bytes of all tensors (packed weights, thresholds, float parameters)."""
        return sum(array.nbytes for array in self.tensors.values())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this program as a ``.onebit`` file (atomically)."""
        graph = {key: value for key, value in self.graph.items() if key != "version"}
        save_program(path, graph, self.tensors)

    def __repr__(self) -> str:
        kinds = ", ".join(op.type for op in self.ops)
        return f"Program(input={self.input_shape}, ops=[{kinds}])"


def load(path: str | os.PathLike[str]) -> Program:
    """Load a ``.onebit`` file into a callable :class:`Program` (validating every field)."""
    graph, tensors = load_program(path)
    return Program(graph, tensors)
