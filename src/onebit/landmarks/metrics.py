"""How far predicted landmarks are from the annotated ones.

- Normalized mean error (NME): the mean point-to-point distance over the given points, each
  image's divided by a length of its own, in face alignment the inter-ocular distance (the
  outer eye corners, 300-W: Sagonas et al., 2013) or the box's diagonal.
- PCK, the percentage of correct keypoints: the share of given points within ``alpha`` times
  that length (Yang & Ramanan, "Articulated Human Detection with Flexible Mixtures of Parts",
  TPAMI 2013; Andriluka et al., CVPR 2014 use the head segment, PCKh).

Points are (N, K, 2) ``(x, y)``; an annotated ``NaN`` point counts in neither metric.
"""

from __future__ import annotations

import numpy as np

from onebit._registry import OnebitError

IBUG_OUTER_EYE_CORNERS = (36, 45)
"""0-based indices of the outer eye corners in the 68-point 300-W (iBUG) markup."""


def _pair(predicted: np.ndarray, annotated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.asarray(predicted, np.float64)
    annotated = np.asarray(annotated, np.float64)
    if annotated.ndim != 3 or annotated.shape[2] != 2:
        raise OnebitError(f"points must be (N, K, 2), got shape {annotated.shape}")
    if predicted.shape != annotated.shape:
        raise OnebitError(
            f"predicted points {predicted.shape} do not match annotated {annotated.shape}"
        )
    if np.isnan(predicted).any():
        raise OnebitError("predicted points must not be NaN")
    return predicted, annotated


def point_errors(predicted: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """Euclidean distances (N, K); ``NaN`` where the annotation gives no point."""
    predicted, annotated = _pair(predicted, annotated)
    return np.linalg.norm(predicted - annotated, axis=2)


def box_diagonal(annotated: np.ndarray) -> np.ndarray:
    """Each image's length (N,): the diagonal of the box around its given points."""
    annotated = np.asarray(annotated, np.float64)
    if np.isnan(annotated).all(axis=(1, 2)).any():
        raise OnebitError("an image with no given point has no box to normalize by")
    low, high = np.nanmin(annotated, axis=1), np.nanmax(annotated, axis=1)
    return np.linalg.norm(high - low, axis=1)


def interocular(
    annotated: np.ndarray, corners: tuple[int, int] = IBUG_OUTER_EYE_CORNERS
) -> np.ndarray:
    """Each image's length (N,): the distance between two landmarks, by default the outer eye
    corners of the 68-point markup."""
    annotated = np.asarray(annotated, np.float64)
    left, right = corners
    if not (0 <= left < annotated.shape[1] and 0 <= right < annotated.shape[1]):
        raise OnebitError(f"landmarks {corners} do not exist among {annotated.shape[1]}")
    return np.linalg.norm(annotated[:, left] - annotated[:, right], axis=1)


def _normalized(predicted, annotated, lengths) -> np.ndarray:
    errors = point_errors(predicted, annotated)
    lengths = np.asarray(lengths, np.float64)
    if lengths.shape != (len(errors),):
        raise OnebitError(f"need one length per image ({len(errors)}), got {lengths.shape}")
    if not (np.isfinite(lengths).all() and (lengths > 0).all()):
        raise OnebitError("every image's length must be positive and finite")
    normalized = errors / lengths[:, None]
    given = normalized[~np.isnan(normalized)]
    if given.size == 0:
        raise OnebitError("no annotated point to measure")
    return given


def normalized_mean_error(
    predicted: np.ndarray, annotated: np.ndarray, lengths: np.ndarray
) -> float:
    """The mean over all given points of distance / the image's length (a fraction)."""
    return float(_normalized(predicted, annotated, lengths).mean())


def pck(
    predicted: np.ndarray, annotated: np.ndarray, lengths: np.ndarray, alpha: float = 0.1
) -> float:
    """The share of given points within ``alpha`` times the image's length."""
    if not (isinstance(alpha, int | float) and alpha > 0):
        raise OnebitError(f"alpha must be positive, got {alpha!r}")
    return float((_normalized(predicted, annotated, lengths) <= alpha).mean())
