"""The training-technique ablation: the baseline recipe with one technique swapped in at a time.

Baseline: binarynet-mlp (3 x 1024), Adam (lr 0.01, cosine), BatchNorm, ``ste_sign``. Each variant
changes one thing; every variant runs on the same seeds, and the report gives test accuracy mean
and spread, training seconds per epoch, and how many multiplications per training step the
variant replaces by shifts.

    onebit experiment ablation --data mnist5k        # writes docs/ablation-mnist5k.{md,png,json}
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.atomic import atomic_open, atomic_write
from onebit.train import TrainConfig, TrainResult, fit
from onebit.train.recipes import mlp_recipe


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: a name, what it changes, and how to change the baseline."""

    name: str
    description: str
    change: Callable[[TrainConfig], TrainConfig]
    needs_teacher: bool = False


def _with_kwargs(**kwargs: Any) -> Callable[[TrainConfig], TrainConfig]:
    return lambda c: dataclasses.replace(c, model_kwargs={**c.model_kwargs, **kwargs})


def _with(**fields: Any) -> Callable[[TrainConfig], TrainConfig]:
    return lambda c: dataclasses.replace(c, **fields)


def _both(*changes: Callable[[TrainConfig], TrainConfig]) -> Callable[[TrainConfig], TrainConfig]:
    def change(config: TrainConfig) -> TrainConfig:
        for step in changes:
            config = step(config)
        return config

    return change


VARIANTS: tuple[Variant, ...] = (
    Variant("baseline", "Adam + BatchNorm + ste_sign", lambda c: c),
    Variant("shift-bn", "shift-based BatchNorm (BNN paper, Alg. 3)", _with_kwargs(norm="shift")),
    Variant(
        "shift-adamax", "shift-based AdaMax (BNN paper, Alg. 4)", _with(optimizer="shift_adamax")
    ),
    Variant(
        "shift-bn+adamax",
        "shift-based BatchNorm and AdaMax together",
        _both(_with_kwargs(norm="shift"), _with(optimizer="shift_adamax")),
    ),
    Variant(
        "bop",
        "Bop (gamma 1e-2, tau 1e-7: best of 11 (gamma, tau) pairs tried on seed 0) for binary "
        "weights, Adam for the rest (Helwegen et al. 2019)",
        _with(optimizer="bop", optimizer_options={"gamma": 1e-2, "threshold": 1e-7}),
    ),
    Variant(
        "grad-rounding-8",
        "gradients stochastically rounded to 8 bits (Gupta et al. 2015)",
        _with(grad_rounding_bits=8),
    ),
    Variant(
        "stochastic-sign",
        "stochastic binarization of activations (BNN paper, eq. 2)",
        _with_kwargs(input_quantizer="stochastic_sign"),
    ),
    Variant(
        "distill",
        "distillation from float-mlp, ReActNet's distributional loss",
        lambda c: c,
        needs_teacher=True,
    ),
    Variant(
        "two-step",
        "binary activations first, then binary weights (Real-to-Binary)",
        _with(two_step=True),
    ),
)


def baseline_config(data: str, seed: int, epochs: int, hidden: int = 1024) -> TrainConfig:
    return mlp_recipe(data, seed, epochs, hidden=hidden)


def shift_multiplies(variant: Variant, config: TrainConfig, model: torch.nn.Module) -> int:
    """Multiplications per training step that the variant performs as shifts instead."""
    from onebit.nn.norm import ShiftBatchNorm1d, ShiftBatchNorm2d
    from onebit.optim.shift_adamax import ShiftAdaMax

    count = 0
    for module in model.modules():
        if isinstance(module, ShiftBatchNorm1d | ShiftBatchNorm2d):
            elements = config.batch_size * module.num_features
            count += module.multiplies_replaced(elements, module.num_features)["total"]
    if config.optimizer == "shift_adamax":
        per_parameter = ShiftAdaMax.multiplies_replaced()["per_parameter"]
        count += per_parameter * sum(p.numel() for p in model.parameters())
    return count


def run_ablation(
    data: str = "mnist5k",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 30,
    variants: Sequence[str] | None = None,
    work_dir: str | Path = "runs/ablation",
    log: Callable[[str], None] = print,
    hidden: int = 1024,
) -> dict[str, Any]:
    """Train every variant on every seed; returns per-run histories and the summary rows."""
    chosen = [v for v in VARIANTS if variants is None or v.name in variants]
    splits = datasets.load(data)
    work = Path(work_dir) / data
    runs: list[dict[str, Any]] = []
    teachers: dict[int, str] = {}
    for variant in chosen:
        for seed in seeds:
            config = variant.change(baseline_config(data, seed, epochs, hidden))
            if variant.needs_teacher:
                if seed not in teachers:
                    teacher_config = dataclasses.replace(
                        baseline_config(data, seed, epochs, hidden),
                        model="float-mlp",
                        out_dir=str(work / f"teacher-seed{seed}"),
                        overwrite=True,  # each ablation retrains its teachers
                    )
                    teacher = fit(teacher_config, splits)
                    teachers[seed] = str(teacher.out_dir / "checkpoint.pt")
                    log(f"teacher float-mlp seed {seed}: {teacher.final['test_accuracy']:.2%}")
                config = dataclasses.replace(config, teacher=teachers[seed])
            started = time.perf_counter()
            result: TrainResult = fit(config, splits)
            row = {
                "variant": variant.name,
                "seed": seed,
                "test_accuracy": result.final["test_accuracy"],
                "seconds_per_epoch": result.seconds_per_epoch,
                "wall_seconds": time.perf_counter() - started,
                "shift_multiplies_per_step": shift_multiplies(variant, config, result.model),
                "history": result.history,
            }
            runs.append(row)
            log(
                f"{variant.name} seed {seed}: {row['test_accuracy']:.2%}, "
                f"{row['seconds_per_epoch']:.2f} s/epoch"
            )
    return {
        "data": data,
        "epochs": epochs,
        "seeds": list(seeds),
        "runs": runs,
        "summary": summarize(runs, chosen),
    }


def merge_results(previous: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``previous`` (a report's JSON) with the variants that ``update`` ran replaced by its runs.

    Both must come from the same data, epochs and seeds, or the rows would not be comparable.
    """
    for key in ("data", "epochs", "seeds"):
        if previous.get(key) != update[key]:
            raise OnebitError(
                f"cannot update a report of {key}={previous.get(key)!r} with runs of "
                f"{key}={update[key]!r}; rerun every variant instead"
            )
    rerun = {r["variant"] for r in update["runs"]}
    runs = [r for r in previous["runs"] if r["variant"] not in rerun] + update["runs"]
    order = {v.name: i for i, v in enumerate(VARIANTS)}
    runs.sort(key=lambda r: (order.get(r["variant"], len(order)), r["seed"]))
    present = [v for v in VARIANTS if any(r["variant"] == v.name for r in runs)]
    return {**update, "runs": runs, "summary": summarize(runs, present)}


def summarize(runs: list[dict[str, Any]], variants: Sequence[Variant]) -> list[dict[str, Any]]:
    rows = []
    baseline = None
    for variant in variants:
        members = [r for r in runs if r["variant"] == variant.name]
        if not members:
            continue
        accuracy = [100 * r["test_accuracy"] for r in members]
        row = {
            "variant": variant.name,
            "description": variant.description,
            "seeds": len(members),
            "mean": statistics.mean(accuracy),
            "std": statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0,
            "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in members),
            "shift_multiplies_per_step": members[0]["shift_multiplies_per_step"],
        }
        if variant.name == "baseline":
            baseline = row["mean"]
        rows.append(row)
    for row in rows:
        row["delta"] = None if baseline is None else row["mean"] - baseline
    return rows


def markdown(result: dict[str, Any], command: str, machine: str) -> str:
    lines = [
        f"# Training-technique ablation on {result['data']}",
        "",
        f"Remake with `{command}`. binarynet-mlp (3 hidden layers of 1024), {result['epochs']} "
        f"epochs, batch 100, lr 0.01 with a cosine schedule, seeds {result['seeds']}; test "
        "accuracy after the last epoch. Each row changes one thing in the baseline.",
        f"{machine}",
        "",
        "| variant | what changes | accuracy mean ± std (%) | vs baseline (points) "
        "| s/epoch | multiplies per step done as shifts |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in result["summary"]:
        delta = "" if r["delta"] is None else f"{r['delta']:+.2f}"
        lines.append(
            f"| {r['variant']} | {r['description']} | {r['mean']:.2f} ± {r['std']:.2f} | {delta} "
            f"| {r['seconds_per_epoch']:.2f} | {r['shift_multiplies_per_step']:,} |"
        )
    lines += ["", f"![test accuracy per epoch](ablation-{result['data']}.png)", ""]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 5), layout="constrained")
    for row in result["summary"]:
        histories = [r["history"] for r in result["runs"] if r["variant"] == row["variant"]]
        epochs = [h["epoch"] for h in histories[0]]
        mean = [
            100 * statistics.mean(h[i]["test_accuracy"] for h in histories)
            for i in range(len(epochs))
        ]
        axis.plot(epochs, mean, label=row["variant"])
    axis.set(
        xlabel="epoch",
        ylabel="test accuracy (%), mean over seeds",
        title=f"binarynet-mlp on {result['data']}: one technique at a time",
    )
    axis.set_ylim(bottom=max(0.0, axis.get_ylim()[0]))
    axis.grid(alpha=0.3)
    axis.legend()
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    return path


def write_report(result: dict[str, Any], out_dir: Path, command: str) -> list[Path]:
    """``ablation-DATA.md``, ``.png`` and ``.json`` (runs and histories) in ``out_dir``."""
    import json

    from onebit.bench.report import machine_info, machine_summary

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"ablation-{result['data']}"
    info = machine_info()
    png = plot(result, stem.with_suffix(".png"))
    md = stem.with_suffix(".md")
    with atomic_open(md, "w") as handle:
        handle.write(markdown(result, command, machine_summary(info)))
    js = stem.with_suffix(".json")
    with atomic_open(js, "w") as handle:
        json.dump({"machine": info, "command": command, **result}, handle, indent=1)
    return [md, png, js]
