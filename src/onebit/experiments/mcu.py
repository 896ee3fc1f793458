"""The microcontroller BNN (``mcu-bnn``) on mnist5k, end to end: settings chosen on validation,
final runs on several seeds, each converted, exported to C, and the C (built for this machine)
run on every test image.

The candidates of :data:`GRID` (Adam's peak learning rate and the augmentation shift) train once on
the selection seed and the best by validation accuracy is kept
(:mod:`onebit.experiments.selection`); then every seed trains anew with it. For each final run
the report gives validation and test accuracy of the PyTorch model, of the converted program and
of the exported C, and how many test images the C classifies differently from the program.

    onebit experiment mcu                 # writes runs/mcu/mcu_accuracy.{json,md}
    onebit experiment mcu --out docs      # the project's report (programs in runs/mcu)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.convert import convert
from onebit.experiments.selection import Candidate, select
from onebit.export import to_c
from onebit.export.host import build_host, run_host
from onebit.train import TrainConfig, fit

MODEL, DATA = "mcu-bnn", "mnist5k"
GRID = tuple(
    Candidate(f"lr {lr:g}, shift {shift}", {"lr": lr, "augment_shift": shift})
    for lr in (1e-2, 3e-3)
    for shift in (1, 2)
)
"""Adam's peak learning rate and the largest random shift of the training images (4 runs)."""
REPORT_STEM = "mcu_accuracy"


def recipe(seed: int, epochs: int, val_fraction: float, settings: dict[str, Any]) -> TrainConfig:
    """The run of mcu-bnn: Adam, cosine schedule, batch 100, with ``settings`` applied."""
    return TrainConfig(
        model=MODEL,
        data=DATA,
        epochs=epochs,
        batch_size=100,
        optimizer="adam",
        lr=settings["lr"],
        schedule="cosine",
        seed=seed,
        augment_shift=settings["augment_shift"],
        val_fraction=val_fraction,
        device="cpu",
        progress=False,
    )


def run_mcu_accuracy(
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 60,
    work_dir: Path = Path("runs/mcu"),
    log: Callable[[str], None] = print,
    val_fraction: float = 0.1,
    selection_seed: int = 0,
) -> dict[str, Any]:
    """Select on validation, train every seed, convert, export and run the C on the test split.

    Each final run's program is saved as ``work_dir/seed{N}/model.onebit`` (the input of
    ``onebit bench mcu``) and its C as ``work_dir/seed{N}/c/``.
    """
    if val_fraction <= 0:
        raise OnebitError(f"the experiment selects on validation: val_fraction {val_fraction}")
    splits = datasets.load(DATA)
    started = time.perf_counter()

    def train_candidate(candidate: Candidate) -> dict[str, float]:
        config = recipe(selection_seed, epochs, val_fraction, dict(candidate.settings))
        final = fit(config, splits).final
        log(f"{MODEL} selection, {candidate.name}: validation {final['val_accuracy']:.2%}")
        return final

    selection = select(GRID, train_candidate)
    selection_seconds = time.perf_counter() - started
    chosen = dict(selection.best.settings)
    runs = [_final_run(seed, epochs, val_fraction, chosen, splits, work_dir, log) for seed in seeds]
    return {
        "model": MODEL,
        "data": DATA,
        "epochs": epochs,
        "seeds": list(seeds),
        "val_fraction": val_fraction,
        "validation_rule": datasets.VALIDATION_RULE,
        "selection_seconds": selection_seconds,
        "selection": {"seed": selection_seed} | selection.as_json(),
        "runs": runs,
        "summary": summarize(runs),
    }


def _final_run(
    seed: int,
    epochs: int,
    val_fraction: float,
    settings: dict[str, Any],
    splits: datasets.DataSplits,
    work_dir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    config = recipe(seed, epochs, val_fraction, settings)
    result = fit(config, splits)
    program = convert(result.model, torch.zeros(1, *splits.input_shape))
    run_dir = work_dir / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    program.save(run_dir / "model.onebit")
    x = np.ascontiguousarray(splits.x_test, dtype=np.float32)
    predicted = program(x).argmax(axis=1)
    export = to_c(program, run_dir / "c", name="mcu_bnn")
    c_outputs = run_host(build_host(export, run_dir / "host"), x, export.output_size)
    c_predicted = c_outputs.argmax(axis=1)
    row = {
        "seed": seed,
        "settings": dict(settings),
        "val_accuracy": result.final["val_accuracy"],
        "test_accuracy": result.final["test_accuracy"],
        "program_test_accuracy": float((predicted == splits.y_test).mean()),
        "c_test_accuracy": float((c_predicted == splits.y_test).mean()),
        "c_differs_from_program": int((c_predicted != predicted).sum()),
        "test_images": len(x),
        "const_bytes": export.const_bytes,
        "arena_bytes": export.arena_bytes,
        "seconds_per_epoch": result.seconds_per_epoch,
        "program": str(run_dir / "model.onebit"),
    }
    differ = row["c_differs_from_program"]
    log(
        f"{MODEL} seed {seed}: validation {row['val_accuracy']:.2%}, "
        f"test {row['test_accuracy']:.2%}, exported C {row['c_test_accuracy']:.2%} "
        f"({differ} images differ from the program)"
    )
    return row


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means and spreads (%) over the final runs."""

    def stats(key: str) -> dict[str, float]:
        values = [100 * r[key] for r in runs]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": statistics.mean(values), "std": spread, "min": min(values)}

    return {
        "seeds": len(runs),
        "val": stats("val_accuracy"),
        "test": stats("test_accuracy"),
        "c_test": stats("c_test_accuracy"),
        "c_differs_from_program": sum(r["c_differs_from_program"] for r in runs),
    }


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON alone."""
    from onebit.bench.report import machine_summary

    summary, selection = report["summary"], report["selection"]
    lines = [
        f"# {report['model']} on {report['data']}: accuracy of the model, its program and its C",
        "",
        f"Remake with `{report['command']}`. Adam, cosine schedule, batch 100, "
        f"{report['epochs']} epochs; the learning rate and augmentation shift are chosen on the "
        f"validation split ({report['val_fraction']:g} of the training part; "
        f"{report['validation_rule']}), then each seed of {report['seeds']} trains anew. The C "
        "is `onebit export c` of the converted program, built with the host's C compiler and "
        "run on every test image.",
        machine_summary(report["machine"]),
        "",
        f"**Test accuracy, mean of {summary['seeds']} seeds: {summary['test']['mean']:.2f}% "
        f"(± {summary['test']['std']:.2f}); exported C: {summary['c_test']['mean']:.2f}%; "
        f"test images the C classifies differently from the program, all seeds: "
        f"{summary['c_differs_from_program']}.**",
        "",
        "| seed | settings | validation (%) | test (%) | program test (%) | C test (%) "
        "| C differs | weights + thresholds (bytes) | arena (bytes) | s/epoch |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        settings = f"lr {r['settings']['lr']:g}, shift {r['settings']['augment_shift']}"
        lines.append(
            f"| {r['seed']} | {settings} | {100 * r['val_accuracy']:.2f} "
            f"| {100 * r['test_accuracy']:.2f} | {100 * r['program_test_accuracy']:.2f} "
            f"| {100 * r['c_test_accuracy']:.2f} | {r['c_differs_from_program']} "
            f"| {r['const_bytes']:,} | {r['arena_bytes']:,} | {r['seconds_per_epoch']:.2f} |"
        )
    lines += [
        "",
        f"## Candidates (seed {selection['seed']}, not among the final runs; "
        f"{report['selection_seconds'] / 60:.1f} min in all)",
        "",
        "| candidate | validation accuracy (%) | chosen |",
        "|---|---:|:---:|",
    ]
    for c in selection["candidates"]:
        mark = "yes" if c["name"] == selection["chosen"] else ""
        lines.append(f"| {c['name']} | {100 * c['val_accuracy']:.2f} | {mark} |")
    return "\n".join(lines) + "\n"


def write_report(
    result: dict[str, Any],
    out_dir: Path,
    command: str,
    provenance: dict[str, Any] | None = None,
) -> list[Path]:
    """``mcu_accuracy.json`` (machine, command, selection, runs) and the ``.md`` rendered from
    it, in ``out_dir``. ``provenance`` is what :meth:`Provenance.finish` returned for the runs
    (without it, the commit and load are taken at the end only)."""
    from onebit.bench.report import write_experiment

    return write_experiment(result, out_dir, REPORT_STEM, command, provenance, markdown)


def render_report(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``mcu_accuracy.md`` in ``out_dir`` from a report's JSON alone."""
    from onebit.bench.report import render_experiment

    return render_experiment(report, out_dir, REPORT_STEM, markdown)
