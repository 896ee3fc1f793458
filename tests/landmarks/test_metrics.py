"""NME and PCK on points worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from onebit._registry import OnebitError
from onebit.landmarks import box_diagonal, interocular, normalized_mean_error, pck, point_errors

ANNOTATED = np.array(
    [
        [[0.0, 0.0], [6.0, 8.0], [np.nan, np.nan]],  # box diagonal 10
        [[1.0, 1.0], [1.0, 3.0], [3.0, 1.0]],  # box diagonal sqrt(8)
    ]
)
PREDICTED = np.array(
    [
        [[3.0, 4.0], [6.0, 8.0], [0.0, 0.0]],  # errors 5, 0, (not given)
        [[1.0, 1.0], [1.0, 4.0], [3.0, 1.0]],  # errors 0, 1, 0
    ]
)


def test_errors_and_lengths() -> None:
    errors = point_errors(PREDICTED, ANNOTATED)
    assert errors[0, :2].tolist() == [5.0, 0.0] and np.isnan(errors[0, 2])
    assert errors[1].tolist() == [0.0, 1.0, 0.0]
    assert np.allclose(box_diagonal(ANNOTATED), [10.0, np.sqrt(8)])
    assert interocular(ANNOTATED, (0, 1)).tolist() == [10.0, 2.0]


def test_nme_and_pck_leave_out_points_not_given() -> None:
    lengths = np.array([10.0, 2.0])
    # normalized errors: 0.5, 0 | 0, 0.5, 0
    assert normalized_mean_error(PREDICTED, ANNOTATED, lengths) == pytest.approx(1.0 / 5)
    assert pck(PREDICTED, ANNOTATED, lengths, alpha=0.1) == pytest.approx(3 / 5)
    assert pck(PREDICTED, ANNOTATED, lengths, alpha=0.5) == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: point_errors(PREDICTED[:1], ANNOTATED), "do not match"),
        (lambda: point_errors(np.full_like(PREDICTED, np.nan), ANNOTATED), "must not be NaN"),
        (lambda: point_errors(PREDICTED[0], ANNOTATED[0]), r"\(N, K, 2\)"),
        (lambda: normalized_mean_error(PREDICTED, ANNOTATED, [1.0]), "one length per image"),
        (lambda: normalized_mean_error(PREDICTED, ANNOTATED, [1.0, 0.0]), "positive"),
        (lambda: pck(PREDICTED, ANNOTATED, [1.0, 1.0], alpha=0), "alpha"),
        (lambda: interocular(ANNOTATED), "do not exist"),
        (lambda: box_diagonal(np.full((1, 2, 2), np.nan)), "no given point"),
        (
            lambda: normalized_mean_error(PREDICTED[:1, 2:], ANNOTATED[:1, 2:], [1.0]),
            "no annotated point",
        ),
    ],
)
def test_refusals(call, message) -> None:
    with pytest.raises(OnebitError, match=message):
        call()
