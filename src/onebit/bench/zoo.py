"""Zoo models through the packed engine vs a float ResNet-18 in PyTorch, batch 1, same run.

For each model: convert at the benchmark's input size, save the ``.onebit`` file (its size
against the float32 state dict's), load it back, and time ``program(x)`` for one image at each
thread count of onebit's thread pool (a program runs NumPy's BLAS on one thread, see
``runtime/blas.py``). Rounds of all measurements are interleaved and each figure is the median
of its rounds, so that a noisy spell on a shared machine does not fall on one column only. Run
with ``onebit bench zoo``.

The baseline is a standard ResNet-18 (He et al. 2016, torchvision's layout) in fp32 at the same
thread count, in the fastest CPU setup torch offers here: each of ``BASELINE_SETUPS`` (eager
channels_last under ``torch.inference_mode()``; ``torch.jit.freeze(torch.jit.trace(...))``,
without and with ``torch.jit.enable_onednn_fusion``; ``torch.compile`` with inductor) is timed at
each thread count before the rounds, the fastest per thread count is the one timed in the rounds,
and every setup's time (or why it could not run) is in the result.

Fairness: in each round each model is timed at every thread count back to back, then torch at
each count, then a pause (busy, not asleep: see ``timing.busy_wait``) before the next round, as
in the bconv2d benchmark. On the shared VM this was written on, onebit's 2-thread runs right after
torch's 2-thread ResNet-18 ran 10-30% slower than before it even with no thread of torch's left
running, so the order is stated, not hidden. The thread scaling in the table is the ratio of the
reported medians (so it agrees with the ms columns); the median over rounds of each round's
back-to-back ratio is stored beside it (``scaling_paired_median``), and the report shows how a
compute-bound kernel scaled on the host in the same rounds (``_host_calibration``): on that VM,
spells of a few seconds came every minute or so in which nothing scaled.

Each round also times the same file in the Python executor (``runtime/reference_program.py``,
the runtime before the C++ executor took over, over the same kernels) right after onebit at the
same thread count: the before/after of moving the executor into C++, in the same run.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from onebit import models
from onebit.bench.report import machine_summary
from onebit.bench.timing import PAUSE_KIND, busy_wait, median_seconds, set_threads
from onebit.convert import convert
from onebit.runtime import BACKEND, kernels, load
from onebit.runtime.reference_program import load_reference

BENCH_MODELS = ("quicknet", "quicknet-small", "birealnet18")
PAUSE_S = 1.0
BASELINE_SETUPS = (
    "eager channels_last",
    "jit.freeze",
    "jit.freeze + oneDNN fusion",
    "torch.compile",
)
_OURS_TIMING = {"repeat": 9, "warmup": 2}
_TORCH_TIMING = {"repeat": 5, "warmup": 2}


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def resnet18_fp32(num_classes: int = 1000) -> nn.Module:
    """The standard float ResNet-18 (He et al., CVPR 2016, Table 1): the speed baseline."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def _with_onednn_fusion(run: Callable[[], Any]) -> Callable[[], Any]:
    """``run`` with torch's oneDNN graph fusion on for the call only (a global switch)."""

    def fused() -> Any:
        torch.jit.enable_onednn_fusion(True)
        try:
            return run()
        finally:
            torch.jit.enable_onednn_fusion(False)

    return fused


def baseline_setup(name: str, model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    """A callable running ``model(x)`` (fp32, channels_last ``x``) in the torch setup ``name``,
    built and warmed up (tracing, fusing or compiling happens here, not in the timings)."""
    model = model.eval().to(memory_format=torch.channels_last)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        if name == "eager channels_last":

            def run() -> Any:
                with torch.inference_mode():
                    return model(x)

        elif name in ("jit.freeze", "jit.freeze + oneDNN fusion"):
            frozen = torch.jit.freeze(torch.jit.trace(model, x))

            def run() -> Any:
                with torch.no_grad():
                    return frozen(x)

            if name.endswith("fusion"):
                run = _with_onednn_fusion(run)
        elif name == "torch.compile":
            compiled = torch.compile(model)

            def run() -> Any:
                with torch.inference_mode():
                    return compiled(x)

        else:
            raise ValueError(f"unknown torch setup {name!r}; known: {', '.join(BASELINE_SETUPS)}")
        for _ in range(3):  # the profiling executor fuses, inductor compiles, on early calls
            run()
    return run


def choose_baselines(
    model: nn.Module, x: torch.Tensor, threads: Sequence[int], setups: Sequence[str]
) -> tuple[dict[str, Callable[[], Any]], dict[str, dict[str, Any]]]:
    """Build each torch setup and time it once at each thread count.

    Returns the built setups by name, and per setup its build seconds, the milliseconds per
    thread count, or the error that stopped it (a missing C++ compiler for ``torch.compile``).
    """
    built: dict[str, Callable[[], Any]] = {}
    record: dict[str, dict[str, Any]] = {}
    for name in setups:
        set_threads(threads[0])
        started = time.perf_counter()
        try:
            run = baseline_setup(name, model, x)
        except Exception as error:  # any failure of torch's toolchain: record it and go on
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            record[name] = {"error": f"{type(error).__name__}: {first}"[:300]}
            continue
        built[name] = run
        record[name] = {"build_s": time.perf_counter() - started, "ms": {}}
        for count in threads:
            set_threads(count)
            record[name]["ms"][str(count)] = 1e3 * median_seconds(run, **_TORCH_TIMING)
    if not built:
        raise RuntimeError(f"no torch baseline could run: {record}")
    return built, record


def _host_calibration() -> Any:
    """A compute-bound call whose thread scaling shows what the host gives at the moment: one
    cache-resident binary GEMM (384 x 384 outputs, 2048 bits each) of onebit's own kernel. On a
    shared VM whose second vCPU is busy elsewhere, this scales below 2x too, and the report shows
    it beside the models' figures."""
    rng = np.random.default_rng(1)
    a = kernels.bitpack(rng.standard_normal((384, 2048), dtype=np.float32))
    b = kernels.bitpack(rng.standard_normal((384, 2048), dtype=np.float32))
    return lambda: kernels.bgemm(a, b, 2048)


def _paired_scaling_median(
    ours: dict[tuple[str, int], list[float]], model: str, count: int, threads: Sequence[int]
) -> float | None:
    """The median over rounds of (time on the first thread count / time on ``count``), each
    pair measured back to back: a host whose speed drifts between rounds moves both alike."""
    if threads[0] != 1:
        return None
    pairs = zip(ours[(model, 1)], ours[(model, count)], strict=True)
    return statistics.median(one / many for one, many in pairs)


def _state_dict_bytes(model: nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def benchmark_zoo(
    names: Sequence[str] = BENCH_MODELS,
    threads: Sequence[int] = (1, 2),
    input_size: int = 224,
    pause: float = PAUSE_S,
    rounds: int = 15,
    baselines: Sequence[str] = BASELINE_SETUPS,
) -> dict[str, Any]:
    """Sizes and batch-1 latencies of ``names`` packed, and of torch's fp32 ResNet-18 in the
    fastest of ``baselines`` per thread count: the median over ``rounds`` interleaved rounds of
    each one's median time."""
    if BACKEND != "native":
        raise RuntimeError(f"the zoo benchmark needs the native kernels (backend: {BACKEND})")
    x = np.random.default_rng(0).standard_normal((1, 3, input_size, input_size), np.float32)
    x_torch = torch.from_numpy(x)
    torch.manual_seed(0)
    x_last = x_torch.contiguous(memory_format=torch.channels_last)
    built, setups = choose_baselines(resnet18_fp32(), x_last, threads, baselines)
    chosen = {
        count: min(built, key=lambda name, c=count: setups[name]["ms"][str(c)]) for count in threads
    }
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = models.create(name, input_size=input_size, num_classes=1000).eval()
            path = Path(tmp) / f"{name}.onebit"
            started = time.perf_counter()
            convert(model, torch.zeros(1, 3, input_size, input_size)).save(path)
            convert_s = time.perf_counter() - started
            program = load(path)
            with torch.inference_mode():
                agree = int(np.argmax(program(x))) == int(model(x_torch).argmax())
            entries.append(
                {
                    "model": name,
                    "program": program,
                    "python_executor": load_reference(path),
                    "onebit_file_bytes": path.stat().st_size,
                    "float32_state_dict_bytes": _state_dict_bytes(model),
                    "convert_s": convert_s,
                    "same_prediction": agree,
                }
            )
    base: dict[int, list[float]] = {count: [] for count in threads}
    ours: dict[tuple[str, int], list[float]] = {}
    python: dict[tuple[str, int], list[float]] = {}
    host: dict[int, list[float]] = {count: [] for count in threads}
    calibrate = _host_calibration()
    for _ in range(rounds):  # interleaved, so a noisy spell on a shared host hits every column
        for entry in entries:  # each model's thread counts back to back: paired per round
            program = entry["program"]
            for count in threads:
                set_threads(count)
                seconds = median_seconds(lambda p=program: p(x), **_OURS_TIMING)
                ours.setdefault((entry["model"], count), []).append(seconds)
                reference = entry["python_executor"]
                seconds = median_seconds(lambda p=reference: p(x), **_OURS_TIMING)
                python.setdefault((entry["model"], count), []).append(seconds)
        for count in threads:
            set_threads(count)
            host[count].append(median_seconds(calibrate, **_OURS_TIMING))
            base[count].append(median_seconds(built[chosen[count]], **_TORCH_TIMING))
        busy_wait(pause)
    rows: list[dict[str, Any]] = []
    for count in threads:
        base_s = statistics.median(base[count])
        for entry in entries:
            samples = ours[(entry["model"], count)]
            seconds = statistics.median(samples)
            one = statistics.median(ours[(entry["model"], 1)]) if 1 in threads else None
            python_s = statistics.median(python[(entry["model"], count)])
            rows.append(
                {
                    "model": entry["model"],
                    "threads": count,
                    "onebit_ms": 1e3 * seconds,
                    "onebit_best_ms": 1e3 * min(samples),
                    "resnet18_fp32_ms": 1e3 * base_s,
                    "resnet18_fp32_best_ms": 1e3 * min(base[count]),
                    "resnet18_fp32_setup": chosen[count],
                    "speedup_vs_resnet18": base_s / seconds,
                    "scaling_vs_1_thread": None if one is None else one / seconds,
                    "scaling_paired_median": _paired_scaling_median(
                        ours, entry["model"], count, threads
                    ),
                    "python_executor_ms": 1e3 * python_s,
                    "vs_python_executor": seconds / python_s,
                }
            )
    host_scaling = {
        str(count): statistics.median(
            a / b for a, b in zip(host[threads[0]], host[count], strict=True)
        )
        for count in threads
    }
    models_out = []
    for entry in entries:
        entry = {k: v for k, v in entry.items() if k not in ("program", "python_executor")}
        entry["size_ratio"] = entry["float32_state_dict_bytes"] / entry["onebit_file_bytes"]
        models_out.append(entry)
    return {
        "input_size": input_size,
        "pause_after_torch_s": pause,
        "pause_kind": PAUSE_KIND,
        "rounds": rounds,
        "timing_onebit": _OURS_TIMING,
        "timing_torch": _TORCH_TIMING,
        "resnet18_fp32_setups": setups,
        "resnet18_fp32_chosen": {str(count): name for count, name in chosen.items()},
        "host_compute_scaling": host_scaling,
        "models": models_out,
        "rows": rows,
    }


_COLUMNS = (
    "model",
    "threads",
    "onebit ms",
    "ResNet-18 fp32 ms",
    "torch setup",
    "× ResNet-18",
    "× 1 thread",
    "Python executor ms",
    "÷ Python executor",
)


def _cells(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            row["model"],
            str(row["threads"]),
            f"{row['onebit_ms']:.2f}",
            f"{row['resnet18_fp32_ms']:.2f}",
            row["resnet18_fp32_setup"],
            f"{row['speedup_vs_resnet18']:.1f}",
            "-" if row["scaling_vs_1_thread"] is None else f"{row['scaling_vs_1_thread']:.2f}",
            "-" if row.get("python_executor_ms") is None else f"{row['python_executor_ms']:.2f}",
            "-" if row.get("vs_python_executor") is None else f"{row['vs_python_executor']:.0%}",
        ]
        for row in sorted(result["rows"], key=lambda r: (r["model"], r["threads"]))
    ]


def _host_line(result: dict[str, Any]) -> str:
    scaling = ", ".join(
        f"{value:.2f}x on {count}"
        for count, value in result["host_compute_scaling"].items()
        if count != "1"
    )
    return (
        "host check: a compute-bound binary GEMM (cache-resident) scaled "
        f"{scaling} threads in the same rounds (2.0x = a fully free second core)"
    )


def _setup_line(result: dict[str, Any]) -> str:
    """Every torch setup's ResNet-18 time per thread count from the pre-selection, or its error."""
    parts = []
    for name, record in result["resnet18_fp32_setups"].items():
        if "error" in record:
            parts.append(f"{name}: could not run ({record['error']})")
        else:
            times = ", ".join(f"{ms:.2f} ms on {count}" for count, ms in record["ms"].items())
            parts.append(f"{name}: {times}")
    return "torch ResNet-18 fp32 setups in the pre-selection: " + "; ".join(parts)


def _size_lines(result: dict[str, Any]) -> list[str]:
    return [
        f"{m['model']}: .onebit {m['onebit_file_bytes'] / 2**20:.2f} MiB vs float32 state dict "
        f"{m['float32_state_dict_bytes'] / 2**20:.1f} MiB ({m['size_ratio']:.1f}x smaller); "
        f"same top-1 class as torch eval: {m['same_prediction']}"
        for m in result["models"]
    ] + [_host_line(result), _setup_line(result)]


def print_zoo(result: dict[str, Any], console) -> None:
    from rich.table import Table

    size = result["input_size"]
    table = Table(title=f"batch-1 latency at {size}x{size}, same run", header_style="bold")
    for column in _COLUMNS:
        table.add_column(column, justify="left" if column == "model" else "right")
    for cells in _cells(result):
        table.add_row(*cells)
    console.print(table)
    for line in _size_lines(result):
        console.print(line, highlight=False, markup=False)


def markdown_zoo(doc: dict[str, Any]) -> str:
    """The Markdown report of a stored ``zoo`` document: method (from the stored values), the
    machine and provenance, the latency table, the torch setups and the file sizes."""
    result = doc["zoo"]
    size = result["input_size"]
    ours, theirs = result["timing_onebit"], result["timing_torch"]
    lines = [
        f"# Zoo models through the packed engine vs fp32 ResNet-18, batch 1, {size}x{size}",
        "",
        f"Remake with `{doc['command']}`. Wall time of one image through the loaded `.onebit` "
        "program at each thread count of onebit's pool, against torch fp32 of a standard "
        "ResNet-18 at the same thread count in the fastest of the torch setups tried (named in "
        "the table; all setups' times below), measured in the same run: in each round each "
        "model at every thread count back to back, then torch, then "
        f"a {result['pause_after_torch_s']:g} s {result['pause_kind']}. Each time is the "
        f"median over {result['rounds']} interleaved rounds of a median of {ours['repeat']} "
        f"({theirs['repeat']} for torch) calls; the best round is in the JSON. × 1 thread is "
        "the ratio of the medians in the onebit ms column (1-thread median / this median); the "
        "median of each round's back-to-back ratio is in the JSON as `scaling_paired_median`. "
        "The Python executor column times the same file run op by op from Python "
        "(`onebit.runtime.reference_program`, the runtime before the C++ executor) over the "
        "same kernels, right after onebit in each round; ÷ is onebit's time over it.",
        "",
        machine_summary(doc["machine"]),
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|---|" + "---:|" * (len(_COLUMNS) - 1),
        *("| " + " | ".join(cells) + " |" for cells in _cells(result)),
        "",
        *(f"- {line}" for line in _size_lines(result)),
    ]
    return "\n".join(lines) + "\n"
