"""``onebit experiment text`` with tiny settings: each network's learning rate chosen on
validation, the final runs converted and scored in the engine, sizes and latency side by side,
the report rendered from its JSON alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from onebit._registry import OnebitError
from onebit.cli import app
from onebit.data.text import text_splits
from onebit.experiments.text import GRID, VARIANTS, markdown, run_text_report

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"embedding_dim": 8, "channels": 8, "layers": 1}
TOPICS = {
    "fruit": ["apple", "pear", "plum", "fig"],
    "tools": ["hammer", "saw", "drill", "wrench"],
    "music": ["guitar", "drum", "piano", "flute"],
}


def tiny_splits():
    rng = np.random.default_rng(0)
    filler = ["the", "a", "of", "with", "new", "small"]

    def texts(n: int):
        out, labels = [], []
        for i in range(n):
            topic = list(TOPICS)[i % 3]
            words = list(rng.choice(TOPICS[topic], 2)) + list(rng.choice(filler, 3))
            rng.shuffle(words)
            out.append(" ".join(words))
            labels.append(topic)
        return out, labels

    return text_splits("tiny-text", texts(150), texts(45), vocab_size=30, seq_len=6)


@pytest.fixture(scope="module")
def small(one_torch_thread) -> dict:
    return run_text_report(
        "tiny-text",
        seeds=(0,),
        epochs=2,
        log=lambda line: None,
        splits=tiny_splits(),
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
    assert binary["test_samples"] == 45
    rows = {r["variant"]: r for r in small["summary"]}
    # the table is packed 1 bit per entry: 30 x 8 bits, far below its 32-bit twin
    assert rows["binary"]["packed_bytes"] < rows["float"]["packed_bytes"]
    assert rows["binary"]["float32_bytes"] == rows["float"]["float32_bytes"]
    assert rows["binary"]["program_ms"] > 0 and rows["binary"]["torch_ms"] > 0
    assert small["dataset"]["seq_len"] == 6 and small["dataset"]["vocab_size"] <= 30
    described = small["dataset"]
    assert (described["train"], described["validation"], described["test"]) == (135, 15, 45)


def test_markdown_comes_from_the_json_alone(small: dict) -> None:
    report = json.loads(json.dumps(small)) | {
        "command": "onebit experiment text",
        "machine": {"cpu": "test cpu", "cores": 2},
    }
    text = markdown(report)
    assert text.startswith("# The binary text CNN against its float twin on tiny-text")
    assert "| binary |" in text and "| float |" in text
    assert "Classes: fruit, music, tools." in text


def test_the_cli_re_renders_a_saved_report(small: dict, tmp_path) -> None:
    saved = json.loads(json.dumps(small)) | {
        "command": "onebit experiment text",
        "machine": {"cpu": "test cpu", "cores": 2},
    }
    path = tmp_path / "text-tiny-text.json"
    path.write_text(json.dumps(saved), "utf-8")
    result = CliRunner().invoke(
        app, ["experiment", "text", "--from-json", str(path), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "text-tiny-text.md").exists()


def test_image_data_is_refused() -> None:
    from onebit import data as datasets

    with pytest.raises(OnebitError, match="digits is not a text dataset"):
        run_text_report("digits", seeds=(0,), epochs=1, splits=datasets.load("digits"))
