"""kws-bnn: the zoo's binary keyword spotter, on a non-square log-mel input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from zoo_checks import assert_converted_agrees, assert_float_twin

from helpers import settle
from onebit import OnebitError, models
from onebit.audio import FRONTEND
from onebit.export import to_c
from onebit.export.host import build_host, run_host
from onebit.nn import QuantConv2d, QuantLinear
from onebit.summary import summarize

SHAPE = (1, *FRONTEND.output_shape())


def test_it_reads_the_frontends_spectrogram_and_every_layer_but_the_first_input_is_binary():
    model = models.create("kws-bnn")
    assert model.input_shape == SHAPE == (1, 40, 49) and model.num_classes == 10
    convs = [m for m in model.modules() if isinstance(m, QuantConv2d)]
    dense = [m for m in model.modules() if isinstance(m, QuantLinear)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 128] and len(dense) == 1
    assert convs[0].input_quantizer is None
    assert all(c.input_quantizer is not None for c in convs[1:] + dense)
    assert all(m.weight_quantizer is not None for m in convs + dense)


def test_its_packed_weights_fit_the_64_kb_budget():
    counts = summarize(models.create("kws-bnn"))
    assert counts.packed_bytes < 36_000  # about 31 KB of 1-bit weights and the batch norms
    assert counts.float32_bytes > 25 * counts.packed_bytes


def test_the_converted_program_agrees_with_the_model_and_pools_packed_bits():
    torch.manual_seed(0)
    model = settle(models.create("kws-bnn"), SHAPE)
    program = assert_converted_agrees(model)
    types = [op.type for op in program.ops]
    assert types.count("binary_maxpool2d") == 4 and "maxpool2d" not in types
    assert [op.attrs.get("epilogue") for op in program.ops if op.type == "conv2d"] == ["sign"]


def test_exported_to_c_it_fits_a_microcontroller_and_computes_what_the_engine_does(tmp_path):
    torch.manual_seed(0)
    model = settle(models.create("kws-bnn"), SHAPE)
    program = assert_converted_agrees(model, samples=2)
    export = to_c(program, tmp_path / "out", name="kws")
    assert export.const_bytes < 40 * 1024  # the weights: 64 KB of flash leaves room for code
    assert export.arena_bytes < 32 * 1024
    assert export.input_size == 40 * 49 and export.output_size == 10
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: the exported C is not compiled here")
    x = np.random.default_rng(0).random((3, *SHAPE), dtype=np.float32)
    got = run_host(build_host(export, tmp_path, "gcc"), x, export.output_size)
    np.testing.assert_allclose(got, program(x), rtol=1e-5, atol=1e-4)


def test_the_float_twin_has_the_same_layers_and_converts():
    binary, twin = models.create("kws-bnn"), models.create("kws-bnn", binary=False)
    assert_float_twin(binary, twin)
    assert sum(isinstance(m, torch.nn.Hardtanh) for m in twin.modules()) == 4
    torch.manual_seed(1)
    assert_converted_agrees(settle(twin, SHAPE), atol=1e-3)


def test_another_input_shape_and_class_count_fit_through_data_kwargs():
    kwargs = models.data_kwargs("kws-bnn", (1, 32, 98), 12)
    assert kwargs == {"input_shape": (1, 32, 98), "num_classes": 12}
    model = models.create("kws-bnn", **kwargs)
    assert model(torch.zeros(2, 1, 32, 98)).shape == (2, 12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": ()}, "channels must be positive"),
        ({"channels": (8, 0)}, "channels must be positive"),
        ({"input_shape": (1, 40, 8)}, "both sides >= 16"),
        ({"input_shape": (40, 49)}, "input_shape must be"),
        ({"num_classes": 1}, "num_classes"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(OnebitError, match=message):
        models.create("kws-bnn", **kwargs)
