"""Result files and their Markdown reports, with the facts that make them comparable: the
machine and the commit they were measured at."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onebit.atomic import atomic_open


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
