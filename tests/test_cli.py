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
    assert "default_rng(1).permutation(n)" in " ".join(result.stdout.split())


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
    checkpoint = out / "checkpoint.pt"
    ran = run(
        "run",
        str(program),
        "--data",
        "digits",
        "--threads",
        "1",
        "--compare-checkpoint",
        str(checkpoint),
    )
    assert ran.exit_code == 0, ran.output
    reported = float(ran.stdout.split("accuracy ")[1].split("%")[0])
    trained_accuracy = float(trained.stdout.split("test accuracy ")[1].split("%")[0])
    assert reported == trained_accuracy
    assert "batch-1 latency" in ran.stdout
    assert (  # the packed program predicts what the model predicts, sample by sample
        f"packed program vs PyTorch eval of {checkpoint}: 0 of 360 test samples classified "
        "differently" in ran.stdout
    )


def test_compare_checkpoint_counts_the_samples_classified_differently(tmp_path):
    import torch

    from onebit import models
    from onebit.convert import convert
    from onebit.convert.agreement import torch_predictions
    from onebit.data import load
    from onebit.runtime import load as load_program
    from onebit.train import save_checkpoint

    torch.manual_seed(0)
    kwargs = {"input_shape": (1, 8, 8), "num_classes": 10, "hidden": 16, "depth": 1}
    converted, other = (models.create("binarynet-mlp", **kwargs).eval() for _ in range(2))
    path = tmp_path / "m.onebit"
    convert(converted, torch.zeros(1, 1, 8, 8)).save(path)
    checkpoint = tmp_path / "other.pt"
    state = {"model_config": other.onebit_config, "model_state": other.state_dict(), "epoch": 0}
    save_checkpoint(checkpoint, state)
    x_test = load("digits").x_test
    expected = int(
        (load_program(path).predict(x_test) != torch_predictions(checkpoint, x_test)).sum()
    )
    assert expected > 0  # two random models disagree somewhere
    result = run("run", str(path), "--data", "digits", "--compare-checkpoint", str(checkpoint))
    assert result.exit_code == 0, result.output
    assert f": {expected:,} of 360 test samples classified differently" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("convert", "/no/such.pt", "-o", "x.onebit"), "checkpoint not found"),
        (("run", "/no/such.onebit"), "program file not found"),
        (("bench", "bgemm", "--from-json", "/no/such.json"), "/no/such.json"),
        (("bench", "bgemm", "--shape", "64x4096"), "--shape takes MxKxN"),
        (("bench", "zoo", "--baseline", "onnx"), "unknown --baseline ['onnx']"),
        (("bench", "mcu", "--program", "runs/x.onebit"), "--program takes LABEL=PATH"),
        (("export", "c", "/no/such.onebit", "-o", "out"), "program file not found"),
        (("export", "c", "/etc/hostname", "-o", "out"), "not a readable onebit program"),
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


TRAIN = ("train", "binarynet-mlp", "--data", "digits", "--hidden", "16", "--depth", "1")
QUIET = ("--no-progress", "--device", "cpu", "--threads", "1")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-epoch run of TRAIN; tests copy it rather than train again."""
    out = tmp_path_factory.mktemp("cli-run") / "run"
    done = run(*TRAIN, "--epochs", "2", "--out", str(out), *QUIET)
    assert done.exit_code == 0, done.output
    return out


@pytest.fixture
def run_dir(tmp_path, finished_run):
    import shutil

    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path / "run"


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--epochs", "2"),
            "{run} already holds a training run (checkpoint.pt, metrics.csv, metrics.json, "
            "curves.png); pass --resume to continue it or --overwrite to replace it",
        ),
        (("--epochs", "1", "--resume"), "cannot resume {run} for 1 epochs: it already finished 2"),
        (
            ("--epochs", "2", "--resume", "--lr", "0.02", "--seed", "1"),
            "cannot resume {run}/checkpoint.pt with other settings than it was trained with: "
            "lr was 0.01, now 0.02; seed was 0, now 1",
        ),
        (
            ("--epochs", "2", "--resume", "--overwrite"),
            "--resume and --overwrite contradict each other: one continues the run in the "
            "output directory, the other replaces it",
        ),
    ],
)
def test_train_in_an_existing_run_directory_is_one_clear_line(run_dir, extra, message):
    before = (run_dir / "checkpoint.pt").read_bytes()
    result = run(*TRAIN, "--out", str(run_dir), *QUIET, *extra)
    assert one_error_line(result) == message.format(run=run_dir)
    assert (run_dir / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("extra", [(), ("--resume",), ("--overwrite",)])
def test_train_in_a_directory_another_process_holds_is_one_clear_line(run_dir, extra):
    from onebit.train.run_directory import hold_run_directory

    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with hold_run_directory(run_dir):  # flock: another open file conflicts, as another process
        result = run(*TRAIN, "--out", str(run_dir), *QUIET, "--epochs", "3", *extra)
        assert one_error_line(result) == (
            f"another onebit process is training in {run_dir} (lock {run_dir}/.onebit.lock); "
            "wait for it or choose another --out"
        )
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("name", ["checkpoint.pt", "metrics.csv", "metrics.json", "curves.png"])
def test_convert_refuses_to_write_over_a_run_file(run_dir, name):
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    result = run("convert", str(run_dir / "checkpoint.pt"), "-o", str(run_dir / name))
    if name == "checkpoint.pt":
        assert one_error_line(result).endswith(
            "is the checkpoint itself; converting would replace it"
        )
    else:
        assert one_error_line(result) == (
            f"-o {run_dir / name} is a file of the training run in {run_dir}; converting would "
            f"replace it (write e.g. {run_dir}/model.onebit instead)"
        )
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    other = run_dir.parent / "other"
    other.mkdir()
    (other / "checkpoint.pt").write_bytes(before["checkpoint.pt"])
    assert one_error_line(
        run("convert", str(run_dir / "checkpoint.pt"), "-o", str(other / name))
    ).startswith(f"-o {other / name} is a file of the training run in {other}")
    assert run("convert", str(run_dir / "checkpoint.pt"), "-o", str(run_dir)).exit_code == 0


def test_train_refuses_a_run_of_another_model_and_resume_of_nothing(tmp_path, run_dir):
    other = run("train", "float-mlp", "--data", "digits", "--out", str(run_dir), *QUIET)
    assert one_error_line(other).startswith(f"{run_dir} already holds a training run")
    resumed_other = run(*TRAIN[:-2], "--depth", "2", "--out", str(run_dir), *QUIET, "--resume")
    assert one_error_line(resumed_other) == (
        f"{run_dir}/checkpoint.pt holds a different model: binarynet-mlp with depth=1 (this run: 2)"
    )
    new = tmp_path / "new"
    nothing = run(*TRAIN, "--out", str(new), *QUIET, "--resume")
    assert one_error_line(nothing) == f"nothing to resume: {new} holds no checkpoint.pt"


def test_resuming_a_finished_run_says_nothing_to_do_and_rewrites_its_files(run_dir):
    import json

    (run_dir / "metrics.json").write_text("[]")
    (run_dir / "curves.png").unlink()
    result = run(*TRAIN, "--epochs", "2", "--out", str(run_dir), *QUIET, "--resume")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"nothing to do: {run_dir} already finished 2 epochs"
    assert "after 2 epochs" in result.stdout
    assert [row["epoch"] for row in json.loads((run_dir / "metrics.json").read_text())] == [1, 2]
    assert (run_dir / "curves.png").is_file()


def test_overwrite_replaces_the_run(run_dir):
    result = run(*TRAIN, "--epochs", "1", "--out", str(run_dir), *QUIET, "--overwrite")
    assert result.exit_code == 0, result.output
    from onebit.train import load_checkpoint

    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] == 1


def test_a_teacher_of_another_shape_is_one_line(tmp_path):
    from onebit import models
    from onebit.train import save_checkpoint

    teacher = models.create("float-mlp", hidden=8, input_shape=(1, 28, 28), num_classes=10)
    path = tmp_path / "teacher.pt"
    state = {"model_config": teacher.onebit_config, "model_state": teacher.state_dict()}
    save_checkpoint(path, {**state, "epoch": 1})
    result = run(*TRAIN, "--teacher", str(path), "--out", str(tmp_path / "kd"), *QUIET)
    assert one_error_line(result) == (
        f"teacher {path} takes inputs of shape (1, 28, 28), but the data has (1, 8, 8)"
    )


def test_convert_into_a_directory_writes_model_onebit(run_dir):
    result = run("convert", str(run_dir / "checkpoint.pt"), "-o", str(run_dir))
    assert result.exit_code == 0, result.output
    assert (run_dir / "model.onebit").is_file()
    assert f"wrote {run_dir / 'model.onebit'}" in result.stdout


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def write_unreadable(path, kind: str) -> None:
    import pickle

    import torch

    whole = path.with_suffix(".whole")
    torch.save({"format": "onebit-checkpoint", "w": torch.ones(100)}, whole)
    contents = {
        "truncated": lambda: whole.read_bytes()[:-200],
        "random": lambda: bytes(range(256)) * 4,
        "empty": lambda: b"",
        "text": lambda: b"i am a checkpoint\n",  # torch used to say "(105)": ord("i")
        "pickle with code": lambda: pickle.dumps({"format": "onebit-checkpoint", "x": _Exploit()}),
    }
    if kind == "foreign torch file":
        torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    elif kind == "torch file with code":
        torch.save({"format": "onebit-checkpoint", "x": _Exploit()}, path)
    else:
        path.write_bytes(contents[kind]())


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", "truncated or corrupt (a damaged torch zip archive)"),
        ("random", "not a torch file"),
        ("empty", "the file is empty"),
        ("text", "not a torch file"),
        ("pickle with code", "a pickle that is not a torch checkpoint, or holds code (not run)"),
        (
            "torch file with code",
            "it holds pickled objects other than tensors and plain values (not run)",
        ),
        (
            "foreign torch file",
            "a torch file, but not an onebit checkpoint (not written by `onebit train`)",
        ),
    ],
)
def test_convert_reports_an_unreadable_checkpoint_in_one_line(tmp_path, capfd, kind, reason):
    path = tmp_path / "checkpoint.pt"
    write_unreadable(path, kind)
    result = run("convert", str(path), "-o", str(tmp_path / "m.onebit"))
    assert one_error_line(result) == f"cannot read checkpoint {path}: {reason}"
    assert not (tmp_path / "m.onebit").exists()
    assert "must never run" not in capfd.readouterr().out


def test_convert_refuses_a_directory_checkpoint_and_its_own_checkpoint_as_output(run_dir):
    as_checkpoint = run("convert", str(run_dir), "-o", str(run_dir / "m.onebit"))
    assert one_error_line(as_checkpoint) == f"cannot read checkpoint {run_dir}: it is a directory"
    checkpoint = run_dir / "checkpoint.pt"
    before = checkpoint.read_bytes()
    onto_itself = run("convert", str(checkpoint), "-o", str(checkpoint))
    assert one_error_line(onto_itself) == (
        f"-o {checkpoint} is the checkpoint itself; converting would replace it"
    )
    assert checkpoint.read_bytes() == before


def test_train_into_a_file_is_one_line(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    onto_file = run(*TRAIN, "--out", str(path), *QUIET)
    assert one_error_line(onto_file) == f"run directory {path} is a file, not a directory"
    below_file = run(*TRAIN, "--out", str(path / "run"), *QUIET)
    assert one_error_line(below_file) == (
        f"cannot create run directory {path / 'run'}: Not a directory"
    )
    assert path.read_text() == "mine"


def test_run_refuses_a_program_that_is_not_a_classifier(tmp_path):
    from onebit.runtime import Program

    graph = {
        "input": {"name": "input", "shape": [1, 8, 8]},  # the digits dataset's images
        "output": "v1",
        "ops": [{"type": "nchw_to_nhwc", "inputs": ["input"], "output": "v1"}],
    }
    path = tmp_path / "map.onebit"
    Program(graph, {}).save(path)
    result = run("run", str(path), "--data", "digits")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert "accuracy needs a classifier whose output is (N, classes)" in lines[0]
    assert "shape (N, 8, 8, 1)" in lines[0]


@pytest.mark.slow
def test_train_val_fraction_sets_the_validation_split(tmp_path):
    import json

    args = ["train", "binarynet-mlp", "--data", "digits", "--epochs", "1", "--hidden", "16"]
    args += ["--no-progress", "--device", "cpu", "--threads", "1"]
    done = run(*args, "--val-fraction", "0.2", "--out", str(tmp_path / "a"))
    assert done.exit_code == 0, done.output
    assert "validation" in done.stdout and "test accuracy" in done.stdout
    history = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert "val_accuracy" in history[0]
    none = run(*args, "--val-fraction", "0", "--out", str(tmp_path / "b"))
    assert none.exit_code == 0 and "validation" not in none.stdout
    bad = run(*args, "--val-fraction", "1.5", "--out", str(tmp_path / "c"))
    assert bad.exit_code == 2 and "val_fraction must be in [0, 1), got 1.5" in bad.stderr
    help_text = run("train", "--help").stdout
    assert "--val-fraction" in help_text and "validation" in help_text


def wide_help(*args: str):
    """Help at 200 columns: rich cuts words longer than a column at the default 80."""
    return runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"})


def test_help_describes_the_package_and_its_version():
    from importlib.metadata import version

    result = wide_help()
    assert result.exit_code == 0
    assert "(soon)" not in result.stdout and ".onebit programs" in result.stdout
    shown = run("--version")
    assert shown.exit_code == 0 and shown.stdout.strip() == f"onebit {version('onebit')}"


@pytest.mark.parametrize("command", [None, "train", "run", "convert", "summary", "bench"])
def test_boolean_options_are_switches(command):
    result = wide_help(*([command] if command else []))
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "BOOLEAN" not in result.stdout
    if command == "train":
        for switch in (
            "--two-step",
            "--resume",
            "--overwrite",
            "--no-clip-weights",
            "--no-progress",
        ):
            assert switch in result.stdout


def test_train_help_lists_the_registered_choices():
    from onebit import quantizers
    from onebit.models.mlp import NORMS

    result = wide_help("train")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for name in (*quantizers.QUANTIZERS.list(), *NORMS):
        assert name in text


def test_a_float_model_is_not_called_smaller():
    result = run("summary", "float-mlp")
    assert result.exit_code == 0
    assert "not binarized" in result.stdout and "1.0x smaller" not in result.stdout
    binary = run("summary", "binarynet-mlp")
    assert "not binarized" not in binary.stdout


def test_gitignore_covers_what_a_demo_writes():
    from pathlib import Path

    ignored = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().split()
    for pattern in ("*.onebit", "runs/", "*.pt"):
        assert pattern in ignored


def test_converting_a_float_model_does_not_claim_a_size_ratio(tmp_path):
    out = tmp_path / "float"
    trained = run(
        "train", "float-mlp", "--data", "digits", "--hidden", "16", "--depth", "1",
        "--epochs", "1", "--out", str(out), *QUIET,
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "not binarized" in trained.stdout and "1.0x smaller" not in trained.stdout
    converted = run("convert", str(out / "checkpoint.pt"), "-o", str(tmp_path / "f.onebit"))
    assert converted.exit_code == 0, converted.output
    assert "(not binarized)" in converted.stdout and "x smaller" not in converted.stdout
