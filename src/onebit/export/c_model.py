"""``to_c``: a packed program as dependency-free C99 for microcontrollers.

The generated ``<name>.c`` holds the weights and integer thresholds as ``const`` arrays (flash),
one static arena planned at export time (:mod:`onebit.export.c_arena`), the kernels the model uses
(copied from ``c_runtime.c``), and two entry points: ``<name>_run`` on the float input in torch's
layout, and ``<name>_run_u8`` on a uint8 buffer (a camera's pixels, say) mapped to floats by
``(q - zero_point) * scale``. No ``malloc``, no stdio, nothing beyond ``<stdint.h>`` and
``<string.h>``; 32-bit words, so every Cortex-M runs it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from onebit.atomic import atomic_open
from onebit.export.c_arena import Buffer, plan_arena
from onebit.export.c_ops import EMITTERS, Call, CValue, Emitted, ExportError, ModelText
from onebit.export.c_source import (
    c_identifier,
    comment_text,
    float_literal,
    is_identifier,
    kernels_text,
)
from onebit.runtime.format import read_program
from onebit.runtime.reference_program import ReferenceProgram

INPUT_STEP = 0
"""The plan's step that writes the input (the uint8 conversion); op i is step i + 1."""


@dataclass(frozen=True)
class CExport:
    """What :func:`to_c` wrote: the files, the arena (RAM) and constant (flash) bytes, and the
    kernels the model uses."""

    header: Path
    source: Path
    name: str
    arena_bytes: int
    const_bytes: int
    kernels: tuple[str, ...]
    input_size: int
    output_size: int


def _load(program: Any) -> tuple[Mapping[str, Any], Mapping[str, np.ndarray], str]:
    if isinstance(program, str | os.PathLike):
        graph, tensors = read_program(program)
        return graph, tensors, Path(program).stem
    if isinstance(program, tuple) and len(program) == 2:
        return program[0], program[1], "model"
    graph, tensors = getattr(program, "graph", None), getattr(program, "tensors", None)
    if isinstance(graph, Mapping) and isinstance(tensors, Mapping):
        return graph, tensors, "model"
    raise ExportError(
        f"to_c takes a .onebit path, a Program or a (graph, tensors) pair, not {type(program)}"
    )


def _unsupported(reference: ReferenceProgram) -> None:
    missing = [f"#{i} {op.where}" for i, op in enumerate(reference.ops) if op.type not in EMITTERS]
    if missing:
        supported = ", ".join(EMITTERS.list())
        raise ExportError(
            f"the C exporter cannot emit {len(missing)} op(s): {'; '.join(missing[:8])}. "
            f"It emits: {supported}"
        )


def to_c(
    program: Any,
    out_dir: str | os.PathLike[str],
    name: str | None = None,
    input_scale: float = 1.0 / 255.0,
    input_zero_point: float = 0.0,
    arithmetic: str = "binary",
) -> CExport:
    """Write ``<out_dir>/<name>.h`` and ``<name>.c``: the program as C99 with a static arena.

    Args:
        program: a ``.onebit`` path, a :class:`onebit.runtime.Program`, or ``(graph, tensors)``;
            a switched program (Bit-Mixer) is written at its current setting (its defaults
            for a path or a pair).
        out_dir: where the two files go (created if missing); each is written to a temporary
            file and renamed, so a failure leaves no half-written file.
        name: the C prefix of every symbol and the files' name; default the program file's stem
            (made an identifier) or ``model``.
        input_scale, input_zero_point: how ``<name>_run_u8`` maps a byte q to the float input:
            ``(q - input_zero_point) * input_scale`` (default: pixels 0..255 to 0..1).
        arithmetic: ``binary`` (the model: packed signs, XNOR-popcount), or the ``float32`` or
            ``int8`` twin (the same +-1 weights and activations as floats or int8, multiplied
            out): the same outputs, the baseline for size and speed (:mod:`onebit.export.c_ops`).

    Raises:
        ExportError: an op the exporter cannot emit (all of them are named), an output that is not
            float, a program of token ids (``embedding``), or a name that is not a C identifier.
        ProgramError: the program itself is invalid.
    """
    graph, tensors, stem = _load(program)
    if name is None:
        name = c_identifier(stem)
    elif not is_identifier(name):
        raise ExportError(f"the model name {name!r} is not a C identifier")
    for label, value in (("input_scale", input_scale), ("input_zero_point", input_zero_point)):
        if not np.isfinite(np.float32(value)):
            raise ExportError(f"{label} must be a finite float32, got {value!r}")
    bits = getattr(program, "bits", None) or None  # a switched Program: its current setting
    reference = ReferenceProgram(graph, tensors, bits=bits)
    if reference.input_kind == "tokens":
        raise ExportError(
            "the program reads token ids (an embedding): the C entry points take float or 8-bit "
            "inputs, so it is not exported; run it with onebit.runtime"
        )
    _unsupported(reference)
    output_value = reference.values[reference.output_name]
    if output_value.kind != "float":
        raise ExportError(
            f"the program's output {reference.output_name!r} is {output_value.kind}: the C entry "
            "points return floats"
        )
    model = _Model(reference, name, arithmetic)
    body = model.emit()
    out = Path(out_dir)
    header_path, source_path = out / f"{name}.h", out / f"{name}.c"
    digest = hashlib.sha256(source_path.name.encode() + body.encode()).hexdigest()[:16]
    header = model.header(input_scale, input_zero_point, digest)
    source = model.source(body, input_scale, input_zero_point, digest)
    for path, text in ((header_path, header), (source_path, source)):
        with atomic_open(path, "w") as handle:
            handle.write(text)
    return CExport(
        header_path,
        source_path,
        name,
        model.arena_bytes,
        model.text.const_bytes,
        tuple(sorted(model.text.kernels)),
        model.input.elements,
        model.output.elements,
    )


class _Model:
    """The generation state of one program: values, buffers, the plan and the run body."""

    def __init__(self, reference: ReferenceProgram, name: str, arithmetic: str) -> None:
        self.reference = reference
        self.name = name
        self.arithmetic = arithmetic
        self.text = ModelText(name, arithmetic)
        shape = reference.input_shape
        self.input = CValue(reference.input_name, "float", shape, shape[-1])
        self.values: dict[str, CValue] = {self.input.name: self.input}
        self.buffer_of: dict[str, str] = {self.input.name: self.input.name}
        self.lifetimes: dict[str, list[int]] = {}
        self.sizes: dict[str, int] = {}
        self.offsets: dict[str, int] = {}
        self.arena_bytes = 0

    # -- where values live -----------------------------------------------------------------
    def pointer(self, value: str, c_type: str) -> str:
        buffer = self.buffer_of[value]
        if buffer == self.input.name:
            return "input" if c_type == "float" else f"(const {c_type} *)(const void *)input"
        return f"({c_type} *)(void *)({self.name}_arena + {self.offsets[buffer] // 4})"

    def _use(self, buffer: str, step: int, size: int = 0) -> None:
        span = self.lifetimes.setdefault(buffer, [step, step])
        span[0], span[1] = min(span[0], step), max(span[1], step)
        self.sizes[buffer] = max(self.sizes.get(buffer, 0), size)

    # -- generation ------------------------------------------------------------------------
    def emit(self) -> str:
        """The run body. Two passes: the first learns every buffer's size and lifetime, the
        second writes the calls with the planned offsets."""
        self._walk(planning=True)
        last = len(self.reference.ops) + 1
        self._use(self.buffer_of[self.output.name], last)
        buffers = [
            Buffer(name, self.sizes[name], first, final)
            for name, (first, final) in self.lifetimes.items()
        ]
        self.offsets, self.arena_bytes = plan_arena(buffers)
        self.text = ModelText(self.name, self.arithmetic)
        return "\n".join(self._walk(planning=False))

    def _walk(self, planning: bool) -> list[str]:
        self.values = {self.input.name: self.input}
        self.buffer_of = {self.input.name: self.input.name}
        self._use(self.input.name, INPUT_STEP, self.input.nbytes)
        lines: list[str] = []
        for index, op in enumerate(self.reference.ops):
            step = index + 1
            spec = op.spec
            inputs = [self.values[name] for name in spec["inputs"]]
            for value in inputs:
                self._use(self.buffer_of[value.name], step)
            scratch_name = f"scratch{index}"
            call = Call(
                index,
                op,
                inputs,
                [self.reference.values[name] for name in spec["inputs"]],
                self.reference.values[spec["output"]],
                self.text,
                (lambda value, c_type: "0") if planning else self.pointer,
                (lambda c_type, offset=0: "0")
                if planning
                else (
                    lambda c_type, offset=0, s=scratch_name: self.pointer_of_buffer(
                        s, c_type, offset
                    )
                ),
            )
            # a flatten's output is its input's buffer; every other op writes a buffer of its own
            aliased = op.type == "flatten"
            output = spec["output"]
            self.buffer_of[output] = self.buffer_of[inputs[0].name] if aliased else output
            out, emitted = EMITTERS.builder(op.type)(call)
            self.values[out.name] = out
            if not aliased:
                self._use(output, step, out.nbytes)
            if emitted.scratch:
                self._use(scratch_name, step, emitted.scratch)
            lines += [*self._comment(index, op, out, emitted), f"ONEBIT_OP_DONE({index});"]
        self.output = self.values[self.reference.output_name]
        return lines

    def pointer_of_buffer(self, buffer: str, c_type: str, offset: int = 0) -> str:
        """A pointer ``offset`` bytes (a multiple of 4) into ``buffer``."""
        return f"({c_type} *)(void *)({self.name}_arena + {(self.offsets[buffer] + offset) // 4})"

    @staticmethod
    def _comment(index: int, op: Any, out: CValue, emitted: Emitted) -> list[str]:
        shape = "x".join(map(str, out.shape))
        name = comment_text(op.spec["output"])
        title = f"/* op #{index}: {op.type} -> {name} ({out.kind} {shape}) */"
        return [title, *emitted.statements]

    # -- files -----------------------------------------------------------------------------
    def _banner(self, digest: str) -> str:
        metadata = self.reference.metadata
        model = metadata.get("model") or metadata.get("architecture") or "a onebit program"
        twin = "" if self.arithmetic == "binary" else f", its {self.arithmetic} twin"
        source = f"{comment_text(model)}{twin}"
        return (
            f"/* Generated by `onebit export c` from {source} (content {digest}).\n"
            " * Do not edit: export the program again. C99; no malloc, no stdio. */\n"
        )

    def header(self, scale: float, zero_point: float, digest: str) -> str:
        n, guard = self.name, f"{self.name.upper()}_H"
        shape = ", ".join(map(str, self.reference.input_shape))
        return f"""{self._banner(digest)}#ifndef {guard}
#define {guard}

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* Floats in one input: shape ({shape}), torch's layout (channels first). */
#define {n.upper()}_INPUT_SIZE {self.input.elements}
/* Floats in one output. */
#define {n.upper()}_OUTPUT_SIZE {self.output.elements}
/* Bytes of the static arena (RAM) that holds every intermediate value, planned at export. */
#define {n.upper()}_ARENA_BYTES {self.arena_bytes}
/* Bytes of constant weights, thresholds and scales (flash). */
#define {n.upper()}_CONST_BYTES {self.text.const_bytes}

/* One inference: input holds {n.upper()}_INPUT_SIZE floats, output receives
 * {n.upper()}_OUTPUT_SIZE. Returns 0, or -1 if a pointer is NULL. Not reentrant (one arena). */
int {n}_run(const float *input, float *output);

/* The same on {n.upper()}_INPUT_SIZE bytes, each read as (q - {zero_point:g}) * {scale:.9g}. */
int {n}_run_u8(const uint8_t *input, float *output);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""

    def source(self, body: str, scale: float, zero_point: float, digest: str) -> str:
        n = self.name
        arena_words = max(1, -(-self.arena_bytes // 4))
        indented = "\n".join(f"  {line}" if line else "" for line in body.splitlines())
        out_pointer = self.pointer(self.output.name, "float")
        in_buffer = f"({n}_arena + {self.offsets[self.input.name] // 4})"
        kernels = kernels_text(self.text.kernels | {"input_u8"})
        constants = "\n".join(self.text.constants)
        return f"""{self._banner(digest)}#include "{n}.h"

#include <string.h>

/* A profiler may name a function void f(int op_index) in ONEBIT_OP_HOOK, called as each op
 * ends; by default nothing is called. */
#ifdef ONEBIT_OP_HOOK
void ONEBIT_OP_HOOK(int op_index);
#define ONEBIT_OP_DONE(op_index) ONEBIT_OP_HOOK(op_index)
#else
#define ONEBIT_OP_DONE(op_index)
#endif

/* ---- kernels (onebit/export/c_runtime.c) ---- */
{kernels}
/* ---- constants (flash) ---- */
{constants}
/* ---- the arena: every intermediate value at an offset planned at export ---- */
static uint32_t {n}_arena[{arena_words}];

static void {n}_body(const float *input, float *output) {{
{indented}
  memcpy(output, {out_pointer}, {self.output.nbytes});
}}

int {n}_run(const float *input, float *output) {{
  if (input == 0 || output == 0) return -1;
  {n}_body(input, output);
  return 0;
}}

int {n}_run_u8(const uint8_t *input, float *output) {{
  float *const converted = (float *)(void *){in_buffer};
  if (input == 0 || output == 0) return -1;
  ob_input_u8(input, {self.input.elements}, {float_literal(zero_point)}, {float_literal(scale)},
              converted);
  {n}_body(converted, output);
  return 0;
}}
"""
