"""The float ``conv2d`` op (groups 1, grouped, depthwise with a depth multiplier, asymmetric
padding) and the ``pad`` op against torch, and their spec validation.

Inputs and weights are standard normal; the op computes in float32 and must match torch's float64
convolution of the same numbers within ``atol = 1e-5 * sqrt(K)`` (``K`` the products summed per
output) and ``rtol = 1e-5``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit import OnebitError
from onebit.runtime import OPS, ProgramError, reference
from onebit.runtime.reference import bitpack

CHANNELS = [1, 7, 63, 64, 65, 129]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def conv_op(cin, cout, kernel, stride=(1, 1), padding=(0, 0), groups=None, weight=None, **attrs):
    """A ``conv2d`` op built from its spec; ``weight`` is torch's (Cout, Cin/G, KH, KW)."""
    attrs = {
        "cin": cin,
        "cout": cout,
        "kernel": list(kernel),
        "stride": list(stride),
        "padding": list(padding),
        "pad_value": 0.0,
        **({} if groups is None else {"groups": groups}),
        **attrs,
    }
    tensors = {}
    if weight is not None:
        tensors["w"] = np.ascontiguousarray(weight.permute(0, 2, 3, 1).numpy())
    spec = {"type": "conv2d", "inputs": ["x"], "output": "y", "attrs": attrs}
    return OPS.builder("conv2d")({**spec, "tensors": {"weight": "w"}}, tensors)


def sides(padding: tuple[int, ...]) -> tuple[int, ...]:
    """(top, bottom, left, right) of a (ph, pw) or four-sided padding."""
    return padding if len(padding) == 4 else (padding[0], padding[0], padding[1], padding[1])


def nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


def check_conv(n, cin, cout, groups, h, w, kernel, stride, padding, seed) -> None:
    """``padding`` is (ph, pw) or (top, bottom, left, right)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cin, h, w, generator=gen)
    weight = torch.randn(cout, cin // groups, *kernel, generator=gen)
    top, bottom, left, right = sides(padding)
    padded = F.pad(x.double(), (left, right, top, bottom))
    expected = F.conv2d(padded, weight.double(), stride=stride, groups=groups)
    op = conv_op(cin, cout, kernel, stride, padding, groups=groups, weight=weight)
    got = op(nhwc(x))
    assert got.dtype == np.float32
    k = cin // groups * kernel[0] * kernel[1]
    np.testing.assert_allclose(
        got, expected.permute(0, 2, 3, 1).numpy(), rtol=1e-5, atol=1e-5 * math.sqrt(k)
    )


@pytest.mark.parametrize("cin", CHANNELS, ids=lambda c: f"c{c}")
@pytest.mark.parametrize("multiplier", [1, 2], ids=lambda m: f"m{m}")
@pytest.mark.parametrize("stride", [1, 2], ids=lambda s: f"s{s}")
def test_depthwise_with_depth_multiplier_equals_torch(cin, multiplier, stride) -> None:
    check_conv(2, cin, multiplier * cin, cin, 7, 5, (3, 3), (stride, stride), (1, 1), seed=cin)


@pytest.mark.parametrize(
    ("cin", "cout", "groups"),
    [(2, 2, 2), (64, 128, 2), (130, 66, 2), (129, 129, 3), (63, 126, 63), (65, 65, 1)],
    ids=lambda v: str(v),
)
def test_grouped_and_plain_equal_torch(cin, cout, groups) -> None:
    check_conv(3, cin, cout, groups, 5, 7, (3, 1), (2, 1), (1, 0), seed=groups)


@settings(max_examples=60, deadline=None)
@given(
    cin=st.sampled_from(CHANNELS),
    group_kind=st.sampled_from(["one", "two", "depthwise"]),
    per_group_out=st.sampled_from([1, 2, 3]),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(*[st.integers(0, 2)] * 4),
    size=st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_equal_torch(
    cin, group_kind, per_group_out, kernel, stride, padding, size, seed
) -> None:
    groups = {"one": 1, "two": 2 if cin % 2 == 0 else 1, "depthwise": cin}[group_kind]
    n, h, w = size
    h, w = max(h, kernel[0]), max(w, kernel[1])
    cout = groups * per_group_out if groups > 1 else per_group_out * 7
    check_conv(n, cin, cout, groups, h, w, kernel, stride, padding, seed)


@pytest.mark.parametrize(("stride", "padding"), [((1, 1), (1, 1)), ((2, 1), (0, 1, 2, 0))], ids=str)
def test_depthwise_equals_the_reference_kernel_bit_for_bit(stride, padding) -> None:
    """The op's NumPy path does the operations of ``reference.depthwise_conv2d`` (the definition
    the native kernel follows) in the same order, on the same tap-major weights."""
    gen = torch.Generator().manual_seed(7)
    x, weight = torch.randn(2, 65, 7, 6, generator=gen), torch.randn(130, 1, 3, 3, generator=gen)
    op = conv_op(65, 130, (3, 3), stride, padding, groups=65, weight=weight, pad_value=0.5)
    ones, zeros = np.ones(130, np.float32), np.zeros(130, np.float32)
    expected = reference.depthwise_conv2d(nhwc(x), op.weight, ones, zeros, stride, padding, 0.5)
    np.testing.assert_array_equal(op(nhwc(x)), expected)


def test_symmetric_pair_and_four_sided_padding_agree() -> None:
    weight = torch.randn(8, 1, 3, 3)
    x = nhwc(torch.randn(2, 4, 6, 6))
    pair = conv_op(4, 8, (3, 3), padding=(1, 2), groups=4, weight=weight)
    four = conv_op(4, 8, (3, 3), padding=(1, 1, 2, 2), groups=4, weight=weight)
    np.testing.assert_array_equal(pair(x), four(x))


def test_old_files_without_groups_mean_groups_one() -> None:
    weight = torch.randn(5, 3, 3, 3)
    x = nhwc(torch.randn(1, 3, 6, 6))
    old = conv_op(3, 5, (3, 3), padding=(1, 1), weight=weight)
    assert old.groups == 1
    np.testing.assert_array_equal(old(x), conv_op(3, 5, (3, 3), (1, 1), (1, 1), 1, weight)(x))


def test_packed_weights_and_pad_value_with_groups() -> None:
    """±1 weights stored as ``weight_bits`` (a float-input QuantConv2d) pack each group's
    ``cin / groups`` channels; a non-zero pad value pads every group alike."""
    gen = torch.Generator().manual_seed(3)
    cin, cout, groups = 130, 130, 2
    weight = torch.where(torch.rand(cout, cin // groups, 3, 3, generator=gen) < 0.5, 1.0, -1.0)
    x = torch.randn(2, cin, 5, 5, generator=gen)
    packed = bitpack(weight.permute(0, 2, 3, 1).numpy())
    spec = {
        "type": "conv2d",
        "inputs": ["x"],
        "output": "y",
        "attrs": {
            "cin": cin,
            "cout": cout,
            "kernel": [3, 3],
            "stride": [1, 1],
            "padding": [1, 1],
            "pad_value": 1.0,
            "groups": groups,
        },
        "tensors": {"weight_bits": "w"},
    }
    got = OPS.builder("conv2d")(spec, {"w": packed})(nhwc(x))
    expected = F.conv2d(F.pad(x.double(), (1, 1, 1, 1), value=1.0), weight.double(), groups=groups)
    np.testing.assert_allclose(got, expected.permute(0, 2, 3, 1).numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "padding", [(1, 0, 2, 1), (0, 0, 0, 3), (2, 2)], ids=lambda p: "-".join(map(str, p))
)
def test_pad_op_equals_torch(padding) -> None:
    x = torch.randn(2, 65, 3, 4)
    top, bottom, left, right = sides(padding)
    spec = {"type": "pad", "inputs": ["x"], "output": "y", "attrs": {"padding": list(padding)}}
    op = OPS.builder("pad")({**spec, "attrs": {**spec["attrs"], "value": -0.5}}, {})
    expected = F.pad(x, (left, right, top, bottom), value=-0.5)
    np.testing.assert_array_equal(op(nhwc(x)), nhwc(expected))
    with pytest.raises(OnebitError, match="float32 NHWC map"):
        op(np.zeros((2, 3), np.float32))


# -- spec validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "weight_shape", "message"),
    [
        ({"cin": 6, "cout": 6, "groups": 4}, (6, 3, 3, 2), "groups=4 must divide both cin=6"),
        ({"cin": 6, "cout": 9, "groups": 2}, (9, 3, 3, 3), "groups=2 must divide .* cout=9"),
        ({"cin": 6, "cout": 6, "groups": 0}, (6, 3, 3, 6), "groups must be an integer >= 1"),
        ({"cin": 6, "cout": 6, "groups": True}, (6, 3, 3, 6), "groups must be an integer"),
        ({"cin": 6, "cout": 6, "groups": 3}, (6, 3, 3, 6), r"shape \(6, 3, 3, 6\), expected"),
        ({"cin": 6, "cout": 6, "padding": [1, 1, 1]}, (6, 3, 3, 6), "padding must be two"),
        ({"cin": 6, "cout": 6, "padding": [1, -1, 0, 0]}, (6, 3, 3, 6), "padding must be four"),
    ],
    ids=["cin", "cout", "zero", "bool", "weight-shape", "padding-3", "padding-negative"],
)
def test_bad_specs_are_program_errors(attrs, weight_shape, message) -> None:
    spec = {
        "type": "conv2d",
        "inputs": ["x"],
        "output": "y",
        "attrs": {"kernel": [3, 3], "stride": [1, 1], "padding": [0, 0], "pad_value": 0.0, **attrs},
        "tensors": {"weight": "w"},
    }
    with pytest.raises(ProgramError, match=message):
        OPS.builder("conv2d")(spec, {"w": np.zeros(weight_shape, np.float32)})


def test_wrong_input_and_too_small_maps_are_clear_errors() -> None:
    op = conv_op(4, 8, (3, 3), groups=4, weight=torch.randn(8, 1, 3, 3))
    with pytest.raises(OnebitError, match=r"expects a \(N, H, W, 4\) float32 map"):
        op(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(OnebitError, match="kernel 3x3 does not fit the padded 2x5 map"):
        op(np.zeros((1, 2, 5, 4), np.float32))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_pad_value_is_refused_at_load(bad):
    with pytest.raises(ProgramError, match="pad_value must be a finite number"):
        conv_op(4, 8, (3, 3), groups=4, weight=torch.randn(8, 1, 3, 3), pad_value=bad)
