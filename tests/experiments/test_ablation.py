from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onebit._registry import OnebitError
from onebit.cli import app
from onebit.experiments.ablation import (
    BOP_GRID,
    VARIANTS,
    markdown,
    merge_results,
    run_ablation,
    write_report,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_ablation(one_torch_thread, tmp_path_factory):
    chosen = ["baseline", "shift-bn+adamax", "bop", "distill"]
    return chosen, run_ablation(
        "digits",
        seeds=(0, 1),
        epochs=2,
        variants=chosen,
        work_dir=tmp_path_factory.mktemp("runs"),
        log=lambda line: None,
        hidden=16,
    )


def test_ablation_report_has_a_row_per_variant_with_val_and_test(tmp_path, small_ablation):
    chosen, result = small_ablation
    assert [row["variant"] for row in result["summary"]] == chosen
    for row in result["summary"]:
        assert row["seeds"] == 2 and 10 < row["val_mean"] <= 100 and 10 < row["test_mean"] <= 100
    assert result["summary"][0]["test_delta"] == 0.0
    baseline, shifted = result["summary"][0], result["summary"][1]
    assert baseline["shift_multiplies_per_step"] == 0 < shifted["shift_multiplies_per_step"]
    paths = write_report(result, tmp_path / "report", "onebit experiment ablation --data digits")
    md, png, js = paths
    text = md.read_text()
    assert "| validation mean ± std (%) | test mean ± std (%) |" in text
    for name in chosen:
        assert f"| {name} |" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(js.read_text())
    assert len(saved["runs"]) == 8 and saved["machine"]["cpu"] and saved["val_fraction"] == 0.1
    assert markdown(saved) == text  # the Markdown comes from the JSON alone


def test_bop_is_chosen_on_validation_and_its_selection_runs_are_not_final_runs(small_ablation):
    _, result = small_ablation
    selection = result["selections"]["bop"]
    grid = selection["candidates"]
    assert [c["name"] for c in grid] == [c.name for c in BOP_GRID] and len(grid) <= 6
    best = max(grid, key=lambda c: c["val_accuracy"])  # max keeps the first of equals
    assert selection["chosen"] == best["name"] and selection["seed"] == 0
    bop_rows = [r for r in result["runs"] if r["variant"] == "bop"]
    assert [r["seed"] for r in bop_rows] == [0, 1]
    row = next(r for r in result["summary"] if r["variant"] == "bop")
    assert row["chosen"] == best["name"]
    text = markdown({**result, "command": "c", "machine": {}})
    assert "**bop: selection on validation**" in text
    for candidate in grid:
        assert f"| {candidate['name']} | {100 * candidate['val_accuracy']:.2f} |" in text


def test_the_cli_writes_a_run_local_report_and_re_renders_it_from_json(tmp_path):
    out = tmp_path / "report"
    args = ["experiment", "ablation", "--data", "digits", "--seeds", "0", "--epochs", "2"]
    args += ["--hidden", "16", "--variants", "baseline", "--out", str(out)]
    done = CliRunner().invoke(app, [*args, "--work-dir", str(tmp_path / "runs")])
    assert done.exit_code == 0, done.output
    md = out / "ablation-digits.md"
    first = md.read_text()
    assert "onebit experiment ablation --data digits --seeds 0 --epochs 2 --hidden 16" in first
    md.unlink()
    again = CliRunner().invoke(
        app,
        [
            "experiment",
            "ablation",
            "--from-json",
            str(out / "ablation-digits.json"),
            "--out",
            str(out),
        ],
    )
    assert again.exit_code == 0 and md.read_text() == first


def test_the_default_report_directory_is_run_local():
    import inspect

    from onebit.cli import ablation

    assert inspect.signature(ablation).parameters["out"].default == Path("runs/ablation")


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
            "val_accuracy": accuracy,
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
        "val_fraction": 0.1,
        "selections": {"bop": {"chosen": "old"}},
        "runs": _runs("bop", [0.5, 0.5]) + _runs("baseline", [0.9, 0.8]),
    }
    update = {
        "data": "digits",
        "epochs": 2,
        "seeds": [0, 1],
        "val_fraction": 0.1,
        "selections": {"bop": {"chosen": "new"}},
        "runs": _runs("bop", [0.7, 0.9]),
    }
    merged = merge_results(previous, update)
    assert [r["variant"] for r in merged["runs"]] == ["baseline"] * 2 + ["bop"] * 2
    rows = {row["variant"]: row for row in merged["summary"]}
    assert rows["baseline"]["test_mean"] == pytest.approx(85.0) and rows["bop"]["test_mean"] == 80.0
    assert rows["bop"]["test_delta"] == pytest.approx(-5.0) and rows["bop"]["chosen"] == "new"
    with pytest.raises(OnebitError, match="seeds"):
        merge_results(previous, {**update, "seeds": [0, 1, 2]})
