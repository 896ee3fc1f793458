"""What a run may do in an existing run directory, through the library (the CLI's rules too)."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from onebit import OnebitError
from onebit.train import TrainConfig, fit, load_checkpoint
from onebit.train.loop import CHECKPOINT_NAME
from onebit.train.run_directory import (
    LOCK_NAME,
    RUN_FILES,
    hold_run_directory,
    remove_stale_temporaries,
)


def config(tmp_path, **overrides) -> TrainConfig:
    settings = dict(
        model="binarynet-mlp",
        data="digits",
        model_kwargs={"hidden": 32, "depth": 1},
        epochs=2,
        batch_size=50,
        lr=0.01,
        seed=1,
        out_dir=str(tmp_path / "run"),
        device="cpu",
        progress=False,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, small_digits):
    """A finished 2-epoch run; tests copy it rather than train again."""
    base = tmp_path_factory.mktemp("finished")
    fit(config(base), small_digits)
    return base / "run"


@pytest.fixture
def run_dir(tmp_path, finished_run):
    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path / "run"


def test_a_run_directory_is_not_replaced_without_overwrite(tmp_path, run_dir, small_digits):
    before = (run_dir / CHECKPOINT_NAME).read_bytes()
    other_model = config(tmp_path, model="float-mlp", model_kwargs={"hidden": 8})
    with pytest.raises(OnebitError) as error:
        fit(other_model, small_digits)
    assert str(error.value) == (
        f"{run_dir} already holds a training run (checkpoint.pt, metrics.csv, metrics.json, "
        "curves.png); pass --resume to continue it or --overwrite to replace it"
    )
    assert (run_dir / CHECKPOINT_NAME).read_bytes() == before

    (tmp_path / "empty").mkdir()
    fit(config(tmp_path, epochs=1, out_dir=str(tmp_path / "empty")), small_digits)  # empty: fine


def test_metrics_files_alone_count_as_a_run(tmp_path, small_digits):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("[]")
    with pytest.raises(OnebitError, match=r"already holds a training run \(metrics.json\)"):
        fit(config(tmp_path), small_digits)


def test_overwrite_keeps_the_old_run_until_the_first_new_checkpoint(
    tmp_path, run_dir, small_digits, monkeypatch
):
    old = {name: (run_dir / name).read_bytes() for name in RUN_FILES}

    def disk_full(path, state):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("onebit.train.loop.save_checkpoint", disk_full)
    replacing = config(tmp_path, model="float-mlp", model_kwargs={"hidden": 8}, overwrite=True)
    with pytest.raises(OSError, match="No space"):
        fit(replacing, small_digits)
    assert {name: (run_dir / name).read_bytes() for name in RUN_FILES} == old
    monkeypatch.undo()

    result = fit(replacing, small_digits)
    assert load_checkpoint(run_dir / CHECKPOINT_NAME)["model_config"]["name"] == "float-mlp"
    assert json.loads((run_dir / "metrics.json").read_text()) == result.history
    assert (run_dir / "curves.png").read_bytes() != old["curves.png"]


def test_resume_needs_a_checkpoint(tmp_path, small_digits):
    with pytest.raises(OnebitError) as error:
        fit(config(tmp_path, resume=True), small_digits)
    assert str(error.value) == f"nothing to resume: {tmp_path / 'run'} holds no checkpoint.pt"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lr": 0.02}, "lr was 0.01, now 0.02"),
        ({"seed": 2, "batch_size": 40}, "batch_size was 50, now 40; seed was 1, now 2"),
        ({"schedule": "constant"}, "schedule was 'cosine', now 'constant'"),
        ({"val_fraction": 0.2}, "val_fraction was 0.1, now 0.2"),
        ({"epochs": 1}, "cannot resume {run} for 1 epochs: it already finished 2"),
        ({"overwrite": True}, "--resume and --overwrite contradict each other"),
        (
            {"model_kwargs": {"hidden": 16, "depth": 1}},
            "holds a different model: binarynet-mlp with hidden=32 (this run: 16)",
        ),
        ({"model": "float-mlp"}, "a different model: binarynet-mlp, this run builds float-mlp"),
    ],
)
def test_resume_refuses_other_settings(tmp_path, run_dir, small_digits, overrides, message):
    before = (run_dir / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(OnebitError) as error:
        fit(config(tmp_path, resume=True, **overrides), small_digits)
    assert message.format(run=run_dir) in str(error.value)
    assert "\n" not in str(error.value)
    assert (run_dir / CHECKPOINT_NAME).read_bytes() == before


def test_resuming_a_finished_run_rewrites_metrics_and_curves(run_dir, small_digits, capsys):
    history = load_checkpoint(run_dir / CHECKPOINT_NAME)["history"]
    (run_dir / "metrics.json").write_text("[]")
    (run_dir / "metrics.csv").write_text("stale\n")
    (run_dir / "curves.png").unlink()
    result = fit(config(run_dir.parent, resume=True), small_digits)
    assert result.trained_epochs == 0 and result.history == history
    assert capsys.readouterr().err.strip() == f"nothing to do: {run_dir} already finished 2 epochs"
    assert json.loads((run_dir / "metrics.json").read_text()) == history
    assert (run_dir / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_more_epochs_re_plan_the_schedule(run_dir, small_digits, capsys):
    result = fit(config(run_dir.parent, resume=True, epochs=4), small_digits)
    assert result.trained_epochs == 2 and [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    note = capsys.readouterr().err.strip()
    assert note == (
        f"note: {run_dir} was planned for 2 epochs and now runs to 4: the cosine schedule is "
        "re-planned over 4 epochs, so the learning rate goes on from epoch 3 at 0.005 "
        "(the old plan: 0)"
    )
    # the rates a 4-epoch cosine run has after epochs 3 and 4: 0.01 * (1 + cos(pi * e / 4)) / 2
    for row in result.history[2:]:
        expected = 0.01 * (1 + math.cos(math.pi * row["epoch"] / 4)) / 2
        assert row["lr"] == pytest.approx(expected, abs=1e-12)
    assert load_checkpoint(run_dir / CHECKPOINT_NAME)["train_config"]["epochs"] == 4


def test_more_epochs_of_a_constant_schedule_equal_a_longer_run(tmp_path, small_digits, capsys):
    longer = fit(config(tmp_path, epochs=3, schedule="constant", out_dir=None), small_digits)
    fit(config(tmp_path / "b", epochs=2, schedule="constant"), small_digits)
    extended = fit(config(tmp_path / "b", epochs=3, schedule="constant", resume=True), small_digits)
    assert capsys.readouterr().err == ""  # nothing changed, nothing to note
    for key, value in longer.model.state_dict().items():
        assert torch.equal(value, extended.model.state_dict()[key]), key


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path, run_dir, small_digits):
    stale = [".checkpoint.pt.k3j9x_2a.tmp", ".metrics.csv.aaaaaaaa.tmp", ".curves.png.0a1b2c3d.png"]
    kept = [".checkpoint.pt.notes", "notes.tmp", ".metrics.json.toolongname.tmp", "model.onebit"]
    for name in stale + kept:
        (run_dir / name).write_bytes(b"x" * 100)
    fit(config(tmp_path, resume=True), small_digits)
    names = {p.name for p in run_dir.iterdir()}
    assert not names & set(stale)
    assert set(kept) <= names

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / stale[0]).write_bytes(b"half")
    fit(config(tmp_path, epochs=1, out_dir=str(fresh)), small_digits)
    assert not (fresh / stale[0]).exists()
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_a_file_is_not_a_run_directory(tmp_path, small_digits):
    (tmp_path / "run").write_text("x")
    with pytest.raises(OnebitError, match=r"run directory .*run is a file, not a directory$"):
        fit(config(tmp_path), small_digits)


def test_a_two_step_run_resumes_into_its_second_step(tmp_path, small_digits):
    two_step = config(tmp_path, epochs=2, two_step=True)
    whole = fit(two_step, small_digits).model.state_dict()
    shutil.rmtree(tmp_path / "run" / "step2")  # as if killed before step 2's first checkpoint
    two_step.resume = True
    resumed = fit(two_step, small_digits)
    assert resumed.trained_epochs == 1
    for key, value in whole.items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_a_teacher_of_another_shape_is_refused(tmp_path, small_digits):
    from onebit import models
    from onebit.train import save_checkpoint

    def teacher(name: str, **kwargs) -> str:
        model = models.create("float-mlp", hidden=8, **kwargs)
        path = tmp_path / f"{name}.pt"
        save_checkpoint(
            path,
            {"model_config": model.onebit_config, "model_state": model.state_dict(), "epoch": 1},
        )
        return str(path)

    mnist_shaped = teacher("mnist", input_shape=(1, 28, 28), num_classes=10)
    with pytest.raises(OnebitError) as error:
        fit(config(tmp_path, teacher=mnist_shaped), small_digits)
    assert str(error.value) == (
        f"teacher {mnist_shaped} takes inputs of shape (1, 28, 28), but the data has (1, 8, 8)"
    )
    four_classes = teacher("four", input_shape=(1, 8, 8), num_classes=4)
    with pytest.raises(OnebitError) as error:
        fit(config(tmp_path, teacher=four_classes), small_digits)
    assert str(error.value) == (
        f"teacher {four_classes} predicts (4,) outputs per image, but the student has 10 classes"
    )


# Trains config()'s run in OUT (argv[1]) on the splits saved in argv[3] (no dataset loading: a
# faster start) and, once epoch 1 is checkpointed, touches argv[2] and sleeps until killed.
HOLDER = """
import sys, time
from pathlib import Path
import numpy as np
from onebit.data.splits import DataSplits
from onebit.train import TrainConfig, fit

out, ready, saved = sys.argv[1:4]
arrays = np.load(saved)
splits = DataSplits(name="digits-small", classes=tuple(arrays["classes"].tolist()),
                    **{key: arrays[key] for key in ("x_train", "y_train", "x_test", "y_test")})

def hold(epoch, metrics, model):
    Path(ready).touch()
    time.sleep(300)

fit(TrainConfig(model="binarynet-mlp", data="digits", model_kwargs={"hidden": 32, "depth": 1},
                epochs=2, batch_size=50, lr=0.01, seed=1, out_dir=out, device="cpu",
                progress=False, threads=1), splits, callbacks=[hold])
"""


def held_message(run_dir) -> str:
    return (
        f"another onebit process is training in {run_dir} (lock {run_dir / LOCK_NAME}); "
        "wait for it or choose another --out"
    )


def test_a_second_process_cannot_train_in_a_held_directory_and_a_killed_one_resumes(
    tmp_path, small_digits
):
    run_dir, ready, saved = tmp_path / "run", tmp_path / "ready", tmp_path / "splits.npz"
    arrays = ("x_train", "y_train", "x_test", "y_test")
    np.savez(saved, classes=small_digits.classes, **{k: getattr(small_digits, k) for k in arrays})
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, *map(str, (run_dir, ready, saved))])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert holder.poll() is None, f"the holder exited with {holder.returncode}"
            assert time.monotonic() < deadline, "the holder did not finish its first epoch"
            time.sleep(0.05)
        checkpoint = (run_dir / CHECKPOINT_NAME).read_bytes()
        in_flight = run_dir / ".checkpoint.pt.k3j9x_2a.tmp"  # as if the holder were writing
        in_flight.write_bytes(b"half")
        other_model = {"model_kwargs": {"hidden": 48, "depth": 1}}
        for overrides in ({}, {"resume": True}, {"overwrite": True}, other_model):
            with pytest.raises(OnebitError) as error:
                fit(config(tmp_path, **overrides), small_digits)
            assert str(error.value) == held_message(run_dir)
        assert in_flight.read_bytes() == b"half"
        assert (run_dir / CHECKPOINT_NAME).read_bytes() == checkpoint
    finally:
        holder.kill()
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    assert (run_dir / LOCK_NAME).exists()  # a killed holder leaves its lock file, not its lock

    result = fit(config(tmp_path, resume=True), small_digits)
    assert result.trained_epochs == 1
    assert load_checkpoint(run_dir / CHECKPOINT_NAME)["epoch"] == 2
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)


def test_the_lock_is_held_for_the_whole_run_and_released_after(tmp_path, small_digits):
    run_dir = tmp_path / "run"
    attempts = []

    def start_another(epoch, metrics, model):
        assert (run_dir / LOCK_NAME).exists()
        with pytest.raises(OnebitError) as error:
            fit(config(tmp_path, resume=True), small_digits)  # another descriptor: refused
        attempts.append(str(error.value))

    fit(config(tmp_path), small_digits, callbacks=[start_another])
    assert attempts == [held_message(run_dir)] * 2
    assert not (run_dir / LOCK_NAME).exists()
    fit(config(tmp_path, resume=True), small_digits)  # released: nothing to do, but allowed


def test_a_directory_with_only_a_stale_lock_file_is_usable(tmp_path, small_digits):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_NAME).write_text("")  # left by a killed run that wrote nothing else
    fit(config(tmp_path, epochs=1), small_digits)
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)


def test_a_failed_start_leaves_no_directory_it_created(tmp_path):
    run_dir = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError, match="boom"), hold_run_directory(run_dir):
        assert os.listdir(run_dir) == [LOCK_NAME]
        raise RuntimeError("boom")
    assert not run_dir.exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    with hold_run_directory(existing):
        pass
    assert existing.is_dir() and os.listdir(existing) == []


def test_a_checkpoint_from_before_validation_splits_resumes_as_val_fraction_zero(
    tmp_path, small_digits
):
    from onebit.train import save_checkpoint

    fit(config(tmp_path, epochs=1, val_fraction=0.0), small_digits)
    path = tmp_path / "run" / CHECKPOINT_NAME
    state = load_checkpoint(path)
    del state["train_config"]["val_fraction"]  # as checkpoints written before it existed
    save_checkpoint(path, state)
    with pytest.raises(OnebitError, match=r"val_fraction was 0\.0, now 0\.1"):
        fit(config(tmp_path, resume=True, epochs=2), small_digits)
    result = fit(config(tmp_path, resume=True, epochs=2, val_fraction=0.0), small_digits)
    assert result.trained_epochs == 1 and "val_accuracy" not in result.history[-1]
