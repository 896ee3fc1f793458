"""What the classifier experiments' reports share: one summary row per network over its seeds,
and the Markdown tables of the networks, the runs and the selection on validation."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from onebit.experiments.figures import mean_std

SIZE_KEYS = (
    "binary_macs",
    "float_macs",
    "parameters",
    "packed_bytes",
    "float32_bytes",
    "program_bytes",
)


def summarize_networks(
    names: Iterable[str],
    runs: list[dict[str, Any]],
    selections: dict[str, Any],
    latency: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per network of ``names``: accuracies (%) as mean and std over its seeds, the
    program's (None where the converter refused it), predictions changed summed over seeds, the
    first seed's counts and sizes, and the network's batch-1 latency."""
    rows = []
    for name in names:
        members = [r for r in runs if r["variant"] == name]
        if not members:
            continue
        row: dict[str, Any] = {
            "variant": name,
            "seeds": len(members),
            "chosen": selections[name]["chosen"],
        }
        for key in ("val_accuracy", "test_accuracy", "program_test_accuracy"):
            values = [r[key] for r in members]
            if None in values:
                row[f"{key}_mean"] = row[f"{key}_std"] = None
            else:
                row[f"{key}_mean"], row[f"{key}_std"] = mean_std([100 * v for v in values])
        changed = [r["predictions_changed"] for r in members]
        first = members[0]
        row |= {
            "predictions_changed": None if None in changed else sum(changed),
            "test_samples": sum(r["test_samples"] for r in members),
            "program_refused": first.get("program_refused"),
            **{k: first.get(k) for k in SIZE_KEYS},
            "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in members),
            **latency.get(name, {}),
        }
        rows.append(row)
    return rows


def figure(value: float | None, digits: int = 2) -> str:
    """A number, or "refused" where the program was."""
    return "refused" if value is None else f"{value:.{digits}f}"


def network_table(summary: list[dict[str, Any]], latency_header: str = "engine ms") -> list[str]:
    """The networks side by side: accuracy, the program's, its agreement, sizes and latency;
    then why any conversion was refused."""
    lines = [
        "| network | test accuracy % | program accuracy % | predictions changed | parameters "
        f"| packed KB | float32 KB | program tensor bytes | {latency_header} | torch ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        program = (
            "refused"
            if r["program_test_accuracy_mean"] is None
            else f"{r['program_test_accuracy_mean']:.2f} ± {r['program_test_accuracy_std']:.2f}"
        )
        changed = (
            "-"
            if r["predictions_changed"] is None
            else f"{r['predictions_changed']} of {r['test_samples']}"
        )
        program_bytes = "-" if r["program_bytes"] is None else f"{r['program_bytes']:,}"
        lines.append(
            f"| {r['variant']} | {r['test_accuracy_mean']:.2f} ± {r['test_accuracy_std']:.2f} "
            f"| {program} | {changed} | {r['parameters']:,} | {r['packed_bytes'] / 1e3:,.1f} "
            f"| {r['float32_bytes'] / 1e3:,.1f} | {program_bytes} "
            f"| {figure(r.get('program_ms'), 3)} | {r['torch_ms']:.3f} |"
        )
    for r in summary:
        if r["program_refused"]:
            lines += [
                "",
                f"The {r['variant']} network's conversion was refused: {r['program_refused']}",
            ]
    return lines


def runs_table(runs: list[dict[str, Any]]) -> list[str]:
    """Every final run: its seed, learning rate, accuracies and time per epoch."""
    lines = [
        "| network | seed | lr | validation % | test % | program % | s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        program = r["program_test_accuracy"]
        program_percent = figure(None if program is None else 100 * program)
        lines.append(
            f"| {r['variant']} | {r['seed']} | {r['lr']:g} | {100 * r['val_accuracy']:.2f} "
            f"| {100 * r['test_accuracy']:.2f} | {program_percent} "
            f"| {r['seconds_per_epoch']:.1f} |"
        )
    return lines


def selection_tables(selections: dict[str, Any]) -> list[str]:
    """Each network's candidates with their validation accuracy, the chosen one marked."""
    lines: list[str] = []
    for name, selection in selections.items():
        lines += [
            f"{name} (seed {selection['seed']}):",
            "",
            "| candidate | validation % | chosen |",
            "|---|---|---|",
        ]
        for c in selection["candidates"]:
            mark = "yes" if c["name"] == selection["chosen"] else ""
            lines.append(f"| {c['name']} | {100 * c['val_accuracy']:.2f} | {mark} |")
        lines.append("")
    return lines
