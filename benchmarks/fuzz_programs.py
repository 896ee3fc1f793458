"""The long fuzz run of the ``.onebit`` loader (issue #10): at least 100,000 mutated files.

Each file runs in a supervised worker (``onebit.runtime.fuzz``); the run prints the count of
each outcome (ok, refused, and the failures: error, nonfinite, crash, hang) overall and per
mutation kind, then the failing cases, each replayable from its index. Exit status 1 if any
case failed.

    python benchmarks/fuzz_programs.py --cases 100000 --jobs 2 --converted
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
from onebit.runtime.fuzz import Report, fuzz, seed_files
from onebit.runtime.fuzz.converted import converted_seeds


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


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
    if args.out:
        result = {
            "cases": args.cases,
            "seed": args.seed,
            "start": args.start,
            "seconds": round(report.seconds, 1),
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
        atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
