"""Bit-Mixer against fixed precision: one meta-quantized MLP run at several bit-width settings,
each against a network trained at that setting alone (Bulat & Tzimiropoulos, ICCV 2021).

For each dataset: the learning rate of the Bit-Mixer network (judged by its mean validation
accuracy over the settings) and of each fixed-precision network is chosen on the validation split
with the selection seed (:mod:`onebit.experiments.selection`); then every seed trains the Bit-Mixer
network (three stages, ``--bit-mixer``) and one fixed network per setting (``train_bits``), all
for the same number of epochs. The report gives each setting's validation and test accuracy, mean
± std over the seeds, and the gap to its fixed counterpart; the target is a gap within 0.5 points.

    onebit experiment bitmixer --data mnist5k             # runs/bitmixer/bitmixer-mnist5k.*
    onebit experiment bitmixer --data digits --out docs   # the project's report
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
from onebit.experiments.selection import Candidate, select
from onebit.train import TrainConfig, fit

MODEL = "bitmixer-mlp"
LEARNING_RATES = (1e-2, 3e-3)
TARGET_GAP = 0.5
"""Points of accuracy a setting may lose against its fixed-precision network."""


def settings_for(layers: int) -> dict[str, tuple[int, ...]]:
    """The settings evaluated: each uniform width and two mixed ones."""
    rising = tuple(2 + (i * 3) // layers for i in range(layers))  # 2 ... 4
    return {
        "uniform 2": (2,) * layers,
        "uniform 3": (3,) * layers,
        "uniform 4": (4,) * layers,
        "mixed " + "-".join(map(str, rising)): rising,
        "mixed " + "-".join(map(str, rising[::-1])): rising[::-1],
    }


def recipe(
    data: str,
    seed: int,
    epochs: int,
    lr: float,
    model_kwargs: dict[str, Any],
    val_fraction: float,
    bit_mixer: bool,
) -> TrainConfig:
    """Adam, cosine schedule (per stage for Bit-Mixer), batch 100."""
    return TrainConfig(
        model=MODEL,
        data=data,
        model_kwargs=model_kwargs,
        epochs=epochs,
        batch_size=100,
        optimizer="adam",
        lr=lr,
        schedule="cosine",
        seed=seed,
        bit_mixer=bit_mixer,
        val_fraction=val_fraction,
        device="cpu",
        progress=False,
    )


def accuracy_at(model: torch.nn.Module, bits: Sequence[int], x: np.ndarray, y: np.ndarray) -> float:
    """The model's accuracy at one setting, in eval mode."""
    model.set_bits(list(bits))
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((predicted == y).mean())


def run_bitmixer(
    data: str = "mnist5k",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 30,
    hidden: int = 256,
    depth: int = 2,
    log: Callable[[str], None] = print,
    val_fraction: float = 0.1,
    selection_seed: int = 0,
    splits: datasets.DataSplits | None = None,
) -> dict[str, Any]:
    """Select learning rates on validation, then train and evaluate every seed."""
    if val_fraction <= 0:
        raise OnebitError(f"the experiment selects on validation: val_fraction {val_fraction}")
    if epochs < 3:
        raise OnebitError(f"Bit-Mixer's three stages need at least 3 epochs, got {epochs}")
    splits = splits or datasets.load(data)
    held = splits.with_validation(val_fraction)
    settings = settings_for(depth + 1)
    base_kwargs = {"hidden": hidden, "depth": depth}
    started = time.perf_counter()

    def train(seed: int, lr: float, train_bits: tuple[int, ...] | None):
        kwargs = base_kwargs if train_bits is None else {**base_kwargs, "train_bits": train_bits}
        config = recipe(data, seed, epochs, lr, kwargs, val_fraction, train_bits is None)
        return fit(config, splits).model

    def grid(train_bits: tuple[int, ...] | None, label: str):
        def train_candidate(candidate: Candidate) -> dict[str, float]:
            model = train(selection_seed, candidate.settings["lr"], train_bits)
            evaluated = settings.values() if train_bits is None else [train_bits]
            val = statistics.mean(accuracy_at(model, b, held.x_val, held.y_val) for b in evaluated)
            log(f"{label} selection, {candidate.name}: validation {val:.2%}")
            return {"val_accuracy": val}

        candidates = [Candidate(f"lr {lr:g}", {"lr": lr}) for lr in LEARNING_RATES]
        return select(candidates, train_candidate)

    selections = {"bit-mixer": grid(None, "bit-mixer")}
    for name, bits in settings.items():
        selections[name] = grid(bits, f"fixed {name}")
    selection_seconds = time.perf_counter() - started

    runs = []
    for seed in seeds:
        mixer = train(seed, selections["bit-mixer"].best.settings["lr"], None)
        for name, bits in settings.items():
            fixed = train(seed, selections[name].best.settings["lr"], bits)
            row = {
                "seed": seed,
                "setting": name,
                "bits": list(bits),
                "mixer_val": accuracy_at(mixer, bits, held.x_val, held.y_val),
                "mixer_test": accuracy_at(mixer, bits, held.x_test, held.y_test),
                "fixed_val": accuracy_at(fixed, bits, held.x_val, held.y_val),
                "fixed_test": accuracy_at(fixed, bits, held.x_test, held.y_test),
            }
            log(
                f"seed {seed}, {name}: Bit-Mixer test {row['mixer_test']:.2%}, "
                f"fixed {row['fixed_test']:.2%}"
            )
            runs.append(row)
    return {
        "model": MODEL,
        "data": data,
        "hidden": hidden,
        "depth": depth,
        "epochs": epochs,
        "seeds": list(seeds),
        "val_fraction": val_fraction,
        "validation_rule": datasets.VALIDATION_RULE,
        "target_gap_points": TARGET_GAP,
        "selection_seconds": selection_seconds,
        "selection": {
            "seed": selection_seed,
            **{name: s.as_json() for name, s in selections.items()},
        },
        "runs": runs,
        "summary": summarize(runs, list(settings)),
    }


def _stats(values: list[float]) -> dict[str, float]:
    values = [100 * v for v in values]
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def summarize(runs: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Per setting: accuracies (%) of both networks over the seeds, and the test gap."""
    rows = []
    for name in names:
        mine = [r for r in runs if r["setting"] == name]
        row = {
            "setting": name,
            "bits": mine[0]["bits"],
            **{key: _stats([r[key] for r in mine]) for key in ("mixer_val", "mixer_test")},
            **{key: _stats([r[key] for r in mine]) for key in ("fixed_val", "fixed_test")},
        }
        row["gap_points"] = row["fixed_test"]["mean"] - row["mixer_test"]["mean"]
        row["within_target"] = row["gap_points"] <= TARGET_GAP
        rows.append(row)
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON alone."""
    from onebit.bench.report import machine_summary

    met = sum(row["within_target"] for row in report["summary"])
    lines = [
        f"# Bit-Mixer vs fixed precision on {report['data']}",
        "",
        f"Remake with `{report['command']}`. `{report['model']}` ({report['depth']} hidden layers "
        f"of {report['hidden']}), Adam with a cosine schedule, batch 100, {report['epochs']} "
        "epochs for every network (the Bit-Mixer network's split into its three stages). One "
        "Bit-Mixer network per seed is run at each setting (a width per layer) and compared with "
        "a network trained at that setting alone. Learning rates are chosen on the validation "
        f"split ({report['val_fraction']:g} of the training part; {report['validation_rule']}) "
        f"with seed {report['selection']['seed']}, separately for the Bit-Mixer network and "
        f"each fixed one; then {len(report['seeds'])} seeds train anew. Gap = fixed test "
        f"accuracy - Bit-Mixer test accuracy (means, points); target: at most "
        f"{report['target_gap_points']:g}.",
        machine_summary(report["machine"]),
        "",
        f"**{met} of {len(report['summary'])} settings within the target.**",
        "",
        "| setting | widths | Bit-Mixer val (%) | Bit-Mixer test (%) | fixed val (%) "
        "| fixed test (%) | gap (points) | within 0.5 |",
        "|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for row in report["summary"]:

        def cell(key: str, row=row) -> str:
            return f"{row[key]['mean']:.2f} ± {row[key]['std']:.2f}"

        lines.append(
            f"| {row['setting']} | {'-'.join(map(str, row['bits']))} | {cell('mixer_val')} "
            f"| {cell('mixer_test')} | {cell('fixed_val')} | {cell('fixed_test')} "
            f"| {row['gap_points']:+.2f} | {'yes' if row['within_target'] else 'no'} |"
        )
    lines += [
        "",
        f"## Learning rates chosen (seed {report['selection']['seed']}, runs not among the "
        f"final ones; {report['selection_seconds'] / 60:.1f} min in all)",
        "",
        "| network | candidates (validation %) | chosen |",
        "|---|---|---|",
    ]
    for name, selection in report["selection"].items():
        if name == "seed":
            continue
        tried = ", ".join(
            f"{c['name']}: {100 * c['val_accuracy']:.2f}" for c in selection["candidates"]
        )
        lines.append(f"| {name} | {tried} | {selection['chosen']} |")
    return "\n".join(lines) + "\n"


def report_stem(data: str) -> str:
    return f"bitmixer-{data}"


def write_report(
    result: dict[str, Any], out_dir: Path, command: str, provenance: dict[str, Any] | None = None
) -> list[Path]:
    """``bitmixer-DATA.json`` and the ``.md`` rendered from it, in ``out_dir``."""
    from onebit.bench.report import write_experiment

    stem = report_stem(result["data"])
    return write_experiment(result, out_dir, stem, command, provenance, markdown)


def render_report(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``bitmixer-DATA.md`` in ``out_dir`` from a report's JSON alone."""
    from onebit.bench.report import render_experiment

    return render_experiment(report, out_dir, report_stem(report["data"]), markdown)
