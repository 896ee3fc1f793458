"""Batch norm + sign folded into thresholds equals the float model on every reachable acc."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from onebit.convert import ConversionError
from onebit.convert.ir import Value
from onebit.convert.lowering.norm import batch_norm_chain
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


SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1e-45, 1e30, -1e30, 3e38, -3e38, 1.0, -1.0]
special_floats = st.one_of(
    st.sampled_from(SPECIAL), st.floats(allow_nan=False, allow_infinity=False, width=32)
)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 3000),
    st.lists(st.tuples(special_floats, special_floats), min_size=1, max_size=8),
)
def test_thresholds_are_exact_for_any_finite_scale_and_bias(k, pairs):
    """Tiny scales against large biases (the sign change far from -t/s in float32), huge scales
    that overflow to inf, zero and negative zero: every acc in [-k, k] as torch computes it."""
    scale = np.array([p[0] for p in pairs], dtype=np.float32)
    bias = np.array([p[1] for p in pairs], dtype=np.float32)
    threshold, flip = thresholds_for(scale, bias, k)
    acc = np.arange(-k, k + 1, dtype=np.int32)[:, None].repeat(len(scale), axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        y = torch.from_numpy(acc.astype(np.float32)) * torch.from_numpy(scale) + torch.from_numpy(
            bias
        )
    expected = np.where(y.numpy() >= 0, 1.0, -1.0)
    np.testing.assert_array_equal(unpack(output_bits(acc, threshold, flip), len(scale)), expected)


def test_a_tiny_scale_against_a_large_bias_is_exact():
    # 1e-3 * acc + 1.0 in float32: 1.0 - 1e-3 * acc reaches 0 at acc = -1000 only if rounding
    # allows; the ±3 window around -t/s of a float64 formula missed such channels
    scale = np.array([1e-3, 3e-8, -3e-8], dtype=np.float32)
    bias = np.array([1.0, 1.0, -1.0], dtype=np.float32)
    for k in (1000, 40_000_000 // 10_000):
        threshold, flip = thresholds_for(scale, bias, k)
        acc, expected = brute_force(scale, bias, k)
        np.testing.assert_array_equal(unpack(output_bits(acc, threshold, flip), 3), expected)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scales_or_biases_are_refused(bad):
    with pytest.raises(ConversionError, match="not finite"):
        fold_thresholds(lambda t: t, np.array([1.0, bad]), np.array([0.0, 0.0]), 5)
    with pytest.raises(ConversionError, match="not finite"):
        fold_thresholds(lambda t: t, np.array([1.0, 1.0]), np.array([bad, 0.0]), 5)


def test_a_chain_that_is_not_monotone_is_refused():
    with pytest.raises(ConversionError, match="not monotone"):
        fold_thresholds(lambda t: -(t * t) + 4, np.array([1.0]), np.array([0.0]), 10)


@pytest.mark.parametrize("spatial", [(1, 1), (5, 7)], ids=["1x1", "5x7"])
def test_batch_norm_thresholds_match_the_model_on_its_own_maps(spatial):
    """Torch's CPU batch norm rounds differently on 1x1 maps than on larger ones; the thresholds
    follow the map size the model actually runs, checked on every accumulator of a real map."""
    channels, k = 4096, 24
    generator = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm2d(channels).eval()
    with torch.no_grad():
        # integer means and no shift: y = 0 in exact arithmetic at acc = mean, so the sign
        # there is decided by how the kernel rounds mean * alpha
        bn.running_mean.copy_(torch.randint(-k, k + 1, (channels,), generator=generator))
        bn.running_var.copy_(torch.rand(channels, generator=generator) * 400 + 1)
        bn.weight.copy_(torch.randn(channels, generator=generator))
        bn.bias.zero_()
    value = Value("v", "float", (*spatial, channels), (channels, *spatial))
    scale = np.sign(bn.weight.detach().double().numpy())
    threshold, flip = fold_thresholds(batch_norm_chain(bn, value), scale, np.zeros(channels), k)
    acc = torch.arange(-k, k + 1, dtype=torch.float32)
    h, w = spatial
    maps = acc[:, None, None, None].expand(len(acc), channels, h, w).contiguous()
    with torch.no_grad():
        expected = torch.where(bn(maps) >= 0, 1.0, -1.0)[:, :, 0, 0].numpy()
    acc32 = acc.numpy().astype(np.int32)[:, None].repeat(channels, axis=1)
    np.testing.assert_array_equal(unpack(output_bits(acc32, threshold, flip), channels), expected)


@pytest.mark.parametrize("spatial", [(1, 1), (5, 7)], ids=["1x1", "5x7"])
def test_the_batch_norm_chain_rounds_as_the_model_does_on_its_maps(spatial):
    """Torch's CPU batch norm takes other code paths (other roundings) for some map sizes; the
    chain evaluated on (rows, C) gives bit for bit what the model computes on its own maps."""
    channels, rows = 4096, 8
    generator = torch.Generator().manual_seed(1)
    bn = nn.BatchNorm2d(channels).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(channels, generator=generator))
        bn.running_var.copy_(torch.rand(channels, generator=generator) * 3 + 0.01)
        bn.weight.copy_(torch.randn(channels, generator=generator))
        bn.bias.copy_(torch.randn(channels, generator=generator))
    h, w = spatial
    maps = torch.randn(rows, channels, h, w, generator=generator)
    chain = batch_norm_chain(bn, Value("v", "float", (h, w, channels), (channels, h, w)))
    with torch.no_grad():
        expected = bn(maps)[:, :, 0, 0]
        got = chain(maps[:, :, 0, 0].contiguous())
    assert torch.equal(got, expected)
