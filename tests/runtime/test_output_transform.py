"""Output transforms of int32 accumulators: float ``acc * scale + bias`` and threshold bits.

Level 1: the references against the float formulas (torch); level 2: native against reference bit
for bit (the float epilogue too: no fused multiply-add on either side).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, native, native_params
from onebit.runtime import reference
from onebit.runtime.bit_format import words_for

INT32_MIN, INT32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max
CHANNELS = [1, 7, 31, 32, 33, 63, 64, 65, 127, 513]
LEADING = [(), (3,), (2, 3, 5)]


def _impls(name: str) -> list:
    return [
        pytest.param(getattr(reference, name), id="reference"),
        *native_params(name, threads=(1, 2)),
    ]


def _seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------------------
# output_float


def _float_data(rng: np.random.Generator, leading: tuple[int, ...], channels: int):
    acc = rng.integers(-(2**20), 2**20, size=(*leading, channels), dtype=np.int32)
    scale = (rng.standard_normal(channels) * rng.choice([1e-3, 1.0, 7.0], channels)).astype(
        np.float32
    )
    bias = (rng.standard_normal(channels) * 100).astype(np.float32)
    return acc, scale, bias


def test_output_float_reference_equals_torch_formula() -> None:
    """Level 1: two float32 roundings, the product then the sum."""
    acc, scale, bias = _float_data(_seeded(0), (4, 9), 65)
    expected = torch.from_numpy(acc).float() * torch.from_numpy(scale) + torch.from_numpy(bias)
    got = reference.output_float(acc, scale, bias)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), expected.numpy().view(np.uint32))
    # the data tells an unfused epilogue from a fused one (one rounding of the exact a*s+b)
    fused = (acc.astype(np.float64) * scale.astype(np.float64) + bias).astype(np.float32)
    assert np.any(fused != got)


@pytest.mark.parametrize("impl", _impls("output_float"))
@pytest.mark.parametrize("channels", CHANNELS, ids=lambda c: f"c{c}")
@pytest.mark.parametrize("leading", LEADING, ids=lambda s: "x".join(map(str, s)) or "row")
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_output_float_bit_exact(impl, channels: int, leading: tuple[int, ...], seed: int) -> None:
    acc, scale, bias = _float_data(_seeded(seed), leading, channels)
    expected = reference.output_float(acc, scale, bias)
    got = impl(acc, scale, bias)
    assert got.dtype == np.float32 and got.shape == acc.shape
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


# ------------------------------------------------------------------------------------------------
# output_bits


def _thresholds(scale: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """By hand: ``sign(scale * acc + bias)`` (sign(0) = +1) as int32 thresholds and flips.

    ``scale > 0``: -1 iff ``acc < -bias / scale`` iff ``acc < ceil(-bias / scale)``.
    ``scale < 0``: -1 iff ``acc > -bias / scale`` iff ``acc > floor(-bias / scale)``.
    ``scale == 0``: the constant sign of ``bias``.
    """
    threshold = np.zeros(scale.shape, dtype=np.int32)
    flip = (scale < 0).astype(np.uint8)
    for c, (s, b) in enumerate(zip(scale.tolist(), bias.tolist(), strict=True)):
        if s > 0:
            threshold[c] = np.ceil(-b / s)
        elif s < 0:
            threshold[c] = np.floor(-b / s)
        else:
            threshold[c] = INT32_MIN if b >= 0 else INT32_MAX
    return threshold, flip


@pytest.mark.parametrize("impl", _impls("output_bits"))
def test_output_bits_is_sign_of_affine(impl) -> None:
    """Level 1: thresholds chosen by hand give ``sign(scale * acc + bias)``, ties included."""
    # exact binary fractions, so the float side computes without rounding
    scale = np.array([0.5, -0.25, 2.0, -1.0, 0.0, 0.0, 1.0, -4.0, 0.125], dtype=np.float64)
    bias = np.array([1.5, -0.75, 3.0, 2.0, 0.0, -1.0, -0.5, 0.0, 0.375], dtype=np.float64)
    acc = np.arange(-8, 9, dtype=np.int32)[:, None].repeat(len(scale), axis=1)
    threshold, flip = _thresholds(scale, bias)
    expected = torch.where(
        torch.from_numpy(acc * scale + bias) >= 0, torch.tensor(1.0), torch.tensor(-1.0)
    )
    got = impl(np.ascontiguousarray(acc), threshold, flip)
    assert got.dtype == np.uint64 and got.shape == (17, 1)
    np.testing.assert_array_equal(reference.unpack(got, len(scale)), expected.numpy())


def test_output_bits_reference_matches_batch_norm_sign() -> None:
    """Level 1: batch norm (eval) then sign, folded into thresholds."""
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(40).eval().double()
    bn.running_mean.uniform_(-20, 20)
    bn.running_var.uniform_(0.5, 30)
    bn.weight.data.uniform_(-2, 2)
    bn.bias.data.uniform_(-2, 2)
    acc = np.random.default_rng(0).integers(-60, 61, size=(500, 40), dtype=np.int32)
    expected = torch.where(bn(torch.from_numpy(acc).double()) >= 0, 1.0, -1.0).numpy()
    inv_std = (bn.running_var + bn.eps).rsqrt()
    scale = (bn.weight * inv_std).detach().numpy()
    bias = (bn.bias - bn.running_mean * bn.weight * inv_std).detach().numpy()
    threshold, flip = _thresholds(scale, bias)
    got = reference.unpack(reference.output_bits(acc, threshold, flip), 40)
    np.testing.assert_array_equal(got, expected)


def _bits_data(rng: np.random.Generator, leading: tuple[int, ...], channels: int):
    threshold = rng.integers(-50, 50, size=channels, dtype=np.int32)
    special = rng.random(channels)
    threshold[special < 0.1] = INT32_MIN
    threshold[special > 0.9] = INT32_MAX
    flip = rng.integers(0, 2, size=channels, dtype=np.uint8)
    # accumulators near the thresholds, ties included
    near = np.clip(threshold.astype(np.int64), -60, 60)
    acc = (near + rng.integers(-2, 3, size=(*leading, channels))).astype(np.int32)
    return acc, threshold, flip


@pytest.mark.parametrize("impl", _impls("output_bits"))
@pytest.mark.parametrize("channels", CHANNELS, ids=lambda c: f"c{c}")
@pytest.mark.parametrize("leading", LEADING, ids=lambda s: "x".join(map(str, s)) or "row")
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_output_bits_bit_exact(impl, channels: int, leading: tuple[int, ...], seed: int) -> None:
    acc, threshold, flip = _bits_data(_seeded(seed), leading, channels)
    values = reference.unpack(reference.output_bits(acc, threshold, flip), channels)
    negative = np.where(flip.astype(bool), acc > threshold, acc < threshold)
    np.testing.assert_array_equal(values, np.where(negative, -1.0, 1.0))
    got = impl(acc, threshold, flip)
    assert got.dtype == np.uint64 and got.shape == (*leading, words_for(channels))
    np.testing.assert_array_equal(got, reference.output_bits(acc, threshold, flip))


def test_output_bits_constant_channels() -> None:
    acc = np.array([[INT32_MIN + 1, -5, 0, 7, INT32_MAX - 1]] * 2, dtype=np.int32).T.copy()
    threshold = np.array([INT32_MIN, INT32_MAX], dtype=np.int32)
    flip = np.zeros(2, dtype=np.uint8)
    got = reference.unpack(reference.output_bits(acc, threshold, flip), 2)
    np.testing.assert_array_equal(got[:, 0], 1.0)  # nothing is below INT32_MIN: always +1
    np.testing.assert_array_equal(got[:, 1], -1.0)  # everything reachable is below INT32_MAX


@NATIVE_MISSING
@settings(max_examples=30, deadline=None)
@given(
    leading=st.lists(st.integers(0, 4), max_size=3).map(tuple),
    channels=st.integers(1, 200),
    seed=st.integers(0, 2**16),
    threads=st.integers(0, 2),
)
def test_native_equals_reference_random_shapes(leading, channels, seed, threads) -> None:
    rng = _seeded(seed)
    acc, threshold, flip = _bits_data(rng, leading, channels)
    np.testing.assert_array_equal(
        native.output_bits(acc, threshold, flip, threads=threads),
        reference.output_bits(acc, threshold, flip),
    )
    acc, scale, bias = _float_data(rng, leading, channels)
    np.testing.assert_array_equal(
        native.output_float(acc, scale, bias, threads=threads).view(np.uint32),
        reference.output_float(acc, scale, bias).view(np.uint32),
    )


# ------------------------------------------------------------------------------------------------
# bad inputs


def _acc() -> np.ndarray:
    return np.zeros((2, 5), dtype=np.int32)


F32, I32, U8 = np.float32, np.int32, np.uint8


@pytest.mark.parametrize("impl", _impls("output_float"))
@pytest.mark.parametrize(
    ("acc", "scale", "bias", "error", "match"),
    [
        pytest.param(_acc().astype(np.int64), np.ones(5, F32), np.ones(5, F32), TypeError, "acc"),
        pytest.param(_acc(), np.ones(4, F32), np.ones(5, F32), ValueError, "scale", id="scale-len"),
        pytest.param(_acc(), np.ones(5, np.float64), np.ones(5, F32), TypeError, "scale"),
        pytest.param(_acc(), np.ones(5, F32), np.ones((1, 5), F32), ValueError, "bias"),
    ],
)
def test_output_float_bad_arguments(impl, acc, scale, bias, error, match) -> None:
    """A wrong dtype raises TypeError, a wrong shape ValueError, naming the argument."""
    with pytest.raises(error, match=match):
        impl(acc, scale, bias)


@pytest.mark.parametrize("impl", _impls("output_bits"))
@pytest.mark.parametrize(
    ("acc", "threshold", "flip", "error", "match"),
    [
        pytest.param(_acc().astype(F32), np.ones(5, I32), np.ones(5, U8), TypeError, "acc"),
        pytest.param(_acc(), np.ones(6, I32), np.ones(5, U8), ValueError, "threshold"),
        pytest.param(_acc(), np.ones(5, I32), np.ones(5, bool), TypeError, "flip"),
        pytest.param(_acc(), np.ones(5, I32), np.full(5, 2, U8), ValueError, "flip"),
    ],
)
def test_output_bits_bad_arguments(impl, acc, threshold, flip, error, match) -> None:
    with pytest.raises(error, match=match):
        impl(acc, threshold, flip)


@NATIVE_MISSING
def test_native_refuses_non_contiguous() -> None:
    acc = np.zeros((4, 10), dtype=np.int32)[:, ::2]
    with pytest.raises(ValueError, match="acc"):
        native.output_float(acc, np.ones(5, F32), np.ones(5, F32))
    with pytest.raises(ValueError, match="acc"):
        native.output_bits(acc, np.ones(5, I32), np.ones(5, U8))
    with pytest.raises(ValueError, match="threads"):
        native.output_bits(np.zeros((4, 5), I32), np.ones(5, I32), np.ones(5, U8), threads=-1)
