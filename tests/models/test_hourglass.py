"""The binary hourglass: the hierarchical block's channel split, the hourglass's recursion, the
float twin, and its arguments."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from onebit import OnebitError, models
from onebit.models.hourglass import HierarchicalBlock, Hourglass
from onebit.nn import QuantConv2d

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small(**overrides) -> nn.Module:
    kwargs = {"num_classes": 5, "input_size": 32, "in_channels": 1, "features": 16, "depth": 2}
    return models.create("landmark-hourglass", **(kwargs | overrides))


def test_the_block_concatenates_half_a_quarter_and_a_quarter_onto_the_shortcut() -> None:
    torch.manual_seed(0)
    block = HierarchicalBlock(8, 16, binary=True, momentum=0.1).eval()
    x = torch.randn(2, 8, 5, 7)
    a = block.branch1(x)
    b = block.branch2(a)
    c = block.branch3(b)
    assert (a.shape[1], b.shape[1], c.shape[1]) == (8, 4, 4)
    assert torch.equal(block(x), torch.cat([a, b, c], 1) + block.shortcut(x))
    convs = [block.branch1[-1], block.branch2[-1], block.branch3[-1]]
    assert all(isinstance(conv, QuantConv2d) and conv.alpha_scaling for conv in convs)
    assert all(conv.kernel_size == (3, 3) and conv.padding == (1, 1) for conv in convs)
    projection = block.shortcut[-1]  # 8 -> 16 channels: a binary 1x1 projection
    assert isinstance(projection, QuantConv2d) and projection.kernel_size == (1, 1)
    assert isinstance(HierarchicalBlock(8, 16, False, 0.1).shortcut[-1], nn.Conv2d)
    assert isinstance(HierarchicalBlock(16, 16, True, 0.1).shortcut, nn.Identity)
    with pytest.raises(OnebitError, match="divisible by 4"):
        HierarchicalBlock(8, 10, True, 0.1)


def test_the_hourglass_adds_the_upsampled_lower_branch_to_the_upper_one() -> None:
    torch.manual_seed(1)
    hourglass = Hourglass(2, 8, binary=False, momentum=0.1).eval()
    x = torch.randn(1, 8, 8, 8)
    inner = hourglass.inner
    assert isinstance(inner, Hourglass) and isinstance(inner.inner, HierarchicalBlock)
    lower_inner = inner.up(
        inner.inner(inner.down(F.max_pool2d(hourglass.down(F.max_pool2d(x, 2)), 2)))
    )
    middle = inner.upper(hourglass.down(F.max_pool2d(x, 2))) + F.interpolate(
        lower_inner, scale_factor=2, mode="nearest"
    )
    expected = hourglass.upper(x) + F.interpolate(hourglass.up(middle), scale_factor=2)
    assert torch.allclose(hourglass(x), expected, atol=1e-6)


def test_one_heatmap_per_landmark_at_a_quarter_of_the_side() -> None:
    model = small()
    assert model.output_shape == (5, 8, 8) and model.heatmap_stride == 4
    assert model(torch.rand(3, 1, 32, 32)).shape == (3, 5, 8, 8)
    binary = [m for m in model.modules() if isinstance(m, QuantConv2d)]
    # stem 3 blocks, 2 levels of 3, inner, head; the stem's 2 shortcut projections
    assert len(binary) == 3 * (3 + 3 * 2 + 1 + 1) + 2
    real = [m for m in model.modules() if type(m) is nn.Conv2d]
    assert [m.kernel_size for m in real] == [(7, 7), (1, 1), (1, 1)]  # the stem, the head
    twin = small(binary=False)
    assert not any(isinstance(m, QuantConv2d) for m in twin.modules())
    assert sum(p.numel() for p in twin.parameters()) == sum(p.numel() for p in model.parameters())
    head = small(binary_head=True)
    extra_norm = 2 * 16  # the binary head's BN before its sign
    assert (
        sum(p.numel() for p in head.parameters())
        == sum(p.numel() for p in model.parameters()) + extra_norm
    )


def test_it_learns_a_heatmap() -> None:
    torch.manual_seed(0)
    model = small()
    x = torch.rand(8, 1, 32, 32)
    target = torch.zeros(8, 5, 8, 8)
    target[:, :, 2, 5] = 1.0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = F.mse_loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_size": 40}, "multiple of 16"),
        ({"features": 18}, "multiple of 4"),
        ({"depth": 0}, "depth"),
        ({"num_classes": 0}, "landmarks"),
        ({"in_channels": 0}, "in_channels"),
        ({"stem_width": 7}, "stem_width"),
        ({"stem_width": True}, "stem_width"),
    ],
)
def test_bad_arguments_are_named(overrides, message) -> None:
    with pytest.raises(OnebitError, match=message):
        small(**overrides)


def test_the_stem_width_sets_the_stem_and_twice_it_in_its_blocks() -> None:
    model = small(stem_width=6)
    first = model.stem[0]
    assert first.out_channels == 6
    assert model.stem[3].branch1[1].in_channels == 6
    assert model.stem[5].branch1[1].in_channels == 12
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 5, 8, 8)
    assert small().stem[0].out_channels == 64  # the paper's


@pytest.mark.parametrize("shortcuts", [True, False])
@pytest.mark.parametrize("head", [True, False])
def test_the_shortcut_projections_and_the_head_can_stay_real(shortcuts, head) -> None:
    model = small(binary_shortcuts=shortcuts, binary_head=head)
    projections = [model.stem[3].shortcut[-1], model.stem[6].shortcut[-1]]
    assert all(isinstance(p, QuantConv2d) == shortcuts for p in projections)
    assert isinstance(model.head[1], nn.Sequential) == head  # BN -> sign -> binary 1x1
    assert isinstance(model.head[1][-1] if head else model.head[1], QuantConv2d) == head
    twin = small(binary=False, binary_shortcuts=shortcuts, binary_head=head)
    assert not any(isinstance(m, QuantConv2d) for m in twin.modules())
    with pytest.raises(OnebitError, match="binary_head must be true or false"):
        small(binary_head="yes")
