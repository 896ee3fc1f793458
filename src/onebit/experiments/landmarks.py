"""The binary hourglass against its float twin on a landmark set.

``landmark-hourglass`` (Bulat & Tzimiropoulos, ICCV 2017: hierarchical, parallel and multi-scale
binary blocks in one hourglass, :mod:`onebit.models.hourglass`) and the same network with
``binary=False`` (BN -> ReLU -> real 3x3 convolutions in every block) train with the same
recipe: the heatmap MSE of :class:`onebit.train.tasks.Landmarks`, Adam with a cosine schedule.
For each variant Adam's peak learning rate is chosen on the validation split by the lowest
normalized mean error (:data:`GRID`, on the selection seed, :mod:`onebit.experiments.selection`),
then every seed trains anew with it. Each final run is converted to a packed program that
predicts the test split's heatmaps: the report gives the program's NME beside the model's, the
largest heatmap difference between the two and the points whose decoded position moved, and
the median time per image at batch 1 on one thread of both variants' programs and PyTorch
models.

    onebit experiment landmarks --data mnist-landmarks             # runs/landmarks/...
    onebit experiment landmarks --data mnist-landmarks --out docs  # the project's report
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
from onebit.convert import ConversionError, convert
from onebit.data.landmarks import LandmarkSplits
from onebit.experiments.figures import batch1_latency, mean_std
from onebit.experiments.selection import Candidate, select
from onebit.landmarks import decode_heatmaps
from onebit.train import TrainConfig, fit
from onebit.train.tasks import Landmarks, task_for

MODEL = "landmark-hourglass"


@dataclass(frozen=True)
class Variant:
    """One row of the report: its name, whether its blocks are binary, and what it is."""

    name: str
    binary: bool
    description: str


VARIANTS = (
    Variant("binary", True, "binary 3x3 convs (sign of BN'd activations, XNOR-Net scaled weights)"),
    Variant("float", False, "the float twin: BN -> ReLU -> real 3x3 convs"),
)
MODEL_ARGS = {"features": 32, "depth": 2, "stem_width": 16}
"""The network for 64x64 images: an hourglass of 32 channels over 16x16 maps, halved twice; the
stem's first convolution has 16 channels (the paper's 64 would take 4x the training time)."""
GRID = tuple(Candidate(f"lr {lr:g}", {"lr": lr}) for lr in (1e-3, 3e-3))
"""Adam's peak learning rate, chosen on validation for each variant (2 runs each)."""
RULE = "lowest final validation NME; ties go to the candidate tried first"
EPOCHS = 15
BATCH_SIZE = 50
THREADS = 1
"""torch threads of every run: the same arithmetic on any machine, and no second thread to
contend for a core the machine's other work holds."""
MOVED_PIXELS = 1e-3
"""A test point counts as moved when the program's decoded position differs from the model's by
more than this many image pixels."""


def report_stem(data: str) -> str:
    return f"landmarks-{data}"


def recipe(
    variant: Variant,
    data: str,
    seed: int,
    epochs: int,
    val_fraction: float,
    lr: float,
    model_args: dict[str, Any],
) -> TrainConfig:
    """A run of either variant: Adam, cosine schedule, batch 50, one thread."""
    return TrainConfig(
        model=MODEL,
        data=data,
        model_kwargs={**model_args, "binary": variant.binary},
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


def run_landmarks(
    data: str = "mnist-landmarks",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = EPOCHS,
    log: Callable[[str], None] = print,
    val_fraction: float = 0.1,
    selection_seed: int = 100,
    splits: LandmarkSplits | None = None,
    model_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Select each variant's learning rate on validation, train every seed, convert each run and
    compare its program's heatmaps with the model's on the test split; time both at batch 1.

    Args:
        data: the landmark set's registry name.
        seeds: the final runs' seeds.
        epochs: epochs of every run.
        log: one line per finished run.
        val_fraction: the share of the training part held out for validation (> 0).
        selection_seed: the seed of the selection runs (not among the final runs).
        splits: data to use instead of loading ``data`` (e.g. a subset in tests), without a
            validation split.
        model_args: the hourglass's arguments; :data:`MODEL_ARGS` when None.
    """
    if val_fraction <= 0:
        raise OnebitError(f"the experiment selects on validation: val_fraction {val_fraction}")
    if not seeds:
        raise OnebitError("the experiment needs at least one seed")
    if selection_seed in seeds:
        raise OnebitError(f"the selection seed {selection_seed} is also a final seed {seeds}")
    splits = datasets.load(data) if splits is None else splits
    if not isinstance(splits, LandmarkSplits):
        raise OnebitError(f"dataset {data!r} is not a landmark set")
    model_args = dict(MODEL_ARGS if model_args is None else model_args)
    runs: list[dict[str, Any]] = []
    selections: dict[str, dict[str, Any]] = {}
    programs = {}
    for variant in VARIANTS:

        def train_candidate(candidate: Candidate, variant: Variant = variant) -> dict[str, float]:
            lr = candidate.settings["lr"]
            config = recipe(variant, data, selection_seed, epochs, val_fraction, lr, model_args)
            final = fit(config, splits).final
            log(
                f"{variant.name} selection, {candidate.name}: validation NME {final['val_nme']:.4f}"
            )
            return final

        selection = select(GRID, train_candidate, ("val_nme",), RULE, minimize=("val_nme",))
        selections[variant.name] = {"seed": selection_seed, **selection.as_json()}
        lr = selection.best.settings["lr"]
        for seed in seeds:
            config = recipe(variant, data, seed, epochs, val_fraction, lr, model_args)
            row, program, model = final_run(variant, config, splits)
            runs.append(row)
            if seed == seeds[0]:
                programs[variant.name] = (program, model)
            program_line = (
                f"program refused: {row['program_refused']}"
                if "program_refused" in row
                else f"program NME {row['program_test_nme']:.4f}, {row['points_moved']} test "
                "points moved"
            )
            log(
                f"{variant.name} seed {seed}: validation NME {row['val_nme']:.4f}, test NME "
                f"{row['test_nme']:.4f} (PCK {row['test_pck']:.2%}), {program_line}"
            )
    sample = np.ascontiguousarray(splits.x_test[:1], dtype=np.float32)
    latency = {name: batch1_latency(*pair, sample) for name, pair in programs.items()}
    for name, figures in latency.items():
        engine = figures["program_ms"]
        engine_line = "no program" if engine is None else f"{engine:.3f} ms in the engine"
        log(
            f"{name}: {engine_line}, {figures['torch_ms']:.3f} ms under torch, per image at batch 1"
        )
    return {
        "data": data,
        "model": MODEL,
        "model_args": model_args,
        "input_shape": list(splits.input_shape),
        "landmarks": list(splits.landmarks),
        "norm": splits.norm,
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


def final_run(
    variant: Variant, config: TrainConfig, splits: LandmarkSplits
) -> tuple[dict[str, Any], Any, torch.nn.Module]:
    """Train one seed, convert it and score its program's test heatmaps beside the model's. A
    conversion the engine refuses is recorded (``program_refused``), not fatal: the float twin's
    many real-valued layers can pass the runtime's static bound on its values."""
    started = time.perf_counter()
    result = fit(config, splits)
    model = result.model.eval()
    row = {
        "variant": variant.name,
        "seed": config.seed,
        "lr": config.lr,
        **{key: result.final[key] for key in ("val_nme", "val_pck", "test_nme", "test_pck")},
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    try:
        program = convert(model, torch.zeros(1, *splits.input_shape))
    except ConversionError as error:
        program = None
        row["program_refused"] = str(error)
    x = np.ascontiguousarray(splits.x_test, dtype=np.float32)
    row["test_points"] = len(x) * splits.num_landmarks
    if program is not None:
        row |= program_agreement(program, model, x, splits)
    row |= {
        "seconds_per_epoch": result.seconds_per_epoch,
        "wall_seconds": time.perf_counter() - started,
        "history": result.history,
    }
    return row, program, model


def program_agreement(
    program, model: torch.nn.Module, x: np.ndarray, splits: LandmarkSplits
) -> dict[str, Any]:
    """The program's test NME and PCK, its largest heatmap difference from the model, and the
    points whose decoded position moved."""
    expected = torch_heatmaps(model, x)
    heatmaps = program(x)
    scores = heatmap_scores(task_for(splits), heatmaps, splits)
    stride = x.shape[2] // heatmaps.shape[2]
    moved = np.linalg.norm(
        decode_heatmaps(heatmaps, stride) - decode_heatmaps(expected, stride), axis=2
    )
    return {
        "program_test_nme": scores["nme"],
        "program_test_pck": scores["pck"],
        "heatmap_max_difference": float(np.abs(heatmaps - expected).max()),
        "points_moved": int((moved > MOVED_PIXELS).sum()),
        "program_bytes": program.nbytes,
    }


def heatmap_scores(
    task: Landmarks, heatmaps: np.ndarray, splits: LandmarkSplits
) -> dict[str, float]:
    """NME and PCK of the test split from heatmaps predicted outside the training loop."""
    targets = task.targets(splits, "test", torch.device("cpu"))
    counts = task.counts(torch.from_numpy(heatmaps), targets)
    return task.metrics(counts, float(len(heatmaps)))


def torch_heatmaps(model: torch.nn.Module, x: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """The heatmaps of ``model`` in eval mode."""
    with torch.no_grad():
        return np.concatenate(
            [
                model(torch.from_numpy(x[start : start + batch_size])).numpy()
                for start in range(0, len(x), batch_size)
            ]
        )


def summarize(
    runs: list[dict[str, Any]],
    selections: dict[str, dict[str, Any]],
    latency: dict[str, dict[str, float]],
) -> list[dict[str, Any]]:
    """One row per variant: NME (% of the normalizing length) and PCK (%) as mean and std over
    its final runs, the program's, the disagreements summed over seeds, and the batch-1 latency;
    ``test_nme_delta`` is the test NME mean minus the float twin's. A variant with a refused
    conversion has no program figures but the first refusal's message."""
    rows = []
    for variant in VARIANTS:
        members = [r for r in runs if r["variant"] == variant.name]
        if not members:
            continue
        row: dict[str, Any] = {
            "variant": variant.name,
            "description": variant.description,
            "seeds": len(members),
            "chosen": selections[variant.name]["chosen"],
        }
        converted = all("program_refused" not in r for r in members)
        keys = ("val_nme", "test_nme", "test_pck", "program_test_nme", "program_test_pck")
        for key in keys if converted else keys[:3]:
            mean, std = mean_std([100 * r[key] for r in members])
            row[f"{key}_mean"], row[f"{key}_std"] = mean, std
        row |= {
            "test_points": sum(r["test_points"] for r in members),
            "parameters": members[0]["parameters"],
            "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in members),
            **latency.get(variant.name, {}),
        }
        if converted:
            row |= {
                "heatmap_max_difference": max(r["heatmap_max_difference"] for r in members),
                "points_moved": sum(r["points_moved"] for r in members),
                "program_bytes": members[0]["program_bytes"],
            }
        else:
            row["program_refused"] = next(
                r["program_refused"] for r in members if "program_refused" in r
            )
        rows.append(row)
    twin = next((r["test_nme_mean"] for r in rows if r["variant"] == "float"), None)
    for row in rows:
        row["test_nme_delta"] = None if twin is None else row["test_nme_mean"] - twin
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report's Markdown, generated from its JSON alone."""
    from onebit.bench.report import machine_summary

    grid = ", ".join(c["name"] for c in next(iter(report["selections"].values()))["candidates"])
    args = ", ".join(f"{k} {v}" for k, v in report["model_args"].items())
    side = "x".join(str(s) for s in report["input_shape"][1:])
    lines = [
        f"# The binary hourglass against its float twin on {report['data']}",
        "",
        f"Remake with `{report['command']}`. `{report['model']}` ({args}) on {side} images with "
        f"{len(report['landmarks'])} landmarks ({', '.join(report['landmarks'])}), binary and "
        f"float; {report['epochs']} epochs, batch {report['batch_size']}, Adam with a cosine "
        f"schedule, the heatmap MSE, torch on {report['threads']} thread. Each variant's "
        f"learning rate is chosen on the validation split ({grid}; {report['val_fraction']:g} "
        f"of the training part; {report['validation_rule']}; "
        f"{next(iter(report['selections'].values()))['rule']}), then each seed of "
        f"{report['seeds']} trains anew. NME is the mean point error as a percentage of the "
        f"{report['norm'].replace('_', ' ')}; PCK counts points within 10% of it. Every final "
        "run is converted to a packed program, which predicts the test split's heatmaps; the "
        "latency is the median per call on one test image (batch 1, one thread) of the first "
        "seed's program and model.",
        machine_summary(report["machine"]),
        "",
        "| variant | test NME % | test PCK % | program NME % | points moved | largest heatmap "
        "difference | parameters | program tensor bytes | engine ms | torch ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["summary"]:
        lines.append(
            f"| {r['variant']} | {r['test_nme_mean']:.2f} ± {r['test_nme_std']:.2f} "
            f"| {r['test_pck_mean']:.2f} ± {r['test_pck_std']:.2f} | {_program_cells(r)} "
            f"| {r['parameters']:,} | {_cell(r.get('program_bytes'), ',')} "
            f"| {_cell(r.get('program_ms'), '.2f')} | {r['torch_ms']:.2f} |"
        )
    for r in report["summary"]:
        if "program_refused" in r:
            lines += [
                "",
                f"The {r['variant']} network's conversion was refused: {r['program_refused']}",
            ]
    binary = next((r for r in report["summary"] if r["variant"] == "binary"), None)
    if binary is not None and binary["test_nme_delta"] is not None:
        lines += [
            "",
            f"The binary network's test NME is {binary['test_nme_delta']:+.2f} points of the "
            "normalizing length against the float twin's (mean over seeds).",
        ]
    lines += [
        "",
        "## Runs",
        "",
        "| variant | seed | lr | validation NME % | test NME % | test PCK % | program NME % "
        "| s/epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['variant']} | {r['seed']} | {r['lr']:g} | {100 * r['val_nme']:.2f} "
            f"| {100 * r['test_nme']:.2f} | {100 * r['test_pck']:.2f} "
            f"| {_cell(r.get('program_test_nme'), '.2f', 100)} | {r['seconds_per_epoch']:.1f} |"
        )
    lines += ["", "## Selection on validation", ""]
    for name, selection in report["selections"].items():
        lines += [
            f"{name} (seed {selection['seed']}):",
            "",
            "| candidate | validation NME % | chosen |",
            "|---|---|---|",
        ]
        for c in selection["candidates"]:
            mark = "yes" if c["name"] == selection["chosen"] else ""
            lines.append(f"| {c['name']} | {100 * c['val_nme']:.2f} | {mark} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cell(value: float | None, spec: str, factor: float = 1) -> str:
    return "refused" if value is None else format(factor * value, spec)


def _program_cells(row: dict[str, Any]) -> str:
    """The program NME, points moved and largest heatmap difference cells of a summary row."""
    if "program_refused" in row:
        return "refused | | "
    return (
        f"{row['program_test_nme_mean']:.2f} ± {row['program_test_nme_std']:.2f} "
        f"| {row['points_moved']} of {row['test_points']} | {row['heatmap_max_difference']:.2g}"
    )


def write_report(
    result: dict[str, Any],
    out_dir: Path,
    command: str,
    provenance: dict[str, Any] | None = None,
) -> list[Path]:
    """``landmarks-DATA.json`` (machine, command, selections, runs with histories) and the
    ``.md`` rendered from it, in ``out_dir``. ``provenance`` is what
    :meth:`Provenance.finish` returned for the runs."""
    from onebit.bench.report import write_experiment

    stem = report_stem(result["data"])
    return write_experiment(result, out_dir, stem, command, provenance, markdown)


def render_report(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``landmarks-DATA.md`` in ``out_dir`` from a report's JSON alone."""
    from onebit.bench.report import render_experiment

    return render_experiment(report, out_dir, report_stem(report["data"]), markdown)
