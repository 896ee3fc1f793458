"""Writers of small dataset files, shared by the tests of onebit.data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from helpers import write_idx


@pytest.fixture
def idx_writer() -> Callable[..., Path]:
    """The IDX writer, as a fixture so every test module can use it."""
    return write_idx


@pytest.fixture
def mnist_arrays() -> dict[str, np.ndarray]:
    """Tiny MNIST-like arrays: 5 train and 3 test images of 4x6 pixels."""
    rng = np.random.default_rng(1)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 4, 6), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.array([0, 3, 9, 1, 3], dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 4, 6), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([2, 0, 7], dtype=np.uint8),
    }


@pytest.fixture
def mnist_dir(tmp_path: Path, mnist_arrays: dict[str, np.ndarray]) -> Path:
    """A directory holding ``mnist_arrays`` as the four plain IDX files of an MNIST download."""
    for name, array in mnist_arrays.items():
        write_idx(tmp_path / name, array)
    return tmp_path
