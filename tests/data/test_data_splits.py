"""DataSplits validation and the permutation split rule."""

from __future__ import annotations

import numpy as np
import pytest

from onebit._registry import OnebitError
from onebit.data.splits import DataSplits, permutation_split


def make_splits(**overrides: object) -> DataSplits:
    fields: dict[str, object] = {
        "name": "toy",
        "x_train": np.zeros((4, 3, 2, 5), np.float32),
        "y_train": np.array([0, 1, 2, 1], np.int64),
        "x_test": np.ones((2, 3, 2, 5), np.float32),
        "y_test": np.array([2, 0], np.int64),
        "classes": ("a", "b", "c"),
    }
    fields.update(overrides)
    return DataSplits(**fields)  # type: ignore[arg-type]


def test_properties_and_repr() -> None:
    splits = make_splits()
    assert splits.num_classes == 3
    assert splits.input_shape == (3, 2, 5)
    assert repr(splits) == (
        "DataSplits('toy', train=4, val=0, test=2, input_shape=(3, 2, 5), num_classes=3)"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"y_train": np.array([0, 1, 2], np.int64)}, "4 images but 3 labels"),
        ({"y_test": np.array([3, 0], np.int64)}, "labels range over 0..3 but there are 3 classes"),
        ({"y_test": np.array([-1, 0], np.int64)}, "labels range over -1..0"),
        ({"x_train": np.zeros((4, 3, 2, 5), np.float64)}, "float32 array (N, C, H, W)"),
        ({"x_test": np.zeros((2, 10), np.float32)}, "got float32 array of shape (2, 10)"),
        ({"y_train": np.array([0, 1, 2, 1], np.int32)}, "int64 array (N,)"),
        ({"y_train": [0, 1, 2, 1]}, "got list"),
        ({"x_test": np.full((2, 3, 2, 5), 1.5, np.float32)}, "must lie in [0, 1]"),
        ({"x_test": np.full((2, 3, 2, 5), np.nan, np.float32)}, "must lie in [0, 1]"),
        ({"x_test": np.ones((2, 3, 2, 4), np.float32)}, "test images are (3, 2, 4)"),
        (
            {"x_test": np.ones((0, 3, 2, 5), np.float32), "y_test": np.zeros(0, np.int64)},
            "no images",
        ),
        ({"classes": ()}, "non-empty tuple of str"),
    ],
)
def test_invalid_splits_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(OnebitError, match="dataset 'toy'") as error:
        make_splits(**overrides)
    assert message in str(error.value)


def test_permutation_split_follows_the_documented_rule() -> None:
    train, test = permutation_split(10, 3)
    idx = np.random.default_rng(0).permutation(10)
    np.testing.assert_array_equal(train, idx[:7])
    np.testing.assert_array_equal(test, idx[7:])


@pytest.mark.parametrize(("n", "n_test"), [(5, 0), (5, 5), (1, 1)])
def test_permutation_split_needs_both_sets_non_empty(n: int, n_test: int) -> None:
    with pytest.raises(OnebitError, match=f"cannot split {n} samples"):
        permutation_split(n, n_test)
