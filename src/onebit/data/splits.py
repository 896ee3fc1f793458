"""The train, validation and test arrays every loader returns, and the rules that split them.

A loader gives train and test arrays; :meth:`DataSplits.with_validation` then carves a validation
split out of the training part by :func:`validation_split` (never out of the test part), so
hyperparameters can be chosen without looking at test data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from onebit._registry import OnebitError
from onebit.data._checks import describe_value

SPLIT_SEED = 0
"""Seed of the permutation that splits a dataset shipped without its own test set."""

VAL_SPLIT_SEED = 1
"""Seed of the permutation that carves the validation split out of the training part."""

DEFAULT_VAL_FRACTION = 0.1
"""The share of the training part that training runs hold out for validation by default."""

VALIDATION_RULE = (
    "validation: the last round(f * n) of numpy.random.default_rng(1).permutation(n) over the "
    "n training samples (f = --val-fraction, default 0.1; not stratified); the test split is "
    "never touched"
)
"""The split rule in one line, for ``onebit datasets`` and reports."""


@dataclass(frozen=True, eq=False, repr=False)
class DataSplits:
    """A dataset as train, validation and test arrays.

    Images are float32 of shape (N, C, H, W) scaled to [0, 1]; labels are int64 of shape (N,),
    indices into ``classes``.

    Attributes:
        name: the dataset's name, for reports.
        x_train: training images.
        y_train: training labels.
        x_test: test images.
        y_test: test labels.
        classes: the class names; label ``i`` means ``classes[i]``.
        x_val: validation images, carved from the training part (empty when there is none).
        y_val: validation labels (empty when there is none).

    Raises:
        OnebitError: if the arrays have the wrong dtype, rank or range, or do not match.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.classes or not all(isinstance(c, str) for c in self.classes):
            raise OnebitError(f"dataset {self.name!r}: classes must be a non-empty tuple of str")
        if (self.x_val is None) != (self.y_val is None):
            raise OnebitError(f"dataset {self.name!r}: give both x_val and y_val, or neither")
        if self.x_val is None and isinstance(self.x_train, np.ndarray):
            object.__setattr__(self, "x_val", self.x_train[:0])
            object.__setattr__(self, "y_val", np.zeros(0, np.int64))
        splits = ("train", "val", "test") if self.has_validation else ("train", "test")
        for split in splits:
            self._check_split(split, getattr(self, f"x_{split}"), getattr(self, f"y_{split}"))
        for split in splits[1:]:
            shape = getattr(self, f"x_{split}").shape[1:]
            if self.x_train.shape[1:] != shape:
                raise OnebitError(
                    f"dataset {self.name!r}: train images are {self.x_train.shape[1:]} "
                    f"but {split} images are {shape}"
                )

    @property
    def has_validation(self) -> bool:
        """Whether there is a validation split (a non-empty one)."""
        return self.y_val is not None and len(self.y_val) > 0

    def with_validation(self, fraction: float, seed: int = VAL_SPLIT_SEED) -> DataSplits:
        """These splits with a validation split carved out of the training part.

        The rule is :func:`validation_split`; the test split is returned as it is.

        Args:
            fraction: the share of the training samples that become validation samples;
                0 returns the splits without a validation split.
            seed: the permutation's seed; the default is the documented rule.

        Raises:
            OnebitError: if these splits already have a validation split, the fraction is not
                in [0, 1), or the training part is too small to give both parts samples.
        """
        return carve_validation(self, "y", fraction, seed)

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
    def num_outputs(self) -> int:
        """What a model of this data outputs: a logit per class."""
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape (C, H, W) of one image."""
        channels, height, width = self.x_train.shape[1:]
        return channels, height, width

    def __repr__(self) -> str:
        return (
            f"DataSplits({self.name!r}, train={len(self.x_train)}, val={len(self.y_val)}, "
            f"test={len(self.x_test)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes})"
        )


def carve_validation(splits, targets: str, fraction: float, seed: int = VAL_SPLIT_SEED):
    """``splits`` (a frozen dataclass with ``x_train``, ``x_val`` and ``{targets}_train``,
    ``{targets}_val``) with a validation split carved out of its training part by
    :func:`validation_split`; the splits unchanged for ``fraction`` 0.

    Raises:
        OnebitError: if the splits already have a validation split, the fraction is not in
            [0, 1), or the training part is too small to give both parts samples.
    """
    held = getattr(splits, f"{targets}_val")
    if held is not None and len(held) > 0:
        raise OnebitError(
            f"dataset {splits.name!r} already has a validation split "
            f"({len(held)} samples); carve it from splits without one"
        )
    labels = getattr(splits, f"{targets}_train")
    train, val = validation_split(len(labels), fraction, seed)
    if len(val) == 0:
        return splits
    return replace(
        splits,
        x_train=splits.x_train[train],
        x_val=splits.x_train[val],
        **{f"{targets}_train": labels[train], f"{targets}_val": labels[val]},
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


def validation_split(
    n: int, fraction: float, seed: int = VAL_SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` training samples into training and validation samples by a fixed permutation.

    The rule is ``idx = numpy.random.default_rng(seed).permutation(n)`` with ``seed`` 1 by
    default: the last ``n_val = floor(fraction * n + 0.5)`` entries of ``idx`` index the
    validation samples and the others the training samples, in permutation order. The split is
    not stratified: with 10 balanced classes and a few hundred validation samples every class is
    represented, and the rule stays one line.

    Args:
        n: how many training samples there are.
        fraction: the share that becomes validation samples, in [0, 1); 0 gives none.
        seed: the permutation's seed.

    Returns:
        The training indices and the validation indices (empty when ``fraction`` is 0).

    Raises:
        OnebitError: if ``fraction`` is not in [0, 1) or either part would be too small (a
            positive fraction must give at least one validation sample and leave two for
            training, the least BatchNorm can train on).
    """
    check_val_fraction(fraction)
    if fraction == 0:
        return np.arange(n), np.arange(0)
    n_val = math.floor(fraction * n + 0.5)
    if n_val < 1 or n - n_val < 2:
        raise OnebitError(
            f"val_fraction {fraction} of {n} training samples leaves {n_val} for validation "
            f"and {n - n_val} for training; each needs samples (training at least 2)"
        )
    idx = np.random.default_rng(seed).permutation(n)
    return idx[: n - n_val], idx[n - n_val :]


def check_val_fraction(fraction: float) -> None:
    """Refuse a validation fraction outside [0, 1), naming the value."""
    if isinstance(fraction, bool) or not (
        isinstance(fraction, int | float) and 0.0 <= fraction < 1.0
    ):
        raise OnebitError(f"val_fraction must be in [0, 1), got {fraction!r}")
