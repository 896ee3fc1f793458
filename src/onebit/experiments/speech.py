"""The binary keyword spotter against its float twin on spoken digits of unheard voices.

``kws-bnn`` (binary 3x3 convolutions on the log-mel spectrogram, a binary classifier) and its
float twin (``binary=False``) classify the one-second clips of ``spoken-digits`` (espeak-ng's
voices; :mod:`onebit.data.spoken_digits` says how the set is built): the test voices are never
heard in training and validation holds out whole training voices too. Both train with one recipe:
cross-entropy, Adam with a cosine schedule, batch :data:`BATCH_SIZE`, :data:`THREADS` torch
threads, every batch made from the waveforms with a random time shift and noise
(``augment_audio``); each one's learning rate is chosen on the validation split (:data:`GRID`,
on the selection seed), then every seed trains anew. Each final run is converted to a packed
program that classifies the test split; the report gives its accuracy, how many test predictions
differ from the model's, the model's size packed and as float32, and the median latency per
one-second clip of the first seed's program and PyTorch model on one thread. That latency starts
from the clip's log-mel features; the log-mel frontend's own time per clip (NumPy, one thread)
is measured apart and reported beside it.

    onebit experiment speech --out docs
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.audio import FRONTEND
from onebit.bench.timing import median_seconds
from onebit.experiments.classifier_runs import select_then_train
from onebit.experiments.figures import TIMING, batch1_latency
from onebit.experiments.selection import Candidate
from onebit.experiments.twin_tables import (
    network_table,
    runs_table,
    selection_tables,
    summarize_networks,
)
from onebit.train import TrainConfig

MODEL = "kws-bnn"
VARIANTS = {"binary": {"binary": True}, "float": {"binary": False}}
"""The two networks: the same layers, binarized or real."""
GRID = tuple(Candidate(f"lr {lr:g}", {"lr": lr}) for lr in (3e-3, 1e-2))
"""Adam's peak learning rate, chosen on validation for each network."""
RULE = "highest final validation accuracy; ties go to the candidate tried first"
EPOCHS = 15
BATCH_SIZE = 100
THREADS = 2
"""torch threads of the training runs (the latencies are measured on one thread)."""


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
        augment_audio=True,
        val_fraction=val_fraction,
        device="cpu",
        threads=THREADS,
        progress=False,
    )


def frontend_latency(splits: datasets.KeywordSplits) -> dict[str, float]:
    """Median milliseconds of the log-mel frontend on one test clip (NumPy, one thread)."""
    from threadpoolctl import threadpool_limits

    clip = splits.wave_test[0]
    with threadpool_limits(1):
        seconds = median_seconds(lambda: FRONTEND(clip), **TIMING)
    return {"frontend_ms": 1e3 * seconds}


def run_speech_report(
    data: str = "spoken-digits",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = EPOCHS,
    log: Callable[[str], None] = print,
    val_fraction: float = 0.1,
    selection_seed: int = 100,
    splits: Any = None,
    model_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Select each network's learning rate on validation, train every seed, convert each run,
    score its program on the test split, and time both networks on one clip.

    Args:
        data: a keyword dataset (``spoken-digits``, or ``keyword-folder`` given as ``splits``).
        seeds: the final runs' seeds.
        epochs: epochs of every run.
        log: one line per finished run.
        val_fraction: the share of the training groups held out for validation (> 0).
        selection_seed: the seed of the selection runs (not among the final runs).
        splits: data to use instead of loading ``data`` (tests), without a validation split.
        model_args: ``kws-bnn`` arguments for both networks (its defaults when None).
    """
    if val_fraction <= 0:
        raise OnebitError(f"the experiment selects on validation: val_fraction {val_fraction}")
    if not seeds or selection_seed in seeds:
        raise OnebitError(f"need final seeds other than the selection seed {selection_seed}")
    splits = datasets.load(data) if splits is None else splits
    if not isinstance(splits, datasets.KeywordSplits):
        raise OnebitError(f"{data} is not a keyword dataset (got {type(splits).__name__})")
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
    sample = np.ascontiguousarray(splits.x_test[:1])
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
        "validation_rule": datasets.KEYWORD_VALIDATION_RULE,
        "batch_size": BATCH_SIZE,
        "threads": THREADS,
        "frontend": describe_frontend(),
        "frontend_latency": frontend_latency(splits),
        "selections": selections,
        "runs": runs,
        "latency": latency,
        "summary": summarize(runs, selections, latency),
    }


def describe_frontend() -> dict[str, Any]:
    """The log-mel parameters, for the report."""
    f = FRONTEND
    return {
        "sample_rate": f.sample_rate,
        "window_ms": 1e3 * f.window / f.sample_rate,
        "hop_ms": 1e3 * f.hop / f.sample_rate,
        "n_fft": f.n_fft,
        "n_mels": f.n_mels,
        "f_min": f.f_min,
        "f_max": f.f_max,
        "db_range": [f.db_floor, f.db_ceiling],
        "shape": list(f.output_shape()),
    }


def describe_dataset(splits: Any, val_fraction: float) -> dict[str, Any]:
    """The set's sizes, classes and speaker groups per split (after the validation carve), and
    the loader's account of how it was built."""
    carved = splits.with_validation(val_fraction)
    return {
        "train": len(carved.y_train),
        "validation": len(carved.y_val),
        "test": len(carved.y_test),
        "groups": {split: carved.groups(split) for split in ("train", "val", "test")},
        "classes": list(splits.classes),
        "majority_test_accuracy": float(
            max((splits.y_test == c).mean() for c in range(splits.num_classes))
        ),
        "rule": splits.built,
    }


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
    dataset, frontend = report["dataset"], report["frontend"]
    n_mels, frames = frontend["shape"]
    lines = [
        f"# The binary keyword spotter against its float twin on {report['data']}",
        "",
        f"Remake with `{report['command']}`. `{report['model']}` (binary, and its float twin "
        f"`binary=False`) classifies one-second clips, as {n_mels} x {frames} log-mel "
        f"spectrograms ({frontend['window_ms']:g} ms Hann window every {frontend['hop_ms']:g} "
        f"ms, {n_mels} HTK mel bands from {frontend['f_min']:g} to {frontend['f_max']:g} Hz, "
        f"{frontend['db_range'][0]:g} to {frontend['db_range'][1]:g} dB mapped to [0, 1]), "
        f"into {len(dataset['classes'])} words; both train {report['epochs']} epochs (batch "
        f"{report['batch_size']}, Adam with a cosine schedule, torch on {report['threads']} "
        "threads), each batch made from the waveforms with a random time shift and noise; each "
        f"one's learning rate is chosen on the validation split ({grid}; "
        f"{report['val_fraction']:g} of the training groups; {report['validation_rule']}; "
        f"{first_selection['rule']}), then each seed of {report['seeds']} trains anew and is "
        "converted to a packed program that classifies the test split, whose voices no run "
        "heard. Latency: the median per call on one clip's features (batch 1, one thread) of "
        "the first seed's program and model; it does not include the log-mel frontend, which "
        f"takes {report['frontend_latency']['frontend_ms']:.3f} ms per clip (NumPy, one thread).",
        machine_summary(report["machine"]),
        "",
    ]
    lines += network_table(report["summary"], "engine ms per clip")
    groups = dataset["groups"]
    lines += [
        "",
        "## The data",
        "",
        f"{dataset['train']:,} training clips of {len(groups['train'])} speaker groups, "
        f"{dataset['validation']:,} validation clips of {len(groups['val'])} "
        f"({', '.join(groups['val'])}) and {dataset['test']:,} test clips of "
        f"{len(groups['test'])} ({', '.join(groups['test'])}); predicting the most frequent "
        f"class scores {100 * dataset['majority_test_accuracy']:.2f}% on test.",
    ]
    if dataset["rule"]:
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
    return f"speech-{data}"


def write_report(
    result: dict[str, Any], out_dir: Path, command: str, provenance: dict[str, Any] | None = None
) -> list[Path]:
    """``speech-DATA.json`` and the ``.md`` rendered from it, in ``out_dir``."""
    from onebit.bench.report import write_experiment

    return write_experiment(
        result, out_dir, report_stem(result["data"]), command, provenance, markdown
    )


def render_report(report: dict[str, Any], out_dir: Path) -> Path:
    from onebit.bench.report import render_experiment

    return render_experiment(report, out_dir, report_stem(report["data"]), markdown)
