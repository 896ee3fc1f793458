"""Shared fixtures: small real data for fast training tests, and torch on one thread."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import one_thread
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


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module (``pytestmark = pytest.mark.usefixtures(...)``); see
    ``helpers.one_thread``."""
    with one_thread():
        yield


def _simd_line() -> str:
    from onebit.runtime import kernels

    runs, cannot = kernels.simd_paths()
    return (
        f"onebit kernels: {kernels.BACKEND}; SIMD paths tested: {', '.join(runs) or 'none'}; "
        f"not runnable on this CPU (untested here): {', '.join(cannot) or 'none'}"
    )


def pytest_report_header(config) -> str:
    return _simd_line()


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(_simd_line())
