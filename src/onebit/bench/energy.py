"""Energy per inference of every zoo model vs its float twin, from :mod:`onebit.energy`'s
per-operation model (Horowitz, ISSCC 2014, 45 nm): an estimate, not a measurement; nothing is
timed and no power is read. Run with ``onebit bench energy``.

Each model is summarized at its default input (the demo MLP, ``binarynet-mlp``, at the shape of
``mnist5k``, the data ``make demo`` trains it on) and estimated three times: with the default
on-chip budget (weights and each activation tensor in SRAM when they fit in 1 MiB, else in
DRAM), with everything in DRAM, and with everything in SRAM. The ratio moves most with where the
weights live, so all three are reported beside the 3-5x energy saving the literature quotes.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from onebit._registry import OnebitError
from onebit.energy import (
    CAVEAT,
    HOROWITZ_45NM,
    LEAVES_OUT,
    MIB,
    ON_CHIP_BYTES,
    EnergyTable,
    compare_energy,
)

DEMO_MODEL = "binarynet-mlp"
DEMO_DATA = "mnist5k"
LITERATURE_CLAIM = (3.0, 5.0)
"""The energy saving of a binary network over its float twin that the literature quotes."""
PLACEMENTS = {"by_size": ON_CHIP_BYTES, "all_dram": 0.0, "all_sram": math.inf}
"""Ratio columns: weights and activations placed by size against the budget, all in DRAM, all
in SRAM (at the largest listed SRAM's figure)."""


def default_models() -> list[str]:
    """Every registered model (``onebit models``); the demo MLP is one of them."""
    from onebit import models

    return models.list()


def _table_facts(table: EnergyTable) -> dict[str, Any]:
    return {
        "name": table.name,
        "pj": {
            "int8_add": table.int8_add,
            "int32_add": table.int32_add,
            "int8_mult": table.int8_mult,
            "int32_mult": table.int32_mult,
            "float16_add": table.float16_add,
            "float16_mult": table.float16_mult,
            "float32_add": table.float32_add,
            "float32_mult": table.float32_mult,
            "dram_64bit": table.dram,
        },
        "sram_64bit_pj": [[capacity, energy] for capacity, energy in table.sram],
        "binary_word_pj": table.binary_word(),
        "binary_mac_pj": table.binary_mac(),
        "float_mac_pj": table.float_mac(),
        "word_bits": table.word_bits,
        "notes": list(table.notes),
    }


def model_energy(name: str, table: EnergyTable = HOROWITZ_45NM, **kwargs: Any) -> dict[str, Any]:
    """One model's row: its totals and its twin's at the default budget, and the ratio under
    each of ``PLACEMENTS``."""
    from onebit import models
    from onebit.summary import summarize

    summary = summarize(models.create(name, **kwargs))
    comparisons = {
        label: compare_energy(summary, table, budget) for label, budget in PLACEMENTS.items()
    }
    chosen = comparisons["by_size"]
    return {
        "model": name,
        "input_shape": list(summary.input_shape),
        "params": summary.params,
        "binary_params": summary.binary_params,
        "binary_macs": summary.binary_macs,
        "float_macs": summary.float_macs,
        "packed_bytes": summary.packed_bytes,
        "float32_bytes": summary.float32_bytes,
        "binary": chosen.binary.totals(),
        "twin": chosen.twin.totals(),
        "ratio": chosen.ratio,
        "ratio_all_dram": comparisons["all_dram"].ratio,
        "ratio_all_sram": comparisons["all_sram"].ratio,
    }


def benchmark_energy(names: Sequence[str], table: EnergyTable = HOROWITZ_45NM) -> dict[str, Any]:
    """The energy report's result: the table, the model's assumptions and one row a model."""
    from onebit import data, models

    unknown = [name for name in names if name not in models.list()]
    if unknown:
        raise OnebitError(f"unknown model(s) {unknown}; see `onebit models`")
    rows = []
    for name in names:
        kwargs: dict[str, Any] = {}
        if name == DEMO_MODEL:
            splits = data.load(DEMO_DATA)
            kwargs = models.data_kwargs(name, splits.input_shape, splits.num_outputs)
        row = model_energy(name, table, **kwargs)
        row["demo"] = name == DEMO_MODEL
        rows.append(row)
    return {
        "report": "energy",
        "caveat": CAVEAT,
        "table": _table_facts(table),
        "on_chip_bytes": ON_CHIP_BYTES,
        "literature_claim": list(LITERATURE_CLAIM),
        "leaves_out": list(LEAVES_OUT),
        "models": rows,
    }


def _uj(pj: float) -> str:
    return f"{pj / 1e6:,.2f}"


def _where(totals: dict[str, Any]) -> str:
    return "SRAM" if totals["weights_on_chip"] else "DRAM"


def _capacity(nbytes: float) -> str:
    return f"{nbytes / MIB:g} MB" if nbytes >= MIB else f"{nbytes / 1024:g} KB"


def _within(ratio: float, claim: Sequence[float]) -> str:
    low, high = claim
    return "within" if low <= ratio <= high else ("above" if ratio > high else "below")


def _model_label(row: dict[str, Any]) -> str:
    return f"{row['model']} (demo)" if row.get("demo") else row["model"]


def print_energy(result: dict[str, Any], console: Console) -> None:
    """The per-model totals as a rich table, and the caveat."""
    budget = result["on_chip_bytes"] / MIB
    table = Table(
        "model",
        "µJ",
        "twin µJ",
        "twin/model",
        "all DRAM",
        "all SRAM",
        header_style="bold",
        caption=f"{CAVEAT}; weights in SRAM when they fit in {budget:g} MiB",
    )
    for row in result["models"]:
        table.add_row(
            _model_label(row),
            _uj(row["binary"]["total_pj"]),
            _uj(row["twin"]["total_pj"]),
            f"{row['ratio']:,.1f}x",
            f"{row['ratio_all_dram']:,.1f}x",
            f"{row['ratio_all_sram']:,.1f}x",
        )
    console.print(table)


def _ratio_sentence(rows: list[dict[str, Any]], key: str, claim: Sequence[float]) -> str:
    ratios = [row[key] for row in rows]
    inside = sum(_within(r, claim) == "within" for r in ratios)
    return (
        f"median {statistics.median(ratios):,.1f}x (from {min(ratios):,.1f}x to "
        f"{max(ratios):,.1f}x); {inside} of {len(ratios)} within {claim[0]:g}-{claim[1]:g}x"
    )


def markdown(report: dict[str, Any]) -> str:
    """The Markdown report of a stored energy result (as written to JSON)."""
    from onebit.bench.report import machine_summary

    table, claim, rows = report["table"], report["literature_claim"], report["models"]
    pj = table["pj"]
    sram = ", ".join(f"{_capacity(c)} {e:g} pJ" for c, e in table["sram_64bit_pj"])
    budget = f"{report['on_chip_bytes'] / MIB:g} MiB"
    lines = [
        "# Energy per inference: binary models vs their float twins",
        "",
        f"**This is {report['caveat']}.** Nothing here was timed or metered: the counts of "
        "`onebit summary` (MACs, parameters at their stored width, output sizes) are multiplied "
        "by the energy of one operation and one memory access.",
        "",
        f"Remake with `{report['command']}`.",
        "",
        f"Table: {table['name']} ({'; '.join(table['notes'])}). Per operation: 8-bit int add "
        f"{pj['int8_add']:g} pJ, 32-bit int add {pj['int32_add']:g}, 8-bit int multiply "
        f"{pj['int8_mult']:g}, 32-bit int multiply {pj['int32_mult']:g}, 16-bit float add "
        f"{pj['float16_add']:g} and multiply {pj['float16_mult']:g}, 32-bit float add "
        f"{pj['float32_add']:g} and multiply {pj['float32_mult']:g}. Per 64-bit access: SRAM "
        f"{sram}; DRAM {pj['dram_64bit']:g} pJ.",
        "",
        f"Model (`onebit.energy`): a binary MAC is 1/{table['word_bits']} of an XNOR-popcount "
        f"word, {table['binary_word_pj']:.2f} pJ a word (the XNOR as two 32-bit adds, the "
        f"popcount as {table['word_bits'] - 1} 8-bit adds, one 32-bit accumulate), so "
        f"{table['binary_mac_pj']:.4f} pJ a MAC; k-bit MACs are k x l binary planes; every "
        f"other MAC is a float32 multiply and add, {table['float_mac_pj']:g} pJ; layers without "
        "MACs cost a float multiply-add per output in both models. Weights are read once at "
        f"their stored width, from SRAM when all of them fit in {budget}, else from DRAM; each "
        "layer's output is written and read once, at the width the next layer reads (1 bit "
        "before a binarizing layer, else 32), in SRAM when it fits in the budget. The float "
        "twin is the same summary with every parameter, MAC and activation at 32 bits.",
        "",
        f"Left out: {'; '.join(report['leaves_out'])}. On a CPU the instruction overhead these "
        "figures leave out costs more than the arithmetic and does not shrink with the operand "
        "width: what both models pay pulls a measured ratio towards 1.",
        "",
        "The machine and load below do not affect these figures (nothing is timed); the "
        "commit says which code counted them.",
        "",
        machine_summary(report["machine"]),
        "",
        f"| model | input | weights (model / twin) | model µJ | twin µJ | twin/model | "
        f"all DRAM | all SRAM | vs {claim[0]:g}-{claim[1]:g}x |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        shape = "x".join(map(str, row["input_shape"]))
        lines.append(
            f"| {_model_label(row)} | {shape} | {_where(row['binary'])} / {_where(row['twin'])} "
            f"| {_uj(row['binary']['total_pj'])} | {_uj(row['twin']['total_pj'])} "
            f"| {row['ratio']:,.1f}x | {row['ratio_all_dram']:,.1f}x "
            f"| {row['ratio_all_sram']:,.1f}x "
            f"| {_within(row['ratio'], claim) if row['binary_params'] else 'no 1-bit weights'} |"
        )
    binary = [row for row in rows if row["binary_params"]]
    lines += [
        "",
        f"Against the {claim[0]:g}-{claim[1]:g}x energy saving the literature quotes for "
        "binary networks, over the models with 1-bit weights "
        f"({len(binary)} of {len(rows)}):",
        "",
    ]
    if binary:
        lines += [
            f"- weights placed by size ({budget} on chip): "
            f"{_ratio_sentence(binary, 'ratio', claim)};",
            f"- everything in DRAM: {_ratio_sentence(binary, 'ratio_all_dram', claim)};",
            f"- everything in SRAM: {_ratio_sentence(binary, 'ratio_all_sram', claim)}.",
            "",
            "The ratio is largest where the packed model fits on chip and its float twin does "
            "not (the twin then pays DRAM for every weight word), and smallest where float "
            "layers (the first and last, shortcuts, normalization) and 32-bit activations "
            "dominate, since those cost the same in both models. Costs this model leaves out "
            "and both models pay (control, leakage, clocks) would pull every ratio towards 1; "
            "only a measurement on the target hardware says by how much.",
        ]
    return "\n".join(lines) + "\n"


def write_report(
    result: dict[str, Any],
    out: str | os.PathLike[str],
    command: str,
    provenance: dict[str, Any] | None = None,
) -> list[Path]:
    """``out`` (the JSON: command, result, machine) and its ``.md`` beside it, rendered from
    the JSON as written; returns both paths (Markdown first)."""
    from onebit.bench.report import write_experiment

    out = Path(out)
    return write_experiment(result, out.parent, out.stem, command, provenance, markdown)


def rerender(path: str | os.PathLike[str]) -> Path:
    """Re-render the Markdown report of the stored result ``path``, beside it."""
    from onebit.bench.report import render_experiment

    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise OnebitError(f"{path} is not JSON: {error}") from None
    if not isinstance(report, dict) or report.get("report") != "energy":
        raise OnebitError(f"{path} is not an energy report (no 'report': 'energy' field)")
    return render_experiment(report, path.parent, path.stem, markdown)
