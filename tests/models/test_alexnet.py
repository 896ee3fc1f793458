"""binary-alexnet and xnornet-alexnet: the Larq zoo's BinaryAlexNet and XNOR-Net."""

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
from onebit.nn import LearnableBias, QuantConv2d, QuantLinear, binary_parameters

NAMES = ["binary-alexnet", "xnornet-alexnet"]


@pytest.mark.parametrize("name", NAMES)
def test_float_twin_counts_as_the_larq_zoo_too(name):
    """The reference (``models.CONFIGS``) is Keras-counted: batch norm statistics included."""
    larq_zoo_count = models.config(name).reference_parameters
    assert count_on_meta(name, batch_norm_statistics=True, binary=False) == larq_zoo_count


def test_binary_alexnet_layout():
    with torch.device("meta"):
        net = models.create("binary-alexnet")
    convs = [m for m in net.features if isinstance(m, QuantConv2d)]
    assert [(m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == [
        (64, 11, 4),
        (192, 5, 1),
        (384, 3, 1),
        (384, 3, 1),
        (256, 3, 1),
    ]
    dense = [m for m in net.classifier if isinstance(m, QuantLinear)]
    assert [(m.in_features, m.out_features) for m in dense] == [
        (256 * 6 * 6, 4096),
        (4096, 4096),
        (4096, 1000),
    ]
    layers = convs + dense
    assert layers[0].input_quantizer is None  # the image stays real-valued ...
    assert layers[0].weight_quantizer.name == "ste_sign"  # ... but the weights are binary
    assert all(m.input_quantizer.name == "ste_sign" for m in layers[1:])
    assert all(m.bias is None and m.pad_value == 0.0 for m in convs)
    # a pool after the first, second and fifth convolution, before that block's batch norm
    kinds = [type(m).__name__ for m in net.features]
    assert kinds.count("MaxPool2d") == 3
    assert kinds[kinds.index("MaxPool2d") + 1] == "Sequential"  # the scale-free batch norm


def test_batch_norm_has_a_shift_and_no_scale():
    with torch.device("meta"):
        net = models.create("xnornet-alexnet")
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(not m.affine and m.momentum == 0.1 for m in norms)
    assert sum(isinstance(m, LearnableBias) for m in net.modules()) == len(norms)
    # the source's epsilons: 1e-5 on the first, 1e-3 on the last, 1e-4 in between
    assert [m.eps for m in norms] == [1e-5] + [1e-4] * 6 + [1e-3]


def test_same_padding_of_the_first_layer():
    """Keras pads the 11x11 stride-4 layer by 7 at 224 (3 before, 4 after): asymmetric, so a
    ZeroPad2d does it; at 227 the 8 pixels split evenly and the convolution pads by itself."""
    with torch.device("meta"):
        for name in NAMES:
            net = models.create(name, input_size=224)
            pad, conv = net.features[0], net.features[1]
            assert isinstance(pad, nn.ZeroPad2d) and pad.padding == (3, 4, 3, 4)
            assert conv.padding == (0, 0)
            assert conv(pad(torch.empty(1, 3, 224, 224))).shape[-1] == 56  # ceil(224 / 4)
            net = models.create(name, input_size=227)
            assert not isinstance(net.features[0], nn.ZeroPad2d)
            assert net.features[0].padding == (4, 4)


def test_xnornet_layout():
    with torch.device("meta"):
        net = models.create("xnornet-alexnet")
    assert type(net.features[1]) is nn.Conv2d and type(net.classifier) is nn.Linear
    assert net.features[1].bias is None and net.classifier.bias is None
    binary = [m for m in net.features if isinstance(m, QuantConv2d)]
    assert [(m.out_channels, m.kernel_size[0]) for m in binary] == [
        (256, 5),
        (384, 3),
        (384, 3),
        (256, 3),
        (4096, 6),
        (4096, 1),
    ]
    assert all(m.alpha_scaling and m.bias is None for m in binary)
    assert all(m.input_quantizer.name == m.weight_quantizer.name == "ste_sign" for m in binary)
    # XNOR-Net's block: batch norm, then the sign (the convolution's input quantizer)
    kinds = [type(m) for m in net.features]
    assert all(kinds[i - 1] is nn.Sequential for i, k in enumerate(kinds) if k is QuantConv2d)
    assert net.classifier.in_features == 4096


@pytest.mark.parametrize("name", NAMES)
def test_binary_parameters_and_float_twin(name):
    with torch.device("meta"):
        net = models.create(name)
        twin = models.create(name, binary=False)
    names = {n for n, _ in binary_parameters(net)}
    if name == "binary-alexnet":
        assert names == weight_names(net) and len(names) == 8
    else:  # the first convolution and the classifier stay full precision
        assert names == weight_names(net, (QuantConv2d,)) and len(names) == 6
    assert_float_twin(net, twin)
    assert all(not isinstance(m, nn.Hardtanh) for m in twin.modules())
    relus = sum(isinstance(m, nn.ReLU) for m in twin.modules())
    assert relus == (7 if name == "binary-alexnet" else 2 + 6)


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    input_size=st.integers(57, 300),
    num_classes=st.integers(2, 50),
    binary=st.booleans(),
)
def test_builds_and_runs_at_any_input_size(name, input_size, num_classes, binary):
    shape = output_shape_on_meta(
        name, input_size=input_size, num_classes=num_classes, binary=binary
    )
    assert shape == (2, num_classes)


@pytest.mark.parametrize("name", NAMES)
def test_rejects_too_small_inputs(name):
    with pytest.raises(OnebitError, match="input_size must be an integer >= 57"):
        models.create(name, input_size=56)


@pytest.mark.parametrize(
    ("name", "input_size"),
    # 64: the first layer's padding is asymmetric (ZeroPad2d); 67: symmetric
    [("binary-alexnet", 64), ("xnornet-alexnet", 67)],
)
def test_converted_program_agrees(name, input_size):
    torch.manual_seed(0)
    net = models.create(name, input_size=input_size, num_classes=10)
    program = assert_converted_agrees(settle(net, net.input_shape))
    types = [op.type for op in program.ops]
    assert types.count("binary_conv2d") == (4 if name == "binary-alexnet" else 6)
