"""The binary MLP through the packed engine vs its float twin in PyTorch, batch 1, same run.

Measures, in one run: the ``.onebit`` file against the float32 state dict (size ratio), and
batch-1 latency of the packed program at each thread count against, at the same count:

- the headline baseline, the float twin: ``float-mlp`` with the same input, hidden width, depth
  and classes (plain fp32 ``Linear`` layers), in eval under ``torch.inference_mode()``, in the
  faster of eager and ``torch.jit.freeze(torch.jit.trace(...))`` (both timed, both recorded);
- a secondary column, torch eval of the binary model itself with its latent float weights, which
  re-binarizes every weight on every call: what a user without onebit would run, not a fair
  float baseline;
- the Python executor (``onebit.runtime.reference_program``, the runtime before the C++ executor
  took over): the per-op dispatch the C++ executor removed, over the same kernels.

Without a checkpoint it times an untrained ``binarynet-mlp`` of the default shape: latency does
not depend on the weights' values, and no accuracy is reported; the result says so
(``trained: false``). Run with ``onebit bench mlp [--checkpoint runs/demo/checkpoint.pt]``.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from onebit import models
from onebit.bench.report import machine_summary
from onebit.bench.timing import PAUSE_KIND, busy_wait, median_seconds, set_threads
from onebit.convert import convert
from onebit.runtime import BACKEND, load
from onebit.runtime.reference_program import load_reference
from onebit.train import model_from_checkpoint

PAUSE_S = 0.5  # lets torch's OpenMP workers stop spinning before onebit is timed
TWIN_SETUPS = ("eager", "jit.freeze")
_TIMING = {"repeat": 30, "warmup": 3, "min_seconds": 0.02}
UNTRAINED_NOTE = (
    "no checkpoint given: timing an untrained binarynet-mlp of the same shape (latency does not "
    "depend on the weights; no accuracy is reported)"
)


def _twin_setup(name: str, twin: torch.nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    if name == "eager":
        return lambda: twin(x)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        frozen = torch.jit.freeze(torch.jit.trace(twin, x))
        for _ in range(3):  # the profiling executor optimizes on early calls
            frozen(x)
    return lambda: frozen(x)


def _twin_arguments(model: torch.nn.Module) -> dict[str, Any]:
    """The float twin's arguments: the input shape, hidden width, depth and classes of ``model``
    (its hidden layers are the ``Linear`` layers before the last)."""
    widths = [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)][:-1]
    if not widths or len(set(widths)) != 1:
        raise ValueError(f"expected an MLP with equal hidden widths, got {widths}")
    return {
        "input_shape": tuple(model.input_shape),
        "num_classes": model.num_classes,
        "hidden": widths[0],
        "depth": len(widths),
    }


def benchmark_mlp(
    checkpoint: str | None = None, threads: tuple[int, ...] = (1, 2), pause: float = PAUSE_S
) -> dict[str, Any]:
    """Size and batch-1 latency of ``binarynet-mlp`` packed vs its float twin (headline) and vs
    torch eval of the latent-weight model (secondary)."""
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
        python_executor = load_reference(path)
    twin_args = _twin_arguments(model)
    twin = models.create("float-mlp", **twin_args).eval()
    x = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    x_torch = torch.from_numpy(x)
    with torch.inference_mode():
        agree = bool(np.argmax(program(x)) == int(model(x_torch).argmax()))
    twins = {name: _twin_setup(name, twin, x_torch) for name in TWIN_SETUPS}
    rows: list[dict[str, Any]] = []
    for count in threads:
        set_threads(count)
        packed_seconds = median_seconds(lambda: program(x), **_TIMING)
        python_seconds = median_seconds(lambda: python_executor(x), **_TIMING)
        with torch.inference_mode():
            latent_seconds = median_seconds(lambda: model(x_torch), **_TIMING)
        twin_seconds = {}
        for name, run in twins.items():
            with torch.inference_mode():
                twin_seconds[name] = median_seconds(run, **_TIMING)
        busy_wait(pause)
        best = min(twin_seconds, key=twin_seconds.get)
        rows.append(
            {
                "threads": count,
                "onebit_ms": 1e3 * packed_seconds,
                "python_executor_ms": 1e3 * python_seconds,
                "float_twin_ms": 1e3 * twin_seconds[best],
                "float_twin_setup": best,
                "float_twin_setups_ms": {k: 1e3 * v for k, v in twin_seconds.items()},
                "speedup_vs_float_twin": twin_seconds[best] / packed_seconds,
                "torch_latent_binary_ms": 1e3 * latent_seconds,
                "speedup_vs_latent_binary": latent_seconds / packed_seconds,
            }
        )
    return {
        "model": "binarynet-mlp",
        "checkpoint": checkpoint,
        "trained": checkpoint is not None,
        "note": None if checkpoint is not None else UNTRAINED_NOTE,
        "float_twin": {"model": "float-mlp", **twin_args, "input_shape": list(shape)},
        "backend": BACKEND,
        "onebit_file_bytes": file_bytes,
        "float32_state_dict_bytes": state.getbuffer().nbytes,
        "size_ratio": state.getbuffer().nbytes / file_bytes,
        "same_prediction": agree,
        "pause_after_torch_s": pause,
        "pause_kind": PAUSE_KIND,
        "timing": _TIMING,
        "latency_batch1": rows,
    }


_COLUMNS = (
    "threads",
    "onebit ms",
    "Python executor ms",
    "onebit / Python executor",
    "float twin ms",
    "twin setup",
    "× float twin",
    "torch eval, latent binary ms",
    "× latent binary (secondary)",
)


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        str(row["threads"]),
        f"{row['onebit_ms']:.3f}",
        "-" if row.get("python_executor_ms") is None else f"{row['python_executor_ms']:.3f}",
        "-"
        if row.get("python_executor_ms") is None
        else f"{row['onebit_ms'] / row['python_executor_ms']:.0%}",
        f"{row['float_twin_ms']:.3f}",
        row["float_twin_setup"],
        f"{row['speedup_vs_float_twin']:.1f}x",
        f"{row['torch_latent_binary_ms']:.3f}",
        f"{row['speedup_vs_latent_binary']:.1f}x",
    ]


def _size_line(result: dict[str, Any]) -> str:
    return (
        f"{result['model']}: .onebit file {result['onebit_file_bytes']:,} B vs float32 state "
        f"dict {result['float32_state_dict_bytes']:,} B -> {result['size_ratio']:.1f}x smaller "
        f"(kernels: {result['backend']}); same top-1 class as torch eval: "
        f"{result['same_prediction']}"
    )


def print_mlp(result: dict[str, Any], console) -> None:
    from rich.table import Table

    if result.get("note"):
        console.print(f"note: {result['note']}", highlight=False, markup=False)
    console.print(_size_line(result), highlight=False, markup=False)
    table = Table(*_COLUMNS, title="batch-1 latency, same run", header_style="bold")
    for row in result["latency_batch1"]:
        table.add_row(*_cells(row))
    console.print(table)


def markdown_mlp(doc: dict[str, Any]) -> str:
    """The Markdown report of a stored ``mlp`` document: method (from the stored values), the
    machine and provenance, and the table."""
    result = doc["mlp"]
    timing, twin = result["timing"], result["float_twin"]
    source = (
        f"trained checkpoint `{result['checkpoint']}`"
        if result["trained"]
        else f"**untrained** model: {result['note']}"
    )
    lines = [
        f"# {result['model']} through the packed engine vs its float twin, batch 1",
        "",
        f"Remake with `{doc['command']}`. Model: {source}. Headline: against the float twin "
        f"`{twin['model']}` ({twin['depth']} x {twin['hidden']} hidden, fp32, eval under "
        "`torch.inference_mode()`), in the faster of "
        f"{' and '.join(f'`{s}`' for s in TWIN_SETUPS)} at each thread count. Secondary: torch "
        "eval of the binary model with its latent float weights, which re-binarizes every "
        f"weight on every call. Each time is the median of {timing['repeat']} samples after "
        f"{timing['warmup']} warm-up calls, a sample looping the call for at least "
        f"{timing['min_seconds'] * 1e3:g} ms; per thread count onebit first (its Python runtime, "
        "then the same program in the C++ executor that libonebit runs), then torch, then a "
        f"{result['pause_after_torch_s']:g} s {result['pause_kind']}.",
        "",
        machine_summary(doc["machine"]),
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---:|" * len(_COLUMNS),
        *("| " + " | ".join(_cells(row)) + " |" for row in result["latency_batch1"]),
        "",
        f"- {_size_line(result)}",
    ]
    return "\n".join(lines) + "\n"
