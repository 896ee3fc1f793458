"""Selection on the validation split: the best candidate by validation accuracy, never by test."""

from __future__ import annotations

import pytest

from onebit._registry import OnebitError
from onebit.experiments.selection import Candidate, select

CANDIDATES = tuple(Candidate(f"lr {lr}", {"lr": lr}) for lr in (0.1, 0.01, 0.001, 0.0001))
VAL = {0.1: 0.80, 0.01: 0.95, 0.001: 0.90, 0.0001: 0.95}


def metrics_with_test_inverted(candidate: Candidate) -> dict[str, float]:
    """What a training run reports, with test accuracy ranking the candidates the other way."""
    val = VAL[candidate.settings["lr"]]
    return {"val_accuracy": val, "test_accuracy": 1.0 - val, "train_accuracy": 1.0}


def test_the_best_validation_accuracy_wins_and_test_plays_no_part():
    selection = select(CANDIDATES, metrics_with_test_inverted)
    assert selection.best.name == "lr 0.01"  # tied with lr 0.0001 on validation: tried first
    assert selection.val_accuracy == {
        "lr 0.1": 0.8,
        "lr 0.01": 0.95,
        "lr 0.001": 0.9,
        "lr 0.0001": 0.95,
    }
    record = selection.as_json()
    assert record["chosen"] == "lr 0.01" and record["chosen_settings"] == {"lr": 0.01}
    assert [c["val_accuracy"] for c in record["candidates"]] == [0.8, 0.95, 0.9, 0.95]
    assert "test" not in str(record)


def test_the_order_of_the_candidates_breaks_ties():
    assert select(CANDIDATES[::-1], metrics_with_test_inverted).best.name == "lr 0.0001"


def test_every_candidate_is_trained_once_in_order():
    trained = []
    select(CANDIDATES, lambda c: trained.append(c.name) or metrics_with_test_inverted(c))
    assert trained == [c.name for c in CANDIDATES]


@pytest.mark.parametrize(
    ("candidates", "train_fn", "message"),
    [
        ((), metrics_with_test_inverted, "at least one candidate"),
        (CANDIDATES[:1] * 2, metrics_with_test_inverted, "distinct"),
        (CANDIDATES, lambda c: {"test_accuracy": 0.9}, "without a validation split"),
    ],
)
def test_refusals(candidates, train_fn, message):
    with pytest.raises(OnebitError, match=message):
        select(candidates, train_fn)


def test_other_validation_scores_rank_in_turn_and_are_reported():
    margins = {0.1: -1.0, 0.01: -2.0, 0.001: -1.0, 0.0001: -3.0}

    def train_fn(candidate: Candidate) -> dict[str, float]:
        return {
            **metrics_with_test_inverted(candidate),
            "val_margin": margins[candidate.settings["lr"]],
        }

    rule = "the smallest shortfall, then validation accuracy"
    selection = select(CANDIDATES, train_fn, rank_by=("val_margin", "val_accuracy"), rule=rule)
    assert selection.best.name == "lr 0.001"  # tied on the margin with lr 0.1, better accuracy
    record = selection.as_json()
    assert record["rule"] == rule
    assert [c["val_margin"] for c in record["candidates"]] == [-1.0, -2.0, -1.0, -3.0]
    assert [c["val_accuracy"] for c in record["candidates"]] == [0.8, 0.95, 0.9, 0.95]
    with pytest.raises(OnebitError, match=r"no \['val_margin'\] to rank by"):
        select(CANDIDATES, metrics_with_test_inverted, rank_by=("val_margin",))
    with pytest.raises(OnebitError, match="at least one metric"):
        select(CANDIDATES, metrics_with_test_inverted, rank_by=())
    with pytest.raises(OnebitError, match=r"validation metrics \(val_...\) only"):
        select(CANDIDATES, metrics_with_test_inverted, rank_by=("test_accuracy",))


def test_an_error_ranks_lowest_first_without_an_accuracy():
    errors = {0.1: 0.30, 0.01: 0.05, 0.001: 0.04, 0.0001: 0.04}

    def train_fn(candidate: Candidate) -> dict[str, float]:
        error = errors[candidate.settings["lr"]]
        return {"val_nme": error, "val_pck": 1.0 - error, "test_nme": 1.0 - error}

    selection = select(CANDIDATES, train_fn, rank_by=("val_nme",), minimize=("val_nme",))
    assert selection.best.name == "lr 0.001"  # the lowest error, tried before its tie
    assert selection.val_accuracy == {}
    record = selection.as_json()
    assert [c["val_nme"] for c in record["candidates"]] == [0.30, 0.05, 0.04, 0.04]
    assert all("val_accuracy" not in c for c in record["candidates"])
    with pytest.raises(OnebitError, match="not among rank_by"):
        select(CANDIDATES, train_fn, rank_by=("val_pck",), minimize=("val_nme",))
