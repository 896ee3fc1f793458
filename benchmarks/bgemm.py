"""Binary GEMM speed vs torch fp32 and int8 on the same shapes and thread counts.

For each shape (M, K, N) -- A is (M, K bits), B is (N, K bits), the rows of B are the output
channels -- and each thread count, it times onebit's ``bgemm`` (best SIMD path, packed operands)
and, in the same run, torch fp32 (``torch.matmul`` and oneDNN's ``mkldnn_linear``, the faster
counts) and torch's int8 dynamically quantized ``nn.Linear``. It also measures this CPU's
register-resident xor+popcount+add peak per core (``onebit._native.xor_popcount_peak``) and
reports the fraction of it that bgemm reaches. Times are medians over repetitions after warm-up.

    python benchmarks/bgemm.py --out docs/bgemm.json
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from onebit.runtime import _native

SHAPES = [(64, 4096, 4096), (1024, 4096, 1024)]
THREADS = [1, 2]


def median_seconds(fn: Callable[[], object], min_time: float = 0.3, min_reps: int = 7) -> float:
    """Median wall time of ``fn()`` over at least ``min_reps`` runs and ``min_time`` seconds."""
    for _ in range(3):
        fn()  # warm-up: caches, thread pools, lazy initialisation
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


def torch_baselines(m: int, k: int, n: int) -> dict[str, Callable[[], object]]:
    """fp32 and int8 callables computing the (M, N) product of x (M, K) and weights (N, K)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=gen)
    linear = torch.nn.Linear(k, n, bias=False).eval()
    weight = linear.weight.detach()
    fns: dict[str, Callable[[], object]] = {"fp32 matmul": lambda: torch.matmul(x, weight.t())}
    try:
        from torch.utils import mkldnn as mkldnn_utils

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mkl_linear = mkldnn_utils.to_mkldnn(torch.nn.Sequential(linear)).eval()
        with torch.no_grad():
            mkl_linear(x)
        fns["fp32 onednn"] = lambda: mkl_linear(x)
    except (RuntimeError, AttributeError, ImportError) as error:
        print(f"oneDNN linear unavailable: {error}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qlinear = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8
        )
    fns["int8 dynamic"] = lambda: qlinear(x)
    return fns


def _bitpack_bgemm(x: np.ndarray, b: np.ndarray, k: int, threads: int) -> np.ndarray:
    """A binary linear layer on float input: pack the activations, then bgemm."""
    return _native.bgemm(_native.bitpack(x, threads=threads), b, k, threads=threads)


def run(shapes: list[tuple[int, int, int]], threads_list: list[int]) -> dict:
    rng = np.random.default_rng(0)
    path = _native.default_simd_path()
    peak = _native.xor_popcount_peak(1.0)
    rows = []
    for m, k, n in shapes:
        words = -(-k // _native.WORD_BITS)
        a = rng.integers(0, 2**64, size=(m, words), dtype=np.uint64)
        b = rng.integers(0, 2**64, size=(n, words), dtype=np.uint64)
        x = rng.standard_normal((m, k), dtype=np.float32)
        out = np.empty((m, n), dtype=np.int32)
        baselines = torch_baselines(m, k, n)
        for threads in threads_list:
            torch.set_num_threads(threads)
            ours = median_seconds(
                functools.partial(_native.bgemm, a, b, k, threads=threads, out=out)
            )
            with_pack = median_seconds(functools.partial(_bitpack_bgemm, x, b, k, threads=threads))
            with torch.inference_mode():
                base = {name: median_seconds(fn) for name, fn in baselines.items()}
            fp32 = min(v for name, v in base.items() if name.startswith("fp32"))
            macs = m * k * n
            rows.append(
                {
                    "m": m,
                    "k": k,
                    "n": n,
                    "threads": threads,
                    "simd": path,
                    "bgemm_s": ours,
                    "bitpack_bgemm_s": with_pack,
                    "baselines_s": base,
                    "speedup_vs_fp32": fp32 / ours,
                    "speedup_vs_int8": base["int8 dynamic"] / ours,
                    "binary_gmacs": macs / ours / 1e9,
                    "fraction_of_peak": macs / ours / (peak * threads),
                }
            )
    return {
        "machine": {
            "cpu": cpu_model(),
            "cores": _native.get_num_threads(),
            "simd_paths": _native.simd_paths(),
        },
        "torch": torch.__version__,
        "commit": git_commit(),
        "xor_popcount_peak_gmacs_per_core": peak / 1e9,
        "results": rows,
    }


def print_table(report: dict) -> None:
    table = Table(
        title=f"bgemm ({report['results'][0]['simd']}) vs torch -- {report['machine']['cpu']}, "
        f"peak {report['xor_popcount_peak_gmacs_per_core']:.0f} binary GMAC/s per core"
    )
    for column in [
        "M x K x N",
        "thr",
        "bgemm ms",
        "+bitpack ms",
        "fp32 matmul ms",
        "fp32 oneDNN ms",
        "int8 dyn ms",
        "vs fp32",
        "vs int8",
        "GMAC/s",
        "% peak",
    ]:
        table.add_column(column, justify="right")
    for r in report["results"]:
        base = r["baselines_s"]
        table.add_row(
            f"{r['m']} x {r['k']} x {r['n']}",
            str(r["threads"]),
            f"{r['bgemm_s'] * 1e3:.3f}",
            f"{r['bitpack_bgemm_s'] * 1e3:.3f}",
            f"{base['fp32 matmul'] * 1e3:.2f}",
            f"{base['fp32 onednn'] * 1e3:.2f}" if "fp32 onednn" in base else "-",
            f"{base['int8 dynamic'] * 1e3:.2f}",
            f"{r['speedup_vs_fp32']:.1f}x",
            f"{r['speedup_vs_int8']:.1f}x",
            f"{r['binary_gmacs']:.0f}",
            f"{100 * r['fraction_of_peak']:.0f}%",
        )
    Console(width=170).print(table)
    by_shape: dict[tuple[int, int, int], dict[int, float]] = {}
    for r in report["results"]:
        by_shape.setdefault((r["m"], r["k"], r["n"]), {})[r["threads"]] = r["bgemm_s"]
    for (m, k, n), times in by_shape.items():
        if 1 in times and 2 in times:
            print(f"{m} x {k} x {n}: 2 threads {times[1] / times[2]:.2f}x faster than 1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/bgemm.json"))
    parser.add_argument("--threads", type=int, nargs="+", default=THREADS)
    args = parser.parse_args(argv)
    report = run(SHAPES, args.threads)
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
