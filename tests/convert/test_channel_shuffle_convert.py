"""Channel shuffles convert: ``onebit.nn.ChannelShuffle``, torch's ``nn.ChannelShuffle`` and the
functions (``onebit.nn.channel_shuffle``, ``torch.channel_shuffle``) become ``channel_shuffle``
ops, between float layers and binary ones, on maps and vectors, and the programs give the
model's outputs; what the engine cannot shuffle is refused by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import agree
from helpers import settle
from onebit.convert import ConversionError, convert
from onebit.nn import ChannelShuffle, QuantConv2d, QuantLinear, channel_shuffle
from onebit.quantizers import SteSign
from onebit.runtime.reference_program import ReferenceProgram

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BINARY = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}


def shuffles(program) -> list[int]:
    return [op.attrs["groups"] for op in program.ops if op.type == "channel_shuffle"]


def test_a_shuffle_between_float_layers_converts() -> None:
    torch.manual_seed(0)
    model = settle(
        nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), ChannelShuffle(4), nn.PReLU(12)), (3, 7, 5)
    )
    program = convert(model, torch.zeros(1, 3, 7, 5))
    assert shuffles(program) == [4]
    x = torch.randn(6, 3, 7, 5, generator=torch.Generator().manual_seed(1))
    agree(model, program, x, atol=1e-5)
    reference = ReferenceProgram(program.graph, program.tensors)
    torch.testing.assert_close(
        torch.from_numpy(reference(x.numpy())), torch.from_numpy(program(x.numpy())), rtol=0, atol=0
    )


class ShuffledBlock(nn.Module):
    """ShuffleNet-like: a grouped float conv, a shuffle, then binary convs with a shuffle between
    them (the second binary conv signs the shuffled map), pooled into a binary classifier."""

    def __init__(self, shuffle: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 12, 3, padding=1)
        self.grouped = nn.Conv2d(12, 12, 3, padding=1, groups=3, bias=False)
        self.bn0 = nn.BatchNorm2d(12)
        self.shuffle0 = ChannelShuffle(3)
        self.conv1 = QuantConv2d(12, 16, 3, padding=1, **BINARY)
        self.bn1 = nn.BatchNorm2d(16)
        self.shuffle1 = shuffle
        self.conv2 = QuantConv2d(16, 16, 3, stride=2, padding=1, pad_value=1.0, **BINARY)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = QuantLinear(16, 10, **BINARY)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shuffle0(self.bn0(self.grouped(self.stem(x))))
        x = self.shuffle1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class FunctionalShuffle(nn.Module):
    def __init__(self, groups: int, function) -> None:
        super().__init__()
        self.groups, self.function = groups, function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x, self.groups)


class OwnFunction(nn.Module):
    """Calls ``onebit.nn.channel_shuffle`` by its global name, as a model's own code would."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, 8)


@pytest.mark.parametrize(
    "shuffle",
    [
        ChannelShuffle(4),
        nn.ChannelShuffle(2),
        OwnFunction(),
        FunctionalShuffle(4, torch.channel_shuffle),
    ],
    ids=["onebit-module", "torch-module", "onebit-function", "torch-function"],
)
@pytest.mark.parametrize("seed", range(2), ids=lambda s: f"seed{s}")
def test_shuffles_around_binary_layers_convert(shuffle, seed) -> None:
    torch.manual_seed(seed)
    model = settle(ShuffledBlock(shuffle), (3, 8, 8), seed)
    program = convert(model, torch.zeros(1, 3, 8, 8))
    types = [op.type for op in program.ops]
    assert types.count("binary_conv2d") == 2 and len(shuffles(program)) == 2
    # the second binary conv reads the packed signs of the shuffled map
    second = types.index("channel_shuffle", types.index("binary_conv2d"))
    assert types[second + 1] == "sign_pack"
    x = torch.randn(64, 3, 8, 8, generator=torch.Generator().manual_seed(seed + 10))
    agree(model, program, x)


def test_a_pooled_vector_and_a_linear_layers_output_shuffle() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.AdaptiveAvgPool2d(1),
        ChannelShuffle(2),
        nn.Flatten(),
        nn.Linear(8, 12),
        ChannelShuffle(3),
        nn.Linear(12, 5),
    ).eval()
    program = convert(model, torch.zeros(1, 3, 6, 6))
    assert shuffles(program) == [2, 3]
    agree(model, program, torch.randn(16, 3, 6, 6), atol=1e-5)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            nn.Sequential(nn.Conv2d(3, 4, 3), SteSign(), ChannelShuffle(2)),
            "needs a float input but gets packed bits",
        ),
        (
            nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), ChannelShuffle(2), nn.Linear(16, 2)),
            "not a flattened map",
        ),
    ],
    ids=["packed", "flattened"],
)
def test_what_the_engine_cannot_shuffle_is_refused(model, message) -> None:
    with pytest.raises(ConversionError, match=message):
        convert(model.eval(), torch.zeros(1, 3, 4, 4))
