"""Per-epoch metrics of a run: kept in memory, written as CSV and JSON, plotted as PNG."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from onebit.atomic import atomic_open

METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
CURVES_PNG = "curves.png"


class MetricsLog:
    """The rows of per-epoch metrics, and where they are written (None: nowhere)."""

    def __init__(
        self, out_dir: Path | None, metric: str = "accuracy", loss_name: str = "cross-entropy loss"
    ) -> None:
        self.out_dir = out_dir
        self.metric = metric
        self.loss_name = loss_name
        self.history: list[dict[str, float]] = []

    def append(self, row: dict[str, float]) -> None:
        self.history.append(dict(row))

    def write(self) -> None:
        """Rewrite ``metrics.csv`` and ``metrics.json`` atomically."""
        if self.out_dir is None or not self.history:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        with atomic_open(self.out_dir / METRICS_CSV, "w") as handle:
            handle.write(buffer.getvalue())
        with atomic_open(self.out_dir / METRICS_JSON, "w") as handle:
            json.dump(self.history, handle, indent=1)

    def plot(self) -> Path | None:
        """Write ``curves.png`` (loss and the task's metric per epoch: train, validation when
        the run has a validation split, and test); returns its path."""
        if self.out_dir is None or not self.history:
            return None
        from onebit.plots import plot_training_curves

        return plot_training_curves(
            self.history, self.out_dir / CURVES_PNG, metric=self.metric, loss_name=self.loss_name
        )
