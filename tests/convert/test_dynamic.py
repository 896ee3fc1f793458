"""Converting DyBNN's layers: the hyper function becomes global_avgpool -> dense (+ ReLU tail) ->
dense, DySign a dynamic_sign_pack whose bits binary layers read, DyPReLU a dynamic_prelu; the
program agrees with the model, bit for bit where the threshold branch is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import agree
from helpers import one_thread, settle
from onebit.convert import ConversionError, convert
from onebit.nn import DyPReLU, DySign, HyperFunction, QuantConv2d
from onebit.runtime import Program
from onebit.runtime.reference import bitpack


def randomize(model: nn.Module, seed: int, std: float = 0.3) -> nn.Module:
    """Random weights in every hyper function's last linear map (zero at initialization)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for hyper in (m for m in model.modules() if isinstance(m, HyperFunction)):
            for p in hyper.expand.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * std)
    return model


class DynamicNet(nn.Module):
    """stem -> BN -> DySign -> binary conv -> BN -> DyPReLU -> pool -> FC, 70 channels (two
    words per pixel)."""

    def __init__(self, channels: int = 70) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(channels)
        self.sign = DySign(channels, "approx_sign")
        self.conv = QuantConv2d(
            channels,
            channels,
            3,
            padding=1,
            bias=False,
            input_quantizer=None,
            weight_quantizer="ste_sign",
        )
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = DyPReLU(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv(self.sign(self.bn0(self.stem(x))))))
        return self.fc(self.pool(y).flatten(1))


def truncated(program: Program, op_type: str) -> Program:
    """The program up to (and returning) the output of its first ``op_type`` op."""
    ops = program.graph["ops"]
    last = next(i for i, op in enumerate(ops) if op["type"] == op_type)
    kept = ops[: last + 1]
    used = {name for op in kept for name in op.get("tensors", {}).values()}
    graph = {**program.graph, "ops": kept, "output": kept[-1]["output"]}
    return Program(graph, {k: v for k, v in program.tensors.items() if k in used})


def nhwc_signs(y: torch.Tensor) -> np.ndarray:
    """Packed words of a (N, C, H, W) tensor of ±1, in the engine's NHWC layout."""
    return bitpack(y.permute(0, 2, 3, 1).contiguous().numpy())


def test_lowers_to_the_branch_ops_and_the_dynamic_ops() -> None:
    torch.manual_seed(0)
    model = randomize(settle(DynamicNet(), (1, 9, 9)), 0)
    program = convert(model, torch.zeros(1, 1, 9, 9))
    kinds = [op.type for op in program.ops]
    branch = ["global_avgpool", "dense", "dense"]
    assert kinds == [
        "nchw_to_nhwc",
        "conv2d",
        *branch,
        "dynamic_sign_pack",
        "binary_conv2d",
        *branch,
        "dynamic_prelu",
        "global_avgpool",
        "dense",
    ]
    dense = [op for op in program.graph["ops"] if op["type"] == "dense"]
    assert [op["attrs"].get("post") for op in dense[:4]] == [[{"step": "relu"}], None] * 2
    assert [op["attrs"]["out_features"] for op in dense] == [17, 70, 17, 140, 10]
    sign = next(op for op in program.graph["ops"] if op["type"] == "dynamic_sign_pack")
    conv = next(op for op in program.graph["ops"] if op["type"] == "binary_conv2d")
    assert conv["inputs"] == [sign["output"]]  # the binary conv reads the dynamic bits


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_settled_model_agrees_with_torch(seed: int) -> None:
    torch.manual_seed(seed)
    model = randomize(settle(DynamicNet(), (1, 9, 9), seed=seed), seed)
    x = torch.randn(32, 1, 9, 9, generator=torch.Generator().manual_seed(seed))
    with one_thread():
        agree(model, convert(model, torch.zeros(1, 1, 9, 9)), x, atol=1e-4)


def test_a_fresh_model_agrees_with_torch() -> None:
    torch.manual_seed(3)
    model = DynamicNet().eval()
    x = torch.randn(16, 1, 9, 9, generator=torch.Generator().manual_seed(3))
    with one_thread():
        agree(model, convert(model, torch.zeros(1, 1, 9, 9)), x, atol=1e-4)


def test_where_the_branch_is_exact_every_bit_is_the_models() -> None:
    """A DySign on the input whose last linear map is still zero: the thresholds are its bias,
    exactly, in torch and in the program; inputs on and one ulp around them."""
    torch.manual_seed(0)
    channels = 70
    binary = {"bias": False, "input_quantizer": None, "weight_quantizer": "ste_sign"}
    reader = QuantConv2d(channels, 4, 1, **binary)
    model = nn.Sequential(DySign(channels), reader, nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    bias = torch.randn(channels) * 0.5
    with torch.no_grad():
        model[0].threshold.expand.bias.copy_(bias)
    program = truncated(convert(model, torch.zeros(1, channels, 5, 5)), "dynamic_sign_pack")
    x = torch.randn(6, channels, 5, 5, generator=torch.Generator().manual_seed(1))
    on = bias.view(1, -1, 1, 1).expand_as(x)
    pick = torch.randint(0, 4, x.shape, generator=torch.Generator().manual_seed(2))
    x = torch.where(pick == 0, on, x)
    x = torch.where(pick == 1, on.nextafter(torch.tensor(np.inf)), x)
    x = torch.where(pick == 2, on.nextafter(torch.tensor(-np.inf)), x)
    with torch.no_grad():
        expected = model[0](x)
    got = program(x.numpy())
    np.testing.assert_array_equal(got, nhwc_signs(expected))
    assert (expected == 1).any() and (expected == -1).any()


def test_where_the_branch_is_exact_the_prelu_is_the_models() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(DyPReLU(9)).eval()
    with torch.no_grad():
        model[0].shifts.expand.bias.copy_(torch.randn(18))
        model[0].prelu.weight.copy_(torch.randn(9))
    program = convert(model, torch.zeros(1, 9, 4, 6))
    x = torch.randn(5, 9, 4, 6, generator=torch.Generator().manual_seed(1))
    x[:, :, 0, 0] = model[0].shifts.expand.bias[:9].detach()  # x - gamma = 0
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_array_equal(program(x.numpy()), expected)


def test_a_hyper_function_alone_lowers_to_its_vector() -> None:
    torch.manual_seed(0)
    model = randomize(nn.Sequential(HyperFunction(12, 5)), 0).eval()
    program = convert(model, torch.zeros(1, 12, 3, 3))
    assert [op.type for op in program.ops] == ["nchw_to_nhwc", "global_avgpool", "dense", "dense"]
    x = torch.randn(7, 12, 3, 3)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(program(x.numpy()), expected, rtol=1e-5, atol=1e-6)


def test_a_non_sign_quantizer_is_refused() -> None:
    model = nn.Sequential(DySign(4, quantizer="identity"), nn.Flatten())
    with pytest.raises(ConversionError, match=r"layer '0' \(DySign\): quantizer 'identity' is not"):
        convert(model, torch.zeros(1, 4, 3, 3))


def test_a_replaced_branch_is_refused() -> None:
    model = nn.Sequential(DySign(4), nn.Flatten())
    model[0].threshold = nn.Sequential(nn.Flatten(), nn.Linear(36, 4))
    with pytest.raises(ConversionError, match="is not onebit's HyperFunction"):
        convert(model, torch.zeros(1, 4, 3, 3))
    model = nn.Sequential(DyPReLU(4))
    model[0].shifts.reduce = nn.Sequential(nn.Linear(4, 8))
    with pytest.raises(ConversionError, match="is not onebit's HyperFunction"):
        convert(model, torch.zeros(1, 4, 3, 3))


def test_a_non_finite_slope_is_refused() -> None:
    model = nn.Sequential(DyPReLU(4))
    with torch.no_grad():
        model[0].prelu.weight[1] = float("nan")
    with pytest.raises(ConversionError, match="the slope"):
        convert(model, torch.zeros(1, 4, 3, 3))
