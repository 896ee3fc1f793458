"""The C export tests' trained MLP (the conv BNN with exact float sums is in helpers.py)."""

from __future__ import annotations

import pytest
import torch

from onebit.convert import convert


@pytest.fixture(scope="session")
def trained_mlp():
    """binarynet-mlp trained two epochs on mnist5k, converted, and its test split."""
    from onebit.data import load
    from onebit.train import TrainConfig, fit

    data = load("mnist5k")
    config = TrainConfig(
        model="binarynet-mlp",
        data="mnist5k",
        model_kwargs={"hidden": 256},
        epochs=2,
        seed=1,
        device="cpu",
        progress=False,
    )
    model = fit(config, data).model
    return convert(model, torch.zeros(1, 1, 28, 28)), data
