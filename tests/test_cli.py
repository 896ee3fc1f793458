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


def test_convert_then_run_a_trained_checkpoint(tmp_path):
    out = tmp_path / "run"
    trained = run(
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
    assert trained.exit_code == 0, trained.output
    program = tmp_path / "model.onebit"
    converted = run("convert", str(out / "checkpoint.pt"), "-o", str(program))
    assert converted.exit_code == 0, converted.output
    assert program.is_file() and "x smaller" in converted.stdout
    ran = run("run", str(program), "--data", "digits", "--threads", "1")
    assert ran.exit_code == 0, ran.output
    reported = float(ran.stdout.split("accuracy ")[1].split("%")[0])
    trained_accuracy = float(trained.stdout.split("test accuracy ")[1].split("%")[0])
    assert reported == trained_accuracy  # the packed program predicts what the model predicts
    assert "batch-1 latency" in ran.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("convert", "/no/such.pt", "-o", "x.onebit"), "checkpoint not found"),
        (("run", "/no/such.onebit"), "program file not found"),
        (("bench", "gpu"), "unknown benchmark 'gpu'; known: mlp, bgemm, bconv2d, zoo, all"),
    ],
)
def test_engine_commands_report_bad_paths_in_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_run_refuses_data_of_another_shape(tmp_path):
    import torch

    from onebit import models
    from onebit.convert import convert

    path = tmp_path / "m.onebit"
    convert(
        models.create("binarynet-mlp", hidden=16, depth=1).eval(), torch.zeros(1, 1, 28, 28)
    ).save(path)
    result = run("run", str(path), "--data", "digits")
    assert result.exit_code == 2 and "takes inputs of shape (1, 28, 28)" in result.stderr
