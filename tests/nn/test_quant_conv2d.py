"""QuantConv2d against nn.Conv2d and F.conv2d: quantized operands, one-padding, XNOR-Net scaling,
configs and argument checks."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import randomize_, sign
from onebit import OnebitError
from onebit.nn import QuantConv2d

# Deterministic examples (a failure replays as is), and no example database written to the tree.
LAYER_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None)
CHANNELS = st.sampled_from([1, 7, 33, 65])
ODD_SIZES = st.sampled_from([1, 3, 5, 7, 9, 11])
SEEDS = st.integers(0, 2**31 - 1)
BINARY = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign"}


def explicit_pads(padding, kernel_size: int, dilation: int) -> list[int]:
    """F.pad's [left, right, top, bottom] for an int, a (h, w) pair or "same" (extra at the end)."""
    if padding == "same":
        total = dilation * (kernel_size - 1)
        return [total // 2, total - total // 2] * 2
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return [pw, pw, ph, ph]


def fits(size: int, kernel_size: int, dilation: int, pads: list[int]) -> bool:
    return size + pads[0] + pads[1] >= dilation * (kernel_size - 1) + 1


@LAYER_SETTINGS
@given(
    in_channels=CHANNELS,
    out_channels=CHANNELS,
    kernel_size=st.sampled_from([1, 2, 3]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from([0, 1, 2]),
    dilation=st.sampled_from([1, 2]),
    padding_mode=st.sampled_from(["zeros", "reflect", "circular"]),
    size=ODD_SIZES,
    bias=st.booleans(),
    seed=SEEDS,
)
def test_without_quantizers_equals_nn_conv2d(
    in_channels,
    out_channels,
    kernel_size,
    stride,
    padding,
    dilation,
    padding_mode,
    size,
    bias,
    seed,
) -> None:
    assume(fits(size, kernel_size, dilation, [padding] * 4))
    assume(padding_mode == "zeros" or padding < size)
    gen = torch.Generator().manual_seed(seed)
    args = (
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        dilation,
        1,
        bias,
        padding_mode,
    )
    reference = randomize_(nn.Conv2d(*args), gen)
    layer = QuantConv2d(*args)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(2, in_channels, size, size + 2, generator=gen)
    assert torch.equal(layer(x), reference(x))


@LAYER_SETTINGS
@given(
    in_channels=CHANNELS,
    out_channels=CHANNELS,
    kernel_size=st.sampled_from([1, 2, 3]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from([0, 1, 2]),
    size=ODD_SIZES,
    batch=st.sampled_from([1, 3]),
    seed=SEEDS,
)
def test_ste_sign_on_both_with_zero_padding_equals_conv_on_signs(
    in_channels, out_channels, kernel_size, stride, padding, size, batch, seed
) -> None:
    assume(fits(size, kernel_size, 1, [padding] * 4))
    gen = torch.Generator().manual_seed(seed)
    layer = QuantConv2d(
        in_channels, out_channels, kernel_size, stride, padding, bias=False, pad_value=0.0, **BINARY
    )
    randomize_(layer, gen)
    x = torch.randn(batch, in_channels, size, size, generator=gen)
    x[0, 0, 0, 0] = 0.0  # sign(0) = +1
    y = layer(x)
    expected = F.conv2d(sign(x), sign(layer.weight.detach()), None, stride, padding)
    assert torch.equal(y, expected)
    assert torch.equal(y, y.round())


def one_padded_reference(layer: QuantConv2d, x: torch.Tensor, pads: list[int]) -> torch.Tensor:
    x_padded = F.pad(sign(x), pads, value=1.0)
    w = sign(layer.weight.detach())
    bias = None if layer.bias is None else layer.bias.detach()
    return F.conv2d(x_padded, w, bias, layer.stride, 0, layer.dilation, layer.groups)


@pytest.mark.parametrize("in_channels", [1, 7, 33, 65])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", [1, 2])
def test_pad_value_one_equals_conv_of_input_padded_with_plus_one(
    padding: int, stride: int, in_channels: int, gen: torch.Generator
) -> None:
    layer = QuantConv2d(in_channels, 5, 3, stride, padding, bias=False, pad_value=1.0, **BINARY)
    randomize_(layer, gen)
    x = torch.randn(3, in_channels, 7, 9, generator=gen)
    pads = [padding] * 4
    y = layer(x)
    assert torch.equal(y, one_padded_reference(layer, x, pads))
    # Independently: one-padding = zero-padding + the conv of a frame of ones around zeros.
    w = sign(layer.weight.detach())
    zero_padded = F.conv2d(sign(x), w, None, stride, padding)
    frame = F.conv2d(F.pad(torch.zeros_like(x), pads, value=1.0), w, None, stride)
    assert torch.equal(y, zero_padded + frame)
    assert not torch.equal(y, zero_padded)


@pytest.mark.parametrize(("kernel_size", "dilation"), [(3, 1), (4, 1), (5, 1), (3, 2), (2, 3)])
def test_pad_value_one_with_same_padding(kernel_size: int, dilation: int, gen) -> None:
    layer = QuantConv2d(
        7, 4, kernel_size, padding="same", dilation=dilation, pad_value=1.0, **BINARY
    )
    randomize_(layer, gen)
    x = torch.randn(2, 7, 9, 11, generator=gen)
    y = layer(x)
    assert y.shape == (2, 4, 9, 11)
    assert torch.equal(
        y, one_padded_reference(layer, x, explicit_pads("same", kernel_size, dilation))
    )


@LAYER_SETTINGS
@given(
    in_channels=CHANNELS,
    out_channels=st.sampled_from([1, 7, 33]),
    kernel_size=st.sampled_from([1, 2, 3, 4]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from([1, 2, (1, 2), (2, 0), "same"]),
    dilation=st.sampled_from([1, 2]),
    height=ODD_SIZES,
    width=ODD_SIZES,
    bias=st.booleans(),
    seed=SEEDS,
)
def test_pad_value_one_property(
    in_channels, out_channels, kernel_size, stride, padding, dilation, height, width, bias, seed
) -> None:
    assume(padding != "same" or stride == 1)
    pads = explicit_pads(padding, kernel_size, dilation)
    assume(
        fits(width, kernel_size, dilation, pads[:2])
        and fits(height, kernel_size, dilation, pads[2:])
    )
    gen = torch.Generator().manual_seed(seed)
    layer = QuantConv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        dilation,
        bias=bias,
        pad_value=1.0,
        **BINARY,
    )
    randomize_(layer, gen)
    x = torch.randn(2, in_channels, height, width, generator=gen)
    assert torch.equal(layer(x), one_padded_reference(layer, x, pads))


def test_pad_value_one_without_padding_is_plain_conv(gen: torch.Generator) -> None:
    layer = randomize_(QuantConv2d(7, 3, 3, bias=False, pad_value=1.0, **BINARY), gen)
    x = torch.randn(2, 7, 5, 5, generator=gen)
    assert torch.equal(layer(x), F.conv2d(sign(x), sign(layer.weight.detach())))


def test_pad_value_one_with_grouped_conv(gen: torch.Generator) -> None:
    layer = randomize_(
        QuantConv2d(6, 9, 3, padding=1, groups=3, bias=False, pad_value=1.0, **BINARY), gen
    )
    x = torch.randn(2, 6, 5, 7, generator=gen)
    assert torch.equal(layer(x), one_padded_reference(layer, x, [1] * 4))


@pytest.mark.parametrize("pad_value", [0.5, -1.0, 2.0, 1e-9, True + 1])
def test_pad_value_other_than_zero_or_one_raises(pad_value: float) -> None:
    with pytest.raises(OnebitError, match="pad_value"):
        QuantConv2d(3, 3, 3, padding=1, pad_value=pad_value)


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
def test_pad_value_one_with_non_zero_padding_mode_raises(padding_mode: str) -> None:
    with pytest.raises(OnebitError, match="padding_mode"):
        QuantConv2d(3, 3, 3, padding=1, padding_mode=padding_mode, pad_value=1.0)
    QuantConv2d(3, 3, 3, padding=1, padding_mode=padding_mode, pad_value=0.0)  # allowed


def alpha_by_hand(w: torch.Tensor) -> torch.Tensor:
    return torch.tensor([w[c].abs().mean().item() for c in range(w.shape[0])], dtype=w.dtype)


@pytest.mark.parametrize("pad_value", [0.0, 1.0])
@pytest.mark.parametrize("bias", [False, True])
def test_alpha_scaling_multiplies_each_output_channel(pad_value, bias, gen) -> None:
    layer = QuantConv2d(
        7, 5, 3, padding=1, bias=bias, pad_value=pad_value, alpha_scaling=True, **BINARY
    ).double()
    randomize_(layer, gen)
    x = torch.randn(2, 7, 6, 5, generator=gen, dtype=torch.float64)
    w = layer.weight.detach()
    unscaled = F.conv2d(F.pad(sign(x), [1] * 4, value=pad_value), sign(w))
    expected = unscaled * alpha_by_hand(w).view(1, -1, 1, 1)
    if bias:
        expected = expected + layer.bias.detach().view(1, -1, 1, 1)
    torch.testing.assert_close(layer(x), expected, rtol=1e-14, atol=1e-14)


def test_alpha_scaling_hand_values() -> None:
    layer = QuantConv2d(1, 2, 2, bias=False, alpha_scaling=True, **BINARY).double()
    with torch.no_grad():
        layer.weight.copy_(
            torch.tensor([[[[0.5, -1.5], [1.0, -1.0]]], [[[0.1, 0.1], [0.1, -0.1]]]])
        )
    x = torch.tensor([[[[2.0, -1.0], [0.0, -3.0]]]], dtype=torch.float64)
    # sign(x) = [[1, -1], [1, -1]]; channel 0: sign(W) = [[1, -1], [1, -1]] -> 4, alpha = 1.0
    # channel 1: sign(W) = [[1, 1], [1, -1]] -> 1 - 1 + 1 + 1 = 2, alpha = 0.1
    torch.testing.assert_close(layer(x).flatten(), torch.tensor([4.0, 0.2], dtype=torch.float64))


def test_gradient_reaches_weight_through_alpha(gen: torch.Generator) -> None:
    """Latent weights beyond clip_value get no STE gradient; what is left comes through alpha."""
    shape = (4, 3, 3, 3)
    w = (torch.rand(shape, generator=gen, dtype=torch.float64) + 1.5) * sign(
        torch.randn(shape, generator=gen, dtype=torch.float64)
    )
    x = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64)
    grads = {}
    for alpha_scaling in (False, True):
        layer = QuantConv2d(
            3, 4, 3, padding=1, bias=False, alpha_scaling=alpha_scaling, **BINARY
        ).double()
        with torch.no_grad():
            layer.weight.copy_(w)
        layer(x).sum().backward()
        grads[alpha_scaling] = layer.weight.grad
    assert torch.equal(grads[False], torch.zeros_like(w))
    # d alpha_c / d W_c... = sign(W_c...) / 27; d loss / d alpha_c = sum of channel c's outputs
    per_channel = F.conv2d(sign(x), sign(w), padding=1).sum(dim=(0, 2, 3))
    assert per_channel.abs().sum() > 0
    expected = per_channel.view(-1, 1, 1, 1) * sign(w) / 27
    torch.testing.assert_close(grads[True], expected, rtol=1e-14, atol=1e-14)


CONFIGS = [
    {},
    {**BINARY, "padding": 1, "stride": 2, "pad_value": 1.0},
    {**BINARY, "padding": "same", "dilation": 2, "alpha_scaling": True},
    {
        "input_quantizer": "approx_sign",
        "weight_quantizer": "magnitude_aware_sign",
        "groups": 2,
        "bias": False,
        "padding": 1,
        "padding_mode": "circular",
        "weight_clip": None,
    },
    {
        "input_quantizer": {"name": "dorefa", "k_bit": 3},
        "weight_quantizer": {"name": "dorefa", "k_bit": 2, "mode": "weights"},
        "padding": "valid",
    },
    {
        "kernel_size": (3, 1),
        "padding": (1, 0),
        "stride": (2, 1),
        "weight_clip": 0.5,
        "weight_quantizer": {"name": "ste_sign", "clip_value": None},
        "pad_value": 1.0,
        "input_quantizer": {"name": "swish_sign", "beta": 2.0},
    },
]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda c: json.dumps(c, sort_keys=True))
def test_config_round_trips_through_json(overrides: dict, gen: torch.Generator) -> None:
    kwargs = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, **overrides}
    layer = randomize_(QuantConv2d(**kwargs), gen).eval()
    config = layer.get_config()
    rebuilt = QuantConv2d.from_config(json.loads(json.dumps(config))).eval()
    assert rebuilt.get_config() == config
    for key in ("stride", "padding", "dilation", "groups", "padding_mode", "pad_value"):
        assert getattr(rebuilt, key) == getattr(layer, key)
    rebuilt.load_state_dict(layer.state_dict())
    x = torch.randn(2, 4, 7, 7, generator=gen)
    assert torch.equal(rebuilt(x), layer(x))


def test_config_records_the_layer() -> None:
    layer = QuantConv2d(
        3, 8, 3, stride=2, padding=1, bias=False, pad_value=1.0, alpha_scaling=True, **BINARY
    )
    assert layer.get_config() == {
        "in_channels": 3,
        "out_channels": 8,
        "kernel_size": [3, 3],
        "stride": [2, 2],
        "padding": [1, 1],
        "dilation": [1, 1],
        "groups": 1,
        "bias": False,
        "padding_mode": "zeros",
        "pad_value": 1.0,
        "input_quantizer": {"name": "ste_sign", "clip_value": 1.0},
        "weight_quantizer": {"name": "ste_sign", "clip_value": 1.0},
        "weight_clip": 1.0,
        "alpha_scaling": True,
    }


@pytest.mark.parametrize(
    ("weight_quantizer", "declared"),
    [
        ("ste_sign", {"weight": 1}),
        ({"name": "dorefa", "k_bit": 2, "mode": "weights"}, {"weight": 2}),
        (None, {}),
    ],
    ids=["ste_sign", "dorefa2", "none"],
)
def test_quantized_parameters_declaration(weight_quantizer, declared) -> None:
    layer = QuantConv2d(3, 4, 3, input_quantizer="ste_sign", weight_quantizer=weight_quantizer)
    assert layer.quantized_parameters() == declared
