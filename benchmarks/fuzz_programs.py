"""The long fuzz run of the ``.onebit`` loader (issue #10): at least 100,000 mutated files.

Each file runs in a supervised worker (``onebit.runtime.fuzz``); the run prints the count of
each outcome (ok, refused, and the failures: error, nonfinite, crash, hang) overall and per
mutation kind, then the failing cases, each replayable from its index. Exit status 1 if any
case failed.

    python benchmarks/fuzz_programs.py --cases 100000 --jobs 2 --seed 1 --converted \
        --out docs/fuzz.json --report docs/fuzz.md
    python benchmarks/fuzz_programs.py --cases 1 --start 4242 --keep failures/   # one case again
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from onebit.atomic import atomic_write
from onebit.runtime.fuzz import FAILURES, Report, fuzz, seed_files
from onebit.runtime.fuzz.converted import converted_seeds
from onebit.runtime.fuzz.supervise import WORKER_MAX_MEMORY, WORKER_MAX_WORK


def commit() -> str:
    """The commit measured, ``-dirty`` when the tree had uncommitted changes."""
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=7"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def markdown(result: dict, command: str) -> str:
    """The report ``docs/fuzz.md``: how it was made, the totals, and the counts per mutation."""
    columns = ("ok", "refused", *FAILURES)
    outcomes = result["outcomes"]
    lines = [
        "# Fuzzing the `.onebit` loader",
        "",
        f"Remake with `{command}`.",
        "Each file is a structured mutation of a seed program (the built-in graphs of",
        "`onebit.runtime.fuzz.seeds`, which use every op, and any converted models named below),",
        f"loaded in a supervised worker process (memory limit {WORKER_MAX_MEMORY >> 20} MiB, work",
        f"limit 2^{WORKER_MAX_WORK.bit_length() - 1} per sample, {result['timeout']:g} s timeout),",
        "then called on a batch of uniform [-1, 1] inputs and on an empty batch.",
        "",
        f"Result at commit {result['commit']} ({result['machine']}, Python {result['python']}):",
        f"{result['cases']} files in {result['seconds']:.0f} s, seeds "
        f"{', '.join(result['seeds'])}: "
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0, help="the run's seed")
    parser.add_argument("--start", type=int, default=0, help="the first case index")
    parser.add_argument("--jobs", type=int, default=1, help="workers side by side")
    parser.add_argument("--chunk", type=int, default=5000, help="cases per progress line")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a hang")
    parser.add_argument(
        "--seed-file",
        type=Path,
        action="append",
        default=[],
        help="a .onebit file to mutate besides the built-in seeds",
    )
    parser.add_argument(
        "--converted",
        action="store_true",
        help="also mutate two small converted models (needs torch)",
    )
    parser.add_argument("--keep", type=Path, help="save failing files here")
    parser.add_argument("--out", type=Path, help="write the counts as JSON here")
    parser.add_argument("--report", type=Path, help="write the Markdown report here")
    args = parser.parse_args()

    seeds = {**seed_files(), **{path.stem: path.read_bytes() for path in args.seed_file}}
    if args.converted:
        seeds.update(converted_seeds())
    chunks = [
        (start, min(args.chunk, args.start + args.cases - start))
        for start in range(args.start, args.start + args.cases, args.chunk)
    ]
    report = Report()
    began = time.perf_counter()

    def run(chunk: tuple[int, int]) -> Report:
        start, count = chunk
        return fuzz(count, args.seed, seeds, args.timeout, keep=args.keep, start=start)

    with ThreadPoolExecutor(args.jobs) as pool:
        for (start, count), part in zip(chunks, pool.map(run, chunks), strict=True):
            report.merge(part)
            done = sum(report.outcomes.values())
            print(
                f"cases {start}..{start + count - 1}: {dict(part.outcomes)} "
                f"({done} done, {time.perf_counter() - began:.0f} s)",
                flush=True,
            )
    report.seconds = time.perf_counter() - began
    print(f"seeds: {', '.join(sorted(seeds))}; run seed {args.seed}; commit {commit()}")
    print(report.summary())
    if args.out or args.report:
        result = {
            "cases": args.cases,
            "seed": args.seed,
            "start": args.start,
            "seconds": round(report.seconds, 1),
            "timeout": args.timeout,
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
            "machine": platform.platform(),
            "python": sys.version.split()[0],
            "commit": commit(),
        }
        if args.out:
            text = json.dumps(result, indent=1)
            atomic_write(args.out, lambda tmp: Path(tmp).write_text(text))
        if args.report:
            text = markdown(result, "python benchmarks/fuzz_programs.py " + " ".join(sys.argv[1:]))
            atomic_write(args.report, lambda tmp: Path(tmp).write_text(text))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
