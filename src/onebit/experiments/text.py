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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.data import debian
from onebit.experiments.classifier_runs import model_inputs, select_then_train
from onebit.experiments.figures import batch1_latency
from onebit.experiments.selection import Candidate
from onebit.experiments.twin_tables import (
    network_table,
    runs_table,
    selection_tables,
    summarize_networks,
)
from onebit.train import TrainConfig

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
    runs, selections, programs = select_then_train(
        VARIANTS,
        lambda name, seed, lr: recipe(name, data, seed, epochs, lr, val_fraction, model_args),
        GRID,
        RULE,
        splits,
        seeds,
        selection_seed,
        log,
    )
    sample = model_inputs(splits)[:1]
    latency = {name: batch1_latency(*pair, sample) for name, pair in programs.items()}
    return {
        "data": data,
        "dataset": describe_dataset(splits, val_fraction),
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


def describe_dataset(splits: Any, val_fraction: float) -> dict[str, Any]:
    """The set's sizes (after the validation carve) and classes, and for ``debian-packages`` the
    rule that built it."""
    carved = splits.with_validation(val_fraction)
    described: dict[str, Any] = {
        "train": len(carved.y_train),
        "validation": len(carved.y_val),
        "test": len(carved.y_test),
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
    """One row per network (:func:`~onebit.experiments.twin_tables.summarize_networks`)."""
    return summarize_networks(VARIANTS, runs, selections, latency)


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
    ]
    lines += network_table(report["summary"], "engine ms")
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
        *runs_table(report["runs"]),
        "",
        "## Selection on validation",
        "",
        *selection_tables(report["selections"]),
    ]
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
