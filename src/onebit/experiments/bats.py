"""A searched BATS network against a hand-designed binary CNN, their binary operation counts side
by side.

The searched network is ``bats`` built from a genotype that ``onebit search bats`` wrote
(:data:`BATS_ARGS`: 5 cells of 12 channels per node, a stride-2 stem); the hand-designed one is
``mcu-bnn`` (three binary 3x3 conv stages of 32, 64 and 128 channels, each batch-normed and
max-pooled, and a binary classifier), 7.24 M 1-bit multiply-accumulates per image. The width is
set so that both do about the same binary work: with the shipped genotype, 12 channels per node
give the searched network 6.66 M (16 would give 11.8 M); the report prints both counts. Both train
with the same recipe: cross-entropy, Adam with a cosine schedule, batch 64, two torch threads.
Each network's learning rate is chosen on the validation split (:data:`GRID`, on the selection
seed); then every seed trains anew. Each final run is converted to a packed program, which
classifies the test split; the report gives its accuracy and how many test predictions differ
from the model's, with the median batch-1 latency of both programs and both PyTorch models on
one thread, and the search's own cost as its genotype records it.

    onebit experiment bats --genotype runs/bats-search/genotype.json --out docs
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.experiments.classifier_runs import model_inputs, select_then_train
from onebit.experiments.figures import batch1_latency, mean_std
from onebit.experiments.selection import Candidate
from onebit.experiments.twin_tables import runs_table, selection_tables
from onebit.models.bats_genotype import resolve_genotype
from onebit.train import TrainConfig


@dataclass(frozen=True)
class Variant:
    """One network of the report."""

    name: str
    model: str
    description: str


VARIANTS = (
    Variant("searched", "bats", "BATS cells found by `onebit search bats`"),
    Variant("hand-designed", "mcu-bnn", "binary 3x3 conv stages 32-64-128, max-pooled"),
)
BATS_ARGS = {"channels": 12, "layers": 5, "groups": 4, "stem_stride": 2}
"""The searched network's layout around its genotype."""
GRID = tuple(Candidate(f"lr {lr:g}", {"lr": lr}) for lr in (1e-3, 3e-3))
"""Adam's peak learning rate, chosen on validation for each network."""
RULE = "highest final validation accuracy; ties go to the candidate tried first"
EPOCHS = 8
BATCH_SIZE = 64
THREADS = 2
"""torch threads of the training runs (the latencies are measured on one thread)."""


def recipe(
    variant: Variant,
    model_args: dict[str, Any],
    data: str,
    seed: int,
    epochs: int,
    lr: float,
    val_fraction: float,
) -> TrainConfig:
    return TrainConfig(
        model=variant.model,
        data=data,
        model_kwargs=model_args,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        optimizer="adam",
        lr=lr,
        schedule="cosine",
        seed=seed,
        val_fraction=val_fraction,
        device="cpu",
        threads=THREADS,
        progress=False,
    )


def run_bats_report(
    genotype: str | Path | dict[str, Any],
    data: str = "mnist5k",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = EPOCHS,
    log: Callable[[str], None] = print,
    val_fraction: float = 0.1,
    selection_seed: int = 100,
    splits: Any = None,
    bats_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Select each network's learning rate on validation, train every seed, convert each run,
    score its program on the test split, and time both networks at batch 1.

    Args:
        genotype: the searched genotype (a file's path or its JSON object).
        data: a classification dataset.
        seeds: the final runs' seeds.
        epochs: epochs of every run.
        log: one line per finished run.
        val_fraction: the share of the training part held out for validation (> 0).
        selection_seed: the seed of the selection runs (not among the final runs).
        splits: data to use instead of loading ``data`` (tests), without a validation split.
        bats_args: the searched network's layout; :data:`BATS_ARGS` when None.
    """
    if val_fraction <= 0:
        raise OnebitError(f"the experiment selects on validation: val_fraction {val_fraction}")
    if not seeds or selection_seed in seeds:
        raise OnebitError(f"need final seeds other than the selection seed {selection_seed}")
    found = resolve_genotype(genotype)
    splits = datasets.load(data) if splits is None else splits
    model_args = {
        "searched": {
            "genotype": found.to_dict(),
            **(BATS_ARGS if bats_args is None else bats_args),
        },
        "hand-designed": {},
    }
    by_name = {variant.name: variant for variant in VARIANTS}
    runs, selections, programs = select_then_train(
        list(by_name),
        lambda name, seed, lr: recipe(
            by_name[name], model_args[name], data, seed, epochs, lr, val_fraction
        ),
        GRID,
        RULE,
        splits,
        seeds,
        selection_seed,
        log,
    )
    sample = model_inputs(splits)[:1]
    latency = {name: batch1_latency(*pair, sample) for name, pair in programs.items()}
    for name, figures in latency.items():
        log(f"{name}: {figures['program_ms']:.3f} ms engine, {figures['torch_ms']:.3f} ms torch")
    return {
        "data": data,
        "genotype": found.to_dict(),
        "search_minutes": found.search.get("minutes"),
        "model_args": {
            k: ({**v, "genotype": "(above)"} if "genotype" in v else v)
            for k, v in model_args.items()
        },
        "input_shape": list(splits.input_shape),
        "epochs": epochs,
        "seeds": list(seeds),
        "val_fraction": val_fraction,
        "validation_rule": datasets.VALIDATION_RULE,
        "batch_size": BATCH_SIZE,
        "threads": THREADS,
        "variants": [vars(v) for v in VARIANTS],
        "selections": selections,
        "runs": runs,
        "latency": latency,
        "summary": summarize(runs, selections, latency),
    }


def summarize(
    runs: list[dict[str, Any]], selections: dict[str, Any], latency: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per network: accuracies (%) as mean and std over its seeds, the program's,
    predictions changed summed over seeds, operation counts, sizes and batch-1 latency."""
    rows = []
    for variant in VARIANTS:
        members = [r for r in runs if r["variant"] == variant.name]
        if not members:
            continue
        row: dict[str, Any] = {
            "variant": variant.name,
            "model": variant.model,
            "description": variant.description,
            "seeds": len(members),
            "chosen": selections[variant.name]["chosen"],
        }
        for key in ("val_accuracy", "test_accuracy", "program_test_accuracy"):
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std([100 * r[key] for r in members])
        first = members[0]
        row |= {
            "predictions_changed": sum(r["predictions_changed"] for r in members),
            "test_samples": sum(r["test_samples"] for r in members),
            **{
                k: first[k]
                for k in (
                    "binary_macs",
                    "float_macs",
                    "parameters",
                    "packed_bytes",
                    "program_bytes",
                )
            },
            "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in members),
            **latency.get(variant.name, {}),
        }
        rows.append(row)
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON alone."""
    from onebit.bench.report import machine_summary

    grid = ", ".join(c["name"] for c in next(iter(report["selections"].values()))["candidates"])
    genotype = report["genotype"]
    search = genotype.get("search", {})
    lines = [
        f"# A searched BATS network against a hand-designed binary CNN on {report['data']}",
        "",
        f"Remake with `{report['command']}`. Both networks train {report['epochs']} epochs "
        f"(batch {report['batch_size']}, Adam with a cosine schedule, torch on "
        f"{report['threads']} thread{'s' if report['threads'] != 1 else ''}); each one's "
        "learning rate is chosen on the validation "
        f"split ({grid}; {report['val_fraction']:g} of the training part; "
        f"{report['validation_rule']}; "
        f"{next(iter(report['selections'].values()))['rule']}), then each seed of "
        f"{report['seeds']} trains anew and is converted to a packed program that classifies "
        "the test split. Latency: the median per call on one test image (batch 1, one thread) "
        "of the first seed's program and model.",
        machine_summary(report["machine"]),
        "",
        "| network | test accuracy % | program accuracy % | predictions changed | 1-bit MACs "
        "| float MACs | parameters | program tensor bytes | engine ms | torch ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["summary"]:
        lines.append(
            f"| {r['variant']} (`{r['model']}`) | {r['test_accuracy_mean']:.2f} ± "
            f"{r['test_accuracy_std']:.2f} | {r['program_test_accuracy_mean']:.2f} ± "
            f"{r['program_test_accuracy_std']:.2f} | {r['predictions_changed']} of "
            f"{r['test_samples']} | {r['binary_macs']:,} | {r['float_macs']:,} "
            f"| {r['parameters']:,} | {r['program_bytes']:,} | {r['program_ms']:.3f} "
            f"| {r['torch_ms']:.3f} |"
        )
    minutes = report.get("search_minutes")
    lines += [
        "",
        "## The search",
        "",
        f"The genotype was searched on {search.get('dataset', '?')} in "
        f"{'?' if minutes is None else f'{minutes:.1f}'} minutes on {search.get('threads', '?')} "
        f"thread(s): {search.get('epochs', '?')} epochs, temperature "
        f"{search.get('temperature', '?')}, a supernet of {search.get('layers', '?')} cells with "
        f"{search.get('channels', '?')} channels per node (stem stride "
        f"{search.get('stem_stride', '?')}), seed {search.get('seed', '?')}; validation and test "
        "data were never searched on. The searched network: "
        + ", ".join(
            f"{k} {v}" for k, v in report["model_args"]["searched"].items() if k != "genotype"
        )
        + ".",
        "",
        "| cell | node | op (input state) | op (input state) |",
        "|---|---|---|---|",
    ]
    for cell in ("normal", "reduce"):
        edges = genotype[cell]
        for node in range(len(edges) // 2):
            (a, i), (b, j) = edges[2 * node], edges[2 * node + 1]
            lines.append(f"| {cell} | {node} | {a} ({i}) | {b} ({j}) |")
    lines += [
        "",
        "## Runs",
        "",
        *runs_table(report["runs"]),
        "",
        "## Selection on validation",
        "",
        *selection_tables(report["selections"]),
    ]
    return "\n".join(lines).rstrip() + "\n"


def report_stem(data: str) -> str:
    return f"bats-{data}"


def write_report(
    result: dict[str, Any], out_dir: Path, command: str, provenance: dict[str, Any] | None = None
) -> list[Path]:
    """``bats-DATA.json`` and the ``.md`` rendered from it, in ``out_dir``."""
    from onebit.bench.report import write_experiment

    return write_experiment(
        result, out_dir, report_stem(result["data"]), command, provenance, markdown
    )


def render_report(report: dict[str, Any], out_dir: Path) -> Path:
    from onebit.bench.report import render_experiment

    return render_experiment(report, out_dir, report_stem(report["data"]), markdown)
