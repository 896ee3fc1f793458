"""``onebit experiment landmarks`` with tiny settings: the learning rate chosen on validation
NME per variant, the final runs converted and their heatmaps compared with the models', the
report rendered from its JSON alone."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.cli import app
from onebit.data.landmarks import LandmarkSplits
from onebit.experiments.landmarks import GRID, VARIANTS, markdown, run_landmarks, summarize

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"features": 8, "depth": 1, "stem_width": 4}


def tiny_splits() -> LandmarkSplits:
    """mnist-landmarks at half its side (every second pixel; pixel 2j becomes pixel j)."""
    full = datasets.load("mnist-landmarks")
    return LandmarkSplits(
        full.name,
        full.x_train[:120, :, ::2, ::2].copy(),
        full.points_train[:120] / 2,
        full.x_test[:40, :, ::2, ::2].copy(),
        full.points_test[:40] / 2,
        full.landmarks,
    )


@pytest.fixture(scope="module")
def small(one_torch_thread) -> dict:
    return run_landmarks(
        "mnist-landmarks",
        seeds=(0,),
        epochs=1,
        log=lambda line: None,
        splits=tiny_splits(),
        model_args=TINY,
    )


def test_each_variant_chooses_its_rate_by_validation_nme_then_trains_every_seed(small):
    assert [r["variant"] for r in small["runs"]] == ["binary", "float"]
    for variant in VARIANTS:
        selection = small["selections"][variant.name]
        grid = selection["candidates"]
        assert [c["name"] for c in grid] == [c.name for c in GRID] and selection["seed"] == 100
        best = min(grid, key=lambda c: c["val_nme"])  # min keeps the first of equals
        assert selection["chosen"] == best["name"]
        assert all("test" not in key for c in grid for key in c)
        run = next(r for r in small["runs"] if r["variant"] == variant.name)
        assert run["lr"] == selection["chosen_settings"]["lr"]
    for run in small["runs"]:
        assert run["test_points"] == 40 * 5 and 0 <= run["points_moved"] <= run["test_points"]
        assert 0 <= run["program_test_pck"] <= 1 and len(run["history"]) == 1
        assert run["program_bytes"] > 0


def test_the_binary_program_gives_the_models_heatmaps(small):
    binary = next(r for r in small["runs"] if r["variant"] == "binary")
    assert binary["heatmap_max_difference"] < 1e-3
    assert binary["program_test_nme"] == pytest.approx(binary["test_nme"], abs=1e-3)


def test_the_summary_compares_with_the_float_twin_and_times_both(small):
    binary, twin = small["summary"]
    assert (binary["variant"], twin["variant"]) == ("binary", "float")
    assert twin["test_nme_delta"] == 0.0
    assert binary["test_nme_delta"] == pytest.approx(
        binary["test_nme_mean"] - twin["test_nme_mean"]
    )
    assert binary["parameters"] == twin["parameters"]
    for row in (binary, twin):
        assert row["program_ms"] > 0 and row["torch_ms"] > 0 and row["threads"] == 1
        assert row["seeds"] == 1 and row["test_nme_std"] == 0.0
    rows = summarize(small["runs"][:1], small["selections"], small["latency"])
    assert [r["variant"] for r in rows] == ["binary"] and rows[0]["test_nme_delta"] is None


def test_the_markdown_comes_from_the_json(small):
    report = json.loads(
        json.dumps({**small, "command": "onebit experiment landmarks", "machine": {}})
    )
    text = markdown(report)
    assert "Remake with `onebit experiment landmarks`" in text
    assert "32x32 images with 5 landmarks" in text
    assert text.count("| binary |") == 2 and text.count("| float |") == 2
    for selection in small["selections"].values():
        for candidate in selection["candidates"]:
            assert f"| {candidate['name']} | {100 * candidate['val_nme']:.2f} |" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 0.0}, "selects on validation"),
        ({"seeds": ()}, "at least one seed"),
        ({"seeds": (100,)}, "also a final seed"),
        ({"data": "digits"}, "not a landmark set"),
    ],
)
def test_refusals(kwargs, message):
    with pytest.raises(OnebitError, match=message):
        run_landmarks(**kwargs)


def test_the_cli_re_renders_a_saved_report(tmp_path, small):
    saved = {**small, "command": "onebit experiment landmarks", "machine": {}}
    path = tmp_path / "landmarks-mnist-landmarks.json"
    path.write_text(json.dumps(saved))
    done = CliRunner().invoke(
        app, ["experiment", "landmarks", "--from-json", str(path), "--out", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "landmarks-mnist-landmarks.md").read_text() == markdown(
        json.loads(path.read_text())
    )


def test_a_refused_conversion_is_reported_not_fatal(small):
    runs = [dict(r) for r in small["runs"]]
    refusal = "the converted program is refused by the runtime: op 'v7' (affine): ..."
    for run in runs:
        if run["variant"] == "float":
            for key in PROGRAM_KEYS:
                del run[key]
            run["program_refused"] = refusal
    latency = {**small["latency"], "float": {**small["latency"]["float"], "program_ms": None}}
    binary, twin = summarize(runs, small["selections"], latency)
    assert twin["program_refused"] == refusal and "program_refused" not in binary
    assert not any(key.startswith("program_test") for key in twin)
    assert twin["test_nme_mean"] == pytest.approx(100 * runs[1]["test_nme"])
    report = {**small, "runs": runs, "latency": latency, "summary": [binary, twin]}
    text = markdown(json.loads(json.dumps({**report, "command": "c", "machine": {}})))
    assert f"The float network's conversion was refused: {refusal}" in text
    float_rows = [line for line in text.splitlines() if line.startswith("| float |")]
    assert len(float_rows) == 2 and all("refused" in row for row in float_rows)


PROGRAM_KEYS = (
    "program_test_nme",
    "program_test_pck",
    "heatmap_max_difference",
    "points_moved",
    "program_bytes",
)


def test_a_run_whose_float_twin_the_engine_refuses_completes(monkeypatch):
    # The float twin of a deeper hourglass passes the runtime's static value bound; here the
    # refusal is forced for the float variant, and the run must still report both.
    import onebit.experiments.landmarks as experiment
    from onebit.convert import ConversionError

    real_convert = experiment.convert

    def convert(model, example):
        if not model.binary:
            raise ConversionError("the converted program is refused by the runtime: too large")
        return real_convert(model, example)

    monkeypatch.setattr(experiment, "convert", convert)
    lines = []
    report = run_landmarks(
        "mnist-landmarks",
        seeds=(0,),
        epochs=1,
        log=lines.append,
        splits=tiny_splits(),
        model_args=TINY,
    )
    binary, twin = report["summary"]
    assert twin["program_refused"].endswith("too large") and twin["program_ms"] is None
    assert "program_refused" not in binary and binary["program_ms"] > 0
    assert any("program refused" in line for line in lines)
    assert any(line.startswith("float: no program") for line in lines)
    text = markdown(json.loads(json.dumps({**report, "command": "c", "machine": {}})))
    assert "The float network's conversion was refused" in text
