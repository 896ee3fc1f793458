"""mcu-bnn: the zoo's binary CNN for microcontrollers."""

from __future__ import annotations

import pytest
import torch

from helpers import settle
from onebit import OnebitError, models
from onebit.convert import convert
from onebit.export import to_c
from onebit.nn import QuantConv2d, QuantLinear


def test_every_layer_is_binary_but_the_first_layers_input():
    model = models.create("mcu-bnn")
    convs = [m for m in model.modules() if isinstance(m, QuantConv2d)]
    dense = [m for m in model.modules() if isinstance(m, QuantLinear)]
    assert [c.out_channels for c in convs] == [32, 64, 128] and len(dense) == 1
    assert convs[0].input_quantizer is None
    assert all(c.input_quantizer is not None for c in convs[1:] + dense)
    assert all(m.weight_quantizer is not None for m in convs + dense)


def test_pools_follow_batch_norm_so_the_program_pools_packed_bits():
    torch.manual_seed(0)
    model = settle(models.create("mcu-bnn"), (1, 28, 28))
    program = convert(model, torch.zeros(1, 1, 28, 28))
    types = [op.type for op in program.ops]
    assert types.count("binary_maxpool2d") == 3 and "maxpool2d" not in types
    # only the stem sees floats, and it emits packed signs: no float map is ever stored
    assert [op.attrs.get("epilogue") for op in program.ops if op.type == "conv2d"] == ["sign"]
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        expected = model(x).numpy()
    torch.testing.assert_close(torch.from_numpy(program(x.numpy())), torch.from_numpy(expected))


def test_exported_it_fits_a_small_microcontroller(tmp_path):
    torch.manual_seed(0)
    program = convert(settle(models.create("mcu-bnn"), (1, 28, 28)), torch.zeros(1, 1, 28, 28))
    export = to_c(program, tmp_path)
    assert export.const_bytes < 20 * 1024  # the budget: 64 KB of flash with the code
    assert export.arena_bytes < 8 * 1024  # and 32 KB of RAM


def test_the_float_twin_has_the_same_layers_with_hardtanh_for_sign():
    twin = models.create("mcu-bnn", binary=False)
    assert not any(
        m.weight_quantizer for m in twin.modules() if isinstance(m, QuantConv2d | QuantLinear)
    )
    assert sum(isinstance(m, torch.nn.Hardtanh) for m in twin.modules()) == 3
    assert twin(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"channels": ()}, "channels must be positive"), ({"input_size": 4}, "input_size")],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(OnebitError, match=message):
        models.create("mcu-bnn", **kwargs)
