"""Binary GEMM speed vs torch fp32 and int8 on the same shapes and thread counts.

The measurement lives in :mod:`onebit.bench.bgemm`; this script runs it, prints the table and
saves the results (JSON with the machine and commit, plus a Markdown report beside it).

    python benchmarks/bgemm.py --out docs/bgemm.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from rich.console import Console

from onebit.bench.bgemm import THREADS, benchmark_bgemm, markdown_bgemm, print_bgemm
from onebit.bench.report import publish


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/bgemm.json"))
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/bgemm.py", *given])
    console = Console(width=180)
    result = benchmark_bgemm(threads=tuple(args.threads))
    print_bgemm(result, console)
    publish("bgemm", result, markdown_bgemm, args.out, command, console)


if __name__ == "__main__":
    main()
