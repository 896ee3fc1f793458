"""The validation split: carved from the training part by a fixed, documented rule."""

from __future__ import annotations

import numpy as np
import pytest

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.data.splits import DataSplits, validation_split


def test_sizes_disjointness_and_the_documented_rule():
    train, val = validation_split(1437, 0.1)
    assert (len(train), len(val)) == (1293, 144)  # floor(143.7 + 0.5) = 144
    assert not set(train) & set(val) and sorted([*train, *val]) == list(range(1437))
    idx = np.random.default_rng(1).permutation(1437)
    assert np.array_equal(val, idx[-144:]) and np.array_equal(train, idx[:-144])


def test_the_split_is_the_same_every_time_and_depends_on_the_seed():
    assert np.array_equal(validation_split(500, 0.2)[1], validation_split(500, 0.2)[1])
    assert not np.array_equal(validation_split(500, 0.2)[1], validation_split(500, 0.2, 7)[1])


def test_fraction_zero_gives_no_validation_split(digits):
    train, val = validation_split(10, 0.0)
    assert len(val) == 0 and np.array_equal(train, np.arange(10))
    assert digits.with_validation(0.0) is digits and not digits.has_validation
    assert digits.x_val.shape == (0, 1, 8, 8) and digits.y_val.dtype == np.int64


@pytest.mark.parametrize("fraction", [1.0, -0.1, 1.5, float("nan"), "0.1", True])
def test_a_bad_fraction_is_an_error_naming_it(fraction):
    with pytest.raises(OnebitError) as error:
        validation_split(100, fraction)
    assert str(error.value) == f"val_fraction must be in [0, 1), got {fraction!r}"


@pytest.mark.parametrize(
    ("n", "fraction", "message"),
    [(10, 0.01, "leaves 0 for validation"), (3, 0.5, "leaves 2 for validation and 1 for training")],
)
def test_too_small_a_training_part_is_an_error(n, fraction, message):
    with pytest.raises(OnebitError, match=message):
        validation_split(n, fraction)


def test_validation_comes_out_of_training_and_the_test_split_is_untouched(digits):
    carved = digits.with_validation(0.1)
    assert (len(carved.y_train), len(carved.y_val)) == (1293, 144) and carved.has_validation
    assert carved.x_test is digits.x_test and carved.y_test is digits.y_test
    train, val = validation_split(1437, 0.1)
    assert np.array_equal(carved.x_val, digits.x_train[val])
    assert np.array_equal(carved.x_train, digits.x_train[train])
    assert repr(carved).startswith("DataSplits('digits', train=1293, val=144, test=360,")
    with pytest.raises(OnebitError, match="already has a validation split"):
        carved.with_validation(0.1)


def test_load_carves_the_split_by_the_rule(digits):
    carved = datasets.load("digits", val_fraction=0.1)
    train, val = validation_split(len(digits.y_train), 0.1)
    assert np.array_equal(carved.y_val, digits.y_train[val])
    assert np.array_equal(carved.y_train, digits.y_train[train])
    with pytest.raises(OnebitError, match="got 2"):
        datasets.load("digits", val_fraction=2)


def test_a_validation_split_is_checked_like_the_others():
    x = np.zeros((4, 1, 2, 2), np.float32)
    y = np.zeros(4, np.int64)
    with pytest.raises(OnebitError, match="val split: 4 images but 3 labels"):
        DataSplits("toy", x, y, x, y, ("a",), x_val=x, y_val=y[:3])
    with pytest.raises(OnebitError, match="both x_val and y_val"):
        DataSplits("toy", x, y, x, y, ("a",), x_val=x)
