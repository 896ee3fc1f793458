"""Converted programs agree with the PyTorch model in eval mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import SmallConvBNN, agree
from helpers import settle, trained_mnist_mlp
from onebit import models
from onebit.convert import ConversionError, convert
from onebit.nn import QuantConv2d, QuantLinear


def test_trained_binary_mlp_agrees_on_every_mnist5k_test_image(tmp_path):
    model, data = trained_mnist_mlp()
    program = convert(model, torch.zeros(1, 1, 28, 28))
    assert [op.type for op in program.ops] == [
        "nchw_to_nhwc",
        "flatten",
        "dense",
        "binary_dense",
        "binary_dense",
        "binary_dense",
    ]
    # hidden layers emit packed bits (batch norm + sign folded into thresholds)
    assert [op.attrs.get("epilogue") for op in program.ops[2:]] == ["sign", "bits", "bits", "float"]
    agree(model, program, torch.from_numpy(data.x_test))


@pytest.mark.parametrize("seed", range(4), ids=lambda s: f"seed{s}")
def test_conv_bnn_with_both_paddings_stride_pool_and_residual_agrees(seed):
    torch.manual_seed(seed)
    model = settle(SmallConvBNN(), (1, 16, 16), seed)
    program = convert(model, torch.zeros(1, 1, 16, 16))
    types = [op.type for op in program.ops]
    assert "binary_maxpool2d" in types and types.count("binary_conv2d") == 3
    # the residual add runs inside the binary conv that feeds it (its post tail)
    tails = [step["step"] for op in program.ops for step in op.attrs.get("post", [])]
    assert "add" not in types and "add" in tails
    pads = {op.attrs["pad_value"] for op in program.ops if op.type == "binary_conv2d"}
    assert pads == {0.0, 1.0}
    agree(model, program, torch.randn(128, 1, 16, 16, generator=torch.Generator().manual_seed(9)))


def test_negative_batch_norm_scales_flip_the_comparison():
    torch.manual_seed(3)
    model = settle(models.create("binarynet-mlp", hidden=64, depth=2), (1, 28, 28))
    with torch.no_grad():
        model[2].weight[::2] *= -1  # half of the first hidden layer's scales negative
        model[4].weight[1::3] *= -1
    program = convert(model, torch.zeros(1, 1, 28, 28))
    flips = program.tensors[program.ops[3].tensors["flip"]]
    assert flips.any() and not flips.all()
    agree(model, program, torch.rand(300, 1, 28, 28))


@pytest.mark.parametrize(
    "layer_kwargs",
    [
        {"weight_quantizer": "magnitude_aware_sign", "input_quantizer": "ste_sign"},
        {"weight_quantizer": "ste_sign", "input_quantizer": "approx_sign", "alpha_scaling": True},
        {"weight_quantizer": "swish_sign", "input_quantizer": "ste_sign", "bias": True},
    ],
    ids=["magnitude-aware", "alpha-scaling", "bias"],
)
def test_scaled_and_biased_binary_layers_agree(layer_kwargs):
    torch.manual_seed(5)
    kwargs = {"bias": False, **layer_kwargs}
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 96),
        nn.BatchNorm1d(96),
        QuantLinear(96, 80, **kwargs),
        nn.BatchNorm1d(80),
        QuantLinear(80, 10, **kwargs),
    )
    model = settle(model, (1, 8, 8))
    program = convert(model, torch.zeros(1, 1, 8, 8))
    agree(model, program, torch.randn(200, 1, 8, 8), atol=1e-3)


def test_float_layers_relu_and_average_pool_agree():
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 1),
        nn.PReLU(8),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
        nn.Hardtanh(-0.5, 0.5),
    )
    model = settle(model, (3, 12, 12))
    program = convert(model, torch.zeros(1, 3, 12, 12))
    agree(model, program, torch.randn(16, 3, 12, 12))


def test_converting_leaves_the_training_mode_alone():
    model = models.create("binarynet-mlp", hidden=16, depth=1).train()
    convert(model, torch.zeros(1, 1, 28, 28))
    assert model.training


class WithTanh(nn.Module):
    def forward(self, x):
        return torch.tanh(x)


@pytest.mark.parametrize(
    ("model", "shape", "message"),
    [
        (
            nn.Sequential(
                QuantConv2d(
                    4,
                    4,
                    3,
                    dilation=2,
                    input_quantizer={"name": "dorefa", "k_bit": 2},
                    weight_quantizer="ste_sign",
                )
            ),
            (4, 6, 6),
            "'0' .*dilation=\\(2, 2\\) is only supported on binarized inputs",
        ),
        (
            nn.Sequential(nn.Flatten(), QuantLinear(16, 4, input_quantizer="magnitude_aware_sign")),
            (1, 4, 4),
            "'1' .*'magnitude_aware_sign' is not 1-bit",
        ),
        (
            nn.Sequential(
                QuantConv2d(
                    2,
                    2,
                    3,
                    input_quantizer={"name": "dorefa", "k_bit": 2},
                    weight_quantizer=None,
                )
            ),
            (2, 5, 5),
            "a multi-bit input needs binary or multi-bit weights",
        ),
        (nn.Sequential(nn.Conv2d(2, 2, 3), nn.Sigmoid()), (2, 5, 5), "'1' \\(Sigmoid\\)"),
        (WithTanh(), (4,), "operation 'tanh' \\(tanh\\) cannot be converted"),
    ],
    ids=["dilated-kbit-conv", "magnitude-inputs", "dorefa-inputs-float-weights", "sigmoid", "tanh"],
)
def test_unconvertible_layers_are_named(model, shape, message):
    with pytest.raises(ConversionError, match=message):
        convert(model.eval(), torch.zeros(2, *shape))


def test_example_input_must_be_a_batch():
    with pytest.raises(ConversionError, match="batch"):
        convert(models.create("float-mlp", hidden=8, depth=1), torch.zeros(28))


def test_onebit_convert_is_callable_at_the_top_level():
    import onebit

    model = models.create("binarynet-mlp", hidden=8, depth=1).eval()
    program = onebit.convert(model, torch.zeros(1, 1, 28, 28))
    agree(model, program, torch.rand(4, 1, 28, 28))


class FunctionalBlock(nn.Module):
    """Residual add, relu and flatten written as torch functions and tensor methods."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = QuantConv2d(
            4, 4, 3, padding=1, input_quantizer="ste_sign", weight_quantizer="ste_sign", bias=False
        )
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        y = torch.relu(torch.add(self.bn(self.conv(x)), x))
        y = y.add(x).relu()
        return self.fc(torch.flatten(y, 1)) + self.fc(y.flatten(1))


def test_functions_and_tensor_methods_convert():
    torch.manual_seed(4)
    model = settle(FunctionalBlock(), (4, 5, 5))
    program = convert(model, torch.zeros(1, 4, 5, 5))
    agree(model, program, torch.randn(10, 4, 5, 5))


def test_shift_batch_norm_folds_like_batch_norm():
    torch.manual_seed(6)
    model = models.create("binarynet-mlp", hidden=64, depth=2, norm="shift")
    model = settle(model, (1, 28, 28))
    program = convert(model, torch.zeros(1, 1, 28, 28))
    assert [op.attrs.get("epilogue") for op in program.ops[2:]] == ["sign", "bits", "float"]
    agree(model, program, torch.rand(300, 1, 28, 28))


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Hardtanh], ids=["relu", "hardtanh"])
def test_an_activation_between_flatten_and_linear_keeps_the_column_order(activation):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), activation(), nn.Linear(144, 5))
    program = convert(model, torch.zeros(1, 3, 8, 8))
    agree(model, program, torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(1)))


class _PerFeatureAfterFlatten(nn.Module):
    def __init__(self, per_feature: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.flatten = nn.Flatten()
        self.per_feature = per_feature
        self.fc = nn.Linear(60, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.per_feature(self.flatten(self.conv(x))))


def _random_batch_norm_1d(features: int) -> nn.BatchNorm1d:
    bn = nn.BatchNorm1d(features).eval()
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(features, generator=generator))
        bn.running_var.copy_(torch.rand(features, generator=generator) + 0.5)
        bn.weight.copy_(torch.randn(features, generator=generator))
        bn.bias.copy_(torch.randn(features, generator=generator))
    return bn


def _random_prelu(features: int) -> nn.PReLU:
    prelu = nn.PReLU(features)
    with torch.no_grad():
        prelu.weight.copy_(torch.rand(features, generator=torch.Generator().manual_seed(6)))
    return prelu


@pytest.mark.parametrize("make", [_random_batch_norm_1d, _random_prelu], ids=["bn1d", "prelu"])
def test_per_feature_vectors_after_flatten_follow_the_runtime_order(make):
    torch.manual_seed(0)
    model = _PerFeatureAfterFlatten(make(60)).eval()
    program = convert(model, torch.zeros(1, 3, 3, 5))
    agree(model, program, torch.randn(16, 3, 3, 5, generator=torch.Generator().manual_seed(2)))


def test_a_sign_of_a_flattened_map_after_an_elementwise_op_is_refused():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 1),
        nn.Flatten(),
        nn.Hardtanh(),
        QuantLinear(60, 7, input_quantizer="ste_sign", weight_quantizer="ste_sign"),
    )
    with pytest.raises(ConversionError, match="put the activation before the Flatten"):
        convert(model, torch.zeros(1, 3, 3, 5))
