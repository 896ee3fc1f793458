"""The training-technique ablation: the baseline recipe with one technique swapped in at a time.

Baseline: binarynet-mlp (3 x 1024), Adam (lr 0.01, cosine), BatchNorm, ``ste_sign``: the fixed
a-priori recipe of :func:`onebit.train.recipes.mlp_recipe`, not tuned. Each variant changes one
thing; every variant runs on the same seeds, and the report gives validation and test accuracy
mean and spread, training seconds per epoch, and how many multiplications per training step the
variant replaces by shifts. A variant with hyperparameters of its own (Bop's gamma and threshold)
has them chosen first on the validation split (:mod:`onebit.experiments.selection`, one seed);
those selection runs are reported as a grid and never counted among the final runs.

    onebit experiment ablation --data mnist5k       # writes runs/ablation/ablation-mnist5k.*
    onebit experiment ablation --data mnist5k --out docs    # the project's report
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
from onebit.experiments.figures import mean_std
from onebit.experiments.selection import Candidate, select
from onebit.train import TrainConfig, TrainResult, fit
from onebit.train.recipes import mlp_recipe


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: a name, what it changes, and how to change the baseline.

    Attributes:
        name: the row's name.
        description: what it changes, for the report.
        change: the baseline config to this variant's config.
        needs_teacher: whether the run distills from a float teacher.
        grid: settings (:class:`TrainConfig` fields) to choose from on the validation split
            before the final runs; empty: nothing to choose.
    """

    name: str
    description: str
    change: Callable[[TrainConfig], TrainConfig]
    needs_teacher: bool = False
    grid: tuple[Candidate, ...] = ()


def _bop_pair(gamma: float, threshold: float) -> Candidate:
    return Candidate(
        f"gamma {gamma:.0e}, tau {threshold:.0e}",
        {"optimizer_options": {"gamma": gamma, "threshold": threshold}},
    )


BOP_GRID = (
    _bop_pair(1e-4, 1e-8),  # Larq's defaults
    _bop_pair(1e-3, 1e-8),
    _bop_pair(1e-3, 1e-7),
    _bop_pair(1e-2, 1e-7),  # the pair chosen on test data before validation splits existed
)
"""Bop's (gamma, threshold) pairs tried on validation: Larq's defaults, the earlier choice and
two pairs between them (4 runs, to keep the ablation within its time budget)."""


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
        "Bop for binary weights, Adam for the rest (Helwegen et al. 2019); gamma and tau "
        "chosen on validation",
        _with(optimizer="bop"),
        grid=BOP_GRID,
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
        "distillation from float-mlp (trained with the baseline's recipe), ReActNet's "
        "distributional loss",
        lambda c: c,
        needs_teacher=True,
    ),
    Variant(
        "two-step",
        "binary activations first, then binary weights (Real-to-Binary)",
        _with(two_step=True),
    ),
)


def baseline_config(
    data: str, seed: int, epochs: int, hidden: int = 1024, val_fraction: float = 0.1
) -> TrainConfig:
    return dataclasses.replace(
        mlp_recipe(data, seed, epochs, hidden=hidden), val_fraction=val_fraction
    )


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
    val_fraction: float = 0.1,
    selection_seed: int = 0,
) -> dict[str, Any]:
    """Train every variant on every seed; returns per-run histories, selections and summary.

    A variant with a grid first trains each candidate on ``selection_seed`` and keeps the best by
    validation accuracy (``selections`` in the result); its final runs then train the chosen
    setting on every seed, as new runs.
    """
    if val_fraction <= 0:
        raise OnebitError(
            "the ablation reports validation accuracy: val_fraction must be > 0, "
            f"got {val_fraction}"
        )
    chosen = [v for v in VARIANTS if variants is None or v.name in variants]
    splits = datasets.load(data)
    work = Path(work_dir) / data
    runs: list[dict[str, Any]] = []
    selections: dict[str, dict[str, Any]] = {}
    teachers: dict[int, str] = {}

    def config_for(variant: Variant, seed: int) -> TrainConfig:
        return variant.change(baseline_config(data, seed, epochs, hidden, val_fraction))

    for variant in chosen:
        settings: dict[str, Any] = {}
        if variant.grid:

            def train_candidate(
                candidate: Candidate, variant: Variant = variant
            ) -> dict[str, float]:
                config = dataclasses.replace(
                    config_for(variant, selection_seed), **candidate.settings
                )
                final = fit(config, splits).final
                log(
                    f"{variant.name} selection, {candidate.name}: "
                    f"validation {final['val_accuracy']:.2%}"
                )
                return final

            selection = select(variant.grid, train_candidate)
            selections[variant.name] = {"seed": selection_seed, **selection.as_json()}
            settings = dict(selection.best.settings)
            log(f"{variant.name}: chose {selection.best.name} on validation")
        for seed in seeds:
            config = dataclasses.replace(config_for(variant, seed), **settings)
            if variant.needs_teacher:
                if seed not in teachers:
                    teacher_config = dataclasses.replace(
                        baseline_config(data, seed, epochs, hidden, val_fraction),
                        model="float-mlp",
                        out_dir=str(work / f"teacher-seed{seed}"),
                        overwrite=True,  # each ablation retrains its teachers
                    )
                    teacher = fit(teacher_config, splits)
                    teachers[seed] = str(teacher.out_dir / "checkpoint.pt")
                    log(
                        f"teacher float-mlp seed {seed}: "
                        f"validation {teacher.final['val_accuracy']:.2%}"
                    )
                config = dataclasses.replace(config, teacher=teachers[seed])
            started = time.perf_counter()
            result: TrainResult = fit(config, splits)
            row = {
                "variant": variant.name,
                "seed": seed,
                "val_accuracy": result.final["val_accuracy"],
                "test_accuracy": result.final["test_accuracy"],
                "seconds_per_epoch": result.seconds_per_epoch,
                "wall_seconds": time.perf_counter() - started,
                "shift_multiplies_per_step": shift_multiplies(variant, config, result.model),
                "history": result.history,
            }
            runs.append(row)
            log(
                f"{variant.name} seed {seed}: validation {row['val_accuracy']:.2%}, "
                f"test {row['test_accuracy']:.2%}, {row['seconds_per_epoch']:.2f} s/epoch"
            )
    return {
        "data": data,
        "epochs": epochs,
        "hidden": hidden,
        "seeds": list(seeds),
        "val_fraction": val_fraction,
        "validation_rule": datasets.VALIDATION_RULE,
        "selections": selections,
        "runs": runs,
        "summary": summarize(runs, chosen, selections),
    }


def merge_results(previous: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``previous`` (a report's JSON) with the variants that ``update`` ran replaced by its runs.

    Both must come from the same data, epochs, seeds and validation fraction, or the rows would
    not be comparable.
    """
    for key in ("data", "epochs", "seeds", "val_fraction"):
        if previous.get(key) != update[key]:
            raise OnebitError(
                f"cannot update a report of {key}={previous.get(key)!r} with runs of "
                f"{key}={update[key]!r}; rerun every variant instead"
            )
    rerun = {r["variant"] for r in update["runs"]}
    runs = [r for r in previous["runs"] if r["variant"] not in rerun] + update["runs"]
    order = {v.name: i for i, v in enumerate(VARIANTS)}
    runs.sort(key=lambda r: (order.get(r["variant"], len(order)), r["seed"]))
    selections = {
        **{k: v for k, v in previous.get("selections", {}).items() if k not in rerun},
        **update["selections"],
    }
    present = [v for v in VARIANTS if any(r["variant"] == v.name for r in runs)]
    return {
        **update,
        "runs": runs,
        "selections": selections,
        "summary": summarize(runs, present, selections),
    }


def summarize(
    runs: list[dict[str, Any]],
    variants: Sequence[Variant],
    selections: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per variant: validation and test accuracy (%) mean and std over its final runs,
    the test difference to the baseline, and the setting chosen on validation if any."""
    rows = []
    baseline = None
    for variant in variants:
        members = [r for r in runs if r["variant"] == variant.name]
        if not members:
            continue
        val_mean, val_std = mean_std([100 * r["val_accuracy"] for r in members])
        test_mean, test_std = mean_std([100 * r["test_accuracy"] for r in members])
        row = {
            "variant": variant.name,
            "description": variant.description,
            "seeds": len(members),
            "val_mean": val_mean,
            "val_std": val_std,
            "test_mean": test_mean,
            "test_std": test_std,
            "chosen": (selections or {}).get(variant.name, {}).get("chosen"),
            "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in members),
            "shift_multiplies_per_step": members[0]["shift_multiplies_per_step"],
        }
        if variant.name == "baseline":
            baseline = row["test_mean"]
        rows.append(row)
    for row in rows:
        row["test_delta"] = None if baseline is None else row["test_mean"] - baseline
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON (:func:`write_report`) alone."""
    from onebit.bench.report import machine_summary

    selections = report.get("selections", {})
    lines = [
        f"# Training-technique ablation on {report['data']}",
        "",
        f"Remake with `{report['command']}`. binarynet-mlp ({report['hidden']} units per hidden "
        f"layer, 3 layers), {report['epochs']} epochs, batch 100, Adam lr 0.01 with a cosine "
        f"schedule (a fixed recipe, not tuned), seeds {report['seeds']}; accuracy after the last "
        f"epoch on the validation split ({report['val_fraction']:g} of the training part; "
        f"{report['validation_rule']}) and on the test split. Each row changes one thing in the "
        "baseline; settings a variant needs are chosen on validation only. The float teacher "
        "of `distill` trains with the baseline's recipe.",
        machine_summary(report["machine"]),
        "",
        "| variant | what changes | validation mean ± std (%) | test mean ± std (%) "
        "| test vs baseline (points) | s/epoch | multiplies per step done as shifts |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["summary"]:
        delta = "" if r["test_delta"] is None else f"{r['test_delta']:+.2f}"
        what = r["description"] + (f" (chosen: {r['chosen']})" if r.get("chosen") else "")
        lines.append(
            f"| {r['variant']} | {what} | {r['val_mean']:.2f} ± {r['val_std']:.2f} "
            f"| {r['test_mean']:.2f} ± {r['test_std']:.2f} | {delta} "
            f"| {r['seconds_per_epoch']:.2f} | {r['shift_multiplies_per_step']:,} |"
        )
    for name, selection in selections.items():
        lines += [
            "",
            f"**{name}: selection on validation** (seed {selection['seed']}; these runs are "
            f"not among the final runs above; rule: {selection['rule']}).",
            "",
            "| candidate | validation accuracy (%) | chosen |",
            "|---|---:|:---:|",
        ]
        for c in selection["candidates"]:
            mark = "yes" if c["name"] == selection["chosen"] else ""
            lines.append(f"| {c['name']} | {100 * c['val_accuracy']:.2f} | {mark} |")
    lines += ["", f"![test accuracy per epoch](ablation-{report['data']}.png)", ""]
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


def write_report(
    result: dict[str, Any],
    out_dir: Path,
    command: str,
    provenance: dict[str, Any] | None = None,
) -> list[Path]:
    """``ablation-DATA.json`` (machine, command, selections, runs with histories), and the
    ``.md`` and ``.png`` rendered from it, in ``out_dir``. ``provenance`` is what
    :meth:`Provenance.finish` returned for the runs (without it, the commit and load are taken
    at the end only)."""
    from onebit.bench.report import save_experiment

    js = out_dir / f"ablation-{result['data']}.json"
    report = save_experiment(result, js, command, provenance)
    return [*render_report(report, out_dir), js]


def render_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``ablation-DATA.md`` and ``.png`` in ``out_dir`` from a report's JSON alone."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"ablation-{report['data']}"
    md = stem.with_suffix(".md")
    with atomic_open(md, "w") as handle:
        handle.write(markdown(report))
    return [md, plot(report, stem.with_suffix(".png"))]
