"""What the training loop learns: classes from labels, or landmarks from heatmaps.

A task turns a dataset's targets into tensors, gives the loss of a batch, and counts what its
metrics need as sums (so that distributed runs add them up across processes):

- :class:`Classification` (a :class:`onebit.data.DataSplits` of images or a
  :class:`onebit.data.TextSplits` of token ids): cross-entropy; accuracy.
- :class:`Landmarks` (a :class:`onebit.data.landmarks.LandmarkSplits`): the mean squared error
  between the model's heatmaps and Gaussians at the annotated points (rendered per batch by
  :func:`onebit.landmarks.render_heatmaps`, ``sigma`` map pixels; a point not given has no map
  in the loss), as the hourglass networks train (Newell et al., ECCV 2016; Bulat &
  Tzimiropoulos, ICCV 2017); the normalized mean error (NME, fraction of the dataset's length:
  the box diagonal or the inter-ocular distance) and PCK at ``alpha`` of it, from the decoded
  maximum of each map (:func:`onebit.landmarks.decode_heatmaps`, quarter-pixel refinement).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from onebit._registry import OnebitError
from onebit.data import DataSplits
from onebit.data.landmarks import LandmarkSplits
from onebit.data.text import TextSplits
from onebit.landmarks import box_diagonal, decode_heatmaps, interocular, render_heatmaps

Targets = tuple[torch.Tensor, ...]

HEATMAP_SIGMA = 1.0
"""The target Gaussians' standard deviation, in heatmap pixels (Newell et al.'s)."""
PCK_ALPHA = 0.1
"""PCK counts a point correct within this share of the image's length."""


class Classification:
    """Labels; cross-entropy; accuracy (higher is better)."""

    metric = "accuracy"
    metric_label = "acc"
    higher_is_better = True
    loss_name = "cross-entropy loss"
    count_names = ("correct",)

    def outputs(self, splits: DataSplits) -> int:
        return splits.num_classes

    def targets(self, splits: DataSplits, split: str, device: torch.device) -> Targets:
        return (torch.from_numpy(getattr(splits, f"y_{split}")).to(device),)

    def loss(
        self, outputs: torch.Tensor, targets: Targets, reduction: str = "mean"
    ) -> torch.Tensor:
        return F.cross_entropy(outputs, targets[0], reduction=reduction)

    def counts(self, outputs: torch.Tensor, targets: Targets) -> list[float]:
        return [float((outputs.argmax(1) == targets[0]).sum())]

    def metrics(self, counts: Sequence[float], seen: float) -> dict[str, float]:
        return {"accuracy": counts[0] / seen}


class Landmarks:
    """Points; heatmap MSE; NME (lower is better) and PCK."""

    metric = "nme"
    metric_label = "NME"
    higher_is_better = False
    loss_name = "heatmap MSE"
    count_names = ("normalized_error_sum", "pck_hits", "points")

    def __init__(
        self,
        norm: str,
        image_size: tuple[int, int],
        sigma: float = HEATMAP_SIGMA,
        alpha: float = PCK_ALPHA,
    ) -> None:
        if norm not in LENGTHS:
            raise OnebitError(f"landmark norm must be one of {sorted(LENGTHS)}, got {norm!r}")
        self.norm = norm
        self.image_size = tuple(int(side) for side in image_size)  # (height, width)
        self.sigma = sigma
        self.alpha = alpha

    def outputs(self, splits: LandmarkSplits) -> int:
        return splits.num_landmarks

    def targets(self, splits: LandmarkSplits, split: str, device: torch.device) -> Targets:
        x = getattr(splits, f"x_{split}")
        points = getattr(splits, f"points_{split}")
        lengths = LENGTHS[self.norm](points).astype(np.float32)
        if not (np.isfinite(lengths).all() and (lengths > 0).all()):
            bad = int(np.flatnonzero(~(np.isfinite(lengths) & (lengths > 0)))[0])
            raise OnebitError(
                f"dataset {splits.name!r}, {split} image {bad}: its {self.norm} length is "
                f"{lengths[bad]}, which cannot normalize the error"
            )
        if tuple(x.shape[2:]) != self.image_size:
            raise OnebitError(
                f"dataset {splits.name!r}, {split} images are {tuple(x.shape[2:])}, but the "
                f"task was made for {self.image_size}"
            )
        return torch.from_numpy(points).to(device), torch.from_numpy(lengths).to(device)

    def _stride(self, outputs: torch.Tensor) -> int:
        height, width = self.image_size
        map_height, map_width = outputs.shape[2:] if outputs.ndim == 4 else (0, 0)
        if (
            not (map_height and map_width)
            or height % map_height
            or height // map_height != width // map_width
        ):
            raise OnebitError(
                f"a landmark model must output (N, landmarks, H/s, W/s) heatmaps; got "
                f"{tuple(outputs.shape)} for {height}x{width} images"
            )
        return height // map_height

    def loss(
        self, outputs: torch.Tensor, targets: Targets, reduction: str = "mean"
    ) -> torch.Tensor:
        points = targets[0].detach().cpu().numpy()
        stride = self._stride(outputs)
        maps, given = render_heatmaps(points, tuple(outputs.shape[2:]), stride, self.sigma)
        maps = torch.from_numpy(maps).to(outputs.device)
        given = torch.from_numpy(given).to(outputs.device)
        if outputs.shape[:2] != maps.shape[:2]:
            raise OnebitError(
                f"the model outputs {outputs.shape[1]} heatmaps but the data has "
                f"{maps.shape[1]} landmarks"
            )
        per_map = ((outputs - maps) ** 2).mean(dim=(2, 3)) * given
        per_image = per_map.sum(1) / given.sum(1).clamp_min(1)
        return per_image.mean() if reduction == "mean" else per_image.sum()

    def counts(self, outputs: torch.Tensor, targets: Targets) -> list[float]:
        stride = self._stride(outputs)
        predicted = decode_heatmaps(outputs.detach().cpu().numpy(), stride)
        annotated = targets[0].cpu().numpy().astype(np.float64)
        lengths = targets[1].cpu().numpy().astype(np.float64)
        errors = np.linalg.norm(predicted - annotated, axis=2) / lengths[:, None]
        errors = errors[~np.isnan(errors)]
        return [float(errors.sum()), float((errors <= self.alpha).sum()), float(errors.size)]

    def metrics(self, counts: Sequence[float], seen: float) -> dict[str, float]:
        error_sum, hits, points = counts
        points = max(points, 1.0)
        return {"nme": error_sum / points, "pck": hits / points}


LENGTHS = {"box_diagonal": box_diagonal, "interocular": interocular}
"""What normalizes a landmark error, by name (:mod:`onebit.landmarks.metrics`)."""

Task = Classification | Landmarks


def task_for(splits: Any) -> Task:
    """The task a dataset's splits train."""
    if isinstance(splits, LandmarkSplits):
        return Landmarks(splits.norm, splits.input_shape[1:])
    if isinstance(splits, (DataSplits, TextSplits)):
        return Classification()
    raise OnebitError(f"cannot train on {type(splits).__name__}: not a dataset's splits")


def evaluate(
    model: torch.nn.Module,
    x: torch.Tensor,
    targets: Targets,
    task: Task,
    batch_size: int = 1000,
) -> list[float]:
    """``[summed loss, *task counts, samples]`` of ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    loss_sum, counts = 0.0, [0.0] * len(task.count_names)
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outputs = model(x[start : start + batch_size])
            batch = tuple(t[start : start + batch_size] for t in targets)
            loss_sum += task.loss(outputs, batch, reduction="sum").item()
            counts = [a + b for a, b in zip(counts, task.counts(outputs, batch), strict=True)]
    model.train(was_training)
    return [loss_sum, *counts, float(len(x))]
