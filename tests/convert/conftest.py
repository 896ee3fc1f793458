"""Models for conversion tests: a small conv BNN with every feature the engine must run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import settle
from onebit.nn import QuantConv2d, QuantLinear


class SmallConvBNN(nn.Module):
    """Float stem, binary convs with one- and zero-padding, stride 2, max-pool, a residual
    shortcut around a binary conv (Bi-Real style), global average pool and a binary classifier."""

    def __init__(self, channels: int = 40, num_classes: int = 10) -> None:
        super().__init__()
        binary = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}
        self.stem = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(channels)
        self.conv1 = QuantConv2d(channels, channels, 3, padding=1, pad_value=1.0, **binary)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = QuantConv2d(channels, 70, 3, stride=2, padding=1, pad_value=0.0, **binary)
        self.bn2 = nn.BatchNorm2d(70)
        self.conv3 = QuantConv2d(70, 70, 1, **binary)
        self.bn3 = nn.BatchNorm2d(70)
        self.flatten = nn.Flatten()
        self.fc = QuantLinear(70 * 4 * 4, num_classes, **binary)
        self.fc_bn = nn.BatchNorm1d(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_bn(self.stem(x))
        x = self.bn1(self.conv1(x)) + x  # residual: float shortcut around a binary conv
        x = self.pool(x)
        x = self.bn2(self.conv2(x))
        x = self.bn3(self.conv3(x))
        return self.fc_bn(self.fc(self.flatten(x)))


def agree(model: nn.Module, program, x: torch.Tensor, atol: float = 1e-4) -> None:
    """The program's output equals the model's (eval mode): same classes, close values."""
    with torch.no_grad():
        expected = model(x).numpy()
    got = program(x.numpy())
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)


@pytest.fixture
def conv_bnn() -> nn.Module:
    torch.manual_seed(0)
    return settle(SmallConvBNN(), (1, 16, 16))
