"""Bi-Real Net-18 and -34: parameter counts of the sources, layout, float twin, conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import settle
from onebit import OnebitError, models
from onebit.convert import convert
from onebit.models._common import parameter_count
from onebit.models.birealnet import BiRealBlock
from onebit.nn import QuantConv2d, QuantizedLayer, binary_parameters
from onebit.quantizers import Quantizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_birealnet34_count_by_hand_is_the_official_models():
    """The official PyTorch model (liuzechun/Bi-Real-net, pytorch_implementation/BiReal18_34/
    birealnet.py, birealnet34), sum(p.numel() for p in model.parameters()), layer by layer."""
    stem = 9_408 + 128
    stages = [
        6 * (36_864 + 128),
        8_192 + 256 + 73_728 + 256 + 7 * (147_456 + 256),
        32_768 + 512 + 294_912 + 512 + 11 * (589_824 + 512),
        131_072 + 1_024 + 1_179_648 + 1_024 + 5 * (2_359_296 + 1_024),
    ]
    fc = 513_000
    assert stem + sum(stages) + fc == models.config("birealnet34").reference_parameters


def test_birealnet18_reference_is_torchs_count_plus_the_batch_norm_statistics():
    """Larq zoo's figure counts every BN's moving mean and variance, as Keras does."""
    with torch.device("meta"):
        model = models.create("birealnet18")
    statistics = sum(2 * m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert parameter_count(model) + statistics == models.config("birealnet18").reference_parameters
    assert statistics == 9_600


def test_birealnet18_binary_weights_count_their_1_bit_parameters():
    """9 x (4 x 64^2 + (64 + 3 x 128) x 128 + (128 + 3 x 256) x 256 + (256 + 3 x 512) x 512);
    a later Larq zoo docs table gives this number as Bi-Real Net's parameter count."""
    with torch.device("meta"):
        model = models.create("birealnet18")
    assert sum(p.numel() for _, p in binary_parameters(model)) == 10_985_472


@pytest.mark.parametrize(
    ("name", "blocks", "momentum", "eps", "clip"),
    [("birealnet18", 16, 0.2, 1e-3, 1.0), ("birealnet34", 32, 0.1, 1e-5, None)],
)
def test_layout_follows_the_sources(name, blocks, momentum, eps, clip):
    model = models.create(name, num_classes=10, input_size=32)
    stem_conv, _, stem_pool = model.stem
    assert type(stem_conv) is nn.Conv2d and stem_conv.kernel_size == (7, 7)
    assert stem_conv.stride == (2, 2) and stem_conv.bias is None
    assert isinstance(stem_pool, nn.MaxPool2d) and stem_pool.kernel_size == 3
    assert type(model.fc) is nn.Linear and model.fc.bias is not None  # real classifier
    block_list = [m for m in model.modules() if isinstance(m, BiRealBlock)]
    assert len(block_list) == blocks
    for block in block_list:
        conv = block.conv
        assert isinstance(conv, QuantConv2d) and conv.kernel_size == (3, 3) and conv.bias is None
        assert conv.input_quantizer.name == "approx_sign"
        assert conv.weight_quantizer.name == "magnitude_aware_sign"
        assert conv.pad_value == 0.0 and conv.padding == (1, 1) and conv.weight_clip == clip
    downsampling = [b for b in block_list if not isinstance(b.shortcut, nn.Identity)]
    assert [b.conv.stride for b in downsampling] == [(2, 2)] * 3
    for block in downsampling:
        pool, conv, bn = block.shortcut
        assert isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 2
        assert type(conv) is nn.Conv2d and conv.kernel_size == (1, 1) and conv.bias is None
        assert conv.out_channels == 2 * conv.in_channels and isinstance(bn, nn.BatchNorm2d)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert {(m.momentum, m.eps) for m in norms} == {(momentum, eps)}


def test_every_binary_conv_has_a_real_shortcut():
    """With the binary branch's BN zeroed, a block passes its input through unchanged."""
    model = models.create("birealnet18", num_classes=10, input_size=32).eval()
    block = model.stages[0][1]
    with torch.no_grad():
        block.bn.weight.zero_()
        block.bn.bias.zero_()
        x = torch.randn(2, 64, 8, 8)
        assert torch.equal(block(x), x)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "float-twin"])
@pytest.mark.parametrize("name", ["birealnet18", "birealnet34"])
def test_forward_at_a_small_input_gives_logits_per_class(name, binary):
    model = models.create(name, num_classes=7, input_size=64, binary=binary)
    assert model(torch.randn(3, 3, 64, 64)).shape == (3, 7)
    assert model.input_shape == (3, 64, 64) and model.num_classes == 7 and model.binary is binary


def test_float_twin_has_no_quantizers_and_the_same_parameter_count():
    binary = models.create("birealnet18", num_classes=10, input_size=32)
    twin = models.create("birealnet18", num_classes=10, input_size=32, binary=False)
    assert not any(isinstance(m, Quantizer | QuantizedLayer) for m in twin.modules())
    assert sum(isinstance(m, nn.Hardtanh) for m in twin.modules()) == 16  # one per sign
    assert list(binary_parameters(twin)) == []
    assert parameter_count(twin) == parameter_count(binary)


def test_binary_parameters_are_exactly_the_3x3_conv_weights():
    model = models.create("birealnet34", num_classes=10, input_size=32)
    expected = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, QuantConv2d)}
    assert {name for name, _ in binary_parameters(model)} == expected
    assert len(expected) == 32
    assert all(name.endswith(".conv.weight") for name in expected)


def test_input_size_must_be_a_multiple_of_32():
    with pytest.raises(OnebitError, match="multiple of 32"):
        models.create("birealnet18", input_size=48)


@pytest.mark.parametrize("name", ["birealnet18", "birealnet34"])
def test_converted_program_agrees_with_torch_eval(name):
    torch.manual_seed(0)
    model = settle(models.create(name, num_classes=10, input_size=32), (3, 32, 32))
    program = convert(model, torch.zeros(1, 3, 32, 32))
    types = [op.type for op in program.ops]
    assert types.count("binary_conv2d") == (16 if name == "birealnet18" else 32)
    assert types.count("avgpool2d") == 3
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        expected = model(x).numpy()
    got = program(x.numpy())
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
