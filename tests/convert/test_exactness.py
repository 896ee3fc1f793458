"""Exactness measured, not assumed: every sign bit of every binarized activation of converted
QuickNet and Bi-Real Net 18 at 224x224, with batch-norm statistics measured on images, against
the sign PyTorch takes there; and a binary-input -> threshold layer, bit for bit.

Each program sign map is compared with torch's and then replaced by it (``compare_signs`` with
``teacher``), so a differing bit is counted where it arises, not again in every layer it reaches.
The float layers before a sign (the stems, the 1x1 convolutions, the residual stream) sum in
another order than torch's oneDNN kernels (and torch's CPU batch norm fuses x * alpha + beta into
one FMA), so their values differ from torch's by a few ulps (at most 1.7e-5 of a layer's mean
|value| measured), and a sign can differ only where the value is that close to 0. Measured over
5 seeds x 2 images (``python tests/convert/exactness.py``): QuickNet 1 bit of 22,579,200
(4.4e-8, at |value| = 1.4e-7 of the layer's mean), Bi-Real Net 18 1 of 25,213,440 (4.0e-8, at a
value torch computes as exactly 0). Without the teacher, that one bit spreads to about 2e4 bits of
the layers after it and moves the logits by up to 0.3 (the classes stay the same).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from exactness import compare_signs, smooth_images, trained_like
from torch import nn

from conftest import SmallConvBNN
from helpers import settle
from onebit import models
from onebit.convert import convert
from onebit.nn import QuantConv2d, QuantLinear

# a differing bit must sit this close to 0 (relative to the layer's mean |pre-activation|):
# a few float32 roundings of the sums before it
NEAR_ZERO = 1e-5
MAX_RATE = 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quicknet", "birealnet18"])
def test_zoo_signs_and_logits_match_pytorch_at_224(name):
    torch.manual_seed(0)
    model = models.create(name, num_classes=10, input_size=224)
    images = smooth_images(5, 224, seed=0)
    trained_like(model, images[:3], seed=1)
    program = convert(model, torch.zeros(1, 3, 224, 224))
    layers, logits, expected = compare_signs(model, program, images[3:])
    assert len(layers) == 16  # one sign before each binary conv
    bits = sum(layer.bits for layer in layers)
    differ = sum(layer.differ for layer in layers)
    assert differ / bits <= MAX_RATE, [(i, lay.differ) for i, lay in enumerate(layers)]
    assert all(near <= NEAR_ZERO for layer in layers for near in layer.near)
    np.testing.assert_array_equal(logits.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("seed", range(2), ids=lambda s: f"seed{s}")
def test_thresholds_of_binary_input_layers_match_pytorch_bit_for_bit(seed):
    """A binary conv's sum of ±1 products is an exact integer in torch as in the engine, and the
    thresholds reproduce torch's float32 batch norm + sign on every integer: no bit may differ."""
    torch.manual_seed(seed)
    model = settle(SmallConvBNN(), (1, 16, 16), seed)
    program = convert(model, torch.zeros(1, 1, 16, 16))
    x = torch.randn(64, 1, 16, 16, generator=torch.Generator().manual_seed(seed + 10))
    layers, _, _ = compare_signs(model, program, x)
    thresholded = [layer for layer in layers if layer.epilogue == "bits"]
    assert len(thresholded) == 2  # conv2 and conv3 (conv1 reaches its sign through an add)
    assert sum(layer.differ for layer in thresholded) == 0


def test_magnitude_aware_thresholds_follow_the_models_float32_scale():
    """With ``magnitude_aware_sign`` weights the model sums ``±mean |w|`` in float32 (in its
    kernel's order); the thresholds use that float32 mean, so a bit can differ only where the
    order of that sum matters: within a few ulps of 0. Measured: none in 5 million bits."""
    torch.manual_seed(0)
    binary = {"input_quantizer": "ste_sign", "weight_quantizer": "magnitude_aware_sign"}
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        QuantConv2d(64, 128, 3, padding=1, bias=False, **binary),
        nn.BatchNorm2d(128),
        nn.Flatten(),
        QuantLinear(128 * 8 * 8, 256, bias=False, **binary),
        nn.BatchNorm1d(256),
        QuantLinear(256, 10, **binary),
    )
    model = settle(model, (3, 8, 8))
    program = convert(model, torch.zeros(1, 3, 8, 8))
    x = torch.randn(128, 3, 8, 8, generator=torch.Generator().manual_seed(10))
    layers, _, _ = compare_signs(model, program, x)
    assert [layer.epilogue for layer in layers] == ["sign", "bits", "bits"]
    bits = sum(layer.bits for layer in layers)
    assert sum(layer.differ for layer in layers) / bits <= MAX_RATE
    assert all(near <= NEAR_ZERO for layer in layers for near in layer.near)
