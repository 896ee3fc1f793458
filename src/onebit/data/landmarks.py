"""Landmark datasets: images with named points, as train, validation and test arrays.

A landmark set is what face alignment and human pose estimation train on: each image comes with
``K`` points ``(x, y)`` in pixels, ``x`` along the width and ``y`` down the height, the centre of
pixel ``(row i, column j)`` being the point ``(j, i)``. A point the annotation does not give (an
occluded joint, a keypoint with visibility 0) is ``NaN`` in both coordinates; the metrics
(:mod:`onebit.train.landmark_metrics`) leave such points out.

``mnist-landmarks`` is the landmark task that trains here without a download
(:func:`mnist_landmarks`); the file formats of real landmark sets are read by
:mod:`onebit.data.landmark_files`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onebit._registry import OnebitError
from onebit.data._checks import describe_value
from onebit.data.splits import VAL_SPLIT_SEED, carve_validation

SPLITS = ("train", "val", "test")
NORMS = ("box_diagonal", "interocular")


@dataclass(frozen=True, eq=False, repr=False)
class LandmarkSplits:
    """A landmark dataset as train, validation and test arrays.

    Images are float32 (N, C, H, W) in [0, 1]; points are float32 (N, K, 2) holding ``(x, y)`` in
    pixels of the image (``NaN`` for a point not given).

    Attributes:
        name: the dataset's name, for reports.
        x_train: training images.
        points_train: their points.
        x_test: test images.
        points_test: their points.
        landmarks: the points' names, one per point.
        x_val: validation images, carved from the training part (empty when there is none).
        points_val: their points.
        norm: the length an image's errors are divided by (:mod:`onebit.landmarks.metrics`):
            "box_diagonal" (of its annotated points) or "interocular" (the 68-point markup's
            outer eye corners).

    Raises:
        OnebitError: if an array has the wrong dtype, rank or range, or the splits do not match.
    """

    name: str
    x_train: np.ndarray
    points_train: np.ndarray
    x_test: np.ndarray
    points_test: np.ndarray
    landmarks: tuple[str, ...]
    x_val: np.ndarray | None = None
    points_val: np.ndarray | None = None
    norm: str = "box_diagonal"

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise OnebitError(
                f"dataset {self.name!r}: norm must be one of {NORMS}, got {self.norm!r}"
            )
        if not self.landmarks or not all(isinstance(n, str) for n in self.landmarks):
            raise OnebitError(f"dataset {self.name!r}: landmarks must be a non-empty tuple of str")
        if len(set(self.landmarks)) != len(self.landmarks):
            raise OnebitError(f"dataset {self.name!r}: landmark names repeat: {self.landmarks}")
        if (self.x_val is None) != (self.points_val is None):
            raise OnebitError(f"dataset {self.name!r}: give both x_val and points_val, or neither")
        if self.x_val is None and isinstance(self.x_train, np.ndarray):
            object.__setattr__(self, "x_val", self.x_train[:0])
            points = np.zeros((0, len(self.landmarks), 2), np.float32)
            object.__setattr__(self, "points_val", points)
        for split in SPLITS:
            if split == "val" and not self.has_validation:
                continue
            self._check_split(split, getattr(self, f"x_{split}"), getattr(self, f"points_{split}"))
            shape = getattr(self, f"x_{split}").shape[1:]
            if shape != self.x_train.shape[1:]:
                raise OnebitError(
                    f"dataset {self.name!r}: train images are {self.x_train.shape[1:]} "
                    f"but {split} images are {shape}"
                )

    @property
    def has_validation(self) -> bool:
        """Whether there is a validation split (a non-empty one)."""
        return self.points_val is not None and len(self.points_val) > 0

    @property
    def num_landmarks(self) -> int:
        return len(self.landmarks)

    @property
    def num_outputs(self) -> int:
        """What a model of this data outputs: a heatmap per landmark."""
        return len(self.landmarks)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape (C, H, W) of one image."""
        channels, height, width = self.x_train.shape[1:]
        return channels, height, width

    def with_validation(self, fraction: float, seed: int = VAL_SPLIT_SEED) -> LandmarkSplits:
        """These splits with a validation split carved out of the training part, by the rule
        of :func:`onebit.data.splits.validation_split` (the one classification sets use)."""
        return carve_validation(self, "points", fraction, seed)

    def _check_split(self, split: str, x: np.ndarray, points: np.ndarray) -> None:
        where = f"dataset {self.name!r}, {split} split"
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 4:
            raise OnebitError(
                f"{where}: images must be a float32 array (N, C, H, W), got {describe_value(x)}"
            )
        expected = (len(x), len(self.landmarks), 2)
        if (
            not isinstance(points, np.ndarray)
            or points.dtype != np.float32
            or points.shape != expected
        ):
            raise OnebitError(
                f"{where}: points must be a float32 array {expected} (N, landmarks, xy), "
                f"got {describe_value(points)}"
            )
        if len(x) == 0:
            raise OnebitError(f"{where}: no images")
        if not (x.min() >= 0.0 and x.max() <= 1.0):  # also false for NaN
            raise OnebitError(f"{where}: pixel values must lie in [0, 1]")
        if np.isinf(points).any():
            raise OnebitError(f"{where}: points must be finite or NaN (not given)")
        if (np.isnan(points[..., 0]) != np.isnan(points[..., 1])).any():
            raise OnebitError(f"{where}: a point not given must be NaN in both coordinates")

    def __repr__(self) -> str:
        return (
            f"LandmarkSplits({self.name!r}, train={len(self.x_train)}, "
            f"val={len(self.points_val)}, test={len(self.x_test)}, "
            f"input_shape={self.input_shape}, landmarks={len(self.landmarks)})"
        )


MNIST_LANDMARKS = ("centroid", "top", "bottom", "left", "right")
"""The points of ``mnist-landmarks``, in order."""

MNIST_LANDMARKS_CANVAS = 64
MNIST_LANDMARKS_SCALES = (1.0, 1.8)
"""The range a digit's 28x28 image is scaled by (uniformly drawn) before it is placed."""

STROKE_THRESHOLD = 0.5
"""A pixel at or above this intensity is part of the stroke."""

MNIST_LANDMARKS_SEED = 0


def digit_points(image: np.ndarray) -> np.ndarray:
    """The five points of one digit image (H, W): the stroke's centroid (intensity-weighted
    over the stroke pixels), then its top, bottom, left and right extreme points (the mean
    position of the stroke pixels on the extreme row or column)."""
    rows, cols = np.nonzero(image >= STROKE_THRESHOLD)
    if len(rows) == 0:
        raise OnebitError("the digit image has no stroke pixel at or above the threshold")
    weights = image[rows, cols]
    centroid = (np.average(cols, weights=weights), np.average(rows, weights=weights))
    top, bottom = rows == rows.min(), rows == rows.max()
    left, right = cols == cols.min(), cols == cols.max()
    points = [
        centroid,
        (cols[top].mean(), rows.min()),
        (cols[bottom].mean(), rows.max()),
        (cols.min(), rows[left].mean()),
        (cols.max(), rows[right].mean()),
    ]
    return np.asarray(points, np.float64)


def place_digit(
    image: np.ndarray, canvas: int, scale: float, offset: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Scale a digit (H, W) by ``scale`` (bilinear, Pillow) and paste it with its top-left
    corner at ``offset = (x, y)`` on a black ``canvas`` x ``canvas`` image.

    Returns:
        The canvas (float32, [0, 1]) and the digit's points (:func:`digit_points` of the
        unscaled image) mapped onto it: ``p' = offset + (p + 0.5) * size / H - 0.5``, the
        pixel-centre convention on both sides.
    """
    from PIL import Image

    height, width = image.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    scaled = np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize(size))
    x, y = offset
    if x < 0 or y < 0 or x + size[0] > canvas or y + size[1] > canvas:
        raise OnebitError(f"a {size[0]}x{size[1]} digit at {offset} leaves the {canvas} canvas")
    placed = np.zeros((canvas, canvas), np.float32)
    placed[y : y + size[1], x : x + size[0]] = np.clip(scaled, 0.0, 1.0)
    factor = np.array([size[0] / width, size[1] / height])
    points = np.asarray(offset) + (digit_points(image) + 0.5) * factor - 0.5
    return placed, points


def mnist_landmarks(seed: int = MNIST_LANDMARKS_SEED) -> LandmarkSplits:
    """mnist5k's digits placed at random on a 64x64 canvas, 5 points from each stroke (bundled).

    Each of the 5,000 real digits is scaled by a factor drawn uniformly from
    :data:`MNIST_LANDMARKS_SCALES` and pasted with its top-left corner drawn uniformly among the
    positions that keep it inside, in image order from ``numpy.random.default_rng(seed)``; its
    five points (:data:`MNIST_LANDMARKS`) come from its stroke (:func:`digit_points`). The train
    and test splits are mnist5k's. A digit with no stroke pixel (none in mnist5k) is refused.
    """
    from onebit.data.bundled import mnist5k

    digits = mnist5k()
    rng = np.random.default_rng(seed)
    low, high = MNIST_LANDMARKS_SCALES

    def build(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        canvases = np.empty((len(images), 1, MNIST_LANDMARKS_CANVAS, MNIST_LANDMARKS_CANVAS))
        points = np.empty((len(images), len(MNIST_LANDMARKS), 2))
        for i, image in enumerate(images[:, 0]):
            scale = rng.uniform(low, high)
            side = max(1, round(image.shape[0] * scale))
            free = MNIST_LANDMARKS_CANVAS - side
            offset = (int(rng.integers(0, free + 1)), int(rng.integers(0, free + 1)))
            canvases[i, 0], points[i] = place_digit(image, MNIST_LANDMARKS_CANVAS, scale, offset)
        return canvases.astype(np.float32), points.astype(np.float32)

    x_train, points_train = build(digits.x_train)
    x_test, points_test = build(digits.x_test)
    return LandmarkSplits(
        "mnist-landmarks", x_train, points_train, x_test, points_test, MNIST_LANDMARKS
    )
