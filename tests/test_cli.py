from __future__ import annotations

import pytest
from typer.testing import CliRunner

from onebit.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_models_lists_the_registry():
    result = run("models")
    assert result.exit_code == 0
    assert "binarynet-mlp" in result.stdout and "float-mlp" in result.stdout
    assert "float-mlp" not in run("models", "binary*").stdout


def test_datasets_lists_bundled_and_file_loaders():
    result = run("datasets")
    assert result.exit_code == 0
    for name in ("mnist5k", "digits", "mnist", "cifar10", "folder"):
        assert name in result.stdout


def test_summary_prints_totals():
    result = run("summary", "binarynet-mlp")
    assert result.exit_code == 0
    assert "2,910,208" in result.stdout  # 1-bit weights of 784-1024-1024-1024-10
    assert "30.0x smaller" in result.stdout


def test_summary_takes_shape_from_data():
    result = run("summary", "binarynet-mlp", "--data", "digits", "--hidden", "16")
    assert result.exit_code == 0
    assert f"{64 * 16 + 16 * 16 * 2 + 16 * 10:,}" in result.stdout


def test_train_reports_accuracy_and_size(tmp_path):
    out = tmp_path / "run"
    result = run(
        "train",
        "binarynet-mlp",
        "--data",
        "digits",
        "--epochs",
        "2",
        "--hidden",
        "64",
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.stdout and "MB float32" in result.stdout
    assert (out / "checkpoint.pt").is_file()

    resumed = run(
        "train",
        "binarynet-mlp",
        "--data",
        "digits",
        "--epochs",
        "3",
        "--hidden",
        "64",
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
        "--resume",
    )
    assert resumed.exit_code == 0, resumed.output
    assert "after 3 epochs" in resumed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "binarynet-mpl"), "did you mean 'binarynet-mlp'"),
        (("train", "binarynet-mlp", "--data", "mnist5"), "did you mean 'mnist5k'"),
        (
            ("train", "binarynet-mlp", "--data", "mnist", "--data-path", "/no/such/dir"),
            "does not exist",
        ),
        (("train", "binarynet-mlp", "--data", "cifar10"), "give a path"),
        (("train", "float-mlp", "--data", "digits", "--input-quantizer", "ste_sign"), "it takes"),
        (("train", "binarynet-mlp", "--data", "digits", "--lr", "0"), "learning rate"),
        (("summary", "resnet-9000"), "unknown model"),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, message):
    result = run(*args, *(["--out", str(tmp_path)] if args[0] == "train" else []))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in result.output


def test_bad_flag_values_are_refused_by_the_parser():
    result = run("train", "binarynet-mlp", "--epochs", "0")
    assert result.exit_code == 2
    assert "epochs" in result.stderr
