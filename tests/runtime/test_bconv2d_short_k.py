"""Binary convolutions whose patch is a few words (a 1x1 convolution over up to 512 channels), which
the "avx2" path runs on its short-K kernel (csrc/bconv2d/bconv2d_short_k_avx2.cpp): the native
int32, float (with a post chain) and bit outputs against the NumPy reference bit for bit, on every
SIMD path this machine runs, at channel counts around the word and the kernel's 8-channel blocks,
patches of 1 to 10 words (8 the last the kernel takes for any output count, 9 the last it takes
for up to 168 outputs), strides, paddings of both values, and thread counts that split the pixels
or the channels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, SIMD_PATHS, ConvCase, conv_cases, native
from onebit.runtime import reference
from onebit.runtime.bit_format import WORD_BITS

pytestmark = NATIVE_MISSING

# around the word width, and the kernel's blocks of 8 output channels
CHANNELS = (1, 7, 31, 32, 33, 63, 64, 65, 127, 129, 255, 257)


def _cases() -> list[ConvCase]:
    cases = []
    # every input channel count, each with two output counts from the same list
    for i, cin in enumerate(CHANNELS):
        for j in (3, 7):
            cout = CHANNELS[(i + j) % len(CHANNELS)]
            cases.append(ConvCase((1, 3)[i % 2], cin, cout, 5, 6))
    # 1x1 patches of 1 to 10 words, a partial last word and a whole one
    for words in range(1, 11):
        cases.append(ConvCase(1, WORD_BITS * words - 5, 72, 4, 3))
        cases.append(ConvCase(3, WORD_BITS * words, 41, 3, 4))
    # 9 words on either side of the short-K kernel's weight budget: 168 outputs (its last), 169
    # (bgemm's kernel), and a 3x3 convolution over 64 channels to 257 outputs
    cases.append(ConvCase(1, WORD_BITS * 9 - 1, 168, 3, 5))
    cases.append(ConvCase(1, WORD_BITS * 9, 169, 4, 3))
    cases.append(ConvCase(1, 64, 257, 5, 4, (3, 3), (1, 1), (1, 1), 0.0))
    # im2col patches of a few words: strides, both paddings, uneven kernels; 2x2 over 65 channels
    # is 8 words, 3x3 over 7 is 9
    for kernel, stride, padding, cin in (
        ((1, 1), (2, 2), (0, 0), 129),
        ((1, 1), (2, 1), (1, 0), 255),
        ((1, 1), (1, 1), (1, 1), 64),
        ((2, 2), (1, 1), (1, 1), 65),
        ((2, 2), (2, 2), (0, 0), 33),
        ((1, 3), (1, 2), (0, 1), 127),
        ((3, 1), (2, 1), (1, 0), 7),
        ((3, 3), (1, 1), (1, 1), 7),
    ):
        for pad_value in (1.0, 0.0):
            cases.append(ConvCase(3, cin, 33, 7, 6, kernel, stride, padding, pad_value))
    return cases


CASES = _cases()


def _data(case: ConvCase, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed random ±1 input (n, h, w, words) and weights (cout, kh, kw, words)."""
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, 1.0], size=(case.n, case.h, case.w, case.cin))
    w = rng.choice([-1.0, 1.0], size=(case.cout, *case.kernel, case.cin))
    return reference.bitpack(x), reference.bitpack(w)


def _epilogue_args(rng: np.random.Generator, shape: tuple[int, ...]):
    """Scale, bias, a post chain (PReLU, batch norm, a residual add), bit thresholds and flips."""
    cout = shape[-1]
    scale = (rng.standard_normal(cout) * 3).astype(np.float32)
    bias = (rng.standard_normal(cout) * 50).astype(np.float32)
    slope = rng.uniform(-0.5, 0.5, cout).astype(np.float32)
    norm_scale = rng.uniform(0.5, 1.5, cout).astype(np.float32)
    norm_shift = rng.standard_normal(cout).astype(np.float32)
    residual = rng.standard_normal(shape).astype(np.float32)
    post = [("prelu", slope), ("affine", norm_scale, norm_shift), ("add", residual)]
    threshold = rng.integers(-6, 7, size=cout, dtype=np.int32)
    flip = rng.integers(0, 2, size=cout, dtype=np.uint8)
    return scale, bias, post, threshold, flip


def _check(case: ConvCase, seed: int, threads: int, simd_paths=SIMD_PATHS) -> None:
    """Native int32, float (with the post chain) and bits equal the reference on every path."""
    xp, wp = _data(case, seed)
    acc = reference.bconv2d(xp, wp, case.cin, *case.geometry())
    scale, bias, post, threshold, flip = _epilogue_args(np.random.default_rng(seed), acc.shape)
    floats = reference.float_chain(reference.output_float(acc, scale, bias), post)
    bits = reference.output_bits(acc, threshold, flip)
    for simd in simd_paths:
        where = f"{case} simd={simd} threads={threads}"
        kwargs = {"threads": threads, "simd": simd}
        got = native.bconv2d(xp, wp, case.cin, *case.geometry(), **kwargs)
        np.testing.assert_array_equal(got, acc, err_msg=where)
        got = native.bconv2d_float(
            xp, wp, case.cin, scale, bias, *case.geometry(), post=post, **kwargs
        )
        np.testing.assert_array_equal(got.view(np.uint32), floats.view(np.uint32), err_msg=where)
        got = native.bconv2d_bits(xp, wp, case.cin, threshold, flip, *case.geometry(), **kwargs)
        np.testing.assert_array_equal(got, bits, err_msg=where)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("threads", [1, 3])
def test_native_equals_reference(case: ConvCase, threads: int) -> None:
    _check(case, 0, threads)


@pytest.mark.parametrize("simd", SIMD_PATHS)
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(ConvCase(1, 64, 128, 40, 40), id="rows-split-40x40-1word"),
        pytest.param(ConvCase(1, 256, 1000, 7, 7), id="channel-split-7x7-4words"),
        pytest.param(ConvCase(2, 200, 333, 9, 7), id="balanced-split-9x7-4words"),
        pytest.param(ConvCase(1, 500, 130, 12, 12, (1, 1), (2, 2)), id="strided-12x12-8words"),
    ],
)
@pytest.mark.parametrize("threads", [2, 3])
def test_multithreaded_splits_equal_portable(simd: str, case: ConvCase, threads: int) -> None:
    """Shapes that split over threads by pixels and by channel blocks (tasks whose first channel is
    not 0): each path on several threads equals the portable path on one."""
    xp, wp = _data(case, 1)
    portable = native.bconv2d(xp, wp, case.cin, *case.geometry(), threads=1, simd="portable")
    got = native.bconv2d(xp, wp, case.cin, *case.geometry(), threads=threads, simd=simd)
    np.testing.assert_array_equal(got, portable)
    _check(case, 1, threads, simd_paths=[simd])


@pytest.mark.parametrize("simd", SIMD_PATHS)
@pytest.mark.parametrize("cin", [1, 64, 449, 512])
def test_extreme_sums(simd: str, cin: int) -> None:
    """Operands equal everywhere (+k) and different everywhere (-k): every byte counter of the
    kernel at its largest."""
    x_plus, x_minus = (reference.bitpack(np.full((2, 3, 5, cin), v)) for v in (1.0, -1.0))
    w_plus, w_minus = (reference.bitpack(np.full((9, 1, 1, cin), v)) for v in (1.0, -1.0))
    for x, w, expected in (
        (x_minus, w_plus, -cin),
        (x_plus, w_minus, -cin),
        (x_plus, w_plus, cin),
        (x_minus, w_minus, cin),
    ):
        got = native.bconv2d(x, w, cin, simd=simd)
        np.testing.assert_array_equal(got, np.full((2, 3, 5, 9), expected, np.int32))


@settings(max_examples=60, deadline=None)
@given(
    case=conv_cases(max_n=3, max_cin=600, max_cout=140, max_kernel=2, max_side=7, max_stride=2),
    seed=st.integers(0, 2**16),
    threads=st.integers(1, 3),
)
def test_native_equals_reference_random_shapes(case: ConvCase, seed: int, threads: int) -> None:
    _check(case, seed, threads)
