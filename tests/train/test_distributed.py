"""Two processes on loopback under torchrun: the same training command, data-parallel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from onebit.train import load_checkpoint

pytestmark = pytest.mark.slow

RANK_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    from onebit.train import TrainConfig, fit

    out = sys.argv[1]

    def save_rank_state(epoch, metrics, model):
        state = {"state": model.state_dict(), "metrics": metrics}
        torch.save(state, f"{out}/rank{dist.get_rank()}.pt")

    config = TrainConfig(model="binarynet-mlp", data="digits",
                         model_kwargs={"hidden": 64, "depth": 2}, epochs=2, batch_size=64,
                         seed=5, out_dir=out, device="cpu", progress=False)
    fit(config, callbacks=[save_rank_state])
    """
)


def torchrun(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        *args,
    ]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_two_process_training_keeps_ranks_identical(tmp_path):
    script = tmp_path / "train_ranks.py"
    script.write_text(RANK_SCRIPT)
    done = torchrun(str(script), str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key, value in rank0["state"].items():
        if "running" in key or "num_batches" in key:
            continue  # BatchNorm statistics are per process, as in torch's own DDP
        assert torch.equal(value, rank1["state"][key]), key
    assert rank0["metrics"] == rank1["metrics"]  # metrics are reduced over both ranks
    assert rank0["metrics"]["test_accuracy"] > 0.8

    checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    assert checkpoint["epoch"] == 2
    for key, value in checkpoint["model_state"].items():
        assert torch.equal(value, rank0["state"][key]), key


def test_the_cli_train_command_runs_under_torchrun(tmp_path):
    done = torchrun(
        "-m",
        "onebit",
        "train",
        "binarynet-mlp",
        "--data",
        "digits",
        "--epochs",
        "2",
        "--hidden",
        "64",
        "--batch-size",
        "64",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
        "--device",
        "cpu",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test accuracy") == 1  # only rank 0 reports
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 2
