"""Zoo convnets train from the command line on a CIFAR-10 folder of real batch files, and the
trained checkpoint converts to the packed engine with the same predictions."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from onebit.cli import app
from onebit.convert import convert
from onebit.data.cifar import TEST_BATCH, TRAIN_BATCHES
from onebit.train import model_from_checkpoint

IMAGES_PER_BATCH = 12


def write_cifar_batches(directory: Path) -> None:
    """The six ``cifar-10-batches-py`` files, with random images, as the official pickles."""
    directory.mkdir()
    rng = np.random.default_rng(0)
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        batch = {
            b"data": rng.integers(0, 256, (IMAGES_PER_BATCH, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, IMAGES_PER_BATCH).tolist(),
        }
        with open(directory / name, "wb") as stream:
            pickle.dump(batch, stream, protocol=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("model", "args"),
    [("binarynet-vgg", ["--model-arg", "width=0.125"]), ("quicknet-small", [])],
)
def test_zoo_model_trains_on_cifar_files_and_converts(tmp_path, model, args):
    data = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(data)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            model,
            "--data",
            "cifar10",
            "--data-path",
            str(data),
            "--epochs",
            "1",
            "--batch-size",
            "20",
            "--out",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.stdout
    trained = model_from_checkpoint(out / "checkpoint.pt").eval()
    assert trained.input_shape == (3, 32, 32) and trained.num_classes == 10
    x = torch.rand(4, 3, 32, 32)
    program = convert(trained, x[:1])
    with torch.no_grad():
        expected = trained(x).numpy()
    got = program(x.numpy())
    np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_model_args_must_be_key_value(tmp_path):
    result = CliRunner().invoke(app, ["summary", "binarynet-vgg", "--model-arg", "width"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
