"""The plot of a BATS search: each edge's architecture weights, epoch by epoch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from onebit.atomic import atomic_write
from onebit.models.bats_ops import PRIMITIVES
from onebit.search.supernet import CELL_TYPES


def edge_labels(nodes: int) -> list[str]:
    """``"node i <- state j"`` for each edge, in the order the weights list them."""
    return [f"node {i} <- {j}" for i in range(nodes) for j in range(2 + i)]


def plot_architecture_weights(
    history: Sequence[dict[str, Any]], nodes: int, path: Path, title: str = ""
) -> Path:
    """One panel per edge of the normal and the reduction cell: the softmax weight of every op
    (one line each, the same colour in every panel) against the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = edge_labels(nodes)
    columns = min(7, len(labels))
    rows_per_cell = math.ceil(len(labels) / columns)
    figure, axes = plt.subplots(
        2 * rows_per_cell,
        columns,
        figsize=(2.3 * columns, 2.0 * 2 * rows_per_cell + 0.8),
        sharex=True,
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    epochs = [row["epoch"] for row in history]
    lines = []
    for c, cell in enumerate(CELL_TYPES):
        for e, label in enumerate(labels):
            axis = axes[c * rows_per_cell + e // columns][e % columns]
            for o, _ in enumerate(PRIMITIVES):
                (line,) = axis.plot(
                    epochs, [row["weights"][cell][e][o] for row in history], linewidth=1.2
                )
                if c == 0 and e == 0:
                    lines.append(line)
            axis.set_title(f"{cell}: {label}", fontsize=8)
            axis.grid(alpha=0.3)
        for e in range(len(labels), rows_per_cell * columns):
            axes[c * rows_per_cell + e // columns][e % columns].set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("epoch", fontsize=8)
    for row in axes:
        row[0].set_ylabel("weight", fontsize=8)
    figure.legend(lines, list(PRIMITIVES), loc="outside lower center", ncols=4, fontsize=8)
    figure.suptitle(title or "BATS architecture weights, softmax(alpha / T), per edge")
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=90, format="png"))
    plt.close(figure)
    return path
