"""Bit packing: the NumPy reference against the sign definition, and the native kernel against the
reference bit for bit, over every SIMD path this machine has and 1, 2 and 3 threads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import NATIVE_MISSING, SIMD_PATHS, native, native_params
from onebit.runtime import reference
from onebit.runtime.bit_format import words_for

THREADS = (1, 2, 3)  # 3 is more than this 2-core machine has
CHANNELS = (1, 7, 31, 32, 33, 63, 64, 65, 127, 513)
SEEDS = [pytest.param(seed, id=f"seed{seed}") for seed in (0, 1)]


PACKERS = [pytest.param(reference.bitpack, id="reference"), *native_params("bitpack")]
UNPACKERS = [pytest.param(reference.unpack, id="reference"), *native_params("unpack")]
ROUND_TRIPS = [
    pytest.param(reference.bitpack, reference.unpack, id="reference"),
    *native_params("bitpack", "unpack"),
]


def _signs(x: np.ndarray) -> np.ndarray:
    """The ±1 definition: +1 where ``x >= 0``, -1 elsewhere (NaN included)."""
    return np.where(x >= 0, 1.0, -1.0).astype(np.float32)


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if dtype == "int8":
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_matches_sign_definition(seed: int, channels: int, dtype: str) -> None:
    x = _random(np.random.default_rng(seed), (3, channels), dtype)
    words = reference.bitpack(x)
    assert words.dtype == np.uint64 and words.shape == (3, words_for(channels))
    for row, packed in zip(x, words, strict=True):
        bits = sum(int(value < 0) << c for c, value in enumerate(row))
        assert bits == sum(int(w) << (64 * i) for i, w in enumerate(packed))


@pytest.mark.parametrize("pack", PACKERS)
@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_bitpack_matches_reference(pack, seed: int, channels: int, dtype: str) -> None:
    x = _random(np.random.default_rng(seed), (2, 5, channels), dtype)
    got = pack(x)
    expected = reference.bitpack(x)
    assert got.dtype == np.uint64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    if channels % 64:
        assert not np.any(got[..., -1] >> np.uint64(channels % 64)), "padding bits must be 0"


@pytest.mark.parametrize("pack", PACKERS)
def test_bitpack_special_values(pack) -> None:
    values = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-45, -1e-45, 3.0, -3.0]
    x = np.array(values * 7, dtype=np.float32)
    np.testing.assert_array_equal(pack(x), reference.bitpack(x))
    np.testing.assert_array_equal(reference.unpack(pack(x), x.size), _signs(x))
    i8 = np.array([0, -1, 1, -128, 127] * 13, dtype=np.int8)
    np.testing.assert_array_equal(reference.unpack(pack(i8), i8.size), _signs(i8))


@pytest.mark.parametrize("pack", PACKERS)
@pytest.mark.parametrize("shape", [(65,), (0, 65), (4, 0, 7), (1, 1, 1, 1)], ids=str)
def test_bitpack_any_leading_shape(pack, shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    got = pack(x)
    assert got.shape == (*shape[:-1], words_for(shape[-1]))
    np.testing.assert_array_equal(got, reference.bitpack(x))


@pytest.mark.parametrize("unpack", UNPACKERS)
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_unpack_matches_reference(unpack, seed: int, channels: int) -> None:
    words = np.random.default_rng(seed).integers(
        0, 2**64, size=(3, 2, words_for(channels)), dtype=np.uint64
    )
    got = unpack(words, channels)
    assert got.dtype == np.float32 and got.shape == (3, 2, channels)
    np.testing.assert_array_equal(got, reference.unpack(words, channels))


@pytest.mark.parametrize(("pack", "unpack"), ROUND_TRIPS)
@settings(max_examples=25, deadline=None)
@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.int8]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=70).filter(
            lambda s: s[-1] > 0
        ),
    )
)
def test_unpack_of_pack_is_sign(pack, unpack, x: np.ndarray) -> None:
    np.testing.assert_array_equal(unpack(pack(x), x.shape[-1]), _signs(x))
    np.testing.assert_array_equal(pack(x), reference.bitpack(x))


# --- native argument checks -------------------------------------------------------------------


@NATIVE_MISSING
@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        pytest.param(np.zeros((2, 3), np.float64), TypeError, "float32 or int8", id="float64"),
        pytest.param(np.zeros((2, 3), np.uint8), TypeError, "float32 or int8", id="uint8"),
        pytest.param(np.zeros((), np.float32), ValueError, "axis", id="0-d"),
        pytest.param(np.zeros((4, 6), np.float32)[:, ::2], ValueError, "contiguous", id="strided"),
        pytest.param(np.zeros((4, 6), np.float32).T, ValueError, "contiguous", id="transposed"),
        pytest.param([1.0, -1.0], TypeError, "incompatible", id="list"),
    ],
)
def test_bitpack_rejects_bad_input(x, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        native.bitpack(x)


@NATIVE_MISSING
def test_unpack_rejects_bad_input() -> None:
    words = np.zeros((2, 2), np.uint64)
    with pytest.raises(ValueError, match="channels=64 needs exactly 1"):
        native.unpack(words, 64)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        native.unpack(words, 0)
    with pytest.raises(TypeError, match="uint64"):
        native.unpack(words.astype(np.int64), 100)
    with pytest.raises(ValueError, match="contiguous"):
        native.unpack(np.zeros((2, 4), np.uint64)[:, ::2], 100)


@NATIVE_MISSING
def test_bad_simd_or_threads_are_rejected() -> None:
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="available: " + ", ".join(SIMD_PATHS)):
        native.bitpack(x, simd="avx9000")
    with pytest.raises(ValueError, match="threads"):
        native.bitpack(x, threads=-1)
