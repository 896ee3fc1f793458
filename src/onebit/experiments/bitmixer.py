"""Bit-Mixer against fixed precision: one meta-quantized MLP run at several bit-width settings,
each against a network trained at that setting alone (Bulat & Tzimiropoulos, ICCV 2021).

For each dataset, on the validation split with the selection seed
(:mod:`onebit.experiments.selection`): first each fixed-precision network's learning rate and
epochs (``LEARNING_RATES`` x ``EPOCH_FACTORS`` times ``epochs``), by its validation accuracy;
then the Bit-Mixer network's learning rate, epochs and step recipe (``MIXER_RECIPES``) by the
target itself, on validation: the smallest worst-setting shortfall against the fixed networks
just chosen (ties: the higher mean validation accuracy over the settings). Every seed then
trains the Bit-Mixer network (three stages, ``--bit-mixer``) and one fixed network per setting
(``train_bits``) anew. The epochs are a choice because one Bit-Mixer network trains 27
configurations in the steps a fixed network spends on one. With ``calibrated``, every network's
batch-norm statistics are then recomputed on the training split
(:func:`onebit.nn.bitmixer.calibrate_norms`; a fixed network's at its one configuration); off by
default: on mnist5k's validation split it changed the Bit-Mixer network's mean accuracy by -1.4
to +0.45 points (about -0.1 on average), the running averages of training being weighted as
training draws the configurations, the calibration uniformly. The report gives each setting's
validation and test accuracy, mean ± std over the seeds, and the gap to its fixed counterpart;
the target is a gap within 0.5 points.

A shift of every network's training images (``augment_shift``) widens the gap on mnist5k: on a
larger validation carve (0.3 of the training part, 1,200 images; seeds 0 and 1, lr 0.01) a 1-pixel
shift raised the fixed 2- and 3-bit networks (30 epochs) from 93.8-94.3 to 95.9-96.2, the
Bit-Mixer network's settings from 93.0-93.4 (60 epochs) to 94.3-95.8 (60) and 94.2-96.2 (120);
and in this experiment's own selection (``--epochs 60 --augment-shift 1``, commit aaff3f7) the
fixed networks reached 96.0-98.5% on validation, the Bit-Mixer network's best worst-setting
margin -2.25 points (-1.00 without the shift). The report therefore trains unshifted.

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
from onebit.experiments.bitmixer_engine import INPUT_GRIDS, fixed_figures, switched_figures
from onebit.experiments.selection import Candidate, select
from onebit.nn.bitmixer import calibrate_norms
from onebit.train import TrainConfig, fit
from onebit.train.bit_mixer import EQUAL_STAGES

MODEL = "bitmixer-mlp"
LEARNING_RATES = (1e-2, 3e-3)
EPOCH_FACTORS = (1, 2)
"""Every network's epochs are chosen among these multiples of ``--epochs``."""
MIXER_RECIPES: tuple[dict[str, Any], ...] = (
    {"mixer_samples": 0},
    {"mixer_samples": 0, "mixer_stages": (1, 1, 4)},
)
"""The Bit-Mixer network's step recipes tried: by default the paper's one drawn configuration
per batch, with the stages in thirds or the last stage twice as long as the first two together
(``onebit.train.bit_mixer.stage_epochs``; its docstring gives the measurement that added it).
``mixer_recipes`` of :func:`run_bitmixer` takes others, e.g. ``{"mixer_samples": 3,
"mixer_distill": True, "mixer_narrowest": True}`` (``onebit.train.bit_mixer.mixer_loss``).

Measured at commit 7a55fc5 on mnist5k's validation split (400 images), 30 epochs, hidden 256,
lr 0.01, mean accuracy over the five settings, seeds 0 and 1: one drawn 95.00 and 94.80; the
widest, the narrowest and two drawn configurations per batch, distilled from the widest, 93.65
and 94.65 (three times the steps' cost); the same from the labels 93.60 and 94.50 (uniform 2
up to 96.50, the mixed settings down to 92.0-93.0); the widest and the narrowest alone 85.25 and
87.90 (the 3-bit settings, never trained, at 74-77; 88-89 with calibrated norms); one drawn,
distilled from a full-precision twin (``float-mlp``, distill weight 1.0 or 0.5) 94.25 to 95.15.
One drawn over seeds 0-3: 94.69 mean and 94.44 at uniform 2 after 30 epochs, 94.96 and 94.94
after 60."""
CALIBRATION_BATCH = 500
TARGET_GAP = 0.5
"""Points of accuracy a setting may lose against its fixed-precision network."""
MIXER_RULE = (
    "the largest worst-setting margin on validation (Bit-Mixer accuracy - the chosen fixed "
    "network's, points; the target, judged on validation), then the highest mean validation "
    "accuracy over the settings; further ties go to the candidate tried first"
)


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
    mixer_samples: int = 0,
    mixer_distill: bool = False,
    mixer_narrowest: bool = False,
    augment_shift: int = 0,
    mixer_stages: Sequence[int] = EQUAL_STAGES,
) -> TrainConfig:
    """Adam, cosine schedule (per stage for Bit-Mixer), batch 100; the ``mixer_*`` options
    (Bit-Mixer only) and ``augment_shift`` (both networks) as :class:`onebit.train.TrainConfig`."""
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
        mixer_samples=mixer_samples if bit_mixer else 0,
        mixer_distill=mixer_distill and bit_mixer,
        mixer_narrowest=mixer_narrowest and bit_mixer,
        mixer_stages=tuple(mixer_stages) if bit_mixer else EQUAL_STAGES,
        val_fraction=val_fraction,
        augment_shift=augment_shift,
        device="cpu",
        progress=False,
    )


def recipe_name(settings: dict[str, Any]) -> str:
    """A candidate's name in reports, e.g. ``lr 0.01, 60 epochs, widest + 1 drawn, distilled``."""
    name = f"lr {settings['lr']:g}"
    if "epochs" in settings:
        name += f", {settings['epochs']} epochs"
    samples = settings.get("mixer_samples", 0)
    if "mixer_samples" in settings and not samples:
        name += ", one drawn (paper)"
    stages = tuple(settings.get("mixer_stages", EQUAL_STAGES))
    if stages != EQUAL_STAGES:
        name += ", stages " + ":".join(map(str, stages))
    if samples:
        narrowest = settings.get("mixer_narrowest")
        name += f", widest + narrowest + {samples - 1}" if narrowest else f", widest + {samples}"
        name += " drawn"
        name += ", distilled" if settings.get("mixer_distill") else ", labels"
    return name


def calibrate(
    model: torch.nn.Module, x: np.ndarray, configurations: Sequence[Sequence[int]] | None = None
) -> None:
    """Recompute the model's batch-norm statistics on ``x`` at ``configurations`` (default:
    every one), in batches of ``CALIBRATION_BATCH``."""
    batches = [b for b in torch.from_numpy(x).split(CALIBRATION_BATCH) if len(b) > 1]
    calibrate_norms(model, batches, configurations)


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
    mixer_recipes: Sequence[dict[str, Any]] = MIXER_RECIPES,
    calibrated: bool = False,
    augment_shift: int = 0,
) -> dict[str, Any]:
    """Select learning rates (and the Bit-Mixer network's recipe among ``mixer_recipes``) on
    validation, then train and evaluate every seed; ``calibrated``: recompute every network's
    batch-norm statistics after training; ``augment_shift``: every network's training images
    shifted by up to this many pixels (:func:`onebit.train.augment.random_shift`)."""
    if val_fraction <= 0:
        raise OnebitError(f"the experiment selects on validation: val_fraction {val_fraction}")
    if epochs < 3:
        raise OnebitError(f"Bit-Mixer's three stages need at least 3 epochs, got {epochs}")
    splits = splits or datasets.load(data)
    held = splits.with_validation(val_fraction)
    settings = settings_for(depth + 1)
    base_kwargs = {"hidden": hidden, "depth": depth}
    started = time.perf_counter()

    def train(seed: int, chosen: dict[str, Any], train_bits: tuple[int, ...] | None):
        kwargs = base_kwargs if train_bits is None else {**base_kwargs, "train_bits": train_bits}
        config = recipe(
            data, seed, chosen["epochs"], chosen["lr"], kwargs, val_fraction, train_bits is None,
            chosen.get("mixer_samples", 0), chosen.get("mixer_distill", False),
            chosen.get("mixer_narrowest", False), augment_shift,
            chosen.get("mixer_stages", EQUAL_STAGES),
        )  # fmt: skip
        model = fit(config, splits).model
        if calibrated:
            calibrate(model, held.x_train, None if train_bits is None else [train_bits])
        return model

    def candidates(recipes: Sequence[dict[str, Any]]) -> list[Candidate]:
        tried = [
            {"lr": lr, "epochs": epochs * factor, **r}
            for r in recipes
            for factor in EPOCH_FACTORS
            for lr in LEARNING_RATES
        ]
        return [Candidate(recipe_name(c), c) for c in tried]

    def validation(model: torch.nn.Module, bits: tuple[int, ...]) -> float:
        return accuracy_at(model, bits, held.x_val, held.y_val)

    selections: dict[str, Any] = {}
    chosen_val: dict[str, float] = {}
    for name, bits in settings.items():

        def train_fixed(candidate: Candidate, name=name, bits=bits) -> dict[str, float]:
            val = validation(train(selection_seed, dict(candidate.settings), bits), bits)
            log(f"fixed {name} selection, {candidate.name}: validation {val:.2%}")
            return {"val_accuracy": val}

        selections[name] = select(candidates(({},)), train_fixed)
        chosen_val[name] = selections[name].val_accuracy[selections[name].best.name]

    def train_mixer(candidate: Candidate) -> dict[str, float]:
        model = train(selection_seed, dict(candidate.settings), None)
        val = {name: validation(model, bits) for name, bits in settings.items()}
        margin = min(100 * (val[name] - chosen_val[name]) for name in settings)
        mean = statistics.mean(val.values())
        log(f"bit-mixer selection, {candidate.name}: validation {mean:.2%}, worst {margin:+.2f}")
        return {"val_accuracy": mean, "val_worst_margin": margin}

    selections = {
        "bit-mixer": select(
            candidates(tuple(mixer_recipes) or ({},)),
            train_mixer,
            rank_by=("val_worst_margin", "val_accuracy"),
            rule=MIXER_RULE,
        ),
        **selections,
    }
    selection_seconds = time.perf_counter() - started

    runs, programs = [], []
    grid = INPUT_GRIDS.get(data)
    for seed in seeds:
        mixer = train(seed, dict(selections["bit-mixer"].best.settings), None)
        engine = switched_figures(mixer, settings, held.x_test, held.y_test, grid)
        sizes = {"seed": seed, "switched": engine["program_bytes"], "fixed": 0}
        sizes |= {"switched_packed": engine["packed_bytes"], "fixed_packed": 0}
        for name, bits in settings.items():
            fixed = train(seed, dict(selections[name].best.settings), bits)
            fixed_engine = fixed_figures(fixed, held.x_test, held.y_test, grid)
            sizes["fixed"] += fixed_engine["program_bytes"]
            sizes["fixed_packed"] += fixed_engine["packed_bytes"]
            row = {
                "seed": seed,
                "setting": name,
                "bits": list(bits),
                "mixer_val": accuracy_at(mixer, bits, held.x_val, held.y_val),
                "mixer_test": accuracy_at(mixer, bits, held.x_test, held.y_test),
                "fixed_val": accuracy_at(fixed, bits, held.x_val, held.y_val),
                "fixed_test": accuracy_at(fixed, bits, held.x_test, held.y_test),
                "mixer_engine_test": engine["settings"][name]["engine_test"],
                "fixed_engine_test": fixed_engine["engine_test"],
                "mixer_ms": engine["settings"][name]["latency_ms"],
                "fixed_ms": fixed_engine["latency_ms"],
            }
            log(
                f"seed {seed}, {name}: Bit-Mixer test {row['mixer_test']:.2%} "
                f"({row['mixer_ms']:.3f} ms), fixed {row['fixed_test']:.2%} "
                f"({row['fixed_ms']:.3f} ms)"
            )
            runs.append(row)
        programs.append(sizes)
    return {
        "model": MODEL,
        "data": data,
        "hidden": hidden,
        "depth": depth,
        "epochs": epochs,
        "epoch_choices": [epochs * factor for factor in EPOCH_FACTORS],
        "seeds": list(seeds),
        "val_fraction": val_fraction,
        "calibrated_norms": calibrated,
        "augment_shift": augment_shift,
        "validation_rule": datasets.VALIDATION_RULE,
        "target_gap_points": TARGET_GAP,
        "selection_seconds": selection_seconds,
        "selection": {
            "seed": selection_seed,
            **{name: s.as_json() for name, s in selections.items()},
        },
        "input_quantization": None if grid is None else list(grid),
        "runs": runs,
        "programs": programs,
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
            **{
                key: _stats([r[key] for r in mine])
                for key in ("mixer_engine_test", "fixed_engine_test")
            },
            **{key: statistics.median(r[key] for r in mine) for key in ("mixer_ms", "fixed_ms")},
        }
        row["gap_points"] = row["fixed_test"]["mean"] - row["mixer_test"]["mean"]
        row["within_target"] = row["gap_points"] <= TARGET_GAP
        rows.append(row)
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON alone."""
    from onebit.bench.report import machine_summary

    met = sum(row["within_target"] for row in report["summary"])
    epochs = " or ".join(map(str, report.get("epoch_choices", [report["epochs"]])))
    calibration = (
        " After training, every network's batch-norm statistics are recomputed on the training "
        "split (the Bit-Mixer network's averaged over all its configurations)."
        if report.get("calibrated_norms")
        else ""
    )
    shift = report.get("augment_shift", 0)
    augmentation = (
        f" Every network's training images are shifted by up to {shift} pixel(s) at random "
        "(both networks alike)."
        if shift
        else ""
    )
    lines = [
        f"# Bit-Mixer vs fixed precision on {report['data']}",
        "",
        f"Remake with `{report['command']}`. `{report['model']}` ({report['depth']} hidden layers "
        f"of {report['hidden']}), Adam with a cosine schedule, batch 100; the Bit-Mixer "
        "network's epochs split into its three stages. One Bit-Mixer network per seed is run at "
        "each setting (a width per layer) and compared with a network trained at that setting "
        f"alone. On the validation split ({report['val_fraction']:g} of the training part; "
        f"{report['validation_rule']}) with seed "
        f"{report['selection']['seed']}: each fixed network's learning rate and epochs "
        f"({epochs}) by its validation accuracy; then the Bit-Mixer network's learning rate, "
        "epochs and step recipe by the target judged on validation: the largest worst-setting "
        "margin against the fixed networks just chosen, then the mean. Then "
        f"{len(report['seeds'])} seeds train anew.{calibration}{augmentation} Gap = fixed test "
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
    lines += engine_lines(report)
    lines += [
        "",
        f"## Learning rates and recipes chosen (seed {report['selection']['seed']}, runs not "
        f"among the final ones; {report['selection_seconds'] / 60:.1f} min in all)",
        "",
        "| network | candidates (validation %; the Bit-Mixer network's mean over the settings "
        "and worst margin in points) | chosen |",
        "|---|---|---|",
    ]
    for name, selection in report["selection"].items():
        if name == "seed":
            continue
        tried = ", ".join(
            f"{c['name']}: {100 * c['val_accuracy']:.2f}"
            + (f" (worst {c['val_worst_margin']:+.2f})" if "val_worst_margin" in c else "")
            for c in selection["candidates"]
        )
        lines.append(f"| {name} | {tried} | {selection['chosen']} |")
    return "\n".join(lines) + "\n"


def engine_lines(report: dict[str, Any]) -> list[str]:
    """The engine section: one switched program per seed against the fixed programs."""
    grid = report["input_quantization"]
    first = (
        f"inputs read as 8-bit codes (scale {grid[0]:.6g}, zero point {grid[1]}), so every "
        "layer is bit-serial"
        if grid
        else "a float first layer"
    )
    sizes = report["programs"]

    def kib(key: str) -> str:
        return f"{statistics.mean(p[key] for p in sizes) / 1024:.1f} KiB"

    lines = [
        "",
        "## The engine: one switched program against a program per setting",
        "",
        f"Each seed's Bit-Mixer network is converted once into a switched program ({first}) and "
        "run at each setting with `program.set_bits(...)`; each fixed network is converted to a "
        "plain program. Latency: median batch-1 time on one thread (the median over seeds); "
        "engine accuracy: the program's on the test split. The switched program holds "
        f"{kib('switched')} ({kib('switched_packed')} of packed weights, stored once at 4 bits); "
        f"the {len(report['summary'])} fixed programs together hold {kib('fixed')} "
        f"({kib('fixed_packed')} packed).",
        "",
        "| setting | switched program (ms) | fixed program (ms) | switched engine test (%) "
        "| fixed engine test (%) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in report["summary"]:
        lines.append(
            f"| {row['setting']} | {row['mixer_ms']:.3f} | {row['fixed_ms']:.3f} "
            f"| {row['mixer_engine_test']['mean']:.2f} ± {row['mixer_engine_test']['std']:.2f} "
            f"| {row['fixed_engine_test']['mean']:.2f} ± {row['fixed_engine_test']['std']:.2f} |"
        )
    return lines


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
