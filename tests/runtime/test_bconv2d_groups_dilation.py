"""Grouped and dilated binary convolution: the NumPy reference against torch's conv2d on ±1 data
(exact integers, with torch's groups and dilation), and the native kernels (int32, float with a
post chain, bits) against the reference bit for bit on every SIMD path this machine runs (the
session summary names them) and several thread counts; bad groups and dilations are refused."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, SIMD_PATHS, native, native_params
from onebit.runtime import reference

IMPLS = [pytest.param(reference.bconv2d, id="reference"), *native_params("bconv2d", threads=(1, 2))]
GROUP_CHANNELS = (1, 7, 31, 32, 33, 63, 64, 65, 127)  # around the word width


class Case(NamedTuple):
    n: int
    group_cin: int
    group_cout: int
    groups: int
    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    pad_value: float

    @property
    def cin(self) -> int:
        return self.group_cin * self.groups

    @property
    def cout(self) -> int:
        return self.group_cout * self.groups

    def __str__(self) -> str:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
        )
        return (
            f"n{self.n}-g{self.groups}x{self.group_cin}to{self.group_cout}-{self.h}x{self.w}"
            f"-k{kh}{kw}-s{sh}{sw}-p{ph}{pw}-d{dh}{dw}-{'one' if self.pad_value else 'zero'}"
        )

    def fits(self) -> bool:
        (kh, kw), (ph, pw), (dh, dw) = self.kernel, self.padding, self.dilation
        return self.h + 2 * ph >= (kh - 1) * dh + 1 and self.w + 2 * pw >= (kw - 1) * dw + 1

    def geometry(self) -> tuple:
        """The positional arguments after ``cin`` (and the epilogue's vectors)."""
        return self.stride, self.padding, self.pad_value, self.dilation, self.groups


def _cases() -> list[Case]:
    cases = []
    # channels per group around the word width, in BATS' groups, 3x3 dilated by 2 with padding 2
    for i, group_cin in enumerate(GROUP_CHANNELS):
        groups = (2, 3, 4, 12)[i % 4]
        pad_value = (1.0, 0.0)[i % 2]
        cases.append(
            Case(
                1,
                group_cin,
                (1, 2, 5)[i % 3],
                groups,
                7,
                7,
                (3, 3),
                (1, 1),
                (2, 2),
                (2, 2),
                pad_value,
            )
        )
    # BATS' cells: grouped 3x3 / 5x5 (stride 1 or 2), dilated grouped 3x3 / 5x5 (padding 2 or 4)
    for k, d, p in ((3, 1, 1), (5, 1, 2), (3, 2, 2), (5, 2, 4)):
        for s in (1, 2):
            for pad_value in (0.0, 1.0):
                cases.append(Case(3, 2, 2, 12, 9, 9, (k, k), (s, s), (p, p), (d, d), pad_value))
    cases += [
        Case(1, 33, 3, 1, 9, 11, (3, 3), (1, 1), (1, 3), (1, 3), 0.0),  # dilated, groups 1
        Case(3, 65, 7, 1, 7, 9, (3, 2), (2, 1), (3, 0), (3, 2), 1.0),
        Case(1, 1, 1, 24, 5, 5, (3, 3), (1, 1), (1, 1), (1, 1), 0.0),  # depthwise
        Case(1, 1, 3, 7, 5, 6, (3, 3), (2, 2), (2, 2), (2, 1), 0.0),  # depth multiplier 3
        Case(2, 31, 33, 3, 5, 5, (1, 1), (1, 1), (0, 0), (1, 1), 1.0),  # direct (1x1) groups
        Case(1, 64, 64, 2, 3, 3, (3, 3), (1, 1), (1, 1), (1, 1), 0.0),  # word-aligned groups
        Case(1, 5, 4, 3, 1, 1, (5, 5), (1, 1), (4, 4), (2, 2), 0.0),  # one pixel, all padding
        Case(1, 7, 2, 4, 9, 9, (3, 3), (1, 1), (0, 0), (4, 4), 1.0),  # only the corners
    ]
    assert all(case.fits() for case in cases)
    return cases


CASES = _cases()


def _pm1(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=gen, dtype=torch.float64) * 2 - 1


def _pack_nchw(t: torch.Tensor) -> np.ndarray:
    """Pack an NCHW (or OIHW) ±1 tensor as NHWC (OHWI) words."""
    return reference.bitpack(t.permute(0, 2, 3, 1).contiguous().numpy())


def _data(case: Case, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = _pm1(gen, case.n, case.cin, case.h, case.w)
    w = _pm1(gen, case.cout, case.group_cin, *case.kernel)
    return x, w


def torch_bconv2d(x: torch.Tensor, w: torch.Tensor, case: Case) -> np.ndarray:
    """torch's conv2d of ±1 data (groups, dilation); one-padding pads the input with +1 first."""
    (ph, pw), args = case.padding, {"dilation": case.dilation, "groups": case.groups}
    if case.pad_value == 1.0:
        out = F.conv2d(F.pad(x, (pw, pw, ph, ph), value=1.0), w, stride=case.stride, **args)
    else:
        out = F.conv2d(x, w, stride=case.stride, padding=case.padding, **args)
    return out.permute(0, 2, 3, 1).round().to(torch.int32).numpy()


def _epilogue_args(cout: int, seed: int):
    rng = np.random.default_rng(seed)
    scale = (rng.standard_normal(cout) * 3).astype(np.float32)
    bias = (rng.standard_normal(cout) * 20).astype(np.float32)
    threshold = rng.integers(-6, 7, size=cout, dtype=np.int32)
    threshold[rng.random(cout) < 0.1] = np.iinfo(np.int32).min
    flip = rng.integers(0, 2, size=cout, dtype=np.uint8)
    return scale, bias, threshold, flip


def _post(rng: np.random.Generator, shape: tuple[int, ...]) -> list[tuple]:
    """A float_chain tail: PReLU, batch norm, a residual add."""
    channels = shape[-1]
    slope = rng.uniform(-0.5, 0.5, channels).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    shift = rng.standard_normal(channels).astype(np.float32)
    residual = rng.standard_normal(shape).astype(np.float32)
    return [("prelu", slope), ("affine", scale, shift), ("add", residual)]


# -- level 1: the exact integer convolution --------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_bconv2d_equals_torch_conv2d_with_groups_and_dilation(impl, case: Case) -> None:
    x, w = _data(case, 0)
    expected = torch_bconv2d(x, w, case)
    got = impl(_pack_nchw(x), _pack_nchw(w), case.cin, *case.geometry())
    assert got.dtype == np.int32
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_defaults_are_one_group_and_no_dilation() -> None:
    case = Case(2, 33, 5, 1, 6, 5, (3, 3), (1, 1), (1, 1), (1, 1), 0.0)
    x, w = _data(case, 1)
    xp, wp = _pack_nchw(x), _pack_nchw(w)
    plain = reference.bconv2d(xp, wp, case.cin, case.stride, case.padding, case.pad_value)
    np.testing.assert_array_equal(plain, reference.bconv2d(xp, wp, case.cin, *case.geometry()))
    # an int dilation is the pair (d, d), as torch's
    dilated = case._replace(dilation=(2, 2), padding=(2, 2))
    np.testing.assert_array_equal(
        reference.bconv2d(xp, wp, case.cin, 1, 2, 0.0, 2),
        torch_bconv2d(x, w, dilated),
    )


# -- level 2: native == reference, every epilogue, every SIMD path ---------------------------


@st.composite
def _random_case(draw) -> Case:
    kh, kw = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5]))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2 * dh)), draw(st.integers(0, 2 * dw))

    def odd_side(kernel: int, dilation: int, padding: int) -> int:
        """An odd side the dilated kernel fits, up to 4 more than the least."""
        least = max(1, (kernel - 1) * dilation + 1 - 2 * padding)
        return least + (1 - least % 2) + 2 * draw(st.integers(0, 2))

    h, w = odd_side(kh, dh, ph), odd_side(kw, dw, pw)
    return Case(
        n=draw(st.sampled_from([1, 3])),
        group_cin=draw(st.sampled_from(GROUP_CHANNELS)),
        group_cout=draw(st.sampled_from([1, 2, 3, 9])),
        groups=draw(st.sampled_from([1, 2, 3, 4, 12])),
        h=h,
        w=w,
        kernel=(kh, kw),
        stride=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        padding=(ph, pw),
        dilation=(dh, dw),
        pad_value=draw(st.sampled_from([1.0, 0.0])),
    )


def _check_native(case: Case, seed: int, threads: int) -> None:
    """Native int32, float (with a post chain) and bits equal the reference on every path."""
    x, w = _data(case, seed)
    xp, wp = _pack_nchw(x), _pack_nchw(w)
    scale, bias, threshold, flip = _epilogue_args(case.cout, seed)
    acc = reference.bconv2d(xp, wp, case.cin, *case.geometry())
    post = _post(np.random.default_rng(seed), acc.shape)
    floats = reference.bconv2d_float(xp, wp, case.cin, scale, bias, *case.geometry(), post=post)
    bits = reference.bconv2d_bits(xp, wp, case.cin, threshold, flip, *case.geometry())
    np.testing.assert_array_equal(
        floats, reference.float_chain(reference.output_float(acc, scale, bias), post)
    )
    for simd in SIMD_PATHS:
        where = f"{case} simd={simd} threads={threads}"
        run = functools.partial(native.bconv2d, threads=threads, simd=simd)
        np.testing.assert_array_equal(run(xp, wp, case.cin, *case.geometry()), acc, err_msg=where)
        got = native.bconv2d_float(
            xp, wp, case.cin, scale, bias, *case.geometry(), threads=threads, simd=simd, post=post
        )
        np.testing.assert_array_equal(got.view(np.uint32), floats.view(np.uint32), err_msg=where)
        got = native.bconv2d_bits(
            xp, wp, case.cin, threshold, flip, *case.geometry(), threads=threads, simd=simd
        )
        np.testing.assert_array_equal(got, bits, err_msg=where)


@NATIVE_MISSING
@settings(max_examples=50, deadline=None)
@given(case=_random_case(), seed=st.integers(0, 2**16), threads=st.integers(1, 3))
def test_native_equals_reference_random_shapes(case: Case, seed: int, threads: int) -> None:
    _check_native(case, seed, threads)


@NATIVE_MISSING
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("threads", [1, 2])
def test_native_epilogues_equal_reference(case: Case, threads: int) -> None:
    _check_native(case, 3, threads)


@NATIVE_MISSING
@pytest.mark.parametrize(
    "case",
    [
        Case(1, 32, 2, 12, 33, 33, (3, 3), (1, 1), (2, 2), (2, 2), 0.0),  # many row tiles
        Case(2, 65, 66, 2, 15, 15, (5, 5), (2, 2), (4, 4), (2, 2), 1.0),  # words per group
        Case(1, 64, 64, 4, 20, 20, (1, 1), (1, 1), (0, 0), (1, 1), 0.0),  # direct, aligned
    ],
    ids=str,
)
@pytest.mark.parametrize("threads", [2, 3])
def test_native_multithreaded_grouped_tiles(case: Case, threads: int) -> None:
    """Shapes with enough work to split over threads (small ones run on one)."""
    _check_native(case, 0, threads)


# -- refusals ---------------------------------------------------------------------------------


def _bad_arguments():
    x = np.zeros((1, 5, 5, 1), np.uint64)  # cin 12
    w = np.zeros((6, 3, 3, 1), np.uint64)  # cout 6
    return [
        pytest.param(x, w, {"groups": 5}, "groups=5 must divide both cin=12", id="groups-cin"),
        pytest.param(
            x, w, {"groups": 4}, "groups=4 must divide both cin=12 and cout=6", id="groups-cout"
        ),
        pytest.param(x, w, {"groups": 0}, "groups", id="groups-zero"),
        pytest.param(
            x, w, {"dilation": (0, 1)}, r"dilation must be >= 1, got \(0, 1\)", id="dilation-zero"
        ),
        pytest.param(x, w, {"dilation": -2}, "dilation must be >= 1", id="dilation-negative"),
        pytest.param(
            x,
            w,
            {"dilation": (3, 1)},
            r"kernel 3x3 dilated by \(3, 1\)",
            id="kernel-too-big-dilated",
        ),
        pytest.param(
            x,
            w,
            {"dilation": (1, 4), "padding": 1},
            "does not fit the padded 5x5",
            id="kernel-too-big-padded",
        ),
        pytest.param(
            x,
            np.zeros((6, 3, 3, 2), np.uint64),
            {"groups": 2},
            "needs 1 words per pixel and 1 per tap in w",
            id="weight-words",
        ),
        pytest.param(
            np.zeros((1, 5, 5, 2), np.uint64),
            np.zeros((6, 3, 3, 1), np.uint64),
            {"groups": 1},
            "cin=12 needs 1 words per pixel",
            id="input-words",
        ),
    ]


@pytest.mark.parametrize("impl", IMPLS[:2])
@pytest.mark.parametrize(("x", "w", "kwargs", "match"), _bad_arguments())
def test_bad_groups_and_dilation_raise_value_error(impl, x, w, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        impl(x, w, 12, **kwargs)


@NATIVE_MISSING
@pytest.mark.parametrize("name", ["bconv2d_float", "bconv2d_bits"])
def test_fused_kernels_refuse_bad_groups_too(name: str) -> None:
    x = np.zeros((1, 5, 5, 1), np.uint64)
    w = np.zeros((6, 3, 3, 1), np.uint64)
    vectors = (
        (np.ones(6, np.float32), np.zeros(6, np.float32))
        if name == "bconv2d_float"
        else (np.zeros(6, np.int32), np.zeros(6, np.uint8))
    )
    for kernel in (getattr(reference, name), getattr(native, name)):
        with pytest.raises(ValueError, match="groups=4 must divide"):
            kernel(x, w, 12, *vectors, groups=4)
        with pytest.raises(ValueError, match="dilation must be >= 1"):
            kernel(x, w, 12, *vectors, dilation=0)
