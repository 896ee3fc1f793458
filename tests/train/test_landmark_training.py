"""Training on landmarks: the heatmap loss and the NME/PCK counts of the task, and a whole run of
the binary hourglass on mnist-landmarks images through ``fit`` and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from onebit._registry import OnebitError
from onebit.cli import app
from onebit.data import DataSplits
from onebit.data.landmarks import LandmarkSplits
from onebit.landmarks import render_heatmaps
from onebit.train import TrainConfig, fit
from onebit.train.tasks import Classification, Landmarks, evaluate, task_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def targets_of(points: np.ndarray, size: int = 32) -> tuple[torch.Tensor, ...]:
    data = LandmarkSplits(
        "toy",
        np.zeros((len(points), 1, size, size), np.float32),
        points.astype(np.float32),
        np.zeros((1, 1, size, size), np.float32),
        points[:1].astype(np.float32),
        tuple(f"p{i}" for i in range(points.shape[1])),
    )
    return Landmarks("box_diagonal", (size, size)).targets(data, "train", torch.device("cpu"))


def test_the_exact_heatmaps_have_zero_loss_and_near_zero_error() -> None:
    points = np.array(
        [[[5.0, 6.0], [20.0, 9.0], [np.nan, np.nan]], [[9.0, 9.0], [3.0, 25.0], [14.0, 14.0]]]
    )
    targets = targets_of(points)
    maps, _ = render_heatmaps(points, (8, 8), stride=4)
    task = Landmarks("box_diagonal", (32, 32))
    assert task.loss(torch.from_numpy(maps), targets).item() == 0.0
    error_sum, hits, count = task.counts(torch.from_numpy(maps), targets)
    assert count == 5 and hits == 5  # the missing point is not counted
    lengths = targets[1].numpy()
    assert error_sum <= 5 * 0.25 * 4 * np.sqrt(2) / lengths.min()  # quarter-pixel refinement
    # a wrong map costs its squared error; the missing point's map costs nothing
    wrong = torch.from_numpy(maps).clone()
    wrong[0, 2] = 1.0  # the missing point's map
    assert task.loss(wrong, targets).item() == 0.0
    wrong[1, 0] += 0.5
    assert task.loss(wrong, targets).item() == pytest.approx(0.25 / 3 / 2)
    metrics = task.metrics([error_sum, hits, count], 2)
    assert metrics["pck"] == 1.0 and metrics["nme"] == pytest.approx(error_sum / 5)


def test_mismatched_outputs_are_named() -> None:
    targets = targets_of(np.array([[[1.0, 2.0], [5.0, 9.0], [3.0, 3.0]]] * 2))
    task = Landmarks("box_diagonal", (32, 32))
    with pytest.raises(OnebitError, match="outputs 2 heatmaps but the data has 3 landmarks"):
        task.loss(torch.zeros(2, 2, 8, 8), targets)
    with pytest.raises(OnebitError, match=r"\(N, landmarks, H/s, W/s\)"):
        task.loss(torch.zeros(2, 3), targets)
    with pytest.raises(OnebitError, match=r"\(N, landmarks, H/s, W/s\)"):
        task.counts(torch.zeros(2, 3, 5, 8), targets)
    with pytest.raises(OnebitError, match="landmark norm"):
        Landmarks("eyes", (32, 32))


def test_an_image_whose_length_is_zero_is_refused() -> None:
    points = np.array([[[1.0, 2.0], [5.0, 9.0]], [[4.0, 4.0], [4.0, 4.0]]])  # one spot
    with pytest.raises(OnebitError, match=r"train image 1: its box_diagonal length is 0\.0"):
        targets_of(points)


def test_classification_is_the_old_evaluation() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    loss_sum, correct, seen = evaluate(model, x, (y,), Classification(), batch_size=3)
    logits = model(x)
    assert loss_sum == pytest.approx(
        torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
    )
    assert correct == (logits.argmax(1) == y).sum().item() and seen == 10
    assert isinstance(task_for(LandmarkSplits("t", *landmark_arrays())), Landmarks)
    with pytest.raises(OnebitError, match="not a dataset"):
        task_for(object())
    classes = DataSplits(
        "c",
        np.zeros((2, 1, 2, 2), np.float32),
        np.array([0, 2]),
        np.zeros((1, 1, 2, 2), np.float32),
        np.array([1]),
        ("a", "b", "c"),
    )
    assert classes.num_outputs == 3 == Classification().outputs(classes)


def landmark_arrays():
    x = np.zeros((4, 1, 8, 8), np.float32)
    points = np.full((4, 2, 2), 3.0, np.float32)
    points[:, 1] = 5.0
    return x, points, x[:2], points[:2], ("a", "b")


def small_landmarks() -> LandmarkSplits:
    from onebit.data.landmarks import mnist_landmarks

    full = mnist_landmarks()
    return LandmarkSplits(
        "mnist-landmarks",
        full.x_train[:120],
        full.points_train[:120],
        full.x_test[:30],
        full.points_test[:30],
        full.landmarks,
    )


@pytest.mark.slow
def test_the_hourglass_learns_mnist_landmarks(tmp_path) -> None:
    config = TrainConfig(
        model="landmark-hourglass",
        data="mnist-landmarks",
        model_kwargs={"features": 16, "depth": 2},
        epochs=4,
        batch_size=20,
        optimizer="adam",
        lr=3e-3,
        schedule="constant",
        val_fraction=0.25,
        out_dir=str(tmp_path / "run"),
        progress=False,
    )
    result = fit(config, small_landmarks())
    history = result.history
    assert {"train_nme", "val_nme", "test_nme", "train_pck", "val_pck", "test_pck"} <= set(
        history[0]
    )
    assert "train_accuracy" not in history[0]
    # 90 training images in 4 epochs fit the heatmaps (the loss) before the points move: the
    # point error is only checked for range here; the landmarks experiment measures it
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert all(0 < row[key] < 2 for row in history for key in ("train_nme", "test_nme"))
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved[-1]["test_nme"] == history[-1]["test_nme"]
    model = result.model
    assert model.output_shape == (5, 16, 16) and model.input_shape == (1, 64, 64)
    for refused in ({"augment_shift": 2}, {"mixer_samples": 1}):
        with pytest.raises(OnebitError, match="landmark dataset"):
            fit(TrainConfig(**{**config.__dict__, "out_dir": None, **refused}), small_landmarks())


@pytest.mark.slow
def test_onebit_train_reports_nme(tmp_path, monkeypatch) -> None:
    import onebit.data as datasets

    monkeypatch.setitem(datasets.DATASETS._builders, "mnist-landmarks", small_landmarks)
    args = ["train", "landmark-hourglass", "--data", "mnist-landmarks", "--epochs", "1"]
    args += ["--model-arg", "features=8", "--model-arg", "depth=1", "--batch-size", "30"]
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--no-progress"])
    assert done.exit_code == 0, done.output
    assert "test NME" in done.output and "PCK@0.1" in done.output


def test_summary_takes_a_landmark_set_and_run_refuses_one(tmp_path) -> None:
    args = ["summary", "landmark-hourglass", "--data", "mnist-landmarks"]
    done = CliRunner().invoke(app, [*args, "--model-arg", "features=8", "--model-arg", "depth=1"])
    assert done.exit_code == 0, done.output
    assert "MACs:" in done.output and "binary" in done.output
    from onebit import convert, models

    model = models.create("mcu-bnn", input_size=64).eval()
    convert(model, torch.zeros(1, 1, 64, 64)).save(tmp_path / "m.onebit")
    refused = CliRunner().invoke(
        app, ["run", str(tmp_path / "m.onebit"), "--data", "mnist-landmarks"]
    )
    assert refused.exit_code != 0
    assert "mnist-landmarks is a landmark set" in refused.output
