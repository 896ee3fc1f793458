"""``quantize_pack``, float -> the bit planes of k-bit codes: the reference and the native kernel
(1 and 2 threads) against torch's ``clamp(round(x * m) + z, 0, 2^b - 1)`` (round half to even) with
NaN, +-inf, +-0, huge values and the halves mixed in, and the native kernel against the reference
bit for bit over channel counts around the word width."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from helpers import NATIVE_MISSING, native
from onebit.runtime import reference_bitserial as ref

CHANNELS = (1, 7, 31, 32, 33, 63, 64, 65, 127, 513)
BITS = [pytest.param(b, id=f"{b}bit") for b in range(1, 9)]

MULTIPLIERS = (0.25, 1.0, 1.5, 2.0, 3.0, 20.0, 127.0)


def quantize_inputs(rng: np.random.Generator, shape, multiplier: float) -> np.ndarray:
    """Normals at several scales, with NaN, +-inf, +-0, huge values and the halves
    +-0.5, 1.5, 2.5 (times 1 / multiplier) mixed in."""
    x = (rng.standard_normal(shape) * rng.choice([0.5, 4.0, 300.0], shape)).astype(np.float32)
    x = x / np.float32(multiplier)
    special = np.array(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 3e38, 1e-45]
        + [h / multiplier for h in (0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 127.5, 128.5, 254.5)],
        np.float32,
    )
    flat = x.reshape(-1)
    where = rng.choice(flat.size, min(flat.size, len(special) * 2), replace=False)
    flat[where] = np.resize(special, len(where))
    return x


QUANTIZE = [pytest.param(None, id="reference")]
if native is not None:
    QUANTIZE += [
        pytest.param(functools.partial(native.quantize_pack, threads=t), id=f"native-t{t}")
        for t in (1, 2)
    ]
else:
    QUANTIZE += [pytest.param(None, id="native", marks=NATIVE_MISSING)]


@pytest.mark.parametrize("quantize", QUANTIZE)
@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("multiplier", MULTIPLIERS, ids=lambda m: f"m{m}")
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_quantize_pack_equals_torch_round(quantize, bits: int, multiplier: float, seed: int):
    rng = np.random.default_rng(seed)
    zero_point = int(rng.integers(-(2**bits), 2**bits + 1))
    x = quantize_inputs(rng, (3, 5, 67), multiplier)
    got = (quantize or ref.quantize_pack)(x, bits, multiplier, zero_point)
    assert got.dtype == np.uint64 and got.shape == (bits, 3, 5, 2)
    codes = ref.decode_planes(got, 67)
    t = torch.from_numpy(x)
    want = torch.clamp(torch.round(t * multiplier) + zero_point, 0, 2**bits - 1)
    finite = ~torch.isnan(t)
    np.testing.assert_array_equal(codes[finite.numpy()], want[finite].to(torch.int64).numpy())
    assert not codes[np.isnan(x)].any()  # NaN -> code 0
    assert not (got[..., -1] >> np.uint64(3)).any()  # padding bits 0


@pytest.mark.parametrize("quantize", QUANTIZE[1:])
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_native_quantize_pack_equals_reference(quantize, channels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for bits, multiplier in ((1, 1.0), (2, 1.5), (4, 3.0), (8, 20.0)):
        zero_point = int(rng.integers(-(2**bits), 2**bits + 1))
        for shape in ((channels,), (3, channels), (2, 3, channels)):
            x = quantize_inputs(rng, shape, multiplier)
            np.testing.assert_array_equal(
                quantize(x, bits, multiplier, zero_point),
                ref.quantize_pack(x, bits, multiplier, zero_point),
            )


@pytest.mark.parametrize("quantize", QUANTIZE)
def test_halves_round_to_even(quantize) -> None:
    x = np.array([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 63.75], np.float32)
    got = ref.decode_planes((quantize or ref.quantize_pack)(x, 8, 2.0, 3), 7)
    np.testing.assert_array_equal(got, [3 + 0, 3 + 2, 3 + 2, 3 + 0, 3 - 2, 3 - 2, 3 + 128])
