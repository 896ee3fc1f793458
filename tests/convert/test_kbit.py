"""k-bit layers (dorefa, lsq) and the 8-bit input option convert to bit-serial ops: the
integer accumulators are exact, and whole models agree with torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import settle
from onebit import models
from onebit.convert import ConversionError, convert
from onebit.nn import QuantConv2d, QuantLinear
from onebit.quantizers import LSQ

QUANTIZER_PAIRS = {
    "dorefa-a2-w2": (
        {"name": "dorefa", "k_bit": 2},
        {"name": "dorefa", "k_bit": 2, "mode": "weights"},
    ),
    "dorefa-a4-w1": (
        {"name": "dorefa", "k_bit": 4},
        {"name": "dorefa", "k_bit": 1, "mode": "weights"},
    ),
    "dorefa-a8-w3": (
        {"name": "dorefa", "k_bit": 8},
        {"name": "dorefa", "k_bit": 3, "mode": "weights"},
    ),
    "lsq-a2-w2": ({"name": "lsq", "bits": 2}, {"name": "lsq", "bits": 2, "mode": "weights"}),
    "lsq-a4s-w4": (
        {"name": "lsq", "bits": 4, "signed": True},
        {"name": "lsq", "bits": 4, "mode": "weights"},
    ),
    "lsq-a3-sign": ({"name": "lsq", "bits": 3}, "ste_sign"),
    "dorefa-a1-sign": ({"name": "dorefa", "k_bit": 1}, "ste_sign"),
}


def close_outputs(model: nn.Module, program, x: torch.Tensor, rate: float = 0.98) -> None:
    """Outputs within float32 rounding for almost every sample: a k-bit activation whose
    pre-activation lies within rounding of a code boundary may round the other way."""
    with torch.no_grad():
        expected = model(x).numpy()
    got = program(x.numpy())
    assert got.shape == expected.shape
    scale = np.abs(expected).max() + 1e-6
    close = np.all(np.abs(got - expected) <= 1e-4 * scale, axis=1)
    assert close.mean() >= rate, f"{close.mean():.3f} of samples within rounding"
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).mean() >= rate


def trained_steps(model: nn.Module, shape: tuple[int, ...], seed: int) -> nn.Module:
    """LSQ steps initialized by a training batch, then batch norm statistics set (``settle``)."""
    generator = torch.Generator().manual_seed(seed)
    model.train()
    model(torch.rand(16, *shape, generator=generator))
    return settle(model, shape, seed)


@pytest.mark.parametrize("pair", list(QUANTIZER_PAIRS), ids=str)
def test_kbit_mlp_lowers_to_bitserial_dense_layers_and_agrees(pair: str) -> None:
    torch.manual_seed(0)
    act, weight = QUANTIZER_PAIRS[pair]
    model = models.create(
        "binarynet-mlp", hidden=96, depth=2, input_quantizer=act, weight_quantizer=weight
    )
    model = trained_steps(model, (1, 28, 28), 1)
    program = convert(model, torch.zeros(1, 1, 28, 28))
    types = [op.type for op in program.ops]
    assert types.count("kbit_dense") == 2 and types.count("quantize_pack") == 2
    close_outputs(
        model, program, torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    )


@pytest.mark.parametrize("pair", ["dorefa-a2-w2", "lsq-a4s-w4", "lsq-a3-sign"], ids=str)
def test_kbit_conv_net_with_padding_stride_and_pool_agrees(pair: str) -> None:
    torch.manual_seed(1)
    act, weight = QUANTIZER_PAIRS[pair]
    model = models.create(
        "mcu-bnn",
        input_size=16,
        in_channels=1,
        num_classes=10,
        channels=(16, 24, 40),
        input_quantizer=act,
        weight_quantizer=weight,
    )
    model = trained_steps(model, (1, 16, 16), 3)
    program = convert(model, torch.zeros(1, 1, 16, 16))
    types = [op.type for op in program.ops]
    assert types.count("kbit_conv2d") == 2 and "kbit_dense" in types
    close_outputs(
        model, program, torch.rand(128, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    )


def lsq_integers(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The integer values of an LSQ layer's quantized input and weight (its quantizers' own
    outputs divided by their steps)."""
    with torch.no_grad():
        xq = layer.input_quantizer(x) / layer.input_quantizer.step
        wq = layer.weight_quantizer(layer.weight) / layer.weight_quantizer.step
    return torch.round(xq).long(), torch.round(wq).long()


def test_the_bitserial_accumulator_is_exact() -> None:
    """A lone LSQ layer (4-bit unsigned input, 3-bit signed weights, no bias): the program's
    output is the exact integer dot product times the two steps, rounded once."""
    torch.manual_seed(5)
    layer = QuantLinear(
        300,
        17,
        bias=False,
        weight_clip=None,
        input_quantizer=LSQ(4),
        weight_quantizer=LSQ(3, mode="weights"),
    )
    with torch.no_grad():
        layer.input_quantizer.step.fill_(0.125)
        layer.weight_quantizer.step.fill_(0.015625)
        layer.weight.uniform_(-0.06, 0.06)
    layer.eval()
    x = torch.rand(64, 300) * 2.5
    program = convert(nn.Sequential(layer).eval(), torch.zeros(1, 300))
    x_int, w_int = lsq_integers(layer, x)
    exact = (x_int @ w_int.T).numpy()
    got = program(x.numpy())
    expected = (exact * np.float32(0.125 * 0.015625)).astype(np.float32)
    np.testing.assert_array_equal(got, expected)
    with torch.no_grad():
        np.testing.assert_array_equal(got, layer(x).numpy())  # power-of-two steps: exact in torch


def test_conv_padding_is_the_zero_code_of_a_signed_input() -> None:
    """Signed LSQ activations: zero is the code 2^(b-1), and the border is padded with it."""
    torch.manual_seed(6)
    layer = QuantConv2d(
        5,
        7,
        3,
        padding=1,
        stride=2,
        bias=False,
        weight_clip=None,
        input_quantizer=LSQ(3, signed=True),
        weight_quantizer=LSQ(2, mode="weights"),
    )
    with torch.no_grad():
        layer.input_quantizer.step.fill_(0.25)
        layer.weight_quantizer.step.fill_(0.5)
    layer.eval()
    program = convert(nn.Sequential(layer).eval(), torch.zeros(1, 5, 9, 9))
    conv = next(op for op in program.ops if op.type == "kbit_conv2d")
    assert conv.attrs["pad_code"] == 4
    x = torch.randn(3, 5, 9, 9)
    with torch.no_grad():
        np.testing.assert_array_equal(program(x.numpy()), layer(x).numpy())


def test_the_8bit_input_option_makes_the_first_layer_integer_and_agrees_on_grid_inputs() -> None:
    torch.manual_seed(7)
    model = settle(models.create("binarynet-mlp", hidden=128, depth=2), (1, 28, 28), 7)
    float_first = convert(model, torch.zeros(1, 1, 28, 28))
    integer_first = convert(model, torch.zeros(1, 1, 28, 28), input_quantization=(1 / 255, 0))
    assert [op.type for op in float_first.ops][:3] == ["nchw_to_nhwc", "flatten", "dense"]
    types = [op.type for op in integer_first.ops]
    assert types[:4] == ["nchw_to_nhwc", "flatten", "quantize_pack", "kbit_dense"]
    first = integer_first.ops[3]
    assert first.attrs["input_plane_weights"] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert first.attrs["weight_plane_weights"] == [-2]
    pixels = torch.randint(0, 256, (300, 1, 28, 28), generator=torch.Generator().manual_seed(8))
    x = (pixels.float() / 255).numpy()
    got, reference = integer_first(x), float_first(x)
    np.testing.assert_array_equal(got.argmax(axis=1), reference.argmax(axis=1))
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-4)


def test_the_8bit_input_option_with_a_zero_point_pads_with_it() -> None:
    """Inputs ``(q - 128) / 64``: the padded border is the code 128, whose value is 0."""
    torch.manual_seed(9)
    layer = QuantConv2d(2, 4, 3, padding=1, bias=False, weight_quantizer="ste_sign")
    layer.eval()
    program = convert(
        nn.Sequential(layer).eval(), torch.zeros(1, 2, 6, 6), input_quantization=(1 / 64, 128)
    )
    conv = next(op for op in program.ops if op.type == "kbit_conv2d")
    assert conv.attrs["pad_code"] == 128 and conv.attrs["input_offset"] == -128
    q = torch.randint(0, 256, (3, 2, 6, 6), generator=torch.Generator().manual_seed(1))
    x = (q.float() - 128) / 64  # exact in float32
    with torch.no_grad():
        np.testing.assert_array_equal(program(x.numpy()), layer(x).numpy())


@pytest.mark.parametrize(
    ("scale", "zero_point", "message"),
    [
        (0.0, 0, "input scale must be a positive"),
        (1.0, 256, "zero point must be an integer"),
        (float("nan"), 0, "input scale"),
        (1.0, 1.5, "zero point"),
    ],
)
def test_bad_input_quantization_is_refused(scale, zero_point, message) -> None:
    model = models.create("binarynet-mlp", hidden=32, depth=1).eval()
    with pytest.raises(ConversionError, match=message):
        convert(model, torch.zeros(1, 1, 28, 28), input_quantization=(scale, zero_point))


def test_refusals_name_the_layer_and_the_reason() -> None:
    kbit_input_float_weights = nn.Sequential(
        nn.Flatten(), QuantLinear(12, 3, input_quantizer=LSQ(2))
    )
    with pytest.raises(ConversionError, match="multi-bit input needs binary or multi-bit weights"):
        convert(kbit_input_float_weights, torch.zeros(1, 12))
    sign_input_kbit_weights = QuantLinear(
        12, 3, input_quantizer="ste_sign", weight_quantizer=LSQ(2, mode="weights")
    )
    with pytest.raises(ConversionError, match="binary inputs need binary weights"):
        convert(nn.Sequential(sign_input_kbit_weights), torch.zeros(1, 12))
    grouped = QuantConv2d(4, 4, 3, groups=2, input_quantizer=LSQ(2), weight_quantizer="ste_sign")
    with pytest.raises(ConversionError, match="groups=2 on a multi-bit input"):
        convert(nn.Sequential(grouped), torch.zeros(1, 4, 5, 5))
    one_padded = QuantConv2d(
        4, 4, 3, padding=1, pad_value=1.0, input_quantizer=LSQ(2), weight_quantizer="ste_sign"
    )
    with pytest.raises(ConversionError, match=r"pad_value=1\.0 on a multi-bit input"):
        convert(nn.Sequential(one_padded), torch.zeros(1, 4, 5, 5))


def test_an_accumulator_that_could_pass_int32_is_refused() -> None:
    wide = QuantLinear(
        70_000,
        1,
        bias=False,
        weight_clip=None,
        input_quantizer=LSQ(8),
        weight_quantizer=LSQ(8, mode="weights"),
    )
    with pytest.raises(ConversionError, match="past the engine's int32 accumulator"):
        convert(nn.Sequential(wide).eval(), torch.zeros(1, 70_000))


def test_float_input_with_kbit_weights_runs_the_models_own_float_weights() -> None:
    """No input quantizer: a float layer whose weights are the quantizer's output."""
    torch.manual_seed(2)
    layer = QuantLinear(20, 6, weight_quantizer={"name": "dorefa", "k_bit": 3, "mode": "weights"})
    program = convert(nn.Sequential(layer).eval(), torch.zeros(1, 20))
    assert [op.type for op in program.ops] == ["dense"]
    x = torch.randn(5, 20)
    with torch.no_grad():
        np.testing.assert_allclose(program(x.numpy()), layer(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bits", [2, 4, (2, 3, 4), (4, 2, 3)], ids=str)
def test_a_bit_mixer_model_converts_at_its_current_setting(bits) -> None:
    """Nested weights at the current width (the top planes), that width's activation step and
    the batch norm of each transition: the program computes the model at that setting."""
    torch.manual_seed(11)
    model = models.create("bitmixer-mlp", hidden=48, depth=2)
    model.train()
    for _ in range(6):  # steps, and the statistics of every transition
        model(torch.rand(32, 1, 28, 28))
    model.set_bits(bits)
    model.eval()
    pixels = torch.randint(0, 256, (200, 1, 28, 28), generator=torch.Generator().manual_seed(3))
    x = pixels.float() / 255
    program = convert(model, torch.zeros(1, 1, 28, 28), input_quantization=(1 / 255, 0))
    layers = [op for op in program.ops if op.type == "kbit_dense"]
    widths = (bits,) * 3 if isinstance(bits, int) else bits
    assert [len(op.attrs["weight_plane_weights"]) for op in layers] == list(widths)
    assert [len(op.attrs["input_plane_weights"]) for op in layers] == [8, *widths[1:]]
    close_outputs(model, program, x)
