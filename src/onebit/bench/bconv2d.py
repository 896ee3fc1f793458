"""Binary convolution speed vs torch fp32 conv2d on the same shapes and thread counts.

For each convolution (NHWC packed input, KxK kernel, stride 1, padding K // 2, one-padding) and
each thread count, it times onebit's ``bconv2d`` (best SIMD path) from packed input to int32, to
float32 and to packed output (fused epilogues, and the unfused ``bconv2d`` + ``output_*`` pair,
and each ``output_*`` alone), and, in the same run, torch's fp32 ``conv2d`` in both memory formats
(contiguous and channels_last; the faster is the baseline). Like ``onebit bench bgemm`` it measures
this CPU's xor+popcount peak per core with the fastest counting method of the SIMD path
(``xor_popcount_peak``) and reports each variant's binary MAC rate as a share of it.

Fairness: torch's OpenMP workers keep spinning for a while after a multi-threaded op and take the
cores onebit's own thread pool needs. So for each (conv, threads) onebit is timed before torch,
and every torch timing is followed by a pause before the next onebit timing. Torch runs at
``torch.set_num_threads(t)``, onebit with ``threads=t``. Run with ``onebit bench bconv2d``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from onebit.bench.report import machine_summary
from onebit.bench.timing import PAUSE_KIND, busy_wait, median_seconds
from onebit.runtime import _native

# (name, batch, cin, cout, size, kernel, threads to time)
CONVS: tuple[tuple[str, int, int, int, int, int, tuple[int, ...]], ...] = (
    ("3x3 256->256 14x14", 1, 256, 256, 14, 3, (1,)),
    ("3x3 64->64 56x56", 1, 64, 64, 56, 3, (1, 2)),
    ("1x1 256->256 14x14", 1, 256, 256, 14, 1, (1,)),
)
QUICK_CONVS: tuple[tuple[str, int, int, int, int, int, tuple[int, ...]], ...] = (
    ("3x3 32->32 8x8", 1, 32, 32, 8, 3, (1, 2)),
)  # a check that the whole benchmark runs, in seconds; not a figure to publish
PAUSE_S = 0.5  # lets torch's OpenMP workers stop spinning before onebit is timed
PEAK_S = 1.0  # how long the xor+popcount peak loop runs
_TIMING = {"repeat": 11, "warmup": 5, "min_seconds": 0.03}


def _time(run: Callable[[], object]) -> float:
    return median_seconds(run, **_TIMING)


def torch_fp32(batch: int, cin: int, cout: int, size: int, k: int) -> dict[str, float]:
    """Median seconds of torch's fp32 conv2d in each memory format (current thread count)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cin, size, size, generator=gen)
    w = torch.randn(cout, cin, k, k, generator=gen)
    times = {}
    with torch.inference_mode():
        for name, fmt in (
            ("contiguous", torch.contiguous_format),
            ("channels_last", torch.channels_last),
        ):
            xf, wf = x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt)
            times[name] = _time(functools.partial(F.conv2d, xf, wf, padding=k // 2))
    return times


def onebit_variants(
    batch: int, cin: int, cout: int, size: int, k: int, threads: int
) -> dict[str, float]:
    """Median seconds of each onebit variant; packed NHWC input throughout."""
    rng = np.random.default_rng(0)
    x = _native.bitpack(rng.standard_normal((batch, size, size, cin), dtype=np.float32))
    w = _native.bitpack(rng.standard_normal((cout, k, k, cin), dtype=np.float32))
    scale = rng.standard_normal(cout).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    threshold = rng.integers(-20, 20, size=cout, dtype=np.int32)
    flip = rng.integers(0, 2, size=cout, dtype=np.uint8)
    pad = k // 2
    conv = functools.partial(_native.bconv2d, x, w, cin, 1, pad, 1.0, threads=threads)
    acc = conv()
    return {
        "int32": _time(conv),
        "bits fused": _time(
            functools.partial(
                _native.bconv2d_bits, x, w, cin, threshold, flip, 1, pad, 1.0, threads=threads
            )
        ),
        "bits unfused": _time(
            lambda: _native.output_bits(conv(), threshold, flip, threads=threads)
        ),
        "float fused": _time(
            functools.partial(
                _native.bconv2d_float, x, w, cin, scale, bias, 1, pad, 1.0, threads=threads
            )
        ),
        "float unfused": _time(lambda: _native.output_float(conv(), scale, bias, threads=threads)),
        "output_bits alone": _time(
            functools.partial(_native.output_bits, acc, threshold, flip, threads=threads)
        ),
        "output_float alone": _time(
            functools.partial(_native.output_float, acc, scale, bias, threads=threads)
        ),
    }


def benchmark_bconv2d(
    convs: tuple[tuple[str, int, int, int, int, int, tuple[int, ...]], ...] = CONVS,
    pause: float = PAUSE_S,
    peak_seconds: float = PEAK_S,
) -> dict[str, Any]:
    """Each onebit bconv2d variant vs torch fp32 conv2d (best memory format), per thread count."""
    simd = _native.default_simd_path()
    peak = _native.xor_popcount_peak(peak_seconds)  # before any torch op: nothing else spinning
    rows: list[dict[str, Any]] = []
    for name, batch, cin, cout, size, k, threads in convs:
        for count in threads:
            ours = onebit_variants(batch, cin, cout, size, k, count)
            torch.set_num_threads(count)
            base = torch_fp32(batch, cin, cout, size, k)
            busy_wait(pause)
            fp32 = min(base.values())
            macs = batch * size * size * cout * cin * k * k
            rows.append(
                {
                    "conv": name,
                    "batch": batch,
                    "cin": cin,
                    "cout": cout,
                    "size": size,
                    "kernel": k,
                    "threads": count,
                    "simd": simd,
                    "onebit_s": ours,
                    "torch_fp32_s": base,
                    "speedup_vs_fp32": {v: fp32 / t for v, t in ours.items()},
                    "binary_gmacs": {
                        v: macs / t / 1e9 for v, t in ours.items() if not v.endswith("alone")
                    },
                    "fraction_of_peak": {
                        v: macs / t / (peak * count)
                        for v, t in ours.items()
                        if not v.endswith("alone")
                    },
                }
            )
    for row in rows:  # thread scaling: time at 1 thread / time at this thread count
        one = next((r for r in rows if r["conv"] == row["conv"] and r["threads"] == 1), None)
        row["scaling_vs_1_thread"] = (
            None if one is None else {v: one["onebit_s"][v] / t for v, t in row["onebit_s"].items()}
        )
    return {
        "simd": simd,
        "simd_paths": list(_native.simd_paths()),
        "xor_popcount_peak_gmacs_per_core": peak / 1e9,
        "pause_after_torch_s": pause,
        "pause_kind": PAUSE_KIND,
        "timing": _TIMING,
        "rows": rows,
    }


_COLUMNS = (
    "conv",
    "threads",
    "variant",
    "onebit µs",
    "fp32 µs, best format",
    "× fp32",
    "GMAC/s",
    "% peak",
    "× 1 thread",
)


def _rate(values: dict[str, float], variant: str, fmt: str, scale: float) -> str:
    """A variant's rate cell; empty for the epilogues timed alone (no binary MACs)."""
    return fmt.format(values[variant] * scale) if variant in values else ""


def _rows(result: dict[str, Any]) -> list[list[str]]:
    """Table cells: one line per (conv, threads, variant); conv and baseline on the first only."""
    lines = []
    for row in result["rows"]:
        base = row["torch_fp32_s"]
        fmt = min(base, key=base.get)
        scaling = row["scaling_vs_1_thread"]
        for i, (variant, seconds) in enumerate(row["onebit_s"].items()):
            lines.append(
                [
                    row["conv"] if i == 0 else "",
                    str(row["threads"]) if i == 0 else "",
                    variant,
                    f"{seconds * 1e6:,.1f}",
                    f"{base[fmt] * 1e6:,.0f} ({fmt})" if i == 0 else "",
                    "" if variant.endswith("alone") else f"{row['speedup_vs_fp32'][variant]:.1f}",
                    _rate(row.get("binary_gmacs", {}), variant, "{:.0f}", 1.0),
                    _rate(row.get("fraction_of_peak", {}), variant, "{:.0f}%", 100.0),
                    "-" if scaling is None else f"{scaling[variant]:.2f}",
                ]
            )
    return lines


def print_bconv2d(result: dict[str, Any], console) -> None:
    from rich.table import Table

    peak = result.get("xor_popcount_peak_gmacs_per_core", float("nan"))
    console.print(
        f"bconv2d ({result['simd']}) vs torch fp32 conv2d, same run; packed NHWC input, "
        f"stride 1, padding K // 2 with +1; xor+popcount peak {peak:.0f} binary GMAC/s per core",
        highlight=False,
        markup=False,
    )
    table = Table(title="binary conv2d, median times", header_style="bold")
    for column in _COLUMNS:
        table.add_column(column, justify="left" if column in ("conv", "variant") else "right")
    lines = _rows(result)
    for i, cells in enumerate(lines):
        if i and cells[0]:
            table.add_section()
        table.add_row(*cells)
    console.print(table)


def markdown_bconv2d(doc: dict[str, Any]) -> str:
    """The Markdown report of a stored ``bconv2d`` document: method (from the stored values), the
    machine and provenance, and the table."""
    result = doc["bconv2d"]
    timing = result["timing"]
    lines = [
        "# bconv2d vs torch fp32 conv2d",
        "",
        f"Remake with `{doc['command']}`. Each time is the median of {timing['repeat']} samples "
        f"after {timing['warmup']} warm-up calls, a sample looping the call for at least "
        f"{timing['min_seconds'] * 1e3:g} ms; packed NHWC input, stride 1, padding K // 2 "
        "filled with +1. Every baseline is torch's fp32 `conv2d` measured in the same run at the "
        "same thread count, the faster of contiguous and channels_last (onebit timed first, then "
        f"torch, then a {result['pause_after_torch_s']:g} s {result['pause_kind']}). `fused` "
        "variants produce packed bits or float32 in the kernel; `unfused` ones run `bconv2d` "
        "then `output_*`. GMAC/s: binary multiply-accumulates per second; % peak: that rate "
        "over this CPU's xor+popcount peak "
        f"({result.get('xor_popcount_peak_gmacs_per_core', float('nan')):.0f} binary GMAC/s per "
        "core, the fastest counting method of the SIMD path) times the threads. × 1 thread = "
        "the time at 1 thread / the time at this count.",
        "",
        machine_summary(doc["machine"]),
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|---|---:|---|" + "---:|" * (len(_COLUMNS) - 3),
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in _rows(result)]
    return "\n".join(lines) + "\n"
