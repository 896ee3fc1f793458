"""The float kernels: depthwise convolution and the elementwise chain a layer's tail runs in.

Three levels: the NumPy reference equals torch (depthwise conv within float32 rounding, the chain
step by step), the native kernels equal the reference bit for bit (same operations in the same
order, no fused multiply-add), and ``bconv2d_float``'s fused ``post`` steps equal the reference
chain applied after the unfused kernel.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import SIMD_PATHS
from onebit.runtime import reference

try:
    from onebit import _native
except ImportError:  # test_native_built.py fails loudly when the extension is missing
    _native = None

needs_native = pytest.mark.skipif(_native is None, reason="onebit._native is not built")


def _vector(rng: np.random.Generator, channels: int) -> np.ndarray:
    return rng.standard_normal(channels, dtype=np.float32)


def _chain(rng: np.random.Generator, shape: tuple[int, ...], kinds: str) -> list[tuple]:
    """Steps from letters: a(ffine) r(elu) p(relu) h(ardtanh) +(add)."""
    channels = shape[-1]
    make = {
        "a": lambda: ("affine", _vector(rng, channels), _vector(rng, channels)),
        "r": lambda: ("relu",),
        "p": lambda: ("prelu", _vector(rng, channels)),
        "h": lambda: ("hardtanh", -0.5, 1.5),
        "+": lambda: ("add", rng.standard_normal(shape, dtype=np.float32)),
    }
    return [make[k]() for k in kinds]


def _torch_chain(y: torch.Tensor, post: list[tuple]) -> torch.Tensor:
    for name, *args in post:
        if name == "affine":
            y = y * torch.from_numpy(args[0]) + torch.from_numpy(args[1])
        elif name == "relu":
            y = F.relu(y)
        elif name == "prelu":
            y = torch.where(y >= 0, y, y * torch.from_numpy(args[0]))
        elif name == "hardtanh":
            y = F.hardtanh(y, args[0], args[1])
        else:
            y = y + torch.from_numpy(args[0])
    return y


chains = st.text(alphabet="arph+", max_size=5)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40),
    channels=st.sampled_from([1, 7, 63, 64, 65, 129]),
    kinds=chains,
    seed=st.integers(0, 2**16),
)
def test_chain_reference_is_torch_step_by_step(rows, channels, kinds, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, channels), dtype=np.float32)
    post = _chain(rng, x.shape, kinds)
    expected = _torch_chain(torch.from_numpy(x), post).numpy()
    np.testing.assert_array_equal(reference.float_chain(x, post), expected)


@needs_native
@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
    channels=st.sampled_from([1, 7, 63, 64, 65, 129]),
    kinds=chains,
    threads=st.sampled_from([1, 2]),
    simd=st.sampled_from(SIMD_PATHS),
    seed=st.integers(0, 2**16),
)
def test_native_chain_equals_reference(shape, channels, kinds, threads, simd, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*shape, channels), dtype=np.float32)
    post = _chain(rng, x.shape, kinds)
    np.testing.assert_array_equal(
        _native.float_chain(x, post, threads=threads, simd=simd), reference.float_chain(x, post)
    )


@needs_native
@pytest.mark.parametrize("simd", SIMD_PATHS)
@pytest.mark.parametrize("kinds", ["r", "p", "h", "a+", "rph"])
def test_native_chain_special_values(simd, kinds):
    """NaN, infinities, signed zeros and the hardtanh bounds themselves, on every path: each step
    keeps the scalar form's choices (a NaN passes ReLU, -0.0 stays -0.0), bit for bit."""
    specials = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1.0, 0.5, -0.5, 3.0, -3.0]
    x = np.array([specials * 3], dtype=np.float32).reshape(1, 3, len(specials))
    post = _chain(np.random.default_rng(1), x.shape, kinds)
    post = [("hardtanh", -1.0, 1.0) if step[0] == "hardtanh" else step for step in post]
    want = _torch_chain(torch.from_numpy(x), post).numpy()
    np.testing.assert_array_equal(
        reference.float_chain(x, post).view(np.uint32), want.view(np.uint32)
    )
    got = _native.float_chain(x, post, simd=simd)
    np.testing.assert_array_equal(
        got.view(np.uint32), reference.float_chain(x, post).view(np.uint32)
    )


depthwise_cases = st.fixed_dictionaries(
    {
        "n": st.integers(1, 2),
        "h": st.integers(1, 11),
        "w": st.integers(1, 11),
        "c": st.sampled_from([1, 3, 7, 63, 64, 65]),
        "m": st.sampled_from([1, 2, 3]),
        "k": st.sampled_from([1, 3, 5]),
        "stride": st.sampled_from([1, 2]),
        "pad": st.tuples(*[st.integers(0, 2)] * 4),
        "pad_value": st.sampled_from([0.0, 1.0]),
        "seed": st.integers(0, 2**16),
    }
)


def _depthwise_inputs(case: dict):
    rng = np.random.default_rng(case["seed"])
    cout = case["c"] * case["m"]
    x = rng.standard_normal((case["n"], case["h"], case["w"], case["c"]), dtype=np.float32)
    w = rng.standard_normal((case["k"], case["k"], cout), dtype=np.float32)
    return rng, x, w, _vector(rng, cout), _vector(rng, cout)


def _fits(case: dict) -> bool:
    top, bottom, left, right = case["pad"]
    return case["h"] + top + bottom >= case["k"] and case["w"] + left + right >= case["k"]


@settings(max_examples=40, deadline=None)
@given(case=depthwise_cases)
def test_depthwise_reference_matches_torch(case):
    if not _fits(case):
        return
    _, x, w, scale, bias = _depthwise_inputs(case)
    top, bottom, left, right = case["pad"]
    got = reference.depthwise_conv2d(
        x, w, scale, bias, case["stride"], case["pad"], case["pad_value"]
    )
    nchw = F.pad(
        torch.from_numpy(x).permute(0, 3, 1, 2),
        (left, right, top, bottom),
        value=case["pad_value"],
    )
    weight = torch.from_numpy(w).permute(2, 0, 1)[:, None]  # (C * M, 1, KH, KW)
    y = F.conv2d(nchw.double(), weight.double(), stride=case["stride"], groups=case["c"])
    y = (
        y * torch.from_numpy(scale).double()[:, None, None]
        + torch.from_numpy(bias).double()[:, None, None]
    )
    expected = y.permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4 * case["k"])


@needs_native
@settings(max_examples=60, deadline=None)
@given(
    case=depthwise_cases,
    kinds=chains,
    threads=st.sampled_from([1, 2]),
    simd=st.sampled_from(SIMD_PATHS),
)
def test_native_depthwise_equals_reference(case, kinds, threads, simd):
    if not _fits(case):
        return
    rng, x, w, scale, bias = _depthwise_inputs(case)
    geometry = (case["stride"], case["pad"], case["pad_value"])
    want = reference.depthwise_conv2d(x, w, scale, bias, *geometry)
    post = _chain(rng, want.shape, kinds)
    got = _native.depthwise_conv2d(
        x, w, scale, bias, *geometry, threads=threads, post=post, simd=simd
    )
    np.testing.assert_array_equal(
        got, reference.depthwise_conv2d(x, w, scale, bias, *geometry, post=post)
    )


@needs_native
@pytest.mark.parametrize("simd", SIMD_PATHS)
@pytest.mark.parametrize("pad_value", [0.0, 1.0])
def test_native_depthwise_every_path_on_a_fixed_map(simd, pad_value):
    """Each path on one map with 8-channel vectors and a partial one, stride 2, uneven padding."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 10, 21), dtype=np.float32)
    w = rng.standard_normal((3, 3, 21), dtype=np.float32)
    scale, bias = _vector(rng, 21), _vector(rng, 21)
    geometry = (2, (1, 2, 0, 1), pad_value)
    got = _native.depthwise_conv2d(x, w, scale, bias, *geometry, simd=simd)
    np.testing.assert_array_equal(got, reference.depthwise_conv2d(x, w, scale, bias, *geometry))


@needs_native
@pytest.mark.parametrize("kinds", ["", "ra+", "a+p", "+h"])
@pytest.mark.parametrize("threads", [1, 2])
def test_bconv2d_float_post_equals_reference(kinds, threads):
    rng = np.random.default_rng(7)
    x = reference.bitpack(rng.standard_normal((2, 9, 9, 70), dtype=np.float32))
    w = reference.bitpack(rng.standard_normal((65, 3, 3, 70), dtype=np.float32))
    scale, bias = _vector(rng, 65), _vector(rng, 65)
    geometry = ((1, 1), (1, 1), 0.0)
    unfused = reference.bconv2d_float(x, w, 70, scale, bias, *geometry)
    post = _chain(rng, unfused.shape, kinds)
    want = reference.float_chain(unfused, post)
    np.testing.assert_array_equal(
        reference.bconv2d_float(x, w, 70, scale, bias, *geometry, post=post), want
    )
    got = _native.bconv2d_float(x, w, 70, scale, bias, *geometry, threads=threads, post=post)
    np.testing.assert_array_equal(got, want)


@needs_native
@pytest.mark.parametrize(
    ("post", "error", "message"),
    [
        ([("nope",)], ValueError, "unknown step 'nope'"),
        ([("relu", 1)], ValueError, "relu takes no arguments"),
        ([("affine", np.ones(3, np.float32))], ValueError, r"affine takes \(scale, bias\)"),
        ([("prelu", np.ones(4, np.float64))], TypeError, "must be float32"),
        ([("prelu", np.ones(5, np.float32))], ValueError, r"shape \(4,\)"),
        ([("add", np.ones((1, 2, 2, 4), np.float32))], ValueError, "the residual has shape"),
        ([["relu"]], TypeError, "must be a tuple"),
        ("relu", TypeError, "sequence of"),
    ],
)
def test_bad_chains_are_refused(post, error, message):
    x = np.zeros((1, 3, 3, 4), np.float32)
    with pytest.raises(error, match=message):
        _native.float_chain(x, post)
    if not isinstance(post, str):
        with pytest.raises((TypeError, ValueError)):
            reference.float_chain(x, post)


@needs_native
def test_bad_depthwise_arguments_are_refused():
    x = np.zeros((1, 5, 5, 4), np.float32)
    ones = np.ones(8, np.float32)
    with pytest.raises(ValueError, match="C \\* multiplier"):
        _native.depthwise_conv2d(x, np.zeros((3, 3, 6), np.float32), ones[:6], ones[:6])
    with pytest.raises(ValueError, match="does not fit"):
        _native.depthwise_conv2d(x, np.zeros((7, 7, 8), np.float32), ones, ones)
    with pytest.raises(TypeError, match="float32"):
        _native.depthwise_conv2d(x.astype(np.float64), np.zeros((3, 3, 8), np.float32), ones, ones)
    with pytest.raises(ValueError, match="padding"):
        _native.depthwise_conv2d(x, np.zeros((3, 3, 8), np.float32), ones, ones, padding=(1, 2, 3))


windows_cases = st.fixed_dictionaries(
    {
        "n": st.integers(1, 2),
        "h": st.integers(1, 10),
        "w": st.integers(1, 10),
        "c": st.sampled_from([1, 3, 16, 63, 64, 65]),
        "kernel": st.tuples(st.integers(1, 4), st.integers(1, 4)),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "pad": st.tuples(*[st.integers(0, 2)] * 4),
        "seed": st.integers(0, 2**16),
    }
)


def _window_map(case: dict):
    top, bottom, left, right = case["pad"]
    kh, kw = case["kernel"]
    if case["h"] + top + bottom < kh or case["w"] + left + right < kw:
        return None
    rng = np.random.default_rng(case["seed"])
    return rng.standard_normal((case["n"], case["h"], case["w"], case["c"]), dtype=np.float32)


@needs_native
@settings(max_examples=60, deadline=None)
@given(
    case=windows_cases, pad_value=st.sampled_from([0.0, 1.0, -2.5]), threads=st.sampled_from([1, 2])
)
def test_native_im2col_equals_reference(case, pad_value, threads):
    x = _window_map(case)
    if x is None:
        return
    geometry = (case["kernel"], case["stride"], case["pad"], pad_value)
    np.testing.assert_array_equal(
        _native.float_im2col(x, *geometry, threads=threads), reference.float_im2col(x, *geometry)
    )


@settings(max_examples=30, deadline=None)
@given(case=windows_cases)
def test_im2col_times_weights_is_torch_conv2d(case):
    x = _window_map(case)
    if x is None:
        return
    (kh, kw), (top, bottom, left, right) = case["kernel"], case["pad"]
    w = np.random.default_rng(1).standard_normal((5, kh, kw, case["c"]), dtype=np.float32)
    columns = reference.float_im2col(x, case["kernel"], case["stride"], case["pad"], 0.0)
    got = columns.astype(np.float64) @ w.reshape(5, -1).T.astype(np.float64)
    nchw = F.pad(torch.from_numpy(x).permute(0, 3, 1, 2).double(), (left, right, top, bottom))
    weight = torch.from_numpy(w).permute(0, 3, 1, 2).double()
    expected = F.conv2d(nchw, weight, stride=case["stride"]).permute(0, 2, 3, 1).reshape(-1, 5)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-9, atol=1e-9)


@needs_native
@settings(max_examples=60, deadline=None)
@given(case=windows_cases, threads=st.sampled_from([1, 2]), simd=st.sampled_from(SIMD_PATHS))
def test_native_maxpool_equals_reference(case, threads, simd):
    x = _window_map(case)
    if x is None:
        return
    if case["seed"] % 5 == 0:  # NaN propagates as NumPy's maximum does
        x.flat[case["seed"] % x.size] = np.nan
    geometry = (case["kernel"], case["stride"], case["pad"])
    np.testing.assert_array_equal(
        _native.maxpool2d(x, *geometry, threads=threads, simd=simd),
        reference.maxpool2d(x, *geometry),
    )


@needs_native
@pytest.mark.parametrize("simd", SIMD_PATHS)
def test_native_maxpool_every_path_on_special_values(simd):
    """NaN, infinities and signed zeros in 3x3 windows, 8-channel vectors and a partial one:
    every path gives the portable path's bits, and the reference's values (which zero wins a tie
    of +0.0 and -0.0 is NumPy's choice there, the select's order here)."""
    rng = np.random.default_rng(5)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0], dtype=np.float32)
    x = rng.choice(specials, size=(1, 7, 8, 11)).astype(np.float32)
    geometry = ((3, 3), (2, 2), (1, 1, 1, 1))
    got = _native.maxpool2d(x, *geometry, simd=simd)
    portable = _native.maxpool2d(x, *geometry, simd="portable")
    np.testing.assert_array_equal(got.view(np.uint32), portable.view(np.uint32))
    np.testing.assert_array_equal(got, reference.maxpool2d(x, *geometry))
