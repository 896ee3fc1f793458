"""NCHW <-> NHWC: the native batched transpose equals the NumPy reference (a copy: exactly), and
the reference equals torch's permute, on odd shapes (few channels, as an RGB input, and many)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit.runtime import reference

try:
    from onebit import _native
except ImportError:  # test_native_built.py fails loudly when the extension is missing
    _native = None

IMPLEMENTATIONS = [pytest.param(reference, id="reference")]
if _native is not None:
    IMPLEMENTATIONS.append(pytest.param(_native, id="native"))

shapes = st.tuples(
    st.integers(1, 3),
    st.sampled_from([1, 2, 3, 4, 5, 31, 33, 64, 65]),
    st.integers(1, 37),
    st.integers(1, 37),
)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=60, deadline=None)
@given(shape=shapes, threads=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**16))
def test_both_directions_equal_torch_permute(impl, shape, threads, seed):
    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    kwargs = {} if impl is reference else {"threads": threads}
    nhwc = impl.nchw_to_nhwc(x, **kwargs)
    np.testing.assert_array_equal(nhwc, torch.from_numpy(x).permute(0, 2, 3, 1).numpy())
    assert nhwc.flags.c_contiguous
    back = impl.nhwc_to_nchw(nhwc, **kwargs)
    np.testing.assert_array_equal(back, x)
    assert back.flags.c_contiguous


@pytest.mark.skipif(_native is None, reason="onebit._native is not built")
def test_large_image_on_many_threads_is_exact():
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)
    x[0, 1, 5, 7] = np.nan  # copied, not computed: NaN and -0.0 come through as they are
    x[1, 2, 9, 9] = -0.0
    for threads in (1, 2, 7):
        got = _native.nchw_to_nhwc(x, threads=threads).view(np.uint32)
        np.testing.assert_array_equal(got, reference.nchw_to_nhwc(x).view(np.uint32))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", ["nchw_to_nhwc", "nhwc_to_nchw"])
@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (np.zeros((1, 3, 4, 4), np.float64), TypeError, "float32"),
        (np.zeros((3, 4, 4), np.float32), ValueError, "x"),
        (np.zeros((1, 4, 4, 3), np.float32).transpose(0, 3, 1, 2), ValueError, "contiguous"),
    ],
    ids=["float64", "3-D", "view"],
)
def test_bad_maps_are_refused(impl, name, x, error, message):
    with pytest.raises(error, match=message):
        getattr(impl, name)(x)
