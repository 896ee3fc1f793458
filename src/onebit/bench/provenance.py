"""Where a figure comes from: the commit (and any uncommitted change) of the source tree that was
measured, the SIMD path the kernels ran, and whether the machine was idle around the measurement.

A result file is reproducible only when it names a clean commit, so every result file stores a
:class:`Provenance` and every report prints it, with a warning line when the tree was dirty or
the machine was busy. ``python -m onebit.bench.provenance --require-clean`` exits with status 1
(and says why) when the source tree has uncommitted changes; ``make reports`` calls it first,
and ``--wait-idle SECONDS`` before each benchmark, so that one benchmark's own load has decayed
before the next one takes its "before" reading.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SOURCE_DIR = Path(__file__).resolve().parent
IDLE_LOAD_BEFORE = 0.5  # a 1-minute load above this before the start: something else was running
IDLE_LOAD_MARGIN = 0.5  # after: the benchmark's own threads plus this much
WAIT_IDLE_LOAD = 0.3
"""What ``--wait-idle`` waits for: below ``IDLE_LOAD_BEFORE`` with room for the next command's
own start-up (importing torch keeps a core busy for seconds and lifts the average by ~0.05)."""


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes] | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError:  # no git on this machine
        return None
    return done if done.returncode == 0 else None


# Generated reports: writing one must not mark the next one's tree dirty (``make reports``
# writes docs/bgemm.json before it measures bconv2d). What is measured is everything else.
REPORT_DIRS = ("docs",)


def _root(source: str | os.PathLike[str]) -> Path | None:
    top = _git(["rev-parse", "--show-toplevel"], Path(source))
    return Path(top.stdout.decode().strip()) if top else None


def _outside_reports() -> list[str]:
    return ["--", ".", *(f":(exclude){name}" for name in REPORT_DIRS)]


def describe(source: str | os.PathLike[str] = SOURCE_DIR) -> str:
    """``git describe --always --dirty`` of the checkout that holds ``source``, where changes
    under ``REPORT_DIRS`` (the generated reports) do not count as dirty; ``"unknown"`` outside a
    git checkout (an installed wheel)."""
    root = _root(source)
    done = _git(["describe", "--always", "--abbrev=7"], root) if root else None
    if done is None:
        return "unknown"
    changed = _git(["diff", "HEAD", "--quiet", *_outside_reports()], root)
    return done.stdout.decode().strip() + ("" if changed is not None else "-dirty")


def diff_sha256(source: str | os.PathLike[str] = SOURCE_DIR) -> str | None:
    """SHA-256 of the uncommitted change of the checkout that holds ``source``: ``git diff HEAD``
    plus the names and contents of untracked files that are not ignored, outside
    ``REPORT_DIRS``. ``None`` when that is empty or outside git, so two runs with the same hash
    measured the same code."""
    root = _root(source)
    if root is None:
        return None
    diff = _git(["diff", "HEAD", "--binary", *_outside_reports()], root)
    listing = ["ls-files", "--others", "--exclude-standard", "-z", *_outside_reports()]
    untracked = _git(listing, root)
    names = sorted(n for n in (untracked.stdout.decode() if untracked else "").split("\0") if n)
    if (diff is None or not diff.stdout) and not names:
        return None
    digest = hashlib.sha256(diff.stdout if diff else b"")
    for name in names:
        digest.update(b"\0untracked\0" + name.encode() + b"\0")
        with contextlib.suppress(OSError):  # removed meanwhile: the name still counts
            digest.update((root / name).read_bytes())
    return digest.hexdigest()


def simd_path() -> str:
    """The SIMD path onebit's kernels run by default here, or the NumPy fallback."""
    try:
        from onebit.runtime import _native
    except ImportError:
        return "none (NumPy reference kernels)"
    return _native.default_simd_path()


def load_average() -> float | None:
    """The 1-minute load average, ``None`` where the OS has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def idle_warning(load_before: float | None, load_after: float | None, threads: int) -> str | None:
    """Why the machine did not look idle, or ``None`` when it did.

    The rule: the 1-minute load average before the start must be at most ``IDLE_LOAD_BEFORE``
    (0.5: less than half a core busy with something else), and after the end at most
    ``threads + IDLE_LOAD_MARGIN``, where ``threads`` is the most threads the benchmark itself
    ran (its own work raises the average by up to that much). A missing load average (no
    ``os.getloadavg``) gives no warning. The 1-minute average lags: a busy spell that ended just
    before the start still counts, which errs on the side of warning.
    """
    reasons = []
    if load_before is not None and load_before > IDLE_LOAD_BEFORE:
        reasons.append(f"load {load_before:.2f} before the start (> {IDLE_LOAD_BEFORE:g})")
    limit = threads + IDLE_LOAD_MARGIN
    if load_after is not None and load_after > limit:
        reasons.append(
            f"load {load_after:.2f} after the end (> {threads} own threads + {IDLE_LOAD_MARGIN:g})"
        )
    if not reasons:
        return None
    return "machine not idle: " + "; ".join(reasons) + "; figures may be low"


def wait_until_idle(
    max_wait_s: float,
    poll_s: float = 5.0,
    load: Callable[[], float | None] = load_average,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Wait until the 1-minute load average is at most ``WAIT_IDLE_LOAD``, polling every
    ``poll_s`` seconds for at most ``max_wait_s``; returns the last load read (``None`` where the
    OS has none). The average decays with a one-minute time constant, so after a benchmark that
    kept 2 cores busy it takes about two minutes to fall to 0.3. Giving up after ``max_wait_s``
    is not an error: the next report then carries the not-idle warning."""
    waited = 0.0
    current = load()
    while current is not None and current > WAIT_IDLE_LOAD and waited < max_wait_s:
        step = min(poll_s, max_wait_s - waited)
        sleep(step)
        waited += step
        current = load()
    return current


@dataclass
class Provenance:
    """The facts that make a result reproducible. Take it before the measurement with
    :meth:`start` and complete it after with :meth:`finish`::

        provenance = Provenance.start()
        result = measure()
        json_ready = provenance.finish(threads=2)
    """

    commit: str
    diff_sha256: str | None
    simd: str
    load_before: float | None
    load_after: float | None = None
    threads: int | None = None
    idle: bool | None = None
    warning: str | None = field(default=None)

    @classmethod
    def start(cls, source: str | os.PathLike[str] = SOURCE_DIR) -> Provenance:
        """The commit, diff hash and SIMD path, and the load before the measurement."""
        return cls(describe(source), diff_sha256(source), simd_path(), load_average())

    @classmethod
    def at_end(cls, threads: int, source: str | os.PathLike[str] = SOURCE_DIR) -> dict[str, Any]:
        """A provenance taken only after the work, for a writer that did not call :meth:`start`:
        the load before is unknown (``None``), so only the load after is judged."""
        taken = cls(describe(source), diff_sha256(source), simd_path(), None)
        return taken.finish(threads)

    def finish(self, threads: int = 1) -> dict[str, Any]:
        """Record the load after the measurement (which ran up to ``threads`` threads) and the
        idle verdict; returns the JSON-ready dict."""
        self.load_after = load_average()
        self.threads = threads
        self.warning = idle_warning(self.load_before, self.load_after, threads)
        self.idle = self.warning is None
        return asdict(self)


def provenance_lines(provenance: dict[str, Any] | None) -> list[str]:
    """Markdown lines for a stored provenance: the commit (with the diff hash when dirty), the
    SIMD path, the load before and after, and a **warning** line when dirty or not idle."""
    if not provenance:
        return ["**Warning: no provenance recorded (commit, load) in this result file.**"]
    commit = provenance["commit"]
    if provenance.get("diff_sha256"):
        commit += f" (uncommitted diff sha256 {provenance['diff_sha256'][:16]}…)"

    def load(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = [
        f"Commit {commit}; SIMD path {provenance['simd']}; 1-minute load "
        f"{load(provenance.get('load_before'))} before, {load(provenance.get('load_after'))} "
        f"after (the benchmark ran {provenance.get('threads')} thread(s) at most)."
    ]
    warnings = []
    if commit.endswith("-dirty") or provenance.get("diff_sha256") or commit == "unknown":
        warnings.append("measured on a tree with uncommitted changes or outside git")
    if provenance.get("warning"):
        warnings.append(provenance["warning"])
    lines += [f"**Warning: {text}.**" for text in warnings]
    return lines


def require_clean(source: str | os.PathLike[str] = SOURCE_DIR) -> str | None:
    """Why ``source``'s checkout cannot give reproducible figures (uncommitted changes, or not a
    git checkout), or ``None`` when it is clean."""
    status = _git(["status", "--porcelain"], Path(source))
    if status is None:
        return f"{source} is not in a git checkout: figures must name a clean commit"
    if status.stdout.strip():
        changed = len(status.stdout.decode().splitlines())
        return (
            f"the tree has {changed} uncommitted change(s) (git status --porcelain): "
            "figures must name a clean commit; commit or stash first"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The provenance result files record.")
    parser.add_argument(
        "--require-clean", action="store_true", help="exit 1 when the tree is not clean"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        metavar="SECONDS",
        help=f"wait (at most SECONDS) until the 1-minute load is at most {WAIT_IDLE_LOAD:g}",
    )
    parser.add_argument("--source", type=Path, default=SOURCE_DIR, help="a path in the checkout")
    args = parser.parse_args(argv)
    if args.wait_idle is not None:
        if args.wait_idle < 0:
            parser.error(f"--wait-idle takes seconds >= 0, not {args.wait_idle:g}")
        current = wait_until_idle(args.wait_idle)
        if current is not None and current > WAIT_IDLE_LOAD:
            print(
                f"warning: 1-minute load still {current:.2f} after {args.wait_idle:g} s "
                f"(> {WAIT_IDLE_LOAD:g}); the next report may say the machine was not idle",
                file=sys.stderr,
            )
        else:
            print(f"idle: 1-minute load {'n/a' if current is None else f'{current:.2f}'}")
        return 0
    if args.require_clean:
        reason = require_clean(args.source)
        if reason:
            print(f"error: {reason}", file=sys.stderr)
            return 1
        print(f"clean: {describe(args.source)}")
        return 0
    provenance = Provenance.start(args.source)
    print(provenance.finish())
    return 0


if __name__ == "__main__":
    sys.exit(main())
