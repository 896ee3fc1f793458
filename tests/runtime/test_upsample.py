"""``upsample_nearest``: the NumPy op equals torch's nearest interpolation at integer scales, on
float maps exactly and on packed maps bit for bit; the C++ op equals the NumPy one in whole
programs; bad specs are refused alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from test_executor_pool import assert_same_run, one_op, refused_alike, runs

from onebit.runtime import OPS
from onebit.runtime.fuzz.seeds import _Graph
from onebit.runtime.reference import bitpack

CHANNELS = [1, 7, 63, 64, 65, 129]


def upsample_op(scale: list[int]):
    spec = {"type": "upsample_nearest", "inputs": ["x"], "output": "y", "attrs": {"scale": scale}}
    return OPS.builder("upsample_nearest")(spec, {})


def nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


@settings(max_examples=40, deadline=None)
@given(
    channels=st.sampled_from(CHANNELS),
    size=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
    scale=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    seed=st.integers(0, 2**16),
)
def test_the_op_equals_torch_nearest_interpolation(channels, size, scale, seed) -> None:
    n, h, w = size
    x = torch.randn(n, channels, h, w, generator=torch.Generator().manual_seed(seed))
    expected = nhwc(F.interpolate(x, scale_factor=scale, mode="nearest"))
    op = upsample_op(list(scale))
    np.testing.assert_array_equal(op(nhwc(x)), expected)
    packed = op(bitpack(nhwc(x)))
    assert packed.dtype == np.uint64
    np.testing.assert_array_equal(packed, bitpack(expected))


@settings(max_examples=25, deadline=None)
@given(
    channels=st.sampled_from(CHANNELS),
    side=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    scale=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    packed=st.booleans(),
    run=runs,
    seed=st.integers(0, 2**16),
)
def test_the_native_op_equals_the_reference(channels, side, scale, packed, run, seed) -> None:
    graph, tensors = one_op([*side, channels], "upsample_nearest", {"scale": list(scale)}, packed)
    assert assert_same_run(graph, tensors, run["batch"], run["threads"], seed)


def test_packed_upsampling_feeds_a_binary_conv() -> None:
    g = _Graph(0, [3, 5, 70])
    x = g.add("sign_pack", ["input"])
    x = g.add("upsample_nearest", [x], {"scale": [2, 3]})
    y = g.add(
        "binary_conv2d",
        [x],
        {"cin": 70, "stride": [1, 1], "padding": [1, 1], "pad_value": 0.0, "epilogue": "float"},
        weight=g.packed(8, 3, 3, 70),
        **g.affine(8),
    )
    assert assert_same_run(g.graph(g.add("flatten", [y])), g.tensors, batch=2, threads=2, seed=3)


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"scale": [0, 2]}, "scale"),
        ({"scale": [2]}, "scale"),
        ({}, "scale"),
        ({"scale": [2, 2.5]}, "scale"),
    ],
    ids=["zero", "one-number", "missing", "fraction"],
)
def test_bad_scales_are_refused_alike(attrs, message) -> None:
    assert message in refused_alike(*one_op([2, 2, 3], "upsample_nearest", attrs))


def test_a_vector_is_refused_alike() -> None:
    message = refused_alike(*one_op([5], "upsample_nearest", {"scale": [2, 2]}))
    assert "must be a 3-axis float value per sample" in message
    huge = refused_alike(*one_op([3, 3, 1], "upsample_nearest", {"scale": [2**30, 2**30]}))
    assert "the upsampled height" in huge
