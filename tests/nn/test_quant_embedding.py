"""QuantEmbedding: a +-1 table with the straight-through gradient, padding's row, the latent clip
and a config that round-trips."""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F

from helpers import sign
from onebit.nn import QuantEmbedding, binary_parameters, clip_latent_weights


def test_binary_lookup_is_the_sign_of_the_latent_rows(gen: torch.Generator) -> None:
    layer = QuantEmbedding(11, 65, padding_idx=0, weight_quantizer="ste_sign")
    with torch.no_grad():
        layer.weight.uniform_(-2, 2, generator=gen)
    ids = torch.randint(0, 11, (3, 7), generator=gen)
    y = layer(ids)
    assert y.shape == (3, 7, 65)
    assert torch.equal(y, sign(layer.weight.detach())[ids])
    assert set(y.unique().tolist()) <= {-1.0, 1.0}
    assert [name for name, _ in binary_parameters(layer)] == ["weight"]


def test_padding_row_is_all_plus_one_and_gets_no_gradient() -> None:
    layer = QuantEmbedding(5, 8, padding_idx=0, weight_quantizer="ste_sign")
    assert torch.equal(layer(torch.zeros(1, 2, dtype=torch.long)), torch.ones(1, 2, 8))
    layer.weight.data.mul_(0.5)
    layer(torch.tensor([[0, 3, 3]])).sum().backward()
    assert layer.weight.grad[0].abs().sum() == 0
    assert layer.weight.grad[3].abs().sum() > 0  # straight through, where |w| <= 1


def test_without_quantizer_it_is_nn_embedding(gen: torch.Generator) -> None:
    layer = QuantEmbedding(9, 4)
    ids = torch.randint(0, 9, (2, 5), generator=gen)
    assert torch.equal(layer(ids), F.embedding(ids, layer.weight))
    assert not list(binary_parameters(layer))


def test_latent_table_is_clipped(gen: torch.Generator) -> None:
    layer = QuantEmbedding(4, 3, weight_quantizer="ste_sign", weight_clip=1.0)
    with torch.no_grad():
        layer.weight.mul_(10)
    clip_latent_weights(layer)
    assert layer.weight.abs().max() <= 1.0


def test_config_round_trips_through_json() -> None:
    layer = QuantEmbedding(12, 6, padding_idx=0, weight_quantizer="ste_sign", weight_clip=None)
    config = layer.get_config()
    rebuilt = QuantEmbedding.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    rebuilt.load_state_dict(layer.state_dict())
    ids = torch.arange(12).view(2, 6)
    assert torch.equal(rebuilt(ids), layer(ids))
