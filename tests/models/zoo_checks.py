"""Checks every image model of the zoo shares: counting, layout, float twin, conversion."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from helpers import one_thread
from onebit import models
from onebit.convert import convert
from onebit.models._common import parameter_count
from onebit.nn import QuantizedLayer, binary_parameters
from onebit.quantizers import Quantizer


def count_on_meta(name: str, batch_norm_statistics: bool = False, **kwargs) -> int:
    """Parameter count of a zoo entry built on the meta device (no memory, no initialization)."""
    with torch.device("meta"):
        model = models.create(name, **kwargs)
    return parameter_count(model, batch_norm_statistics=batch_norm_statistics)


def output_shape_on_meta(name: str, batch: int = 2, **kwargs) -> tuple[int, ...]:
    """Output shape of a zoo entry's forward pass (train mode), computed on the meta device."""
    with torch.device("meta"):
        model = models.create(name, **kwargs)
        shape = model.input_shape
        return tuple(model(torch.empty(batch, *shape)).shape)


def weight_names(model: nn.Module, kinds: tuple[type, ...] = (nn.Conv2d, nn.Linear)) -> set[str]:
    """Qualified names of the weights of every layer of ``kinds`` in ``model``."""
    return {f"{name}.weight" for name, m in model.named_modules() if isinstance(m, kinds)}


def assert_float_twin(binary: nn.Module, twin: nn.Module) -> None:
    """The twin has the binary network's parameters and no quantizer anywhere."""
    assert not twin.binary and binary.binary
    assert not any(isinstance(m, Quantizer) for m in twin.modules())
    for m in twin.modules():
        if isinstance(m, QuantizedLayer):
            assert m.input_quantizer is None and m.weight_quantizer is None
            assert not m.alpha_scaling
    assert list(binary_parameters(twin)) == []
    # the same parameters in the same order (names may differ: the twin has activation modules)
    assert [p.shape for p in twin.parameters()] == [p.shape for p in binary.parameters()]


def assert_converted_agrees(model: nn.Module, samples: int = 12, seed: int = 1, atol=1e-4):
    """Convert ``model`` (eval mode) and check the program's classes and logits on random
    inputs against the model's; returns the program."""
    shape = model.input_shape
    x = torch.randn(samples, *shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad(), one_thread():
        program = convert(model, torch.zeros(1, *shape))
        expected = model(x).numpy()
    got = program(x.numpy())
    assert got.shape == expected.shape == (samples, model.num_classes)
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=atol)
    return program
