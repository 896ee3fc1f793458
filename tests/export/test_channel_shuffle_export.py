"""`onebit export c` of ``channel_shuffle``: the generated C (gcc and clang at the strict flags,
and the Cortex-M builds with warnings as errors) shuffles float maps and vectors as the runtime
does, bit for bit (a copy), in every arithmetic; a converted ShuffleNet-like block agrees too."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_c_export import _dense_of_signs, _graph, exported_outputs
from torch import nn

from helpers import settle
from onebit.convert import convert
from onebit.export import cortex_m, to_c
from onebit.nn import ChannelShuffle, QuantConv2d
from onebit.runtime import Program


def _assert_exact(graph, tensors, x, tmp_path, compiler="gcc", arithmetic="binary"):
    program = Program(graph, tensors)
    assert "channel_shuffle" in {op.type for op in program.ops}
    got = exported_outputs(program, x, tmp_path, compiler, "model", arithmetic)
    want = program(x).reshape(len(x), -1)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def _map_graph(c: int, h: int, w: int, groups: int) -> dict:
    ops = [
        ("nchw_to_nhwc", ["x"], "a", {}, {}),
        ("channel_shuffle", ["a"], "b", {"groups": groups}, {}),
        ("nhwc_to_nchw", ["b"], "y", {}, {}),
    ]
    return _graph(c, h, w, ops, "y")


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize(
    ("channels", "groups"), [(12, 4), (12, 3), (7, 7), (9, 1), (66, 6)], ids=str
)
def test_a_float_map_is_shuffled_as_the_runtime_does(tmp_path, compiler, channels, groups):
    x = np.random.default_rng(channels).normal(size=(5, channels, 3, 5)).astype(np.float32)
    _assert_exact(_map_graph(channels, 3, 5, groups), {}, x, tmp_path, compiler)


def test_a_vector_is_shuffled_as_the_runtime_does(tmp_path):
    ops = [
        ("nchw_to_nhwc", ["x"], "a", {}, {}),
        ("flatten", ["a"], "f", {}, {}),
        ("channel_shuffle", ["f"], "y", {"groups": 5}, {}),
    ]
    x = np.random.default_rng(3).normal(size=(6, 3, 2, 5)).astype(np.float32)
    _assert_exact(_graph(3, 2, 5, ops, "y"), {}, x, tmp_path)


@pytest.mark.parametrize("arithmetic", ["binary", "float32", "int8"])
def test_shuffled_floats_signed_into_a_binary_dense_agree_in_every_arithmetic(tmp_path, arithmetic):
    rng = np.random.default_rng(4)
    channels, h, w = 40, 2, 3
    dense_ops, tensors = _dense_of_signs(rng, h * w, channels, "s")
    ops = [
        ("nchw_to_nhwc", ["x"], "a", {}, {}),
        ("channel_shuffle", ["a"], "b", {"groups": 8}, {}),
        ("sign_pack", ["b"], "s", {}, {}),
        *dense_ops,
    ]
    x = rng.normal(size=(8, channels, h, w)).astype(np.float32)
    _assert_exact(_graph(channels, h, w, ops, "y"), tensors, x, tmp_path, arithmetic=arithmetic)


def test_a_converted_shuffled_block_equals_the_runtime(tmp_path):
    binary = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 12, 3, padding=1, groups=3),
        nn.BatchNorm2d(12),
        ChannelShuffle(3),
        QuantConv2d(12, 16, 3, padding=1, **binary),
        nn.BatchNorm2d(16),
        ChannelShuffle(4),
        nn.PReLU(16),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )
    model = settle(model, (3, 6, 6), seed=0)
    program = convert(model, torch.zeros(1, 3, 6, 6))
    assert [op.attrs["groups"] for op in program.ops if op.type == "channel_shuffle"] == [3, 4]
    x = np.random.default_rng(5).normal(size=(8, 3, 6, 6)).astype(np.float32)
    got = exported_outputs(program, x, tmp_path, "gcc")
    np.testing.assert_allclose(got, program(x).reshape(8, -1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cpu", tuple(cortex_m.CPUS))
def test_a_shuffle_builds_for_cortex_m_with_warnings_as_errors(tmp_path, cpu):
    reason = cortex_m.missing_tools()
    if reason is not None:
        pytest.skip(reason)
    export = to_c(Program(_map_graph(12, 3, 5, 4), {}), tmp_path / "c", name="shuffle")
    flash, ram = cortex_m.footprint(export, cpu, tmp_path / cpu)
    assert flash > 0 and ram > 0
