"""Progress bars and per-epoch lines for training, drawn with rich."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

METRIC_LABELS = {"accuracy": "acc", "nme": "NME"}


class TrainingProgress:
    """One bar per epoch with running loss and metric, and a summary line when it ends.

    Disabled, it draws nothing (other ranks of a distributed run, or ``progress=False``); notes
    ("nothing to do", a re-planned schedule) are printed whenever ``notes`` is set.
    """

    def __init__(
        self,
        enabled: bool = True,
        console: Console | None = None,
        notes: bool = True,
        metric: str = "accuracy",
    ) -> None:
        self.enabled = enabled
        self.notes = notes
        self.metric = metric
        label = METRIC_LABELS.get(metric, metric)
        self.console = console or Console(stderr=True, soft_wrap=True)
        self._progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"loss {{task.fields[loss]:.4f}}  {label} {{task.fields[metric]:.2%}}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not enabled,
        )
        self._task = None

    def __enter__(self) -> TrainingProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.__exit__(exc_type, exc, traceback)

    def note(self, text: str) -> None:
        """One line about the run as a whole, e.g. that a resumed run has nothing to do."""
        if self.notes:
            self.console.print(text, highlight=False, markup=False)

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(
            "train", total=steps, epoch=f"{epoch + 1}/{epochs}", loss=0.0, metric=0.0
        )

    def advance(self, loss: float, metric: float) -> None:
        """One step done: the running loss and metric (accuracy, or a landmark run's NME)."""
        if self._task is not None:
            self._progress.update(self._task, advance=1, loss=loss, metric=metric)

    def end_epoch(self, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        label = METRIC_LABELS.get(self.metric, self.metric)
        splits = "  ".join(
            f"{split} loss {metrics[f'{split}_loss']:.4f} "
            f"{label} {metrics[f'{split}_{self.metric}']:.2%}"
            for split in ("train", "val", "test")
            if f"{split}_loss" in metrics
        )
        self.console.print(
            f"epoch {metrics['epoch']:>3}  {splits}  "
            f"lr {metrics['lr']:.2e}  {metrics['epoch_seconds']:.2f}s"
        )
