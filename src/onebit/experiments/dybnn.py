"""The DyBNN ablation: dynamic against static binarization in one small CNN.

``reactnet-mini`` (ReActNet's RSign and RPReLU: a learned threshold and shifts per channel, the
same for every input) and ``dybnn-mini`` (DyBNN's DySign and DyPReLU: the threshold and shifts
computed from each input by a hyper function, :mod:`onebit.nn.dynamic`) have the same layout
otherwise (:mod:`onebit.models.dybnn`) and train with the same recipe. For each variant Adam's
peak learning rate is chosen on the validation split (:data:`GRID`, on the selection seed,
:mod:`onebit.experiments.selection`), then every seed trains anew with it. Each final run is
converted to a packed program, which classifies the test split: the report gives its accuracy,
the test images on which it and the PyTorch model disagree, and the engine's median time per
sample at batch 1 on one thread, beside the PyTorch model's on the same input and thread count.

    onebit experiment dybnn --data mnist5k          # writes runs/dybnn/dybnn-mnist5k.{json,md}
    onebit experiment dybnn --data mnist5k --out docs    # the project's report
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.convert import convert
from onebit.experiments.classifier_runs import torch_predictions
from onebit.experiments.figures import batch1_latency, mean_std
from onebit.experiments.selection import Candidate, select
from onebit.train import TrainConfig, fit


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: its name, zoo model and what its binarization is."""

    name: str
    model: str
    description: str


VARIANTS = (
    Variant("static", "reactnet-mini", "RSign + RPReLU: per-channel threshold and shifts"),
    Variant("dynamic", "dybnn-mini", "DySign + DyPReLU: threshold and shifts from each input"),
)
GRID = tuple(Candidate(f"lr {lr:g}", {"lr": lr}) for lr in (1e-2, 3e-3))
"""Adam's peak learning rate, chosen on validation for each variant (2 runs each)."""
EPOCHS = 10
BATCH_SIZE = 50
AUGMENT_SHIFT = 1
THREADS = 1
"""torch threads of every run: the same arithmetic on any machine, and no second thread to
contend for a core the machine's other work holds (on the 2-core development VM, two threads
beside another busy process trained 6x slower than one)."""


def report_stem(data: str) -> str:
    return f"dybnn-{data}"


def recipe(
    model: str, data: str, seed: int, epochs: int, val_fraction: float, lr: float
) -> TrainConfig:
    """A run of either variant: Adam, cosine schedule, batch 50, 1-pixel shifts, one thread."""
    return TrainConfig(
        model=model,
        data=data,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        optimizer="adam",
        lr=lr,
        schedule="cosine",
        seed=seed,
        augment_shift=AUGMENT_SHIFT,
        val_fraction=val_fraction,
        device="cpu",
        threads=THREADS,
        progress=False,
    )


def run_dybnn(
    data: str = "mnist5k",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = EPOCHS,
    log: Callable[[str], None] = print,
    val_fraction: float = 0.1,
    selection_seed: int = 0,
    splits: datasets.DataSplits | None = None,
) -> dict[str, Any]:
    """Select each variant's learning rate on validation, train every seed, convert each run and
    compare its program with the model on the test split; time both at batch 1.

    Args:
        data: the dataset's registry name (square images whose side is a multiple of 4).
        seeds: the final runs' seeds.
        epochs: epochs of every run.
        log: one line per finished run.
        val_fraction: the share of the training part held out for validation (> 0).
        selection_seed: the seed of the selection runs (not among the final runs).
        splits: data to use instead of loading ``data`` (e.g. a subset in tests), without a
            validation split.
    """
    if val_fraction <= 0:
        raise OnebitError(f"the experiment selects on validation: val_fraction {val_fraction}")
    if not seeds:
        raise OnebitError("the experiment needs at least one seed")
    splits = datasets.load(data) if splits is None else splits
    runs: list[dict[str, Any]] = []
    selections: dict[str, dict[str, Any]] = {}
    programs = {}
    for variant in VARIANTS:

        def train_candidate(candidate: Candidate, variant: Variant = variant) -> dict[str, float]:
            lr = candidate.settings["lr"]
            config = recipe(variant.model, data, selection_seed, epochs, val_fraction, lr)
            final = fit(config, splits).final
            accuracy = final["val_accuracy"]
            log(f"{variant.name} selection, {candidate.name}: validation {accuracy:.2%}")
            return final

        selection = select(GRID, train_candidate)
        selections[variant.name] = {"seed": selection_seed, **selection.as_json()}
        lr = selection.best.settings["lr"]
        for seed in seeds:
            row, program, model = _final_run(variant, data, seed, epochs, val_fraction, lr, splits)
            runs.append(row)
            if seed == seeds[0]:
                programs[variant.name] = (program, model)
            log(
                f"{variant.name} seed {seed}: validation {row['val_accuracy']:.2%}, test "
                f"{row['test_accuracy']:.2%}, program {row['program_test_accuracy']:.2%} "
                f"({row['program_differs']} test images differ from the model)"
            )
    sample = np.ascontiguousarray(splits.x_test[:1], dtype=np.float32)
    latency = {name: batch1_latency(*pair, sample) for name, pair in programs.items()}
    for name, figures in latency.items():
        log(f"{name}: {figures['program_ms']:.3f} ms per sample in the engine at batch 1")
    return {
        "data": data,
        "epochs": epochs,
        "seeds": list(seeds),
        "val_fraction": val_fraction,
        "validation_rule": datasets.VALIDATION_RULE,
        "batch_size": BATCH_SIZE,
        "augment_shift": AUGMENT_SHIFT,
        "threads": THREADS,
        "variants": [vars(v) for v in VARIANTS],
        "selections": selections,
        "runs": runs,
        "latency": latency,
        "summary": summarize(runs, selections, latency),
    }


def _final_run(
    variant: Variant,
    data: str,
    seed: int,
    epochs: int,
    val_fraction: float,
    lr: float,
    splits: datasets.DataSplits,
):
    started = time.perf_counter()
    result = fit(recipe(variant.model, data, seed, epochs, val_fraction, lr), splits)
    model = result.model.eval()
    program = convert(model, torch.zeros(1, *splits.input_shape))
    x = np.ascontiguousarray(splits.x_test, dtype=np.float32)
    predicted = program(x).argmax(axis=1)
    expected = torch_predictions(model, x)
    row = {
        "variant": variant.name,
        "model": variant.model,
        "seed": seed,
        "lr": lr,
        "val_accuracy": result.final["val_accuracy"],
        "test_accuracy": result.final["test_accuracy"],
        "program_test_accuracy": float((predicted == splits.y_test).mean()),
        "program_differs": int((predicted != expected).sum()),
        "test_images": len(x),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_per_epoch": result.seconds_per_epoch,
        "wall_seconds": time.perf_counter() - started,
        "history": result.history,
    }
    return row, program, model


def summarize(
    runs: list[dict[str, Any]],
    selections: dict[str, dict[str, Any]],
    latency: dict[str, dict[str, float]],
) -> list[dict[str, Any]]:
    """One row per variant: accuracies (%) as mean and std over its final runs, the program's,
    the disagreements summed over seeds, and the batch-1 latency; ``test_delta`` is the test
    mean minus the static variant's."""
    rows = []
    for variant in VARIANTS:
        members = [r for r in runs if r["variant"] == variant.name]
        if not members:
            continue
        val_mean, val_std = mean_std([100 * r["val_accuracy"] for r in members])
        test_mean, test_std = mean_std([100 * r["test_accuracy"] for r in members])
        program_mean, program_std = mean_std([100 * r["program_test_accuracy"] for r in members])
        rows.append(
            {
                "variant": variant.name,
                "model": variant.model,
                "description": variant.description,
                "seeds": len(members),
                "chosen": selections[variant.name]["chosen"],
                "val_mean": val_mean,
                "val_std": val_std,
                "test_mean": test_mean,
                "test_std": test_std,
                "program_test_mean": program_mean,
                "program_test_std": program_std,
                "program_differs": sum(r["program_differs"] for r in members),
                "test_images": sum(r["test_images"] for r in members),
                "parameters": members[0]["parameters"],
                "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in members),
                **latency.get(variant.name, {}),
            }
        )
    static = next((r["test_mean"] for r in rows if r["variant"] == "static"), None)
    for row in rows:
        row["test_delta"] = None if static is None else row["test_mean"] - static
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON alone."""
    from onebit.bench.report import machine_summary

    rows = {r["variant"]: r for r in report["summary"]}
    grid = ", ".join(c["name"] for c in next(iter(report["selections"].values()))["candidates"])
    lines = [
        f"# DyBNN on {report['data']}: dynamic against static binarization",
        "",
        f"Remake with `{report['command']}`. `reactnet-mini` (ReActNet's RSign and RPReLU) and "
        "`dybnn-mini` (DyBNN's DySign and DyPReLU, Zhang et al., ICASSP 2022), the same layout "
        f"otherwise; {report['epochs']} epochs, batch {report['batch_size']}, Adam with a cosine "
        f"schedule, random shifts of up to {report['augment_shift']} pixel, torch on "
        f"{report['threads']} thread. Each variant's learning rate is chosen "
        f"on the validation split ({grid}; {report['val_fraction']:g} of the training part; "
        f"{report['validation_rule']}), then each seed of {report['seeds']} trains anew. Every "
        "final run is converted to a packed program, which classifies the test split; the "
        "latency is the median per call on one test image (batch 1, one thread) of the first "
        "seed's program and model.",
        machine_summary(report["machine"]),
        "",
    ]
    if "static" in rows and "dynamic" in rows:
        static, dynamic = rows["static"], rows["dynamic"]
        lines += [
            f"**Test accuracy, mean ± std of {dynamic['seeds']} seeds: dynamic "
            f"{dynamic['test_mean']:.2f} ± {dynamic['test_std']:.2f}%, static "
            f"{static['test_mean']:.2f} ± {static['test_std']:.2f}% "
            f"({dynamic['test_delta']:+.2f} points); test images where program and model "
            f"disagree: {dynamic['program_differs']} and {static['program_differs']} of "
            f"{dynamic['test_images']:,}; engine at batch 1: {dynamic['program_ms']:.3f} ms "
            f"against {static['program_ms']:.3f} ms.**",
            "",
        ]
    lines += [
        "| variant | model | binarization | chosen | validation (%) | test (%) "
        "| test vs static (points) | program test (%) | program differs (images) "
        "| engine ms/sample | torch ms/sample | parameters | s/epoch |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["summary"]:
        delta = "" if r["test_delta"] is None else f"{r['test_delta']:+.2f}"
        lines.append(
            f"| {r['variant']} | `{r['model']}` | {r['description']} | {r['chosen']} "
            f"| {r['val_mean']:.2f} ± {r['val_std']:.2f} | {r['test_mean']:.2f} ± "
            f"{r['test_std']:.2f} | {delta} | {r['program_test_mean']:.2f} ± "
            f"{r['program_test_std']:.2f} | {r['program_differs']} of {r['test_images']:,} "
            f"| {r['program_ms']:.3f} | {r['torch_ms']:.3f} | {r['parameters']:,} "
            f"| {r['seconds_per_epoch']:.2f} |"
        )
    lines += [
        "",
        "## Final runs",
        "",
        "| variant | seed | lr | validation (%) | test (%) | program test (%) | program differs "
        "| s/epoch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['variant']} | {r['seed']} | {r['lr']:g} | {100 * r['val_accuracy']:.2f} "
            f"| {100 * r['test_accuracy']:.2f} | {100 * r['program_test_accuracy']:.2f} "
            f"| {r['program_differs']} | {r['seconds_per_epoch']:.2f} |"
        )
    lines += [
        "",
        "## Learning rate, chosen on validation (not among the final runs)",
        "",
        "| variant | seed | candidate | validation accuracy (%) | chosen |",
        "|---|---:|---|---:|:---:|",
    ]
    for name, selection in report["selections"].items():
        for c in selection["candidates"]:
            mark = "yes" if c["name"] == selection["chosen"] else ""
            lines.append(
                f"| {name} | {selection['seed']} | {c['name']} "
                f"| {100 * c['val_accuracy']:.2f} | {mark} |"
            )
    return "\n".join(lines) + "\n"


def write_report(
    result: dict[str, Any],
    out_dir: Path,
    command: str,
    provenance: dict[str, Any] | None = None,
) -> list[Path]:
    """``dybnn-DATA.json`` (machine, command, selections, runs with histories) and the ``.md``
    rendered from it, in ``out_dir``. ``provenance`` is what :meth:`Provenance.finish` returned
    for the runs."""
    from onebit.bench.report import write_experiment

    stem = report_stem(result["data"])
    return write_experiment(result, out_dir, stem, command, provenance, markdown)


def render_report(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``dybnn-DATA.md`` in ``out_dir`` from a report's JSON alone."""
    from onebit.bench.report import render_experiment

    return render_experiment(report, out_dir, report_stem(report["data"]), markdown)
