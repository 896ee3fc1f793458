"""``onebit experiment bats`` with tiny settings: each network's learning rate chosen on
validation accuracy, the final runs converted and scored in the engine, operation counts and
latency side by side, the report rendered from its JSON alone."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.cli import app
from onebit.data.splits import DataSplits
from onebit.experiments.bats import GRID, VARIANTS, markdown, run_bats_report
from onebit.models.bats_genotype import Genotype

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GENOTYPE = Genotype(
    (
        ("group_conv_3x3", 0),
        ("dil_group_conv_3x3", 1),
        ("skip_connect", 0),
        ("group_conv_5x5", 2),
    ),
    (
        ("max_pool_3x3", 0),
        ("dil_group_conv_5x5", 1),
        ("skip_connect", 1),
        ("avg_pool_3x3", 2),
    ),
    {"dataset": "digits", "minutes": 1.5, "epochs": 1, "threads": 1},
)
TINY = {"channels": 4, "layers": 3, "groups": 2}


def tiny_splits() -> DataSplits:
    full = datasets.load("digits")
    return DataSplits(
        full.name,
        full.x_train[:160],
        full.y_train[:160],
        full.x_test[:60],
        full.y_test[:60],
        full.classes,
    )


@pytest.fixture(scope="module")
def small(one_torch_thread) -> dict:
    return run_bats_report(
        GENOTYPE.to_dict(),
        "digits",
        seeds=(0,),
        epochs=1,
        log=lambda line: None,
        splits=tiny_splits(),
        bats_args=TINY,
    )


def test_each_network_chooses_its_rate_on_validation_then_trains_every_seed(small):
    assert [r["variant"] for r in small["runs"]] == ["searched", "hand-designed"]
    for variant in VARIANTS:
        selection = small["selections"][variant.name]
        grid = selection["candidates"]
        assert [c["name"] for c in grid] == [c.name for c in GRID] and selection["seed"] == 100
        assert selection["chosen"] == max(grid, key=lambda c: c["val_accuracy"])["name"]
        assert all("test" not in key for c in grid for key in c)


def test_the_programs_classify_as_the_models_do(small):
    for run in small["runs"]:
        assert run["test_samples"] == 60
        assert run["predictions_changed"] <= 1  # float rounding may flip a near tie
        assert run["program_test_accuracy"] == pytest.approx(run["test_accuracy"], abs=1 / 60)
        assert run["binary_macs"] > 0 and run["program_bytes"] > 0


def test_the_summary_sets_counts_and_latency_side_by_side(small):
    searched, hand = small["summary"]
    assert (searched["model"], hand["model"]) == ("bats", "mcu-bnn")
    for row in (searched, hand):
        assert row["program_ms"] > 0 and row["torch_ms"] > 0 and row["seeds"] == 1
    assert small["search_minutes"] == 1.5 and small["genotype"] == GENOTYPE.to_dict()
    text = markdown(json.loads(json.dumps({**small, "command": "c", "machine": {}})))
    assert "| searched (`bats`) |" in text and "| hand-designed (`mcu-bnn`) |" in text
    assert (
        "in 1.5 minutes" in text and "| reduce | 1 | skip_connect (1) | avg_pool_3x3 (2) |" in text
    )


def test_refusals_and_the_cli_re_render(tmp_path, small):
    with pytest.raises(OnebitError, match="selects on validation"):
        run_bats_report(GENOTYPE.to_dict(), val_fraction=0.0)
    with pytest.raises(OnebitError, match="other than the selection seed"):
        run_bats_report(GENOTYPE.to_dict(), seeds=(100,))
    saved = {**small, "command": "onebit experiment bats", "machine": {}}
    path = tmp_path / "bats-digits.json"
    path.write_text(json.dumps(saved))
    done = CliRunner().invoke(
        app, ["experiment", "bats", "--from-json", str(path), "--out", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "bats-digits.md").read_text() == markdown(json.loads(path.read_text()))
    missing = CliRunner().invoke(app, ["experiment", "bats", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "give --genotype" in missing.output
