"""Accuracy of the binary MLP against its full-precision twin, over several seeds.

Trains ``binarynet-mlp`` and ``float-mlp`` with the same recipe (Adam, cosine schedule, BatchNorm,
``ste_sign``) on each dataset and seed, and prints test accuracy mean and spread, the gap to the
float twin, and training seconds per epoch and per seed, measured in this run. Results are saved
as JSON with the machine and the commit.

    python benchmarks/mlp_accuracy.py                       # mnist5k and digits, 3 seeds
    python benchmarks/mlp_accuracy.py --data digits --seeds 0
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from onebit import data as datasets
from onebit.atomic import atomic_open
from onebit.bench.report import machine_info, machine_summary
from onebit.train import fit
from onebit.train.recipes import mlp_recipe

# Recipes: (epochs, augment_shift). "plain" is the baseline recipe of Keras BNN libraries; "shift"
# adds random translations of up to 2 pixels, which the 4,000 28x28 training images of mnist5k
# need most (on 8x8 digits a shift of even 1 pixel costs accuracy, so digits has only "plain").
RECIPES = {
    "mnist5k": {"plain": (30, 0), "shift": (30, 2)},
    "digits": {"plain": (30, 0)},
}
MODELS = ("binarynet-mlp", "float-mlp")


def run(dataset: str, recipe: str, model: str, seed: int, hidden: int, depth: int) -> dict:
    epochs, shift = RECIPES[dataset][recipe]
    config = mlp_recipe(dataset, seed, epochs, model, hidden, depth, augment_shift=shift)
    started = time.perf_counter()
    result = fit(config, datasets.load(dataset))
    return {
        "dataset": dataset,
        "recipe": recipe,
        "model": model,
        "seed": seed,
        "test_accuracy": result.final["test_accuracy"],
        "seconds_per_epoch": result.seconds_per_epoch,
        "train_seconds": sum(row["epoch_seconds"] for row in result.history),
        "wall_seconds": time.perf_counter() - started,
        "epochs": epochs,
    }


def summarize(runs: list[dict]) -> list[dict]:
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in runs:
        groups.setdefault((row["dataset"], row["recipe"], row["model"]), []).append(row)
    rows = []
    for (dataset, recipe, model), members in groups.items():
        accuracy = [100 * m["test_accuracy"] for m in members]
        rows.append(
            {
                "dataset": dataset,
                "recipe": recipe,
                "model": model,
                "seeds": len(members),
                "mean": statistics.mean(accuracy),
                "std": statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0,
                "min": min(accuracy),
                "max": max(accuracy),
                "seconds_per_epoch": statistics.mean(m["seconds_per_epoch"] for m in members),
                "train_seconds": statistics.mean(m["train_seconds"] for m in members),
            }
        )
    floats = {(r["dataset"], r["recipe"]): r["mean"] for r in rows if r["model"] == "float-mlp"}
    for row in rows:
        row["gap_to_float"] = floats.get((row["dataset"], row["recipe"]), row["mean"]) - row["mean"]
    return rows


def table(rows: list[dict]) -> Table:
    out = Table(title="binarynet-mlp vs float-mlp, test accuracy over seeds", header_style="bold")
    for column in (
        "dataset",
        "recipe",
        "model",
        "seeds",
        "mean ± std (%)",
        "min-max (%)",
        "gap to float",
        "s/epoch",
        "train s/seed",
    ):
        out.add_column(
            column, justify="left" if column in ("dataset", "recipe", "model") else "right"
        )
    for r in rows:
        out.add_row(
            r["dataset"],
            r["recipe"],
            r["model"],
            str(r["seeds"]),
            f"{r['mean']:.2f} ± {r['std']:.2f}",
            f"{r['min']:.1f}-{r['max']:.1f}",
            f"{r['gap_to_float']:+.2f}",
            f"{r['seconds_per_epoch']:.2f}",
            f"{r['train_seconds']:.1f}",
        )
    return out


def markdown(rows: list[dict], machine: dict) -> str:
    lines = [
        "# binarynet-mlp vs float-mlp: test accuracy",
        "",
        "Remake with `python benchmarks/mlp_accuracy.py` (Adam, lr 0.01, cosine schedule,",
        "batch 100, 3 hidden layers of 1024, BatchNorm, `ste_sign`; accuracy on the fixed test",
        "split; seconds are training time only, evaluation excluded).",
        machine_summary(machine),
        "",
        "| dataset | recipe | model | seeds | accuracy mean ± std (%) | min-max (%) "
        "| gap to float (points) | s/epoch | training s/seed |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['recipe']} | {r['model']} | {r['seeds']} "
            f"| {r['mean']:.2f} ± {r['std']:.2f} | {r['min']:.1f}-{r['max']:.1f} "
            f"| {r['gap_to_float']:+.2f} | {r['seconds_per_epoch']:.2f} "
            f"| {r['train_seconds']:.1f} |"
        )
    lines += [
        "",
        "Recipes: `plain` trains on the images as they are; `shift` adds random translations of",
        "up to 2 pixels (`--augment-shift 2`). Both run 30 epochs.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--recipes", nargs="+", default=["plain", "shift"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/mlp_accuracy.json"))
    parser.add_argument(
        "--from-json", type=Path, help="Re-render the tables of a saved run without training."
    )
    args = parser.parse_args()
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        Console(width=140).print(table(saved["summary"]))
        with atomic_open(args.out.with_suffix(".md"), "w") as handle:
            handle.write(markdown(saved["summary"], saved["machine"]))
        return

    console = Console(width=140)
    runs = []
    for dataset in args.data:
        for recipe in [r for r in args.recipes if r in RECIPES[dataset]]:
            for model in MODELS:
                for seed in args.seeds:
                    row = run(dataset, recipe, model, seed, args.hidden, args.depth)
                    console.print(
                        f"{dataset} {recipe} {model} seed {seed}: "
                        f"{100 * row['test_accuracy']:.2f}%  {row['seconds_per_epoch']:.2f} s/epoch"
                        f"  {row['train_seconds']:.1f} s training",
                        highlight=False,
                    )
                    runs.append(row)
    rows = summarize(runs)
    console.print(table(rows))
    info = machine_info()
    with atomic_open(args.out, "w") as handle:
        json.dump({"machine": info, "summary": rows, "runs": runs}, handle, indent=1)
    with atomic_open(args.out.with_suffix(".md"), "w") as handle:
        handle.write(markdown(rows, info))
    console.print(f"saved {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
