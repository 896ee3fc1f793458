"""dybnn-mini and reactnet-mini: one layout, dynamic or static binarization; both convert and
agree with PyTorch."""

from __future__ import annotations

import pytest
import torch
from zoo_checks import assert_converted_agrees, assert_float_twin

from helpers import settle
from onebit import OnebitError, models
from onebit.nn import DyPReLU, DySign, HyperFunction, QuantConv2d, RPReLU, RSign


def conv_shapes(model: torch.nn.Module) -> list[tuple]:
    convs = (m for m in model.modules() if isinstance(m, QuantConv2d))
    return [(m.in_channels, m.out_channels, m.stride, m.input_quantizer) for m in convs]


def kinds(model: torch.nn.Module, types: tuple[type, ...]) -> list[type]:
    return [type(m) for m in model.modules() if isinstance(m, types)]


def test_the_two_differ_only_in_their_sign_and_activation():
    dynamic, static = models.create("dybnn-mini"), models.create("reactnet-mini")
    blocks = [(32, 32, (1, 1), None), (32, 64, (2, 2), None), (64, 64, (1, 1), None)]
    assert conv_shapes(dynamic) == conv_shapes(static) == blocks
    assert kinds(dynamic, (DySign, DyPReLU, RSign, RPReLU)) == [DySign, DyPReLU] * 3
    assert kinds(static, (DySign, DyPReLU, RSign, RPReLU)) == [RSign, RPReLU] * 3
    assert dynamic.dynamic and not static.dynamic


@pytest.mark.parametrize("name", ["dybnn-mini", "reactnet-mini"])
def test_converts_and_agrees_with_torch(name: str):
    torch.manual_seed(0)
    model = settle(models.create(name), (1, 28, 28))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for hyper in (m for m in model.modules() if isinstance(m, HyperFunction)):
            for p in hyper.expand.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    program = assert_converted_agrees(model, samples=16)
    kinds = [op.type for op in program.ops]
    dynamic = name == "dybnn-mini"
    assert kinds.count("dynamic_sign_pack") == (3 if dynamic else 0)
    assert kinds.count("dynamic_prelu") == (3 if dynamic else 0)
    assert kinds.count("binary_conv2d") == 3 and kinds.count("sign_pack") == (0 if dynamic else 3)


def test_input_size_must_be_a_multiple_of_four():
    with pytest.raises(OnebitError, match="input_size must be a multiple of 4, got 30"):
        models.create("dybnn-mini", input_size=30)
    assert models.create("reactnet-mini", input_size=8, in_channels=3)(
        torch.zeros(2, 3, 8, 8)
    ).shape == (2, 10)


@pytest.mark.parametrize("name", ["dybnn-mini", "reactnet-mini"])
def test_the_float_twin_keeps_every_parameter_with_hardtanh_for_sign(name: str):
    binary, twin = models.create(name), models.create(name, binary=False)
    assert_float_twin(binary, twin)
    assert sum(isinstance(m, torch.nn.Hardtanh) for m in twin.modules()) == 3
    assert twin(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
