"""QuickNet (small, regular, large): Larq zoo's parameter counts, the layout, Keras' "same"
padding, the float twin, overfitting a small set, conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import settle
from onebit import models
from onebit.convert import convert
from onebit.models._common import parameter_count
from onebit.models.quicknet import (
    QuickNetResidual,
    QuickNetStem,
    QuickNetTransition,
    same_padding,
)
from onebit.nn import QuantConv2d, QuantizedLayer, binary_parameters, register_weight_clip
from onebit.quantizers import Quantizer

VARIANTS = ["quicknet-small", "quicknet", "quicknet-large"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", VARIANTS)
def test_larq_counts_the_scale_free_batch_norm_torch_does_not(name):
    """The reference (Larq's summary, see ``models.CONFIGS``) counts every BN as 2 per channel; the
    stem's middle BN has no scale and no shift, so PyTorch's count is 2 per channel lower there."""
    with torch.device("meta"):
        model = models.create(name)
    middle = [m for m in model.stem if isinstance(m, nn.BatchNorm2d)][1]
    assert not middle.affine
    reference = models.config(name).reference_parameters
    assert parameter_count(model) == reference - 2 * middle.num_features


@pytest.mark.parametrize(
    ("name", "blocks", "widths"),
    [
        ("quicknet-small", [4, 4, 4, 4], [32, 64, 256, 512]),
        ("quicknet", [4, 4, 4, 4], [64, 128, 256, 512]),
        ("quicknet-large", [6, 8, 12, 6], [64, 128, 256, 512]),
    ],
)
def test_sections_follow_larq_zoo(name, blocks, widths):
    model = models.create(name, num_classes=10, input_size=32)
    residuals = [[m for m in s if isinstance(m, QuickNetResidual)] for s in model.sections]
    assert [len(r) for r in residuals] == blocks
    assert [r[0].bn.num_features for r in residuals] == widths
    transitions = [isinstance(s[0], QuickNetTransition) for s in model.sections]
    assert transitions == [False, True, True, True]
    assert model.fc.in_features == 512 and model.fc.bias is not None


def test_blocks_follow_larq_zoo():
    model = models.create("quicknet", num_classes=10, input_size=224)
    stem = [type(m) for m in model.stem]
    assert stem == [
        nn.ZeroPad2d,
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.ZeroPad2d,
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.Conv2d,
        nn.BatchNorm2d,
    ]
    assert isinstance(model.stem, QuickNetStem)
    depthwise, middle_norm = model.stem[5], model.stem[6]
    assert depthwise.groups == depthwise.in_channels == 16 and depthwise.stride == (2, 2)
    assert not middle_norm.affine  # Keras BatchNormalization(scale=False, center=False)
    residual = model.sections[0][0]
    conv = residual.conv
    assert isinstance(conv, QuantConv2d) and conv.pad_value == 1.0 and conv.bias is None
    assert conv.input_quantizer.get_config() == {"name": "ste_sign", "clip_value": 1.25}
    assert conv.weight_quantizer.get_config() == {"name": "ste_sign", "clip_value": 1.25}
    assert conv.weight_clip == 1.25
    assert (residual.bn.momentum, residual.bn.eps) == (0.1, 1e-5)  # Keras 0.9, 1e-5
    relu, pool, blur, pointwise, norm = model.sections[1][0]
    assert isinstance(relu, nn.ReLU) and isinstance(norm, nn.BatchNorm2d)
    assert isinstance(pool, nn.MaxPool2d) and (pool.kernel_size, pool.stride) == (2, 1)
    assert blur.groups == 64 and blur.stride == (2, 2) and blur.padding == (1, 1)
    assert not blur.weight.requires_grad
    expected = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    assert torch.equal(blur.weight[5, 0], expected)
    assert type(pointwise) is nn.Conv2d and pointwise.kernel_size == (1, 1)


@pytest.mark.parametrize(
    ("side", "kernel", "expected"),
    # TensorFlow's "SAME": out = ceil(side / stride), total = (out - 1) * stride + kernel - side,
    # the odd pixel after the map
    [(224, 3, (0, 1)), (112, 3, (0, 1)), (55, 3, (1, 1)), (224, 7, (2, 3)), (7, 3, (1, 1))],
)
def test_stride_2_same_padding_is_keras(side, kernel, expected):
    assert same_padding(side, kernel, 2) == expected


@pytest.mark.parametrize("size", [32, 33])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "float-twin"])
@pytest.mark.parametrize("name", VARIANTS)
def test_forward_at_a_small_input_gives_logits_per_class(name, binary, size):
    model = models.create(name, num_classes=4, input_size=size, binary=binary)
    assert model(torch.randn(2, 3, size, size)).shape == (2, 4)


def test_float_twin_has_no_quantizers_and_the_same_parameter_count():
    binary = models.create("quicknet", num_classes=10, input_size=32)
    twin = models.create("quicknet", num_classes=10, input_size=32, binary=False)
    assert not any(isinstance(m, Quantizer | QuantizedLayer) for m in twin.modules())
    clips = [m for m in twin.modules() if isinstance(m, nn.Hardtanh)]
    assert len(clips) == 16 and {(m.min_val, m.max_val) for m in clips} == {(-1.25, 1.25)}
    assert list(binary_parameters(twin)) == []
    assert parameter_count(twin) == parameter_count(binary)


def test_binary_parameters_are_exactly_the_residual_conv_weights():
    model = models.create("quicknet-large", num_classes=10, input_size=32)
    names = {name for name, _ in binary_parameters(model)}
    assert len(names) == 6 + 8 + 12 + 6
    assert names == {
        f"{n}.conv.weight" for n, m in model.named_modules() if isinstance(m, QuickNetResidual)
    }


def test_quicknet_small_overfits_a_small_random_set():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (64,), generator=generator)
    model = models.create("quicknet-small", num_classes=10, input_size=32).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    register_weight_clip(optimizer, model)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10  # 2.73 -> 0.04 with this seed
    blur = model.sections[1][0][2]
    assert torch.equal(blur.weight[0, 0, 1], torch.tensor([2.0, 4.0, 2.0]) / 16)  # stays fixed


@pytest.mark.parametrize(("name", "size"), [(v, 32) for v in VARIANTS] + [("quicknet", 33)])
def test_converted_program_agrees_with_torch_eval(name, size):
    torch.manual_seed(0)
    model = settle(models.create(name, num_classes=10, input_size=size), (3, size, size))
    program = convert(model, torch.zeros(1, 3, size, size))
    types = [op.type for op in program.ops]
    assert types.count("binary_conv2d") == len(list(binary_parameters(model)))
    pads = {op.attrs["pad_value"] for op in program.ops if op.type == "binary_conv2d"}
    assert pads == {1.0}
    x = torch.randn(8, 3, size, size, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        expected = model(x).numpy()
    got = program(x.numpy())
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
