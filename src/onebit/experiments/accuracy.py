"""Accuracy of the binary MLP against its full-precision twin, over several seeds.

``binarynet-mlp`` trains with the project's fixed a-priori recipe
(:func:`onebit.train.recipes.mlp_recipe`: Adam lr 0.01, cosine, batch 100, not tuned). A float
MLP is not well served by a recipe made for binary weights, so ``float-mlp`` gets its own: for
each dataset and augmentation recipe, the candidates of :data:`FLOAT_GRID` train once on the
selection seed and the best by validation accuracy is kept (:mod:`onebit.experiments.selection`);
then both models train on every seed, as new runs. The report gives validation and test
accuracy per row, the candidates with their validation accuracy, and the gap to the float twin
computed on test means.

    onebit experiment accuracy               # writes runs/accuracy/mlp_accuracy.{json,md}
    onebit experiment accuracy --out docs    # the project's report
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.experiments.selection import Candidate, select
from onebit.train import TrainConfig, fit
from onebit.train.recipes import mlp_recipe

DATA_RECIPES: dict[str, dict[str, int]] = {
    "mnist5k": {"plain": 0, "shift": 2},
    "digits": {"plain": 0},
}
"""Augmentation recipes per dataset, as the largest random shift in pixels. ``shift`` helps the
4,000 28x28 training images of mnist5k most; on 8x8 digits a shift of even 1 pixel costs
accuracy, so digits has only ``plain``."""

BINARY, FLOAT = "binarynet-mlp", "float-mlp"

FLOAT_GRID = tuple(
    Candidate(f"lr {lr:g}, dropout {dropout:g}", {"lr": lr, "dropout": dropout})
    for lr in (1e-3, 1e-2)
    for dropout in (0.0, 0.2)
)
"""The float twin's candidates: Adam's peak learning rate and dropout after each hidden layer,
everything else as the binary recipe (4 runs per dataset and recipe, within the time budget)."""


def recipe_config(
    data: str,
    model: str,
    seed: int,
    epochs: int,
    hidden: int,
    shift: int,
    val_fraction: float,
    settings: dict[str, Any] | None = None,
) -> TrainConfig:
    """The run of ``model`` on ``data``: :func:`mlp_recipe` with ``settings`` (``lr``,
    ``dropout``) applied."""
    config = mlp_recipe(data, seed, epochs, model, hidden, augment_shift=shift)
    config = dataclasses.replace(config, val_fraction=val_fraction)
    settings = settings or {}
    if "lr" in settings:
        config = dataclasses.replace(config, lr=settings["lr"])
    if "dropout" in settings:
        kwargs = {**config.model_kwargs, "dropout": settings["dropout"]}
        config = dataclasses.replace(config, model_kwargs=kwargs)
    return config


def run_accuracy(
    data: Sequence[str] = tuple(DATA_RECIPES),
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 30,
    hidden: int = 1024,
    log: Callable[[str], None] = print,
    val_fraction: float = 0.1,
    selection_seed: int = 0,
) -> dict[str, Any]:
    """Choose the float twin's recipe on validation, then train both models on every seed.

    Returns the runs, the selections (every float candidate's validation accuracy) and the
    summary rows.
    """
    if val_fraction <= 0:
        raise OnebitError(
            f"the experiment selects on validation: val_fraction must be > 0, got {val_fraction}"
        )
    unknown = [d for d in data if d not in DATA_RECIPES]
    if unknown:
        raise OnebitError(f"unknown dataset(s) {unknown}; known: {', '.join(DATA_RECIPES)}")
    runs: list[dict[str, Any]] = []
    selections: list[dict[str, Any]] = []
    selection_seconds = 0.0
    for dataset in data:
        splits = datasets.load(dataset)
        for recipe, shift in DATA_RECIPES[dataset].items():
            setup = _Setup(dataset, recipe, shift, epochs, hidden, val_fraction, splits, log)
            started = time.perf_counter()
            selection = select(FLOAT_GRID, lambda c, s=setup: s.train_candidate(c, selection_seed))
            selection_seconds += time.perf_counter() - started
            selections.append(
                {"dataset": dataset, "recipe": recipe, "model": FLOAT, "seed": selection_seed}
                | selection.as_json()
            )
            chosen = {FLOAT: dict(selection.best.settings), BINARY: {}}
            runs += [setup.final_run(m, seed, chosen[m]) for m in (BINARY, FLOAT) for seed in seeds]
    return {
        "epochs": epochs,
        "hidden": hidden,
        "seeds": list(seeds),
        "val_fraction": val_fraction,
        "validation_rule": datasets.VALIDATION_RULE,
        "selection_seconds": selection_seconds,
        "selections": selections,
        "runs": runs,
        "summary": summarize(runs),
    }


@dataclasses.dataclass(frozen=True)
class _Setup:
    """One dataset and augmentation recipe of the experiment: how its runs are trained."""

    dataset: str
    recipe: str
    shift: int
    epochs: int
    hidden: int
    val_fraction: float
    splits: datasets.DataSplits
    log: Callable[[str], None]

    def config(self, model: str, seed: int, settings: dict[str, Any]) -> TrainConfig:
        return recipe_config(
            self.dataset, model, seed, self.epochs, self.hidden, self.shift, self.val_fraction,
            settings,
        )  # fmt: skip

    def train_candidate(self, candidate: Candidate, seed: int) -> dict[str, float]:
        final = fit(self.config(FLOAT, seed, dict(candidate.settings)), self.splits).final
        self.log(f"{self.dataset} {self.recipe} {FLOAT} selection, {candidate.name}: "
                 f"validation {final['val_accuracy']:.2%}")  # fmt: skip
        return final

    def final_run(self, model: str, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
        config = self.config(model, seed, settings)
        started = time.perf_counter()
        result = fit(config, self.splits)
        row = {
            "dataset": self.dataset,
            "recipe": self.recipe,
            "model": model,
            "seed": seed,
            "settings": recipe_settings(config),
            "val_accuracy": result.final["val_accuracy"],
            "test_accuracy": result.final["test_accuracy"],
            "seconds_per_epoch": result.seconds_per_epoch,
            "train_seconds": sum(r["epoch_seconds"] for r in result.history),
            "wall_seconds": time.perf_counter() - started,
            "epochs": self.epochs,
        }
        self.log(f"{self.dataset} {self.recipe} {model} seed {seed}: validation "
                 f"{row['val_accuracy']:.2%}, test {row['test_accuracy']:.2%}, "
                 f"{row['seconds_per_epoch']:.2f} s/epoch")  # fmt: skip
        return row


def recipe_settings(config: TrainConfig) -> str:
    """The settings that tell a row's recipe apart, for the report."""
    dropout = config.model_kwargs.get("dropout", 0.0)
    return f"lr {config.lr:g}, dropout {dropout:g}, shift {config.augment_shift}"


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per dataset, recipe and model: validation and test accuracy (%) over seeds, and
    the gap to the float twin's test mean (float minus this row, in points)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["dataset"], run["recipe"], run["model"]), []).append(run)
    rows = []
    for (dataset, recipe, model), members in groups.items():
        val = [100 * m["val_accuracy"] for m in members]
        test = [100 * m["test_accuracy"] for m in members]
        rows.append(
            {
                "dataset": dataset,
                "recipe": recipe,
                "model": model,
                "settings": members[0]["settings"],
                "tuned_on_validation": model == FLOAT,
                "seeds": len(members),
                "val_mean": statistics.mean(val),
                "val_std": statistics.stdev(val) if len(val) > 1 else 0.0,
                "test_mean": statistics.mean(test),
                "test_std": statistics.stdev(test) if len(test) > 1 else 0.0,
                "test_min": min(test),
                "test_max": max(test),
                "seconds_per_epoch": statistics.mean(m["seconds_per_epoch"] for m in members),
                "train_seconds": statistics.mean(m["train_seconds"] for m in members),
            }
        )
    floats = {(r["dataset"], r["recipe"]): r["test_mean"] for r in rows if r["model"] == FLOAT}
    for row in rows:
        twin = floats.get((row["dataset"], row["recipe"]))
        row["test_gap_to_float"] = None if twin is None else twin - row["test_mean"]
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON (:func:`write_report`) alone."""
    from onebit.bench.report import machine_summary

    lines = [
        "# binarynet-mlp vs float-mlp: validation and test accuracy",
        "",
        f"Remake with `{report['command']}`. Both models: {report['hidden']} units per hidden "
        f"layer, 3 layers, BatchNorm, batch 100, Adam with a cosine schedule, "
        f"{report['epochs']} epochs, seeds {report['seeds']}. binarynet-mlp (`ste_sign`) keeps "
        "the fixed recipe (lr 0.01, no dropout), not tuned; float-mlp's learning rate and "
        "dropout are chosen per dataset and recipe on the validation split "
        f"({report['val_fraction']:g} of the training part; {report['validation_rule']}). "
        "Accuracy after the last epoch; the gap to float is the float twin's test mean minus "
        "the row's; seconds are training time only.",
        machine_summary(report["machine"]),
        "",
        "| dataset | recipe | model | settings | seeds | validation mean ± std (%) "
        "| test mean ± std (%) | test min-max (%) | gap to float, test (points) | s/epoch "
        "| training s/seed |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["summary"]:
        gap = "" if r["test_gap_to_float"] is None else f"{r['test_gap_to_float']:+.2f}"
        tuned = " (chosen on validation)" if r["tuned_on_validation"] else " (fixed)"
        lines.append(
            f"| {r['dataset']} | {r['recipe']} | {r['model']} | {r['settings']}{tuned} "
            f"| {r['seeds']} | {r['val_mean']:.2f} ± {r['val_std']:.2f} "
            f"| {r['test_mean']:.2f} ± {r['test_std']:.2f} "
            f"| {r['test_min']:.1f}-{r['test_max']:.1f} | {gap} "
            f"| {r['seconds_per_epoch']:.2f} | {r['train_seconds']:.1f} |"
        )
    lines += [
        "",
        "Recipes: `plain` trains on the images as they are; `shift` adds random translations of "
        "up to 2 pixels (`--augment-shift 2`).",
        "",
        f"## float-mlp candidates (selection runs, seed of each below; not among the final "
        f"runs; {report['selection_seconds'] / 60:.1f} min in all)",
        "",
        "| dataset | recipe | seed | candidate | validation accuracy (%) | chosen |",
        "|---|---|---:|---|---:|:---:|",
    ]
    for s in report["selections"]:
        for c in s["candidates"]:
            mark = "yes" if c["name"] == s["chosen"] else ""
            lines.append(
                f"| {s['dataset']} | {s['recipe']} | {s['seed']} | {c['name']} "
                f"| {100 * c['val_accuracy']:.2f} | {mark} |"
            )
    return "\n".join(lines) + "\n"


REPORT_STEM = "mlp_accuracy"


def write_report(
    result: dict[str, Any],
    out_dir: Path,
    command: str,
    provenance: dict[str, Any] | None = None,
) -> list[Path]:
    """``mlp_accuracy.json`` (machine, command, selection, runs) and the ``.md`` rendered from
    it, in ``out_dir``. ``provenance`` is what :meth:`Provenance.finish` returned for the runs
    (without it, the commit and load are taken at the end only)."""
    from onebit.bench.report import write_experiment

    return write_experiment(result, out_dir, REPORT_STEM, command, provenance, markdown)


def render_report(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``mlp_accuracy.md`` in ``out_dir`` from a report's JSON alone."""
    from onebit.bench.report import render_experiment

    return render_experiment(report, out_dir, REPORT_STEM, markdown)
