"""The binary MLP through the packed engine vs PyTorch eval of the same model.

Measures, in one run: the ``.onebit`` file against the float32 state dict (size ratio), and
batch-1 latency of the packed program against ``model(x)`` under ``torch.inference_mode()`` at
the same thread count, and against its full-precision twin ``float-mlp`` (plain fp32 Linear
layers, no per-call weight binarization: the fastest a float network of this shape runs in
torch). Run with ``onebit bench mlp`` or ``python benchmarks/mlp_engine.py``.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from onebit import models
from onebit.bench.timing import median_seconds, set_threads
from onebit.convert import convert
from onebit.runtime import BACKEND, load
from onebit.train import model_from_checkpoint


def benchmark_mlp(checkpoint: str | None = None, threads: tuple[int, ...] = (1, 2)) -> dict:
    """Size and batch-1 latency of ``binarynet-mlp`` (3 x 1024) packed vs torch fp32 eval."""
    if checkpoint is not None:
        model = model_from_checkpoint(checkpoint)
    else:
        torch.manual_seed(0)
        model = models.create("binarynet-mlp").eval()
    shape = tuple(model.input_shape)
    state = io.BytesIO()
    torch.save(model.state_dict(), state)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onebit"
        convert(model, torch.zeros(1, *shape)).save(path)
        file_bytes = path.stat().st_size
        program = load(path)
    twin = models.create("float-mlp", input_shape=shape, num_classes=model.num_classes).eval()
    x = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    x_torch = torch.from_numpy(x)
    with torch.inference_mode():
        agree = bool(np.argmax(program(x)) == int(model(x_torch).argmax()))
    rows: list[dict[str, Any]] = []
    for count in threads:
        set_threads(count)
        with torch.inference_mode():
            torch_seconds = median_seconds(lambda: model(x_torch), repeat=30, min_seconds=0.02)
            twin_seconds = median_seconds(lambda: twin(x_torch), repeat=30, min_seconds=0.02)
        time.sleep(0.5)  # let torch's OpenMP workers stop spinning before timing our threads
        packed_seconds = median_seconds(lambda: program(x), repeat=30, min_seconds=0.02)
        rows.append(
            {
                "threads": count,
                "onebit_ms": 1e3 * packed_seconds,
                "torch_fp32_ms": 1e3 * torch_seconds,
                "torch_float_twin_ms": 1e3 * twin_seconds,
                "speedup": torch_seconds / packed_seconds,
                "speedup_vs_float_twin": twin_seconds / packed_seconds,
            }
        )
    return {
        "model": "binarynet-mlp",
        "checkpoint": checkpoint,
        "backend": BACKEND,
        "onebit_file_bytes": file_bytes,
        "float32_state_dict_bytes": state.getbuffer().nbytes,
        "size_ratio": state.getbuffer().nbytes / file_bytes,
        "same_prediction": agree,
        "latency_batch1": rows,
    }


def print_mlp(result: dict, console) -> None:
    from rich.table import Table

    console.print(
        f"binarynet-mlp (784-1024-1024-1024-10): .onebit file {result['onebit_file_bytes']:,} B "
        f"vs float32 state dict {result['float32_state_dict_bytes']:,} B "
        f"-> {result['size_ratio']:.1f}x smaller   (kernels: {result['backend']})",
        highlight=False,
    )
    table = Table(
        "threads",
        "onebit batch-1 (ms)",
        "torch eval, same model (ms)",
        "speed-up",
        "torch float-mlp twin (ms)",
        "speed-up",
        title="batch-1 latency, same run",
        header_style="bold",
    )
    for row in result["latency_batch1"]:
        table.add_row(
            str(row["threads"]),
            f"{row['onebit_ms']:.3f}",
            f"{row['torch_fp32_ms']:.3f}",
            f"{row['speedup']:.1f}x",
            f"{row['torch_float_twin_ms']:.3f}",
            f"{row['speedup_vs_float_twin']:.1f}x",
        )
    console.print(table)
