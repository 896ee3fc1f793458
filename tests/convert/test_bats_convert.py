"""A BATS network converts: grouped and dilated binary convolutions, channel shuffles, pools,
the reduce skip and the cells' sums and concatenations run in the engine and give the model's
logits, from a genotype file as from the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import agree
from helpers import settle
from onebit import models
from onebit.convert import convert
from onebit.models.bats_genotype import Genotype, save_genotype
from onebit.runtime import load
from onebit.runtime.reference_program import ReferenceProgram

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# every op of the search space, in both cells, on both inputs and on inner nodes
EVERY_OP = Genotype(
    (
        ("group_conv_3x3", 0),
        ("dil_group_conv_5x5", 1),
        ("group_conv_5x5", 2),
        ("max_pool_3x3", 1),
        ("dil_group_conv_3x3", 2),
        ("avg_pool_3x3", 3),
    ),
    (
        ("skip_connect", 0),
        ("dil_group_conv_3x3", 1),
        ("max_pool_3x3", 0),
        ("group_conv_5x5", 2),
        ("avg_pool_3x3", 1),
        ("skip_connect", 3),
    ),
)


@pytest.mark.parametrize(("side", "stem_stride"), [(12, 1), (13, 2)])
def test_a_bats_network_gives_the_models_logits(tmp_path, side, stem_stride) -> None:
    path = save_genotype(EVERY_OP, tmp_path / "genotype.json")
    shape = (1, side, side)
    model = models.create(
        "bats",
        genotype=str(path),
        num_classes=7,
        input_size=side,
        in_channels=1,
        channels=6,
        layers=3,
        groups=3,
        stem_stride=stem_stride,
    )
    model = settle(model, shape, seed=1)
    program = convert(model, torch.zeros(1, *shape))
    convs = [op for op in program.ops if op.type == "binary_conv2d"]
    assert {op.attrs.get("groups", 1) for op in convs} == {1, 3}
    assert {tuple(op.attrs.get("dilation", (1, 1))) for op in convs} == {(1, 1), (2, 2)}
    types = {op.type for op in program.ops}
    assert {"channel_shuffle", "concat", "add", "maxpool2d", "avgpool2d"} <= types
    x = torch.rand(5, *shape, generator=torch.Generator().manual_seed(2))
    agree(model, program, x, atol=1e-4)
    program.save(tmp_path / "bats.onebit")
    logits = program(x.numpy())
    np.testing.assert_array_equal(load(tmp_path / "bats.onebit")(x.numpy()), logits)
    reference = ReferenceProgram(program.graph, program.tensors)
    np.testing.assert_allclose(reference(x.numpy()), logits, atol=1e-4)
