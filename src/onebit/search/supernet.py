"""The BATS supernet: every edge of a cell runs every op, mixed by the architecture weights.

DARTS' continuous relaxation (Liu, Simonyan & Yang, ICLR 2019, eq. (2)): edge (i, j) outputs
``sum_o w_o o(x_i)`` with ``w = softmax(alpha_ij / T)``. BATS (Bulat, Martinez &
Tzimiropoulos, ECCV 2020) divides the architecture logits by a temperature ``T`` so that the
binary search does not collapse into parameter-free ops (skips and pools), and searches with
binary weights and activations. After the search each node keeps its two strongest incoming
edges, each with its strongest op other than ``none`` (:func:`derive_genotype`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from onebit._registry import OnebitError
from onebit.models.bats import CellInputs, stack_cells, stem
from onebit.models.bats_genotype import Genotype
from onebit.models.bats_ops import PRIMITIVES, Zero, build_op

CELL_TYPES = ("normal", "reduce")


def edge_count(nodes: int) -> int:
    """Edges of a cell of ``nodes`` nodes: node i reads the 2 inputs and the i nodes before it."""
    return sum(2 + i for i in range(nodes))


class MixedOp(nn.Module):
    """Every op of :data:`PRIMITIVES` on one edge, summed with the given weights (``none``
    contributes zeros, so it is skipped)."""

    def __init__(self, channels: int, stride: int, groups: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(build_op(name, channels, stride, groups) for name in PRIMITIVES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(
            w * op(x) for w, op in zip(weights, self.ops, strict=True) if not isinstance(op, Zero)
        )


class SearchCell(nn.Module):
    """A cell whose nodes read every earlier state through a :class:`MixedOp`."""

    def __init__(
        self,
        nodes: int,
        older: int,
        newer: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
        groups: int,
    ) -> None:
        super().__init__()
        self.nodes = nodes
        self.reduction = reduction
        self.inputs = CellInputs(older, newer, channels, reduction_prev)
        self.edges = nn.ModuleList(
            MixedOp(channels, 2 if reduction and source < 2 else 1, groups)
            for node in range(nodes)
            for source in range(2 + node)
        )
        self.out_channels = channels * nodes

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = list(self.inputs(s0, s1))
        edge = 0
        for _ in range(self.nodes):
            node = 0
            for state in states:
                node = node + self.edges[edge](state, weights[edge])
                edge += 1
            states.append(node)
        return torch.cat(states[2:], dim=1)


class SearchNetwork(nn.Module):
    """The supernet of a BATS search: the layout of :class:`onebit.models.bats.BatsNetwork`
    with :class:`SearchCell` cells, and the architecture logits ``alpha`` of the normal and the
    reduction cell (shared by all cells of a type).

    Args:
        input_shape: ``(C, H, W)`` of one image.
        num_classes: the number of classes.
        channels, layers, groups: as ``BatsNetwork``.
        nodes: intermediate nodes per cell.
        temperature: ``T`` of the architecture softmax.
        stem_stride: the stride of the stem's convolution.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        channels: int = 8,
        layers: int = 3,
        groups: int = 4,
        nodes: int = 4,
        temperature: float = 1.0,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise OnebitError(f"bats search: the temperature must be > 0, got {temperature}")
        if min(channels, nodes, layers, groups, stem_stride) < 1 or channels % groups:
            raise OnebitError(
                f"bats search: channels ({channels}) must be a positive multiple of groups "
                f"({groups}); nodes ({nodes}), layers ({layers}) and stem_stride ({stem_stride}) "
                "positive"
            )
        self.input_shape = tuple(input_shape)
        self.nodes = nodes
        self.temperature = temperature
        self.stem = stem(input_shape[0], channels, stem_stride)

        def cell(older: int, newer: int, current: int, reduction: bool, after: bool) -> nn.Module:
            return SearchCell(nodes, older, newer, current, reduction, after, groups)

        self.cells, out_channels = stack_cells(cell, channels, layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(out_channels, num_classes)
        shape = (edge_count(nodes), len(PRIMITIVES))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(shape))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(shape))

    def architecture_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.architecture_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def architecture_weights(self) -> dict[str, torch.Tensor]:
        """``softmax(alpha / T)`` per edge, for the normal and the reduction cell."""
        return {
            "normal": F.softmax(self.alpha_normal / self.temperature, dim=-1),
            "reduce": F.softmax(self.alpha_reduce / self.temperature, dim=-1),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.architecture_weights()
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, weights["reduce" if cell.reduction else "normal"])
        return self.classifier(torch.flatten(self.pool(s1), 1))

    def genotype(self, search: dict | None = None) -> Genotype:
        weights = {k: v.detach().cpu() for k, v in self.architecture_weights().items()}
        return derive_genotype(weights, self.nodes, search)


def derive_genotype(
    weights: dict[str, torch.Tensor], nodes: int, search: dict | None = None
) -> Genotype:
    """DARTS' discretization: per node, the two incoming edges whose strongest op other than
    ``none`` weighs most, each with that op. Ties go to the earlier edge and op."""
    none = PRIMITIVES.index("none")
    cells = {}
    for cell in CELL_TYPES:
        w = weights[cell]
        if tuple(w.shape) != (edge_count(nodes), len(PRIMITIVES)):
            raise OnebitError(
                f"bats: {cell} weights of shape {tuple(w.shape)}, expected "
                f"{(edge_count(nodes), len(PRIMITIVES))}"
            )
        edges = []
        start = 0
        for node in range(nodes):
            rows = w[start : start + 2 + node].clone()
            rows[:, none] = -1.0
            strength, best = rows.max(dim=1)
            order = sorted(range(2 + node), key=lambda j: (-float(strength[j]), j))[:2]
            edges += [(PRIMITIVES[int(best[j])], j) for j in sorted(order)]
            start += 2 + node
        cells[cell] = tuple(edges)
    return Genotype(cells["normal"], cells["reduce"], dict(search or {}))
