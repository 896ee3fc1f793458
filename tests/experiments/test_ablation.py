from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onebit._registry import OnebitError
from onebit.cli import app
from onebit.experiments.ablation import VARIANTS, merge_results, run_ablation, write_report


def test_ablation_report_has_a_row_per_variant_and_a_plot(tmp_path):
    chosen = ["baseline", "shift-bn+adamax", "distill", "two-step"]
    result = run_ablation(
        "digits",
        seeds=(0, 1),
        epochs=2,
        variants=chosen,
        work_dir=tmp_path / "runs",
        log=lambda line: None,
        hidden=32,
    )
    assert [row["variant"] for row in result["summary"]] == chosen
    assert all(row["seeds"] == 2 and 10 < row["mean"] <= 100 for row in result["summary"])
    assert result["summary"][0]["delta"] == 0.0
    baseline, shifted = result["summary"][0], result["summary"][1]
    assert baseline["shift_multiplies_per_step"] == 0 < shifted["shift_multiplies_per_step"]
    paths = write_report(result, tmp_path / "docs", "onebit experiment ablation --data digits")
    md, png, js = paths
    text = md.read_text()
    for name in chosen:
        assert f"| {name} |" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(js.read_text())
    assert len(saved["runs"]) == 8 and saved["machine"]["cpu"]


def test_every_variant_has_a_distinct_name_and_description():
    names = [v.name for v in VARIANTS]
    assert len(names) == len(set(names)) and all(v.description for v in VARIANTS)


@pytest.mark.parametrize(
    ("args", "message"),
    [(("--variants", "baseline,magic"), "unknown variant"), (("--seeds", "a,b"), "integers")],
)
def test_cli_refuses_bad_arguments(args, message):
    result = CliRunner().invoke(app, ["experiment", "ablation", *args])
    assert result.exit_code == 2 and message in result.stderr


def _runs(variant: str, accuracies: list[float]) -> list[dict]:
    return [
        {
            "variant": variant,
            "seed": seed,
            "test_accuracy": accuracy,
            "seconds_per_epoch": 1.0,
            "shift_multiplies_per_step": 0,
            "history": [],
        }
        for seed, accuracy in enumerate(accuracies)
    ]


def test_update_replaces_only_the_rerun_variants():
    previous = {
        "data": "digits",
        "epochs": 2,
        "seeds": [0, 1],
        "runs": _runs("bop", [0.5, 0.5]) + _runs("baseline", [0.9, 0.8]),
    }
    update = {"data": "digits", "epochs": 2, "seeds": [0, 1], "runs": _runs("bop", [0.7, 0.9])}
    merged = merge_results(previous, update)
    assert [r["variant"] for r in merged["runs"]] == ["baseline"] * 2 + ["bop"] * 2
    rows = {row["variant"]: row for row in merged["summary"]}
    assert rows["baseline"]["mean"] == pytest.approx(85.0) and rows["bop"]["mean"] == 80.0
    assert rows["bop"]["delta"] == pytest.approx(-5.0)
    with pytest.raises(OnebitError, match="seeds"):
        merge_results(previous, {**update, "seeds": [0, 1, 2]})
