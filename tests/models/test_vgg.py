"""binary-vgg16: VGG-16 with BinaryNet.pytorch's binary VGG layer pattern."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from zoo_checks import (
    assert_converted_agrees,
    assert_float_twin,
    count_on_meta,
    output_shape_on_meta,
    weight_names,
)

from helpers import settle
from onebit import OnebitError, models
from onebit.models.vgg import VGG16
from onebit.nn import QuantConv2d, QuantLinear, binary_parameters

# num_params of torchvision's vgg16_bn (VGG16_BN_Weights.IMAGENET1K_V1 in the torchvision model
# docs): VGG-16 with a batch norm after each convolution, as here; BinaryNet.pytorch has no
# VGG-16 and gives no count.
TORCHVISION_VGG16_BN = 138_365_992


def torchvision_vgg16_bn_count(num_classes: int = 1000) -> int:
    """Configuration D by hand: 3x3 convolutions with bias and batch norm, then 25088-4096,
    4096-4096 and 4096-``num_classes`` dense layers with bias."""
    convs = [c for c in VGG16 if c != "M"]
    pairs = zip([3, *convs[:-1]], convs, strict=True)
    count = sum(9 * cin * cout + cout + 2 * cout for cin, cout in pairs)  # + bias, batch norm
    for fan_in, units in ((512 * 7 * 7, 4096), (4096, 4096), (4096, num_classes)):
        count += fan_in * units + units
    return count


def test_parameter_count_is_vgg16_bn_plus_the_dense_batch_norms():
    assert torchvision_vgg16_bn_count() == TORCHVISION_VGG16_BN
    dense_norms = 2 * 2 * 4096  # the output's batch norm has no affine parameters
    reference = models.config("binary-vgg16").reference_parameters
    assert count_on_meta("binary-vgg16") == TORCHVISION_VGG16_BN + dense_norms == reference
    assert count_on_meta("binary-vgg16", binary=False) == reference
    assert count_on_meta("binary-vgg16", num_classes=10) == (
        torchvision_vgg16_bn_count(10) + dense_norms
    )
    statistics = 2 * sum(c for c in VGG16 if c != "M") + 2 * (4096 + 4096 + 1000)
    assert count_on_meta("binary-vgg16", batch_norm_statistics=True) == reference + statistics


def test_layout_follows_binarynet_pytorch():
    with torch.device("meta"):
        net = models.create("binary-vgg16")
    conv, pool, norm = QuantConv2d, nn.MaxPool2d, nn.BatchNorm2d
    group = {2: [conv, norm, conv, pool, norm], 3: [conv, norm, conv, norm, conv, pool, norm]}
    assert [type(m) for m in net.features] == group[2] * 2 + group[3] * 3
    convs = [m for m in net.features if isinstance(m, QuantConv2d)]
    assert [m.out_channels for m in convs] == [c for c in VGG16 if c != "M"]
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in convs)
    dense = [m for m in net.classifier if isinstance(m, QuantLinear)]
    assert [(m.in_features, m.out_features) for m in dense] == [
        (25088, 4096),
        (4096, 4096),
        (4096, 1000),
    ]
    assert [type(m) for m in net.classifier] == [QuantLinear, nn.BatchNorm1d] * 3
    assert [m.affine for m in net.classifier if isinstance(m, nn.BatchNorm1d)] == [1, 1, 0]
    layers = convs + dense
    assert all(m.bias is not None and m.weight_quantizer.name == "ste_sign" for m in layers)
    assert layers[0].input_quantizer is None
    assert all(m.input_quantizer.name == "ste_sign" for m in layers[1:])


def test_binary_parameters_and_float_twin():
    with torch.device("meta"):
        net = models.create("binary-vgg16")
        twin = models.create("binary-vgg16", binary=False)
    names = {n for n, _ in binary_parameters(net)}
    assert names == weight_names(net) and len(names) == 16
    assert_float_twin(net, twin)
    # the source's Hardtanh after every batch norm but the output's
    assert sum(isinstance(m, nn.Hardtanh) for m in twin.modules()) == 13 + 2
    assert not any(isinstance(m, nn.Hardtanh) for m in net.modules())


@settings(max_examples=15, deadline=None)
@given(input_size=st.integers(32, 300), num_classes=st.integers(2, 50), binary=st.booleans())
def test_builds_and_runs_at_any_input_size(input_size, num_classes, binary):
    shape = output_shape_on_meta(
        "binary-vgg16", input_size=input_size, num_classes=num_classes, binary=binary
    )
    assert shape == (2, num_classes)


def test_rejects_inputs_smaller_than_the_pools():
    with pytest.raises(OnebitError, match="input_size must be an integer >= 32"):
        models.create("binary-vgg16", input_size=31)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "float"])
def test_converted_program_agrees(binary):
    torch.manual_seed(0)
    net = models.create("binary-vgg16", input_size=32, num_classes=10, binary=binary)
    program = assert_converted_agrees(settle(net, net.input_shape))
    types = [op.type for op in program.ops]
    if binary:
        assert types.count("binary_conv2d") == 12 and types.count("binary_dense") == 3
