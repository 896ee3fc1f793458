"""The Bit-Mixer experiment: learning rates chosen on validation, each setting against its
fixed-precision network, and a report rendered from its JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onebit.cli import app
from onebit.experiments.bitmixer import (
    EPOCH_FACTORS,
    LEARNING_RATES,
    MIXER_RECIPES,
    markdown,
    recipe,
    recipe_name,
    settings_for,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_settings_are_the_uniform_widths_and_two_mixed_ones() -> None:
    assert settings_for(3) == {
        "uniform 2": (2, 2, 2),
        "uniform 3": (3, 3, 3),
        "uniform 4": (4, 4, 4),
        "mixed 2-3-4": (2, 3, 4),
        "mixed 4-3-2": (4, 3, 2),
    }


def test_only_the_bitmixer_network_gets_the_step_recipe() -> None:
    mixer = recipe("digits", 0, 3, 0.01, {}, 0.1, True, mixer_samples=2, mixer_distill=True)
    assert mixer.bit_mixer and mixer.mixer_samples == 2 and mixer.mixer_distill
    fixed = recipe("digits", 0, 3, 0.01, {"train_bits": (2, 2, 2)}, 0.1, False, 2, True)
    assert not fixed.bit_mixer and fixed.mixer_samples == 0 and not fixed.mixer_distill
    fixed.validate()
    settings = {"lr": 0.01, "mixer_samples": 1, "mixer_distill": True}
    assert recipe_name(settings) == "lr 0.01, widest + 1 drawn, distilled"
    assert recipe_name({"lr": 0.003}) == "lr 0.003"
    assert recipe_name({"lr": 0.003, "epochs": 60}) == "lr 0.003, 60 epochs"
    assert recipe_name({"lr": 0.003, "mixer_samples": 0}) == "lr 0.003, one drawn (paper)"
    sandwich = {"lr": 0.01, "mixer_samples": 2, "mixer_narrowest": True}
    assert recipe_name(sandwich) == "lr 0.01, widest + narrowest + 1 drawn, labels"
    assert recipe("digits", 0, 3, 0.01, {}, 0.1, True, 2, False, True).mixer_narrowest
    stretched = {"lr": 0.01, "epochs": 60, "mixer_samples": 0, "mixer_stages": [1, 1, 4]}
    assert recipe_name(stretched) == "lr 0.01, 60 epochs, one drawn (paper), stages 1:1:4"
    assert recipe("digits", 0, 6, 0.01, {}, 0.1, True, mixer_stages=(1, 1, 4)).mixer_stages == (
        1,
        1,
        4,
    )
    assert recipe("digits", 0, 6, 0.01, {}, 0.1, False, mixer_stages=(1, 1, 4)).mixer_stages == (
        1,
        1,
        1,
    )
    for bit_mixer in (True, False):  # augmentation is both networks' alike
        assert recipe("digits", 0, 3, 0.01, {}, 0.1, bit_mixer, augment_shift=1).augment_shift == 1


@pytest.mark.slow
def test_a_tiny_bitmixer_experiment_end_to_end(tmp_path) -> None:
    out = tmp_path / "report"
    args = ["experiment", "bitmixer", "--data", "digits", "--seeds", "0", "--epochs", "3"]
    args += ["--hidden", "16", "--calibrate", "--augment-shift", "1"]
    done = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    report = json.loads((out / "bitmixer-digits.json").read_text())
    assert report["machine"]["cpu"] and report["val_fraction"] == 0.1
    assert set(report["selection"]) == {"seed", "bit-mixer", *settings_for(3)}
    assert report["calibrated_norms"] and report["augment_shift"] == 1
    assert report["command"].endswith("--calibrate --augment-shift 1")
    grid = len(LEARNING_RATES) * len(EPOCH_FACTORS)
    assert report["epoch_choices"] == [3 * factor for factor in EPOCH_FACTORS]
    fixed_val = {}
    for name, selection in report["selection"].items():
        if name not in ("seed", "bit-mixer"):
            assert len(selection["candidates"]) == grid
            assert selection["chosen_settings"]["epochs"] in report["epoch_choices"]
            (chosen,) = (c for c in selection["candidates"] if c["name"] == selection["chosen"])
            fixed_val[name] = chosen["val_accuracy"]
    mixer = report["selection"]["bit-mixer"]
    assert len(mixer["candidates"]) == grid * len(MIXER_RECIPES)
    assert "mixer_samples" in mixer["chosen_settings"] and "worst-setting" in mixer["rule"]
    best = max(mixer["candidates"], key=lambda c: (c["val_worst_margin"], c["val_accuracy"]))
    assert mixer["chosen"] == best["name"]
    fixed_mean = sum(fixed_val.values()) / len(fixed_val)
    for c in mixer["candidates"]:  # the worst margin is at most the mean one
        assert c["val_worst_margin"] <= 100 * (c["val_accuracy"] - fixed_mean) + 1e-9
    assert len(report["runs"]) == 5  # one seed, five settings; selection runs are not among them
    for row in report["summary"]:
        assert row["gap_points"] == pytest.approx(
            row["fixed_test"]["mean"] - row["mixer_test"]["mean"]
        )
        assert row["within_target"] == (row["gap_points"] <= 0.5)
    md = (out / "bitmixer-digits.md").read_text()
    assert md == markdown(report)
    assert "| setting | widths | Bit-Mixer val (%)" in md
    assert "## The engine: one switched program" in md
    assert "shifted by up to 1 pixel(s) at random (both networks alike)" in md
    assert all(r["mixer_ms"] > 0 and r["fixed_ms"] > 0 for r in report["runs"])
    (sizes,) = report["programs"]
    assert sizes["switched_packed"] < sizes["fixed_packed"]  # the weights once, not per setting
    assert report["input_quantization"] == [1 / 16, 0]
    (out / "bitmixer-digits.md").unlink()
    again = CliRunner().invoke(
        app,
        [
            "experiment",
            "bitmixer",
            "--from-json",
            str(out / "bitmixer-digits.json"),
            "--out",
            str(out),
        ],
    )
    assert again.exit_code == 0 and (out / "bitmixer-digits.md").read_text() == md
