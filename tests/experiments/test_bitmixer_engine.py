"""The Bit-Mixer experiment's engine figures: one switched program run at each setting computes
the model's predictions there, from packed weights no larger than the widest fixed program's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import settle
from onebit import data as datasets
from onebit import models
from onebit.experiments.bitmixer_engine import INPUT_GRIDS, fixed_figures, switched_figures

SETTINGS = {"uniform 2": (2, 2, 2), "mixed 4-3-2": (4, 3, 2), "uniform 4": (4, 4, 4)}


@pytest.fixture(scope="module")
def digits():
    splits = datasets.load("digits")
    return splits.x_test[:120], splits.y_test[:120]


def torch_accuracy(model, bits, x, y) -> float:
    model.set_bits(list(bits))
    with torch.no_grad():
        predicted = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((predicted == y).mean())


def test_the_switched_program_classifies_as_the_model_at_each_setting(digits):
    x, y = digits
    torch.manual_seed(0)
    model = settle(models.create("bitmixer-mlp", input_shape=(1, 8, 8), hidden=24), (1, 8, 8))
    figures = switched_figures(model, SETTINGS, x, y, INPUT_GRIDS["digits"])
    assert set(figures["settings"]) == set(SETTINGS)
    for label, bits in SETTINGS.items():
        row = figures["settings"][label]
        assert row["latency_ms"] > 0
        # the epilogues round floats in another order than torch: a sample may flip, not more
        assert abs(row["engine_test"] - torch_accuracy(model, bits, x, y)) <= 1 / len(y)
    for bits in SETTINGS.values():
        fixed = settle(
            models.create("bitmixer-mlp", input_shape=(1, 8, 8), hidden=24, train_bits=bits),
            (1, 8, 8),
        )
        row = fixed_figures(fixed, x, y, INPUT_GRIDS["digits"])
        assert abs(row["engine_test"] - torch_accuracy(fixed, bits, x, y)) <= 1 / len(y)
        if bits == (4, 4, 4):  # the weights are stored once, at the widest width
            assert figures["packed_bytes"] == row["packed_bytes"]


def test_the_grids_hold_the_bundled_inputs():
    for name in ("mnist5k", "digits"):  # the bundled ones (mnist reads files, as mnist5k)
        scale, zero_point = INPUT_GRIDS[name]
        x = datasets.load(name).x_test
        codes = np.rint(x * np.float32(1 / scale)) + zero_point  # as quantize_pack rounds
        assert codes.min() >= 0 and codes.max() <= 255
        np.testing.assert_allclose((codes - zero_point) * scale, x, rtol=0, atol=1e-6)
