"""Choosing a setting on the validation split, never on the test split.

An experiment that tries several settings (an optimizer's hyperparameters, a float twin's learning
rate) trains each candidate once and keeps the one with the best final validation accuracy (or
another validation score: a landmark error, a worst case over settings); the test
split is only reported afterwards, for runs that were not used to choose anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onebit._registry import OnebitError

DEFAULT_RULE = "highest final validation accuracy; ties go to the candidate tried first"


@dataclass(frozen=True)
class Candidate:
    """One setting to try: a name for reports and the values it sets."""

    name: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Selection:
    """The candidate chosen and every candidate's validation accuracy, in the order tried.

    Attributes:
        best: the candidate with the best score (the first one tried on a tie).
        val_accuracy: each candidate's final validation accuracy, by name (empty for a task
            without an accuracy, such as landmarks).
        candidates: the candidates, in the order tried.
        scores: each candidate's values of the ranking keys besides ``val_accuracy``, by name.
        rule: how the candidate was chosen, in words.
    """

    best: Candidate
    val_accuracy: dict[str, float]
    candidates: tuple[Candidate, ...]
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    rule: str = DEFAULT_RULE

    def as_json(self) -> dict[str, Any]:
        """The selection as plain values for a report: the chosen name and the grid."""
        return {
            "rule": self.rule,
            "chosen": self.best.name,
            "chosen_settings": dict(self.best.settings),
            "candidates": [
                {
                    "name": c.name,
                    "settings": dict(c.settings),
                    **(
                        {"val_accuracy": self.val_accuracy[c.name]}
                        if c.name in self.val_accuracy
                        else {}
                    ),
                    **self.scores.get(c.name, {}),
                }
                for c in self.candidates
            ],
        }


def select(
    candidates: Sequence[Candidate],
    train_fn: Callable[[Candidate], Mapping[str, float]],
    rank_by: Sequence[str] = ("val_accuracy",),
    rule: str = DEFAULT_RULE,
    minimize: Sequence[str] = (),
) -> Selection:
    """Train every candidate and return the one with the best validation score.

    Only the ``rank_by`` keys of what ``train_fn`` returns (and ``val_accuracy``, kept for the
    report when given) are read: the test metrics a training run also reports play no part in
    the choice.

    Args:
        candidates: the settings to try, with distinct names.
        train_fn: trains one candidate and returns its final metrics, which must include the
            ``rank_by`` keys.
        rank_by: metrics compared in turn: the first decides unless tied, then the next; the
            default ranks by validation accuracy alone. Each must be computed on the
            validation split, so each must be named ``val_...``.
        rule: ``rank_by`` in words, for reports.
        minimize: the ``rank_by`` keys for which lower is better (an error, a loss); higher is
            better for the others.

    Raises:
        OnebitError: for no candidates, repeated names, a ranking key that is not a validation
            metric, or metrics without a ``rank_by`` key.
    """
    if not candidates:
        raise OnebitError("selection needs at least one candidate")
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise OnebitError(f"candidate names must be distinct, got {names}")
    if not rank_by:
        raise OnebitError("selection needs at least one metric to rank by")
    not_validation = [key for key in rank_by if not key.startswith("val_")]
    if not_validation:
        raise OnebitError(
            f"selection ranks by validation metrics (val_...) only, got {not_validation}"
        )
    unknown = [key for key in minimize if key not in rank_by]
    if unknown:
        raise OnebitError(f"minimize names {unknown}, which are not among rank_by {list(rank_by)}")
    val_accuracy: dict[str, float] = {}
    ranks: dict[str, tuple[float, ...]] = {}
    for candidate in candidates:
        metrics = train_fn(candidate)
        if not any(key.startswith("val_") for key in metrics):
            raise OnebitError(
                f"candidate {candidate.name!r} was trained without a validation split "
                "(val_fraction 0); selection needs one"
            )
        missing = [key for key in rank_by if key not in metrics]
        if missing:
            raise OnebitError(f"candidate {candidate.name!r} has no {missing} to rank by")
        if "val_accuracy" in metrics:
            val_accuracy[candidate.name] = float(metrics["val_accuracy"])
        ranks[candidate.name] = tuple(
            -float(metrics[key]) if key in minimize else float(metrics[key]) for key in rank_by
        )
    best = max(candidates, key=lambda c: (ranks[c.name], -names.index(c.name)))
    extra = [key for key in rank_by if key != "val_accuracy"]
    scores = {
        name: {
            key: -score if key in minimize else score
            for key, score in zip(rank_by, rank, strict=True)
            if key in extra
        }
        for name, rank in ranks.items()
    }
    return Selection(best, val_accuracy, tuple(candidates), scores if extra else {}, rule)
