"""The Bit-Mixer experiment: learning rates chosen on validation, each setting against its
fixed-precision network, and a report rendered from its JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onebit.cli import app
from onebit.experiments.bitmixer import LEARNING_RATES, markdown, settings_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_settings_are_the_uniform_widths_and_two_mixed_ones() -> None:
    assert settings_for(3) == {
        "uniform 2": (2, 2, 2),
        "uniform 3": (3, 3, 3),
        "uniform 4": (4, 4, 4),
        "mixed 2-3-4": (2, 3, 4),
        "mixed 4-3-2": (4, 3, 2),
    }


@pytest.mark.slow
def test_a_tiny_bitmixer_experiment_end_to_end(tmp_path) -> None:
    out = tmp_path / "report"
    args = ["experiment", "bitmixer", "--data", "digits", "--seeds", "0", "--epochs", "3"]
    done = CliRunner().invoke(app, [*args, "--hidden", "16", "--out", str(out)])
    assert done.exit_code == 0, done.output
    report = json.loads((out / "bitmixer-digits.json").read_text())
    assert report["machine"]["cpu"] and report["val_fraction"] == 0.1
    assert set(report["selection"]) == {"seed", "bit-mixer", *settings_for(3)}
    for name, selection in report["selection"].items():
        if name != "seed":
            assert len(selection["candidates"]) == len(LEARNING_RATES)
    assert len(report["runs"]) == 5  # one seed, five settings; selection runs are not among them
    for row in report["summary"]:
        assert row["gap_points"] == pytest.approx(
            row["fixed_test"]["mean"] - row["mixer_test"]["mean"]
        )
        assert row["within_target"] == (row["gap_points"] <= 0.5)
    md = (out / "bitmixer-digits.md").read_text()
    assert md == markdown(report)
    assert "| setting | widths | Bit-Mixer val (%)" in md
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
