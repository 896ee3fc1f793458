"""Exported C on microcontrollers: flash, RAM and instructions of each program against its float32
and int8 twins, compiled the same way, on Cortex-M4, M3 and M0+.

For every program and every arithmetic (``binary``, the model; ``float32`` and ``int8``, its
twins, the same +-1 values multiplied out: :mod:`onebit.export.c_ops`), ``onebit export c``
writes the C, which is measured twice:

- footprint: the model's object file, built by ``arm-none-eabi-gcc -O2`` for each core: flash is
  its code and constants (text + data), RAM its static data (the arena); no harness, no C
  library, no stack;
- instructions: the model with a harness (``onebit/export/cortex_m``) runs under
  ``qemu-system-arm -icount shift=0`` on the first test images; the median over them, and the
  instructions of the binary layers (binary dense and convolutions, their max-pools and sign
  packing: the ops the twins multiply out), per op, on the first image.

The twins' logits must equal the binary model's bit for bit (the benchmark stops otherwise), so
the accuracy of all three is the program's. Instruction counts are a latency proxy: a real core
adds memory wait states and pipeline effects that QEMU does not model. The int8 twin is a
straightforward C loop (no CMSIS-NN kernels), and so are the float32 twin and the binary model's
own kernels.

    onebit bench mcu --program mcu-bnn=runs/mcu/seed0/model.onebit \\
                     --program binarynet-mlp=runs/demo/model.onebit
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.bench.report import machine_summary
from onebit.export import cortex_m, to_c
from onebit.export.c_ops import ARITHMETICS
from onebit.runtime import load

BINARY_OPS = ("binary_dense", "binary_conv2d", "binary_maxpool2d", "sign_pack")
IMAGES = 20
HEADLINE_CPU = "cortex-m4"


def benchmark_mcu(programs: dict[str, str], data: str = "mnist5k", images: int = IMAGES) -> dict:
    """Footprint and instructions of each program (label -> path) in each arithmetic and core."""
    missing = cortex_m.missing_tools()
    if missing is not None:
        raise OnebitError(f"onebit bench mcu needs the Cortex-M toolchain: {missing}")
    splits = datasets.load(data)
    rows = []
    with tempfile.TemporaryDirectory(prefix="onebit-mcu-") as scratch:
        for label, path in programs.items():
            program = load(path)
            if splits.input_shape != program.input_shape:
                shape = splits.input_shape
                raise OnebitError(f"{path} takes {program.input_shape}, {data} has {shape}")
            x = np.ascontiguousarray(splits.x_test[:images], dtype=np.float32)
            expected = program(x)
            binary_ops = [i for i, op in enumerate(program.ops) if op.type in BINARY_OPS]
            for arithmetic in ARITHMETICS:
                work = Path(scratch) / label / arithmetic
                export = to_c(path, work / "c", name="model", arithmetic=arithmetic)
                for cpu in cortex_m.CPUS:
                    flash, ram = cortex_m.footprint(export, cpu, work / "obj")
                    firmware = cortex_m.build(export, x, cpu, work / cpu)
                    run = cortex_m.run(firmware, export.output_size)
                    logits = np.stack([r.logits for r in run.inferences])
                    if not np.array_equal(logits.view(np.uint32), expected.view(np.uint32)):
                        raise OnebitError(
                            f"{label} {arithmetic} on {cpu}: the logits differ from the program's"
                        )
                    first = run.inferences[0].instructions
                    if abs(sum(run.op_instructions) - first) > 0.01 * first:
                        raise OnebitError(
                            f"{label} {arithmetic} on {cpu}: the ops' instructions add up to "
                            f"{sum(run.op_instructions):,}, the inference took {first:,}"
                        )
                    rows.append(
                        {
                            "model": label,
                            "program": str(path),
                            "arithmetic": arithmetic,
                            "cpu": cpu,
                            "flash_bytes": flash,
                            "ram_bytes": ram,
                            "const_bytes": export.const_bytes,
                            "arena_bytes": export.arena_bytes,
                            "instructions": statistics.median(
                                r.instructions for r in run.inferences
                            ),
                            "binary_layer_instructions": sum(
                                run.op_instructions[i] for i in binary_ops
                            ),
                            "op_instructions": run.op_instructions,
                        }
                    )
    return {"data": data, "images": images, "rows": rows, "ratios": ratios(rows)}


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and core: how many times the twins' flash, RAM and instructions the binary's."""
    by_key = {(r["model"], r["arithmetic"], r["cpu"]): r for r in rows}
    out = []
    for (model, arithmetic, cpu), binary in by_key.items():
        if arithmetic != "binary":
            continue
        entry: dict[str, Any] = {"model": model, "cpu": cpu}
        for twin in ("float32", "int8"):
            other = by_key[(model, twin, cpu)]
            entry[f"flash_vs_{twin}"] = other["flash_bytes"] / binary["flash_bytes"]
            entry[f"ram_vs_{twin}"] = other["ram_bytes"] / binary["ram_bytes"]
            entry[f"instructions_vs_{twin}"] = other["instructions"] / binary["instructions"]
            entry[f"binary_layers_vs_{twin}"] = (
                other["binary_layer_instructions"] / binary["binary_layer_instructions"]
            )
        out.append(entry)
    return out


def _kb(n: float) -> str:
    return f"{n / 1024:,.1f}"


def markdown_mcu(doc: dict[str, Any]) -> str:
    result = doc["mcu"]
    lines = [
        "# Exported C on Cortex-M: binary vs float32 and int8 twins",
        "",
        f"Remake with `{doc['command']}`. Each program is exported with `onebit export c` as "
        "itself (binary: packed signs, XNOR-popcount) and as its float32 and int8 twins (the "
        "same +-1 weights and activations stored as floats or int8 and multiplied out, as an "
        "engine without binary kernels would run the same network; every twin's logits equal "
        "the binary model's bit for bit, so accuracy is the same). Flash and RAM: the model's "
        "object file from `arm-none-eabi-gcc -O2` (code + constants; static data = the arena), "
        "without harness, C library or stack. Instructions: `qemu-system-arm -icount shift=0` "
        f"on the MPS2 boards (Cortex-M0+ code runs on the M3 board), median over the first "
        f"{result['images']} {result['data']} test images; binary layers: the binary dense and "
        "convolutions, their max-pools and sign packing, on the first image. A proxy for "
        "latency: real cores add wait states QEMU does not model. Every kernel, the int8 "
        "twin's included, is a straightforward C loop (no CMSIS-NN).",
        machine_summary(doc["machine"]),
        "",
        "| model | arithmetic | core | flash (KiB) | RAM (KiB) | instructions / inference "
        "| in binary layers |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['arithmetic']} | {r['cpu']} | {_kb(r['flash_bytes'])} "
            f"| {_kb(r['ram_bytes'])} | {r['instructions']:,.0f} "
            f"| {r['binary_layer_instructions']:,.0f} |"
        )
    lines += [
        "",
        "## Ratios: the twin's figure over the binary model's",
        "",
        "| model | core | flash vs float32 | flash vs int8 | RAM vs float32 | RAM vs int8 "
        "| instructions vs float32 | vs int8 | binary layers vs float32 | vs int8 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for q in result["ratios"]:
        lines.append(
            f"| {q['model']} | {q['cpu']} | {q['flash_vs_float32']:.1f}x "
            f"| {q['flash_vs_int8']:.1f}x | {q['ram_vs_float32']:.1f}x | {q['ram_vs_int8']:.1f}x "
            f"| {q['instructions_vs_float32']:.1f}x | {q['instructions_vs_int8']:.1f}x "
            f"| {q['binary_layers_vs_float32']:.1f}x | {q['binary_layers_vs_int8']:.1f}x |"
        )
    return "\n".join(lines) + "\n"


def print_mcu(result: dict[str, Any], console: Any) -> None:
    for q in result["ratios"]:
        if q["cpu"] == HEADLINE_CPU:
            console.print(
                f"{q['model']} on {q['cpu']}: flash {q['flash_vs_float32']:.1f}x smaller than "
                f"float32, {q['flash_vs_int8']:.1f}x than int8; binary layers "
                f"{q['binary_layers_vs_float32']:.1f}x fewer instructions than float32, "
                f"{q['binary_layers_vs_int8']:.1f}x than int8",
                highlight=False,
            )
