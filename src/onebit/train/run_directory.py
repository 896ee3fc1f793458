"""The run directory: the files a training run writes there, and the rules for starting in one.

A run directory holds ``checkpoint.pt``, ``metrics.csv``, ``metrics.json`` and ``curves.png``. A
run never replaces another by accident: starting in a directory that already holds run files
needs ``resume`` (continue that run) or ``overwrite`` (replace it), and resuming needs a checkpoint.
A resumed run must ask for the settings the checkpoint was trained with, so that it continues the
same run rather than mixing two. Temporary files that a killed atomic write left behind
(``.checkpoint.pt.k3j9x_2a.tmp`` and the like, see :mod:`onebit.atomic`) are removed when a run
starts.

One process at a time: a run holds an exclusive advisory lock (``flock``) on ``.onebit.lock`` in its
directory for its whole life, taken before any of the checks above, so a second run started in the
same directory fails at once instead of replacing the first or deleting its temporary files. The
operating system drops the lock when the holder dies, however it dies: a directory whose run was
killed can be resumed. The lock file is removed when the run ends; one left by a killed run is not
"a run" and is reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from onebit._registry import OnebitError
from onebit.train.metrics import CURVES_PNG, METRICS_CSV, METRICS_JSON

CHECKPOINT_NAME = "checkpoint.pt"
RUN_FILES = (CHECKPOINT_NAME, METRICS_CSV, METRICS_JSON, CURVES_PNG)
LOCK_NAME = ".onebit.lock"

# atomic_open names its temporaries ".NAME.XXXXXXXX.tmp", atomic_write ".NAME.XXXXXXXX.SUFFIX"
# (tempfile.mkstemp: 8 characters from [a-z0-9_]).
_TEMPORARY = re.compile(
    r"^\.(?:"
    + "|".join(rf"{re.escape(name)}\.[a-z0-9_]{{8}}(?:\.tmp|{re.escape(Path(name).suffix)})"
               for name in RUN_FILES)
    + r")$"
)  # fmt: skip

# Settings that define the trajectory of a run; a resumed run must ask for the same ones. The
# model is checked separately (its full config), ``epochs`` may grow, and where files live
# (``data_path``, ``teacher``) may move.
SAME_ON_RESUME = (
    "data",
    "val_fraction",
    "batch_size",
    "optimizer",
    "optimizer_options",
    "lr",
    "weight_decay",
    "schedule",
    "seed",
    "augment_shift",
    "augment_audio",
    "grad_rounding_bits",
    "distill_weight",
    "clip_weights",
    "mixer_samples",
    "mixer_distill",
    "mixer_narrowest",
    "mixer_stages",
)
SAVED_BEFORE_THEY_EXISTED = {"val_fraction": 0.0, "mixer_stages": [1, 1, 1]}
"""What a checkpoint written before a setting existed was trained with: runs before validation
splits trained on the whole training part; Bit-Mixer's stages were thirds."""


def run_files(out_dir: Path) -> list[str]:
    """The names of the run files ``out_dir`` holds (none when it does not exist)."""
    return [name for name in RUN_FILES if (out_dir / name).exists()]


@contextlib.contextmanager
def hold_run_directory(out_dir: Path) -> Iterator[None]:
    """Create ``out_dir`` if needed and hold its lock while the ``with`` block runs.

    Take it before :func:`check_run_directory` and :func:`remove_stale_temporaries`, and only in
    the process that writes the directory (rank 0 of a distributed run). On the way out the lock
    file is removed, and so is ``out_dir`` if this call created it and it is left empty.

    Raises:
        OnebitError: ``out_dir`` is a file or cannot be created, or another process holds it.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OnebitError(f"run directory {out_dir} is a file, not a directory")
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OnebitError(f"cannot create run directory {out_dir}: {error.strerror}") from None
    lock_path = out_dir / LOCK_NAME
    try:
        descriptor = _lock(lock_path, out_dir)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    try:
        yield
    finally:
        # Unlinked while still locked: a process that opened this file meanwhile finds, once it
        # gets the lock, that the name no longer points to it, and starts over (see _lock).
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()
        os.close(descriptor)
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only succeeds when the run wrote nothing


def _lock(lock_path: Path, out_dir: Path) -> int:
    """Open and lock ``lock_path``; the descriptor that holds the lock."""
    while True:
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise OnebitError(f"cannot create lock file {lock_path}: {error.strerror}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise OnebitError(
                f"another onebit process is training in {out_dir} (lock {lock_path}); "
                "wait for it or choose another --out"
            ) from None
        except OSError as error:  # e.g. ENOLCK on a file system without locks
            os.close(descriptor)
            raise OnebitError(f"cannot lock {lock_path}: {error.strerror}") from None
        opened = os.fstat(descriptor)
        try:
            named = os.stat(lock_path)
        except FileNotFoundError:
            named = None
        if named is not None and (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino):
            return descriptor
        os.close(descriptor)  # the previous holder removed the file as it finished: again


def check_run_directory(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to start a run that would replace another run or resume nothing.

    Args:
        out_dir: the run directory (it need not exist yet).
        resume: the run continues the checkpoint in ``out_dir``.
        overwrite: the run may replace the run in ``out_dir``.

    Raises:
        OnebitError: ``out_dir`` is a file; it holds a run and neither flag is set; or ``resume``
            is set and it holds no checkpoint.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OnebitError(f"run directory {out_dir} is a file, not a directory")
    present = run_files(out_dir)
    if resume:
        if CHECKPOINT_NAME not in present:
            held = f" (it holds {', '.join(present)})" if present else ""
            raise OnebitError(f"nothing to resume: {out_dir} holds no {CHECKPOINT_NAME}{held}")
    elif present and not overwrite:
        raise OnebitError(
            f"{out_dir} already holds a training run ({', '.join(present)}); "
            "pass --resume to continue it or --overwrite to replace it"
        )


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Delete the temporary files of atomic writes that a killed process left in ``out_dir``.

    Call it only while holding ``out_dir`` (:func:`hold_run_directory`), so that no other
    process writes there. Returns the paths removed.
    """
    if not out_dir.is_dir():
        return []
    removed = []
    for path in out_dir.iterdir():
        if _TEMPORARY.match(path.name) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def remove_replaced_files(out_dir: Path) -> None:
    """Delete what an overwritten run leaves that the new run has not yet rewritten.

    Called once the new run's first checkpoint and metrics are written, so the old run stays
    whole until the new one has something to show; only ``curves.png`` is left by then.
    """
    with contextlib.suppress(FileNotFoundError):
        (out_dir / CURVES_PNG).unlink()


def check_same_model(checkpoint_path: Path, saved: dict[str, Any], built: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint of another model (name or arguments) than this run builds."""
    if saved == built:
        return
    if saved.get("name") != built.get("name"):
        difference = f"{saved.get('name')}, this run builds {built.get('name')}"
    else:
        keys = sorted(set(saved) | set(built), key=str)
        difference = f"{saved['name']} with " + ", ".join(
            f"{key}={saved.get(key)!r} (this run: {built.get(key)!r})"
            for key in keys
            if saved.get(key) != built.get(key)
        )
    raise OnebitError(f"{checkpoint_path} holds a different model: {difference}")


def check_same_settings(
    checkpoint_path: Path, saved: dict[str, Any] | None, asked: dict[str, Any]
) -> None:
    """Refuse to resume a checkpoint trained with other settings than this run asks for.

    Args:
        checkpoint_path: the checkpoint, for the message.
        saved: the checkpoint's ``train_config`` (None in checkpoints that predate it: no check).
        asked: this run's settings, as :func:`onebit.train.loop.plain_config` gives them.
    """
    if saved is None:
        return
    saved = {**SAVED_BEFORE_THEY_EXISTED, **saved}
    changed = [
        f"{name} was {saved[name]!r}, now {asked[name]!r}"
        for name in SAME_ON_RESUME
        if name in saved and saved[name] != asked[name]
    ]
    if (saved.get("teacher") is None) != (asked.get("teacher") is None):
        changed.append(f"teacher was {saved.get('teacher')!r}, now {asked.get('teacher')!r}")
    if changed:
        raise OnebitError(
            f"cannot resume {checkpoint_path} with other settings than it was trained with: "
            + "; ".join(changed)
        )
