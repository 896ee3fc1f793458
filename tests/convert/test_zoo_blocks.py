"""The building blocks of the model zoo convert and agree with the model in eval mode: depthwise and
grouped float convs (QuickNet's transition), channel concatenation (ReActNet's downsampling),
explicit asymmetric padding (a port of Keras' "same"), Bi-Real's average-pool shortcut, and
residual binary blocks with ReLU before batch norm (QuickNet) or RPReLU after it (ReActNet)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import agree
from helpers import settle
from onebit.convert import ConversionError, convert
from onebit.nn import QuantConv2d, RPReLU, RSign
from onebit.runtime import load
from onebit.runtime.reference_program import ReferenceProgram

SAME_EVEN_WARNING = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
BINARY = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def converted(model: nn.Module, shape: tuple[int, ...], tmp_path, seed: int = 0):
    """Settle the model's batch norms, convert it, and check a save/load round trip."""
    torch.manual_seed(seed)
    model = settle(model, shape, seed)
    program = convert(model, torch.zeros(1, *shape))
    program.save(tmp_path / "block.onebit")
    x = np.random.default_rng(seed).standard_normal((3, *shape), dtype=np.float32)
    np.testing.assert_array_equal(load(tmp_path / "block.onebit")(x), program(x))
    return model, program


def inputs(shape: tuple[int, ...], n: int = 32) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(11))


def ops_of(program, op_type: str) -> list:
    """The ops of ``op_type`` as the reference executor reads them (with their derived shapes)."""
    reference = ReferenceProgram(program.graph, program.tensors)
    return [op for op in reference.ops if op.type == op_type]


def randomize_shifts(model: nn.Module) -> nn.Module:
    """Non-zero learnable biases and PReLU slopes, so every shift and slope matters."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("shift.bias", "shift_in.bias", "shift_out.bias")):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
            elif name.endswith("prelu.weight"):
                parameter.uniform_(-0.5, 0.5, generator=generator)
    return model


# -- depthwise and grouped convolutions -----------------------------------------------------


class DepthwiseBlock(nn.Module):
    """Stem, depthwise 3x3, a grouped conv with ±1 weights on float inputs, a 1x1: all float."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.grouped = QuantConv2d(
            8, 12, 3, stride=2, padding=1, groups=2, weight_quantizer="ste_sign"
        )
        self.bn2 = nn.BatchNorm2d(12)
        self.pointwise = nn.Conv2d(12, 16, 1)
        self.bn3 = nn.BatchNorm2d(16)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.depthwise(self.stem(x))))
        x = self.bn3(self.pointwise(self.bn2(self.grouped(x))))
        return self.head(x)


def test_depthwise_and_grouped_convs_fold_their_batch_norms(tmp_path):
    model, program = converted(DepthwiseBlock(), (3, 9, 9), tmp_path)
    convs = ops_of(program, "conv2d")
    assert [op.groups for op in convs] == [1, 8, 2, 1]
    assert "weight_bits" in convs[2].spec["tensors"]  # ±1 weights stay packed
    assert not ops_of(program, "affine")  # every batch norm is in a conv's epilogue
    agree(model, program, inputs((3, 9, 9)))


class QuickNetTransition(nn.Module):
    """Stem, then QuickNet's transition: ReLU -> MaxPool -> depthwise (multiplier 2, stride 2) ->
    BN -> 1x1 -> BN, and a residual binary block with ReLU between its conv and its BN."""

    def __init__(self, keras_same: bool) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16))
        self.block = nn.Sequential(QuantConv2d(16, 16, 3, padding=1, **BINARY), nn.ReLU())
        self.block_bn = nn.BatchNorm2d(16)
        # Keras' "same" at stride 2 pads one row and column after the map, none before it
        depthwise = nn.Conv2d(16, 32, 3, stride=2, padding=0 if keras_same else 1, groups=16)
        self.transition = nn.Sequential(
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
            *([nn.ZeroPad2d((0, 1, 0, 1))] if keras_same else []),
            depthwise,
            nn.BatchNorm2d(32),
            nn.Conv2d(32, 32, 1, bias=False),
            nn.BatchNorm2d(32),
        )
        self.after = nn.Sequential(QuantConv2d(32, 32, 3, padding=1, **BINARY), nn.ReLU())
        self.after_bn = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.block_bn(self.block(x)) + x
        x = self.transition(x)
        x = self.after_bn(self.after(x)) + x
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("keras_same", [False, True], ids=["padding-1", "zeropad-keras-same"])
def test_quicknet_transition_agrees(keras_same, tmp_path):
    model, program = converted(QuickNetTransition(keras_same), (3, 16, 16), tmp_path)
    depthwise = next(op for op in ops_of(program, "conv2d") if op.groups == 16)
    assert depthwise.cout == 32 and depthwise.stride == (2, 2)
    assert depthwise.padding == ((0, 1, 0, 1) if keras_same else (1, 1, 1, 1))
    assert not ops_of(program, "pad")  # the ZeroPad2d folded into the depthwise conv
    tails = [step["step"] for op in program.ops for step in op.attrs.get("post", [])]
    assert len(ops_of(program, "relu")) + tails.count("relu") == 3
    agree(model, program, inputs((3, 16, 16)))


def test_a_pad_before_a_binary_conv_stays_a_pad_op(tmp_path):
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ZeroPad2d((1, 0, 2, 1)),
        QuantConv2d(8, 8, 3, stride=2, **BINARY),
        nn.BatchNorm2d(8),
        nn.Flatten(),
        nn.Linear(8 * 5 * 4, 4),
    )
    model, program = converted(model, (3, 8, 8), tmp_path)
    assert [op.type for op in program.ops][2:5] == ["pad", "sign_pack", "binary_conv2d"]
    agree(model, program, inputs((3, 8, 8)))


# -- concatenation --------------------------------------------------------------------------


class ReActNetDownsample(nn.Module):
    """ReActNet-A's downsampling block: RSign -> binary 3x3 stride 2 -> BN, plus an average-pooled
    shortcut, RPReLU; then RSign -> two binary 1x1 convs -> BN, each plus the shortcut, joined
    along the channels, RPReLU."""

    def __init__(self, join) -> None:
        super().__init__()
        self.join = join
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32))
        binary = {"weight_quantizer": "ste_sign", "bias": False}
        self.sign1 = RSign(32)
        self.conv3x3 = QuantConv2d(32, 32, 3, stride=2, padding=1, **binary)
        self.bn1 = nn.BatchNorm2d(32)
        self.pool = nn.AvgPool2d(2, 2)
        self.act1 = RPReLU(32)
        self.sign2 = RSign(32)
        self.down1 = QuantConv2d(32, 32, 1, **binary)
        self.down2 = QuantConv2d(32, 32, 1, **binary)
        self.bn21 = nn.BatchNorm2d(32)
        self.bn22 = nn.BatchNorm2d(32)
        self.act2 = RPReLU(64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.act1(self.bn1(self.conv3x3(self.sign1(x))) + self.pool(x))
        y = self.sign2(x)
        x = self.act2(self.join([self.bn21(self.down1(y)) + x, self.bn22(self.down2(y)) + x]))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


JOINS = {
    "cat-positional": lambda xs: torch.cat(xs, 1),
    "concat-dim": lambda xs: torch.concat(xs, dim=1),
    "cat-negative-dim": lambda xs: torch.cat(tuple(xs), dim=-3),
}


@pytest.mark.parametrize("join", JOINS.values(), ids=JOINS.keys())
def test_reactnet_downsample_concatenates_float_maps(join, tmp_path):
    model, program = converted(randomize_shifts(ReActNetDownsample(join)), (3, 8, 8), tmp_path)
    (concat,) = ops_of(program, "concat")
    assert concat.channels == [32, 32]
    assert len(ops_of(program, "sign_pack")) == 2  # one sign read by both 1x1 convs
    agree(model, program, inputs((3, 8, 8)))


class BinaryJoin(nn.Module):
    """Two signed maps joined, then a binary conv: the join happens on packed words."""

    def __init__(self, channels: tuple[int, int]) -> None:
        super().__init__()
        a, b = channels
        self.stem_a = nn.Sequential(nn.Conv2d(3, a, 3, padding=1), nn.BatchNorm2d(a))
        self.stem_b = nn.Sequential(nn.Conv2d(3, b, 3, padding=1), nn.BatchNorm2d(b))
        self.sign_a, self.sign_b = RSign(a), RSign(b)
        self.conv = QuantConv2d(a + b, 16, 3, padding=1, **BINARY)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.sign_a(self.stem_a(x)), self.sign_b(self.stem_b(x))], dim=1)
        return self.head(self.bn(self.conv(y)))


@pytest.mark.parametrize("channels", [(64, 7), (7, 65)], ids=["word-aligned", "unaligned"])
def test_signed_maps_concatenate_as_packed_words(channels, tmp_path):
    model, program = converted(randomize_shifts(BinaryJoin(channels)), (3, 6, 6), tmp_path)
    (concat,) = ops_of(program, "binary_concat")
    assert concat.aligned == (channels[0] % 64 == 0)
    agree(model, program, inputs((3, 6, 6)))


# -- residual blocks and shortcuts -----------------------------------------------------------


class BiRealDownsample(nn.Module):
    """Bi-Real Net's downsampling: binary 3x3 stride 2 -> BN, plus AvgPool(2) -> float 1x1 -> BN;
    then a ReActNet-style block: binary 3x3 -> BN -> RPReLU, plus the input; then a max-pool."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16))
        self.conv = QuantConv2d(16, 32, 3, stride=2, padding=1, **BINARY)
        self.bn = nn.BatchNorm2d(32)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, 2), nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32)
        )
        self.conv2 = QuantConv2d(32, 32, 3, padding=1, **BINARY)
        self.bn2 = nn.BatchNorm2d(32)
        self.act = RPReLU(32)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.fc = nn.Linear(32 * 3 * 3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.bn(self.conv(x)) + self.shortcut(x)
        x = self.act(self.bn2(self.conv2(x))) + x
        return self.fc(self.pool(x).flatten(1))


def test_bireal_downsample_and_rprelu_residual_agree(tmp_path):
    model, program = converted(randomize_shifts(BiRealDownsample()), (3, 10, 10), tmp_path)
    types = [op.type for op in program.ops]
    assert types.count("binary_conv2d") == 2 and types.count("conv2d") == 2
    assert {"avgpool2d", "maxpool2d"} <= set(types)
    # both residual adds and the RPReLU run in the binary convs' post tails
    tails = [step["step"] for op in program.ops for step in op.attrs.get("post", [])]
    assert "add" not in types and "prelu" not in types
    assert tails.count("add") == 2 and tails.count("prelu") == 1
    agree(model, program, inputs((3, 10, 10)))


# -- outputs that are feature maps ----------------------------------------------------------


@pytest.mark.parametrize("flatten", [False, True], ids=["map", "flattened"])
def test_a_feature_map_output_comes_back_in_torch_layout(flatten, tmp_path):
    layers = [nn.Conv2d(3, 5, 3, groups=1), nn.BatchNorm2d(5), nn.ZeroPad2d((1, 0, 0, 2))]
    model = nn.Sequential(*layers, *([nn.Flatten()] if flatten else []))
    model, program = converted(model, (3, 6, 7), tmp_path)
    x = inputs((3, 6, 7), n=4)
    with torch.no_grad():
        np.testing.assert_allclose(program(x.numpy()), model(x).numpy(), rtol=1e-5, atol=1e-5)


@SAME_EVEN_WARNING
def test_same_padding_of_an_even_kernel_on_a_float_conv(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 4, padding="same"), nn.Flatten(), nn.Linear(4 * 7 * 6, 3))
    model, program = converted(model, (3, 7, 6), tmp_path)
    assert program.ops[1].attrs["padding"] == [1, 2, 1, 2]
    agree(model, program, inputs((3, 7, 6)))


# -- what stays unsupported is named --------------------------------------------------------


class Joined(nn.Module):
    def __init__(self, forward) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 1)
        self.sign = RSign(4)
        self._forward = forward

    def forward(self, x):
        return self._forward(self, x)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Joined(lambda m, x: torch.cat([x, x], 2)), "along the channels"),
        (Joined(lambda m, x: torch.cat([m.sign(m.conv(x)), x], 1)), "packed bits with float"),
        (
            Joined(lambda m, x: torch.cat([x.flatten(1), x.flatten(1)], 1)),
            "before flattening",
        ),
        (Joined(lambda m, x: m.conv(x).mean(1)), "mean over height and width"),
        (Joined(lambda m, x: torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")), "constant"),
        (nn.Sequential(nn.ZeroPad2d((0, 0, -1, 0))), "non-negative padding"),
        pytest.param(
            nn.Sequential(QuantConv2d(2, 2, 4, padding="same", **BINARY)),
            "'0' .*asymmetric padding \\[1, 2, 1, 2\\] is only supported on float inputs",
            marks=SAME_EVEN_WARNING,
        ),
    ],
    ids=["dim", "mixed", "flattened", "mean", "reflect", "crop", "binary-asymmetric"],
)
def test_unsupported_forms_are_named(model, message):
    with pytest.raises(ConversionError, match=message):
        convert(model.eval(), torch.zeros(1, 2, 6, 6))
