"""The native kernels never trust their caller (issue #10): hostile sizes, ints beyond int64, empty
and wrong arrays give a Python exception that names the kernel and the argument, or a correct
result, never a crash. A segfault here ends the whole test run, so surviving is part of the test.

The limits are csrc/common/checked.h's: every size below 2^31, no buffer over 2^36 bytes. The
window-op property test models the output size in Python and only calls the kernel where the result
is either small (then checked against the reference, or a direct window max for huge paddings) or
beyond the limits (then refused), never in between, where a valid call would allocate gigabytes.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from onebit.runtime import reference

try:
    from onebit.runtime import _native
except ImportError:  # the extension is not built
    _native = None

pytestmark = pytest.mark.skipif(_native is None, reason="onebit._native is not built")

MAX_EXTENT = 2**31 - 1
MAX_BUFFER_BYTES = 2**36
HOSTILE = [0, 1, 2, 3, 2**31 - 1, 2**31, 2**32, 2**33, 2**63 - 1, 2**63, 2**70, -1, -(2**31)]
SMALL_OUTPUT = 4096  # elements: results up to this size are computed and checked


def _raises(error, kernel: str, *names: str):
    """pytest.raises for `error` whose message starts with the kernel's name and names one of
    `names`."""
    pattern = f"^{kernel}: .*({'|'.join(names)})"
    return pytest.raises(error, match=pattern)


# --- the issue's reproductions ------------------------------------------------------------------


def test_the_issue_maxpool_padding_raises_instead_of_crashing() -> None:
    x = np.zeros((3, 8, 8, 32), np.float32)
    with _raises(ValueError, "maxpool2d", "output"):
        _native.maxpool2d(x, (2, 2), (2, 2), (1073741820, 1073741820))


@pytest.mark.parametrize("padding", [[4294967293] * 4, [2**31 - 1] * 4, 2**70])
def test_the_issue_float_conv_and_depthwise_paddings_raise(padding) -> None:
    x = np.zeros((1, 8, 8, 4), np.float32)
    with _raises(ValueError, "float_im2col", "padding", "output"):
        _native.float_im2col(x, (3, 3), (1, 1), padding)
    ones = np.ones(4, np.float32)
    with _raises(ValueError, "depthwise_conv2d", "padding", "output"):
        _native.depthwise_conv2d(x, np.zeros((3, 3, 4), np.float32), ones, ones, padding=padding)


# --- window geometry: any kernel, stride and padding ----------------------------------------


def _side(size: int, before: int, after: int, kernel: int, stride: int) -> int | None:
    """The output side, or None where the kernel does not fit."""
    padded = size + before + after
    return None if padded < kernel else (padded - kernel) // stride + 1


def _window_max(x: np.ndarray, kernel, stride, sides) -> np.ndarray:
    """maxpool2d computed window by window over the in-bounds pixels (huge paddings welcome)."""
    n, h, w, c = x.shape
    top, bottom, left, right = sides
    ho, wo = (
        _side(h, top, bottom, kernel[0], stride[0]),
        _side(w, left, right, kernel[1], stride[1]),
    )
    out = np.full((n, ho, wo, c), -np.inf, np.float32)
    for i in range(ho):
        r0, r1 = max(0, i * stride[0] - top), min(h, i * stride[0] - top + kernel[0])
        for j in range(wo):
            c0, c1 = max(0, j * stride[1] - left), min(w, j * stride[1] - left + kernel[1])
            if r0 < r1 and c0 < c1:
                out[:, i, j] = x[:, r0:r1, c0:c1].max(axis=(1, 2))
    return out


sizes = st.one_of(st.sampled_from(HOSTILE), st.integers(0, 5))


@settings(max_examples=150, deadline=None)
@given(
    kernel=st.tuples(sizes, sizes),
    stride=st.tuples(sizes, sizes),
    padding=st.tuples(sizes, sizes, sizes, sizes),
    op=st.sampled_from(["maxpool2d", "float_im2col"]),
)
@example(kernel=(3, 3), stride=(2**31 - 1,) * 2, padding=(2**31 - 1,) * 4, op="maxpool2d")
def test_float_window_ops_refuse_or_compute_any_geometry(kernel, stride, padding, op) -> None:
    x = np.arange(2 * 5 * 6 * 3, dtype=np.float32).reshape(2, 5, 6, 3)
    n, h, w, c = x.shape
    in_range = all(0 <= v <= MAX_EXTENT for v in (*padding, *kernel, *stride))
    positive = min(*kernel, *stride) >= 1
    ho = _side(h, padding[0], padding[1], kernel[0], stride[0]) if in_range and positive else None
    wo = _side(w, padding[2], padding[3], kernel[1], stride[1]) if in_range and positive else None
    elements = None
    if ho is not None and wo is not None:
        per_pixel = c * (kernel[0] * kernel[1] if op == "float_im2col" else 1)
        elements = n * ho * wo * per_pixel
    fits = elements is not None and max(ho, wo) <= MAX_EXTENT and elements * 4 <= MAX_BUFFER_BYTES
    assume(not fits or elements <= SMALL_OUTPUT)  # a valid large result: gigabytes, not here
    call = getattr(_native, op)
    if not fits:
        with _raises(ValueError, op, "kernel", "stride", "padding", "output", "im2col"):
            call(x, kernel, stride, padding)
        return
    got = call(x, kernel, stride, padding)
    if max(padding) <= 8:
        np.testing.assert_array_equal(got, getattr(reference, op)(x, kernel, stride, padding))
    elif op == "maxpool2d":
        np.testing.assert_array_equal(got, _window_max(x, kernel, stride, padding))
    else:
        assert got.shape == (n * ho * wo, kernel[0] * kernel[1] * c)


@settings(max_examples=100, deadline=None)
@given(
    kernel=st.tuples(sizes, sizes),
    stride=st.one_of(st.none(), st.tuples(sizes, sizes)),
    padding=st.tuples(sizes, sizes),
)
def test_binary_maxpool_refuses_or_computes_any_geometry(kernel, stride, padding) -> None:
    x = reference.bitpack(np.random.default_rng(0).standard_normal((2, 5, 6, 70), np.float32))
    strides = kernel if stride is None else stride
    values = (*kernel, *strides, *padding)
    valid = (
        all(-MAX_EXTENT <= v <= MAX_EXTENT for v in values)
        and min(*kernel, *strides) >= 1
        and min(padding) >= 0
        and 2 * padding[0] <= kernel[0]
        and 2 * padding[1] <= kernel[1]
    )
    ho = _side(5, padding[0], padding[0], kernel[0], strides[0]) if valid else None
    wo = _side(6, padding[1], padding[1], kernel[1], strides[1]) if valid else None
    if ho is None or wo is None:
        with _raises(ValueError, "bmaxpool2d", "kernel", "stride", "padding"):
            _native.bmaxpool2d(x, kernel, stride, padding)
        return
    # padding is at most half the kernel, so with the kernel fitting, the output is small
    got = _native.bmaxpool2d(x, kernel, stride, padding)
    if max(kernel) <= 16:
        np.testing.assert_array_equal(got, reference.bmaxpool2d(x, kernel, stride, padding))
    else:
        assert got.shape == (2, ho, wo, 2)


@settings(max_examples=100, deadline=None)
@given(stride=st.tuples(sizes, sizes), padding=st.tuples(sizes, sizes))
def test_bconv2d_refuses_or_computes_any_stride_and_padding(stride, padding) -> None:
    rng = np.random.default_rng(1)
    x = reference.bitpack(rng.standard_normal((1, 5, 6, 70), np.float32))
    w = reference.bitpack(rng.standard_normal((3, 3, 2, 70), np.float32))
    values = (*stride, *padding)
    in_range = all(-MAX_EXTENT <= v <= MAX_EXTENT for v in values)
    ok = in_range and min(stride) >= 1 and min(padding) >= 0
    ho = _side(5, padding[0], padding[0], 3, stride[0]) if ok else None
    wo = _side(6, padding[1], padding[1], 2, stride[1]) if ok else None
    fits = ho is not None and wo is not None and max(ho, wo) <= MAX_EXTENT
    fits = fits and ho * wo * 3 * 4 <= MAX_BUFFER_BYTES
    assume(not fits or ho * wo * 3 <= SMALL_OUTPUT)
    if not fits:
        with _raises(ValueError, "bconv2d", "stride", "padding", "output"):
            _native.bconv2d(x, w, 70, stride, padding)
        return
    got = _native.bconv2d(x, w, 70, stride, padding)
    if max(padding) <= 8:
        np.testing.assert_array_equal(got, reference.bconv2d(x, w, 70, stride, padding))
    else:  # a huge padding with a huge stride: a few windows, most of them all padding
        assert got.shape == (1, ho, wo, 3)


@settings(max_examples=100, deadline=None)
@given(stride=st.tuples(sizes, sizes), padding=st.tuples(sizes, sizes, sizes, sizes))
@example(stride=(2**31 - 1,) * 2, padding=(2**31 - 1,) * 4)  # 3 x 3 windows, most all padding
def test_depthwise_conv2d_refuses_or_computes_any_stride_and_padding(stride, padding) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 5, 6, 2), np.float32)
    w = rng.standard_normal((3, 2, 4), np.float32)  # depth multiplier 2
    scale, bias = np.ones(4, np.float32), np.zeros(4, np.float32)
    in_range = all(-MAX_EXTENT <= v <= MAX_EXTENT for v in (*stride, *padding))
    ok = in_range and min(stride) >= 1 and min(padding) >= 0
    ho = _side(5, padding[0], padding[1], 3, stride[0]) if ok else None
    wo = _side(6, padding[2], padding[3], 2, stride[1]) if ok else None
    fits = ho is not None and wo is not None and max(ho, wo) <= MAX_EXTENT
    fits = fits and ho * wo * 4 * 4 <= MAX_BUFFER_BYTES
    assume(not fits or ho * wo * 4 <= SMALL_OUTPUT)
    if not fits:
        with _raises(ValueError, "depthwise_conv2d", "stride", "padding", "output"):
            _native.depthwise_conv2d(x, w, scale, bias, stride, padding, 0.5)
        return
    got = _native.depthwise_conv2d(x, w, scale, bias, stride, padding, 0.5)
    if max(padding) <= 8:
        want = reference.depthwise_conv2d(x, w, scale, bias, stride, padding, 0.5)
        np.testing.assert_array_equal(got, want)
    else:  # a window far in the padding sees pad_value only: the sum of 0.5 * its taps
        assert got.shape == (1, ho, wo, 4)
        pad_only = np.zeros(4, np.float32)
        for tap in w.reshape(6, 4):
            pad_only = pad_only + np.float32(0.5) * tap
        for i in range(ho):
            for j in range(wo):
                top, left = i * stride[0] - padding[0], j * stride[1] - padding[2]
                if top + 3 <= 0 or top >= 5 or left + 2 <= 0 or left >= 6:
                    np.testing.assert_array_equal(got[0, i, j], pad_only)


# --- size-like scalars: any Python int ------------------------------------------------------

WORDS = np.zeros((3, 2), np.uint64)
FLOATS = np.zeros((1, 4, 4, 2), np.float32)
PACKED = np.zeros((1, 4, 4, 1), np.uint64)
W_PACKED = np.zeros((2, 3, 3, 1), np.uint64)
ONES2 = np.ones(2, np.float32)
ACC = np.zeros((4, 2), np.int32)
THRESHOLD = np.zeros(2, np.int32)
FLIP = np.zeros(2, np.uint8)

# Every kernel that takes threads, called with its smallest valid arguments.
THREADED = {
    "bitpack": lambda t: _native.bitpack(FLOATS, threads=t),
    "unpack": lambda t: _native.unpack(WORDS, 100, threads=t),
    "bgemm": lambda t: _native.bgemm(WORDS, WORDS, 100, threads=t),
    "bconv2d": lambda t: _native.bconv2d(PACKED, W_PACKED, 3, threads=t),
    "bconv2d_float": lambda t: _native.bconv2d_float(PACKED, W_PACKED, 3, ONES2, ONES2, threads=t),
    "bconv2d_bits": lambda t: _native.bconv2d_bits(PACKED, W_PACKED, 3, THRESHOLD, FLIP, threads=t),
    "output_float": lambda t: _native.output_float(ACC, ONES2, ONES2, threads=t),
    "output_bits": lambda t: _native.output_bits(ACC, THRESHOLD, FLIP, threads=t),
    "depthwise_conv2d": lambda t: _native.depthwise_conv2d(
        FLOATS, np.ones((3, 3, 2), np.float32), ONES2, ONES2, threads=t
    ),
    "float_chain": lambda t: _native.float_chain(FLOATS, [("relu",)], threads=t),
    "float_im2col": lambda t: _native.float_im2col(FLOATS, (2, 2), threads=t),
    "maxpool2d": lambda t: _native.maxpool2d(FLOATS, (2, 2), threads=t),
    "sgemm": lambda t: _native.sgemm(FLOATS[0, 0], FLOATS[0, 0].T.copy(), threads=t),
    "nchw_to_nhwc": lambda t: _native.nchw_to_nhwc(FLOATS, threads=t),
    "nhwc_to_nchw": lambda t: _native.nhwc_to_nchw(FLOATS, threads=t),
    "quantize_pack": lambda t: _native.quantize_pack(FLOATS, 2, 1.0, 0, threads=t),
    "bitserial_gemm": lambda t: _native.bitserial_gemm(
        WORDS[:, None], WORDS[:, None], 100, 0, [1], 0, [1], threads=t
    ),
    "bitserial_conv2d": lambda t: _native.bitserial_conv2d(
        PACKED[:, None], W_PACKED[:, None], 3, 1, 0, 0, 0, [1], 0, [1], threads=t
    ),
}


def test_every_threaded_kernel_is_listed() -> None:
    public = {name for name in _native.__all__ if name.islower()}
    untested = (
        public
        - set(THREADED)
        - {
            "bmaxpool2d",  # no threads; tested above
            "xor_popcount_peak",
            "simd_paths",
            "default_simd_path",
            "set_simd_path",  # not a kernel: test_simd_choice.py
            "set_num_threads",
            "get_num_threads",
            # the .onebit reader, not a kernel: test_program_file_native.py
            "read_program_file",
            "load_program_file",
            "sha256_hex",
            "place_values",  # the executor's value planner, not a kernel: test_value_arena.py
        }
    )
    assert not untested, f"kernels without a bounds test: {sorted(untested)}"


@pytest.mark.parametrize("kernel", sorted(THREADED))
@pytest.mark.parametrize(
    ("threads", "error"),
    [
        (-1, ValueError),
        (257, ValueError),
        (2**31, ValueError),
        (2**70, ValueError),
        (-(2**70), ValueError),
        (1.5, TypeError),
        (True, TypeError),
        ("2", TypeError),
    ],
)
def test_threads_out_of_range_are_refused(kernel: str, threads, error) -> None:
    with _raises(error, kernel, "threads"):
        THREADED[kernel](threads)


@pytest.mark.parametrize("kernel", sorted(THREADED))
@pytest.mark.parametrize("threads", [0, 1, 256, np.int64(2)])
def test_threads_in_range_give_the_same_result(kernel: str, threads) -> None:
    np.testing.assert_array_equal(THREADED[kernel](threads), THREADED[kernel](1))


@pytest.mark.parametrize("value", [0, -1, 2**31, 2**63, 2**70, -(2**70)])
def test_size_arguments_beyond_range_are_refused(value: int) -> None:
    with _raises(ValueError, "bgemm", "k"):
        _native.bgemm(WORDS, WORDS, value)
    with _raises(ValueError, "unpack", "channels"):
        _native.unpack(WORDS, value)
    with _raises(ValueError, "bconv2d", "cin"):
        _native.bconv2d(PACKED, W_PACKED, value)
    with _raises(ValueError, "set_num_threads", "n"):
        _native.set_num_threads(value)


@pytest.mark.parametrize("value", [1.0, "3", [3], True])
def test_size_arguments_of_the_wrong_type_are_refused(value) -> None:
    with _raises(TypeError, "bgemm", "k"):
        _native.bgemm(WORDS, WORDS, value)
    with _raises(TypeError, "unpack", "channels"):
        _native.unpack(WORDS, value)
    with _raises(TypeError, "bconv2d", "cin"):
        _native.bconv2d(PACKED, W_PACKED, value)


def test_numpy_integers_are_sizes() -> None:
    np.testing.assert_array_equal(
        _native.bgemm(WORDS, WORDS, np.int64(100)), _native.bgemm(WORDS, WORDS, 100)
    )
    np.testing.assert_array_equal(
        _native.maxpool2d(FLOATS, (np.int32(2), 2), np.int64(1), np.uint8(1)),
        _native.maxpool2d(FLOATS, (2, 2), 1, 1),
    )


@pytest.mark.parametrize(
    "value", [0.0, -1.0, float("inf"), float("nan"), 61.0, 1e300], ids=lambda v: repr(v)
)
def test_peak_measurement_time_is_bounded(value: float) -> None:
    with _raises(ValueError, "xor_popcount_peak", "seconds"):
        _native.xor_popcount_peak(value)


@pytest.mark.parametrize("value", [1e300, -1e39, float("nan")], ids=repr)
def test_float_arguments_beyond_float32_are_refused(value: float) -> None:
    w = np.ones((3, 3, 2), np.float32)
    with _raises(ValueError, "depthwise_conv2d", "pad_value"):
        _native.depthwise_conv2d(FLOATS, w, ONES2, ONES2, pad_value=value)
    with _raises(ValueError, "float_im2col", "pad_value"):
        _native.float_im2col(FLOATS, (2, 2), pad_value=value)
    with _raises(ValueError, "float_chain", "hardtanh"):
        _native.float_chain(FLOATS, [("hardtanh", value, 1.0)])
    with _raises(ValueError, "float_chain", "hardtanh"):
        _native.float_chain(FLOATS, [("hardtanh", -1.0, 10**400)])


# --- arrays: empty, mismatched, wrong dtype, non-contiguous, read-only ------------------------


@pytest.mark.parametrize(
    ("call", "shape"),
    [
        (lambda: _native.bitpack(np.zeros((0, 70), np.float32)), (0, 2)),
        (lambda: _native.bitpack(np.zeros((3, 0), np.float32)), (3, 0)),
        (lambda: _native.unpack(np.zeros((0, 2), np.uint64), 70), (0, 70)),
        (lambda: _native.bgemm(np.zeros((0, 2), np.uint64), WORDS, 70), (0, 3)),
        (lambda: _native.bconv2d(np.zeros((0, 4, 4, 1), np.uint64), W_PACKED, 3), (0, 2, 2, 2)),
        (lambda: _native.bconv2d(PACKED, np.zeros((0, 3, 3, 1), np.uint64), 3), (1, 2, 2, 0)),
        (lambda: _native.output_float(np.zeros((0, 2), np.int32), ONES2, ONES2), (0, 2)),
        (lambda: _native.maxpool2d(np.zeros((0, 4, 4, 2), np.float32), (2, 2)), (0, 3, 3, 2)),
        (lambda: _native.maxpool2d(np.zeros((1, 4, 4, 0), np.float32), (2, 2)), (1, 3, 3, 0)),
        (lambda: _native.float_im2col(np.zeros((1, 4, 4, 0), np.float32), (2, 2)), (9, 0)),
        (lambda: _native.sgemm(np.zeros((0, 3), np.float32), np.zeros((3, 4), np.float32)), (0, 4)),
        (lambda: _native.sgemm(np.zeros((2, 0), np.float32), np.zeros((0, 4), np.float32)), (2, 4)),
        (lambda: _native.nchw_to_nhwc(np.zeros((0, 3, 4, 5), np.float32)), (0, 4, 5, 3)),
        (lambda: _native.bmaxpool2d(np.zeros((1, 4, 4, 0), np.uint64)), (1, 2, 2, 0)),
    ],
)
def test_empty_arrays_give_empty_results(call, shape) -> None:
    got = call()
    assert got.shape == shape
    if got.size:  # sgemm over K = 0 is all zeros
        assert not got.any()


@pytest.mark.parametrize(
    ("kernel", "call", "error", "names"),
    [
        (
            "bgemm",
            lambda: _native.bgemm(WORDS, np.zeros((3, 3), np.uint64), 100),
            ValueError,
            ("words",),
        ),
        (
            "bconv2d",
            lambda: _native.bconv2d(PACKED, np.zeros((2, 3, 3, 2), np.uint64), 3),
            ValueError,
            ("cin", "words"),
        ),
        (
            "output_float",
            lambda: _native.output_float(ACC, np.ones(3, np.float32), ONES2),
            ValueError,
            ("scale",),
        ),
        (
            "depthwise_conv2d",
            lambda: _native.depthwise_conv2d(FLOATS, np.ones((3, 3, 3), np.float32), ONES2, ONES2),
            ValueError,
            ("multiplier",),
        ),
        (
            "sgemm",
            lambda: _native.sgemm(np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32)),
            ValueError,
            ("K",),
        ),
        (
            "float_chain",
            lambda: _native.float_chain(FLOATS, [("add", np.zeros((1, 4, 4, 3), np.float32))]),
            ValueError,
            ("residual",),
        ),
        ("maxpool2d", lambda: _native.maxpool2d(FLOATS, (6, 6)), ValueError, ("kernel",)),
        ("bitpack", lambda: _native.bitpack(np.zeros(4, np.float64)), TypeError, ("x",)),
        (
            "sgemm",
            lambda: _native.sgemm(np.zeros((2, 2), np.float64), np.zeros((2, 2), np.float32)),
            TypeError,
            ("a",),
        ),
        (
            "nchw_to_nhwc",
            lambda: _native.nchw_to_nhwc(np.zeros((2, 3, 4, 5), np.float32)[..., ::2]),
            ValueError,
            ("contiguous",),
        ),
        (
            "bgemm",
            lambda: _native.bgemm(WORDS, WORDS, 100, out=np.zeros((3, 3), np.int64)),
            TypeError,
            ("out",),
        ),
        (
            "bgemm",
            lambda: _native.bgemm(WORDS, WORDS, 100, out=np.zeros((3, 2), np.int32)),
            ValueError,
            ("out",),
        ),
    ],
)
def test_mismatched_arrays_are_refused(kernel, call, error, names) -> None:
    with _raises(error, kernel, *names):
        call()


def test_read_only_out_is_refused_and_left_alone() -> None:
    out = np.full((3, 3), 7, np.int32)
    out.flags.writeable = False
    with _raises(TypeError, "bgemm", "out"):
        _native.bgemm(WORDS, WORDS, 100, out=out)
    assert (out == 7).all()


def test_arrays_with_a_side_beyond_the_limit_are_refused() -> None:
    # a view that claims 2^31 floats over 4 bytes: reading it would run off the end
    x = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (1, 2**31), (0, 4))
    with _raises(ValueError, "bitpack", "x"):
        _native.bitpack(x)
    assert math.prod(x.shape) == 2**31


# --- arrays whose data starts at a byte offset: refused, never loaded misaligned ----------------


def _at_offset(a: np.ndarray, offset: int) -> np.ndarray:
    """A C-contiguous copy of `a` whose data starts `offset` bytes into a fresh (aligned) buffer."""
    raw = np.zeros(a.nbytes + offset, np.uint8)
    view = np.ndarray(a.shape, a.dtype, buffer=raw, offset=offset)
    view[...] = a
    assert view.flags.c_contiguous
    return view


def _misaligned_offsets(a: np.ndarray) -> list[int]:
    """The offsets among 1, 2 and 4 bytes that leave an element of `a` misaligned."""
    return [offset for offset in (1, 2, 4) if offset % a.itemsize]


RESIDUAL = np.ones((1, 2, 2, 2), np.float32)  # the output shape of bconv2d_float / depthwise below

# Every kernel that takes arrays, with each array argument named as its error names it (a post
# step's array as "post[i] role"), and a call that builds the arguments from those arrays.
ARRAY_KERNELS = {
    "bitpack": ({"x": FLOATS}, lambda a: _native.bitpack(a["x"])),
    "unpack": ({"words": WORDS}, lambda a: _native.unpack(a["words"], 100)),
    "bgemm": (
        {"a": WORDS, "b": WORDS, "out": np.zeros((3, 3), np.int32)},
        lambda a: _native.bgemm(a["a"], a["b"], 100, out=a["out"]),
    ),
    "bconv2d": ({"x": PACKED, "w": W_PACKED}, lambda a: _native.bconv2d(a["x"], a["w"], 3)),
    "bconv2d_float": (
        {
            "x": PACKED,
            "w": W_PACKED,
            "scale": ONES2,
            "bias": ONES2,
            "post[0] scale": ONES2,
            "post[0] bias": ONES2,
            "post[1] residual": RESIDUAL,
        },
        lambda a: _native.bconv2d_float(
            a["x"],
            a["w"],
            3,
            a["scale"],
            a["bias"],
            post=[
                ("affine", a["post[0] scale"], a["post[0] bias"]),
                ("add", a["post[1] residual"]),
            ],
        ),
    ),
    "bconv2d_bits": (
        {"x": PACKED, "w": W_PACKED, "threshold": THRESHOLD, "flip": FLIP},
        lambda a: _native.bconv2d_bits(a["x"], a["w"], 3, a["threshold"], a["flip"]),
    ),
    "output_float": (
        {"acc": ACC, "scale": ONES2, "bias": ONES2},
        lambda a: _native.output_float(a["acc"], a["scale"], a["bias"]),
    ),
    "output_bits": (
        {"acc": ACC, "threshold": THRESHOLD, "flip": FLIP},
        lambda a: _native.output_bits(a["acc"], a["threshold"], a["flip"]),
    ),
    "bmaxpool2d": ({"x": PACKED}, lambda a: _native.bmaxpool2d(a["x"])),
    "depthwise_conv2d": (
        {
            "x": FLOATS,
            "w": np.ones((3, 3, 2), np.float32),
            "scale": ONES2,
            "bias": ONES2,
            "post[0] slope": ONES2,
            "post[1] residual": RESIDUAL,
        },
        lambda a: _native.depthwise_conv2d(
            a["x"],
            a["w"],
            a["scale"],
            a["bias"],
            post=[("prelu", a["post[0] slope"]), ("add", a["post[1] residual"])],
        ),
    ),
    "float_chain": (
        {
            "x": FLOATS,
            "post[0] scale": ONES2,
            "post[0] bias": ONES2,
            "post[1] slope": ONES2,
            "post[2] residual": FLOATS,
        },
        lambda a: _native.float_chain(
            a["x"],
            [
                ("affine", a["post[0] scale"], a["post[0] bias"]),
                ("prelu", a["post[1] slope"]),
                ("add", a["post[2] residual"]),
            ],
        ),
    ),
    "float_im2col": ({"x": FLOATS}, lambda a: _native.float_im2col(a["x"], (2, 2))),
    "maxpool2d": ({"x": FLOATS}, lambda a: _native.maxpool2d(a["x"], (2, 2))),
    "sgemm": (
        {"a": FLOATS[0, 0], "b": FLOATS[0, 0].T.copy()},
        lambda a: _native.sgemm(a["a"], a["b"]),
    ),
    "nchw_to_nhwc": ({"x": FLOATS}, lambda a: _native.nchw_to_nhwc(a["x"])),
    "nhwc_to_nchw": ({"x": FLOATS}, lambda a: _native.nhwc_to_nchw(a["x"])),
    "quantize_pack": ({"x": FLOATS}, lambda a: _native.quantize_pack(a["x"], 2, 1.0, 0)),
    "bitserial_gemm": (
        {"x": WORDS[:, None].copy(), "w": WORDS[:, None].copy()},
        lambda a: _native.bitserial_gemm(a["x"], a["w"], 100, 0, [1], 0, [1]),
    ),
    "bitserial_conv2d": (
        {"x": PACKED[:, None].copy(), "w": W_PACKED[:, None].copy()},
        lambda a: _native.bitserial_conv2d(a["x"], a["w"], 3, 1, 0, 0, 0, [1], 0, [1]),
    ),
}

MISALIGNED = [
    pytest.param(kernel, name, offset, id=f"{kernel}-{name}-{offset}")
    for kernel, (arrays, _) in sorted(ARRAY_KERNELS.items())
    for name, array in arrays.items()
    for offset in _misaligned_offsets(array)
]


def test_the_review_misaligned_bitpack_raises() -> None:
    # review #4: a float32 view at byte offset 1 was read with misaligned loads (UBSan aborted)
    a = np.ndarray((64, 64), np.float32, buffer=np.zeros(16385, np.uint8), offset=1)
    with pytest.raises(ValueError, match=r"^bitpack: x must be aligned to 4 bytes.*np\.require"):
        _native.bitpack(a)


def test_every_array_kernel_is_checked_for_alignment() -> None:
    assert set(ARRAY_KERNELS) == set(THREADED) | {"bmaxpool2d"}
    checked = {(kernel, name) for kernel, name, _ in (p.values for p in MISALIGNED)}
    for kernel, (arrays, _) in ARRAY_KERNELS.items():
        for name, array in arrays.items():
            assert (kernel, name) in checked or array.itemsize == 1, (kernel, name)


@pytest.mark.parametrize(("kernel", "name", "offset"), MISALIGNED)
def test_misaligned_arrays_are_refused(kernel: str, name: str, offset: int) -> None:
    arrays, call = ARRAY_KERNELS[kernel]
    expected = np.copy(call(dict(arrays)))  # the same call with aligned arrays is valid
    view = _at_offset(arrays[name], offset)
    assert view.ctypes.data % view.itemsize != 0
    pattern = f"^{kernel}: {re.escape(name)} must be aligned to {view.itemsize} bytes"
    with pytest.raises(ValueError, match=pattern):
        call({**arrays, name: view})
    # the fix the message names gives the aligned result
    fixed = np.require(view, requirements="A")
    np.testing.assert_array_equal(call({**arrays, name: fixed}), expected)


@pytest.mark.parametrize("offset", [1, 3])
def test_one_byte_elements_at_any_offset_are_accepted(offset: int) -> None:
    x = np.arange(-70, 70, dtype=np.int8).reshape(2, 70)
    np.testing.assert_array_equal(_native.bitpack(_at_offset(x, offset)), _native.bitpack(x))
    flip = np.array([0, 1], np.uint8)
    np.testing.assert_array_equal(
        _native.output_bits(ACC - 1, THRESHOLD, _at_offset(flip, offset)),
        _native.output_bits(ACC - 1, THRESHOLD, flip),
    )
