"""binarynet-vgg: the BNN paper's CIFAR-10 ConvNet."""

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

from helpers import one_thread, settle
from onebit import OnebitError, models
from onebit.nn import QuantConv2d, QuantLinear, binary_parameters, register_weight_clip


def paper_parameter_count(num_classes: int = 10) -> int:
    """(2x128C3)-MP2-(2x256C3)-MP2-(2x512C3)-MP2-(2x1024FC)-10 on 32x32 inputs, counted by hand:
    every layer has weights and a bias (Lasagne's default in the authors' Train-time/cifar10.py),
    every batch norm a scale and a shift. The paper gives no count; this is the independent one."""
    convs = [(3, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    dense = [(512 * 4 * 4, 1024), (1024, 1024), (1024, num_classes)]
    weights = sum(9 * cin * cout for cin, cout in convs) + sum(i * o for i, o in dense)
    units = sum(cout for _, cout in convs) + sum(o for _, o in dense)
    return weights + units + 2 * units  # + biases + batch norm scales and shifts


def test_parameter_count_matches_the_papers_network():
    assert paper_parameter_count() == 14_022_016 + 3_850 + 7_700
    reference = models.config("binarynet-vgg").reference_parameters
    assert count_on_meta("binarynet-vgg") == paper_parameter_count() == reference
    assert count_on_meta("binarynet-vgg", binary=False) == reference
    # Keras-style, with the batch norms' running mean and variance: + 2 * 3850
    assert count_on_meta("binarynet-vgg", batch_norm_statistics=True) == 14_041_266


def test_layout_follows_the_authors_code():
    net = models.create("binarynet-vgg", width=0.125)
    kinds = [type(m) for m in net.features]
    conv, pool, norm = QuantConv2d, nn.MaxPool2d, nn.BatchNorm2d
    assert kinds == [conv, norm, conv, pool, norm] * 3  # the pool sits before the batch norm
    assert [type(m) for m in net.classifier] == [QuantLinear, nn.BatchNorm1d] * 3
    layers = [m for m in net.modules() if isinstance(m, QuantConv2d | QuantLinear)]
    assert layers[0].input_quantizer is None  # the image stays real-valued
    assert all(m.input_quantizer.name == "ste_sign" for m in layers[1:])
    assert all(m.weight_quantizer.name == "ste_sign" and m.bias is not None for m in layers)
    assert all(m.padding == (1, 1) and m.pad_value == 0.0 for m in layers if m in net.features)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d)]
    assert all(m.eps == 1e-4 and m.momentum == 0.1 for m in norms)
    assert net.input_shape == (3, 32, 32) and net.num_classes == 10
    assert (net.classifier[0].in_features, net.classifier[0].out_features) == (64 * 16, 128)


def test_binary_parameters_are_every_weight_and_the_twin_has_none():
    net = models.create("binarynet-vgg", width=0.125)
    twin = models.create("binarynet-vgg", width=0.125, binary=False)
    assert {name for name, _ in binary_parameters(net)} == weight_names(net)
    assert len(weight_names(net)) == 9
    assert_float_twin(net, twin)
    assert [type(m) for m in twin.classifier].count(nn.Hardtanh) == 2
    assert [type(m) for m in twin.features].count(nn.Hardtanh) == 6


@settings(max_examples=25, deadline=None)
@given(input_size=st.integers(8, 80), num_classes=st.integers(2, 20), binary=st.booleans())
def test_builds_and_runs_at_any_input_size(input_size, num_classes, binary):
    shape = output_shape_on_meta(
        "binarynet-vgg", input_size=input_size, num_classes=num_classes, binary=binary
    )
    assert shape == (2, num_classes)


def test_rejects_bad_arguments():
    with pytest.raises(OnebitError, match="input_size"):
        models.create("binarynet-vgg", input_size=7)
    with pytest.raises(OnebitError, match="width"):
        models.create("binarynet-vgg", width=0)


def test_overfits_a_small_random_set():
    """32 random images with random labels: 40 full-batch Adam steps at 1/8 width cut the
    cross-entropy at least 3-fold (from 2.56 to 0.46 in this seeded run, about 3 s). One torch
    thread makes the run the same on every machine."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(32, 3, 32, 32, generator=generator) * 2 - 1
    y = torch.randint(0, 10, (32,), generator=generator)
    net = models.create("binarynet-vgg", width=0.125)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    register_weight_clip(optimizer, net)
    losses = []
    with one_thread():
        for _ in range(40):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert losses[-1] < losses[0] / 3
    assert all(p.abs().max() <= 1.0 for _, p in binary_parameters(net))


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "float"])
def test_converted_program_agrees(binary):
    torch.manual_seed(0)
    net = settle(models.create("binarynet-vgg", width=0.25, binary=binary), (3, 32, 32))
    program = assert_converted_agrees(net)
    types = [op.type for op in program.ops]
    if binary:
        assert types.count("binary_conv2d") == 5 and types.count("binary_dense") == 3
