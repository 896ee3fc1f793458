"""Drive real `onebit train` runs that die by SIGKILL at chosen points, for test_killed_runs.py.

Usage: ``python killed_runs.py WORK_DIR PLAN_JSON -- TRAIN_ARGS...``

The driver imports torch, onebit and the data once, then forks one process per run segment, so
each segment costs its training time, not torch's import. Every segment is the real command line
(``onebit.cli.main``) in a fresh process; kills come from monkeypatches installed in that process
only (the library has no test hooks):

- ``["reference"]``: the uninterrupted run, in ``WORK_DIR/whole``.
- ``["step", epoch, fraction]``: SIGKILL after that share of the epoch's optimizer steps.
- ``["checkpoint", epoch]``: SIGKILL halfway through writing that epoch's checkpoint.
- ``["metrics", epoch]``: SIGKILL after that epoch's checkpoint is written, before its metrics.
- ``["plot"]``: SIGKILL halfway through writing ``curves.png``.
- ``["finish"]``: run to the end, unharmed.

Killed and finishing segments run in ``WORK_DIR/killed``, with ``--resume`` whenever a checkpoint
is there (as a user would). ``WORK_DIR/report.json`` records, per segment, how it ended and what
the run directory held afterwards; its stdout and stderr go to ``WORK_DIR/segment-N.out/.err``.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import sys
import traceback
from pathlib import Path

PRELOADED = ("matplotlib.pyplot", "torch._dynamo", "onebit.cli", "onebit.summary", "onebit.train")


def kill_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill(point: list) -> None:
    """Monkeypatch this process so that it SIGKILLs itself at ``point``."""
    import torch

    from onebit import plots
    from onebit.train import loop, metrics, progress

    kind = point[0]
    if kind == "step":
        target_epoch, fraction = point[1], point[2]
        where = {"epoch": 0, "steps": 0, "done": 0}
        start_epoch = progress.TrainingProgress.start_epoch

        def start_epoch_then_count(self, epoch, epochs, steps):
            where.update(epoch=epoch + 1, steps=steps, done=0)
            start_epoch(self, epoch, epochs, steps)

        clip = loop.clip_latent_weights

        def clip_then_maybe_kill(model):
            clip(model)
            where["done"] += 1
            if where["epoch"] == target_epoch and where["done"] >= max(
                1, int(fraction * where["steps"])
            ):
                kill_now()

        progress.TrainingProgress.start_epoch = start_epoch_then_count
        loop.clip_latent_weights = clip_then_maybe_kill
    elif kind == "checkpoint":
        save = torch.save

        def half_a_save(obj, handle, *args, **kwargs):
            if isinstance(obj, dict) and obj.get("epoch") == point[1]:
                whole = io.BytesIO()
                save(obj, whole, *args, **kwargs)
                handle.write(whole.getvalue()[: whole.tell() // 2])
                handle.flush()
                kill_now()
            save(obj, handle, *args, **kwargs)

        torch.save = half_a_save
    elif kind == "metrics":
        write = metrics.MetricsLog.write
        trained = {"epochs": 0}
        end_epoch = progress.TrainingProgress.end_epoch

        def end_epoch_counted(self, row):
            trained["epochs"] += 1
            end_epoch(self, row)

        def kill_before_writing(self):
            # Only the write after an epoch this process trained, not the rewrite on resume.
            if trained["epochs"] and len(self.history) == point[1]:
                kill_now()
            write(self)

        progress.TrainingProgress.end_epoch = end_epoch_counted
        metrics.MetricsLog.write = kill_before_writing
    elif kind == "plot":
        savefig = plots.atomic_write

        def half_a_plot(path, write_to):
            def write_half(tmp: Path) -> None:
                write_to(tmp)
                data = tmp.read_bytes()
                tmp.write_bytes(data[: len(data) // 2])
                kill_now()

            savefig(path, write_half)

        plots.atomic_write = half_a_plot
    elif kind not in ("reference", "finish"):
        raise ValueError(f"unknown kill point {point!r}")


def run_segment(index: int, point: list, run_dir: Path, train_args: list[str], work: Path) -> int:
    """Fork a process that runs ``onebit train`` with ``point``'s kill; its wait status."""
    resume = (run_dir / "checkpoint.pt").exists()
    args = ["train", *train_args, "--out", str(run_dir), *(["--resume"] if resume else [])]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for stream, suffix in ((1, "out"), (2, "err")):
                fd = os.open(work / f"segment-{index}.{suffix}", os.O_WRONLY | os.O_CREAT, 0o644)
                os.dup2(fd, stream)
            install_kill(point)
            from onebit.cli import main

            sys.argv = ["onebit", *args]
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def snapshot(run_dir: Path) -> dict:
    """What the run directory holds: file names, checkpoint epoch, metrics rows."""
    import torch

    names = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    checkpoint_epoch = None
    if (run_dir / "checkpoint.pt").exists():
        checkpoint_epoch = torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"]
    rows = None
    if (run_dir / "metrics.json").exists():
        rows = len(json.loads((run_dir / "metrics.json").read_text()))
    return {"files": names, "checkpoint_epoch": checkpoint_epoch, "metrics_rows": rows}


def main() -> None:
    work, plan = Path(sys.argv[1]), json.loads(sys.argv[2])
    train_args = sys.argv[sys.argv.index("--") + 1 :]
    import matplotlib

    matplotlib.use("Agg")
    # Imported once here rather than in every segment (torch._dynamo: at the first optimizer
    # step, seconds); nothing computes with torch before forking.
    for module in PRELOADED:
        importlib.import_module(module)
    from onebit import data

    data.load("digits")

    report = []
    for index, point in enumerate(plan):
        run_dir = work / ("whole" if point[0] == "reference" else "killed")
        before = snapshot(run_dir)
        status = run_segment(index, point, run_dir, train_args, work)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        report.append(
            {"point": point, "before": before, "after": snapshot(run_dir), "killed": killed,
             "exit_code": code}
        )  # fmt: skip
    (work / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
