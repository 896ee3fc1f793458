"""Binary convolution speed vs torch fp32 conv2d on the same shapes and thread counts.

For each convolution (NHWC packed input, KxK kernel, padding K // 2, one-padding) and each thread
count, it times onebit's ``bconv2d`` (best SIMD path) from packed input to int32, to float32 and to
packed output (fused epilogues, and the unfused ``bconv2d`` + ``output_*`` pair), and, in the same
run, torch's fp32 ``conv2d`` in both memory formats (contiguous and channels_last; the faster is
the baseline). Times are medians over repetitions after warm-up.

    python benchmarks/bconv2d.py --out docs/bconv2d.json

Targets: 3x3 256->256 14x14 at 1 thread >= 8x torch fp32 (packed to packed); 56x56 64->64 at
2 threads >= 1.8x faster than at 1 thread.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from onebit import _native

# (name, batch, cin, cout, size, kernel, threads to time)
CONVS = [
    ("3x3 256->256 14x14", 1, 256, 256, 14, 3, [1]),
    ("3x3 64->64 56x56", 1, 64, 64, 56, 3, [1, 2]),
    ("1x1 256->256 14x14", 1, 256, 256, 14, 1, [1]),
]


def median_seconds(fn: Callable[[], object], min_time: float = 0.3, min_reps: int = 11) -> float:
    """Median wall time of ``fn()`` over at least ``min_reps`` runs and ``min_time`` seconds."""
    for _ in range(5):
        fn()  # warm-up: caches, thread pool, lazy initialisation
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def torch_fp32(batch: int, cin: int, cout: int, size: int, k: int) -> dict[str, float]:
    """Median seconds of torch's fp32 conv2d in each memory format (current thread count)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cin, size, size, generator=gen)
    w = torch.randn(cout, cin, k, k, generator=gen)
    times = {}
    with torch.inference_mode():
        for fmt_name, fmt in (("contiguous", torch.contiguous_format), ("channels_last", None)):
            xf = x if fmt is not None else x.contiguous(memory_format=torch.channels_last)
            wf = w if fmt is not None else w.contiguous(memory_format=torch.channels_last)
            times[fmt_name] = median_seconds(functools.partial(F.conv2d, xf, wf, padding=k // 2))
    return times


def onebit_variants(batch: int, cin: int, cout: int, size: int, k: int, threads: int) -> dict:
    """Median seconds of each onebit variant; packed NHWC input throughout."""
    rng = np.random.default_rng(0)
    x = _native.bitpack(rng.standard_normal((batch, size, size, cin), dtype=np.float32))
    w = _native.bitpack(rng.standard_normal((cout, k, k, cin), dtype=np.float32))
    scale = rng.standard_normal(cout).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    threshold = rng.integers(-20, 20, size=cout, dtype=np.int32)
    flip = rng.integers(0, 2, size=cout, dtype=np.uint8)
    conv = functools.partial(_native.bconv2d, x, w, cin, 1, k // 2, 1.0, threads=threads)
    acc = conv()
    return {
        "int32": median_seconds(conv),
        "bits fused": median_seconds(
            functools.partial(
                _native.bconv2d_bits, x, w, cin, threshold, flip, 1, k // 2, 1.0, threads=threads
            )
        ),
        "bits unfused": median_seconds(
            lambda: _native.output_bits(conv(), threshold, flip, threads=threads)
        ),
        "float fused": median_seconds(
            functools.partial(
                _native.bconv2d_float, x, w, cin, scale, bias, 1, k // 2, 1.0, threads=threads
            )
        ),
        "float unfused": median_seconds(
            lambda: _native.output_float(conv(), scale, bias, threads=threads)
        ),
        "output_bits alone": median_seconds(
            functools.partial(_native.output_bits, acc, threshold, flip, threads=threads)
        ),
        "output_float alone": median_seconds(
            functools.partial(_native.output_float, acc, scale, bias, threads=threads)
        ),
    }


def run() -> dict:
    rows = []
    for name, batch, cin, cout, size, k, threads_list in CONVS:
        for threads in threads_list:
            # onebit first: torch's OpenMP workers spin for a while after each call and would
            # take the core that onebit's second thread needs
            torch.set_num_threads(1)
            ours = onebit_variants(batch, cin, cout, size, k, threads)
            torch.set_num_threads(threads)
            base = torch_fp32(batch, cin, cout, size, k)
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
                    "threads": threads,
                    "onebit_s": ours,
                    "torch_fp32_s": base,
                    "speedup_vs_fp32": {v: fp32 / t for v, t in ours.items()},
                    "binary_gmacs_int32": macs / ours["int32"] / 1e9,
                }
            )
    for row in rows:  # thread scaling: time at 1 thread / time at this thread count
        one = next(r for r in rows if r["conv"] == row["conv"] and r["threads"] == 1)
        row["scaling_vs_1_thread"] = {v: one["onebit_s"][v] / t for v, t in row["onebit_s"].items()}
    return {
        "machine": {
            "cpu": cpu_model(),
            "cores": _native.get_num_threads(),
            "simd": _native.default_simd_path(),
        },
        "torch": torch.__version__,
        "commit": git_commit(),
        "command": "python benchmarks/bconv2d.py",
        "rows": rows,
    }


def print_table(result: dict) -> None:
    table = Table(
        title=f"bconv2d vs torch fp32 conv2d -- {result['machine']['cpu']}, "
        f"simd {result['machine']['simd']}, torch {result['torch']}, commit {result['commit']}"
    )
    for col in ("conv", "thr", "variant", "onebit µs", "fp32 µs (best fmt)", "× fp32", "× 1 thr"):
        table.add_column(col, justify="left" if col in ("conv", "variant") else "right")
    for row in result["rows"]:
        base = row["torch_fp32_s"]
        fmt = min(base, key=base.get)
        for i, (variant, seconds) in enumerate(row["onebit_s"].items()):
            alone = variant.endswith("alone")
            table.add_row(
                row["conv"] if i == 0 else "",
                str(row["threads"]) if i == 0 else "",
                variant,
                f"{seconds * 1e6:,.1f}",
                f"{base[fmt] * 1e6:,.0f} ({fmt})" if i == 0 else "",
                "" if alone else f"{row['speedup_vs_fp32'][variant]:.1f}",
                f"{row['scaling_vs_1_thread'][variant]:.2f}",
            )
        table.add_section()
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/bconv2d.json"))
    args = parser.parse_args()
    result = run()
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
