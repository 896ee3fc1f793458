"""The long fuzz run of the ``.onebit`` loader (issue #10): many mutated files, in chunks run by
parallel supervised workers, counted per outcome and mutation kind, and a Markdown report
rendered from the stored counts. ``onebit bench fuzz`` runs it::

    onebit bench fuzz --cases 100000 --jobs 2 --seed 1 --converted --out docs/fuzz.json
    onebit bench fuzz --cases 1 --start 4242 --keep failures/ --out /tmp/one.json   # one case again
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from onebit.runtime.fuzz.seeds import seed_files
from onebit.runtime.fuzz.supervise import FAILURES, WORKER_MAX_MEMORY, WORKER_MAX_WORK, Report, fuzz


def run_campaign(
    cases: int,
    seed: int = 0,
    start: int = 0,
    jobs: int = 1,
    chunk: int = 5000,
    timeout: float = 20.0,
    seed_paths: list[Path] | None = None,
    converted: bool = False,
    keep: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fuzz cases ``start .. start + cases - 1`` of run ``seed`` in ``jobs`` parallel chunks.

    Args:
        seed_paths: ``.onebit`` files to mutate besides the built-in seeds.
        converted: also mutate two small converted models (needs torch).
        keep: save failing files here.
        log: receives one progress line per finished chunk.

    Returns:
        The JSON-ready result: counts overall and per mutation kind, and each failing case
        (replayable from its index).
    """
    if cases < 1 or chunk < 1 or jobs < 1 or start < 0 or timeout <= 0:
        raise ValueError(
            f"cases, chunk and jobs must be >= 1, start >= 0 and timeout > 0, got cases={cases} "
            f"chunk={chunk} jobs={jobs} start={start} timeout={timeout}"
        )
    seeds = {**seed_files(), **{path.stem: path.read_bytes() for path in seed_paths or []}}
    if converted:
        from onebit.runtime.fuzz.converted import converted_seeds

        seeds.update(converted_seeds())
    chunks = [
        (first, min(chunk, start + cases - first)) for first in range(start, start + cases, chunk)
    ]
    report = Report()

    def run(part: tuple[int, int]) -> Report:
        first, count = part
        return fuzz(count, seed, seeds, timeout, keep=keep, start=first)

    began = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        for (first, count), part in zip(chunks, pool.map(run, chunks), strict=True):
            report.merge(part)
            done = sum(report.outcomes.values())
            log(
                f"cases {first}..{first + count - 1}: {dict(part.outcomes)} "
                f"({done} done, {time.perf_counter() - began:.0f} s)"
            )
    report.seconds = time.perf_counter() - began
    log(report.summary())
    return {
        "cases": cases,
        "seed": seed,
        "start": start,
        "jobs": jobs,
        "seconds": round(report.seconds, 1),
        "timeout": timeout,
        "worker_max_memory_bytes": WORKER_MAX_MEMORY,
        "worker_max_work": WORKER_MAX_WORK,
        "seeds": sorted(seeds),
        "outcomes": dict(report.outcomes),
        "by_kind": {kind: dict(counts) for kind, counts in sorted(report.by_kind.items())},
        "failures": [
            {
                "index": i,
                "seed": c.seed,
                "kind": c.kind,
                "detail": c.detail,
                "outcome": o,
                "message": m,
            }
            for i, c, o, m in report.failures
        ],
    }


def markdown_fuzz(doc: dict[str, Any]) -> str:
    """The Markdown report of a stored ``fuzz`` document: how it was made (from the stored
    limits), the machine and provenance, the totals, and the counts per mutation kind."""
    from onebit.bench.report import machine_summary

    result = doc["fuzz"]
    columns = ("ok", "refused", *FAILURES)
    outcomes = result["outcomes"]
    work_bits = result["worker_max_work"].bit_length() - 1
    lines = [
        "# Fuzzing the `.onebit` loader",
        "",
        f"Remake with `{doc['command']}`.",
        "Each file is a structured mutation of a seed program (the built-in graphs of",
        "`onebit.runtime.fuzz.seeds`, which use every op, and any converted models named below),",
        f"loaded in a supervised worker process (memory limit "
        f"{result['worker_max_memory_bytes'] >> 20} MiB, work",
        f"limit 2^{work_bits} per sample, {result['timeout']:g} s timeout, {result['jobs']} "
        "workers side by side),",
        "then called on a batch of uniform [-1, 1] inputs (token ids 0 and 1 for a program of",
        "token ids) and on an empty batch.",
        "",
        machine_summary(doc["machine"]),
        "",
        f"Result: {result['cases']} files (cases {result['start']}.."
        f"{result['start'] + result['cases'] - 1} of run seed {result['seed']}) in "
        f"{result['seconds']:.0f} s, seeds {', '.join(result['seeds'])}: "
        + ", ".join(f"{name} {outcomes.get(name, 0)}" for name in columns)
        + ".",
        "",
        "| mutation | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for kind, counts in result["by_kind"].items():
        lines.append(f"| {kind} | " + " | ".join(str(counts.get(c, 0)) for c in columns) + " |")
    lines += [
        "",
        "ok: the file loads and gives finite outputs of the declared shape; refused: a one-line",
        "`ProgramFileError` / `ProgramError` at load. The other four classes are failures.",
    ]
    for failure in result["failures"][:50]:
        lines.append(
            f"- FAIL #{failure['index']} {failure['seed']}/{failure['kind']} "
            f"({failure['detail']}): {failure['outcome']} {failure['message']}"
        )
    return "\n".join(lines) + "\n"
