"""Result files and their Markdown reports: one JSON document per benchmark run, and a Markdown
report rendered from that JSON alone, so the prose cannot drift from the figures and
``onebit bench NAME --from-json FILE`` re-renders any stored result.

A document is ``{"report": NAME, "command": ..., "machine": ..., NAME: result}``; ``machine``
holds the CPU, versions and the :class:`~onebit.bench.provenance.Provenance` (commit, diff hash,
SIMD path, load before and after, idle verdict).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onebit._registry import OnebitError
from onebit.atomic import atomic_open
from onebit.bench.provenance import Provenance, describe, provenance_lines

# report name -> "module:function" rendering a document as Markdown (imported when needed)
RENDERERS = {
    "bgemm": "onebit.bench.bgemm:markdown_bgemm",
    "bconv2d": "onebit.bench.bconv2d:markdown_bconv2d",
    "zoo": "onebit.bench.zoo:markdown_zoo",
    "hourglass": "onebit.bench.hourglass:markdown_hourglass",
    "mlp": "onebit.bench.mlp:markdown_mlp",
    "mcu": "onebit.bench.mcu:markdown_mcu",
    "kbit": "onebit.bench.kbit:markdown_kbit",
    "fuzz": "onebit.runtime.fuzz.campaign:markdown_fuzz",
}


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
    """``git describe --always --dirty`` of the source tree onebit is imported from."""
    return describe()


def machine_info(provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """CPU model, core count, Python, NumPy and torch (if imported) versions, and the provenance.

    Args:
        provenance: what :meth:`Provenance.finish` returned for the measurement. Without it,
            one is taken now (:meth:`Provenance.at_end`: no load before, the load after judged
            against torch's thread count), so a writer that can should call
            :meth:`Provenance.start` before it measures.
    """
    import sys

    import numpy as np

    if provenance is None:  # the work ran on torch's threads, when torch is loaded
        torch = sys.modules.get("torch")
        provenance = Provenance.at_end(torch.get_num_threads() if torch else 1)
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "commit": provenance["commit"],
        "simd": provenance["simd"],
        "provenance": provenance,
    }
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    return info


def machine_summary(machine: dict[str, Any]) -> str:
    """The machine sentence and the provenance lines (with any warning) for a Markdown report,
    from a stored :func:`machine_info`; absent facts are left out."""
    facts = [
        machine.get("cpu"),
        machine.get("cores") and f"{machine['cores']} cores",
        machine.get("threads") and f"{machine['threads']} threads",
        machine.get("torch") and f"torch {machine['torch']}",
        machine.get("numpy") and f"NumPy {machine['numpy']}",
        machine.get("python") and f"Python {machine['python']}",
    ]
    sentence = "Machine: " + ", ".join(fact for fact in facts if fact) + "."
    return "\n\n".join([sentence, *provenance_lines(machine.get("provenance"))])


def document(name: str, result: dict[str, Any], command: str, provenance: dict[str, Any]) -> dict:
    """The JSON document of one run of benchmark ``name``."""
    return {"report": name, "command": command, "machine": machine_info(provenance), name: result}


def render_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report of a stored document (as read back from its JSON)."""
    name = doc.get("report")
    if name not in RENDERERS:
        raise OnebitError(
            f"not a onebit benchmark result (report {name!r}; known: {', '.join(RENDERERS)})"
        )
    module, function = RENDERERS[name].split(":")
    markdown: Callable[[dict[str, Any]], str] = getattr(importlib.import_module(module), function)
    return markdown(doc)


def read_document(path: str | os.PathLike[str], name: str | None = None) -> dict[str, Any]:
    """A stored result file, checked to be a ``name`` report when ``name`` is given."""
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise OnebitError(f"{path} is not JSON: {error}") from None
    if not isinstance(doc, dict) or doc.get("report") not in RENDERERS:
        raise OnebitError(f"{path} is not a onebit benchmark result (no known 'report' field)")
    if name is not None and doc["report"] != name:
        raise OnebitError(f"{path} holds a {doc['report']!r} result, not {name!r}")
    return doc


def write_markdown(doc: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Render ``doc`` and write it to ``path`` atomically."""
    text = render_markdown(doc)
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def save_results(path: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    """Write a document as JSON, atomically."""
    with atomic_open(path, "w") as handle:
        json.dump(doc, handle, indent=1)


def save_experiment(
    result: dict[str, Any],
    path: str | os.PathLike[str],
    command: str,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write an experiment's JSON (its command, the result's fields and the machine it ran on)
    atomically to ``path``; returns the document written."""
    doc = {"command": command, **result, "machine": machine_info(provenance)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_results(path, doc)
    return doc


def write_experiment(
    result: dict[str, Any],
    out_dir: str | os.PathLike[str],
    stem: str,
    command: str,
    provenance: dict[str, Any] | None,
    markdown: Callable[[dict[str, Any]], str],
) -> list[Path]:
    """An experiment's ``out_dir/stem.json`` (:func:`save_experiment`) and its ``stem.md``,
    rendered by ``markdown`` from the JSON as written; returns both paths (Markdown first)."""
    js = Path(out_dir) / f"{stem}.json"
    report = save_experiment(result, js, command, provenance)
    return [render_experiment(report, out_dir, stem, markdown), js]


def render_experiment(
    report: dict[str, Any],
    out_dir: str | os.PathLike[str],
    stem: str,
    markdown: Callable[[dict[str, Any]], str],
) -> Path:
    """Write ``out_dir/stem.md`` from a report's JSON alone."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    md = Path(out_dir) / f"{stem}.md"
    with atomic_open(md, "w") as handle:
        handle.write(markdown(report))
    return md


def publish(
    name: str,
    result: dict[str, Any],
    out: str | os.PathLike[str],
    command: str,
    provenance: dict[str, Any],
    report: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Save ``result`` as the JSON document ``out`` and its Markdown report (``report``, by
    default beside ``out`` with ``.md``), rendered from the JSON as written. Returns both paths."""
    doc = document(name, result, command, provenance)
    save_results(out, doc)
    markdown_path = Path(out).with_suffix(".md") if report is None else Path(report)
    write_markdown(json.loads(Path(out).read_text()), markdown_path)
    return [Path(out), markdown_path]


def rerender(path: str | os.PathLike[str], name: str, report: str | os.PathLike[str] | None = None):
    """Re-render the Markdown report of the stored result ``path`` (beside it by default)."""
    doc = read_document(path, name)
    return write_markdown(doc, Path(path).with_suffix(".md") if report is None else report)
