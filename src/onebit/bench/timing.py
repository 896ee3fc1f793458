"""Repeatable timings and the facts that make a result file comparable: machine and commit."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onebit.atomic import atomic_open


def median_seconds(
    run: Callable[[], Any], repeat: int = 20, warmup: int = 3, min_seconds: float = 0.0
) -> float:
    """Median wall time of ``run()`` over ``repeat`` calls after ``warmup`` calls.

    With ``min_seconds``, each timed sample loops ``run`` until that long has passed and reports
    the time per call, so sub-millisecond calls are not lost in timer noise.
    """
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        calls, started = 0, time.perf_counter()
        while True:
            run()
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= min_seconds:
                break
        samples.append(elapsed / calls)
    return statistics.median(samples)


def busy_wait(seconds: float) -> None:
    """Wait without sleeping: on the shared VM the benchmarks were tuned on, a thread that sleeps
    for a second came back to a slower core for a while (the next timings ran 40% slower)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def set_threads(threads: int) -> None:
    """The thread count of torch and of onebit's kernels (when the extension is built)."""
    import torch

    torch.set_num_threads(threads)
    try:
        from onebit.runtime import _native
    except ImportError:
        return
    _native.set_num_threads(threads)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent,
    )
    return done.stdout.strip() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, core count, Python and NumPy versions, the commit, and torch's if imported."""
    import sys

    import numpy as np

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "commit": commit(),
    }
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    try:
        from onebit.runtime import _native

        info["simd"] = _native.default_simd_path()
    except (ImportError, AttributeError):
        info["simd"] = "none (NumPy reference kernels)"
    return info


def machine_summary(machine: dict[str, Any]) -> str:
    """One sentence from :func:`machine_info` for Markdown reports; absent facts are left out."""
    facts = [
        machine.get("cpu"),
        machine.get("cores") and f"{machine['cores']} cores",
        machine.get("threads") and f"{machine['threads']} threads",
        machine.get("simd") and f"SIMD {machine['simd']}",
        machine.get("torch") and f"torch {machine['torch']}",
        machine.get("numpy") and f"NumPy {machine['numpy']}",
        machine.get("python") and f"Python {machine['python']}",
        machine.get("commit") and f"commit {machine['commit']}",
    ]
    return "Machine: " + ", ".join(fact for fact in facts if fact) + "."


def save_results(path: str | os.PathLike[str], results: dict[str, Any]) -> None:
    """Write ``{"machine": ..., **results}`` as JSON, atomically."""
    with atomic_open(path, "w") as handle:
        json.dump({"machine": machine_info(), **results}, handle, indent=1)


def publish(
    name: str,
    result: dict[str, Any],
    markdown: Callable[[dict[str, Any], dict[str, Any], str], str],
    out: Path,
    command: str,
    console,
) -> None:
    """Save ``result`` as ``out`` (JSON under ``name``, with machine and command) and its
    Markdown report beside it (``markdown(result, machine, command)``), both atomically."""
    save_results(out, {"command": command, name: result})
    report = out.with_suffix(".md")
    with atomic_open(report, "w") as handle:
        handle.write(markdown(result, machine_info(), command))
    console.print(f"wrote {out} and {report}", highlight=False, markup=False)
