"""``onebit experiment speech`` with tiny settings: each network's learning rate chosen on
validation (held-out speakers), the final runs converted and scored in the engine, sizes, the
latency per clip and the frontend's time beside it, the report rendered from its JSON alone."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from keyword_clips import tone_splits
from onebit._registry import OnebitError
from onebit.cli import app
from onebit.experiments.speech import GRID, VARIANTS, markdown, run_speech_report

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"channels": [8, 8, 8, 8]}


@pytest.fixture(scope="module")
def small(one_torch_thread) -> dict:
    return run_speech_report(
        "tones",
        seeds=(0,),
        epochs=1,
        log=lambda line: None,
        val_fraction=0.2,
        splits=tone_splits(train_speakers=6, test_speakers=2, repeats=3),
        model_args=TINY,
    )


def test_each_network_is_selected_on_validation_then_trained_and_run(small: dict) -> None:
    assert set(small["selections"]) == set(VARIANTS)
    for selection in small["selections"].values():
        assert [c["name"] for c in selection["candidates"]] == [c.name for c in GRID]
        assert selection["seed"] == 100
    binary = next(r for r in small["runs"] if r["variant"] == "binary")
    assert binary["predictions_changed"] == 0  # the program classifies as the model
    assert binary["program_test_accuracy"] == pytest.approx(binary["test_accuracy"])
    assert binary["test_samples"] == 18
    rows = {r["variant"]: r for r in small["summary"]}
    assert rows["binary"]["packed_bytes"] < rows["float"]["packed_bytes"] / 8
    assert rows["binary"]["float32_bytes"] == rows["float"]["float32_bytes"]
    assert rows["binary"]["program_ms"] > 0 and rows["binary"]["torch_ms"] > 0
    assert small["frontend_latency"]["frontend_ms"] > 0
    assert small["frontend"]["shape"] == [40, 49] and small["frontend"]["hop_ms"] == 20


def test_the_splits_hold_out_whole_speakers(small: dict) -> None:
    groups = small["dataset"]["groups"]
    assert groups["test"] == ["speaker6", "speaker7"]
    assert len(groups["val"]) == 1 and len(groups["train"]) == 5
    assert not set(groups["val"]) & set(groups["train"])
    assert small["dataset"]["validation"] == 9 and small["dataset"]["train"] == 45


def test_markdown_comes_from_the_json_alone(small: dict) -> None:
    report = json.loads(json.dumps(small)) | {
        "command": "onebit experiment speech",
        "machine": {"cpu": "test cpu", "cores": 2},
    }
    text = markdown(report)
    assert text.startswith("# The binary keyword spotter against its float twin on tones")
    assert "does not include the log-mel frontend" in text
    assert "| binary |" in text and "| float |" in text
    assert "speaker6, speaker7" in text


def test_bad_settings_are_refused() -> None:
    splits = tone_splits(train_speakers=3, test_speakers=1, repeats=1)
    with pytest.raises(OnebitError, match="selects on validation"):
        run_speech_report("tones", val_fraction=0.0, splits=splits)
    with pytest.raises(OnebitError, match="other than the selection seed"):
        run_speech_report("tones", seeds=(100,), splits=splits)
    with pytest.raises(OnebitError, match="not a keyword dataset"):
        run_speech_report("digits", seeds=(0,))


def test_the_cli_rerenders_a_saved_report(small: dict, tmp_path) -> None:
    saved = json.loads(json.dumps(small)) | {
        "command": "onebit experiment speech",
        "machine": {"cpu": "test cpu", "cores": 2},
    }
    path = tmp_path / "speech-tones.json"
    path.write_text(json.dumps(saved))
    result = CliRunner().invoke(
        app, ["experiment", "speech", "--from-json", str(path), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "speech-tones.md").read_text().startswith("# The binary keyword")
