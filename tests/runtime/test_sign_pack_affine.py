"""``sign_pack`` with an affine epilogue: the signs of ``x * scale + bias`` per channel, as a
batch norm before a sign runs when its input is also read elsewhere. The NumPy op equals the
affine op then the plain sign, bit for bit; the C++ op equals the NumPy one on every SIMD path
this CPU runs, over channel counts around the word width; bad specs are refused alike; the
converter moves such a batch norm into the sign."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_executor_pool import assert_same_run, refused_alike, runs, spread

from helpers import SIMD_PATHS, settle
from onebit.convert import convert
from onebit.nn import QuantConv2d
from onebit.runtime.fuzz.seeds import _Graph
from onebit.runtime.reference_program import ReferenceProgram

native = pytest.importorskip("onebit._native")

CHANNELS = [1, 7, 31, 32, 33, 63, 64, 65, 127, 129, 513]


def affine_sign(shape: list[int], seed: int, zero_scales: bool = True, fused: bool = True):
    """input (NCHW) -> NHWC -> sign of x * scale + bias (fused, or as affine then sign_pack)."""
    g = _Graph(seed, shape)
    channels = shape[0]
    scale = g.floats(channels, scale=2.0)
    if zero_scales:
        scale[:: max(1, channels // 5)] = 0.0  # their sign is the bias's
    bias = g.floats(channels)
    x = g.add("nchw_to_nhwc", ["input"])
    if fused:
        y = g.add("sign_pack", [x], {"epilogue": "affine"}, scale=scale, bias=bias)
    else:
        z = g.add("affine", [x], {"channels": channels}, scale=scale, bias=bias)
        y = g.add("sign_pack", [z])
    return g.graph(y), g.tensors


@pytest.fixture(params=SIMD_PATHS)
def simd(request):
    native.set_simd_path(request.param)
    yield request.param
    native.set_simd_path(None)


@settings(max_examples=40, deadline=None)
@given(
    channels=st.sampled_from(CHANNELS),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    run=runs,
    seed=st.integers(0, 2**16),
)
def test_the_native_op_equals_the_reference_on_every_path(channels, height, width, run, seed):
    graph, tensors = affine_sign([channels, height, width], seed)
    for path in SIMD_PATHS:
        native.set_simd_path(path)
        try:
            assert assert_same_run(graph, tensors, run["batch"], run["threads"], seed)
        finally:
            native.set_simd_path(None)


@pytest.mark.parametrize("channels", CHANNELS)
def test_the_fused_sign_equals_the_affine_op_then_the_sign(channels, simd):
    x = spread(np.random.default_rng(channels), (3, channels, 4, 5)).astype(np.float32)
    fused = affine_sign([channels, 4, 5], seed=channels)
    apart = affine_sign([channels, 4, 5], seed=channels, fused=False)
    want = ReferenceProgram(*apart)(x)
    np.testing.assert_array_equal(ReferenceProgram(*fused)(x), want)
    program = native.Program(json.dumps(fused[0]), dict(fused[1]), list(fused[1]), 2**32, 2**36)
    np.testing.assert_array_equal(program.run(x, threads=2), want)
    # and both are the float sign of the affine map, bit 1 where it is negative
    y = np.moveaxis(x, 1, -1) * fused[1]["op1.scale"] + fused[1]["op1.bias"]
    bits = np.unpackbits(want.view(np.uint8), axis=-1, bitorder="little")[..., :channels]
    np.testing.assert_array_equal(bits, (y < 0).astype(np.uint8))


def test_bad_specs_are_refused_alike() -> None:
    graph, tensors = affine_sign([5, 2, 2], seed=0)
    sign = graph["ops"][1]
    sign["attrs"]["epilogue"] = "float"
    assert "epilogue must be 'none' or 'affine'" in refused_alike(graph, tensors)
    sign["attrs"]["epilogue"] = "affine"
    tensors["op1.bias"] = tensors["op1.bias"][:4]
    assert "5 scales and 4 biases for 5 channels" in refused_alike(graph, tensors)
    del sign["tensors"]["bias"]
    assert "tensor 'bias' is missing" in refused_alike(graph, tensors)
    graph, tensors = affine_sign([5, 2, 2], seed=0)
    graph["ops"][1]["attrs"] = {}
    assert "no tensor role 'bias'" in refused_alike(graph, tensors)


class SharedInput(torch.nn.Module):
    """x feeds a batch norm -> sign -> binary conv and, unchanged, the residual add: the batch
    norm cannot fold into the conv that made x, so the sign takes it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 40, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(40)
        self.binary = QuantConv2d(
            40, 40, 3, padding=1, input_quantizer="ste_sign", weight_quantizer="ste_sign"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.binary(self.norm(y)) + y


def test_the_converter_moves_a_batch_norm_before_a_sign_into_it() -> None:
    model = settle(SharedInput(), (3, 6, 7), seed=2)
    program = convert(model, torch.zeros(1, 3, 6, 7))
    assert "affine" not in [op.type for op in program.ops]
    signs = [op for op in program.ops if op.type == "sign_pack"]
    assert [op.attrs.get("epilogue") for op in signs] == ["affine"]
    x = torch.randn(5, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(program(x.numpy()), expected, rtol=1e-5, atol=1e-4)
