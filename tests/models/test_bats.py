"""BATS networks: the search space's ops, the genotype file (and its refusals), the cells, and the
zoo entry that builds a network from a genotype file."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from onebit import OnebitError, models
from onebit.models.bats import BatsNetwork, Cell, reduction_layers
from onebit.models.bats_genotype import (
    FORMAT,
    Genotype,
    load_genotype,
    resolve_genotype,
    save_genotype,
)
from onebit.models.bats_ops import PRIMITIVES, BinaryConvOp, ReduceSkip, Zero, build_op
from onebit.nn import ChannelShuffle, QuantConv2d, channel_shuffle

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NORMAL = (
    ("group_conv_3x3", 0),
    ("skip_connect", 1),
    ("dil_group_conv_3x3", 1),
    ("max_pool_3x3", 2),
    ("group_conv_5x5", 0),
    ("avg_pool_3x3", 3),
    ("dil_group_conv_5x5", 4),
    ("skip_connect", 2),
)
REDUCE = (
    ("max_pool_3x3", 0),
    ("group_conv_3x3", 1),
    ("skip_connect", 0),
    ("dil_group_conv_3x3", 2),
    ("avg_pool_3x3", 1),
    ("group_conv_5x5", 3),
    ("skip_connect", 1),
    ("dil_group_conv_5x5", 4),
)


def genotype() -> Genotype:
    return Genotype(NORMAL, REDUCE, {"dataset": "test"})


def test_channel_shuffle_interleaves_the_groups_and_is_undone_by_its_transpose() -> None:
    x = torch.arange(12.0).view(1, 12, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]
    y = torch.randn(2, 12, 3, 5)
    assert torch.equal(channel_shuffle(channel_shuffle(y, 4), 3), y)
    assert torch.equal(ChannelShuffle(1)(y), y)
    with pytest.raises(ValueError, match="groups=5 must divide the 12 channels"):
        channel_shuffle(y, 5)
    with pytest.raises(ValueError, match="groups must be >= 1"):
        ChannelShuffle(0)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", PRIMITIVES)
def test_every_op_keeps_the_channels_and_halves_the_side_at_stride_2(name, stride) -> None:
    torch.manual_seed(0)
    op = build_op(name, 8, stride, groups=4)
    for side in (7, 8):
        y = op(torch.randn(2, 8, side, side))
        assert y.shape == (2, 8, (side - 1) // stride + 1, (side - 1) // stride + 1)


def test_conv_ops_are_bn_sign_grouped_binary_conv_prelu_shuffle_with_a_residual() -> None:
    torch.manual_seed(0)
    op = build_op("dil_group_conv_5x5", 8, 1, groups=4)
    assert isinstance(op, BinaryConvOp) and op.residual
    norm, conv, prelu, shuffle = op.body
    assert isinstance(norm, nn.BatchNorm2d) and isinstance(prelu, nn.PReLU)
    assert isinstance(conv, QuantConv2d) and shuffle.groups == 4
    assert (conv.kernel_size, conv.dilation, conv.padding, conv.groups) == (
        (5, 5),
        (2, 2),
        (4, 4),
        4,
    )
    assert conv.pad_value == 1.0 and conv.alpha_scaling
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(op(x), x + op.body(x))
    assert not build_op("group_conv_3x3", 8, 2, groups=4).residual
    assert isinstance(build_op("skip_connect", 8, 2, groups=4), ReduceSkip)
    assert isinstance(build_op("skip_connect", 8, 1, groups=4), nn.Identity)
    assert torch.count_nonzero(Zero(2)(x)) == 0
    with pytest.raises(OnebitError, match="unknown op 'conv_7x7'"):
        build_op("conv_7x7", 8, 1, 4)
    with pytest.raises(OnebitError, match="groups=3 must divide the 8 channels"):
        build_op("group_conv_3x3", 8, 1, 3)


def test_a_genotype_round_trips_through_its_file(tmp_path) -> None:
    path = save_genotype(genotype(), tmp_path / "g.json")
    loaded = load_genotype(path)
    assert loaded == genotype() and loaded.search == {"dataset": "test"}
    assert loaded.nodes == 4 and loaded.cell(True) == REDUCE
    assert resolve_genotype(str(path)) == resolve_genotype(loaded.to_dict()) == loaded
    assert not list(tmp_path.glob(".*.tmp"))


BAD_GENOTYPES = [
    ([], "a genotype is a JSON object"),
    ({"normal": []}, "not a onebit BATS genotype"),
    ({"format": FORMAT, "version": 9}, "version 9 is not supported"),
    ({"format": FORMAT, "version": 1, "normal": [], "reduce": [], "x": 1}, "unknown genotype keys"),
    ({"format": FORMAT, "version": 1, "normal": "a", "reduce": []}, "must be a list of"),
    ({"format": FORMAT, "version": 1, "normal": [["skip_connect", 0]], "reduce": []}, "two edges"),
    (
        {
            "format": FORMAT,
            "version": 1,
            "normal": [["skip", 0], ["skip_connect", 1]],
            "reduce": [],
        },
        "unknown op 'skip'",
    ),
    (
        {
            "format": FORMAT,
            "version": 1,
            "normal": [["none", 0], ["skip_connect", 1]],
            "reduce": [],
        },
        "unknown op 'none'",
    ),
    (
        {
            "format": FORMAT,
            "version": 1,
            "normal": [["skip_connect", 2], ["skip_connect", 1]],
            "reduce": [],
        },
        "node 0 can read states 0 to 1, got input 2",
    ),
    (
        {
            "format": FORMAT,
            "version": 1,
            "normal": [["skip_connect", True], ["skip_connect", 1]],
            "reduce": [],
        },
        r"edge 0 must be \[op name, input index\]",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_GENOTYPES)
def test_a_file_that_is_not_a_genotype_is_refused_naming_what_is_wrong(tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(OnebitError, match=message):
        load_genotype(path)


def test_unreadable_and_oversized_genotype_files_are_refused(tmp_path) -> None:
    with pytest.raises(OnebitError, match="cannot read genotype"):
        load_genotype(tmp_path / "missing.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(OnebitError, match="is not JSON"):
        load_genotype(tmp_path / "binary.json")
    (tmp_path / "huge.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(OnebitError, match="too large"):
        load_genotype(tmp_path / "huge.json")
    with pytest.raises(OnebitError, match="normal cell has 4 nodes and the reduction cell 1"):
        Genotype(NORMAL, REDUCE[:2])
    with pytest.raises(OnebitError, match="genotype must be a genotype file's path"):
        resolve_genotype(3)


def test_a_cell_sums_two_ops_per_node_and_concatenates_the_nodes() -> None:
    torch.manual_seed(0)
    cell = Cell(NORMAL, 12, 12, 8, reduction=False, reduction_prev=False, groups=4).eval()
    s0, s1 = torch.randn(2, 12, 6, 6), torch.randn(2, 12, 6, 6)
    states = list(cell.inputs(s0, s1))
    for node in range(4):
        (_, a), (_, b) = NORMAL[2 * node], NORMAL[2 * node + 1]
        states.append(cell.ops[2 * node](states[a]) + cell.ops[2 * node + 1](states[b]))
    assert torch.equal(cell(s0, s1), torch.cat(states[2:], 1))
    reduce = Cell(REDUCE, 32, 32, 16, reduction=True, reduction_prev=False, groups=4)
    assert reduce(torch.randn(1, 32, 7, 7), torch.randn(1, 32, 7, 7)).shape == (1, 64, 4, 4)


def test_the_network_reduces_at_a_third_and_two_thirds_and_is_binary_inside() -> None:
    assert reduction_layers(5) == (1, 3) and reduction_layers(3) == (1, 2)
    assert reduction_layers(8) == (2, 5) and reduction_layers(2) == ()
    torch.manual_seed(0)
    net = BatsNetwork(genotype(), (1, 28, 28), 10, channels=8, layers=5, groups=4)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert [c.out_channels for c in net.cells] == [32, 64, 64, 128, 128]
    real_convs = [
        m for m in net.modules() if isinstance(m, nn.Conv2d) and not isinstance(m, QuantConv2d)
    ]
    assert real_convs == [net.stem[0]]  # the stem; every other conv is binary
    strided = BatsNetwork(genotype(), (1, 28, 28), 10, channels=8, layers=3, stem_stride=2)
    assert strided(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    with pytest.raises(OnebitError, match="multiple of groups"):
        BatsNetwork(genotype(), (1, 28, 28), 10, channels=6, groups=4)


def test_the_zoo_entry_reads_a_genotype_file_and_its_config_keeps_the_genotype(tmp_path) -> None:
    path = save_genotype(genotype(), tmp_path / "g.json")
    model = models.create(
        "bats", genotype=str(path), channels=8, layers=3, input_size=8, num_classes=4
    )
    assert model.genotype == genotype()
    config = model.onebit_config
    assert config["genotype"] == genotype().to_dict()  # the file may move; the config stands alone
    path.unlink()
    rebuilt = models.create(**{k: v for k, v in config.items() if k != "name"} | {"name": "bats"})
    assert rebuilt.genotype == genotype()
    with pytest.raises(OnebitError, match="cannot read genotype"):
        models.create("bats", genotype=str(tmp_path / "nope.json"))
