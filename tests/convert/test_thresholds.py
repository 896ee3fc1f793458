"""Batch norm + sign folded into thresholds equals the float model on every reachable acc."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit.convert.thresholds import INT32_MAX, INT32_MIN, fold_thresholds
from onebit.runtime.reference import output_bits, unpack


def brute_force(scale, bias, k):
    acc = np.arange(-k, k + 1, dtype=np.int32)[:, None].repeat(len(scale), axis=1)
    y = acc.astype(np.float32) * scale.astype(np.float32) + bias.astype(np.float32)
    return acc, np.where(y >= 0, 1.0, -1.0)


def thresholds_for(scale, bias, k):
    s32, b32 = torch.from_numpy(scale.astype(np.float32)), torch.from_numpy(bias.astype(np.float32))
    return fold_thresholds(
        lambda t: t * s32 + b32, scale.astype(np.float64), bias.astype(np.float64), k
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 300),
    st.lists(st.floats(-3, 3, width=32), min_size=1, max_size=12),
    st.lists(st.floats(-400, 400, width=32), min_size=12, max_size=12),
)
def test_thresholds_reproduce_the_sign_of_the_affine_map(k, scales, biases):
    scale = np.array(scales, dtype=np.float32)
    bias = np.array(biases[: len(scales)], dtype=np.float32)
    threshold, flip = thresholds_for(scale, bias, k)
    acc, expected = brute_force(scale, bias, k)
    got = unpack(output_bits(acc, threshold, flip), len(scale))
    np.testing.assert_array_equal(got, expected)


def test_hand_cases():
    scale = np.array([0.5, -2.0, 0.0, 0.0, 1.0])
    bias = np.array([-1.5, 3.0, 1.0, -1.0, 0.0])
    threshold, flip = thresholds_for(scale, bias, 10)
    # 0.5*acc - 1.5 >= 0 <=> acc >= 3;  -2*acc + 3 >= 0 <=> acc <= 1;  constants;  acc >= 0
    assert threshold.tolist() == [3, 1, INT32_MIN, INT32_MAX, 0]
    assert flip.tolist() == [0, 1, 0, 0, 0]


@pytest.mark.parametrize("bias", [1e6, -1e6])
def test_thresholds_far_outside_the_reachable_range_give_constant_channels(bias):
    threshold, flip = thresholds_for(np.array([1.0]), np.array([bias]), 50)
    acc, expected = brute_force(np.array([1.0]), np.array([bias]), 50)
    np.testing.assert_array_equal(unpack(output_bits(acc, threshold, flip), 1), expected)
