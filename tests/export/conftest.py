"""The C export tests' trained MLP (the conv BNN with exact float sums is in helpers.py)."""

from __future__ import annotations

import pytest
import torch

from helpers import trained_mnist_mlp
from onebit.convert import convert


@pytest.fixture(scope="session")
def trained_mlp():
    """binarynet-mlp trained two epochs on mnist5k, converted, and its test split."""
    model, data = trained_mnist_mlp()
    return convert(model, torch.zeros(1, 1, 28, 28)), data
