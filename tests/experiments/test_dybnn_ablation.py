"""``onebit experiment dybnn`` with tiny settings: the learning rate chosen on validation per
variant, the final runs converted and compared with their models, the report rendered from its
JSON alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.cli import app
from onebit.experiments.dybnn import GRID, VARIANTS, markdown, run_dybnn, summarize

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small(one_torch_thread) -> dict:
    full = datasets.load("digits")
    splits = datasets.DataSplits(
        "digits",
        full.x_train[:300],
        full.y_train[:300],
        full.x_test[:80],
        full.y_test[:80],
        full.classes,
    )
    return run_dybnn("digits", seeds=(0,), epochs=1, log=lambda line: None, splits=splits)


def test_each_variant_chooses_its_rate_on_validation_then_trains_every_seed(small):
    assert [r["variant"] for r in small["runs"]] == ["static", "dynamic"]
    assert [r["model"] for r in small["runs"]] == ["reactnet-mini", "dybnn-mini"]
    for variant in VARIANTS:
        selection = small["selections"][variant.name]
        grid = selection["candidates"]
        assert [c["name"] for c in grid] == [c.name for c in GRID] and selection["seed"] == 0
        best = max(grid, key=lambda c: c["val_accuracy"])  # max keeps the first of equals
        assert selection["chosen"] == best["name"]
        run = next(r for r in small["runs"] if r["variant"] == variant.name)
        assert run["lr"] == selection["chosen_settings"]["lr"]
    for run in small["runs"]:
        assert run["test_images"] == 80 and 0 <= run["program_differs"] <= 80
        assert 0 <= run["program_test_accuracy"] <= 1 and len(run["history"]) == 1


def test_the_summary_compares_with_the_static_variant_and_times_both(small):
    static, dynamic = small["summary"]
    assert (static["variant"], dynamic["variant"]) == ("static", "dynamic")
    assert static["test_delta"] == 0.0
    assert dynamic["test_delta"] == pytest.approx(dynamic["test_mean"] - static["test_mean"])
    assert dynamic["parameters"] > static["parameters"]
    for row in (static, dynamic):
        assert row["program_ms"] > 0 and row["torch_ms"] > 0 and row["threads"] == 1
        assert row["seeds"] == 1 and row["val_std"] == 0.0


def test_the_markdown_comes_from_the_json(small):
    report = json.loads(json.dumps({**small, "command": "onebit experiment dybnn", "machine": {}}))
    text = markdown(report)
    assert "Remake with `onebit experiment dybnn`" in text
    assert "| static | `reactnet-mini` |" in text and "| dynamic | `dybnn-mini` |" in text
    assert "**Test accuracy, mean ± std of 1 seeds: dynamic" in text
    for name in small["selections"]:
        for candidate in small["selections"][name]["candidates"]:
            assert f"| {name} | 0 | {candidate['name']} |" in text


def test_summarize_without_a_static_run_has_no_delta(small):
    runs = [r for r in small["runs"] if r["variant"] == "dynamic"]
    rows = summarize(runs, small["selections"], small["latency"])
    assert [r["variant"] for r in rows] == ["dynamic"] and rows[0]["test_delta"] is None


def test_a_validation_split_is_required():
    with pytest.raises(OnebitError, match="selects on validation"):
        run_dybnn("digits", val_fraction=0.0)


@pytest.mark.slow
def test_the_cli_writes_a_run_local_report_and_re_renders_it_from_json(tmp_path):
    out = tmp_path / "report"
    args = ["experiment", "dybnn", "--data", "digits", "--seeds", "0", "--epochs", "1"]
    done = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    md = out / "dybnn-digits.md"
    first = md.read_text()
    command = f"onebit experiment dybnn --data digits --seeds 0 --epochs 1 --out {out}"
    assert f"Remake with `{command}`" in first
    saved = json.loads((out / "dybnn-digits.json").read_text())
    assert saved["command"] == command and saved["machine"]["cpu"]
    md.unlink()
    saved_json = str(out / "dybnn-digits.json")
    again = CliRunner().invoke(
        app, ["experiment", "dybnn", "--from-json", saved_json, "--out", str(out)]
    )
    assert again.exit_code == 0 and md.read_text() == first


def test_the_default_report_directory_is_run_local():
    import inspect

    from onebit.cli import dybnn

    assert inspect.signature(dybnn).parameters["out"].default == Path("runs/dybnn")
