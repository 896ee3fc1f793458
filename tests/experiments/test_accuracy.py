"""The accuracy experiment: the float twin's recipe chosen on validation, rows with val and test."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onebit.cli import app
from onebit.experiments.accuracy import FLOAT_GRID, markdown

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_a_tiny_accuracy_experiment_end_to_end(tmp_path):
    out = tmp_path / "report"
    args = ["experiment", "accuracy", "--data", "digits", "--seeds", "0", "--epochs", "1"]
    done = CliRunner().invoke(app, [*args, "--hidden", "16", "--out", str(out)])
    assert done.exit_code == 0, done.output
    report = json.loads((out / "mlp_accuracy.json").read_text())
    assert report["machine"]["cpu"] and report["val_fraction"] == 0.1
    (selection,) = report["selections"]
    assert len(selection["candidates"]) == len(FLOAT_GRID) <= 4
    best = max(selection["candidates"], key=lambda c: c["val_accuracy"])
    assert selection["chosen"] == best["name"] and selection["model"] == "float-mlp"
    assert len(report["runs"]) == 2  # one per model; the selection runs are not among them
    rows = {row["model"]: row for row in report["summary"]}
    binary, twin = rows["binarynet-mlp"], rows["float-mlp"]
    assert binary["settings"] == "lr 0.01, dropout 0, shift 0" and not binary["tuned_on_validation"]
    assert twin["settings"].startswith(best["name"]) and twin["tuned_on_validation"]
    assert binary["test_gap_to_float"] == pytest.approx(twin["test_mean"] - binary["test_mean"])
    assert all(0 < row["val_mean"] <= 100 and 0 < row["test_mean"] <= 100 for row in rows.values())
    md = (out / "mlp_accuracy.md").read_text()
    assert md == markdown(report)  # the Markdown comes from the JSON alone
    assert "| validation mean ± std (%) | test mean ± std (%) |" in md
    for candidate in selection["candidates"]:
        assert f"| {candidate['name']} | {100 * candidate['val_accuracy']:.2f} |" in md
    (out / "mlp_accuracy.md").unlink()
    again = CliRunner().invoke(
        app,
        [
            "experiment",
            "accuracy",
            "--from-json",
            str(out / "mlp_accuracy.json"),
            "--out",
            str(out),
        ],
    )
    assert again.exit_code == 0 and (out / "mlp_accuracy.md").read_text() == md


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data", "mnist5k,cifar"), "unknown dataset(s) ['cifar']"),
        (("--seeds", "0,x"), "comma-separated integers"),
    ],
)
def test_cli_refuses_bad_arguments(args, message):
    done = CliRunner().invoke(app, ["experiment", "accuracy", *args])
    assert done.exit_code == 2 and message in done.stderr


def test_from_json_refuses_a_file_that_is_not_a_report(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{}")
    done = CliRunner().invoke(app, ["experiment", "accuracy", "--from-json", str(path)])
    assert done.exit_code == 2 and "is not a report of this experiment" in done.stderr
