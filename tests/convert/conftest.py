"""Conversion test helpers: agreement with the torch model, the small conv BNN fixture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import SmallConvBNN, settle


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


__all__ = ["SmallConvBNN", "agree", "conv_bnn"]
