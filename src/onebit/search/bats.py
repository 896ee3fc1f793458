"""The BATS search loop: alternate architecture and weight steps on two halves of the training
data, record the architecture weights, and derive the genotype.

Bulat, Martinez & Tzimiropoulos, "BATS: Binary ArchitecTure Search", ECCV 2020, on DARTS'
first-order bilevel optimization (Liu, Simonyan & Yang, ICLR 2019, section 2.3, ``xi = 0``): each
step first moves the architecture logits ``alpha`` down the loss of a batch from the
architecture half, then the network's weights down the loss of a batch from the weight half.
Weights and activations are binary throughout (the binary ops' ``ste_sign``), and the
architecture softmax runs at temperature ``T`` (:class:`onebit.search.supernet.SearchNetwork`).

Data: only the training part of the dataset is searched on; the validation split that
``onebit train`` holds out (the same rule, :data:`onebit.data.splits.VALIDATION_RULE`) and the
test split are never seen, so selecting and reporting a searched network on them stays fair.
The remaining training samples are split in two halves by a seeded permutation.

Deviations: Adam for the weights (binary networks train poorly with DARTS' SGD; Adam is the
choice of Bi-Real Net, ReActNet and BATS' own final training), and no warm-up of the weights
before the architecture steps start unless ``warmup_epochs`` asks for one.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.data.splits import DEFAULT_VAL_FRACTION
from onebit.models.bats_genotype import Genotype
from onebit.models.bats_ops import PRIMITIVES
from onebit.nn import clip_latent_weights
from onebit.search.supernet import SearchNetwork

HALVES_SEED = 2
"""Seed of the permutation that splits the searched training samples into two halves."""


@dataclass
class SearchConfig:
    """A BATS search; the CLI's flags map onto these fields.

    Attributes:
        dataset: a registered classification dataset.
        data_path: its file or folder, for file-based datasets.
        epochs: passes over the weight half.
        warmup_epochs: first epochs with weight steps only (the architecture stays uniform).
        batch_size: samples per step (each half).
        channels, layers, groups, nodes, stem_stride: the supernet's layout.
        temperature: ``T`` of the architecture softmax.
        lr: Adam's learning rate for the weights (cosine-annealed to 0).
        arch_lr: Adam's learning rate for ``alpha`` (DARTS: 3e-4, betas (0.5, 0.999)).
        arch_weight_decay: L2 on ``alpha`` (DARTS: 1e-3).
        val_fraction: the validation share held out (and never searched on), as training's.
        max_samples: use at most this many training samples (0: all), for quick searches.
        seed: seeds the weights, ``alpha`` and the batch order.
        threads: torch's CPU threads (0: torch's default).
    """

    dataset: str = "mnist5k"
    data_path: str | None = None
    epochs: int = 10
    warmup_epochs: int = 0
    batch_size: int = 64
    channels: int = 8
    layers: int = 3
    groups: int = 4
    nodes: int = 4
    stem_stride: int = 1
    temperature: float = 0.2
    lr: float = 1e-3
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    val_fraction: float = DEFAULT_VAL_FRACTION
    max_samples: int = 0
    seed: int = 0
    threads: int = 0

    def check(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise OnebitError(f"bats search: {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise OnebitError(
                f"bats search: warmup_epochs must be in [0, epochs), got {self.warmup_epochs}"
            )
        for name in ("lr", "arch_lr", "temperature"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise OnebitError(f"bats search: {name} must be a positive number, got {value}")
        if not (math.isfinite(self.arch_weight_decay) and self.arch_weight_decay >= 0):
            raise OnebitError("bats search: arch_weight_decay must be >= 0")
        if self.max_samples < 0 or self.threads < 0:
            raise OnebitError("bats search: max_samples and threads must be >= 0")


@dataclass
class SearchResult:
    """What a search found and how it got there.

    Attributes:
        genotype: the derived cells (its ``search`` field records the config and the cost).
        history: per epoch: ``epoch``, ``train_loss``, ``train_accuracy`` (weight half),
            ``arch_loss``, ``arch_accuracy`` (architecture half) and ``weights``: the
            architecture weights, ``{"normal": [[...per op] per edge], "reduce": ...}``.
        minutes: the search's wall-clock time.
    """

    genotype: Genotype
    history: list[dict[str, Any]] = field(default_factory=list)
    minutes: float = 0.0


EpochCallback = Callable[[dict[str, Any]], None]


def searched_halves(
    config: SearchConfig,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], Any]:
    """The weight half and the architecture half of the training part (validation and test
    splits held out), and the dataset."""
    splits = datasets.load(config.dataset, config.data_path, val_fraction=config.val_fraction)
    if getattr(splits, "num_outputs", None) is None or not hasattr(splits, "classes"):
        raise OnebitError(f"bats search: {config.dataset!r} is not a classification dataset")
    x, y = splits.x_train, splits.y_train
    order = np.random.default_rng(HALVES_SEED).permutation(len(x))
    if config.max_samples:
        order = order[: config.max_samples]
    if len(order) < 2:
        raise OnebitError(f"bats search: {config.dataset!r} has too few training samples")
    half = len(order) // 2
    first, second = order[:half], order[half : 2 * half]
    return (x[first], y[first]), (x[second], y[second]), splits


@contextlib.contextmanager
def _frozen(parameters: Iterable[torch.nn.Parameter]) -> Iterator[None]:
    """Leave ``parameters`` out of the backward pass for a while: each step of the alternating
    search updates one set, and autograd would otherwise compute the other's gradients too."""
    frozen = [p for p in parameters if p.requires_grad]
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)


def search_bats(
    config: SearchConfig,
    on_epoch: EpochCallback | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Run a BATS search (see the module docstring).

    Args:
        config: the search.
        on_epoch: called with each epoch's history row.
        on_step: called with ``(step, steps)`` after every step of an epoch (progress bars).
    """
    config.check()
    if config.threads:
        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    (xw, yw), (xa, ya), splits = searched_halves(config)
    torch.manual_seed(config.seed)
    net = SearchNetwork(
        splits.input_shape,
        splits.num_classes,
        channels=config.channels,
        layers=config.layers,
        groups=config.groups,
        nodes=config.nodes,
        temperature=config.temperature,
        stem_stride=config.stem_stride,
    )
    steps = max(1, len(xw) // config.batch_size)
    weights_optimizer = torch.optim.Adam(net.weight_parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(weights_optimizer, config.epochs * steps)
    arch_optimizer = torch.optim.Adam(
        net.architecture_parameters(),
        lr=config.arch_lr,
        betas=(0.5, 0.999),
        weight_decay=config.arch_weight_decay,
    )
    xw_t, yw_t = torch.from_numpy(xw), torch.from_numpy(yw)
    xa_t, ya_t = torch.from_numpy(xa), torch.from_numpy(ya)
    history: list[dict[str, Any]] = [_weights_row(net, 0)]
    for epoch in range(1, config.epochs + 1):
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        w_order = torch.randperm(len(xw), generator=generator)
        a_order = torch.randperm(len(xa), generator=generator)
        search_arch = epoch > config.warmup_epochs
        net.train()
        sums = np.zeros(4)
        for step in range(steps):
            batch = slice(step * config.batch_size, (step + 1) * config.batch_size)
            if search_arch:
                a = a_order[batch]
                arch_optimizer.zero_grad(set_to_none=True)
                with _frozen(net.weight_parameters()):
                    logits = net(xa_t[a])
                    loss = F.cross_entropy(logits, ya_t[a])
                    loss.backward()
                arch_optimizer.step()
                sums[2] += loss.item()
                sums[3] += (logits.argmax(1) == ya_t[a]).float().mean().item()
            w = w_order[batch]
            weights_optimizer.zero_grad(set_to_none=True)
            with _frozen(net.architecture_parameters()):
                logits = net(xw_t[w])
                loss = F.cross_entropy(logits, yw_t[w])
                loss.backward()
            weights_optimizer.step()
            schedule.step()
            clip_latent_weights(net)
            sums[0] += loss.item()
            sums[1] += (logits.argmax(1) == yw_t[w]).float().mean().item()
            if on_step:
                on_step(step + 1, steps)
        row = _weights_row(net, epoch)
        row.update(
            train_loss=sums[0] / steps,
            train_accuracy=sums[1] / steps,
            arch_loss=sums[2] / steps if search_arch else float("nan"),
            arch_accuracy=sums[3] / steps if search_arch else float("nan"),
        )
        history.append(row)
        if on_epoch:
            on_epoch(row)
    minutes = (time.perf_counter() - started) / 60
    record = {
        **{k: v for k, v in asdict(config).items() if k not in ("data_path", "threads")},
        "minutes": round(minutes, 2),
        "threads": torch.get_num_threads(),
        "primitives": list(PRIMITIVES),
    }
    return SearchResult(net.genotype(record), history, minutes)


def _weights_row(net: SearchNetwork, epoch: int) -> dict[str, Any]:
    with torch.no_grad():
        weights = net.architecture_weights()
    return {"epoch": epoch, "weights": {k: v.tolist() for k, v in weights.items()}}
