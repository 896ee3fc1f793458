"""QuantLinear against nn.Linear and F.linear, XNOR-Net scaling, configs and declared precisions."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import randomize_, sign
from onebit.nn import QuantLinear

# Deterministic examples (a failure replays as is), and no example database written to the tree.
LAYER_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None)

FEATURES = st.sampled_from([1, 7, 33, 65])
SEEDS = st.integers(0, 2**31 - 1)


@LAYER_SETTINGS
@given(
    in_features=FEATURES,
    out_features=FEATURES,
    batch=st.sampled_from([1, 3]),
    bias=st.booleans(),
    seed=SEEDS,
)
def test_without_quantizers_equals_nn_linear(in_features, out_features, batch, bias, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    reference = randomize_(nn.Linear(in_features, out_features, bias=bias), gen)
    layer = QuantLinear(in_features, out_features, bias=bias)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(batch, in_features, generator=gen)
    assert torch.equal(layer(x), reference(x))


@LAYER_SETTINGS
@given(
    in_features=FEATURES,
    out_features=FEATURES,
    batch=st.sampled_from([1, 3]),
    seed=SEEDS,
)
def test_ste_sign_on_both_equals_linear_on_signs(in_features, out_features, batch, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    layer = QuantLinear(
        in_features,
        out_features,
        bias=False,
        input_quantizer="ste_sign",
        weight_quantizer="ste_sign",
    )
    randomize_(layer, gen)
    x = torch.randn(batch, in_features, generator=gen)
    x[0, 0] = 0.0  # sign(0) = +1
    y = layer(x)
    expected = F.linear(sign(x), sign(layer.weight.detach()))
    assert torch.equal(y, expected)
    assert torch.equal(y, y.round())
    assert y.abs().max() <= in_features


def test_ste_sign_with_bias_adds_the_bias(gen: torch.Generator) -> None:
    layer = randomize_(
        QuantLinear(33, 7, input_quantizer="ste_sign", weight_quantizer="ste_sign"), gen
    )
    x = torch.randn(3, 33, generator=gen)
    expected = F.linear(sign(x), sign(layer.weight.detach()), layer.bias.detach())
    assert torch.equal(layer(x), expected)


def test_alpha_scaling_hand_values() -> None:
    layer = QuantLinear(
        2, 2, input_quantizer="ste_sign", weight_quantizer="ste_sign", alpha_scaling=True
    ).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -1.5], [0.2, -0.4]]))  # alpha = [1.0, 0.3]
        layer.bias.copy_(torch.tensor([0.1, -0.2]))
    x = torch.tensor([[3.0, -0.5], [-2.0, 0.0]], dtype=torch.float64)
    # sign(x) = [[1, -1], [-1, 1]], sign(W) = [[1, -1], [1, -1]]
    # dots = [[2, 2], [-2, -2]] -> * alpha = [[2, 0.6], [-2, -0.6]] -> + bias
    expected = torch.tensor([[2.1, 0.4], [-1.9, -0.8]], dtype=torch.float64)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("bias", [True, False])
def test_alpha_scaling_multiplies_each_output_by_mean_abs_weight(bias, gen) -> None:
    layer = QuantLinear(
        65,
        7,
        bias=bias,
        input_quantizer="ste_sign",
        weight_quantizer="ste_sign",
        alpha_scaling=True,
    ).double()
    randomize_(layer, gen)
    x = torch.randn(3, 65, generator=gen, dtype=torch.float64)
    w = layer.weight.detach()
    alpha = torch.tensor([w[c].abs().mean().item() for c in range(7)], dtype=torch.float64)
    expected = F.linear(sign(x), sign(w)) * alpha
    if bias:
        expected = expected + layer.bias.detach()
    torch.testing.assert_close(layer(x), expected, rtol=1e-14, atol=1e-14)


def test_gradient_reaches_weight_through_alpha(gen: torch.Generator) -> None:
    """Latent weights beyond clip_value get no STE gradient; what is left comes through alpha."""
    in_features, out_features = 9, 4
    w = (torch.rand(out_features, in_features, generator=gen, dtype=torch.float64) + 1.5) * sign(
        torch.randn(out_features, in_features, generator=gen, dtype=torch.float64)
    )
    x = torch.randn(5, in_features, generator=gen, dtype=torch.float64)
    grads = {}
    for alpha_scaling in (False, True):
        layer = QuantLinear(
            in_features,
            out_features,
            bias=False,
            input_quantizer="ste_sign",
            weight_quantizer="ste_sign",
            alpha_scaling=alpha_scaling,
        ).double()
        with torch.no_grad():
            layer.weight.copy_(w)
        layer(x).sum().backward()
        grads[alpha_scaling] = layer.weight.grad
    assert torch.equal(grads[False], torch.zeros_like(w))
    # d alpha_c / d W_cj = sign(W_cj) / in_features; d loss / d alpha_c = sum_n dot_nc
    dots = F.linear(sign(x), sign(w)).sum(dim=0)
    expected = dots[:, None] * sign(w) / in_features
    assert dots.abs().sum() > 0
    torch.testing.assert_close(grads[True], expected, rtol=1e-14, atol=1e-14)


CONFIGS = [
    {},
    {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign"},
    {
        "input_quantizer": {"name": "ste_sign", "clip_value": None},
        "weight_quantizer": "magnitude_aware_sign",
        "weight_clip": None,
        "bias": False,
    },
    {
        "input_quantizer": {"name": "dorefa", "k_bit": 3},
        "weight_quantizer": {"name": "dorefa", "k_bit": 2, "mode": "weights"},
        "weight_clip": 0.5,
    },
    {"input_quantizer": "approx_sign", "weight_quantizer": "swish_sign", "alpha_scaling": True},
    {"input_quantizer": None, "weight_quantizer": {"name": "stochastic_sign", "seed": 4}},
]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda c: json.dumps(c, sort_keys=True))
def test_config_round_trips_through_json(overrides: dict, gen: torch.Generator) -> None:
    layer = randomize_(QuantLinear(7, 5, **overrides), gen).eval()
    config = layer.get_config()
    assert config["in_features"] == 7 and config["out_features"] == 5
    rebuilt = QuantLinear.from_config(json.loads(json.dumps(config))).eval()
    assert rebuilt.get_config() == config
    rebuilt.load_state_dict(layer.state_dict())
    x = torch.randn(3, 7, generator=gen)
    assert torch.equal(rebuilt(x), layer(x))


def test_config_records_the_quantization_settings() -> None:
    layer = QuantLinear(
        4,
        3,
        bias=False,
        input_quantizer="ste_sign",
        weight_quantizer={"name": "ste_sign", "clip_value": 0.5},
        weight_clip=None,
        alpha_scaling=True,
    )
    assert layer.get_config() == {
        "in_features": 4,
        "out_features": 3,
        "bias": False,
        "input_quantizer": {"name": "ste_sign", "clip_value": 1.0},
        "weight_quantizer": {"name": "ste_sign", "clip_value": 0.5},
        "weight_clip": None,
        "alpha_scaling": True,
    }


@pytest.mark.parametrize(
    ("weight_quantizer", "declared", "is_binary"),
    [
        ("ste_sign", {"weight": 1}, True),
        ("magnitude_aware_sign", {"weight": 1}, True),
        ({"name": "dorefa", "k_bit": 2, "mode": "weights"}, {"weight": 2}, False),
        ("identity", {}, False),
        (None, {}, False),
    ],
    ids=["ste_sign", "magnitude_aware_sign", "dorefa2", "identity", "none"],
)
def test_quantized_parameters_declaration(weight_quantizer, declared, is_binary) -> None:
    layer = QuantLinear(4, 3, input_quantizer="ste_sign", weight_quantizer=weight_quantizer)
    assert layer.quantized_parameters() == declared
    assert layer.is_binary is is_binary
