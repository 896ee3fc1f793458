"""``channel_shuffle``: the NumPy op equals torch's channel shuffle (``onebit.nn`` and torch's own)
on float maps and vectors exactly; the C++ op equals the NumPy one in whole programs, bit for bit;
bad specs and inputs are refused alike, with the same message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_executor_pool import assert_same_run, one_op, refused_alike, runs

from onebit import OnebitError
from onebit.nn import channel_shuffle
from onebit.runtime import OPS
from onebit.runtime.fuzz.seeds import _Graph


def shuffle_op(groups):
    spec = {"type": "channel_shuffle", "inputs": ["x"], "output": "y", "attrs": {"groups": groups}}
    return OPS.builder("channel_shuffle")(spec, {})


def nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


@st.composite
def channels_and_groups(draw) -> tuple[int, int]:
    """A channel count (odd ones and those around the word width among them) and a divisor."""
    channels = draw(st.one_of(st.integers(1, 24), st.sampled_from([63, 64, 65, 96, 129])))
    divisors = [g for g in range(1, channels + 1) if channels % g == 0]
    return channels, draw(st.sampled_from(divisors))


@settings(max_examples=60, deadline=None)
@given(
    shape=channels_and_groups(),
    size=st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7)),
    seed=st.integers(0, 2**16),
)
def test_the_op_equals_torch_channel_shuffle(shape, size, seed) -> None:
    (channels, groups), (n, h, w) = shape, size
    x = torch.randn(n, channels, h, w, generator=torch.Generator().manual_seed(seed))
    expected = nhwc(channel_shuffle(x, groups))
    np.testing.assert_array_equal(expected, nhwc(torch.nn.ChannelShuffle(groups)(x)))
    got = shuffle_op(groups)(nhwc(x))
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=30, deadline=None)
@given(shape=channels_and_groups(), n=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_the_op_shuffles_vectors_as_torch_does(shape, n, seed) -> None:
    channels, groups = shape
    x = torch.randn(n, channels, generator=torch.Generator().manual_seed(seed))
    got = shuffle_op(groups)(x.numpy())
    np.testing.assert_array_equal(got, channel_shuffle(x, groups).numpy())


def test_output_channel_c_is_input_channel_c_mod_g_times_c_over_g_plus_c_div_g() -> None:
    x = np.arange(12, dtype=np.float32).reshape(1, 12)
    np.testing.assert_array_equal(shuffle_op(4)(x)[0], [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11])
    np.testing.assert_array_equal(shuffle_op(1)(x), x)
    np.testing.assert_array_equal(shuffle_op(12)(x), x)


@settings(max_examples=40, deadline=None)
@given(
    shape=channels_and_groups(),
    side=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    vector=st.booleans(),
    run=runs,
    seed=st.integers(0, 2**16),
)
def test_the_native_op_equals_the_reference(shape, side, vector, run, seed) -> None:
    channels, groups = shape
    dims = [channels] if vector else [*side, channels]
    graph, tensors = one_op(dims, "channel_shuffle", {"groups": groups})
    assert assert_same_run(graph, tensors, run["batch"], run["threads"], seed)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_a_large_map_split_over_threads_equals_the_reference(threads) -> None:
    """Enough pixels that the rows are split between threads (common/threads.h)."""
    graph, tensors = one_op([31, 33, 96], "channel_shuffle", {"groups": 6})
    assert assert_same_run(graph, tensors, batch=3, threads=threads, seed=threads)


def test_a_shuffle_between_float_and_binary_layers_runs_alike() -> None:
    g = _Graph(0, [12, 5, 7])
    x = g.add("nchw_to_nhwc", ["input"])
    x = g.add("channel_shuffle", [x], {"groups": 3})
    y = g.add(
        "binary_conv2d",
        [g.add("sign_pack", [x])],
        {"cin": 12, "stride": [1, 1], "padding": [1, 1], "pad_value": 0.0, "epilogue": "float"},
        weight=g.packed(8, 3, 3, 12),
        **g.affine(8),
    )
    y = g.add("channel_shuffle", [y], {"groups": 4})
    y = g.add("global_avgpool", [y])
    y = g.add("channel_shuffle", [y], {"groups": 2})
    assert assert_same_run(g.graph(y), g.tensors, batch=3, threads=2, seed=1)


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"groups": 0}, "groups must be an integer >= 1, < 2^31"),
        ({}, "groups must be an integer >= 1, < 2^31"),
        ({"groups": 2.0}, "groups must be an integer >= 1, < 2^31"),
        ({"groups": True}, "groups must be an integer >= 1, < 2^31"),
        ({"groups": "2"}, "groups must be an integer >= 1, < 2^31"),
        ({"groups": 2**31}, "groups must be an integer >= 1, < 2^31"),
        ({"groups": 4}, "groups=4 must divide the 6 channels"),
        ({"groups": 12}, "groups=12 must divide the 6 channels"),
    ],
    ids=["zero", "missing", "float", "bool", "string", "huge", "not-a-divisor", "too-many"],
)
def test_bad_groups_are_refused_alike(attrs, message) -> None:
    said = refused_alike(*one_op([2, 3, 6], "channel_shuffle", attrs))
    assert said.startswith("op 'v0' (channel_shuffle): ")
    assert message in said


def test_wrong_inputs_are_refused_alike() -> None:
    packed = refused_alike(*one_op([2, 3, 6], "channel_shuffle", {"groups": 2}, packed=True))
    assert "its input must be a float value per sample, got bits (2, 3, 1)" in packed
    matrix = refused_alike(*one_op([4, 6], "channel_shuffle", {"groups": 2}))
    assert "must be a float map (H, W, C) or vector (C,) per sample, got float (4, 6)" in matrix


def test_the_python_op_refuses_arrays_it_cannot_shuffle() -> None:
    op = shuffle_op(4)
    with pytest.raises(OnebitError, match="channels divisible by 4"):
        op(np.zeros((1, 2, 2, 6), np.float32))
    with pytest.raises(OnebitError, match="float32 maps"):
        op(np.zeros((1, 2, 2, 8), np.float64))
    with pytest.raises(OnebitError, match="float32 maps"):
        op(np.zeros((1, 2, 8), np.float32))
