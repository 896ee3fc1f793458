"""The converted program computes what PyTorch computes, or the converter refuses by name: in-place
operations, subclasses of known layers, flatten ranges and (C, 1, 1) outputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import settle
from onebit.convert import ConversionError, convert
from onebit.nn import LearnableBias, QuantConv2d


def _converts_and_agrees(model: nn.Module, shape: tuple[int, ...], seed: int = 0):
    model = settle(model, shape, seed)
    program = convert(model, torch.zeros(1, *shape))
    x = torch.randn(6, *shape, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        expected = model(x.clone()).numpy()
    got = program(x.numpy())
    assert got.shape == expected.shape
    torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(expected))
    return program


class _InPlace(nn.Module):
    """``y = bn(x); z = relu_(y); return z + y``: in PyTorch both names read relu(y)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.bn = nn.BatchNorm2d(3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.bn(x)
        if self.how == "torch.relu_":
            z = torch.relu_(y)
        elif self.how == "method":
            z = y.relu_()
        elif self.how == "functional":
            z = F.relu(y, inplace=True)
        elif self.how == "positional":
            z = F.hardtanh(y, -0.5, 0.5, True)
        elif self.how == "module":
            z = self.relu(y)
        else:  # add_: y + x written into y
            z = y.add_(x)
        return z + y


@pytest.mark.parametrize(
    "how", ["torch.relu_", "method", "functional", "positional", "module", "add_"]
)
def test_in_place_ops_change_every_name_of_the_tensor(how):
    model = _InPlace(how)
    program = _converts_and_agrees(model, (3, 5, 5))
    with torch.no_grad():  # not relu(y) + y: the test would catch the old lowering
        x = torch.randn(2, 3, 5, 5)
        y = model.bn(x)
        wrong = {"add_": y + x, "positional": F.hardtanh(y, -0.5, 0.5)}.get(how, F.relu(y)) + y
    assert not torch.allclose(torch.from_numpy(program(x.numpy())), wrong)


class _AugmentedAlias(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.bn(x)
        z = y.relu_()  # z is y
        z += x  # torch.fx records z = z + x; y keeps the old value in the graph
        return z + y


def test_an_augmented_assignment_to_an_alias_is_refused():
    model = settle(_AugmentedAlias(), (3, 4, 4))
    with pytest.raises(ConversionError, match="computes something else than the model"):
        convert(model, torch.zeros(1, 3, 4, 4))


class _Accumulate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.bn(x)
        y += x  # no other name reads y: as y = y + x
        return y


def test_an_augmented_assignment_without_alias_converts():
    _converts_and_agrees(_Accumulate(), (3, 4, 4))


def test_zoo_style_in_place_activations_keep_converting():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.Hardtanh(inplace=True),
        nn.Dropout(inplace=True),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 4),
    )
    _converts_and_agrees(model, (3, 6, 6))


class _DoubledConv(QuantConv2d):
    def forward(self, x):
        return super().forward(x) * 2


class _ScaledBias(LearnableBias):
    def forward(self, x):
        return x + 2 * self.bias.view(1, -1, 1, 1)


class _ReluPlusInput(nn.ReLU):
    def forward(self, x):
        return torch.relu(x) + x


class _BinaryConv(QuantConv2d):
    """Only sets defaults: lowers as QuantConv2d."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            cin, cout, 3, padding=1, bias=False, input_quantizer="ste_sign",
            weight_quantizer="ste_sign",
        )  # fmt: skip


class _AlphaOverride(QuantConv2d):
    def alpha(self):  # read by QuantConv2d.forward: not the base's computation any more
        return super().alpha() * 2


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (_DoubledConv(3, 3, 3, padding=1, input_quantizer="ste_sign", weight_quantizer="ste_sign"),
         r"layer 'layer' \(_DoubledConv\) computes with its 'weight'"),
        (_ScaledBias(3), r"layer 'layer' \(_ScaledBias\) computes with its 'bias'"),
        (_AlphaOverride(3, 3, 3, padding=1, alpha_scaling=True, weight_quantizer="ste_sign"),
         r"cannot trace layer 'layer' \(_AlphaOverride\)"),
    ],
    ids=["conv-forward", "bias-forward", "conv-alpha"],
)  # fmt: skip
def test_a_subclass_with_its_own_computation_is_refused_by_name(layer, message):
    model = nn.Sequential()
    model.add_module("layer", layer)
    with pytest.raises(ConversionError, match=message):
        convert(model.eval(), torch.zeros(1, 3, 5, 5))


def test_a_traceable_subclass_is_traced_through_not_lowered_as_its_base():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), _ReluPlusInput())
    program = _converts_and_agrees(model, (3, 5, 5))
    assert "add" in [op.type for op in program.ops] or any(
        step["step"] == "add" for op in program.ops for step in op.attrs.get("post", [])
    )


def test_a_subclass_that_only_sets_defaults_lowers_as_its_base():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), _BinaryConv(8, 8))
    program = _converts_and_agrees(model, (3, 6, 6))
    assert "binary_conv2d" in [op.type for op in program.ops]


class _Flatten(nn.Module):
    def __init__(self, start: int, end: int, method: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.start, self.end, self.method = start, end, method

    def forward(self, x):
        y = self.conv(x)
        return (
            y.flatten(self.start, self.end)
            if self.method
            else torch.flatten(y, self.start, self.end)
        )


@pytest.mark.parametrize(("start", "end"), [(1, -1), (1, 3), (-3, -1), (2, 2)])
def test_flatten_ranges_that_the_engine_runs_agree(start, end):
    _converts_and_agrees(_Flatten(start, end), (3, 5, 6))
    _converts_and_agrees(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(start, end)), (3, 5, 6))


@pytest.mark.parametrize(("start", "end"), [(1, 2), (2, 3), (0, -1), (2, -1)])
def test_other_flatten_ranges_are_refused_not_truncated(start, end):
    with pytest.raises(ConversionError, match="only flatten\\(start_dim=1, end_dim=-1\\)"):
        convert(_Flatten(start, end, method=True).eval(), torch.zeros(1, 3, 5, 6))


class _MeanKeepdim(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3)

    def forward(self, x):
        return self.conv(x).mean((2, 3), keepdim=True)


@pytest.mark.parametrize(
    "model",
    [
        lambda: nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1)),
        _MeanKeepdim,
        lambda: nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Conv2d(5, 7, 1)),
        lambda: nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
    ],
    ids=["adaptive-pool", "mean-keepdim", "conv-after-pool", "flattened"],
)
def test_an_output_of_shape_c11_comes_back_as_torch_shapes_it(model):
    program = _converts_and_agrees(model(), (3, 6, 7))
    assert program(torch.zeros(2, 3, 6, 7).numpy()).ndim == (2 if "Flatten" in repr(model()) else 4)


def test_an_elementwise_op_on_a_pooled_c11_output_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.ReLU())
    with pytest.raises(ConversionError, match="the model output: needs the \\(5, 1, 1\\) map"):
        convert(model.eval(), torch.zeros(1, 3, 6, 7))
