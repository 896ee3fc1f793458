"""Window geometry (``onebit.runtime.window``) against torch's own output shapes, and the
padding attribute's two forms."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from onebit.runtime.window import output_side, output_sides, padding_attr, padding_sides

GEOMETRIES = list(
    itertools.product(
        (1, 2, 5, 7), (1, 2, 3), (1, 2, 3), ((0, 0, 0, 0), (1, 1, 0, 0), (2, 1, 0, 1))
    )
)


@pytest.mark.parametrize(("side", "kernel", "stride", "padding"), GEOMETRIES)
def test_output_sides_match_torch_conv2d(side, kernel, stride, padding) -> None:
    top, bottom, left, right = padding
    if side + top + bottom < kernel or side + 3 + left + right < kernel:
        assert output_side(side + top + bottom, kernel, stride) < 1
        return
    x = F.pad(torch.zeros(1, 1, side, side + 3), (left, right, top, bottom))
    y = F.conv2d(x, torch.zeros(1, 1, kernel, kernel), stride=stride)
    got = output_sides(side, side + 3, (kernel, kernel), (stride, stride), padding)
    assert got == tuple(y.shape[2:])


@pytest.mark.parametrize("sides", [(0, 0, 0, 0), (1, 1, 2, 2), (1, 2, 0, 0), (3, 3, 1, 0)])
def test_padding_attr_round_trips(sides) -> None:
    attr = padding_attr(*sides)
    assert len(attr) == (2 if sides[0] == sides[1] and sides[2] == sides[3] else 4)
    assert padding_sides(attr) == sides
