"""Binary convolution speed vs torch fp32 conv2d on the same shapes and thread counts.

The measurement lives in :mod:`onebit.bench.bconv2d`; this script runs it, prints the table and
saves the results (JSON with the machine and commit, plus a Markdown report beside it).

    python benchmarks/bconv2d.py --out docs/bconv2d.json

Targets: 3x3 256->256 14x14 at 1 thread >= 8x torch fp32 (packed to packed); 56x56 64->64 at
2 threads >= 1.8x faster than at 1 thread.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from rich.console import Console

from onebit.bench.bconv2d import benchmark_bconv2d, markdown_bconv2d, print_bconv2d
from onebit.bench.report import publish


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/bconv2d.json"))
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/bconv2d.py", *given])
    console = Console(width=140)
    result = benchmark_bconv2d()
    print_bconv2d(result, console)
    publish("bconv2d", result, markdown_bconv2d, args.out, command, console)


if __name__ == "__main__":
    main()
