"""Run fuzz cases in a supervised worker process and count the outcomes.

A worker loads each file, calls the program on a finite batch within ``[-1, 1]`` and on an empty
batch, and answers one line per file. The parent waits with a timeout: a worker that dies (a
crash) or does not answer (a hang) is recorded with its case and replaced, so one process serves
many files and a crash costs one restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onebit.runtime.fuzz.mutations import Case, Mutator
from onebit.runtime.fuzz.seeds import seed_files

FAILURES = ("error", "nonfinite", "crash", "hang")
"""Outcome classes that fail a run; the others are ``ok`` and ``refused``."""

WORKER_MAX_MEMORY = 256 * 2**20
WORKER_MAX_WORK = 2**28


def sample_input(program: Any, rng: np.random.Generator, batch: int, spread: float) -> np.ndarray:
    """A float32 batch for ``program``: uniform in ``±spread``, or for a program of token ids,
    ids 0 and 1 (rows of every table the seeds hold)."""
    shape = (batch, *program.input_shape)
    if getattr(program, "input_kind", "float") == "tokens":
        return rng.integers(0, 2, shape).astype(np.float32)
    return rng.uniform(-spread, spread, shape).astype(np.float32)


def run_case(path: str, max_memory: int, max_work: int) -> tuple[str, str]:
    """Load and run one file in this process: ``(outcome, detail)``."""
    from onebit.runtime import ProgramError, ProgramFileError, load

    try:
        program = load(path, max_memory=max_memory, max_work=max_work)
    except (ProgramFileError, ProgramError) as error:
        message = str(error)
        if "\n" in message or not message:
            return "error", f"refusal is not one line: {message!r}"
        return "refused", message
    except Exception as error:  # any other exception is the finding
        return "error", f"load: {type(error).__name__}: {str(error)[:300]}"
    try:
        batch = 2 if program.memory_needed(2) <= program.max_memory else 1
        y = program(sample_input(program, np.random.default_rng(0), batch, 1.0))
        empty = program(np.zeros((0, *program.input_shape), np.float32))
    except Exception as error:
        return "error", f"call: {type(error).__name__}: {str(error)[:300]}"
    if y.shape != (batch, *program.output_shape) or empty.shape != (0, *program.output_shape):
        return "error", f"shapes {y.shape} and {empty.shape}, expected {program.output_shape}"
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        return "nonfinite", f"{int((~np.isfinite(y)).sum())} non-finite outputs"
    return "ok", ""


def worker_main(max_memory: int, max_work: int) -> None:
    """Serve cases: read a path per line on stdin, answer one JSON line on stdout."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # stray prints must not garble the replies
    for line in sys.stdin:
        outcome, detail = run_case(line.rstrip("\n"), max_memory, max_work)
        out.write(json.dumps([outcome, detail]) + "\n")
        out.flush()


class Worker:
    """A worker process, restarted after a crash or a hang.

    Args:
        max_memory: the loader's memory limit in the worker.
        max_work: the loader's work limit per sample in the worker.
        command: the worker's command line instead (it must speak :func:`worker_main`'s
            protocol); the supervisor's own tests use it.
    """

    def __init__(self, max_memory: int, max_work: int, command: list[str] | None = None) -> None:
        serve = "from onebit.runtime.fuzz.supervise import worker_main; worker_main"
        self.command = command or [sys.executable, "-c", f"{serve}({max_memory}, {max_work})"]
        self.process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.process is None:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        return self.process

    def run(self, path: str, timeout: float) -> tuple[str, str]:
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(path + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            return self._died(process)
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            self.close()
            return "hang", f"no answer in {timeout:g} s"
        line = process.stdout.readline()
        if not line:
            return self._died(process)
        outcome, detail = json.loads(line)
        return outcome, detail

    def _died(self, process: subprocess.Popen) -> tuple[str, str]:
        code = process.wait()
        self.close()
        return "crash", f"worker exited with {code}" + (f" (signal {-code})" if code < 0 else "")

    def close(self) -> None:
        """Stop the worker (if it still runs) and close its pipes."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    with contextlib.suppress(BrokenPipeError):  # unflushed input, dead worker
                        pipe.close()
            self.process = None


@dataclass
class Report:
    """Counts per outcome and per mutation kind, and the failing cases."""

    outcomes: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    failures: list[tuple[int, Case, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: Report) -> None:
        """Add another run's counts and failures to this one."""
        self.outcomes.update(other.outcomes)
        for kind, counts in other.by_kind.items():
            self.by_kind.setdefault(kind, Counter()).update(counts)
        self.failures.extend(other.failures)

    @property
    def failed(self) -> int:
        return sum(self.outcomes[name] for name in FAILURES)

    def summary(self) -> str:
        lines = [
            f"{sum(self.outcomes.values())} files in {self.seconds:.0f} s: "
            + ", ".join(f"{name} {self.outcomes[name]}" for name in ("ok", "refused", *FAILURES))
        ]
        for kind in sorted(self.by_kind):
            counts = self.by_kind[kind]
            lines.append(f"  {kind:15s} " + " ".join(f"{k}={counts[k]}" for k in sorted(counts)))
        for index, case, outcome, detail in self.failures[:20]:
            lines.append(
                f"  FAIL #{index} {case.seed}/{case.kind} ({case.detail}): {outcome} {detail}"
            )
        return "\n".join(lines)


def fuzz(
    cases: int,
    seed: int = 0,
    seeds: dict[str, bytes] | None = None,
    timeout: float = 10.0,
    max_memory: int = WORKER_MAX_MEMORY,
    max_work: int = WORKER_MAX_WORK,
    keep: Path | None = None,
    start: int = 0,
) -> Report:
    """Run ``cases`` mutations (indices ``start ..``) of the seed files and count outcomes.

    Args:
        cases: how many files to try.
        seed: the run's seed; with the index it fixes each case.
        seeds: seed files (default: :func:`seed_files`).
        timeout: seconds a worker may take on one file before it counts as a hang.
        max_memory: the loader's memory limit in the worker (small, so cases stay fast).
        max_work: the loader's work limit per sample in the worker.
        keep: a folder to save failing files in, named by index and kind.
        start: the first case index.
    """
    mutator = Mutator(seeds if seeds is not None else seed_files(), seed)
    report = Report()
    worker = Worker(max_memory, max_work)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onebit-fuzz-") as folder:
        path = os.path.join(folder, "case.onebit")
        try:
            for index in range(start, start + cases):
                case = mutator.case(index)
                with open(path, "wb") as handle:
                    handle.write(case.data)
                outcome, detail = worker.run(path, timeout)
                report.outcomes[outcome] += 1
                report.by_kind.setdefault(case.kind, Counter())[outcome] += 1
                if outcome in FAILURES:
                    report.failures.append((index, case, outcome, detail))
                    if keep is not None:
                        keep.mkdir(parents=True, exist_ok=True)
                        (keep / f"{index}-{case.kind}.onebit").write_bytes(case.data)
        finally:
            worker.close()
    report.seconds = time.perf_counter() - began
    return report
