"""Where the ``onebit`` commands print, how they turn an error into one line, and the tables they
share: used by ``onebit.cli`` and the command groups that live beside their library code
(``onebit.bench.cli``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from onebit._registry import OnebitError
from onebit.runtime.precision import OpPrecision

console = Console(soft_wrap=True)
if not console.is_terminal:  # logs and pipes: room for the tables instead of 80 columns
    console.width = 132
errors = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn an OnebitError or an OSError (a missing file, a full disk) into one line on stderr
    and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (OnebitError, OSError) as error:
            errors.print(f"[bold red]error:[/] {error}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            errors.print("interrupted; the last finished epoch's checkpoint is kept")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def precision_table(rows: list[OpPrecision], title: str = "") -> Table:
    """The widths as a rich table."""
    table = Table(title=title or None, header_style="bold")
    for name in ("Value", "Op", "In bits", "Weight bits", "Out bits"):
        table.add_column(name, justify="left" if name in ("Value", "Op") else "right")
    for row in rows:
        weight = "-" if row.weight_bits is None else str(row.weight_bits)
        table.add_row(row.output, row.type, str(row.input_bits), weight, str(row.output_bits))
    return table
