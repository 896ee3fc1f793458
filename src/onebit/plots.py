"""Plots, drawn with matplotlib's non-interactive backend and written atomically as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from onebit.atomic import atomic_write

METRIC_TITLES = {"accuracy": "accuracy", "nme": "normalized mean error"}


def plot_training_curves(
    history: Sequence[dict[str, float]],
    path: Path,
    title: str = "",
    metric: str = "accuracy",
    loss_name: str = "cross-entropy loss",
) -> Path:
    """Loss (left) and ``metric`` (right, in %: accuracy, or a landmark run's NME) per epoch:
    train, validation (when the history has it) and test."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for split in ("train", "val", "test"):
        if f"{split}_loss" not in history[0]:
            continue
        loss_axis.plot(epochs, [row[f"{split}_loss"] for row in history], label=split)
        accuracy_axis.plot(epochs, [100 * row[f"{split}_{metric}"] for row in history], label=split)
    loss_axis.set(xlabel="epoch", ylabel=loss_name, title="loss")
    name = METRIC_TITLES.get(metric, metric)
    accuracy_axis.set(xlabel="epoch", ylabel=f"{name} (%)", title=name)
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    return path
