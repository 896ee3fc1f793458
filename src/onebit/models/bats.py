"""BATS networks: the cells of a searched genotype, stacked into a binary image classifier.

Bulat, Martinez & Tzimiropoulos, "BATS: Binary ArchitecTure Search", ECCV 2020. The network is
the DARTS layout (Liu et al., ICLR 2019) the authors' ``BATSNetworkCIFAR`` keeps
(``1adrianb/binary-networks-pytorch``, ``bnn/models/bats.py``)::

    stem      real 3x3 conv (stride 1, or 2 to quarter the cells' cost) to 3C channels -> BN
    cells     ``layers`` cells; the ones at 1/3 and 2/3 of the depth are reduction cells
              (their ops on the cell inputs run at stride 2) and double C
    cell      inputs: the two previous cells' outputs, each projected to C channels
              (BN -> sign -> binary 1x1 conv -> PReLU; after a reduction cell the older input
              goes through the reduce skip of :mod:`onebit.models.bats_ops`);
              node i = op(state a) + op(state b) as the genotype says;
              output: the concatenation of the nodes (nodes x C channels)
    head      global average pool -> real linear classifier

Everything but the stem and the classifier is binary. Deviations: no auxiliary head and no drop
path (the networks trained here are a few cells deep); the ops' deviations are listed in
:mod:`onebit.models.bats_ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.models._common import ImageClassifier, check_image_args
from onebit.models._factory import zoo_entry
from onebit.models.bats_genotype import Genotype, resolve_genotype
from onebit.models.bats_ops import BinaryPointwise, ReduceSkip, build_op

STEM_MULTIPLIER = 3
"""The stem's channels per cell channel, as DARTS."""

GENOTYPES = Path(__file__).parent / "genotypes"
"""Genotypes shipped with onebit (the ones its own searches found, see docs/bats-*.md)."""

DEFAULT_GENOTYPE = GENOTYPES / "bats-mnist5k.json"


def reduction_layers(layers: int) -> tuple[int, ...]:
    """The indices of the reduction cells: at a third and two thirds of the depth, as DARTS."""
    return tuple(sorted({layers // 3, 2 * layers // 3} - {0})) if layers >= 3 else ()


def stem(in_channels: int, channels: int, stride: int) -> nn.Sequential:
    """The real-valued stem: a 3x3 conv to ``STEM_MULTIPLIER * channels`` channels, then BN."""
    width = STEM_MULTIPLIER * channels
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, stride, padding=1, bias=False), nn.BatchNorm2d(width)
    )


def stack_cells(
    make_cell: Callable[[int, int, int, bool, bool], nn.Module], channels: int, layers: int
) -> tuple[nn.ModuleList, int]:
    """``layers`` cells after the stem, each made by ``make_cell(older, newer, current,
    reduction, reduction_prev)`` from the channels of its two inputs and its own; a reduction
    cell doubles ``current``. Returns the cells and the last one's output channels."""
    older = newer = STEM_MULTIPLIER * channels
    current, reduction_prev = channels, False
    cells = nn.ModuleList()
    for i in range(layers):
        reduction = i in reduction_layers(layers)
        current *= 2 if reduction else 1
        cell = make_cell(older, newer, current, reduction, reduction_prev)
        cells.append(cell)
        older, newer, reduction_prev = newer, cell.out_channels, reduction
    return cells, newer


class CellInputs(nn.Module):
    """Projects the two previous cells' outputs to the cell's channels."""

    def __init__(self, older: int, newer: int, channels: int, reduction_prev: bool) -> None:
        super().__init__()
        self.older = (
            ReduceSkip(older, channels) if reduction_prev else BinaryPointwise(older, channels)
        )
        self.newer = BinaryPointwise(newer, channels)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.older(s0), self.newer(s1)


class Cell(nn.Module):
    """One cell of a genotype: each node sums two ops on earlier states; the output concatenates
    the nodes."""

    def __init__(
        self,
        edges: tuple[tuple[str, int], ...],
        older: int,
        newer: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
        groups: int,
    ) -> None:
        super().__init__()
        self.inputs = CellInputs(older, newer, channels, reduction_prev)
        self.sources = [source for _, source in edges]
        self.ops = nn.ModuleList(
            build_op(name, channels, 2 if reduction and source < 2 else 1, groups)
            for name, source in edges
        )
        self.out_channels = channels * (len(edges) // 2)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = list(self.inputs(s0, s1))
        for node in range(len(self.ops) // 2):
            a, b = 2 * node, 2 * node + 1
            states.append(
                self.ops[a](states[self.sources[a]]) + self.ops[b](states[self.sources[b]])
            )
        return torch.cat(states[2:], dim=1)


class BatsNetwork(ImageClassifier):
    """A binary classifier built from ``genotype`` (see the module docstring).

    Args:
        genotype: the cells' genotype.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: the number of classes.
        channels: C, the first cells' channels per node (doubled at each reduction).
        layers: the number of cells.
        groups: the groups of every binary grouped convolution (a divisor of ``channels``).
        stem_stride: the stride of the stem's convolution (2 quarters the cost of every cell).
    """

    def __init__(
        self,
        genotype: Genotype,
        input_shape: tuple[int, int, int],
        num_classes: int,
        channels: int = 16,
        layers: int = 5,
        groups: int = 4,
        stem_stride: int = 1,
    ) -> None:
        super().__init__(input_shape, num_classes, binary=True)
        if min(channels, layers, groups, stem_stride) < 1 or channels % groups:
            raise OnebitError(
                f"bats: channels ({channels}) must be a positive multiple of groups ({groups}), "
                f"layers ({layers}) and stem_stride ({stem_stride}) positive"
            )
        self.genotype = genotype
        self.stem = stem(input_shape[0], channels, stem_stride)

        def cell(older: int, newer: int, current: int, reduction: bool, after: bool) -> Cell:
            edges = genotype.cell(reduction)
            return Cell(edges, older, newer, current, reduction, after, groups)

        self.cells, out_channels = stack_cells(cell, channels, layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.pool(s1), 1))


@zoo_entry("bats")
def build_bats(
    genotype: Any = None,
    num_classes: int = 10,
    input_size: int = 28,
    in_channels: int = 1,
    channels: int = 16,
    layers: int = 5,
    groups: int = 4,
    stem_stride: int = 1,
) -> BatsNetwork:
    """A BATS network of ``genotype`` (a genotype file's path or its JSON object; default: the
    genotype onebit's own search found on mnist5k)."""
    shape = check_image_args("bats", num_classes, input_size, in_channels, minimum_size=4)
    resolved = resolve_genotype(DEFAULT_GENOTYPE if genotype is None else genotype)
    model = BatsNetwork(resolved, shape, num_classes, channels, layers, groups, stem_stride)
    if genotype is not None:  # checkpoints store the genotype itself, not a file's path
        model.resolved_config = {"genotype": resolved.to_dict()}
    return model
