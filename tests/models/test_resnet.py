"""binary-resnet18/34/50: BinaryNet.pytorch's ImageNet ResNets."""

from __future__ import annotations

import math

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

from helpers import one_thread, settle
from onebit import models
from onebit.convert.trace import trace
from onebit.nn import QuantConv2d, binary_parameters

DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}
# num_params of torchvision's resnet18, resnet34 and resnet50 (ResNet*_Weights.IMAGENET1K_V1 in
# the torchvision model docs): the same convolutions, batch norms and classifier as
# BinaryNet.pytorch's ResNet_imagenet, whose README gives no parameter count.
TORCHVISION = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032}


def torchvision_resnet_count(depth: int, num_classes: int = 1000) -> int:
    """torchvision's ResNet parameter count, by hand: convolutions without bias, two parameters
    per batch norm channel, a 1x1 projection with batch norm where a stage changes shape, and a
    dense classifier with bias."""
    block, blocks = DEPTHS[depth]
    expansion = 1 if block == "basic" else 4
    count = 3 * 64 * 49 + 2 * 64  # stem
    inplanes = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        for i in range(n):
            if block == "basic":
                count += 9 * inplanes * planes + 9 * planes * planes + 2 * 2 * planes
            else:
                count += inplanes * planes + 9 * planes * planes + planes * 4 * planes
                count += 2 * (planes + planes + 4 * planes)
            if i == 0 and (stage > 0 or inplanes != planes * expansion):
                count += inplanes * planes * expansion + 2 * planes * expansion
            inplanes = planes * expansion
    return count + inplanes * num_classes + num_classes


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_parameter_count_is_torchvisions_plus_the_head_batch_norms(depth):
    assert torchvision_resnet_count(depth) == TORCHVISION[depth]
    features = 512 * (1 if depth < 50 else 4)
    for classes in (1000, 10):
        head = 2 * features + 2 * classes  # BatchNorm1d before and after the classifier
        expected = torchvision_resnet_count(depth, classes) + head
        assert count_on_meta(f"binary-resnet{depth}", num_classes=classes) == expected
        if classes == 1000:
            assert expected == models.config(f"binary-resnet{depth}").reference_parameters
    assert count_on_meta(f"binary-resnet{depth}", binary=False) == TORCHVISION[depth] + (
        2 * features + 2000
    )


def block_calls(order: list[str], block: str, last: str) -> list[str]:
    """The calls from ``block``'s first module to its module ``last``."""
    start = next(i for i, name in enumerate(order) if name.startswith(block + "."))
    return order[start : order.index(f"{block}.{last}") + 1]


def called_modules(net: nn.Module) -> list[str]:
    """The traced order of module calls and additions."""
    with one_thread():
        graph = trace(net.eval(), torch.zeros(1, *net.input_shape)).graph
    return [
        str(n.target) if n.op == "call_module" else "add"
        for n in graph.nodes
        if n.op == "call_module" or "add" in str(n.target)
    ]


def test_basic_block_layout_follows_the_source():
    net = models.create("binary-resnet18", input_size=32, num_classes=10)
    order = called_modules(net)
    assert order[:4] == ["conv1", "maxpool", "bn1", "tanh1"]  # the pool before the batch norm
    assert block_calls(order, "layer2.0", "tanh2") == [
        "layer2.0.downsample.0",
        "layer2.0.downsample.1",
        "layer2.0.conv1",
        "layer2.0.bn1",
        "layer2.0.tanh1",
        "layer2.0.conv2",
        "add",  # batch norm after the addition
        "layer2.0.bn2",
        "layer2.0.tanh2",
    ]
    assert order[-7:] == ["layer4.1.tanh2", "avgpool", "flatten", "bn2", "tanh2", "fc", "bn3"]


def test_bottleneck_layout():
    net = models.create("binary-resnet50", input_size=32, num_classes=10)
    order = called_modules(net)
    assert block_calls(order, "layer1.1", "tanh3") == [
        "layer1.1.conv1",
        "layer1.1.bn1",
        "layer1.1.tanh1",
        "layer1.1.conv2",
        "layer1.1.bn2",
        "layer1.1.tanh2",
        "layer1.1.conv3",
        "layer1.1.bn3",
        "add",
        "layer1.1.tanh3",
    ]
    assert net.layer1[0].conv3.out_channels == 256 and net.fc.in_features == 2048


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_binary_weights_real_stem_input_and_float_twin(depth):
    with torch.device("meta"):
        net = models.create(f"binary-resnet{depth}")
        twin = models.create(f"binary-resnet{depth}", binary=False)
    names = {n for n, _ in binary_parameters(net)}
    assert names == weight_names(net)  # every convolution and the classifier
    block, blocks = DEPTHS[depth]
    convs_per_block = 2 if block == "basic" else 3
    projections = 3 if block == "basic" else 4
    assert len(names) == 1 + convs_per_block * sum(blocks) + projections + 1
    assert net.conv1.input_quantizer is None and net.conv1.weight_quantizer.name == "ste_sign"
    layers = [*(m for m in net.modules() if isinstance(m, QuantConv2d) and m is not net.conv1)]
    layers.append(net.fc)
    assert all(m.input_quantizer.name == "ste_sign" for m in layers)
    assert net.fc.bias is not None and all(m.bias is None for m in layers[:-1])
    assert_float_twin(net, twin)
    tanh = sum(isinstance(m, nn.Hardtanh) for m in net.modules())
    assert tanh == sum(isinstance(m, nn.Hardtanh) for m in twin.modules()) > sum(blocks)


def test_convolutions_start_he_normal():
    torch.manual_seed(0)
    net = models.create("binary-resnet18", input_size=32, num_classes=10)
    weight = net.layer4[1].conv1.weight
    assert weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 512)), rel=0.02)


@settings(max_examples=12, deadline=None)
@given(depth=st.sampled_from([18, 50]), input_size=st.integers(1, 300), binary=st.booleans())
def test_builds_and_runs_at_any_input_size(depth, input_size, binary):
    name = f"binary-resnet{depth}"
    shape = output_shape_on_meta(name, input_size=input_size, num_classes=7, binary=binary)
    assert shape == (2, 7)


@pytest.mark.parametrize(
    ("depth", "binary"), [(18, True), (34, True), (50, True), (18, False)], ids=str
)
def test_converted_program_agrees(depth, binary):
    torch.manual_seed(0)
    net = models.create(f"binary-resnet{depth}", input_size=32, num_classes=10, binary=binary)
    program = assert_converted_agrees(settle(net, net.input_shape))
    if binary:  # every convolution but the stem runs on packed bits
        types = [op.type for op in program.ops]
        assert types.count("binary_conv2d") == len(weight_names(net)) - 2  # not stem nor fc
