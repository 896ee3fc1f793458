"""Float max and average pooling ops against torch's, on NHWC maps with odd sizes and padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit.runtime.ops import OPS


def pool_op(kind: str, kernel: int, stride: int, padding: int):
    spec = {
        "type": kind,
        "inputs": ["x"],
        "output": "y",
        "attrs": {"kernel": [kernel] * 2, "stride": [stride] * 2, "padding": [padding] * 2},
    }
    return OPS.builder(kind)(spec, {})


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["maxpool2d", "avgpool2d"]),
    n=st.integers(1, 2),
    size=st.tuples(st.integers(3, 12), st.integers(3, 12)),
    channels=st.sampled_from([1, 3, 64, 65]),
    kernel=st.sampled_from([2, 3]),
    stride=st.sampled_from([1, 2, 3]),
    padding=st.integers(0, 1),
    seed=st.integers(0, 2**16),
)
def test_pools_match_torch(kind, n, size, channels, kernel, stride, padding, seed):
    x = np.random.default_rng(seed).standard_normal((n, *size, channels), dtype=np.float32)
    nchw = torch.from_numpy(x).permute(0, 3, 1, 2)
    pool = F.max_pool2d if kind == "maxpool2d" else F.avg_pool2d
    expected = pool(nchw, kernel, stride, padding).permute(0, 2, 3, 1).numpy()
    got = pool_op(kind, kernel, stride, padding)(x)
    if kind == "maxpool2d":
        np.testing.assert_array_equal(got, expected)  # a max picks a value: exact
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
def test_pooling_leaves_its_input_untouched(kind):
    x = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
    before = x.copy()
    pool_op(kind, 2, 1, 0)(x)
    np.testing.assert_array_equal(x, before)
