"""The shared layer machinery: latent-weight clipping, the optimizer hook and binary_parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from onebit import OnebitError
from onebit.nn import (
    QuantConv2d,
    QuantLinear,
    binary_parameters,
    clip_latent_weights,
    quantized_layers,
    register_weight_clip,
)


def spread_(model: nn.Module, gen: torch.Generator) -> nn.Module:
    """Fill every parameter with values well outside [-1, 1] (and some inside)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 3)
    return model


def make_model() -> nn.Sequential:
    return nn.Sequential(
        QuantConv2d(3, 4, 3, weight_quantizer="ste_sign"),  # 0: default clip 1.0
        QuantConv2d(
            4, 4, 3, input_quantizer="ste_sign", weight_quantizer="ste_sign", weight_clip=0.5
        ),  # 1
        QuantConv2d(4, 4, 1, weight_quantizer="ste_sign", weight_clip=None),  # 2: clip off
        nn.Flatten(),  # 3
        QuantLinear(16, 8, input_quantizer="ste_sign"),  # 4: full-precision weight, clip 1.0
        nn.Linear(8, 8),  # 5
        QuantLinear(8, 2, weight_quantizer={"name": "dorefa", "k_bit": 2, "mode": "weights"}),  # 6
    )


def test_clip_latent_weights_bounds_each_quantized_weight_by_its_own_clip(gen) -> None:
    model = spread_(make_model(), gen)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    assert before["0.weight"].abs().max() > 1 and before["1.weight"].abs().max() > 1
    clip_latent_weights(model)
    after = dict(model.named_parameters())
    for name, bound in [("0.weight", 1.0), ("1.weight", 0.5), ("6.weight", 1.0)]:
        assert torch.equal(after[name], before[name].clamp(-bound, bound)), name
    untouched = ["2.weight", "4.weight", "5.weight"] + [n for n in before if n.endswith("bias")]
    for name in untouched:
        assert torch.equal(after[name], before[name]), name


def test_clip_latent_weights_on_a_single_layer() -> None:
    layer = QuantLinear(3, 2, weight_quantizer="ste_sign")
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[-3.0, 0.25, 1.5], [1.0, -1.0, 0.0]]))
    clip_latent_weights(layer)
    assert layer.weight.tolist() == [[-1.0, 0.25, 1.0], [1.0, -1.0, 0.0]]


def step_outward(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """One step whose gradient pushes every weight away from zero by 5 * lr."""
    optimizer.zero_grad()
    for name, p in model.named_parameters():
        if name.endswith("weight"):
            p.grad = -5 * torch.sign(p.detach())
    optimizer.step()


def test_register_weight_clip_clips_after_each_step(gen: torch.Generator) -> None:
    model = spread_(make_model(), gen)
    clip_latent_weights(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    handle = register_weight_clip(optimizer, model)
    for _ in range(2):
        step_outward(model, optimizer)
        params = dict(model.named_parameters())
        assert params["0.weight"].abs().max() == 1.0
        assert params["1.weight"].abs().max() == 0.5
        assert params["2.weight"].abs().max() > 5  # clip off: the step moved it out
        assert params["4.weight"].abs().max() > 5  # full-precision weight
    handle.remove()
    step_outward(model, optimizer)
    assert dict(model.named_parameters())["0.weight"].abs().max() > 1  # the hook is gone


@pytest.mark.parametrize("weight_clip", [0.0, -1.0])
def test_non_positive_weight_clip_raises(weight_clip: float) -> None:
    with pytest.raises(OnebitError, match="weight_clip"):
        QuantLinear(3, 2, weight_quantizer="ste_sign", weight_clip=weight_clip)
    with pytest.raises(OnebitError, match="weight_clip"):
        QuantConv2d(3, 2, 3, weight_quantizer="ste_sign", weight_clip=weight_clip)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = QuantConv2d(4, 4, 3, input_quantizer="ste_sign", weight_quantizer="ste_sign")
        self.scaled = QuantConv2d(4, 4, 3, weight_quantizer="magnitude_aware_sign")
        self.first = QuantConv2d(3, 4, 3)  # full precision
        self.head = QuantLinear(4, 2, weight_quantizer="approx_sign")
        self.two_bit = QuantLinear(4, 2, weight_quantizer={"name": "dorefa", "k_bit": 2})
        self.plain = nn.Linear(4, 4)


def test_binary_parameters_are_exactly_the_one_bit_weights() -> None:
    model = nn.Sequential(Block(), nn.ModuleDict({"inner": Block()}))
    found = list(binary_parameters(model))
    names = [name for name, _ in found]
    assert names == [
        "0.conv.weight",
        "0.scaled.weight",
        "0.head.weight",
        "1.inner.conv.weight",
        "1.inner.scaled.weight",
        "1.inner.head.weight",
    ]
    params = dict(model.named_parameters())
    for name, p in found:
        assert p is params[name]


def test_binary_parameters_of_a_bare_layer_have_unprefixed_names() -> None:
    layer = QuantLinear(4, 2, weight_quantizer="ste_sign")
    assert [(n, p) for n, p in binary_parameters(layer)] == [("weight", layer.weight)]
    assert list(binary_parameters(QuantLinear(4, 2, input_quantizer="ste_sign"))) == []


def test_quantized_layers_lists_only_quantized_layers() -> None:
    names = [name for name, _ in quantized_layers(Block())]
    assert names == ["conv", "scaled", "first", "head", "two_bit"]
