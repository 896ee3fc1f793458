"""Choosing a setting on the validation split, never on the test split.

An experiment that tries several settings (an optimizer's hyperparameters, a float twin's learning
rate) trains each candidate once and keeps the one with the best final validation accuracy; the
test split is only reported afterwards, for runs that were not used to choose anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onebit._registry import OnebitError


@dataclass(frozen=True)
class Candidate:
    """One setting to try: a name for reports and the values it sets."""

    name: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Selection:
    """The candidate chosen and every candidate's validation accuracy, in the order tried.

    Attributes:
        best: the candidate with the highest validation accuracy (the first one tried on a tie).
        val_accuracy: each candidate's final validation accuracy, by name.
        candidates: the candidates, in the order tried.
    """

    best: Candidate
    val_accuracy: dict[str, float]
    candidates: tuple[Candidate, ...]

    def as_json(self) -> dict[str, Any]:
        """The selection as plain values for a report: the chosen name and the grid."""
        return {
            "rule": "highest final validation accuracy; ties go to the candidate tried first",
            "chosen": self.best.name,
            "chosen_settings": dict(self.best.settings),
            "candidates": [
                {
                    "name": c.name,
                    "settings": dict(c.settings),
                    "val_accuracy": self.val_accuracy[c.name],
                }
                for c in self.candidates
            ],
        }


def select(
    candidates: Sequence[Candidate],
    train_fn: Callable[[Candidate], Mapping[str, float]],
) -> Selection:
    """Train every candidate and return the one with the best validation accuracy.

    Only ``val_accuracy`` of what ``train_fn`` returns is read: the test metrics a training run
    also reports play no part in the choice.

    Args:
        candidates: the settings to try, with distinct names.
        train_fn: trains one candidate and returns its final metrics, which must include
            ``val_accuracy`` (a run with a validation split).

    Raises:
        OnebitError: for no candidates, repeated names, or metrics without ``val_accuracy``.
    """
    if not candidates:
        raise OnebitError("selection needs at least one candidate")
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise OnebitError(f"candidate names must be distinct, got {names}")
    val_accuracy: dict[str, float] = {}
    for candidate in candidates:
        metrics = train_fn(candidate)
        if "val_accuracy" not in metrics:
            raise OnebitError(
                f"candidate {candidate.name!r} was trained without a validation split "
                "(val_fraction 0); selection needs one"
            )
        val_accuracy[candidate.name] = float(metrics["val_accuracy"])
    best = max(candidates, key=lambda c: (val_accuracy[c.name], -names.index(c.name)))
    return Selection(best, val_accuracy, tuple(candidates))
