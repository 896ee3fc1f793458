"""Zoo models through the packed engine vs a float ResNet-18 in PyTorch, batch 1, same run.

For each model: convert at the benchmark's input size, save the ``.onebit`` file (its size
against the float32 state dict's), load it back, and time ``program(x)`` for one image at each
thread count of onebit's thread pool (a program runs NumPy's BLAS on one thread, see
``runtime/blas.py``). Rounds of all measurements are interleaved and each figure is the median
of its rounds, so that a noisy spell on a shared machine does not fall on one column only. The
baseline is torch fp32 eval of a standard ResNet-18 (He et al. 2016, torchvision's layout) in
channels_last under ``torch.inference_mode()`` at the same thread count. Run with
``onebit bench zoo`` or ``python benchmarks/zoo.py``.

Fairness: in each round each model is timed at every thread count back to back, then torch at
each count, then a pause (busy, not asleep: see ``timing.busy_wait``) before the next round, as
in the bconv2d benchmark. On the shared VM this was written on, onebit's 2-thread runs right after
torch's 2-thread ResNet-18 ran 10-30% slower than before it even with no thread of torch's left
running, so the order is stated, not hidden. The 2-thread scaling is the median over rounds of
each back-to-back pair's ratio, and the report shows beside it how a compute-bound kernel scaled
on the host in the same rounds (``_host_calibration``): on that VM, spells of a few seconds came
every minute or so in which nothing scaled (the calibration kernel included), and a run of
rounds that falls mostly inside such spells shows it.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from onebit import models
from onebit.bench.report import machine_summary
from onebit.bench.timing import busy_wait, median_seconds, set_threads
from onebit.convert import convert
from onebit.runtime import BACKEND, kernels, load

BENCH_MODELS = ("quicknet", "quicknet-small", "birealnet18")
PAUSE_S = 1.0


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


def _host_calibration() -> Any:
    """A compute-bound call whose thread scaling shows what the host gives at the moment: one
    cache-resident binary GEMM (384 x 384 outputs, 2048 bits each) of onebit's own kernel. On a
    shared VM whose second vCPU is busy elsewhere, this scales below 2x too, and the report shows
    it beside the models' figures."""
    rng = np.random.default_rng(1)
    a = kernels.bitpack(rng.standard_normal((384, 2048), dtype=np.float32))
    b = kernels.bitpack(rng.standard_normal((384, 2048), dtype=np.float32))
    return lambda: kernels.bgemm(a, b, 2048)


def _paired_scaling(
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
) -> dict[str, Any]:
    """Sizes and batch-1 latencies of ``names`` packed, and of torch's fp32 ResNet-18: the median
    over ``rounds`` interleaved rounds of each one's median time."""
    if BACKEND != "native":
        raise RuntimeError(f"the zoo benchmark needs the native kernels (backend: {BACKEND})")
    x = np.random.default_rng(0).standard_normal((1, 3, input_size, input_size), np.float32)
    x_torch = torch.from_numpy(x)
    torch.manual_seed(0)
    baseline = resnet18_fp32().eval().to(memory_format=torch.channels_last)
    x_last = x_torch.contiguous(memory_format=torch.channels_last)
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
                    "onebit_file_bytes": path.stat().st_size,
                    "float32_state_dict_bytes": _state_dict_bytes(model),
                    "convert_s": convert_s,
                    "same_prediction": agree,
                }
            )
    base: dict[int, list[float]] = {count: [] for count in threads}
    ours: dict[tuple[str, int], list[float]] = {}
    host: dict[int, list[float]] = {count: [] for count in threads}
    calibrate = _host_calibration()
    for _ in range(rounds):  # interleaved, so a noisy spell on a shared host hits every column
        for entry in entries:  # each model's thread counts back to back: paired per round
            program = entry["program"]
            for count in threads:
                set_threads(count)
                seconds = median_seconds(lambda p=program: p(x), repeat=9, warmup=2)
                ours.setdefault((entry["model"], count), []).append(seconds)
        for count in threads:
            set_threads(count)
            host[count].append(median_seconds(calibrate, repeat=9, warmup=2))
            with torch.inference_mode():
                base[count].append(median_seconds(lambda: baseline(x_last), repeat=5, warmup=2))
        busy_wait(pause)
    rows: list[dict[str, Any]] = []
    for count in threads:
        base_s = statistics.median(base[count])
        for entry in entries:
            samples = ours[(entry["model"], count)]
            seconds = statistics.median(samples)
            rows.append(
                {
                    "model": entry["model"],
                    "threads": count,
                    "onebit_ms": 1e3 * seconds,
                    "onebit_best_ms": 1e3 * min(samples),
                    "resnet18_fp32_ms": 1e3 * base_s,
                    "resnet18_fp32_best_ms": 1e3 * min(base[count]),
                    "speedup_vs_resnet18": base_s / seconds,
                    "scaling_vs_1_thread": _paired_scaling(ours, entry["model"], count, threads),
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
        entry = {k: v for k, v in entry.items() if k != "program"}
        entry["size_ratio"] = entry["float32_state_dict_bytes"] / entry["onebit_file_bytes"]
        models_out.append(entry)
    return {
        "input_size": input_size,
        "pause_after_torch_s": pause,
        "rounds": rounds,
        "host_compute_scaling": host_scaling,
        "models": models_out,
        "rows": rows,
    }


_COLUMNS = ("model", "threads", "onebit ms", "ResNet-18 fp32 ms", "× ResNet-18", "× 1 thread")


def _cells(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            row["model"],
            str(row["threads"]),
            f"{row['onebit_ms']:.2f}",
            f"{row['resnet18_fp32_ms']:.2f}",
            f"{row['speedup_vs_resnet18']:.1f}",
            "-" if row["scaling_vs_1_thread"] is None else f"{row['scaling_vs_1_thread']:.2f}",
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


def _size_lines(result: dict[str, Any]) -> list[str]:
    return [
        f"{m['model']}: .onebit {m['onebit_file_bytes'] / 2**20:.2f} MiB vs float32 state dict "
        f"{m['float32_state_dict_bytes'] / 2**20:.1f} MiB ({m['size_ratio']:.1f}x smaller); "
        f"same top-1 class as torch eval: {m['same_prediction']}"
        for m in result["models"]
    ] + [_host_line(result)]


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


def markdown_zoo(result: dict[str, Any], machine: dict[str, Any], command: str) -> str:
    """A Markdown report: the latency table, the file sizes, the machine and the command."""
    size = result["input_size"]
    lines = [
        f"# Zoo models through the packed engine vs fp32 ResNet-18, batch 1, {size}x{size}",
        "",
        f"Remake with `{command}`. Wall time of one image through the loaded `.onebit` "
        "program at each thread count of onebit's pool, against torch "
        "fp32 eval of a standard ResNet-18 in channels_last under `torch.inference_mode()` at the "
        "same thread count, measured in the same run: in each round each model at every thread "
        "count back to back, then torch, then "
        f"a {result['pause_after_torch_s']:g} s busy pause. Each time is the median over "
        f"{result['rounds']} interleaved rounds of a median of 9 (5 for torch) calls; the best "
        "round is in the JSON. × 1 thread is the median over rounds of each round's "
        "back-to-back ratio.",
        "",
        machine_summary(machine),
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|---|" + "---:|" * (len(_COLUMNS) - 1),
        *("| " + " | ".join(cells) + " |" for cells in _cells(result)),
        "",
        *(f"- {line}" for line in _size_lines(result)),
    ]
    return "\n".join(lines) + "\n"
