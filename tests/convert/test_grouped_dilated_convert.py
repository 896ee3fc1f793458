"""Grouped and dilated binary convolutions (BATS' search space: grouped 3x3 / 5x5 convs, stride 1
or 2, and dilated grouped ones) convert to ``binary_conv2d`` with ``groups`` and ``dilation``
attrs, and the program agrees with the model in eval mode; float and multi-bit convs still refuse
dilation by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import agree
from helpers import settle
from onebit.convert import ConversionError, convert
from onebit.nn import QuantConv2d
from onebit.runtime import load

BINARY = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def converted(model: nn.Module, shape: tuple[int, ...], tmp_path, seed: int = 0):
    """Settle the model's batch norms, convert it, and check a save/load round trip."""
    torch.manual_seed(seed)
    model = settle(model, shape, seed)
    program = convert(model, torch.zeros(1, *shape))
    program.save(tmp_path / "grouped.onebit")
    x = np.random.default_rng(seed).standard_normal((3, *shape), dtype=np.float32)
    np.testing.assert_array_equal(load(tmp_path / "grouped.onebit")(x), program(x))
    return model, program


def inputs(shape: tuple[int, ...], n: int = 32) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(11))


def binary_convs(program) -> list:
    return [op for op in program.ops if op.type == "binary_conv2d"]


def test_dilated_grouped_conv_with_prelu(tmp_path):
    model = nn.Sequential(
        nn.BatchNorm2d(24),
        QuantConv2d(24, 24, 3, padding=2, dilation=2, groups=12, **BINARY),
        nn.PReLU(24),
    )
    model, program = converted(model, (24, 11, 11), tmp_path)
    (conv,) = binary_convs(program)
    assert conv.attrs["groups"] == 12 and conv.attrs["dilation"] == [2, 2]
    assert program.tensors[conv.tensors["weight"]].shape == (
        24,
        3,
        3,
        1,
    )  # 2 channels per group: one word
    agree(model, program, inputs((24, 11, 11)))


@pytest.mark.parametrize("pad_value", [0.0, 1.0])
def test_strided_grouped_5x5_conv(tmp_path, pad_value):
    model = nn.Sequential(
        nn.BatchNorm2d(24),
        QuantConv2d(24, 48, 5, stride=2, padding=2, groups=12, pad_value=pad_value, **BINARY),
        nn.BatchNorm2d(48),
    )
    model, program = converted(model, (24, 13, 13), tmp_path)
    (conv,) = binary_convs(program)
    assert conv.attrs["groups"] == 12 and "dilation" not in conv.attrs
    agree(model, program, inputs((24, 13, 13)))


class Cell(nn.Module):
    """Two grouped binary convs in a row: the first's batch norm and sign become its threshold
    (a bits epilogue), the second is dilated (padding 4 with a 5x5 kernel), then a float head."""

    def __init__(self) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(24)
        self.grouped = QuantConv2d(24, 24, 3, stride=2, padding=1, groups=12, **BINARY)
        self.bn1 = nn.BatchNorm2d(24)
        self.dilated = QuantConv2d(24, 36, 5, padding=4, dilation=2, groups=3, **BINARY)
        self.bn2 = nn.BatchNorm2d(36)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(36, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.grouped(self.bn0(x)))
        return self.head(self.bn2(self.dilated(x)))


def test_a_cell_of_grouped_and_dilated_convs(tmp_path):
    model, program = converted(Cell(), (24, 16, 16), tmp_path)
    first, second = binary_convs(program)
    assert first.attrs["epilogue"] == "bits" and first.attrs["groups"] == 12
    assert second.attrs["groups"] == 3 and second.attrs["dilation"] == [2, 2]
    assert program.tensors[second.tensors["weight"]].shape == (36, 5, 5, 1)  # 8 channels per group
    agree(model, program, inputs((24, 16, 16)))


def test_plain_binary_convs_write_neither_attr(tmp_path):
    model = nn.Sequential(nn.BatchNorm2d(8), QuantConv2d(8, 8, 3, padding=1, **BINARY))
    _, program = converted(model, (8, 6, 6), tmp_path)
    (conv,) = binary_convs(program)
    assert "groups" not in conv.attrs and "dilation" not in conv.attrs


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            nn.Conv2d(4, 4, 3, dilation=2),
            r"dilation=\(2, 2\) is only supported on binarized "
            r"inputs \(binary_conv2d\), not on float ones",
        ),
        (
            QuantConv2d(4, 4, 3, dilation=(1, 2), weight_quantizer="ste_sign"),
            r"dilation=\(1, 2\) .* not on float ones",
        ),
        (
            QuantConv2d(
                4,
                4,
                3,
                dilation=2,
                input_quantizer={"name": "dorefa", "k_bit": 2},
                weight_quantizer="ste_sign",
            ),
            "not on multi-bit ones",
        ),
    ],
    ids=["float-conv", "binary-weights-float-input", "multi-bit-input"],
)
def test_dilation_off_binarized_inputs_is_refused_by_name(layer, message):
    with pytest.raises(ConversionError, match="'0' .*" + message):
        convert(nn.Sequential(layer).eval(), torch.zeros(1, 4, 9, 9))
