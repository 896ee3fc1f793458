"""The ``concat`` (float) and ``binary_concat`` (packed) ops against ``torch.cat(dim=1)``: float
maps exactly, packed maps bit for bit (including the zero padding bits of the last word), whether
the channel counts fill whole words or not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit import OnebitError
from onebit.runtime import OPS, Program, ProgramError
from onebit.runtime.reference import bitpack

CHANNELS = [1, 7, 63, 64, 65, 128, 129]


def concat_op(kind: str, channels: list[int]):
    names = [f"x{i}" for i in range(len(channels))]
    spec = {"type": kind, "inputs": names, "output": "y", "attrs": {"channels": channels}}
    return OPS.builder(kind)(spec, {})


def maps(channels: list[int], n: int, h: int, w: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, c, h, w, generator=gen) for c in channels]


def nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


@settings(max_examples=40, deadline=None)
@given(
    channels=st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=4),
    size=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
    seed=st.integers(0, 2**16),
)
def test_concat_and_binary_concat_equal_torch_cat(channels, size, seed) -> None:
    xs = maps(channels, *size, seed)
    expected = nhwc(torch.cat(xs, dim=1))
    np.testing.assert_array_equal(concat_op("concat", channels)(*map(nhwc, xs)), expected)
    packed = concat_op("binary_concat", channels)(*(bitpack(nhwc(x)) for x in xs))
    assert packed.dtype == np.uint64
    np.testing.assert_array_equal(packed, bitpack(expected))


@pytest.mark.parametrize(
    ("channels", "aligned"),
    [([64, 7], True), ([128, 64, 129], True), ([7, 64], False), ([64, 65, 1], False)],
    ids=str,
)
def test_binary_concat_joins_words_when_all_but_the_last_fill_them(channels, aligned) -> None:
    op = concat_op("binary_concat", channels)
    assert op.aligned is aligned
    xs = maps(channels, 2, 3, 3, seed=1)
    got = op(*(bitpack(nhwc(x)) for x in xs))
    np.testing.assert_array_equal(got, bitpack(nhwc(torch.cat(xs, dim=1))))


def test_vectors_concatenate_too() -> None:
    a, b = np.ones((3, 5), np.float32), np.zeros((3, 2), np.float32)
    np.testing.assert_array_equal(concat_op("concat", [5, 2])(a, b), np.hstack([a, b]))


@pytest.mark.parametrize(
    ("kind", "inputs", "message"),
    [
        ("concat", [(1, 2, 2, 3), (1, 2, 2, 5)], "expects float32 maps .* with \\[3, 4\\]"),
        ("concat", [(1, 2, 2, 3), (1, 3, 2, 4)], "cannot join"),
        ("concat", [(2, 2, 2, 3), (1, 2, 2, 4)], "cannot join"),
        ("binary_concat", [(1, 2, 2, 1), (1, 2, 2, 2)], "expects uint64 maps"),
    ],
    ids=["channels", "height", "batch", "words"],
)
def test_mismatched_inputs_are_clear_errors(kind, inputs, message) -> None:
    dtype = np.uint64 if kind == "binary_concat" else np.float32
    with pytest.raises(OnebitError, match=message):
        concat_op(kind, [3, 4])(*(np.zeros(shape, dtype) for shape in inputs))
    with pytest.raises(OnebitError, match="cannot join"):
        concat_op("concat", [3, 4])(np.zeros((1, 2, 2, 3), np.uint64), np.zeros((1, 2, 2, 4)))


@pytest.mark.parametrize(
    ("channels", "inputs", "message"),
    [
        ([3], ["input", "input"], "one integer >= 1 per input \\(2 inputs\\)"),
        ([3, 0], ["input", "input"], "one integer >= 1 per input"),
        (None, ["input", "input"], "one integer >= 1 per input"),
        ([], [], "needs at least one input"),
    ],
    ids=["count", "zero", "missing", "no-inputs"],
)
def test_bad_specs_are_refused_at_load(channels, inputs, message) -> None:
    graph = {
        "input": {"name": "input", "shape": [3, 2, 2]},
        "output": "y",
        "ops": [
            {"type": "concat", "inputs": inputs, "output": "y", "attrs": {"channels": channels}}
        ],
    }
    with pytest.raises(ProgramError, match=message):
        Program(graph, {})
