"""Binary max-pool on packed NHWC words: the AND of the window's bits equals torch's max_pool2d of
the ±1 values (the reference, level 1), and the native kernel equals the reference (level 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, native
from onebit.runtime import reference
from onebit.runtime.bit_format import words_for

IMPLS = [
    pytest.param(reference.bmaxpool2d, id="reference"),
    pytest.param(getattr(native, "bmaxpool2d", None), id="native", marks=NATIVE_MISSING),
]

# (kernel, stride, padding); stride None means the kernel size
POOLS = [
    ((2, 2), None, (0, 0)),
    ((3, 3), (2, 2), (1, 1)),
    ((3, 3), (1, 1), (1, 1)),
    ((2, 3), (1, 2), (1, 0)),
    ((1, 1), (2, 2), (0, 0)),
]


def _pm1(seed: int, *shape: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    # mostly -1, so a window's max is often -1 and the AND is exercised both ways
    return torch.where(torch.rand(shape, generator=gen) < 0.3, 1.0, -1.0)


def _pack(x: torch.Tensor) -> np.ndarray:
    return reference.bitpack(x.permute(0, 2, 3, 1).contiguous().numpy())


def _torch_pool(x: torch.Tensor, kernel, stride, padding) -> np.ndarray:
    out = F.max_pool2d(x, kernel, stride=stride or kernel, padding=padding)
    return out.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("kernel", "stride", "padding"), POOLS, ids=str)
@pytest.mark.parametrize("channels", [1, 33, 64, 65, 127], ids=lambda c: f"c{c}")
@pytest.mark.parametrize("size", [(1, 5, 7), (3, 9, 4)], ids=lambda s: "n{}-{}x{}".format(*s))
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_bmaxpool2d_equals_torch(impl, kernel, stride, padding, channels, size, seed) -> None:
    n, h, w = size
    x = _pm1(seed, n, channels, h, w)
    expected = _torch_pool(x, kernel, stride, padding)
    got = impl(_pack(x), kernel, stride, padding)
    assert got.dtype == np.uint64
    assert got.shape == (*expected.shape[:3], words_for(channels))
    np.testing.assert_array_equal(reference.unpack(got, channels), expected)


@NATIVE_MISSING
@settings(max_examples=40, deadline=None)
@given(
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    data=st.data(),
    channels=st.integers(1, 200),
    seed=st.integers(0, 2**16),
)
def test_native_equals_reference_random_shapes(kh, kw, data, channels, seed) -> None:
    ph, pw = data.draw(st.integers(0, kh // 2)), data.draw(st.integers(0, kw // 2))
    stride = data.draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    h = data.draw(st.integers(max(1, kh - 2 * ph), 9))
    w = data.draw(st.integers(max(1, kw - 2 * pw), 9))
    x = _pack(_pm1(seed, data.draw(st.integers(1, 2)), channels, h, w))
    np.testing.assert_array_equal(
        native.bmaxpool2d(x, (kh, kw), stride, (ph, pw)),
        reference.bmaxpool2d(x, (kh, kw), stride, (ph, pw)),
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_defaults_and_int_arguments(impl) -> None:
    x = _pack(_pm1(1, 2, 70, 6, 6))
    np.testing.assert_array_equal(impl(x), reference.bmaxpool2d(x, (2, 2), (2, 2), (0, 0)))
    np.testing.assert_array_equal(impl(x, 3, 2, 1), reference.bmaxpool2d(x, (3, 3), (2, 2), (1, 1)))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("shape", "kwargs", "match"),
    [
        pytest.param((5, 5, 1), {}, "x", id="x-ndim"),
        pytest.param((1, 5, 5, 1), {"kernel": (0, 2)}, "kernel", id="kernel-zero"),
        pytest.param((1, 5, 5, 1), {"stride": (2, 0)}, "stride", id="stride-zero"),
        pytest.param((1, 5, 5, 1), {"padding": (2, 0)}, "padding", id="padding-over-half"),
        pytest.param((1, 5, 5, 1), {"padding": (0, -1)}, "padding", id="padding-negative"),
        pytest.param((1, 1, 5, 1), {"kernel": (2, 2)}, "kernel", id="kernel-too-large"),
    ],
)
def test_bad_arguments_raise_value_error(impl, shape, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        impl(np.zeros(shape, dtype=np.uint64), **kwargs)


@NATIVE_MISSING
def test_native_refuses_wrong_dtype_and_layout() -> None:
    with pytest.raises(TypeError, match="x"):
        native.bmaxpool2d(np.zeros((1, 4, 4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="x"):
        native.bmaxpool2d(np.zeros((1, 4, 4, 2), dtype=np.uint64)[..., :1])
