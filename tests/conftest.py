"""Shared fixtures: small real data for fast training tests."""

from __future__ import annotations

import numpy as np
import pytest

from onebit.data import DataSplits, load


@pytest.fixture(scope="session")
def digits() -> DataSplits:
    return load("digits")


@pytest.fixture(scope="session")
def small_digits(digits: DataSplits) -> DataSplits:
    """The first 400 training and 200 test images of ``digits``: seconds per run, not minutes."""
    return DataSplits(
        name="digits-small",
        x_train=np.ascontiguousarray(digits.x_train[:400]),
        y_train=np.ascontiguousarray(digits.y_train[:400]),
        x_test=np.ascontiguousarray(digits.x_test[:200]),
        y_test=np.ascontiguousarray(digits.y_test[:200]),
        classes=digits.classes,
    )
