"""Bit-serial kernels (k-bit operands stored as bit planes): the NumPy reference
(``reference_bitserial.py``) against exact integer math on the decoded values, for the unsigned,
zero-point, two's complement and +-1-plane encodings of 1 to 8 bits; the native kernels against the
reference bit for bit over shapes around the word width (hypothesis too), under every SIMD path this
CPU runs and 1 and 2 threads; and the refusals (the native ones in the reference's words).
``quantize_pack`` is tested in test_bitserial_quantize.py."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, SIMD_PATHS, native, native_params
from onebit.runtime import reference_bitserial as ref
from onebit.runtime.bit_format import words_for

CHANNELS = (1, 7, 31, 32, 33, 63, 64, 65, 127, 513)
ENCODINGS = ("unsigned", "zero_point", "twos", "pm1")
INT32_MAX = 2**31 - 1


def encoding(kind: str, bits: int, rng: np.random.Generator) -> tuple[int, list[int]]:
    """``(offset, plane_weights)`` of one encoding of ``bits``-bit codes."""
    powers = [2**i for i in range(bits)]
    if kind == "unsigned":
        return 0, powers
    if kind == "zero_point":  # u - z, z in [0, 2^bits]
        return -int(rng.integers(0, 2**bits + 1)), powers
    if kind == "twos":
        return 0, [*powers[:-1], -(2 ** (bits - 1))]
    assert kind == "pm1"  # sum_i 2^i s_i, s_i = +1 for bit 0 and -1 for bit 1
    return 2**bits - 1, [-(2 ** (i + 1)) for i in range(bits)]


def decoded(codes, offset: int, weights) -> np.ndarray:
    """The integer values of ``codes`` in the encoding ``(offset, weights)``."""
    codes = np.asarray(codes, np.int64)
    bits = [(codes >> i) & 1 for i in range(len(weights))]
    return offset + sum(int(w) * b for w, b in zip(weights, bits, strict=True))


def planes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Codes ``(N, ..., C)`` as the kernels' planes ``(N, bits, ..., words)``."""
    return np.ascontiguousarray(np.moveaxis(ref.encode_planes(codes, bits), 0, 1))


class Operands(NamedTuple):
    """Random codes of both operands and their encodings."""

    x: np.ndarray
    w: np.ndarray
    x_bits: int
    w_bits: int
    x_encoding: tuple[int, list[int]]
    w_encoding: tuple[int, list[int]]

    def kernel_encodings(self) -> tuple:
        return (*self.x_encoding, *self.w_encoding)


def operands(seed, x_shape, w_shape, bits, kinds) -> Operands:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2 ** bits[0], x_shape)
    w = rng.integers(0, 2 ** bits[1], w_shape)
    encodings = encoding(kinds[0], bits[0], rng), encoding(kinds[1], bits[1], rng)
    return Operands(x, w, *bits, *encodings)


# --- the planes themselves --------------------------------------------------------------------


@given(
    bits=st.integers(1, 8),
    channels=st.sampled_from(CHANNELS),
    rows=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_decode_of_encode_is_the_codes(bits: int, channels: int, rows: int, seed: int) -> None:
    codes = np.random.default_rng(seed).integers(0, 2**bits, (rows, channels))
    words = ref.encode_planes(codes, bits)
    assert words.shape == (bits, rows, words_for(channels))
    np.testing.assert_array_equal(ref.decode_planes(words, channels), codes)
    rest = channels % 64
    if rest:  # the padding bits are 0
        assert not (words[..., -1] >> np.uint64(rest)).any()


# --- level 1: the reference is the exact integer product of the decoded values ----------------

BITS = [pytest.param(b, id=f"{b}bit") for b in range(1, 9)]
KINDS = [pytest.param(k, id=k) for k in ENCODINGS]


@pytest.mark.parametrize("x_bits", BITS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_reference_gemm_equals_int64_matmul(x_bits: int, kind: str, seed: int) -> None:
    w_bits = 9 - x_bits
    w_kind = ENCODINGS[(ENCODINGS.index(kind) + 1) % len(ENCODINGS)]
    k = 70 + x_bits
    ops = operands(seed, (5, k), (7, k), (x_bits, w_bits), (kind, w_kind))
    x_values = torch.from_numpy(decoded(ops.x, *ops.x_encoding))
    w_values = torch.from_numpy(decoded(ops.w, *ops.w_encoding))
    expected = (x_values @ w_values.T).numpy()
    got = ref.bitserial_gemm(
        planes(ops.x, x_bits), planes(ops.w, w_bits), k, *ops.kernel_encodings()
    )
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


def torch_conv2d(ops: Operands, stride, padding, pad_code: int) -> np.ndarray:
    """The float64 conv2d of the decoded values (exact integers here), the border holding the
    value of ``pad_code``, as int64 NHWC."""
    top, bottom, left, right = padding
    x = torch.from_numpy(decoded(ops.x, *ops.x_encoding).astype(np.float64)).permute(0, 3, 1, 2)
    w = torch.from_numpy(decoded(ops.w, *ops.w_encoding).astype(np.float64)).permute(0, 3, 1, 2)
    pad_value = float(decoded(pad_code, *ops.x_encoding))
    x = F.pad(x, (left, right, top, bottom), value=pad_value)
    out = F.conv2d(x, w, stride=stride)
    return out.permute(0, 2, 3, 1).round().to(torch.int64).numpy()


@pytest.mark.parametrize("x_bits", BITS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_reference_conv2d_equals_torch_conv2d(x_bits: int, kind: str, seed: int) -> None:
    w_bits = (x_bits * 5) % 8 + 1
    w_kind = ENCODINGS[(ENCODINGS.index(kind) + 2) % len(ENCODINGS)]
    cin = 61 + x_bits
    ops = operands(seed, (2, 5, 6, cin), (3, 3, 2, cin), (x_bits, w_bits), (kind, w_kind))
    pad_code = (2**x_bits - 1) // 3
    stride, padding = (2, 1), (1, 2, 0, 1)
    expected = torch_conv2d(ops, stride, padding, pad_code)
    got = ref.bitserial_conv2d(
        planes(ops.x, x_bits),
        planes(ops.w, w_bits),
        cin,
        stride,
        padding,
        pad_code,
        *ops.kernel_encodings(),
    )
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


# --- level 2: the native kernels equal the reference bit for bit ------------------------------


class Case(NamedTuple):
    n: int
    cin: int
    cout: int
    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    bits: tuple[int, int]
    kinds: tuple[str, str]
    pad_code: int

    def __str__(self) -> str:
        return (
            f"n{self.n}-c{self.cin}to{self.cout}-{self.h}x{self.w}-k{self.kernel[0]}x{self.kernel[1]}"
            f"-s{self.stride[0]}{self.stride[1]}-p{''.join(map(str, self.padding))}"
            f"-{self.bits[0]}x{self.bits[1]}bit-{self.kinds[0]}-{self.kinds[1]}-pad{self.pad_code}"
        )

    def fits(self) -> bool:
        top, bottom, left, right = self.padding
        return self.h + top + bottom >= self.kernel[0] and self.w + left + right >= self.kernel[1]


def _cases() -> list[Case]:
    cases = []
    # channel counts around the word width, every encoding, 1 to 8 bits, each pad code kind
    for i, cin in enumerate(CHANNELS):
        bits = (i % 8 + 1, (3 * i) % 8 + 1)
        kinds = (ENCODINGS[i % 4], ENCODINGS[(i + 1) % 4])
        pad_code = (0, 2 ** bits[0] - 1, (2 ** bits[0]) // 3)[i % 3]
        cases.append(
            Case(
                1,
                cin,
                (5, 64, 65)[i % 3],
                5,
                5,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                bits,
                kinds,
                pad_code,
            )
        )
    # odd spatial sizes x kernel 1/3 x stride 1/2 x symmetric and asymmetric padding
    for h, w in ((1, 1), (3, 3), (5, 7), (9, 9)):
        for k, s, p in (
            (1, 1, (0, 0, 0, 0)),
            (1, 2, (0, 0, 0, 0)),
            (3, 1, (1, 1, 1, 1)),
            (3, 2, (0, 0, 0, 0)),
            (3, 2, (0, 1, 2, 0)),
            (3, 1, (2, 0, 0, 1)),
        ):
            case = Case(
                3 if h == 5 else 1,
                33,
                17,
                h,
                w,
                (k, k),
                (s, s),
                p,
                (2, 3),
                ("zero_point", "pm1"),
                1,
            )
            if case.fits():
                cases.append(case)
    cases += [
        Case(2, 20, 11, 7, 6, (1, 3), (1, 2), (0, 0, 1, 1), (4, 1), ("unsigned", "pm1"), 9),
        Case(1, 65, 9, 9, 7, (5, 5), (2, 2), (2, 2, 2, 2), (8, 2), ("zero_point", "twos"), 128),
        Case(1, 513, 70, 5, 5, (3, 3), (1, 1), (1, 0, 0, 1), (2, 2), ("unsigned", "twos"), 3),
        Case(1, 40, 200, 3, 3, (3, 3), (1, 1), (0, 0, 0, 0), (3, 3), ("pm1", "pm1"), 0),
        Case(1, 3, 4, 4, 4, (3, 3), (1, 1), (2, 3, 3, 2), (1, 8), ("twos", "zero_point"), 1),
    ]
    return cases


CASES = _cases()


@functools.cache
def _conv_data(case: Case, seed: int):
    ops = operands(
        seed,
        (case.n, case.h, case.w, case.cin),
        (case.cout, *case.kernel, case.cin),
        case.bits,
        case.kinds,
    )
    args = (
        planes(ops.x, case.bits[0]),
        planes(ops.w, case.bits[1]),
        case.cin,
        case.stride,
        case.padding,
        case.pad_code,
        *ops.kernel_encodings(),
    )
    return args, ref.bitserial_conv2d(*args)


CONV = native_params("bitserial_conv2d", threads=(1, 2))
GEMM = native_params("bitserial_gemm", threads=(1, 2))


@pytest.mark.parametrize("conv", CONV)
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_native_conv2d_equals_reference(conv, case: Case, seed: int) -> None:
    args, expected = _conv_data(case, seed)
    got = conv(*args)
    assert got.dtype == np.int32 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("gemm", GEMM)
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("n", [1, 3, 50])
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_native_gemm_equals_reference(gemm, channels: int, n: int, seed: int) -> None:
    i = CHANNELS.index(channels)
    bits = (i % 8 + 1, (5 * i + n) % 8 + 1)
    kinds = (ENCODINGS[(i + n) % 4], ENCODINGS[i % 4])
    ops = operands(seed, (n, channels), (37, channels), bits, kinds)
    args = (planes(ops.x, bits[0]), planes(ops.w, bits[1]), channels, *ops.kernel_encodings())
    np.testing.assert_array_equal(gemm(*args), ref.bitserial_gemm(*args))


@NATIVE_MISSING
@given(
    n=st.sampled_from([1, 3]),
    cin=st.sampled_from(CHANNELS),
    cout=st.integers(1, 70),
    h=st.sampled_from([1, 3, 5, 7]),
    w=st.sampled_from([1, 3, 5, 7]),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(*[st.integers(0, 2)] * 4),
    bits=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    kinds=st.tuples(st.sampled_from(ENCODINGS), st.sampled_from(ENCODINGS)),
    pad_fraction=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_native_conv2d_equals_reference_on_any_shape(
    n, cin, cout, h, w, kernel, stride, padding, bits, kinds, pad_fraction, seed
) -> None:
    pad_code = int(pad_fraction * (2 ** bits[0] - 1))
    case = Case(n, cin, cout, h, w, kernel, stride, padding, bits, kinds, pad_code)
    assume(case.fits())
    args, expected = _conv_data(case, seed)
    np.testing.assert_array_equal(native.bitserial_conv2d(*args, threads=2), expected)


@NATIVE_MISSING
@given(
    n=st.integers(0, 40),
    m=st.integers(0, 40),
    channels=st.sampled_from(CHANNELS),
    bits=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    kinds=st.tuples(st.sampled_from(ENCODINGS), st.sampled_from(ENCODINGS)),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_native_gemm_equals_reference_on_any_shape(n, m, channels, bits, kinds, seed) -> None:
    ops = operands(seed, (n, channels), (m, channels), bits, kinds)
    args = (planes(ops.x, bits[0]), planes(ops.w, bits[1]), channels, *ops.kernel_encodings())
    np.testing.assert_array_equal(
        native.bitserial_gemm(*args, threads=2), ref.bitserial_gemm(*args)
    )


@pytest.mark.parametrize("gemm", GEMM)
@pytest.mark.parametrize("conv", CONV[:1])
@pytest.mark.parametrize("seed", [0, 1], ids=lambda s: f"seed{s}")
def test_padding_bits_count_as_the_reference_counts_them(gemm, conv, seed: int) -> None:
    """Random words, padding bits included: the gemm counts them (wrapping where a sum passes
    int32, as the reference's NumPy arithmetic does); the convolution drops the input's."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2**64, (4, 3, 2), dtype=np.uint64)
    w = rng.integers(0, 2**64, (5, 2, 2), dtype=np.uint64)
    args = (x, w, 70, -5, [1, 2, 4], 3, [1, -2])
    np.testing.assert_array_equal(gemm(*args), ref.bitserial_gemm(*args))
    x = rng.integers(0, 2**64, (2, 3, 4, 5, 2), dtype=np.uint64)
    w = rng.integers(0, 2**64, (6, 2, 3, 2, 2), dtype=np.uint64)
    args = (x, w, 70, (1, 2), (1, 0, 2, 1), 5, -5, [1, 2, 4], 3, [1, -2])
    np.testing.assert_array_equal(conv(*args), ref.bitserial_conv2d(*args))


# --- the int32 bound: the largest k that fits, and the first that does not ---------------------

LARGEST_K = INT32_MAX // (255 * 255)  # 8-bit unsigned codes on both sides: 33025
EIGHT_BIT = (0, [2**i for i in range(8)])


@pytest.mark.parametrize("impl", [pytest.param(None, id="reference"), *GEMM[:2]])
def test_a_gemm_at_the_int32_bound_is_exact(impl) -> None:
    gemm = ref.bitserial_gemm if impl is None else impl
    codes = np.full((2, LARGEST_K), 255)
    codes[1, ::3] = np.arange(len(codes[1, ::3])) % 256
    x = planes(codes, 8)
    got = gemm(x, x[:1], LARGEST_K, *EIGHT_BIT, *EIGHT_BIT)
    expected = codes.astype(np.int64) @ codes[:1].T.astype(np.int64)
    assert got[0, 0] == LARGEST_K * 255 * 255 <= INT32_MAX
    np.testing.assert_array_equal(got, expected)
    too_long = planes(np.zeros((1, LARGEST_K + 1), int), 8)
    with pytest.raises(ValueError, match="could pass int32"):
        gemm(too_long, too_long, LARGEST_K + 1, *EIGHT_BIT, *EIGHT_BIT)


@pytest.mark.parametrize("impl", [pytest.param(None, id="reference"), *CONV[:2]])
def test_a_conv_at_the_int32_bound_is_exact(impl) -> None:
    conv = ref.bitserial_conv2d if impl is None else impl
    cin = LARGEST_K // 9  # 3669 channels of a 3x3 kernel: k = 33021
    rng = np.random.default_rng(0)
    codes = np.full((1, 3, 3, cin), 255)
    weights = np.full((2, 3, 3, cin), 255)
    weights[1] = rng.integers(0, 256, (3, 3, cin))
    got = conv(planes(codes, 8), planes(weights, 8), cin, 1, 0, 0, *EIGHT_BIT, *EIGHT_BIT)
    expected = weights.reshape(2, -1).astype(np.int64).sum(-1) * 255
    assert got.shape == (1, 1, 1, 2) and got[0, 0, 0, 0] == 9 * cin * 255 * 255
    np.testing.assert_array_equal(got.reshape(-1), expected)
    cin += 1  # k = 33030: could pass int32
    with pytest.raises(ValueError, match="could pass int32"):
        conv(
            planes(np.zeros((1, 3, 3, cin), int), 8),
            planes(np.zeros((1, 3, 3, cin), int), 8),
            cin,
            1,
            0,
            0,
            *EIGHT_BIT,
            *EIGHT_BIT,
        )


# --- every SIMD path, forced process-wide ---------------------------------------------------


@pytest.fixture
def forced_path(request):
    """The SIMD path of the test's id forced with set_simd_path, the best one restored after."""
    native.set_simd_path(request.param)
    yield request.param
    native.set_simd_path(None)


@pytest.mark.parametrize(
    "forced_path", SIMD_PATHS or ["none"], indirect=True, ids=lambda p: f"simd-{p}"
)
@pytest.mark.parametrize("threads", [1, 2], ids=lambda t: f"t{t}")
@pytest.mark.parametrize("seed", [0], ids=lambda s: f"seed{s}")
def test_every_simd_path_equals_the_reference(forced_path: str, threads: int, seed: int) -> None:
    assert native.default_simd_path() == forced_path
    for case in CASES[::4]:
        args, expected = _conv_data(case, seed)
        got = native.bitserial_conv2d(*args, threads=threads)
        np.testing.assert_array_equal(got, expected, err_msg=f"{forced_path} {case}")
    for channels in CHANNELS:
        ops = operands(seed, (9, channels), (30, channels), (3, 2), ("zero_point", "twos"))
        args = (planes(ops.x, 3), planes(ops.w, 2), channels, *ops.kernel_encodings())
        got = native.bitserial_gemm(*args, threads=threads)
        np.testing.assert_array_equal(got, ref.bitserial_gemm(*args), err_msg=forced_path)


# --- refusals: the native kernels refuse what the reference refuses, in its words -------------

X2 = planes(np.zeros((2, 70), int), 2)  # (2, 2, 2)
W1 = planes(np.zeros((3, 70), int), 1)  # (3, 1, 2)
MAP = planes(np.zeros((1, 4, 4, 70), int), 2)  # (1, 2, 4, 4, 2)
KERNEL = planes(np.zeros((3, 3, 3, 70), int), 1)  # (3, 1, 3, 3, 2)
UNSIGNED2 = (0, [1, 2])
PM1 = (1, [-2])
FLOATS = np.zeros((2, 70), np.float32)

REFUSALS = {
    "gemm-too-many-weights": ("bitserial_gemm", (X2, W1, 70, 0, [1] * 9, *PM1)),
    "gemm-no-weights": ("bitserial_gemm", (X2, W1, 70, 0, [], *PM1)),
    "gemm-weight-too-large": ("bitserial_gemm", (X2, W1, 70, *UNSIGNED2, 1, [2**16 + 1])),
    "gemm-offset-too-large": ("bitserial_gemm", (X2, W1, 70, -(2**16) - 1, [1, 2], *PM1)),
    "gemm-float-weight": ("bitserial_gemm", (X2, W1, 70, 0, [1.0, 2], *PM1)),
    "gemm-bool-weight": ("bitserial_gemm", (X2, W1, 70, 0, [True, 2], *PM1)),
    "gemm-planes-mismatch": ("bitserial_gemm", (X2, W1, 70, 0, [1, 2, 4], *PM1)),
    "gemm-words-mismatch": ("bitserial_gemm", (X2, W1[:, :, :1].copy(), 70, *UNSIGNED2, *PM1)),
    "gemm-k-zero": ("bitserial_gemm", (X2, W1, 0, *UNSIGNED2, *PM1)),
    "gemm-k-too-large": ("bitserial_gemm", (X2, W1, 129, *UNSIGNED2, *PM1)),
    "gemm-bound": ("bitserial_gemm", (X2, W1, 1, 0, [2**16], 0, [2**16])),
    "conv-pad-code": ("bitserial_conv2d", (MAP, KERNEL, 70, 1, 1, 4, *UNSIGNED2, *PM1)),
    "conv-negative-padding": (
        "bitserial_conv2d",
        (MAP, KERNEL, 70, 1, (0, -1), 0, *UNSIGNED2, *PM1),
    ),
    "conv-zero-stride": ("bitserial_conv2d", (MAP, KERNEL, 70, (1, 0), 1, 0, *UNSIGNED2, *PM1)),
    "conv-cin": ("bitserial_conv2d", (MAP, KERNEL, 200, 1, 1, 0, *UNSIGNED2, *PM1)),
    "conv-kernel-too-large": (
        "bitserial_conv2d",
        (MAP[:, :, :1, :1].copy(), KERNEL, 70, 1, 0, 0, *UNSIGNED2, *PM1),
    ),
    "conv-planes-mismatch": ("bitserial_conv2d", (MAP, KERNEL, 70, 1, 1, 0, 0, [1], *PM1)),
    "conv-bound": ("bitserial_conv2d", (MAP, KERNEL, 70, 1, 1, 0, 0, [2**16, 1], 0, [2**16])),
    "quantize-bits-zero": ("quantize_pack", (FLOATS, 0, 1.0, 0)),
    "quantize-bits-nine": ("quantize_pack", (FLOATS, 9, 1.0, 0)),
    "quantize-zero-point": ("quantize_pack", (FLOATS, 2, 1.0, 5)),
    "quantize-zero-point-negative": ("quantize_pack", (FLOATS, 3, 1.0, -9)),
}


@NATIVE_MISSING
@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_native_refusals_are_the_references(name: str) -> None:
    kernel, args = REFUSALS[name]
    with pytest.raises(ValueError) as python:
        getattr(ref, kernel)(*args)
    with pytest.raises(ValueError) as cpp:
        getattr(native, kernel)(*args)
    assert str(cpp.value) == f"{kernel}: {python.value}"


@NATIVE_MISSING
@pytest.mark.parametrize("value", [-1, 2**31, 2**63, 2**70, -(2**70)])
def test_hostile_sizes_are_refused(value: int) -> None:
    if value != -1:  # a valid zero point and offset
        with pytest.raises(ValueError, match=r"^quantize_pack: zero_point"):
            native.quantize_pack(FLOATS, 8, 1.0, value)
        with pytest.raises(ValueError, match=r"^bitserial_gemm: x: offset"):
            native.bitserial_gemm(X2, W1, 70, value, [1, 2], *PM1)
    with pytest.raises(ValueError, match=r"^bitserial_gemm: k="):
        native.bitserial_gemm(X2, W1, value, *UNSIGNED2, *PM1)
    with pytest.raises(ValueError, match=r"^bitserial_conv2d: cin="):
        native.bitserial_conv2d(MAP, KERNEL, value, 1, 1, 0, *UNSIGNED2, *PM1)
    with pytest.raises(ValueError, match=r"^bitserial_conv2d: pad_code"):
        native.bitserial_conv2d(MAP, KERNEL, 70, 1, 1, value, *UNSIGNED2, *PM1)
    with pytest.raises(ValueError, match=r"^bitserial_conv2d: .*padding"):
        native.bitserial_conv2d(MAP, KERNEL, 70, 1, value, 0, *UNSIGNED2, *PM1)
    with pytest.raises(ValueError, match=r"^quantize_pack: bits"):
        native.quantize_pack(FLOATS, value, 1.0, 0)


@NATIVE_MISSING
def test_wrong_types_and_layouts_are_refused() -> None:
    with pytest.raises(TypeError, match=r"^bitserial_gemm: x must hold uint64"):
        native.bitserial_gemm(X2.astype(np.int64), W1, 70, *UNSIGNED2, *PM1)
    with pytest.raises(ValueError, match=r"^bitserial_gemm: w must be C-contiguous"):
        native.bitserial_gemm(X2, np.zeros((3, 1, 4), np.uint64)[:, :, ::2], 70, *UNSIGNED2, *PM1)
    with pytest.raises(ValueError, match=r"^bitserial_conv2d: x must have 5 axes"):
        native.bitserial_conv2d(MAP[0], KERNEL, 70, 1, 1, 0, *UNSIGNED2, *PM1)
    with pytest.raises(TypeError, match=r"^quantize_pack: x must be float32"):
        native.quantize_pack(FLOATS.astype(np.float64), 2, 1.0, 0)
    with pytest.raises(TypeError, match=r"^quantize_pack: bits must be an int"):
        native.quantize_pack(FLOATS, 2.0, 1.0, 0)
    with pytest.raises(ValueError, match=r"^quantize_pack: multiplier"):
        native.quantize_pack(FLOATS, 2, 1e300, 0)
    with pytest.raises(ValueError, match=r"^bitserial_conv2d: simd='sse9'"):
        native.bitserial_conv2d(MAP, KERNEL, 70, 1, 1, 0, *UNSIGNED2, *PM1, simd="sse9")


@NATIVE_MISSING
@pytest.mark.parametrize(
    ("call", "shape"),
    [
        (lambda: native.bitserial_gemm(X2[:0], W1, 70, *UNSIGNED2, *PM1), (0, 3)),
        (lambda: native.bitserial_gemm(X2, W1[:0], 70, *UNSIGNED2, *PM1), (2, 0)),
        (
            lambda: native.bitserial_conv2d(MAP[:0], KERNEL, 70, 1, 1, 0, *UNSIGNED2, *PM1),
            (0, 4, 4, 3),
        ),
        (
            lambda: native.bitserial_conv2d(MAP, KERNEL[:0], 70, 1, 1, 0, *UNSIGNED2, *PM1),
            (1, 4, 4, 0),
        ),
        (lambda: native.quantize_pack(FLOATS[:0], 3, 1.0, 0), (3, 0, 2)),
        (lambda: native.quantize_pack(np.zeros((2, 0), np.float32), 3, 1.0, 0), (3, 2, 0)),
    ],
)
def test_empty_arrays_give_empty_results(call, shape) -> None:
    got = call()
    assert got.shape == shape and not got.any()
