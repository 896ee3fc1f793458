"""k-bit convolution speed per bit width, against the 1-bit and the fp32 convolution, and the
8-bit first layer against the float one.

Kernels: for a 3x3 256->256 convolution at 14x14 (stride 1, zero padding 1, batch 1) it times
onebit's ``bitserial_conv2d`` from packed planes to int32 at 1, 2, 4 and 8 bits (activations and
weights of the same width: unsigned activation codes x two's complement weights; the 1-bit row
uses +-1 planes), ``bconv2d`` (the binary kernel, int32 out) and torch's fp32 ``conv2d`` (faster
of contiguous and channels_last) at the same thread count, on every SIMD path this CPU runs
(forced with ``set_simd_path``).

First layer (with ``--checkpoint``): the trained model converted twice, its first layer in float
(the default) and as 8 bit-plane popcounts (``input_quantization``), each program's accuracy on the
dataset's test split and its first layer's time per sample (``time_ops``, batch 1).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from onebit.bench.bconv2d import torch_fp32
from onebit.bench.report import machine_summary
from onebit.bench.timing import PAUSE_KIND, busy_wait, median_seconds
from onebit.runtime import _native
from onebit.runtime.kernels import simd_paths
from onebit.runtime.reference_bitserial import encode_planes

CONV = ("3x3 256->256 14x14", 1, 256, 256, 14, 3)
QUICK_CONV = ("3x3 32->32 8x8", 1, 32, 32, 8, 3)
BITS = (1, 2, 4, 8)
THREADS = (1,)
FIRST_LAYER_TYPES = ("dense", "conv2d", "kbit_dense", "kbit_conv2d", "binary_dense")
PAUSE_S = 0.5
_TIMING = {"repeat": 11, "warmup": 3, "min_seconds": 0.03}


def _time(run) -> float:
    return median_seconds(run, **_TIMING)


def encodings(bits: int) -> tuple[int, list[int], int, list[int]]:
    """``(x_offset, x_weights, w_offset, w_weights)``: unsigned activations x two's complement
    weights; at 1 bit, +-1 planes on both sides (the binary layer's arithmetic)."""
    if bits == 1:
        return 1, [-2], 1, [-2]
    unsigned = [2**i for i in range(bits)]
    signed = [*unsigned[:-1], -(2 ** (bits - 1))]
    return 0, unsigned, 0, signed


def kbit_conv_seconds(
    batch: int, cin: int, cout: int, size: int, k: int, bits: int, threads: int
) -> float:
    """Median seconds of ``bitserial_conv2d`` at ``bits`` x ``bits``, planes in, int32 out."""
    rng = np.random.default_rng(bits)
    x = encode_planes(rng.integers(0, 2**bits, (batch, size, size, cin)), bits)
    w = encode_planes(rng.integers(0, 2**bits, (cout, k, k, cin)), bits)
    x = np.ascontiguousarray(np.moveaxis(x, 0, 1))
    w = np.ascontiguousarray(np.moveaxis(w, 0, 1))
    run = functools.partial(
        _native.bitserial_conv2d, x, w, cin, 1, k // 2, 0, *encodings(bits), threads=threads
    )
    return _time(run)


def binary_conv_seconds(batch: int, cin: int, cout: int, size: int, k: int, threads: int) -> float:
    rng = np.random.default_rng(0)
    x = _native.bitpack(rng.standard_normal((batch, size, size, cin), dtype=np.float32))
    w = _native.bitpack(rng.standard_normal((cout, k, k, cin), dtype=np.float32))
    return _time(functools.partial(_native.bconv2d, x, w, cin, 1, k // 2, 0.0, threads=threads))


def benchmark_kernels(
    conv: tuple = CONV,
    bits: tuple[int, ...] = BITS,
    threads: tuple[int, ...] = THREADS,
    pause: float = PAUSE_S,
) -> list[dict[str, Any]]:
    """One row per (SIMD path, thread count): seconds per bit width, 1-bit and fp32."""
    name, batch, cin, cout, size, k = conv
    rows = []
    try:
        for path in _native.simd_paths():
            _native.set_simd_path(path)
            for count in threads:
                kbit = {b: kbit_conv_seconds(batch, cin, cout, size, k, b, count) for b in bits}
                binary = binary_conv_seconds(batch, cin, cout, size, k, count)
                torch.set_num_threads(count)
                base = torch_fp32(batch, cin, cout, size, k)
                busy_wait(pause)
                rows.append(
                    {
                        "conv": name,
                        "simd": path,
                        "threads": count,
                        "kbit_s": {str(b): t for b, t in kbit.items()},
                        "bconv2d_s": binary,
                        "torch_fp32_s": base,
                    }
                )
    finally:
        _native.set_simd_path(None)
    return rows


def first_layer(checkpoint: Path, data: str = "mnist5k", scale: float = 1 / 255) -> dict[str, Any]:
    """The float and the 8-bit first layer of a trained model: accuracy and time per sample."""
    from onebit import data as datasets
    from onebit.convert import convert
    from onebit.train import model_from_checkpoint

    model = model_from_checkpoint(checkpoint).eval()
    splits = datasets.load(data)
    x_test, y_test = splits.x_test, splits.y_test
    example = torch.zeros(1, *model.input_shape)
    programs = {
        "float": convert(model, example),
        "8-bit planes": convert(model, example, input_quantization=(scale, 0)),
    }
    with torch.no_grad():
        model_accuracy = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "data": data,
        "input_scale": scale,
        "on_grid": bool(np.array_equal(np.rint(x_test / scale) * scale, x_test.astype(np.float64))),
        "model_accuracy": model_accuracy,
        "variants": {},
    }
    sample = x_test[:1]
    for label, program in programs.items():
        accuracy = float((program.predict(x_test) == y_test).mean())
        layer = next(i for i, op in enumerate(program.ops) if op.type in FIRST_LAYER_TYPES)
        times = [program.time_ops(sample, threads=1) for _ in range(5)]
        per_op = np.median(np.array(times), axis=0)
        first = float(per_op[: layer + 1].sum())  # quantize and layout ops before it too
        result["variants"][label] = {
            "accuracy": accuracy,
            "first_layer_ops": [op.type for op in program.ops[: layer + 1]],
            "first_layer_s": first,
            "program_s": float(per_op.sum()),
        }
    return result


def benchmark_kbit(
    conv: tuple = CONV,
    bits: tuple[int, ...] = BITS,
    threads: tuple[int, ...] = THREADS,
    checkpoint: Path | None = None,
    pause: float = PAUSE_S,
) -> dict[str, Any]:
    """The kernel rows, and the first-layer comparison when a checkpoint is given."""
    runs, cannot = simd_paths()
    return {
        "simd_paths": runs,
        "simd_paths_not_runnable": cannot,
        "timing": _TIMING,
        "pause_after_torch_s": pause,
        "pause_kind": PAUSE_KIND,
        "rows": benchmark_kernels(conv, bits, threads, pause),
        "first_layer": None if checkpoint is None else first_layer(checkpoint),
    }


def _kernel_lines(result: dict[str, Any]) -> list[list[str]]:
    lines = []
    for row in result["rows"]:
        base = row["torch_fp32_s"]
        fmt = min(base, key=base.get)
        fp32, binary = base[fmt], row["bconv2d_s"]
        variants = [("1-bit bconv2d", binary)] + [
            (f"{b}-bit x {b}-bit", t) for b, t in row["kbit_s"].items()
        ]
        for i, (variant, seconds) in enumerate(variants):
            lines.append(
                [
                    row["simd"] if i == 0 else "",
                    str(row["threads"]) if i == 0 else "",
                    variant,
                    f"{seconds * 1e6:,.0f}",
                    f"{seconds / binary:.2f}",
                    f"{fp32 / seconds:.2f}",
                    f"{fp32 * 1e6:,.0f} ({fmt})" if i == 0 else "",
                ]
            )
    return lines


_COLUMNS = ("SIMD path", "threads", "conv", "µs", "÷ 1-bit", "× fp32", "fp32 µs")


def _first_layer_lines(first: dict[str, Any]) -> list[list[str]]:
    return [
        [
            label,
            " + ".join(v["first_layer_ops"]),
            f"{v['first_layer_s'] * 1e6:,.1f}",
            f"{v['program_s'] * 1e6:,.1f}",
            f"{100 * v['accuracy']:.2f}%",
        ]
        for label, v in first["variants"].items()
    ]


_FIRST_COLUMNS = ("first layer", "ops", "first layer µs", "program µs", "test accuracy")


def print_kbit(result: dict[str, Any], console) -> None:
    from rich.table import Table

    table = Table(title=f"bit-serial conv {result['rows'][0]['conv']}", header_style="bold")
    for column in _COLUMNS:
        table.add_column(column, justify="left" if column in ("SIMD path", "conv") else "right")
    for cells in _kernel_lines(result):
        if cells[0] and table.row_count:
            table.add_section()
        table.add_row(*cells)
    console.print(table)
    if result["simd_paths_not_runnable"]:
        console.print(f"not runnable here: {', '.join(result['simd_paths_not_runnable'])}")
    if result["first_layer"]:
        first = Table(title="first layer: float vs 8 bit planes", header_style="bold")
        for column in _FIRST_COLUMNS:
            first.add_column(column)
        for cells in _first_layer_lines(result["first_layer"]):
            first.add_row(*cells)
        console.print(first)


def markdown_kbit(doc: dict[str, Any]) -> str:
    result = doc["kbit"]
    timing = result["timing"]
    lines = [
        "# k-bit (bit-serial) convolution per bit width",
        "",
        f"Remake with `{doc['command']}`. Each time is the median of {timing['repeat']} samples "
        f"after {timing['warmup']} warm-up calls, a sample looping the call for at least "
        f"{timing['min_seconds'] * 1e3:g} ms. `bitserial_conv2d` runs from packed bit planes to "
        "int32 (unsigned activation codes x two's complement weights of the same width; the "
        "1-bit row uses +-1 planes); `bconv2d` is the binary kernel (int32 out); the baseline is "
        "torch's fp32 `conv2d` in the same run at the same thread count, the faster of "
        "contiguous and channels_last. Every SIMD path this CPU runs is forced in turn. "
        "÷ 1-bit = the time over bconv2d's; × fp32 = fp32's time over this one.",
        "",
        machine_summary(doc["machine"]),
        "",
        f"SIMD paths run: {', '.join(result['simd_paths'])}; not runnable on this CPU: "
        f"{', '.join(result['simd_paths_not_runnable']) or 'none'}.",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|---|---:|---|" + "---:|" * (len(_COLUMNS) - 3),
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in _kernel_lines(result)]
    first = result.get("first_layer")
    if first:
        lines += [
            "",
            "## The first layer in float vs as 8 bit planes",
            "",
            f"`{first['checkpoint']}` converted twice: the default float first layer, and with "
            f"`input_quantization=({first['input_scale']:.6g}, 0)` (8-bit inputs: the first "
            "layer's binary weights times 8 input bit planes, as popcounts). Accuracy on the "
            f"{first['data']} test split (the model itself: "
            f"{100 * first['model_accuracy']:.2f}%); times per sample at batch 1, 1 thread, "
            "from the program's per-op timer (median of 5), the first layer's ops including its "
            "layout and quantize ops. "
            + (
                "The test inputs lie on the 8-bit grid, so the quantization loses nothing."
                if first["on_grid"]
                else "The test inputs are not all on the 8-bit grid: they are rounded to it."
            ),
            "",
            "| " + " | ".join(_FIRST_COLUMNS) + " |",
            "|---|---|---:|---:|---:|",
        ]
        lines += ["| " + " | ".join(cells) + " |" for cells in _first_layer_lines(first)]
    return "\n".join(lines) + "\n"
