"""A float ``torch.cat`` takes the elementwise ops after it as its ``post`` tail, as a layer does:
the hourglass block's ``cat([a, b, c]) + x`` (and the ReLU and batch norm after it, and the
hourglass's ``+ upsample(lower)``) converts to one ``concat`` op with no ``add`` left, and the
program gives the model's outputs. An add a convolution can take stays with the convolution (its
kernel reads the residual in its arithmetic's shadow); a concat read twice takes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import settle
from onebit import models
from onebit.convert import convert
from onebit.models.hourglass import HierarchicalBlock
from onebit.runtime.reference_program import ReferenceProgram

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tails(program, kind: str = "concat") -> list[list[str]]:
    """The post steps of each ``kind`` op, in order."""
    return [
        [step["step"] for step in op.attrs.get("post", [])] for op in program.ops if op.type == kind
    ]


def assert_same_outputs(model: nn.Module, program, x: torch.Tensor) -> None:
    with torch.no_grad():
        expected = model(x).numpy()
    got = program(x.numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    reference = ReferenceProgram(program.graph, program.tensors)
    np.testing.assert_allclose(reference(x.numpy()), got, rtol=1e-5, atol=1e-5)


def convert_settled(model: nn.Module, shape: tuple[int, ...], seed: int = 0):
    model = settle(model, shape, seed=seed)
    return model, convert(model, torch.zeros(1, *shape))


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "float"])
def test_the_hourglass_blocks_join_adds_its_shortcut_and_the_tail_after_it(binary) -> None:
    model = nn.Sequential(
        nn.Conv2d(2, 16, 3, padding=1),
        HierarchicalBlock(16, 16, binary, 0.1),
        nn.ReLU(),
        nn.BatchNorm2d(16),
        HierarchicalBlock(16, 16, binary, 0.1),
    )
    model, program = convert_settled(model, (2, 7, 9))
    types = [op.type for op in program.ops]
    # (the float twin's branches keep their own BN -> ReLU: the block's input is read twice)
    assert "add" not in types and (not binary or not {"relu", "affine"} & set(types))
    assert tails(program) == [["add", "relu", "affine"], ["add"]]
    joins = [op for op in program.graph["ops"] if op["type"] == "concat"]
    assert [len(op["inputs"]) - len(op["attrs"]["channels"]) for op in joins] == [1, 1]
    assert_same_outputs(model, program, torch.randn(3, 2, 7, 9))


class ResidualFirst(nn.Module):
    """``x + cat([a, b])``: the residual on the left."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(6, 4, 3, padding=1)
        self.b = nn.Conv2d(6, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + torch.cat([self.a(x), self.b(x)], dim=1))


def test_a_residual_on_the_left_joins_the_tail_too() -> None:
    model, program = convert_settled(ResidualFirst(), (6, 5, 5))
    assert tails(program) == [["add", "relu"]]
    assert not {"add", "relu"} & {op.type for op in program.ops}
    assert_same_outputs(model, program, torch.randn(3, 6, 5, 5))


def test_a_projection_shortcuts_convolution_keeps_the_add() -> None:
    model, program = convert_settled(HierarchicalBlock(8, 16, True, 0.1), (8, 6, 6))
    assert tails(program) == [[]]
    assert ["add"] in tails(program, "binary_conv2d")
    assert "add" not in {op.type for op in program.ops}
    assert_same_outputs(model, program, torch.randn(3, 8, 6, 6))


class ReadTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.cat([self.a(x), self.b(x)], dim=1)
        return torch.relu(z) + z


def test_a_concat_read_twice_takes_no_tail() -> None:
    model, program = convert_settled(ReadTwice(), (3, 4, 4))
    assert tails(program) == [[]]
    assert {"add", "relu"} <= {op.type for op in program.ops}
    assert_same_outputs(model, program, torch.randn(3, 3, 4, 4))


def test_the_hourglass_has_no_add_left() -> None:
    depth = 2
    model = models.create(
        "landmark-hourglass", num_classes=5, input_size=32, in_channels=1, features=16, depth=depth
    )
    model, program = convert_settled(model, (1, 32, 32))
    assert "add" not in {op.type for op in program.ops}
    joined = tails(program)
    # each level's upper block: its shortcut, then the upsampled lower branch
    assert joined.count(["add", "add"]) == depth
    # the stem's two projection shortcuts add the concat in their convolution's tail
    assert joined.count([]) == 2 and tails(program, "binary_conv2d").count(["add"]) == 2
    assert set(map(tuple, joined)) == {(), ("add",), ("add", "add")}
    assert_same_outputs(model, program, torch.rand(4, 1, 32, 32))
