"""Binary convolution: the NumPy reference against torch's conv2d on ±1 data (exact integers), and
the native kernel against both, over every SIMD path this machine has and 1 and 2 threads."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, SIMD_PATHS, ConvCase, conv_cases, native, native_params
from onebit.runtime import reference
from onebit.runtime.bit_format import WORD_BITS, words_for

NATIVE = native_params("bconv2d", threads=(1, 2))
IMPLS = [pytest.param(reference.bconv2d, id="reference"), *NATIVE]


def _cases() -> list[ConvCase]:
    cases = []
    # channel counts around the word width (both the input words and the output channels)
    for i, cin in enumerate((1, 7, 31, 32, 33, 63, 64, 65, 127)):
        cout = (5, 64, 65)[i % 3]
        cases.append(ConvCase(1, cin, cout, 5, 5, (3, 3), (1, 1), (1, 1), (1.0, 0.0)[i % 2]))
    # odd spatial sizes x kernel 1/3 x stride 1/2 x padding 0/1 x each pad value
    for h, w in ((1, 1), (3, 3), (5, 7), (9, 9)):
        for k, s, p in ((1, 1, 0), (1, 2, 0), (3, 1, 0), (3, 1, 1), (3, 2, 0), (3, 2, 1)):
            for pad_value in (1.0, 0.0) if p else (1.0,):
                case = ConvCase(3 if h == 5 else 1, 33, 17, h, w, (k, k), (s, s), (p, p), pad_value)
                if case.fits():
                    cases.append(case)
    cases += [
        ConvCase(1, 65, 9, 9, 7, (5, 5), (1, 1), (2, 2), 0.0),  # 5x5
        ConvCase(3, 65, 9, 9, 7, (5, 5), (2, 2), (2, 2), 1.0),
        ConvCase(1, 513, 9, 3, 3, (1, 1), (1, 1), (0, 0), 1.0),  # many words
        ConvCase(1, 513, 70, 5, 5, (3, 3), (1, 1), (1, 1), 0.0),
        ConvCase(2, 20, 11, 7, 6, (1, 3), (1, 2), (0, 1), 0.0),  # uneven kernel, stride, padding
        ConvCase(1, 20, 11, 6, 7, (3, 1), (2, 1), (1, 0), 0.0),
        ConvCase(1, 3, 4, 4, 4, (3, 3), (1, 1), (2, 2), 0.0),  # padding wider than usual
        ConvCase(1, 2048, 3, 3, 3, (3, 3), (1, 1), (0, 0), 1.0),  # large k = 18432
        ConvCase(1, 40, 200, 3, 3, (3, 3), (1, 1), (0, 0), 1.0),  # one pixel: threads split Cout
        ConvCase(1, 40, 200, 3, 3, (3, 3), (1, 1), (1, 1), 0.0),
    ]
    return cases


CASES = _cases()


def _pm1(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Random ±1 float64 values."""
    return torch.randint(0, 2, shape, generator=gen, dtype=torch.float64) * 2 - 1


def _pack_nchw(t: torch.Tensor) -> np.ndarray:
    """Pack an NCHW (or OIHW) ±1 tensor as NHWC (OHWI) words."""
    return reference.bitpack(t.permute(0, 2, 3, 1).contiguous().numpy())


def torch_bconv2d(x: torch.Tensor, w: torch.Tensor, case: ConvCase) -> np.ndarray:
    """The float conv2d of ±1 data with one- or zero-padding, as int32 NHWC."""
    ph, pw = case.padding
    if case.pad_value == 1.0:
        out = F.conv2d(F.pad(x, (pw, pw, ph, ph), value=1.0), w, stride=case.stride)
    else:
        out = F.conv2d(x, w, stride=case.stride, padding=case.padding)
    return out.permute(0, 2, 3, 1).round().to(torch.int32).numpy()


def _data(case: ConvCase, seed: int):
    gen = torch.Generator().manual_seed(seed)
    x = _pm1(gen, case.n, case.cin, case.h, case.w)
    w = _pm1(gen, case.cout, case.cin, *case.kernel)
    return x, w


def _call(impl, xp, wp, case: ConvCase):
    return impl(xp, wp, case.cin, case.stride, case.padding, case.pad_value)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_bconv2d_equals_torch_conv2d(impl, case: ConvCase, seed: int) -> None:
    """Level 1 (reference) and 2 (native): the exact float convolution of the ±1 values."""
    x, w = _data(case, seed)
    expected = torch_bconv2d(x, w, case)
    got = _call(impl, _pack_nchw(x), _pack_nchw(w), case)
    assert got.dtype == np.int32
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def _epilogue_args(cout: int, seed: int):
    rng = np.random.default_rng(seed)
    scale = (rng.standard_normal(cout) * 3).astype(np.float32)
    bias = (rng.standard_normal(cout) * 50).astype(np.float32)
    threshold = rng.integers(-6, 7, size=cout, dtype=np.int32)
    threshold[rng.random(cout) < 0.1] = np.iinfo(np.int32).min
    threshold[rng.random(cout) < 0.1] = np.iinfo(np.int32).max
    flip = rng.integers(0, 2, size=cout, dtype=np.uint8)
    return scale, bias, threshold, flip


@pytest.mark.parametrize("impl", native_params("bconv2d_float", threads=(1, 2)))
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_fused_float_equals_unfused(impl, case: ConvCase, seed: int) -> None:
    """``bconv2d_float`` is ``output_float(bconv2d(...))`` bit for bit."""
    x, w = _data(case, seed)
    scale, bias, _, _ = _epilogue_args(case.cout, seed)
    expected = reference.output_float(torch_bconv2d(x, w, case), scale, bias)
    got = impl(
        _pack_nchw(x),
        _pack_nchw(w),
        case.cin,
        scale,
        bias,
        case.stride,
        case.padding,
        case.pad_value,
    )
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("impl", native_params("bconv2d_bits", threads=(1, 2)))
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_fused_bits_equals_unfused(impl, case: ConvCase, seed: int) -> None:
    """``bconv2d_bits`` is ``output_bits(bconv2d(...))`` bit for bit."""
    x, w = _data(case, seed)
    _, _, threshold, flip = _epilogue_args(case.cout, seed)
    expected = reference.output_bits(torch_bconv2d(x, w, case), threshold, flip)
    got = impl(
        _pack_nchw(x),
        _pack_nchw(w),
        case.cin,
        threshold,
        flip,
        case.stride,
        case.padding,
        case.pad_value,
    )
    np.testing.assert_array_equal(got, expected)


def test_fused_references_compose() -> None:
    case = ConvCase(2, 33, 70, 5, 4, (3, 3), (2, 1), (1, 1), 0.0)
    x, w = _data(case, 0)
    xp, wp = _pack_nchw(x), _pack_nchw(w)
    scale, bias, threshold, flip = _epilogue_args(case.cout, 0)
    acc = torch_bconv2d(x, w, case)
    args = (case.stride, case.padding, case.pad_value)
    np.testing.assert_array_equal(
        reference.bconv2d_float(xp, wp, case.cin, scale, bias, *args),
        reference.output_float(acc, scale, bias),
    )
    np.testing.assert_array_equal(
        reference.bconv2d_bits(xp, wp, case.cin, threshold, flip, *args),
        reference.output_bits(acc, threshold, flip),
    )


@NATIVE_MISSING
def test_fused_bad_epilogue_arguments() -> None:
    x = np.zeros((1, 5, 5, 1), dtype=np.uint64)
    w = np.zeros((4, 3, 3, 1), dtype=np.uint64)
    ones = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="scale"):
        native.bconv2d_float(x, w, 10, np.ones(3, np.float32), ones)
    with pytest.raises(TypeError, match="bias"):
        native.bconv2d_float(x, w, 10, ones, np.ones(4, np.float64))
    with pytest.raises(ValueError, match="flip"):
        native.bconv2d_bits(x, w, 10, np.zeros(4, np.int32), np.full(4, 3, np.uint8))
    with pytest.raises(TypeError, match="threshold"):
        native.bconv2d_bits(x, w, 10, ones, np.zeros(4, np.uint8))


def _random_words(rng: np.random.Generator, shape: tuple[int, ...], channels: int) -> np.ndarray:
    """Random packed words (channels a multiple of 64: no unused bits)."""
    assert channels % WORD_BITS == 0
    words = words_for(channels)
    return rng.integers(0, 2**64, size=(*shape, words), dtype=np.uint64)


@NATIVE_MISSING
@pytest.mark.parametrize("simd", SIMD_PATHS)
@pytest.mark.parametrize(
    ("n", "size", "cin", "cout"),
    [
        pytest.param(1, 56, 64, 64, id="rows-split-56x56"),
        pytest.param(1, 2, 1024, 2048, id="channel-split-2x2"),
        pytest.param(1, 7, 512, 512, id="balanced-split-7x7"),  # 49 rows: split by channels
    ],
)
@pytest.mark.parametrize("threads", [2, 3])
def test_native_multithreaded_splits(
    simd: str, n: int, size: int, cin: int, cout: int, threads: int
) -> None:
    """Shapes large enough to use several threads (small ones run on one): row tiles, channel
    blocks, and the balanced choice between them."""
    rng = np.random.default_rng(0)
    x = _random_words(rng, (n, size, size), cin)
    w = _random_words(rng, (cout, 3, 3), cin)
    scale, bias, threshold, flip = _epilogue_args(cout, 0)
    args = ((1, 1), (1, 1), 0.0)
    acc = reference.bconv2d(x, w, cin, *args)
    bconv2d = functools.partial(native.bconv2d, threads=threads, simd=simd)
    np.testing.assert_array_equal(bconv2d(x, w, cin, *args), acc)
    bits = native.bconv2d_bits(x, w, cin, threshold, flip, *args, threads=threads, simd=simd)
    np.testing.assert_array_equal(bits, reference.output_bits(acc, threshold, flip))
    floats = native.bconv2d_float(x, w, cin, scale, bias, *args, threads=threads, simd=simd)
    expected = reference.output_float(acc, scale, bias)
    np.testing.assert_array_equal(floats.view(np.uint32), expected.view(np.uint32))


@NATIVE_MISSING
@pytest.mark.parametrize("seed", range(3), ids=lambda s: f"seed{s}")
def test_default_threads_and_simd(seed: int) -> None:
    case = ConvCase(2, 70, 33, 9, 8, (3, 3), (1, 1), (1, 1), 0.0)
    x, w = _data(case, seed)
    xp, wp = _pack_nchw(x), _pack_nchw(w)
    np.testing.assert_array_equal(_call(native.bconv2d, xp, wp, case), torch_bconv2d(x, w, case))
    # ints for stride and padding, like the reference
    np.testing.assert_array_equal(
        native.bconv2d(xp, wp, case.cin, 1, 1, 0.0), reference.bconv2d(xp, wp, case.cin, 1, 1, 0.0)
    )


@NATIVE_MISSING
@settings(max_examples=40, deadline=None)
@given(
    case=conv_cases(max_n=2, max_cin=140, max_cout=70, max_kernel=4, max_side=8, max_stride=3),
    seed=st.integers(0, 2**16),
    threads=st.integers(0, 4),
)
def test_native_equals_reference_random_shapes(case: ConvCase, seed: int, threads: int) -> None:
    x, w = _data(case, seed)
    xp, wp = _pack_nchw(x), _pack_nchw(w)
    expected = _call(reference.bconv2d, xp, wp, case)
    for simd in SIMD_PATHS:
        got = _call(functools.partial(native.bconv2d, threads=threads, simd=simd), xp, wp, case)
        np.testing.assert_array_equal(got, expected, err_msg=f"{case} simd={simd}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("seed", [0, 1], ids=lambda s: f"seed{s}")
def test_zero_padding_changes_only_the_border(impl, seed: int) -> None:
    """Zero padding differs from one-padding exactly where a tap falls on padding."""
    gen = torch.Generator().manual_seed(seed)
    cin, k, p = 7, 3, 1
    x = _pm1(gen, 2, cin, 6, 5)
    # every tap's channel sum is positive (at most 3 of the 7 weights are -1), so every padded tap
    # makes one-padding strictly larger than zero padding
    w = torch.ones(4, cin, k, k, dtype=torch.float64)
    flips = torch.rand(4, cin, k, k, generator=gen, dtype=torch.float64).argsort(dim=1) < 3
    w[flips] = -1.0
    xp, wp = _pack_nchw(x), _pack_nchw(w)
    one = impl(xp, wp, cin, (1, 1), (p, p), 1.0)
    zero = impl(xp, wp, cin, (1, 1), (p, p), 0.0)
    interior = (slice(None), slice(p, -p), slice(p, -p))
    np.testing.assert_array_equal(one[interior], zero[interior])
    border = np.ones(one.shape[1:3], dtype=bool)
    border[p:-p, p:-p] = False
    assert np.all(one[:, border] > zero[:, border])
    np.testing.assert_array_equal(
        zero, torch_bconv2d(x, w, ConvCase(2, cin, 4, 6, 5, (k, k), (1, 1), (p, p), 0.0))
    )


def _bad_inputs():
    x = np.zeros((1, 5, 5, 2), dtype=np.uint64)
    w = np.zeros((4, 3, 3, 2), dtype=np.uint64)
    return [
        pytest.param(x[0], w, 100, {}, "x", id="x-ndim"),
        pytest.param(x, w[0], 100, {}, "w", id="w-ndim"),
        pytest.param(x, w, 200, {}, "cin", id="cin-words"),
        pytest.param(x, w, 0, {}, "cin", id="cin-zero"),
        pytest.param(x, w, 100, {"stride": (0, 1)}, "stride", id="stride-zero"),
        pytest.param(x, w, 100, {"padding": (-1, 0)}, "padding", id="padding-negative"),
        pytest.param(x, w, 100, {"pad_value": 0.5}, "pad_value", id="pad-value"),
        pytest.param(
            np.zeros((1, 2, 2, 2), np.uint64), w, 100, {}, "kernel", id="kernel-too-large"
        ),
    ]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("x", "w", "cin", "kwargs", "match"), _bad_inputs())
def test_bad_arguments_raise_value_error(impl, x, w, cin, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        impl(x, w, cin, **kwargs)


@NATIVE_MISSING
def test_native_refuses_wrong_dtype_and_layout() -> None:
    x = np.zeros((1, 5, 5, 2), dtype=np.uint64)
    w = np.zeros((4, 3, 3, 2), dtype=np.uint64)
    with pytest.raises(TypeError, match="x"):
        native.bconv2d(x.astype(np.int64), w, 100)
    with pytest.raises(TypeError, match="w"):
        native.bconv2d(x, w.astype(np.float32), 100)
    with pytest.raises(ValueError, match="x"):
        native.bconv2d(np.zeros((1, 5, 5, 4), dtype=np.uint64)[..., ::2], w, 100)
    with pytest.raises(ValueError, match="simd"):
        native.bconv2d(x, w, 100, simd="no-such-path")
    with pytest.raises(ValueError, match="threads"):
        native.bconv2d(x, w, 100, threads=-1)
