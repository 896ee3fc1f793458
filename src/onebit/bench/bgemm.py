"""Binary GEMM speed vs torch fp32 and int8 on the same shapes and thread counts.

For each shape (M, K, N) -- A is (M, K bits), B is (N, K bits), the rows of B are the output
channels -- and each thread count, it times onebit's ``bgemm`` (best SIMD path, packed operands),
``bitpack`` + ``bgemm`` from float activations, and, in the same run, torch fp32
(``torch.matmul`` and oneDNN's ``mkldnn_linear``, the faster counts) and torch's int8 dynamically
quantized ``nn.Linear``. It also measures this CPU's register-resident xor+popcount+add peak per
core (``xor_popcount_peak``) and reports the fraction of it that bgemm reaches.

Fairness: torch's OpenMP workers keep spinning for a while after a multi-threaded op and take the
cores onebit's own thread pool needs. So for each (shape, threads) onebit is timed before torch,
and every torch timing is followed by a pause before the next onebit timing. Torch runs at
``torch.set_num_threads(t)``, onebit with ``threads=t``. Run with ``onebit bench bgemm``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from onebit.bench.report import machine_summary
from onebit.bench.timing import PAUSE_KIND, busy_wait, median_seconds
from onebit.runtime import _native
from onebit.runtime.bit_format import WORD_BITS, WORD_DTYPE, words_for

SHAPES: tuple[tuple[int, int, int], ...] = ((64, 4096, 4096), (1024, 4096, 1024))
THREADS: tuple[int, ...] = (1, 2)
PAUSE_S = 0.5  # lets torch's OpenMP workers stop spinning before onebit is timed
PEAK_S = 1.0  # how long the xor+popcount peak loop runs
_TIMING = {"repeat": 11, "warmup": 3, "min_seconds": 0.03}


def _time(run: Callable[[], object]) -> float:
    return median_seconds(run, **_TIMING)


def torch_baselines(m: int, k: int, n: int) -> tuple[dict[str, Callable[[], object]], list[str]]:
    """fp32 and int8 callables computing the (M, N) product of x (M, K) and weights (N, K).

    Returns the callables by name and notes on baselines that could not be built.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=gen)
    linear = torch.nn.Linear(k, n, bias=False).eval()
    weight = linear.weight.detach()
    runs: dict[str, Callable[[], object]] = {"fp32 matmul": lambda: torch.matmul(x, weight.t())}
    notes = []
    try:
        from torch.utils import mkldnn as mkldnn_utils

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mkl_linear = mkldnn_utils.to_mkldnn(torch.nn.Sequential(linear)).eval()
        with torch.no_grad():
            mkl_linear(x)
        runs["fp32 onednn"] = lambda: mkl_linear(x)
    except (RuntimeError, AttributeError, ImportError) as error:
        notes.append(f"oneDNN linear unavailable: {error}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qlinear = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8
        )
    runs["int8 dynamic"] = lambda: qlinear(x)
    return runs, notes


def _bitpack_bgemm(x: np.ndarray, b: np.ndarray, k: int, threads: int) -> np.ndarray:
    """A binary linear layer on float input: pack the activations, then bgemm."""
    return _native.bgemm(_native.bitpack(x, threads=threads), b, k, threads=threads)


def benchmark_bgemm(
    shapes: tuple[tuple[int, int, int], ...] = SHAPES,
    threads: tuple[int, ...] = THREADS,
    pause: float = PAUSE_S,
    peak_seconds: float = PEAK_S,
) -> dict[str, Any]:
    """bgemm and bitpack+bgemm vs torch fp32 (best of matmul, oneDNN) and int8 dynamic Linear."""
    rng = np.random.default_rng(0)
    simd = _native.default_simd_path()
    peak = _native.xor_popcount_peak(peak_seconds)  # before any torch op: nothing else spinning
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for m, k, n in shapes:
        words = words_for(k)
        a = rng.integers(0, 2**WORD_BITS, size=(m, words), dtype=WORD_DTYPE)
        b = rng.integers(0, 2**WORD_BITS, size=(n, words), dtype=WORD_DTYPE)
        x = rng.standard_normal((m, k), dtype=np.float32)
        out = np.empty((m, n), dtype=np.int32)
        baselines: dict[str, Callable[[], object]] | None = None
        for count in threads:
            ours = _time(functools.partial(_native.bgemm, a, b, k, threads=count, out=out))
            with_pack = _time(functools.partial(_bitpack_bgemm, x, b, k, count))
            torch.set_num_threads(count)
            if baselines is None:
                baselines, built_notes = torch_baselines(m, k, n)
                notes.extend(built_notes)
            with torch.inference_mode():
                base = {name: _time(run) for name, run in baselines.items()}
            busy_wait(pause)
            fp32 = min(seconds for name, seconds in base.items() if name.startswith("fp32"))
            macs = m * k * n
            rows.append(
                {
                    "m": m,
                    "k": k,
                    "n": n,
                    "threads": count,
                    "simd": simd,
                    "bgemm_s": ours,
                    "bitpack_bgemm_s": with_pack,
                    "baselines_s": base,
                    "speedup_vs_fp32": fp32 / ours,
                    "speedup_vs_int8": base["int8 dynamic"] / ours,
                    "binary_gmacs": macs / ours / 1e9,
                    "fraction_of_peak": macs / ours / (peak * count),
                }
            )
    for row in rows:  # thread scaling: time at 1 thread / time at this thread count
        one = next(
            (r for r in rows if r["threads"] == 1 and (r["m"], r["k"], r["n"]) == _shape(row)),
            None,
        )
        row["scaling_vs_1_thread"] = None if one is None else one["bgemm_s"] / row["bgemm_s"]
    return {
        "simd": simd,
        "simd_paths": list(_native.simd_paths()),
        "xor_popcount_peak_gmacs_per_core": peak / 1e9,
        "pause_after_torch_s": pause,
        "pause_kind": PAUSE_KIND,
        "timing": _TIMING,
        "notes": notes,
        "results": rows,
    }


def _shape(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["m"], row["k"], row["n"]


_COLUMNS = (
    "M x K x N",
    "threads",
    "bgemm ms",
    "+bitpack ms",
    "fp32 matmul ms",
    "fp32 oneDNN ms",
    "int8 dyn ms",
    "vs fp32",
    "vs int8",
    "GMAC/s",
    "% peak",
    "vs 1 thread",
)


def _cells(row: dict[str, Any]) -> list[str]:
    base = row["baselines_s"]
    scaling = row.get("scaling_vs_1_thread")
    return [
        f"{row['m']} x {row['k']} x {row['n']}",
        str(row["threads"]),
        f"{row['bgemm_s'] * 1e3:.3f}",
        f"{row['bitpack_bgemm_s'] * 1e3:.3f}",
        f"{base['fp32 matmul'] * 1e3:.2f}",
        f"{base['fp32 onednn'] * 1e3:.2f}" if "fp32 onednn" in base else "-",
        f"{base['int8 dynamic'] * 1e3:.2f}",
        f"{row['speedup_vs_fp32']:.1f}x",
        f"{row['speedup_vs_int8']:.1f}x",
        f"{row['binary_gmacs']:.0f}",
        f"{100 * row['fraction_of_peak']:.0f}%",
        "-" if scaling is None else f"{scaling:.2f}x",
    ]


def print_bgemm(result: dict[str, Any], console) -> None:
    from rich.table import Table

    console.print(
        f"bgemm ({result['simd']}) vs torch, same run; xor+popcount peak "
        f"{result['xor_popcount_peak_gmacs_per_core']:.0f} binary GMAC/s per core; "
        "vs fp32 = best of fp32 matmul and oneDNN",
        highlight=False,
        markup=False,
    )
    for note in result["notes"]:
        console.print(note, highlight=False, markup=False)
    table = Table(title="binary GEMM, median times", header_style="bold")
    for column in _COLUMNS:
        table.add_column(column, justify="left" if column == "M x K x N" else "right")
    for row in result["results"]:
        table.add_row(*_cells(row))
    console.print(table)


def markdown_bgemm(doc: dict[str, Any]) -> str:
    """The Markdown report of a stored ``bgemm`` document: method (from the stored values), the
    machine and provenance, and the table."""
    result = doc["bgemm"]
    timing = result["timing"]
    lines = [
        "# bgemm vs torch fp32 and int8",
        "",
        f"Remake with `{doc['command']}`. Each time is the median of {timing['repeat']} samples "
        f"after {timing['warmup']} warm-up calls, a sample looping the call for at least "
        f"{timing['min_seconds'] * 1e3:g} ms; every baseline measured in the same run at the "
        "same thread count (onebit timed first, then torch, then a "
        f"{result['pause_after_torch_s']:g} s {result['pause_kind']}). vs fp32 = against the "
        "faster of `torch.matmul` and oneDNN `mkldnn_linear`; vs int8 = against torch's "
        "dynamically quantized `nn.Linear`; % peak = share of the measured register-resident "
        f"xor+popcount peak, {result['xor_popcount_peak_gmacs_per_core']:.0f} binary GMAC/s per "
        "core, times the thread count.",
        "",
        machine_summary(doc["machine"]),
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|---|" + "---:|" * (len(_COLUMNS) - 1),
    ]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in result["results"]]
    lines += ["", *result["notes"]] if result["notes"] else []
    return "\n".join(lines) + "\n"
