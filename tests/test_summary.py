from __future__ import annotations

import pytest
import torch
from torch import nn

from onebit import models
from onebit.nn import QuantConv2d, QuantLinear
from onebit.summary import summarize


def test_binary_mlp_counts():
    summary = summarize(models.create("binarynet-mlp"))
    binary = 784 * 1024 + 1024 * 1024 * 2 + 1024 * 10
    assert summary.binary_params == binary
    assert summary.params == binary + 2 * (1024 * 3 + 10)  # BatchNorm scale and shift
    # the first layer has float inputs: its MACs are float, the rest are XNOR-popcount
    assert summary.float_macs == 784 * 1024
    assert summary.binary_macs == 1024 * 1024 * 2 + 1024 * 10
    assert summary.packed_bytes == binary / 8 + 4 * (summary.params - binary)
    assert summary.float32_bytes == 4 * summary.params
    assert summary.compression == pytest.approx(summary.float32_bytes / summary.packed_bytes)


def test_float_mlp_has_no_binary_parts():
    summary = summarize(models.create("float-mlp", hidden=32, depth=1))
    assert summary.binary_params == 0 and summary.binary_macs == 0
    assert summary.compression == 1.0


class TinyConvNet(nn.Sequential):
    input_shape = (3, 9, 9)


def test_conv_macs_and_output_shapes():
    net = TinyConvNet(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        QuantConv2d(
            8,
            16,
            3,
            stride=2,
            padding=1,
            bias=False,
            input_quantizer="ste_sign",
            weight_quantizer="ste_sign",
            pad_value=1.0,
        ),
        QuantConv2d(
            16,
            4,
            1,
            groups=2,
            bias=True,
            input_quantizer="ste_sign",
            weight_quantizer={"name": "dorefa", "k_bit": 2, "mode": "weights"},
        ),
        nn.Flatten(),
        QuantLinear(4 * 5 * 5, 10, input_quantizer="ste_sign", weight_quantizer="ste_sign"),
    )
    summary = summarize(net)
    rows = {row.name: row for row in summary.layers}
    assert rows["0"].output_shape == (8, 9, 9) and rows["0"].float_macs == 3 * 9 * 8 * 81
    assert rows["2"].output_shape == (16, 5, 5)
    assert rows["2"].binary_macs == 8 * 9 * 16 * 25 and rows["2"].float_macs == 0
    assert rows["3"].other_params == {2: 4 * 8} and rows["3"].float_params == 4  # 2-bit + bias
    # 2-bit weights are not XNOR-popcount: a 1-bit x 2-bit product is two plane popcounts
    assert rows["3"].kbit_macs == 8 * 4 * 25 and rows["3"].float_macs == 0
    assert (rows["3"].input_bits, rows["3"].weight_bits) == (1, 2)
    assert (rows["0"].input_bits, rows["0"].weight_bits) == (None, None)  # a plain nn.Conv2d
    assert rows["5"].binary_params == 100 * 10 and rows["5"].float_params == 10
    assert summary.packed_bytes == pytest.approx(
        (16 * 8 * 9 + 1000) / 8 + 2 * 32 / 8 + 4 * (3 * 8 * 9 + 16 + 4 + 10)
    )


def test_summary_does_not_change_training_mode():
    net = models.create("binarynet-mlp", hidden=8, depth=1).train()
    summarize(net)
    assert net.training
    net.eval()
    summarize(net)
    assert not net.training


def test_missing_input_shape_is_a_clear_error():
    from onebit import OnebitError

    with pytest.raises(OnebitError, match="input_shape"):
        summarize(nn.Sequential(nn.Linear(3, 2)))
    assert summarize(nn.Sequential(nn.Linear(3, 2)), (3,)).float_macs == 6
    assert summarize(torch.nn.Linear(3, 2), (3,)).params == 8


def test_a_layer_fed_by_a_sign_module_counts_binary_macs():
    """ReActNet's layout: the sign is a module of its own before a conv that has no input
    quantizer; the converter packs that input, so its MACs are XNOR-popcounts."""
    from onebit.quantizers import ApproxSign

    def conv() -> QuantConv2d:
        return QuantConv2d(8, 16, 3, padding=1, input_quantizer=None, weight_quantizer="ste_sign")

    macs = 8 * 9 * 16 * 5 * 5
    signed = summarize(nn.Sequential(ApproxSign(), conv()), (8, 5, 5))
    assert (signed.binary_macs, signed.float_macs) == (macs, 0)
    assert signed.layers[1].input_bits == 1
    for before in (nn.Identity(), nn.Sequential(ApproxSign(), nn.ReLU())):  # not a sign's output
        plain = summarize(nn.Sequential(before, conv()), (8, 5, 5))
        assert (plain.binary_macs, plain.float_macs) == (0, macs)
    mini = summarize(models.create("reactnet-mini"))
    assert mini.binary_macs > 0.9 * (mini.binary_macs + mini.float_macs)
