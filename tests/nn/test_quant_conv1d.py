"""QuantConv1d against F.conv1d: quantized operands, one-padding, XNOR-Net scaling, configs, and
the same computation as QuantConv2d on a map of height 1."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import randomize_, sign
from onebit import OnebitError
from onebit.nn import QuantConv1d, QuantConv2d

LAYER_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None)
BINARY = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign"}


@LAYER_SETTINGS
@given(
    in_channels=st.sampled_from([1, 7, 33, 65]),
    out_channels=st.sampled_from([1, 7, 33]),
    kernel_size=st.sampled_from([1, 3, 5]),
    stride=st.sampled_from([1, 2]),
    padding=st.sampled_from([0, 1, 2]),
    dilation=st.sampled_from([1, 2]),
    length=st.sampled_from([9, 11, 16]),
    pad_value=st.sampled_from([0.0, 1.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_binary_conv1d_is_conv1d_of_signs_padded_with_the_pad_value(
    in_channels, out_channels, kernel_size, stride, padding, dilation, length, pad_value, seed
) -> None:
    gen = torch.Generator().manual_seed(seed)
    layer = QuantConv1d(
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        dilation,
        bias=False,
        pad_value=pad_value,
        **BINARY,
    )
    randomize_(layer, gen)
    x = torch.randn(3, in_channels, length, generator=gen)
    padded = F.pad(sign(x), [padding, padding], value=pad_value)
    expected = F.conv1d(padded, sign(layer.weight.detach()), None, stride, 0, dilation)
    y = layer(x)
    assert torch.equal(y, expected)
    assert torch.equal(y, y.round())
    # the same layer as a 2-D convolution of height 1
    flat = QuantConv2d(
        in_channels,
        out_channels,
        (1, kernel_size),
        (1, stride),
        (0, padding),
        (1, dilation),
        bias=False,
        pad_value=pad_value,
        **BINARY,
    )
    flat.weight.data = layer.weight.detach().unsqueeze(2)
    assert torch.equal(flat(x.unsqueeze(2)).squeeze(2), y)


def test_alpha_scaling_and_bias_broadcast_over_the_sequence(gen: torch.Generator) -> None:
    layer = randomize_(QuantConv1d(5, 4, 3, padding=1, alpha_scaling=True, **BINARY), gen)
    x = torch.randn(2, 5, 7, generator=gen)
    alpha = layer.weight.detach().abs().mean(dim=(1, 2)).view(1, -1, 1)
    plain = F.conv1d(sign(x), sign(layer.weight.detach()), None, 1, 1)
    expected = plain * alpha + layer.bias.detach().view(1, -1, 1)
    torch.testing.assert_close(layer(x), expected)


def test_gradients_reach_input_and_weight_through_the_sign(gen: torch.Generator) -> None:
    layer = randomize_(QuantConv1d(4, 3, 3, padding=1, pad_value=1.0, **BINARY), gen)
    x = (0.5 * torch.randn(2, 4, 6, generator=gen)).requires_grad_()
    layer(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "overrides",
    [{}, {"pad_value": 1.0, "padding": 2, **BINARY}, {"stride": 2, "alpha_scaling": True}],
    ids=lambda c: json.dumps(c, sort_keys=True),
)
def test_config_round_trips_through_json(overrides: dict, gen: torch.Generator) -> None:
    layer = randomize_(QuantConv1d(4, 6, 3, **overrides), gen).eval()
    config = layer.get_config()
    rebuilt = QuantConv1d.from_config(json.loads(json.dumps(config))).eval()
    assert rebuilt.get_config() == config
    rebuilt.load_state_dict(layer.state_dict())
    x = torch.randn(2, 4, 9, generator=gen)
    assert torch.equal(rebuilt(x), layer(x))


def test_bad_pad_values_are_refused() -> None:
    with pytest.raises(OnebitError, match=r"pad_value must be 0\.0 or 1\.0"):
        QuantConv1d(3, 3, 3, padding=1, pad_value=0.5)
    with pytest.raises(OnebitError, match="cannot combine with padding_mode='reflect'"):
        QuantConv1d(3, 3, 3, padding=1, padding_mode="reflect", pad_value=1.0)
