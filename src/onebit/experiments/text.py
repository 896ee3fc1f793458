"""The binary text CNN against its float twin on Debian package descriptions.

``text-cnn`` (binary embeddings, binary 1-D convolutions, a max over time, a binary classifier)
and its float twin (``binary=False``) classify the descriptions of ``debian-packages`` by archive
section (:mod:`onebit.data.debian` says how the set is built). Both train with one recipe:
cross-entropy, Adam with a cosine schedule, batch :data:`BATCH_SIZE`, :data:`THREADS` torch
threads; each one's learning rate is chosen on the validation split (:data:`GRID`, on the
selection seed), then every seed trains anew. Each final run is converted to a packed program
that classifies the test split; the report gives its accuracy, how many test predictions differ
from the model's, the model's size packed and as float32, and the median batch-1 latency of the
first seed's program and PyTorch model on one thread (one description of ``seq_len`` tokens).

    onebit experiment text --out docs
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.data import debian
from onebit.experiments.classifier_runs import final_run, model_inputs
from onebit.experiments.figures import batch1_latency, mean_std
from onebit.experiments.selection import Candidate, select
from onebit.train import TrainConfig, fit

MODEL = "text-cnn"
VARIANTS = {"binary": {"binary": True}, "float": {"binary": False}}
"""The two networks: the same layers, binarized or real."""
GRID = tuple(Candidate(f"lr {lr:g}", {"lr": lr}) for lr in (3e-3, 1e-2))
"""Adam's peak learning rate, chosen on validation for each network."""
RULE = "highest final validation accuracy; ties go to the candidate tried first"
EPOCHS = 5
BATCH_SIZE = 256
THREADS = 1
"""torch threads of the training runs (the latencies are measured on one thread too): a run is
small enough that a second thread buys little on a shared 2-core machine."""


def recipe(
    variant: str,
    data: str,
    seed: int,
    epochs: int,
    lr: float,
    val_fraction: float,
    model_args: dict[str, Any] | None = None,
) -> TrainConfig:
    return TrainConfig(
        model=MODEL,
        data=data,
        model_kwargs={**(model_args or {}), **VARIANTS[variant]},
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


def run_text_report(
    data: str = "debian-packages",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = EPOCHS,
    log: Callable[[str], None] = print,
    val_fraction: float = 0.1,
    selection_seed: int = 100,
    splits: Any = None,
    model_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Select each network's learning rate on validation, train every seed, convert each run,
    score its program on the test split, and time both networks at batch 1.

    Args:
        data: a text classification dataset.
        seeds: the final runs' seeds.
        epochs: epochs of every run.
        log: one line per finished run.
        val_fraction: the share of the training part held out for validation (> 0).
        selection_seed: the seed of the selection runs (not among the final runs).
        splits: data to use instead of loading ``data`` (tests), without a validation split.
        model_args: ``text-cnn`` arguments for both networks (its defaults when None).
    """
    if val_fraction <= 0:
        raise OnebitError(f"the experiment selects on validation: val_fraction {val_fraction}")
    if not seeds or selection_seed in seeds:
        raise OnebitError(f"need final seeds other than the selection seed {selection_seed}")
    splits = datasets.load(data) if splits is None else splits
    if not isinstance(splits, datasets.TextSplits):
        raise OnebitError(f"{data} is not a text dataset (got {type(splits).__name__})")
    runs: list[dict[str, Any]] = []
    selections: dict[str, Any] = {}
    programs: dict[str, Any] = {}
    for variant in VARIANTS:

        def train_candidate(candidate: Candidate, variant: str = variant) -> dict[str, float]:
            lr = candidate.settings["lr"]
            config = recipe(variant, data, selection_seed, epochs, lr, val_fraction, model_args)
            final = fit(config, splits).final
            log(f"{variant} selection, {candidate.name}: val accuracy {final['val_accuracy']:.2%}")
            return final

        selection = select(GRID, train_candidate, ("val_accuracy",), RULE)
        selections[variant] = {"seed": selection_seed, **selection.as_json()}
        lr = selection.best.settings["lr"]
        for seed in seeds:
            config = recipe(variant, data, seed, epochs, lr, val_fraction, model_args)
            row, program, model = final_run(variant, config, splits)
            runs.append(row)
            if seed == seeds[0]:
                programs[variant] = (program, model)
            engine = (
                "refused"
                if row["program_test_accuracy"] is None
                else f"{row['program_test_accuracy']:.2%} ({row['predictions_changed']} changed)"
            )
            log(
                f"{variant} seed {seed}: val {row['val_accuracy']:.2%}, test "
                f"{row['test_accuracy']:.2%}, program {engine}"
            )
    sample = model_inputs(splits)[:1]
    latency = {name: batch1_latency(*pair, sample) for name, pair in programs.items()}
    return {
        "data": data,
        "dataset": describe_dataset(splits),
        "model": MODEL,
        "model_args": model_args or {},
        "variants": VARIANTS,
        "epochs": epochs,
        "seeds": list(seeds),
        "val_fraction": val_fraction,
        "validation_rule": datasets.VALIDATION_RULE,
        "batch_size": BATCH_SIZE,
        "threads": THREADS,
        "selections": selections,
        "runs": runs,
        "latency": latency,
        "summary": summarize(runs, selections, latency),
    }


def describe_dataset(splits: Any) -> dict[str, Any]:
    """The set's sizes and classes, and for ``debian-packages`` the rule that built it."""
    described: dict[str, Any] = {
        "train": len(splits.y_train),
        "validation": len(splits.y_val),
        "test": len(splits.y_test),
        "classes": list(splits.classes),
        "vocab_size": splits.vocab_size,
        "seq_len": splits.seq_len,
        "majority_test_accuracy": float(
            max((splits.y_test == c).mean() for c in range(splits.num_classes))
        ),
    }
    if splits.name == "debian-packages":
        described["rule"] = (
            f"one record per package of `apt-cache dumpavail` (its Description, its Section "
            f"without the archive area), one per distinct description; sections of fewer than "
            f"{debian.MIN_SECTION_SIZE} records merged into '{debian.OTHER}'; "
            f"{debian.TEST_FRACTION:.0%} held out as the test set by a seeded permutation"
        )
    return described


def summarize(
    runs: list[dict[str, Any]], selections: dict[str, Any], latency: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per network: accuracies (%) as mean and std over its seeds, the program's (None
    where the converter refused it), predictions changed summed over seeds, sizes and latency."""
    rows = []
    for variant in VARIANTS:
        members = [r for r in runs if r["variant"] == variant]
        if not members:
            continue
        row: dict[str, Any] = {
            "variant": variant,
            "seeds": len(members),
            "chosen": selections[variant]["chosen"],
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
            **{
                k: first[k]
                for k in (
                    "binary_macs",
                    "float_macs",
                    "parameters",
                    "packed_bytes",
                    "float32_bytes",
                    "program_bytes",
                )
            },
            "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in members),
            **latency.get(variant, {}),
        }
        rows.append(row)
    return rows


def _figure(value: float | None, digits: int = 2) -> str:
    return "refused" if value is None else f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON alone."""
    from onebit.bench.report import machine_summary

    first_selection = next(iter(report["selections"].values()))
    grid = ", ".join(c["name"] for c in first_selection["candidates"])
    dataset = report["dataset"]
    lines = [
        f"# The binary text CNN against its float twin on {report['data']}",
        "",
        f"Remake with `{report['command']}`. `{report['model']}` (binary, and its float twin "
        f"`binary=False`) classifies {dataset['seq_len']}-token texts into "
        f"{len(dataset['classes'])} classes; both train {report['epochs']} epochs (batch "
        f"{report['batch_size']}, Adam with a cosine schedule, torch on {report['threads']} "
        f"thread{'s' if report['threads'] != 1 else ''}); each one's learning rate is chosen on "
        f"the validation split ({grid}; "
        f"{report['val_fraction']:g} of the training part; {report['validation_rule']}; "
        f"{first_selection['rule']}), then each seed of {report['seeds']} trains anew and is "
        "converted to a packed program that classifies the test split. Latency: the median per "
        "call on one test text (batch 1, one thread) of the first seed's program and model.",
        machine_summary(report["machine"]),
        "",
        "| network | test accuracy % | program accuracy % | predictions changed | parameters "
        "| packed KB | float32 KB | program tensor bytes | engine ms | torch ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["summary"]:
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
            f"| {_figure(r.get('program_ms'), 3)} | {r['torch_ms']:.3f} |"
        )
    for r in report["summary"]:
        if r["program_refused"]:
            lines += [
                "",
                f"The {r['variant']} network's conversion was refused: {r['program_refused']}",
            ]
    lines += [
        "",
        "## The data",
        "",
        f"{dataset['train']:,} training, {dataset['validation']:,} validation and "
        f"{dataset['test']:,} test texts; a vocabulary of {dataset['vocab_size']:,} ids (padding "
        "and unknown included) built from the training part; predicting the most frequent class "
        f"scores {100 * dataset['majority_test_accuracy']:.2f}% on test.",
    ]
    if "rule" in dataset:
        lines += ["", f"How the set is built: {dataset['rule']}."]
    lines += ["", "Classes: " + ", ".join(dataset["classes"]) + "."]
    lines += [
        "",
        "## Runs",
        "",
        "| network | seed | lr | validation % | test % | program % | s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        program = r["program_test_accuracy"]
        program_percent = _figure(None if program is None else 100 * program)
        lines.append(
            f"| {r['variant']} | {r['seed']} | {r['lr']:g} | {100 * r['val_accuracy']:.2f} "
            f"| {100 * r['test_accuracy']:.2f} | {program_percent} "
            f"| {r['seconds_per_epoch']:.1f} |"
        )
    lines += ["", "## Selection on validation", ""]
    for name, selection in report["selections"].items():
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
    return "\n".join(lines).rstrip() + "\n"


def report_stem(data: str) -> str:
    return f"text-{data}"


def write_report(
    result: dict[str, Any], out_dir: Path, command: str, provenance: dict[str, Any] | None = None
) -> list[Path]:
    """``text-DATA.json`` and the ``.md`` rendered from it, in ``out_dir``."""
    from onebit.bench.report import write_experiment

    return write_experiment(
        result, out_dir, report_stem(result["data"]), command, provenance, markdown
    )


def render_report(report: dict[str, Any], out_dir: Path) -> Path:
    from onebit.bench.report import render_experiment

    return render_experiment(report, out_dir, report_stem(report["data"]), markdown)
