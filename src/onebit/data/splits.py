"""The train and test arrays every loader returns, and the one rule that splits a set in two."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onebit._registry import OnebitError
from onebit.data._checks import describe_value

SPLIT_SEED = 0
"""Seed of the permutation that splits a dataset shipped without its own test set."""


@dataclass(frozen=True, eq=False, repr=False)
class DataSplits:
    """A dataset as train and test arrays.

    Images are float32 of shape (N, C, H, W) scaled to [0, 1]; labels are int64 of shape (N,),
    indices into ``classes``.

    Attributes:
        name: the dataset's name, for reports.
        x_train: training images.
        y_train: training labels.
        x_test: test images.
        y_test: test labels.
        classes: the class names; label ``i`` means ``classes[i]``.

    Raises:
        OnebitError: if the arrays have the wrong dtype, rank or range, or do not match.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.classes or not all(isinstance(c, str) for c in self.classes):
            raise OnebitError(f"dataset {self.name!r}: classes must be a non-empty tuple of str")
        for split in ("train", "test"):
            self._check_split(split, getattr(self, f"x_{split}"), getattr(self, f"y_{split}"))
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise OnebitError(
                f"dataset {self.name!r}: train images are {self.x_train.shape[1:]} "
                f"but test images are {self.x_test.shape[1:]}"
            )

    def _check_split(self, split: str, x: np.ndarray, y: np.ndarray) -> None:
        where = f"dataset {self.name!r}, {split} split"
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 4:
            raise OnebitError(
                f"{where}: images must be a float32 array (N, C, H, W), got {describe_value(x)}"
            )
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
            raise OnebitError(
                f"{where}: labels must be an int64 array (N,), got {describe_value(y)}"
            )
        if len(x) != len(y):
            raise OnebitError(f"{where}: {len(x)} images but {len(y)} labels")
        if len(x) == 0:
            raise OnebitError(f"{where}: no images")
        if not (x.min() >= 0.0 and x.max() <= 1.0):  # also false for NaN
            raise OnebitError(f"{where}: pixel values must lie in [0, 1]")
        if y.min() < 0 or y.max() >= len(self.classes):
            raise OnebitError(
                f"{where}: labels range over {y.min()}..{y.max()} "
                f"but there are {len(self.classes)} classes"
            )

    @property
    def num_classes(self) -> int:
        """How many classes there are."""
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape (C, H, W) of one image."""
        channels, height, width = self.x_train.shape[1:]
        return channels, height, width

    def __repr__(self) -> str:
        return (
            f"DataSplits({self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes})"
        )


def permutation_split(n: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` samples by a fixed permutation.

    The rule is ``idx = numpy.random.default_rng(0).permutation(n)``: the first ``n - n_test``
    entries of ``idx`` index the training set and the last ``n_test`` the test set.

    Args:
        n: how many samples there are.
        n_test: how many go to the test set; both sets must be non-empty.

    Returns:
        The training indices and the test indices.
    """
    if not 0 < n_test < n:
        raise OnebitError(f"cannot split {n} samples into {n - n_test} train and {n_test} test")
    idx = np.random.default_rng(SPLIT_SEED).permutation(n)
    return idx[: n - n_test], idx[n - n_test :]
