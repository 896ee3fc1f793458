"""The README's Results figures, rendered from the result files in ``docs/`` alone.

The README quotes the headline figures of ``docs/*.json`` (accuracy, the packed engine, the zoo)
between two marker lines. This module renders that block from the JSON, so the README cannot
drift from the files it cites: ``make reports`` rewrites it after regenerating them, and a test
checks that the README's block is what this module renders from the committed files::

    python -m onebit.bench.readme            # rewrite README.md's block from docs/*.json
    python -m onebit.bench.readme --check    # exit 1 if the block differs from the rendering

Each target (the foundation issue's accuracy targets, the zoo issue's speed and size targets)
is a :class:`Target`, and the block says of each whether it is met in the files it reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onebit._registry import OnebitError
from onebit.atomic import atomic_open
from onebit.runtime.kernels import BUILT_SIMD_PATHS

START = "<!-- results: python -m onebit.bench.readme -->\n"
END = "<!-- end of results -->"
# docs/ file -> what the block calls it
FILES = {
    "mlp_accuracy": "accuracy",
    "bgemm": "bgemm",
    "bconv2d": "bconv2d",
    "mlp_engine": "mlp engine",
    "zoo": "zoo",
    "fuzz": "fuzz",
}


@dataclass(frozen=True)
class Target:
    """A goal an issue set for a figure: ``value >= goal`` (or ``<=`` when ``at_most``)."""

    label: str
    goal: float
    unit: str
    at_most: bool = False

    def met(self, value: float) -> bool:
        return value <= self.goal if self.at_most else value >= self.goal

    def sentence(self, value: float, shown: str) -> str:
        bound = "at most" if self.at_most else "at least"
        verdict = "met" if self.met(value) else "**missed**"
        return f"{self.label} {bound} {self.goal:g}{self.unit}: {shown}, {verdict}"


MNIST_ACCURACY = Target("binary MLP on mnist5k (plain recipe), test mean over 3 seeds,", 94.0, "%")
FLOAT_GAP = Target("gap to its float twin trained the same way,", 1.5, " points", at_most=True)
TRAINING_TIME = Target("training time per seed,", 60, " s", at_most=True)
DIGITS_ACCURACY = Target("binary MLP on digits, test mean,", 98.5, "%")
ZOO_SPEEDUP = Target("quicknet vs the fastest fp32 ResNet-18, 1 thread,", 6, "x")
ZOO_SCALING = Target("2 threads vs 1, every zoo model,", 1.7, "x")
ZOO_SIZE = Target("`.onebit` file vs float32 weights, every zoo model,", 10, "x smaller")


def load(docs: Path) -> dict[str, dict[str, Any]]:
    """Every result file the block cites, by its ``FILES`` key; a missing one is named."""
    documents = {}
    for stem in FILES:
        path = docs / f"{stem}.json"
        try:
            documents[stem] = json.loads(path.read_text())
        except FileNotFoundError:
            raise OnebitError(f"{path} is missing: `make reports` writes it") from None
        except json.JSONDecodeError as error:
            raise OnebitError(f"{path} is not JSON: {error}") from None
    return documents


def provenance_paragraph(documents: dict[str, dict[str, Any]]) -> str:
    """Where and when the files were measured, and any file whose provenance carries a warning."""
    machines = {stem: doc["machine"] for stem, doc in documents.items()}
    commits = sorted({m["commit"] for m in machines.values()})
    paths = sorted({m["simd"] for m in machines.values()})
    reference = machines["bgemm"]
    runnable = documents["bgemm"]["bgemm"]["simd_paths"]
    not_runnable = [path for path in BUILT_SIMD_PATHS if path not in runnable]
    lines = [
        f"Measured at commit {', '.join(commits)} on {reference['cpu']} ({reference['cores']} "
        f"cores, torch {reference.get('torch', '?')}), SIMD path {', '.join(paths)}; this CPU "
        f"can run {', '.join(runnable)} and could not run "
        f"{', '.join(not_runnable) or 'nothing built'}."
    ]
    if len(commits) > 1:
        lines.append("**The files name different commits**: rerun `make reports`.")
    for stem, machine in machines.items():
        warning = machine.get("provenance", {}).get("warning")
        if warning:
            lines.append(f"**{FILES[stem]}: {warning}**")
    if not any(m.get("provenance", {}).get("warning") for m in machines.values()):
        lines.append("No file records a dirty tree or a busy machine.")
    return " ".join(lines)


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _summary(doc: dict[str, Any], dataset: str, recipe: str, model: str) -> dict[str, Any]:
    for row in doc["summary"]:
        if (row["dataset"], row["recipe"], row["model"]) == (dataset, recipe, model):
            return row
    raise OnebitError(f"mlp_accuracy.json has no {dataset}/{recipe}/{model} row")


def accuracy_section(doc: dict[str, Any]) -> str:
    rows = [
        [
            row["dataset"],
            row["recipe"],
            row["model"],
            row["settings"] + (" (chosen on validation)" if row["tuned_on_validation"] else ""),
            f"{row['val_mean']:.2f} ± {row['val_std']:.2f}",
            f"{row['test_mean']:.2f} ± {row['test_std']:.2f}",
            f"{row['test_gap_to_float']:+.2f}",
            f"{row['train_seconds']:.1f}",
        ]
        for row in doc["summary"]
    ]
    table = _table(
        [
            "dataset",
            "recipe",
            "model",
            "settings",
            "validation (%)",
            "test (%)",
            "gap to float, test (points)",
            "training s/seed",
        ],
        ["---", "---", "---", "---", "---:", "---:", "---:", "---:"],
        rows,
    )
    plain = _summary(doc, "mnist5k", "plain", "binarynet-mlp")
    shift = _summary(doc, "mnist5k", "shift", "binarynet-mlp")
    digits = _summary(doc, "digits", "plain", "binarynet-mlp")
    slowest = max(row["train_seconds"] for row in doc["summary"])
    targets = [
        MNIST_ACCURACY.sentence(plain["test_mean"], f"{plain['test_mean']:.2f}%"),
        FLOAT_GAP.sentence(
            max(plain["test_gap_to_float"], shift["test_gap_to_float"]),
            f"{plain['test_gap_to_float']:.2f} (plain) and {shift['test_gap_to_float']:.2f} "
            "(shift)",
        ),
        TRAINING_TIME.sentence(slowest, f"{slowest:.0f} s at most"),
        DIGITS_ACCURACY.sentence(digits["test_mean"], f"{digits['test_mean']:.2f}%"),
    ]
    return "\n\n".join(
        [
            f"Accuracy (`docs/mlp_accuracy.md`; seeds {doc['seeds']}, {doc['epochs']} epochs):",
            table,
            "Targets of the foundation issue:\n" + "\n".join(f"- {t}." for t in targets),
        ]
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:,.0f} µs"


def engine_section(documents: dict[str, dict[str, Any]]) -> str:
    bgemm = documents["bgemm"]["bgemm"]["results"]
    rows = []
    for shape in sorted({(r["m"], r["k"], r["n"]) for r in bgemm}, key=lambda s: s[0]):
        one = next(r for r in bgemm if (r["m"], r["k"], r["n"]) == shape and r["threads"] == 1)
        two = [r for r in bgemm if (r["m"], r["k"], r["n"]) == shape and r["threads"] == 2]
        fp32 = min(one["baselines_s"][k] for k in one["baselines_s"] if k.startswith("fp32"))
        int8 = one["baselines_s"]["int8 dynamic"]
        rows.append(
            [
                f"bgemm {'x'.join(map(str, shape))}, 1 thread"
                + (f" (2 threads: {two[0]['scaling_vs_1_thread']:.2f}x faster)" if two else ""),
                _ms(one["bgemm_s"]),
                f"{_ms(fp32)} fp32 / {_ms(int8)} int8 dynamic",
                f"{one['speedup_vs_fp32']:.1f}x / {one['speedup_vs_int8']:.1f}x",
                f"{one['fraction_of_peak']:.0%} of the XOR+popcount peak",
            ]
        )
    for conv in documents["bconv2d"]["bconv2d"]["rows"]:
        if conv["threads"] != 1:
            continue
        fp32 = min(conv["torch_fp32_s"].values())
        ours = conv["onebit_s"]["bits fused"]
        twin = [
            r
            for r in documents["bconv2d"]["bconv2d"]["rows"]
            if r["conv"] == conv["conv"] and r["threads"] == 2
        ]
        rows.append(
            [
                f"bconv2d {conv['conv']}, batch {conv['batch']}, 1 thread, packed in -> packed out"
                + (
                    f" (2 threads: {twin[0]['scaling_vs_1_thread']['bits fused']:.2f}x faster)"
                    if twin
                    else ""
                ),
                _ms(ours),
                f"{_ms(fp32)} fp32",
                f"{conv['speedup_vs_fp32']['bits fused']:.1f}x",
                "",
            ]
        )
    mlp = documents["mlp_engine"]["mlp"]
    for latency in mlp["latency_batch1"]:
        rows.append(
            [
                f"{mlp['model']} batch 1, {latency['threads']} thread"
                + ("s" if latency["threads"] > 1 else ""),
                f"{latency['onebit_ms']:.3f} ms",
                f"{latency['float_twin_ms']:.3f} ms {mlp['float_twin']['model']} twin "
                f"({latency['float_twin_setup']}) / {latency['torch_latent_binary_ms']:.1f} ms "
                "eval of the latent-weight model",
                f"{latency['speedup_vs_float_twin']:.1f}x / "
                f"{latency['speedup_vs_latent_binary']:.0f}x",
                "",
            ]
        )
    rows.append(
        [
            f"{mlp['model']} `.onebit` file vs float32 state dict",
            f"{mlp['onebit_file_bytes'] / 1e6:.3f} MB",
            f"{mlp['float32_state_dict_bytes'] / 1e6:.3f} MB",
            f"{mlp['size_ratio']:.1f}x smaller",
            "",
        ]
    )
    fuzz = documents["fuzz"]["fuzz"]
    outcomes = fuzz["outcomes"]
    bad = {k: v for k, v in outcomes.items() if k not in ("ok", "refused")}
    fuzz_line = (
        f"`onebit bench fuzz`: {fuzz['cases']:,} mutated files in {fuzz['seconds']:.0f} s, "
        f"{outcomes.get('ok', 0):,} loaded and ran, {outcomes.get('refused', 0):,} refused with a "
        "one-line error, "
        + (
            "none crashed, hung, raised another exception or gave a non-finite output."
            if not bad and not fuzz["failures"]
            else "**" + ", ".join(f"{v} {k}" for k, v in bad.items()) + "**."
        )
    )
    return "\n\n".join(
        [
            "The packed engine (`docs/bgemm.md`, `docs/bconv2d.md`, `docs/mlp_engine.md`, "
            "`docs/fuzz.md`), against PyTorch on the same shape and thread count in the same run:",
            _table(
                ["what", "onebit", "PyTorch", "ratio", "note"],
                ["---", "---:", "---:", "---:", "---"],
                rows,
            ),
            fuzz_line,
        ]
    )


def zoo_section(doc: dict[str, Any]) -> str:
    zoo = doc["zoo"]
    models = {m["model"]: m for m in zoo["models"]}
    rows, ratios = [], {}
    for name, model in models.items():
        one = next(r for r in zoo["rows"] if r["model"] == name and r["threads"] == 1)
        two = [r for r in zoo["rows"] if r["model"] == name and r["threads"] == 2]
        ratios[name] = (one["speedup_vs_resnet18"], two[0]["scaling_vs_1_thread"] if two else None)
        rows.append(
            [
                name,
                f"{one['onebit_ms']:.2f} ms",
                f"{one['speedup_vs_resnet18']:.1f}x",
                f"{two[0]['onebit_ms']:.2f} ms" if two else "-",
                f"{two[0]['scaling_vs_1_thread']:.2f}x" if two else "-",
                f"{model['onebit_file_bytes'] / 2**20:.2f} vs "
                f"{model['float32_state_dict_bytes'] / 2**20:.1f} MiB ({model['size_ratio']:.1f}x)",
                "yes" if model["same_prediction"] else "**no**",
            ]
        )
    resnet = next(r for r in zoo["rows"] if r["threads"] == 1)
    scalings = [s for _, s in ratios.values() if s is not None]
    sizes = [m["size_ratio"] for m in models.values()]
    targets = []
    if "quicknet" in ratios:
        targets.append(ZOO_SPEEDUP.sentence(ratios["quicknet"][0], f"{ratios['quicknet'][0]:.1f}x"))
    if scalings:
        targets.append(
            ZOO_SCALING.sentence(min(scalings), f"{min(scalings):.2f}x-{max(scalings):.2f}x")
        )
    targets.append(ZOO_SIZE.sentence(min(sizes), f"{min(sizes):.1f}x at least"))
    host = zoo["host_compute_scaling"].get("2")
    return "\n\n".join(
        [
            f"Zoo models at batch 1, {zoo['input_size']}x{zoo['input_size']} (`docs/zoo.md`; "
            f"fp32 ResNet-18 on 1 thread: {resnet['resnet18_fp32_ms']:.1f} ms with "
            f"{resnet['resnet18_fp32_setup']}"
            + (
                f"; host check: a compute-bound kernel scaled {host:.2f}x on 2 threads"
                if host
                else ""
            )
            + "):",
            _table(
                [
                    "model",
                    "1 thread",
                    "× ResNet-18 fp32",
                    "2 threads",
                    "× 1 thread",
                    "`.onebit` vs float32",
                    "same top-1 as torch",
                ],
                ["---", "---:", "---:", "---:", "---:", "---:", ":---:"],
                rows,
            ),
            "Targets of the zoo issue:\n" + "\n".join(f"- {t}." for t in targets),
        ]
    )


def render(docs: Path) -> str:
    """The README's Results block (without its marker lines) from the files in ``docs``."""
    documents = load(docs)
    sections = [
        provenance_paragraph(documents),
        accuracy_section(documents["mlp_accuracy"]),
        engine_section(documents),
        zoo_section(documents["zoo"]),
    ]
    return "\n\n".join(sections) + "\n"


def block_of(readme: str) -> tuple[int, int]:
    """Where the text between the marker lines starts and ends in ``readme``."""
    start = readme.find(START)
    end = readme.find(END, start + len(START)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise OnebitError(f"the README has no results block ({START.strip()} ... {END})")
    return start + len(START), end


def with_block(readme: str, block: str) -> str:
    """``readme`` with the text between its marker lines replaced by ``block``."""
    start, end = block_of(readme)
    return readme[:start] + block + readme[end:]


def main(argv: list[str] | None = None, out: Callable[[str], Any] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m onebit.bench.readme", description=__doc__)
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = parser.parse_args(argv)
    try:
        readme = args.readme.read_text()
        updated = with_block(readme, render(args.docs))
    except (OSError, OnebitError) as error:
        out(f"error: {error}")
        return 2
    if args.check:
        if updated != readme:
            out(
                f"{args.readme}'s results block differs from {args.docs}/*.json: run "
                "`python -m onebit.bench.readme`"
            )
            return 1
        return 0
    if updated != readme:
        with atomic_open(args.readme, "w") as handle:
            handle.write(updated)
    out(f"{args.readme}: results block rendered from {args.docs}/*.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
