"""A packed program, run by the C++ executor (``csrc/executor/``) through ``onebit._native``.

The graph (JSON, stored in the ``.onebit`` file's header) is::

    {"version": 1,
     "input": {"name": "input", "shape": [C, H, W]},     # one sample, torch's layout
     "output": "v7",
     "ops": [{"type": "sign_pack", "inputs": ["v1"], "output": "v2",
              "attrs": {...}, "tensors": {"weight": "op3.weight", ...}}, ...],
     "metadata": {...}}

The input is float data unless it says ``"kind": "tokens"``: token ids ``(L,)`` per sample, which
only an ``embedding`` op may read (files without the field are float programs). Values are named;
each op reads values defined before it and defines one new value. Loading,
validation, the buffer plan and every op run in C++: this module only turns Python arguments
into the executor's and checks what NumPy can say better (an input's shape and dtype). A program
holds no per-call state, so one loaded program may be called from several threads at once (the
executor releases the GIL while it runs).

:mod:`onebit.runtime.reference_program` is the same executor written in Python over the same
kernels: the definition the C++ one is tested against, not a second way to run programs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onebit._registry import OnebitError
from onebit.runtime.errors import ProgramError
from onebit.runtime.format import ALLOWED_DTYPES, MAX_TENSORS, save_program
from onebit.runtime.shapes import MAX_TOKEN_ID
from onebit.runtime.switches import Switch, parse_switches, setting_of

try:
    from onebit.runtime import _native
except ImportError:  # a build without the extension (no compiler at install time)
    _native = None

_FLOAT32 = np.dtype(np.float32)

DEFAULT_MAX_MEMORY = 4 * 2**30
"""Bytes a program may use for its values at batch 1 (``ONEBIT_MAX_MEMORY`` overrides)."""
DEFAULT_MAX_WORK = 2**36
"""Operations per sample a program may need (``ONEBIT_MAX_WORK`` overrides)."""
SETTINGS_KEPT = 16
"""Settings of a switched program whose built executors a Program keeps for per-call bits."""


def resolve_limit(value: int | None, variable: str, default: int) -> int:
    """``value``, else the environment variable ``variable``, else ``default``: a positive int."""
    if value is None:
        text = os.environ.get(variable)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise OnebitError(f"{variable}={text!r} is not a whole number") from None
    if type(value) is not int or value < 1:
        raise OnebitError(f"{variable.lower().removeprefix('onebit_')} must be a positive int")
    return value


def executor_module() -> Any:
    """The compiled extension that holds the executor, or a clear error where it is not built."""
    if _native is None:
        raise OnebitError(
            "onebit.runtime runs programs with its compiled extension (onebit._native), which "
            "this install lacks; reinstall onebit where a C++17 compiler and CMake are available"
        )
    return _native


def checked_input(x: Any, input_shape: tuple[int, ...]) -> np.ndarray:
    """``x`` as an array of real numbers of shape ``(N, *input_shape)``, or an OnebitError
    saying what it is instead."""
    x = np.asarray(x)
    if x.shape[1:] != input_shape:
        raise OnebitError(
            f"input must have shape (N, {', '.join(map(str, input_shape))}), got {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise OnebitError(f"input must be real numbers, got dtype {x.dtype}")
    return x


INPUT_KINDS = ("float", "tokens")
"""What a program's input holds: float data, or token ids (``"kind"`` in the graph's input)."""


def input_kind(spec: Mapping[str, Any]) -> str:
    """The ``kind`` of a graph's input spec, ``"float"`` where it has none (older files)."""
    kind = spec.get("kind", "float")
    if kind not in INPUT_KINDS:
        raise ProgramError("the input's kind must be 'float' or 'tokens'")
    return kind


def token_ids(x: np.ndarray) -> np.ndarray:
    """Token ids (an array :func:`checked_input` accepted) as the float32 the executor reads.

    Integer ids must lie within ``±2^24``, which float32 holds exactly; float ids other than
    float32 must be integers there too (NaN and inf pass, for the ``embedding`` op to name).
    Whether each id is a row of the table is the op's check.
    """
    if x.dtype == np.bool_:
        raise OnebitError("token ids must be integers, got dtype bool")
    if np.issubdtype(x.dtype, np.integer) or x.dtype != _FLOAT32:
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(x) if np.issubdtype(x.dtype, np.floating) else True
            bad = finite & ((x <= -MAX_TOKEN_ID) | (x >= MAX_TOKEN_ID) | (x != np.floor(x)))
        if np.any(bad):
            sample, *position = (int(i) for i in np.argwhere(bad)[0])
            raise OnebitError(
                f"token ids must be integers below 2^24 (float32 holds them exactly), got "
                f"{x[(sample, *position)].item()!r} at sample {sample}, position "
                f"{', '.join(map(str, position))}"
            )
    return np.require(x, np.float32, ["C", "A"])


def _graph_text(graph: Mapping[str, Any]) -> str:
    try:
        return json.dumps(graph, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise ProgramError(f"the program graph is not JSON data: {error}") from None


def _checked_tensors(tensors: Any) -> dict[str, np.ndarray]:
    if not isinstance(tensors, Mapping):
        raise ProgramError("the program's tensors must be a mapping of names to arrays")
    if len(tensors) > MAX_TENSORS:
        raise ProgramError(f"the program has {len(tensors)} tensors, more than {MAX_TENSORS}")
    checked = {}
    for name, array in tensors.items():
        if not isinstance(name, str):
            raise ProgramError(f"tensor name {name!r} is not a string")
        if not isinstance(array, np.ndarray):
            raise ProgramError(f"tensor {name!r} is not an array")
        if array.dtype not in ALLOWED_DTYPES:
            raise ProgramError(
                f"tensor {name!r} has dtype {array.dtype}; a program holds uint64, int32, "
                "uint8 and float32 tensors (little-endian)"
            )
        checked[name] = np.ascontiguousarray(array)
    return checked


@dataclass(frozen=True)
class ProgramOp:
    """One op of a loaded program, as its graph states it (after the executor validated it)."""

    type: str
    inputs: tuple[str, ...]
    output: str
    attrs: Mapping[str, Any] = field(default_factory=dict)
    tensors: Mapping[str, str] = field(default_factory=dict)
    """Its tensors: role (``"weight"``, ``"thresholds"``, ...) to the program's tensor name."""

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ProgramOp:
        return cls(
            spec["type"],
            tuple(spec["inputs"]),
            spec["output"],
            dict(spec.get("attrs", {})),
            dict(spec.get("tensors", {})),
        )


class Program:
    """Run a packed binary network: ``program(x)`` maps a float batch ``(N, *input_shape)`` to
    the network's output (for classifiers, the logits).

    Building one validates the whole graph: JSON types, every op's attributes against the
    shapes they imply (each value's per-sample shape is inferred, every size capped at 2^31-1),
    tensor shapes and dtypes, finite float parameters that keep every value finite for inputs
    within ``±INPUT_BOUND`` (``onebit.runtime.shapes``), and the memory and work a call needs.

    A switched program (``runtime/switches.py``, e.g. a converted Bit-Mixer network) runs each
    layer at the width the user picks: :meth:`set_bits` changes the setting, ``program(x,
    bits=...)`` runs one call at another. Each setting's ops are built and checked the first
    time it is used, over the same tensors (the weights are held once).

    The input contract: ``x`` is real numbers of shape ``(N, *input_shape)`` whose float32 values
    are finite and within ``±INPUT_BOUND`` (1e6); anything else (NaN, inf, a float64 1e300 that
    float32 rounds to inf, or ``|x| > 1e6``) is refused with an :class:`OnebitError`, since the
    load-time proof that outputs stay finite holds only there. The result is a new array.

    Args:
        graph: the program graph (see the module docstring).
        tensors: the tensors its ops name (copied into the executor).
        max_memory: bytes the values of one call may take (at batch 1 here, at batch N when
            called); default ``ONEBIT_MAX_MEMORY`` or 4 GiB.
        max_work: operations per sample (multiply-adds, comparisons, word operations); default
            ``ONEBIT_MAX_WORK`` or 2^36.
        bits: the setting of a switched program (as :meth:`set_bits` takes it); None, the
            defaults.

    Raises:
        ProgramError: anything wrong with the graph or its tensors, naming the op and field.
    """

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
        arrays = _checked_tensors(tensors)
        executor = executor_module().Program(
            _graph_text(graph), arrays, list(arrays), self.max_memory, self.max_work
        )
        self._attach(executor, graph)
        if bits is not None:
            self.set_bits(bits)

    @classmethod
    def _loaded(cls, executor: Any, max_memory: int, max_work: int) -> Program:
        program = cls.__new__(cls)
        program.max_memory, program.max_work = max_memory, max_work
        program._attach(executor, executor.graph)
        return program

    def _attach(self, executor: Any, graph: Mapping[str, Any]) -> None:
        self.graph = graph
        self.tensors: dict[str, np.ndarray] = executor.tensors
        self.switches: tuple[Switch, ...] = parse_switches(graph)
        self._settings: dict[tuple[int, ...], Any] = {}
        self.metadata = dict(graph.get("metadata", {}))
        self.input_kind: str = input_kind(graph["input"])
        """``"float"``, or ``"tokens"``: the program reads token ids (an embedding)."""
        self._select(executor)

    def _select(self, executor: Any) -> None:
        """Make ``executor`` (this program at one setting) the one calls run."""
        self._executor = executor
        self._settings[tuple(executor.bits)] = executor
        graph = executor.setting_graph if self.switches else self.graph
        self.input_shape: tuple[int, ...] = executor.input_shape
        self.output_shape: tuple[int, ...] = executor.output_shape
        self.output_dtype = np.dtype(executor.output_dtype)
        self.ops = tuple(ProgramOp.from_spec(spec) for spec in graph["ops"])
        self.peak_bytes: int = executor.peak_bytes
        self.work: float = executor.work

    @property
    def input_dtype(self) -> np.dtype:
        """The dtype of the input a caller builds: int64 token ids, or float32 data (the
        program also takes other integer or real arrays, checked and converted)."""
        return np.dtype(np.int64 if self.input_kind == "tokens" else np.float32)

    @property
    def bits(self) -> tuple[int, ...]:
        """The current setting: each switch's width, in order (empty without switches)."""
        return tuple(self._executor.bits)

    def set_bits(self, bits: Any) -> None:
        """Run at another setting from now on: one width for every switch, a sequence in
        switch order, or a mapping of switch names to widths (the rest at their defaults);
        None, the defaults.

        Raises:
            OnebitError: the program has no switches, or a width is not its switch's option.
            ProgramError: this setting's ops fail their checks (a crafted file).
        """
        self._select(self._executor_for(bits))

    def _executor_for(self, bits: Any) -> Any:
        setting = setting_of(self.switches, bits)
        executor = self._settings.get(setting)
        if executor is None:
            executor = self._executor.with_bits(list(setting))
            if len(self._settings) >= SETTINGS_KEPT:  # the oldest other than the current one
                oldest = next(key for key in self._settings if key != tuple(self._executor.bits))
                del self._settings[oldest]
            self._settings[setting] = executor
        return executor

    def memory_needed(self, batch: int) -> int:
        """Peak bytes of the values and scratch buffers of one call on ``batch`` samples (the
        loaded tensors not included)."""
        return batch * self.peak_bytes

    def __call__(self, x: np.ndarray, threads: int = 0, bits: Any = None) -> np.ndarray:
        """The output on the batch ``x``; ``threads`` (0: ``onebit.runtime._native``'s
        ``get_num_threads()``) cores share the work; ``bits``, a setting for this call only
        (as :meth:`set_bits` takes it)."""
        if bits is not None:
            return self._call(self._executor_for(bits), x, threads)
        return self._call(self._executor, x, threads)

    def _call(self, executor: Any, x: np.ndarray, threads: int) -> np.ndarray:
        if (
            type(x) is np.ndarray
            and x.dtype == _FLOAT32
            and x.shape[1:] == self.input_shape
            and x.flags.c_contiguous
            and x.flags.aligned
            and len(x)
        ):  # the common call, checked in a few microseconds
            return executor.run(x, threads=threads)
        x = checked_input(x, self.input_shape)
        if len(x) == 0:
            return np.zeros((0, *self.output_shape), self.output_dtype)
        return executor.run(self._as_float32(x), threads=threads)

    def _as_float32(self, x: np.ndarray) -> np.ndarray:
        """A checked input as the float32 array the executor reads."""
        if self.input_kind == "tokens":
            return token_ids(x)
        with np.errstate(over="ignore", invalid="ignore"):  # float64 1e300 -> inf, refused there
            return np.require(x, np.float32, ["C", "A"])

    def time_ops(self, x: np.ndarray, threads: int = 0, repeats: int = 20) -> list[float]:
        """Each op's median wall time in seconds over ``repeats`` calls on the batch ``x``
        (after one warm-up call), in run order: what ``onebit profile`` shows."""
        x = checked_input(x, self.input_shape)
        if len(x) == 0:
            raise OnebitError("profiling needs a batch of at least one sample")
        return self._executor.profile(self._as_float32(x), threads=threads, repeats=repeats)

    @property
    def op_outputs(self) -> list[tuple[tuple[int, ...], float]]:
        """Each op's per-sample output shape and work (multiply-adds, comparisons or packed
        word operations per sample, as the memory and work limits count them)."""
        return [(tuple(shape), work) for _, _, shape, work in self._executor.op_summaries]

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Predicted class of each sample (argmax of the output), in batches of at most
        ``batch_size`` samples, fewer where a batch would pass the memory limit."""
        batch_size = max(1, min(batch_size, self.max_memory // max(self.peak_bytes, 1)))
        if len(x) == 0:
            return self(x).argmax(axis=-1)
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
        return f"Program(input={self.input_shape}, ops=[{', '.join(op.type for op in self.ops)}])"


def load(
    path: str | os.PathLike[str],
    max_memory: int | None = None,
    max_work: int | None = None,
    bits: Any = None,
) -> Program:
    """Load a ``.onebit`` file into a callable :class:`Program`, validating every field.

    Raises:
        ProgramFileError: the file is missing, unreadable, corrupt (checksum) or not a program;
            its subclass ProgramError, the graph is inconsistent or beyond the limits.
    """
    max_memory = resolve_limit(max_memory, "ONEBIT_MAX_MEMORY", DEFAULT_MAX_MEMORY)
    max_work = resolve_limit(max_work, "ONEBIT_MAX_WORK", DEFAULT_MAX_WORK)
    executor = executor_module().Program.load_file(os.fspath(path), max_memory, max_work)
    program = Program._loaded(executor, max_memory, max_work)
    if bits is not None:
        program.set_bits(bits)
    return program
