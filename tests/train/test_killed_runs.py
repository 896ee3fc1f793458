"""A real `onebit train` killed by SIGKILL at seeded random points, resumed each time, ends with
exactly what an uninterrupted run ends with: weights, optimizer, schedule and random state,
history, metrics files and plot, and no temporary files. The driver (killed_runs.py) forks one
process per segment and installs each kill there."""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from onebit.train import load_checkpoint
from onebit.train.run_directory import LOCK_NAME

DRIVER = Path(__file__).with_name("killed_runs.py")
EPOCHS = 6
TRAIN_ARGS = [
    "binarynet-mlp", "--data", "digits", "--hidden", "32", "--depth", "2", "--dropout", "0.1",
    "--augment-shift", "1", "--epochs", str(EPOCHS), "--threads", "1", "--no-progress",
    "--device", "cpu",
]  # fmt: skip
TIMING_FIELDS = {"epoch_seconds"}  # wall-clock; every other field is deterministic


def kill_plan(seed: int) -> list[list]:
    """Kills at random points that each land past the last checkpoint, in this order: mid-epoch
    before any checkpoint, halfway through writing a checkpoint, mid-epoch after a resume,
    between a checkpoint and its metrics, the same after the last epoch, and halfway through
    drawing curves.png on a resume that has nothing left to train."""
    rng = random.Random(seed)
    first_checkpoint_kill = rng.randint(1, 2)
    step_kill = rng.randint(first_checkpoint_kill + 1, 4)
    metrics_kill = rng.randint(step_kill, EPOCHS - 1)
    return [
        ["reference"],
        ["step", 1, round(rng.uniform(0.1, 0.9), 3)],
        ["checkpoint", first_checkpoint_kill],
        ["step", step_kill, round(rng.uniform(0.1, 0.9), 3)],
        ["metrics", metrics_kill],
        ["metrics", EPOCHS],
        ["plot"],
        ["finish"],
    ]


def assert_equal_nested(a, b, where: str = "") -> None:
    """Equal structure, bit-identical tensors (``torch.equal``), equal plain values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_equal_nested(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_equal_nested(x, y, f"{where}/{i}")
    else:
        assert a == b, where


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_FIELDS} for row in rows]


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path) as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [20261203])
def test_killed_and_resumed_run_equals_the_uninterrupted_run(tmp_path, seed):
    plan = kill_plan(seed)
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(tmp_path), json.dumps(plan), "--", *TRAIN_ARGS],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    segments = {tuple(entry["point"][:2]): entry for entry in report}
    errors = [(tmp_path / f"segment-{i}.err").read_text() for i in range(len(plan))]

    # Every segment ended as planned: killed where a kill was planned, cleanly otherwise.
    for entry, stderr in zip(report, errors, strict=True):
        planned_kill = entry["point"][0] not in ("reference", "finish")
        assert entry["killed"] == planned_kill, (entry, stderr)
        assert "Traceback" not in stderr
    assert report[0]["exit_code"] == 0 and report[-1]["exit_code"] == 0

    # The hard cases really happened, so the final comparison covers them.
    temporary = re.compile(r"^\.(checkpoint\.pt\.\w{8}\.tmp|curves\.png\.\w{8}\.png)$")
    half_checkpoint = segments[("checkpoint", plan[2][1])]
    assert any(temporary.match(name) for name in half_checkpoint["after"]["files"])
    hidden = {name for name in report[3]["after"]["files"] if name.startswith(".")}
    assert hidden <= {LOCK_NAME}  # temporaries removed; a killed run leaves only its lock file
    metrics_kill = plan[4][1]
    stale = segments[("metrics", metrics_kill)]["after"]
    assert stale["checkpoint_epoch"] == metrics_kill and stale["metrics_rows"] == metrics_kill - 1
    last = segments[("metrics", EPOCHS)]["after"]
    assert last["checkpoint_epoch"] == EPOCHS and last["metrics_rows"] == EPOCHS - 1
    half_plot = segments[("plot",)]["after"]
    assert half_plot["metrics_rows"] == EPOCHS  # rewritten before anything else
    assert any(temporary.match(name) for name in half_plot["files"])
    killed_dir = tmp_path / "killed"
    assert f"nothing to do: {killed_dir} already finished {EPOCHS} epochs" in errors[-1]
    assert f"after {EPOCHS} epochs" in (tmp_path / f"segment-{len(plan) - 1}.out").read_text()

    whole_dir = tmp_path / "whole"
    whole = load_checkpoint(whole_dir / "checkpoint.pt")
    killed = load_checkpoint(killed_dir / "checkpoint.pt")
    for part in ("model_state", "optimizer_state", "schedule_state", "rng_state", "epoch"):
        assert_equal_nested(whole[part], killed[part], part)
    assert without_timing(whole["history"]) == without_timing(killed["history"])
    assert [row["epoch"] for row in killed["history"]] == list(range(1, EPOCHS + 1))

    whole_fields, whole_rows = read_csv(whole_dir / "metrics.csv")
    killed_fields, killed_rows = read_csv(killed_dir / "metrics.csv")
    assert whole_fields == killed_fields and set(whole_fields) >= TIMING_FIELDS
    assert without_timing(whole_rows) == without_timing(killed_rows)
    killed_json = json.loads((killed_dir / "metrics.json").read_text())
    assert without_timing(json.loads((whole_dir / "metrics.json").read_text())) == (
        without_timing(killed_json)
    )
    assert killed_json == killed["history"]

    curves = killed_dir / "curves.png"
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert curves.stat().st_mtime_ns >= (killed_dir / "checkpoint.pt").stat().st_mtime_ns
    assert sorted(p.name for p in killed_dir.iterdir()) == sorted(
        ["checkpoint.pt", "metrics.csv", "metrics.json", "curves.png"]
    )
