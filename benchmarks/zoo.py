"""Zoo models through the packed engine vs torch fp32 ResNet-18, batch 1 at 224x224.

The measurement lives in :mod:`onebit.bench.zoo`; this script runs it, prints the table and
saves the results (JSON with the machine and commit, plus a Markdown report beside it).

    python benchmarks/zoo.py --out docs/zoo.json

Targets: quicknet at least 6x faster than the fp32 ResNet-18 on 1 thread; 2 threads at least
1.7x faster than 1; packed files at least 10x smaller than float32.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from rich.console import Console

from onebit.bench.report import publish
from onebit.bench.zoo import benchmark_zoo, markdown_zoo, print_zoo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/zoo.json"))
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/zoo.py", *given])
    console = Console(width=140)
    result = benchmark_zoo()
    print_zoo(result, console)
    publish("zoo", result, markdown_zoo, args.out, command, console)


if __name__ == "__main__":
    main()
